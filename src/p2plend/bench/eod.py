"""``eod``: the end-of-day batch on a big book, against raw inserts of its ledger rows.

The book (``bench/book.py``): ``loans`` disbursed loans of ``holders`` claims of 1,000 yuan
each, on 30 value dates; ``due`` of them (1/30 by default) fall due on the closed date, as
many the day after, the rest later. The act: ``jobs.eod.close_through`` for the first due
date, in this process (or in ``workers`` processes sharing its chunks) — every step, from
auto-debit (each due installment collected and split among its holders) to the day's
figures. Counted after it: the installments collected (the date's repayments) and the holder
postings (its distribution rows, one per holder paid, each also a ledger posting).

The baseline, in the same run on the same database: ``INSERT … SELECT`` of as many ledger
entries as installments and as many postings as holder postings (to investors' real
accounts, in balanced pairs), then each entry's balance checked as a commit checks it
(PostgreSQL's deferred trigger, made immediate), then rolled back; the rate without the
checks is printed too. ``ratio`` = holder postings/s of the batch ÷ rows/s of the baseline.

The scale run: the book grows to ``SCALE``× its loans — the new ones with ``scale_holders``
claims each, none due on the next date nor three days after it (so no reminder either) —
and the batch closes the next date, whose due loans are as many as the first's.
``scale_ratio`` = its time ÷ the first's: the batch's cost should follow the day's work,
not the size of the book.

Checks (the command exits 1 if one fails): every due loan was collected on both dates
(``collected_all``); at the end the ledger verifies and custody reconciles with the bank
(``ledger_ok``).
"""

import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from threading import Barrier
from typing import Any

from sqlalchemy import String, case, cast, func, insert, literal, select
from sqlalchemy.sql.elements import ColumnElement

from p2plend import clock
from p2plend.bench import book, bulk
from p2plend.bench.report import Report
from p2plend.bench.world import START, World, world
from p2plend.custody import service as custody
from p2plend.db import make_engine, make_session_factory, transaction
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry, LedgerAccount, Posting
from p2plend.servicing.models import Distribution, Repayment

SCALE = 10
FIRST_VALUE_DATE = START.date()
# Value days (0 … 29 after FIRST_VALUE_DATE) of the loans added at scale: none falls due on
# the scale run's date (day 1) or is reminded of an installment due in three days (day 4).
SCALE_DAYS_FROM = 5


@dataclass(frozen=True)
class Book:
    loans: int
    holders: int
    due: int
    scale_holders: int
    workers: int
    build_seconds: float
    scale_build_seconds: float


@dataclass
class Run:
    day: date
    seconds: float
    installments: int
    holder_postings: int
    postings: int
    steps: dict[str, float] = field(default_factory=dict)  # step → seconds


def eod_bench(
    *,
    loans: int = 100_000,
    holders: int = 50,
    due: int | None = None,
    scale_holders: int = 5,
    workers: int = 1,
    db: str | None = None,
) -> Report:
    """Close one date on a book of ``loans`` loans, then the next on ``SCALE``× the book."""
    due = due or _default_due(loans)
    started = time.perf_counter()
    with world(db) as w:
        made = _make_book(w, loans=loans, holders=holders, due=due, scale_holders=scale_holders)
        build = time.perf_counter() - started
        first = _close(w, book.first_due_date(w, made.template, 0), workers)
        baseline = _baseline(w, first, made.investors)
        n = bulk.NUMBERS.c.n
        later = SCALE_DAYS_FROM + n % (book.DAYS - SCALE_DAYS_FROM)
        scale_build = _timed(
            lambda: _grow(w, made, count=(SCALE - 1) * loans, holders=scale_holders, day_of=later)
        )
        scaled = _close(w, book.first_due_date(w, made.template, 1), workers)
        ledger_ok = _books_sound(w)
    sizes = Book(loans, holders, due, scale_holders, workers, build, scale_build)
    return _report(
        sizes, first, scaled, baseline=baseline, ledger_ok=ledger_ok, total=time.perf_counter() - started
    )


def build_book(w: World, *, loans: int, holders: int, due: int | None = None) -> date:
    """The bench's book (``loans`` loans of ``holders`` claims, ``due`` of them — 1/30 by
    default — falling due on the date returned, as many the day after) on ``w``."""
    made = _make_book(w, loans=loans, holders=holders, due=due or _default_due(loans), scale_holders=0)
    return book.first_due_date(w, made.template, 0)


@dataclass(frozen=True)
class Made:
    template: book.Templates
    investors: range
    borrowers: range


def _default_due(loans: int) -> int:
    return max(1, loans // book.DAYS)


def _make_book(w: World, *, loans: int, holders: int, due: int, scale_holders: int) -> Made:
    """The templates, the investors (one for two loans, with money enough for their claims
    on the book and on the loans added at scale), the borrowers (ten loans each), the loans."""
    if 2 * due > loans:
        raise ValueError("at most half of the loans can fall due on the two closed dates")
    template = book.templates(w, FIRST_VALUE_DATE)
    count = max(2 * max(holders, scale_holders), loans // 2)
    claims = math.ceil(loans * holders / count) + math.ceil((SCALE - 1) * loans * scale_holders / count)
    investors = bulk.people(w, template.investor, count, deposit=(claims + 1) * book.SHARE)
    borrowers = bulk.people(w, template.borrower, math.ceil(loans / book.LOANS_PER_BORROWER), deposit=0)
    made = Made(template, investors, borrowers)
    _grow(w, made, count=loans, holders=holders, day_of=_first_days(bulk.NUMBERS.c.n, due))
    return made


def _first_days(n: ColumnElement[Any], due: int) -> ColumnElement[Any]:
    """Loan ``n``'s value day: ``due`` loans on day 0 (due on the first closed date), as
    many on day 1 (the next), the others spread over days 2 … 29."""
    return case((n <= due, 0), (n <= 2 * due, 1), else_=2 + n % (book.DAYS - 2))


def _grow(w: World, made: Made, *, count: int, holders: int, day_of: ColumnElement[Any]) -> None:
    book.add_loans(
        w,
        made.template,
        count=count,
        holders=holders,
        day_of=day_of,
        investors=made.investors,
        borrowers=made.borrowers,
    )
    if w.is_postgres:  # as autovacuum would have, long before a book this size
        with w.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def _close(w: World, day: date, workers: int) -> Run:
    """Close ``day`` (timed) in this process or in ``workers`` processes, then count what
    the batch wrote."""
    w.clock.set_business_date(day)
    with transaction(w.factory) as session:
        last_posting = int(session.scalar(select(func.max(Posting.id))) or 0)
    steps: dict[str, float] = {}
    seconds = _close_in_processes(w.url, day, workers) if workers > 1 else _close_here(w, day, steps)
    with transaction(w.factory) as session:
        installments = session.scalar(
            select(func.count(Repayment.id)).where(
                Repayment.business_date == day, Repayment.kind == "auto_debit"
            )
        )
        holder_postings = session.scalar(
            select(func.count(Distribution.id)).where(Distribution.business_date == day)
        )
        postings = session.scalar(select(func.count(Posting.id)).where(Posting.id > last_posting))
    return Run(day, seconds, int(installments or 0), int(holder_postings or 0), int(postings or 0), steps)


def _close_here(w: World, day: date, steps: dict[str, float]) -> float:
    """Seconds to close ``day`` in this process; each step's seconds into ``steps``."""
    mark = time.perf_counter()

    def progress(_day: date, step: str, done: int, planned: int) -> None:
        nonlocal mark
        if done == planned:
            now = time.perf_counter()
            steps[step] = now - mark
            mark = now

    start = mark
    eod.close_through(w.factory, day, w.bank, progress=progress)
    return time.perf_counter() - start


def _close_in_processes(url: str, day: date, workers: int) -> float:
    """Seconds for ``workers`` processes to close ``day`` together, timed from when all of
    them are ready (imported and connected) until the last is done."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(workers + 1)
    processes = [context.Process(target=_worker, args=(url, day, ready)) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()
    start = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - start
    failed = [process.exitcode for process in processes if process.exitcode]
    if failed:
        raise RuntimeError(f"end-of-day worker processes failed with exit codes {failed}")
    return seconds


def _worker(url: str, day: date, ready: Barrier) -> None:
    """One end-of-day worker process on the bench's database, its clock on ``day``."""
    fixed = clock.FixedClock(START)
    fixed.set_business_date(day)
    clock.install(fixed)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    bank = custody.simulated_custodian(url, factory)
    try:
        ready.wait()
        eod.close_through(factory, day, bank)
    finally:
        bank.close()
        engine.dispose()


@dataclass(frozen=True)
class Baseline:
    per_s: float  # rows/s, the balanced-entry checks included
    insert_only_per_s: float  # rows/s of the INSERT … SELECTs alone


def _baseline(w: World, run: Run, investors: range) -> Baseline:
    """Rows/s to INSERT … SELECT the run's entries and holder postings and check that each
    entry balances, as a commit would (then rolled back)."""
    rows = run.holder_postings + run.holder_postings % 2  # balanced pairs
    entries = max(1, run.installments)
    with w.engine.begin() as conn:
        bulk.fill_numbers(conn, max(rows, entries))
    n = bulk.NUMBERS.c.n
    owner = investors.start + n % len(investors)
    with w.engine.connect() as conn, conn.begin() as tx:
        first = int(conn.scalar(select(func.max(JournalEntry.id))) or 0)
        start = time.perf_counter()
        conn.execute(
            insert(JournalEntry).from_select(
                ["id", "kind", "idempotency_key", "fingerprint", "business_date", "created_at", "memo"],
                select(
                    n + first,
                    literal("bench_baseline"),
                    literal("bench:baseline:") + cast(n, String),
                    literal(book.FINGERPRINT),
                    literal(run.day),
                    literal(START, JournalEntry.created_at.type),
                    literal("bench"),
                ).where(n <= entries),
            )
        )
        conn.execute(
            insert(Posting).from_select(
                ["entry_id", "account_id", "amount"],
                select(
                    first + 1 + ((n - 1) // 2) % entries,
                    LedgerAccount.id,
                    case((n % 2 == 1, 1), else_=-1),
                )
                .join(
                    LedgerAccount,
                    (LedgerAccount.owner_type == "user")
                    & (LedgerAccount.owner_id == owner)
                    & (LedgerAccount.kind == "available"),
                )
                .where(n <= rows),
            )
        )
        inserted = time.perf_counter() - start
        if w.is_postgres:  # the balanced-entry checks a commit runs
            conn.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
        seconds = time.perf_counter() - start
        tx.rollback()
    return Baseline(rows / seconds, rows / inserted)


def _books_sound(w: World) -> bool:
    with transaction(w.factory) as session:
        return not ledger.verify(session) and not custody.live_differences(session, w.bank).differences


def _timed(act: Callable[[], None]) -> float:
    start = time.perf_counter()
    act()
    return time.perf_counter() - start


def _report(b: Book, first: Run, scaled: Run, *, baseline: Baseline, ledger_ok: bool, total: float) -> Report:
    postings_per_s = first.holder_postings / first.seconds
    ratio = postings_per_s / baseline.per_s
    scale_ratio = scaled.seconds / first.seconds
    collected_all = first.installments == scaled.installments == b.due
    scale_loans = SCALE * b.loans
    steps, scale_steps = (
        "  ".join(f"{name} {seconds:.1f}" for name, seconds in run.steps.items())
        or "(timed with one worker only)"
        for run in (first, scaled)
    )
    rows = [
        ("book", f"{b.loans:,} loans × {b.holders} holders, built in {b.build_seconds:.0f} s"),
        (
            f"close {first.day}",
            f"{first.seconds:9.1f} s  ({first.installments:,} installments collected, "
            f"{first.holder_postings:,} holder postings, {first.postings:,} ledger postings)",
        ),
        ("installments/s", f"{first.installments / first.seconds:9.1f}"),
        ("holder postings/s", f"{postings_per_s:9.1f}"),
        (
            "baseline rows/s",
            f"{baseline.per_s:9.1f}  (INSERT … SELECT of as many entries and postings, each entry's "
            f"balance checked, rolled back; {baseline.insert_only_per_s:.1f} without the checks)",
        ),
        ("ratio", f"{ratio:9.3f}  (acceptance ≥ 0.25)"),
        ("steps (s)", steps),
        (
            f"{SCALE}× book",
            f"{scale_loans:,} loans: {(SCALE - 1) * b.loans:,} added with {b.scale_holders} holders each "
            f"(none due), built in {b.scale_build_seconds:.0f} s",
        ),
        (
            f"close {scaled.day}",
            f"{scaled.seconds:9.1f} s  ({scaled.installments:,} installments, "
            f"{scaled.holder_postings:,} holder postings)",
        ),
        ("steps (s)", scale_steps),
        ("scale ratio", f"{scale_ratio:9.3f}  (time at {SCALE}× the book ÷ at 1×; acceptance ≤ 1.5)"),
        ("books", "ledger verifies, custody reconciles" if ledger_ok else "NOT SOUND"),
        ("whole command", f"{total:9.1f} s"),
    ]
    return Report(
        f"bench eod: {b.loans:,} loans × {b.holders} holders, {b.due:,} due per date, "
        f"{b.workers} worker{'s' if b.workers > 1 else ''}",
        rows,
        {
            "loans": b.loans,
            "holders": b.holders,
            "due_loans": b.due,
            "scale_loans": scale_loans,
            "scale_holders": b.scale_holders,
            "workers": b.workers,
            "installments": first.installments,
            "holder_postings": first.holder_postings,
            "seconds": round(first.seconds, 3),
            "scale_seconds": round(scaled.seconds, 3),
            "installments_per_s": round(first.installments / first.seconds, 2),
            "postings_per_s": round(postings_per_s, 1),
            "baseline_per_s": round(baseline.per_s, 1),
            "insert_only_per_s": round(baseline.insert_only_per_s, 1),
            "ratio": round(ratio, 3),
            "scale_ratio": round(scale_ratio, 3),
            "collected_all": collected_all,
            "ledger_ok": ledger_ok,
            "total_seconds": round(total, 1),
        },
    )

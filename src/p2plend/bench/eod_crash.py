"""``eod-crash``: the end-of-day batch killed at random points on the benchmark's book, then
run again — each try must end in the state of a run never interrupted.

The book is ``bench eod``'s (``bench/book.py``), smaller by default so that fifty tries fit in
minutes; PostgreSQL only (each try gets its own database, cloned from the prepared one by
``CREATE DATABASE … TEMPLATE``). The reference: the due date closed once, uninterrupted,
counting its SQL statements. Each try: a forked worker closes the date and sends itself
SIGKILL just before its N-th statement, N drawn at random over the whole run (the crash a power
cut or ``kill -9`` gives); then the date is closed again, to the end, on fresh connections. The
state compared is every table of the schema, platform and simulated bank, row by row
(``bench/state.py``); each try's ledger must also verify and its custody reconcile.
"""

import multiprocessing
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from sqlalchemy import make_url

from p2plend.bench import eod_worker, state
from p2plend.bench.eod import build_book
from p2plend.bench.report import Report
from p2plend.bench.world import World, admin, world
from p2plend.custody import service as custody
from p2plend.db import make_engine, make_session_factory
from p2plend.ledger import service as ledger


@dataclass(frozen=True)
class Try:
    kill_after: int
    killed: bool
    matches: bool
    sound: bool


def eod_crash(
    *, loans: int = 3_000, holders: int = 20, kills: int = 50, seed: int | None = None, db: str
) -> Report:
    """Close the book's first due date once as the reference, then ``kills`` times killed, on
    the PostgreSQL server ``db`` (each try clones a database)."""
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311  (kill points, not secrets)
    with world(db) as w:
        day = build_book(w, loans=loans, holders=holders)
        _release(w)
        with _clone(w) as reference:
            statements = eod_worker.close_counting(reference, day)
            expected = state.table_hashes(reference)
        points = sorted(rng.sample(range(1, statements + 1), min(kills, statements)))
        tries = [_try(w, day, point, expected) for point in points]
    return _report(loans, holders, statements, tries, time.perf_counter() - started)


def _try(w: World, day: date, kill_after: int, expected: dict[str, str]) -> Try:
    with _clone(w) as url:
        worker = multiprocessing.get_context("fork").Process(
            target=eod_worker.close_counting, args=(url, day), kwargs={"kill_after": kill_after}
        )
        worker.start()
        worker.join()
        eod_worker.close_counting(url, day)
        found = state.table_hashes(url)
        return Try(kill_after, worker.exitcode == -9, found == expected, _sound(url))


def _sound(url: str) -> bool:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    bank = custody.simulated_custodian(url, factory)
    try:
        with factory() as session:
            return not ledger.verify(session) and not custody.live_differences(session, bank).differences
    finally:
        bank.close()
        engine.dispose()


def _release(w: World) -> None:
    """No connection left open on the prepared database: a template must have none."""
    w.engine.dispose()
    w.bank.close()


@contextmanager
def _clone(w: World) -> Iterator[str]:
    source = make_url(w.url)
    name = f"{source.database}_{uuid.uuid4().hex[:6]}"
    server = source.render_as_string(hide_password=False)
    admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{source.database}" STRATEGY FILE_COPY')
    try:
        yield source.set(database=name).render_as_string(hide_password=False)
    finally:
        admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _report(loans: int, holders: int, statements: int, tries: list[Try], seconds: float) -> Report:
    mismatches = sum(not t.matches for t in tries)
    unsound = sum(not t.sound for t in tries)
    not_killed = sum(not t.killed for t in tries)
    return Report(
        f"bench eod-crash: {loans:,} loans × {holders} holders, {len(tries)} kill points",
        [
            ("reference", f"{statements:,} SQL statements to close the date"),
            (
                "kill points",
                f"{len(tries)}  (before statements {', '.join(str(t.kill_after) for t in tries[:8])} …)",
            ),
            ("mismatches", f"{mismatches}  (state after rerun ≠ reference; must be 0)"),
            ("unsound", f"{unsound}  (ledger or custody; must be 0)"),
            ("not killed", f"{not_killed}  (the worker finished before its kill point; must be 0)"),
            ("whole command", f"{seconds:9.1f} s"),
        ],
        {
            "loans": loans,
            "holders": holders,
            "statements": statements,
            "kill_points": len(tries),
            "mismatches": mismatches,
            "unsound": unsound,
            "not_killed": not_killed,
            "seconds": round(seconds, 1),
        },
    )

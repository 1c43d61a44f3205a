"""日终批处理: the end-of-day batch, as ordered business steps over the loans with work that day.

For one business date the steps run in this order (DOMAIN.md §7, in the spirit of a
core-banking close of business):

1. ``auto_debit``  代扣: what is due by the date, from the borrower's available balance;
2. ``accrue``      罚息计提: penalty interest and late fees of overdue installments;
3. ``classify``    overdue days, stage (M1…M7+) and five-tier classification, with history;
   then ``transfers`` 债权转让: open transfer listings of overdue loans cancelled, those past
   their expiry closed (R40);
4. ``compensate``  代偿: a guarantor pays the holders when its agreement's trigger is reached
   (or, only if an operator switched it on, the risk reserve under its coverage); then a
   partner institution's repurchase (回购) of its P2B claim at its commitment's DPD;
5. ``collections`` 催收: cases opened, escalated and closed; strategies' automatic reminders;
6. ``remind``      reminders and overdue notices to borrowers, repayment notices to holders;
7. ``figures``     the day's platform figures, for disclosure.

How it stays correct when run twice, killed, or run by several workers at once:

* A step's loans are split into **chunks** written to ``eod_chunks`` before any is worked
  (the plan is fixed once: a second planner's insert collides on the unique key and it
  adopts the first plan). A worker claims a pending chunk, does every act of it and marks
  it done **in one transaction**: killed half-way, the transaction rolls back and the chunk
  is pending again, as if never touched. Money moved at the custodian bank before the crash
  is replayed, not repeated, because instruction numbers derive from the act.
* On PostgreSQL workers claim with ``FOR UPDATE SKIP LOCKED``, so any number of them —
  ``p2plend eod run`` on several machines, or every server process's scheduler — share
  the chunks; one waits for the others' chunks before the next step begins, because each
  step reads what the previous one wrote. On SQLite writers are serialised anyway.
* A closed date is never run again (``eod_runs``); the acts themselves write once per
  (date, step, object) — ledger keys ``eod:{date}:auto_debit:loan:{id}``, one penalty
  accrual per installment and date, one history row per loan and date.
* **Catch-up**: ``close_through`` closes every date not yet closed, oldest first.
"""

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.collections import service as collections
from p2plend.custody.port import Custodian
from p2plend.db import transaction
from p2plend.errors import InvalidInput
from p2plend.guarantee import reserve
from p2plend.guarantee import service as guarantee
from p2plend.jobs.models import EodChunk, EodRun
from p2plend.p2b import service as p2b
from p2plend.servicing import end_of_day
from p2plend.servicing import service as servicing
from p2plend.transfers import service as transfers

DEFAULT_CHUNK_SIZE = 200  # loans per chunk: small enough to share, big enough to amortise
POLL_SECONDS = 0.05  # waiting for another worker's chunk to finish
RUNNING, CLOSED = "running", "closed"
PENDING, DONE = "pending", "done"

Act = Callable[[Session, int, date, Custodian], int]
ChunkAct = Callable[[Session, list[int], date, Custodian], int]


@dataclass(frozen=True)
class Step:
    name: str
    label_zh: str
    # One act per loan that ``loans`` chooses for the date (by index: the loans with the step's
    # work that day, so the batch's cost follows the day's work, not the size of the book).
    per_loan: Act | None = None
    loans: Callable[[Session, date], list[int]] | None = None
    # Or one act for the whole day.
    whole_day: Callable[[Session, date], int] | None = None
    # Or one act for each chunk of the loans ``loans`` chooses: set-based, for the step whose
    # per-loan statements would dominate the batch (``per_loan``'s acts, done together).
    per_chunk: ChunkAct | None = None


def _auto_debit(session: Session, loan_ids: list[int], on: date, custodian: Custodian) -> int:
    return len(servicing.collect_due_all(session, loan_ids, on=on, custodian=custodian))


def _accrue(session: Session, loan_id: int, on: date, _custodian: Custodian) -> int:
    return end_of_day.accrue(session, loan_id, on)


def _classify(session: Session, loan_id: int, on: date, _custodian: Custodian) -> int:
    return int(end_of_day.classify(session, loan_id, on))


def _compensate(session: Session, loan_id: int, on: date, custodian: Custodian) -> int:
    made = 0
    # After a partner institution's repurchase (回购) no investor is left for a guarantor to pay.
    if not p2b.bought_back(session, loan_id):
        if guarantee.agreement_of(session, loan_id) is not None:
            made = guarantee.compensate_due(session, loan_id, on, custodian)
        else:
            made = reserve.compensate_due(session, loan_id, on, custodian)
    return made + p2b.repurchase_due(session, loan_id, on, custodian)


def _loans_to_compensate(session: Session, on: date) -> list[int]:
    """The overdue loans (a guarantor, the reserve or a partner may have to pay), those the
    reserve covers today, and the covered loans repaid in full (their cover closes)."""
    loans = set(end_of_day.loans_overdue(session, on))
    loans.update(guarantee.repaid_under_active_agreements(session), reserve.loans_to_visit(session, on))
    return sorted(loans)


def _collections(session: Session, loan_id: int, on: date, _custodian: Custodian) -> int:
    return collections.work_loan(session, loan_id, on)


def _loans_to_collect(session: Session, _on: date) -> list[int]:
    return collections.loans_to_work(session)


def _remind(session: Session, loan_ids: list[int], on: date, _custodian: Custodian) -> int:
    return end_of_day.remind(session, loan_ids, on)


def _figures(session: Session, on: date) -> int:
    end_of_day.snapshot_figures(session, on)
    return 1


def _transfers(session: Session, on: date) -> int:
    return transfers.close_stale_listings(session, on).total


STEPS: tuple[Step, ...] = (
    Step("auto_debit", "自动代扣", loans=end_of_day.loans_due, per_chunk=_auto_debit),
    Step("accrue", "罚息计提", _accrue, end_of_day.loans_overdue),
    Step("classify", "逾期分级", _classify, end_of_day.loans_to_classify),
    Step("transfers", "债权转让", whole_day=_transfers),
    Step("compensate", "担保代偿", _compensate, _loans_to_compensate),
    Step("collections", "催收分案", _collections, _loans_to_collect),
    Step("remind", "提醒通知", loans=end_of_day.loans_to_remind, per_chunk=_remind),
    Step("figures", "日终数据", whole_day=_figures),
)
STEP_NAMES = tuple(step.name for step in STEPS)


class DateNotClosable(InvalidInput):
    code = "eod_date_not_closable"


@dataclass
class DayReport:
    business_date: date
    already_closed: bool = False
    items: dict[str, int] = field(default_factory=dict)  # step → acts done by this worker
    chunks: int = 0  # chunks this worker did


Progress = Callable[[date, str, int, int], None]  # (date, step, chunks done, chunks planned)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


# --- closing dates ------------------------------------------------------------------------


def dates_to_close(session: Session, through: date) -> list[date]:
    """The dates not yet closed up to ``through``, oldest first: from the day after the last
    closed date (or an unfinished run) — or just ``through`` when no date was ever closed."""
    first_open = session.scalar(select(func.min(EodRun.business_date)).where(EodRun.status == RUNNING))
    last_closed = session.scalar(select(func.max(EodRun.business_date)).where(EodRun.status == CLOSED))
    candidates = [d for d in (first_open, last_closed + timedelta(days=1) if last_closed else None) if d]
    start = min(candidates) if candidates else through
    days = []
    day = start
    while day <= through:
        days.append(day)
        day += timedelta(days=1)
    closed = set(
        session.scalars(
            select(EodRun.business_date).where(
                EodRun.status == CLOSED, EodRun.business_date.between(start, through)
            )
        ).all()
    )
    return [d for d in days if d not in closed]


def close_through(
    factory: sessionmaker[Session],
    through: date,
    custodian: Custodian,
    *,
    worker: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
) -> list[DayReport]:
    """Close every date not yet closed up to ``through`` (catch-up), in order."""
    if through > clock.today():
        raise DateNotClosable(
            "A business date can be closed only once it has come.",
            details={"date": through.isoformat(), "today": clock.today().isoformat()},
        )
    with factory() as session:
        days = dates_to_close(session, through)
    return [
        close_date(factory, day, custodian, worker=worker, chunk_size=chunk_size, progress=progress)
        for day in days
    ]


def close_date(
    factory: sessionmaker[Session],
    on: date,
    custodian: Custodian,
    *,
    worker: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Progress | None = None,
) -> DayReport:
    """Run every step of ``on``'s batch, sharing the work with any other worker on it."""
    worker = worker or worker_name()
    report = DayReport(on)
    if not _open_run(factory, on):
        report.already_closed = True
        return report
    for step in STEPS:
        done = _plan(factory, on, step, chunk_size=chunk_size, custodian=custodian, worker=worker)
        while True:
            if done is None:
                done = _work_one_chunk(factory, on, step, custodian, worker)
            if done is not None:
                items, others_pending = done
                report.chunks += 1
                report.items[step.name] = report.items.get(step.name, 0) + items
                if progress is not None:
                    progress(on, step.name, *_chunk_progress(factory, on, step.name))
                if not others_pending:
                    break  # that was the step's last chunk
                done = None
                continue
            if _step_finished(factory, on, step.name):
                break
            time.sleep(POLL_SECONDS)  # another worker holds the last chunks
    _close_run(factory, on)
    return report


def _open_run(factory: sessionmaker[Session], on: date) -> bool:
    """Start ``on``'s run (once); False when it is already closed."""
    try:
        with transaction(factory) as session:
            run = session.get(EodRun, on)
            if run is not None:
                return run.status != CLOSED
            session.add(EodRun(business_date=on, status=RUNNING, step=STEPS[0].name, started_at=clock.now()))
    except IntegrityError:
        with factory() as session:  # another worker started it first
            run = session.get(EodRun, on)
            return run is not None and run.status != CLOSED
    return True


def _plan(
    factory: sessionmaker[Session],
    on: date,
    step: Step,
    *,
    chunk_size: int,
    custodian: Custodian,
    worker: str,
) -> tuple[int, int] | None:
    """Fix the step's chunks once, from the loans with its work at the step's start, and do the
    first of them in the same transaction (as ``_work_one_chunk``): a small book's step is one
    transaction, and a kill rolls back the plan with the chunk. None when the step was
    already planned (by an earlier run or another worker)."""
    try:
        with transaction(factory) as session:
            if session.scalar(
                select(EodChunk.id).where(EodChunk.business_date == on, EodChunk.step == step.name).limit(1)
            ):
                return None
            session.execute(update(EodRun).where(EodRun.business_date == on).values(step=step.name))
            loans = step.loans(session, on) if step.loans is not None else []
            slices = [loans[i : i + chunk_size] for i in range(0, len(loans), chunk_size)] or [[]]
            session.add_all(
                EodChunk(business_date=on, step=step.name, number=n, loan_ids=ids, status=PENDING, items=0)
                for n, ids in enumerate(slices)
            )
            session.flush()
            return _claim_and_work(session, on, step, custodian, worker)
    except IntegrityError:
        if _step_planned(factory, on, step.name):
            return None  # another worker planned the step first: its plan stands
        raise  # the first chunk's own act failed: the step must not pass for done


def _step_planned(factory: sessionmaker[Session], on: date, step: str) -> bool:
    with factory() as session:
        return bool(
            session.scalar(
                select(EodChunk.id).where(EodChunk.business_date == on, EodChunk.step == step).limit(1)
            )
        )


def _work_one_chunk(
    factory: sessionmaker[Session], on: date, step: Step, custodian: Custodian, worker: str
) -> tuple[int, int] | None:
    """Claim one pending chunk, do it, mark it done — one transaction (``_claim_and_work``)."""
    with transaction(factory) as session:
        return _claim_and_work(session, on, step, custodian, worker)


def _claim_and_work(
    session: Session, on: date, step: Step, custodian: Custodian, worker: str
) -> tuple[int, int] | None:
    """Returns the acts done and how many of the step's chunks are still pending (others'
    included); None when no chunk can be claimed."""
    chunk = session.scalars(
        select(EodChunk)
        .where(EodChunk.business_date == on, EodChunk.step == step.name, EodChunk.status == PENDING)
        .order_by(EodChunk.number)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if chunk is None:
        return None
    if step.per_chunk is not None:
        items = step.per_chunk(session, [int(loan_id) for loan_id in chunk.loan_ids], on, custodian)
    elif step.per_loan is not None:
        items = sum(step.per_loan(session, int(loan_id), on, custodian) for loan_id in chunk.loan_ids)
    else:
        assert step.whole_day is not None
        items = step.whole_day(session, on)
    chunk.status, chunk.items, chunk.worker, chunk.done_at = DONE, items, worker, clock.now()
    session.flush()
    return items, _pending_chunks(session, on, step.name)


def _step_finished(factory: sessionmaker[Session], on: date, step: str) -> bool:
    with factory() as session:
        return not _pending_chunks(session, on, step)


def _pending_chunks(session: Session, on: date, step: str) -> int:
    """The step's chunks not done yet, those other workers are doing included."""
    pending = session.scalar(
        select(func.count(EodChunk.id)).where(
            EodChunk.business_date == on, EodChunk.step == step, EodChunk.status == PENDING
        )
    )
    return int(pending or 0)


def _chunk_progress(factory: sessionmaker[Session], on: date, step: str) -> tuple[int, int]:
    with factory() as session:
        done, total = session.execute(
            select(
                func.count(EodChunk.id).filter(EodChunk.status == DONE),
                func.count(EodChunk.id),
            ).where(EodChunk.business_date == on, EodChunk.step == step)
        ).one()
        return int(done), int(total)


def _close_run(factory: sessionmaker[Session], on: date) -> None:
    with transaction(factory) as session:
        session.execute(
            update(EodRun)
            .where(EodRun.business_date == on, EodRun.status == RUNNING)
            .values(status=CLOSED, step=STEPS[-1].name, finished_at=clock.now())
        )


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepStatus:
    name: str
    label_zh: str
    chunks_done: int
    chunks: int
    items: int


@dataclass(frozen=True)
class RunStatus:
    business_date: date
    status: str
    step: str
    started_at: datetime
    finished_at: datetime | None
    steps: tuple[StepStatus, ...]


def status(session: Session, *, limit: int = 10) -> list[RunStatus]:
    """The latest runs, newest first, with each step's chunks done / planned and acts."""
    runs = session.scalars(select(EodRun).order_by(EodRun.business_date.desc()).limit(limit)).all()
    counts: dict[tuple[date, str], tuple[int, int, int]] = {}
    if runs:
        for day, step, done, total, items in session.execute(
            select(
                EodChunk.business_date,
                EodChunk.step,
                func.count(EodChunk.id).filter(EodChunk.status == DONE),
                func.count(EodChunk.id),
                func.coalesce(func.sum(EodChunk.items), 0),
            )
            .where(EodChunk.business_date.in_([r.business_date for r in runs]))
            .group_by(EodChunk.business_date, EodChunk.step)
        ):
            counts[(day, step)] = (int(done), int(total), int(items))
    return [
        RunStatus(
            business_date=run.business_date,
            status=run.status,
            step=run.step,
            started_at=run.started_at,
            finished_at=run.finished_at,
            steps=tuple(
                StepStatus(step.name, step.label_zh, *counts.get((run.business_date, step.name), (0, 0, 0)))
                for step in STEPS
            ),
        )
        for run in runs
    ]


def last_closed(session: Session) -> date | None:
    return session.scalar(select(func.max(EodRun.business_date)).where(EodRun.status == CLOSED))

"""Killed and resumed, or shared by two workers, the batch ends in one and the same state.

On PostgreSQL, with real processes (``p2plend/bench/eod_worker.py``): a day with work in every
step — an auto-debit in full, one in part, penalties past grace, a return to current, a
compensation by a guarantor, reminders and holders' notices, the day's figures — is closed

* once, uninterrupted: the reference state;
* killed with SIGKILL before its N-th SQL statement, for 24 values of N spread over the
  whole run, then run again to the end (in the test's process, on fresh connections): each
  ends in the reference state;
* by two workers started together, sharing one-loan chunks: the reference state again.

The state compared is every table of the schema (platform and custodian bank), row by row,
without what legitimately differs between runs: surrogate ids drawn from sequences (a
killed transaction consumes them), the columns that refer to such ids, and which worker
did a chunk when.
"""

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.bench import eod_worker, state
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine
from p2plend.jobs import eod
from p2plend.jobs.models import EodChunk
from p2plend.ledger import service as ledger
from tests import conftest, invariants, lending
from tests.conftest import TEST_DATE

pytestmark = pytest.mark.postgres_only

AMOUNT = 1_200_000
FIRST_DUE = date(2026, 12, 28)
DAY = FIRST_DUE + timedelta(days=4)  # DPD 4: the first day past grace
KILL_POINTS = 24
ROOT = Path(__file__).resolve().parents[2]


def _setup_day_before(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    """Six loans, all first due on FIRST_DUE and closed through DAY − 1 unpaid; then two
    borrowers put money in: one enough for all they owe, one for part. A seventh loan is
    guaranteed by a company that compensates at DPD 4: on DAY."""
    loans = []
    for _ in range(6):
        borrower = lending.make_borrower(session_factory, bank)
        investors = lending.make_investors(session_factory, bank, [AMOUNT // 3] * 3)
        terms = lending.listing_terms(borrower, amount=AMOUNT, annual_rate="0.04")
        loan_id = lending.funded_loan(session_factory, bank, terms, [(i, AMOUNT // 3) for i in investors])
        lending.spend_all(session_factory, bank, borrower)
        loans.append((loan_id, borrower))
    guarantor = lending.make_guarantor(
        session_factory,
        bank,
        300_000,
        coverage="principal_interest",
        trigger_dpd=4,
        accelerate_dpd=90,
        fee_rate=Decimal(0),
    )
    lending.guaranteed_loan(session_factory, bank, guarantor, [AMOUNT // 3] * 3)
    day = TEST_DATE
    while day < DAY:
        lending.go_to(day)
        eod.close_through(session_factory, day, bank)
        day += timedelta(days=1)
    for (_, borrower), amount in zip(loans[:2], (500_000, 40_000), strict=True):
        lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), amount)


def _run_worker(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "p2plend.bench.eod_worker", url, DAY.isoformat(), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "P2PLEND_ENVIRONMENT": "test"},
        check=False,
    )


def _resume_here(url: str) -> None:
    """The rerun after a crash, in this process (the killed one was a real process): the
    same date under the same business clock, on a fresh engine and bank."""
    with eod_worker.batch_on(url, DAY) as (_, factory, bank):
        eod.close_through(factory, DAY, bank)


@contextmanager
def _clone(source: str) -> Iterator[str]:
    """A copy of the prepared database (the source must have no open connections)."""
    pg = conftest._postgres_url()
    assert pg is not None
    name = f"{source}_c{next(_numbers)}"
    conftest._pg_admin(
        pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}" TEMPLATE "{source}"'
    )
    try:
        yield conftest._pg_url_for(pg, name)
    finally:
        conftest._pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_numbers = itertools.count()


def _assert_sound(url: str) -> None:
    engine = make_engine(url)
    with sessionmaker(engine)() as session:
        invariants.assert_books_sound(session)
        assert ledger.verify(session) == []
    engine.dispose()


def _prepared(
    session_factory: sessionmaker[Session], bank: SimulatedBank, engine: Engine, database_url: str
) -> str:
    _setup_day_before(session_factory, bank)
    bank.close()
    engine.dispose()
    return database_url.rsplit("/", 1)[1]


def test_killed_anywhere_and_rerun_the_day_ends_as_if_never_killed(
    session_factory: sessionmaker[Session], bank: SimulatedBank, engine: Engine, database_url: str
) -> None:
    source = _prepared(session_factory, bank, engine, database_url)
    with _clone(source) as url:
        finished = _run_worker(url)
        assert finished.returncode == 0, finished.stderr
        statements = int(finished.stdout.split()[-1])
        reference = state.state_hash(url)
        _assert_sound(url)
        again = _run_worker(url)  # the same date once more: nothing changes
        assert again.returncode == 0, again.stderr
        assert state.state_hash(url) == reference
    assert statements > 100  # every step did real work
    points = sorted({1 + (statements - 2) * k // (KILL_POINTS - 1) for k in range(KILL_POINTS)})
    assert len(points) >= 20
    for point in points:
        with _clone(source) as url:
            killed = _run_worker(url, "--kill-after", str(point))
            assert killed.returncode == -9, (point, killed.stderr)
            _resume_here(url)
            assert state.state_hash(url) == reference, f"killed before statement {point} of {statements}"
            _assert_sound(url)


def test_two_workers_in_parallel_end_as_one(
    session_factory: sessionmaker[Session], bank: SimulatedBank, engine: Engine, database_url: str
) -> None:
    source = _prepared(session_factory, bank, engine, database_url)
    with _clone(source) as url:
        assert _run_worker(url, "--chunk-size", "1").returncode == 0
        reference = state.state_hash(url)
    with _clone(source) as url:
        start = f"{time.time() + 3:.3f}"
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "p2plend.bench.eod_worker",
                    url,
                    DAY.isoformat(),
                    "--chunk-size",
                    "1",
                    "--start-at",
                    start,
                    "--worker",
                    name,
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "P2PLEND_ENVIRONMENT": "test"},
            )
            for name in ("worker-a", "worker-b")
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=300)
            assert worker.returncode == 0, err
        assert state.state_hash(url) == reference
        _assert_sound(url)
        check = make_engine(url)
        with sessionmaker(check)() as session:
            workers_of_the_day = session.scalars(select(EodChunk.worker).where(EodChunk.business_date == DAY))
            assert set(workers_of_the_day) == {"worker-a", "worker-b"}
        check.dispose()

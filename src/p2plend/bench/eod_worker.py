"""A real end-of-day worker process, for the kill-and-resume and parallel-worker tests and
``p2plend bench eod-crash``.

    python -m p2plend.bench.eod_worker DATABASE_URL DATE [--kill-after N] [--chunk-size K]
        [--start-at EPOCH_SECONDS] [--worker NAME]

Closes every unclosed date up to DATE under a business clock fixed on DATE. With
``--kill-after N`` the process sends itself SIGKILL just before its N-th SQL statement —
the crash a power cut or ``kill -9`` gives, with no chance to clean up. It prints how many
statements it ran, so the test can spread its kill points over a whole run.
"""

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory
from p2plend.jobs import eod


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("date", type=date.fromisoformat)
    parser.add_argument("--kill-after", type=int, default=0)
    parser.add_argument("--chunk-size", type=int, default=eod.DEFAULT_CHUNK_SIZE)
    parser.add_argument("--start-at", type=float, default=0.0)
    parser.add_argument("--worker", default="")
    args = parser.parse_args(argv)

    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    statements = close_counting(
        args.url, args.date, kill_after=args.kill_after, chunk_size=args.chunk_size, worker=args.worker
    )
    print(statements)
    return 0


def close_counting(
    url: str, day: date, *, kill_after: int = 0, chunk_size: int = eod.DEFAULT_CHUNK_SIZE, worker: str = ""
) -> int:
    """Close every unclosed date through ``day``, as a worker does; with ``kill_after`` the
    process sends itself SIGKILL just before that SQL statement. Returns the statements run."""
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1
        if statements == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    with batch_on(url, day) as (engine, factory, bank):
        for counted in {engine, bank._engine} - {None}:  # the bank's own engine, counted too
            event.listen(counted, "before_cursor_execute", count)
        eod.close_through(factory, day, bank, worker=worker or None, chunk_size=chunk_size)
    return statements


@contextmanager
def batch_on(url: str, day: date) -> Iterator[tuple[Engine, sessionmaker[Session], SimulatedBank]]:
    """What a batch worker runs with: the business clock at 23:00 on ``day``, an engine and
    sessions on ``url``, the simulated bank beside it; all put back or closed after."""
    previous = clock.current()
    fixed = clock.FixedClock(datetime(2000, 1, 1, tzinfo=UTC))
    fixed.set_business_date(day, hour=23)
    clock.install(fixed)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    bank = custody.simulated_custodian(url, factory)
    try:
        yield engine, factory, bank
    finally:
        bank.close()
        engine.dispose()
        clock.install(previous)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The ``p2plend chaos`` commands."""

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from p2plend.db import normalise_url

app = typer.Typer(
    help="Chaos tests: the served platform under faults, then checked to the fen (docs/reliability.md).",
    no_args_is_help=True,
)


def _postgresql(url: str) -> str:
    if not normalise_url(url).startswith("postgresql"):
        raise typer.BadParameter("a PostgreSQL server URL: the test makes and drops its own database there")
    return url


@app.command("bank")
def bank(
    *,
    db: Annotated[
        str,
        typer.Option(
            "--db",
            callback=_postgresql,
            help="A PostgreSQL server URL: the test creates and drops its own database there.",
        ),
    ],
    clients: Annotated[int, typer.Option(min=1, max=64, help="Client threads acting at once.")] = 8,
    seconds: Annotated[
        float, typer.Option(min=5, max=3600, help="How long the clients and faults run.")
    ] = 120.0,
    workers: Annotated[
        int, typer.Option(min=2, max=16, help="Server processes (one is killed at a time).")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Seeds the clients' choices and the faults' schedule.")] = 1,
    logs: Annotated[
        Path | None,
        typer.Option(help="A directory for the servers' and the batch's logs.", show_default=False),
    ] = None,
) -> None:
    """Jepsen-style bank test: concurrent clients move money over HTTP while servers are
    killed, database connections dropped, bank callbacks duplicated and delayed and the
    end-of-day batch runs; then the ledger, custody, money, exactly-once and overselling
    checks. A table, then one JSON line; exit 1 on any violation."""
    # Stopped by SIGTERM (a timeout, Ctrl-C's cousin): still stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Throw-away users: their passwords need no production-strength hashing (servers too).
    os.environ.setdefault("P2PLEND_PASSWORD_HASH_PROFILE", "fast")
    from p2plend.chaos.bank import bank_test, passed
    from p2plend.config import get_settings

    get_settings.cache_clear()
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    report = bank_test(db=db, clients=clients, seconds=seconds, workers=workers, seed=seed, logs=logs)
    for line in report.lines():
        typer.echo(line)
    if not passed(report):
        raise typer.Exit(1)

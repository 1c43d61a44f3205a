"""The ``p2plend bench`` commands (also ``python -m p2plend.bench``)."""

from typing import Annotated

import typer

from p2plend.bench.report import Report
from p2plend.db import normalise_url

app = typer.Typer(
    help="Benchmarks: a business act against a baseline measured in the same run; the ratio. "
    "Each prints a table, then one JSON line. Runs on a scratch database it drops (docs/performance.md).",
    no_args_is_help=True,
)


def _postgresql(url: str | None) -> str | None:
    if url is not None and not normalise_url(url).startswith("postgresql"):
        raise typer.BadParameter("a PostgreSQL server URL (omit --db for a temporary SQLite file)")
    return url


Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        callback=_postgresql,
        help="A PostgreSQL server URL: the bench creates and drops its own database there. "
        "Default: a temporary SQLite file.",
        show_default=False,
    ),
]


def _print(report: Report) -> None:
    for line in report.lines():
        typer.echo(line)


@app.command("repayment")
def repayment(
    holders: Annotated[int, typer.Option(min=1, max=2000, help="Holders of the loan.")] = 100,
    rounds: Annotated[int, typer.Option(min=1, max=36, help="Installments timed.")] = 6,
    db: Db = None,
) -> None:
    """One installment split among N holders, against N plain ledger transfers."""
    from p2plend.bench.repayment import repayment as run

    _print(run(holders=holders, rounds=rounds, db=db))


@app.command("bid-storm")
def bid_storm(
    bidders: Annotated[int, typer.Option(min=2, max=512, help="Investors bidding at once.")] = 64,
    bids: Annotated[int, typer.Option(min=1, max=1000, help="Bids each investor places.")] = 20,
    http: Annotated[
        bool, typer.Option("--http", help="Through the HTTP API (uvicorn on 127.0.0.1).")
    ] = False,
    db: Db = None,
) -> None:
    """One hot listing, N concurrent bidders: queued bids/s against one bare transaction per bid."""
    from p2plend.bench.bid_storm import bid_storm as run

    report = run(bidders=bidders, bids=bids, db=db, http=http)
    _print(report)
    if report.figures["overfunded_fen"] or not report.figures["ledger_ok"] or report.figures["errors"]:
        raise typer.Exit(1)


@app.command("autobid")
def autobid(
    base: Annotated[
        int, typer.Option(min=20, max=10_000, help="Rules of the smallest queue; then 10× and 100× as many.")
    ] = 1000,
    listings: Annotated[int, typer.Option(min=1, max=20, help="Listings allocated per size (median).")] = 3,
    db: Db = None,
) -> None:
    """One new listing allocated by the auto-bid queue with 1,000 / 10,000 / 100,000 active rules;
    the growth ratio (time at 100× the rules ÷ at 1×)."""
    from p2plend.bench.autobid import autobid_bench as run

    report = run(base=base, listings=listings, db=db)
    _print(report)
    if report.figures["overfunded_fen"] > 0 or not report.figures["ledger_ok"]:
        raise typer.Exit(1)


@app.command("api")
def api(
    clients: Annotated[int, typer.Option(min=1, max=256, help="Client threads.")] = 32,
    seconds: Annotated[float, typer.Option(min=1, max=600, help="Length of each phase.")] = 20.0,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Server processes (PostgreSQL).")] = 2,
    investors: Annotated[int, typer.Option(min=1, max=1000, help="Signed-in investors.")] = 32,
    db: Db = None,
) -> None:
    """A load run over loopback against the served platform: pages, account and bids against
    its trivial endpoint, in the same run."""
    from p2plend.bench.api import api as run

    report = run(clients=clients, seconds=seconds, workers=workers, investors=investors, db=db)
    _print(report)
    if report.figures["overfunded_fen"] or not report.figures["ledger_ok"] or report.figures["errors"]:
        raise typer.Exit(1)


@app.command("eod")
def end_of_day(
    *,
    loans: Annotated[int, typer.Option(min=60, max=1_000_000, help="Loans in the book.")] = 100_000,
    holders: Annotated[int, typer.Option(min=1, max=200, help="Holders of each loan.")] = 50,
    due: Annotated[
        int | None,
        typer.Option(
            min=1, help="Loans due on each closed date.  [default: 1/30 of the loans]", show_default=False
        ),
    ] = None,
    scale_holders: Annotated[
        int, typer.Option(min=1, max=200, help="Holders of each loan added for the 10× book.")
    ] = 5,
    workers: Annotated[
        int, typer.Option(min=1, max=16, help="Processes running the batch together (PostgreSQL).")
    ] = 1,
    db: Db = None,
) -> None:
    """The end-of-day batch on a book of N loans: installments/s and holder postings/s against
    raw INSERT … SELECT of as many ledger rows; then on 10× the book, the same due work."""
    from p2plend.bench.eod import eod_bench as run

    report = run(loans=loans, holders=holders, due=due, scale_holders=scale_holders, workers=workers, db=db)
    _print(report)
    if not report.figures["ledger_ok"] or not report.figures["collected_all"]:
        raise typer.Exit(1)


@app.command("eod-crash")
def end_of_day_crash(
    *,
    loans: Annotated[int, typer.Option(min=60, max=1_000_000, help="Loans in the book.")] = 3_000,
    holders: Annotated[int, typer.Option(min=1, max=200, help="Holders of each loan.")] = 20,
    kills: Annotated[int, typer.Option(min=1, max=1000, help="Random kill points to try.")] = 50,
    seed: Annotated[int | None, typer.Option(help="Seed of the kill points (default: random).")] = None,
    db: Db = None,
) -> None:
    """The end-of-day batch killed (SIGKILL) at random SQL statements on the bench's book and
    rerun: every try must end in the state of an uninterrupted run (PostgreSQL)."""
    from p2plend.bench.eod_crash import eod_crash as run

    if db is None:
        raise typer.BadParameter(
            "the crash test clones databases: give a PostgreSQL --db URL", param_hint="--db"
        )
    report = run(loans=loans, holders=holders, kills=kills, seed=seed, db=db)
    _print(report)
    figures = report.figures
    if figures["mismatches"] or figures["unsound"] or figures["not_killed"]:
        raise typer.Exit(1)

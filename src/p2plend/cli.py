"""The ``p2plend`` command: operators' and staff's entry point to the same services the
API uses. Every command exits non-zero with a one-line reason when it refuses."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from p2plend import migrate
from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian
from p2plend.db import make_engine, make_session_factory, transaction
from p2plend.errors import DomainError
from p2plend.ledger import service as ledger
from p2plend.money import format_cny

if TYPE_CHECKING:
    from p2plend.sim import demo as demo_data

app = typer.Typer(
    help="p2plend — online lending information intermediary (网络借贷信息中介平台).", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
custody_app = typer.Typer(
    help="Bank custody (资金存管): reconciliation and the bank's queues.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
app.add_typer(custody_app, name="custody")
app.add_typer(audit_app, name="audit")

# Soft wrap: reports are read by people and by scripts; a narrow or piped terminal must
# neither wrap nor cut a line (an amount cut to "¥1,…" would be worse than useless).
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


@contextmanager
def business_act(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One transaction for one command; a domain refusal becomes a message and exit 1."""
    factory = factory or make_session_factory(make_engine(get_settings().database_url))
    try:
        with transaction(factory) as session:
            yield session
    except DomainError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from exc


@contextmanager
def custodian_bank() -> Iterator[tuple[sessionmaker[Session], Custodian]]:
    """The platform's sessions and its custodian: the simulated bank beside the database.
    In production the bank's own adapter is needed, which this build does not include."""
    settings = get_settings()
    if settings.environment == "production":
        err_console.print(
            "error: production needs the custodian bank's adapter; the simulated bank is not one"
        )
        raise typer.Exit(2)
    factory = make_session_factory(make_engine(settings.database_url))
    bank = custody.simulated_custodian(settings.database_url, factory, settings)
    try:
        yield factory, bank
    finally:
        bank.close()


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Create or upgrade the schema (Alembic migrations; SQLite or PostgreSQL)."""
    url = get_settings().database_url
    migrate.upgrade(url, revision)
    console.print(f"schema at {migrate.current_revision(url)}")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Check every ledger invariant; exit 1 with a precise report on any violation."""
    with business_act() as session:
        violations = ledger.verify(session)
    if not violations:
        console.print(
            "[green]ledger ok[/green]: every entry balances, every balance equals its postings, "
            "user balances are non-negative, all accounts sum to zero"
        )
        return
    err_console.print(f"[red]{len(violations)} ledger violation(s)[/red] (rule: subject: detail)")
    _print_lines(f"{v.rule}: {v.subject}: {v.detail}" for v in violations)
    raise typer.Exit(1)


@custody_app.command("reconcile")
def custody_reconcile(
    day: Annotated[
        datetime,
        typer.Option("--date", formats=["%Y-%m-%d"], help="Business date (YYYY-MM-DD) to reconcile."),
    ],
) -> None:
    """Compare each sub-account's end-of-day balance at the bank with the ledger; store the run.

    Prints every difference to the fen and exits 1 if there is any.
    """
    with custodian_bank() as (factory, bank), business_act(factory) as session:
        report = custody.reconcile(session, bank, day.date())
    console.print(
        f"reconciliation run {report.run_id} for {report.day}: {report.sub_accounts_checked} sub-accounts, "
        f"platform {format_cny(report.platform_total)}, bank {format_cny(report.bank_total)}"
    )
    if not report.differences:
        console.print("[green]books agree[/green]: no difference")
        return
    err_console.print("differences (sub-account, owner, platform, bank, bank − platform):")
    _print_lines(
        f"{d.sub_account_no}  {_owner(d.owner_type, d.owner_id)}  {format_cny(d.platform_amount)}  "
        f"{format_cny(d.bank_amount)}  {format_cny(d.difference)}"
        for d in report.differences
    )
    err_console.print(f"[red]{len(report.differences)} difference(s)[/red]")
    raise typer.Exit(1)


@custody_app.command("sweep")
def custody_sweep() -> None:
    """The bank's queues, run every few minutes: expire stale deposit orders, send pending
    withdrawal instructions, re-deliver the bank's unacknowledged callbacks."""
    with custodian_bank() as (factory, bank):
        with business_act(factory) as session:
            expired = custody.expire_stale_deposits(session)
        with business_act(factory) as session:
            sent = custody.submit_pending_withdrawals(session, bank)
        delivered = bank.deliver_pending()
    console.print(
        f"expired {expired} deposit order(s), sent {sent} withdrawal(s), delivered {delivered} callback(s)"
    )


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every hash chain of the audit log; exit 1 with a report if any record was altered."""
    with business_act() as session:
        violations = audit.verify(session)
    if not violations:
        console.print("[green]audit log ok[/green]: every chain is unbroken and matches its head")
        return
    err_console.print(f"[red]{len(violations)} audit violation(s)[/red] (rule: subject: detail)")
    _print_lines(f"{v.rule}: {v.subject}: {v.detail}" for v in violations)
    raise typer.Exit(1)


def _owner(owner_type: str | None, owner_id: int | None) -> str:
    return f"{owner_type}:{owner_id}" if owner_type else "(unknown to the platform)"


def _print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        err_console.print("  " + line, markup=False, highlight=False)


@app.command("demo")
def demo(
    seed_only: Annotated[
        bool, typer.Option("--seed-only", help="Seed the database of P2PLEND_DATABASE_URL and exit.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Create a demo database (staff, investors, borrowers, money) and serve the platform.

    Without --seed-only the SQLite file is created afresh on every start.
    """
    from sqlalchemy.engine import make_url

    from p2plend.sim import demo as demo_data

    settings = get_settings()
    url = make_url(settings.database_url)
    if not seed_only:
        if url.get_backend_name() != "sqlite" or not url.database:
            err_console.print(
                "error: `p2plend demo` recreates a SQLite file; use --seed-only for other databases"
            )
            raise typer.Exit(2)
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    migrate.upgrade(settings.database_url)
    factory = make_session_factory(make_engine(settings.database_url))
    bank = custody.simulated_custodian(settings.database_url, factory, settings)
    try:
        logins = demo_data.seed(factory, bank)
    except DomainError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from exc
    _print_logins(logins)
    if seed_only:
        bank.close()
        return
    import uvicorn

    from p2plend.server import create_app

    console.print(f"\n[bold]p2plend demo[/bold] at http://{host}:{port}  (API docs: /api/docs; Ctrl-C stops)")
    app = create_app(settings, factory, bank)
    app.router.on_shutdown.append(bank.close)
    uvicorn.run(app, host=host, port=port)


def _print_logins(logins: "list[demo_data.DemoLogin]") -> None:
    """One line per login, never wrapped or cut however narrow the terminal: they are copied."""
    console.print("[bold]demo logins[/bold] (role, name, phone = login, password, TOTP secret for 2FA, note)")
    for login in logins:
        fields = (login.role, login.name, login.phone, login.password, login.totp_secret or "-", login.note)
        console.print("  ".join(fields), soft_wrap=True, markup=False, highlight=False)
    console.print(
        "A current 2FA code for a secret: [bold]p2plend totp SECRET[/bold] (or any authenticator app)."
    )


@app.command("totp")
def totp_code(
    secret: Annotated[str, typer.Argument(help="A base32 TOTP secret, e.g. from the demo logins.")],
) -> None:
    """Print the current 6-digit code of a TOTP secret (for the demo's 2FA)."""
    import pyotp

    try:
        console.print(pyotp.TOTP(secret).now())
    except (ValueError, TypeError) as exc:
        err_console.print("error: not a base32 TOTP secret")
        raise typer.Exit(2) from exc


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only for >1).")] = 1,
) -> None:
    """Serve the API and the web pages (the schema must be migrated)."""
    import uvicorn

    uvicorn.run("p2plend.server:create_app", factory=True, host=host, port=port, workers=workers)


def main() -> None:
    app()

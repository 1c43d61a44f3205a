"""The ``p2plend`` command: operators' and staff's entry point to the same services the
API uses. Every command exits non-zero with a one-line reason when it refuses."""

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import TaskID
from rich.segment import Segment, Segments
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from p2plend import fuzz, migrate
from p2plend.audit import service as audit
from p2plend.autobid import service as autobid
from p2plend.bench import commands as bench_commands
from p2plend.chaos import commands as chaos_commands
from p2plend.collections import service as collections
from p2plend.config import Settings, get_settings
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian
from p2plend.db import make_engine, make_session_factory, transaction
from p2plend.errors import DomainError, InvalidInput, PermissionDenied
from p2plend.jobs import eod
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.money import format_cny
from p2plend.origination import service as origination
from p2plend.origination.vocabulary import STATUSES
from p2plend.schedules import calculator
from p2plend.schedules.service import Installment, Terms, build_schedule
from p2plend.servicing import service as servicing
from p2plend.workcalendar import service as workcalendar

if TYPE_CHECKING:
    from p2plend.marketplace.models import Loan
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
app.add_typer(bench_commands.app, name="bench")
app.add_typer(chaos_commands.app, name="chaos")
app.add_typer(fuzz.cli, name="fuzz")
listings_app = typer.Typer(help="The market's listings (借款标): the daily 流标 run.", no_args_is_help=True)
loans_app = typer.Typer(help="Listings and loans (标的管理): open, withdraw, disburse.", no_args_is_help=True)
app.add_typer(listings_app, name="listings")
app.add_typer(loans_app, name="loans")
products_app = typer.Typer(help="Loan products (借款产品) and their versioned terms.", no_args_is_help=True)
lpr_app = typer.Typer(help="The one-year LPR table (R29: cost ≤ 4 × LPR).", no_args_is_help=True)
applications_app = typer.Typer(help="Loan applications (借款申请).", no_args_is_help=True)
app.add_typer(products_app, name="products")
app.add_typer(lpr_app, name="lpr")
app.add_typer(applications_app, name="applications")
calendar_app = typer.Typer(
    help="The working-day calendar (工作日历): public holidays and make-up workdays.", no_args_is_help=True
)
app.add_typer(calendar_app, name="calendar")
collections_app = typer.Typer(
    help="Collections (催收): cases, assignment, the KPI report, the overdue analysis.", no_args_is_help=True
)
writeoff_app = typer.Typer(
    help="Write-off (核销) by two staff: propose, approve, reject, list.", no_args_is_help=True
)
app.add_typer(collections_app, name="collections")
app.add_typer(writeoff_app, name="writeoff")
eod_app = typer.Typer(
    help="The end-of-day batch (日终批处理): close business dates, see the runs.", no_args_is_help=True
)
app.add_typer(eod_app, name="eod")
guarantee_app = typer.Typer(
    help="Guarantee companies (担保机构): their terms, exposure and compensations (代偿).",
    no_args_is_help=True,
)
app.add_typer(guarantee_app, name="guarantee")
autobid_app = typer.Typer(
    help="Auto-bid (自动投标): the queue, and running it again for an open listing.", no_args_is_help=True
)
app.add_typer(autobid_app, name="autobid")
reserve_app = typer.Typer(
    help="The platform risk reserve (风险备付金): off by default; on, the compliance report flags it.",
    no_args_is_help=True,
)
app.add_typer(reserve_app, name="reserve")
compliance_app = typer.Typer(help="The compliance report (合规检查).", no_args_is_help=True)
claims_app = typer.Typer(
    help="Partner-originated claims (机构债权, P2B): review and follow them.", no_args_is_help=True
)
app.add_typer(claims_app, name="claims")
app.add_typer(compliance_app, name="compliance")
transfers_app = typer.Typer(
    help="The debt-transfer market (债权转让): listings, and closing stale ones.", no_args_is_help=True
)
app.add_typer(transfers_app, name="transfers")
portfolio_app = typer.Typer(
    help="Investors' portfolios (分散投资): concentration, for staff support.", no_args_is_help=True
)
app.add_typer(portfolio_app, name="portfolio")

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
def custody_sweep(
    grace_minutes: Annotated[
        int,
        typer.Option(
            min=0,
            help="Leave alone the bank's transfers younger than this: their acts may still commit.",
        ),
    ] = int(custody.SWEEP_GRACE.total_seconds() // 60),
) -> None:
    """The bank's queues, run every few minutes: expire stale deposit orders, send pending
    withdrawal instructions, re-deliver the bank's unacknowledged callbacks, void and reverse
    orphaned transfer instructions (the bank moved, no act recorded it).

    Exits 1 if the bank refused a reversal: that orphan is left for staff.
    """
    from p2plend import clock

    with custodian_bank() as (factory, bank):
        with business_act(factory) as session:
            expired = custody.expire_stale_deposits(session)
        with business_act(factory) as session:
            sent = custody.submit_pending_withdrawals(session, bank)
        delivered = bank.deliver_pending()
        orphans = custody.sweep_orphaned_instructions(
            factory, bank, now=clock.now(), grace=timedelta(minutes=grace_minutes)
        )
    console.print(
        f"expired {expired} deposit order(s), sent {sent} withdrawal(s), delivered {delivered} callback(s); "
        f"orphaned instructions: {len(orphans.voided)} voided, {len(orphans.reversed)} reversed "
        f"(of {orphans.checked} transfer(s) checked)"
    )
    if orphans.refused:
        err_console.print(
            f"[red]the bank refused {len(orphans.refused)} reversal(s)[/red]: {', '.join(orphans.refused)} "
            "(voided, left for staff: GET /api/v1/staff/custody/voided-instructions)"
        )
        raise typer.Exit(1)


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


# --- origination ------------------------------------------------------------------------------


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01'))}%"


@products_app.command("list")
def products_list() -> None:
    """Every product with its current version: limits, methods, rate range, names."""
    with business_act() as session:
        products = origination.list_products(session)
    console.print("code  kind  version  amount  term  methods  rates  fees  status  name", markup=False)
    for p in products:
        t = p.current.terms
        term = f"{t.term_min_months}-{t.term_max_months}m" + (
            f"|{t.term_min_days}-{t.term_max_days}d" if t.day_terms_allowed else ""
        )
        rates = f"{_percent(min(g.rate_min for g in t.grades))}-{_percent(max(g.rate_max for g in t.grades))}"
        fee_rates = [g.service_fee_rate for g in t.grades]
        fees = f"{_percent(min(fee_rates))}-{_percent(max(fee_rates))}"
        console.print(
            "  ".join(
                (
                    p.code,
                    p.kind,
                    f"v{p.current.version}",
                    f"{format_cny(t.amount_min)}-{format_cny(t.amount_max)}",
                    term,
                    ",".join(m.value for m in t.methods),
                    rates,
                    fees,
                    "active" if p.active else "inactive",
                    f"{p.name_zh} / {p.name_en}",
                )
            ),
            markup=False,
            highlight=False,
        )


@lpr_app.command("list")
def lpr_list() -> None:
    """The one-year LPR fixings, newest first, with the 4 × LPR cap each sets."""
    with business_act() as session:
        history = origination.lpr_history(session)
    for row in history:
        console.print(
            f"{row.effective_date.isoformat()}  {_percent(row.rate)}  cap {_percent(row.rate * 4)}",
            markup=False,
            highlight=False,
        )


@lpr_app.command("add")
def lpr_add(
    day: Annotated[
        datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Effective date (YYYY-MM-DD).")
    ],
    rate: Annotated[str, typer.Option(help='The one-year LPR as a fraction: "0.03" is 3.00 %.')],
) -> None:
    """Record a new one-year LPR fixing (the console acts as staff)."""
    try:
        value = Decimal(rate)
    except InvalidOperation as exc:
        err_console.print(f"error: --rate is a decimal fraction such as 0.03, not {rate!r}", markup=False)
        raise typer.Exit(2) from exc
    with business_act() as session:
        added = origination.add_lpr(session, actor_id=None, effective_date=day.date(), rate=value)
    console.print(
        f"LPR {_percent(added.rate)} from {added.effective_date.isoformat()} (cap {_percent(added.rate * 4)})"
    )


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FIRST_YEAR, _LAST_YEAR = workcalendar.FIRST_DAY.year, workcalendar.LAST_DAY.year


@calendar_app.command("show")
def calendar_show(
    year: Annotated[
        int | None,
        typer.Option(min=_FIRST_YEAR, max=_LAST_YEAR, help="The year (default: this business year)."),
    ] = None,
) -> None:
    """A year's holidays and make-up workdays, then its working days per month."""
    from p2plend import clock

    year = year or clock.today().year
    with business_act() as session:
        days = workcalendar.overrides(session, year)
        per_month = workcalendar.working_days_by_month(session, year)
    if not days:
        console.print(f"{year}: no holiday or make-up day recorded; Monday to Friday are working days")
    for o in days:
        kind = "workday" if o.is_workday else "day off"
        console.print(
            f"{o.day.isoformat()}  {_WEEKDAYS[o.day.weekday()]}  {kind:<7}  {o.source:<7}  {o.name}",
            markup=False,
            highlight=False,
        )
    months = " ".join(f"{n}:{count}" for n, count in enumerate(per_month, start=1))
    console.print(f"working days {year}: {sum(per_month)} ({months})", markup=False, highlight=False)


@calendar_app.command("set")
def calendar_set(
    day: Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="The day (YYYY-MM-DD).")],
    workday: Annotated[bool, typer.Option("--workday", help="A working day (e.g. 调休上班).")] = False,
    holiday: Annotated[bool, typer.Option("--holiday", help="A day off (a public holiday).")] = False,
    name: Annotated[str | None, typer.Option(help='What the day is; default "调休上班" or "休息日".')] = None,
) -> None:
    """Set DAY as a working day or a day off (the console acts as staff; audited). Exit 2 on bad input."""
    if workday == holiday:
        err_console.print("error: give exactly one of --workday and --holiday")
        raise typer.Exit(2)
    label = name if name is not None else ("调休上班" if workday else "休息日")
    with business_act() as session:
        try:
            saved = workcalendar.set_day(
                session, actor_id=None, day=day.date(), is_workday=workday, name=label
            )
        except InvalidInput as exc:
            err_console.print(f"error {exc.code}: {exc.message}", markup=False, highlight=False)
            raise typer.Exit(2) from exc
    kind = "a working day" if saved.is_workday else "a day off"
    console.print(f"{saved.day.isoformat()} is {kind}: {saved.name}", markup=False, highlight=False)


# --- 日终批处理: the end-of-day batch ----------------------------------------------------------


@eod_app.command("run")
def eod_run(
    day: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="Close every date not yet closed up to this one (YYYY-MM-DD); default: today.",
            show_default=False,
        ),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, max=10_000, help="Loans per chunk of work.")
    ] = eod.DEFAULT_CHUNK_SIZE,
) -> None:
    """Close every business date not yet closed, oldest first (catch-up): auto-debit, penalty
    accrual, stage and classification, reminders, the day's figures.

    Safe to run twice, after a crash, or on several machines at once: a closed date is never
    run again and workers share a date's chunks. Exit 2 on bad input (a date not yet come).
    """
    from p2plend import clock, logs

    logs.configure(json=get_settings().log_json)  # info and up: the table is the report
    through = day.date() if day is not None else clock.today()
    if through > clock.today():
        err_console.print(
            f"error eod_date_not_closable: {through.isoformat()} has not come yet "
            f"(the business date is {clock.today().isoformat()}); a date is closed once it has come",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2)
    with custodian_bank() as (factory, bank), _eod_progress() as progress:
        try:
            reports = eod.close_through(factory, through, bank, chunk_size=chunk_size, progress=progress)
        except DomainError as exc:
            err_console.print(f"error {exc.code}: {exc.message}", markup=False, highlight=False)
            raise typer.Exit(2 if isinstance(exc, InvalidInput) else 1) from exc
    closed = [r for r in reports if not r.already_closed]
    if not reports:
        console.print(f"nothing to close: every date through {through.isoformat()} is closed", markup=False)
        return
    table = Table("date", *(f"{step.name} {step.label_zh}" for step in eod.STEPS), "chunks", "note")
    for column in table.columns[1:-1]:
        column.justify = "right"
    for report in reports:
        counts = [str(report.items.get(step.name, 0)) for step in eod.STEPS]
        note = "closed by another worker" if report.already_closed else ""
        table.add_row(report.business_date.isoformat(), *counts, str(report.chunks), note)
    _print_wide(table)
    console.print(
        f"closed {len(closed)} date(s) through {through.isoformat()}", markup=False, highlight=False
    )


@contextmanager
def _eod_progress() -> Iterator[eod.Progress]:
    """A progress bar per date and step (on stderr), fed by the batch after each chunk."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
    )
    tasks: dict[tuple[str, str], TaskID] = {}
    labels = {step.name: step.label_zh for step in eod.STEPS}

    def advance(on: date, step: str, done: int, total: int) -> None:
        key = (on.isoformat(), step)
        if key not in tasks:
            tasks[key] = bars.add_task(f"{on.isoformat()} {step} {labels.get(step, '')}", total=total)
        bars.update(tasks[key], completed=done, total=total)

    with bars:
        yield advance


@eod_app.command("status")
def eod_status(
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many runs, newest first.")] = 10,
) -> None:
    """The latest runs, newest first: status, times (Beijing) and each step's chunks done /
    planned with the acts done (auto-debits, accruals, history rows, messages…)."""
    from p2plend import clock

    with business_act() as session:
        runs = eod.status(session, limit=limit)
        last = eod.last_closed(session)
    console.print(
        f"business date {clock.today().isoformat()}; last closed {last.isoformat() if last else 'none'}",
        markup=False,
        highlight=False,
    )
    if not runs:
        console.print("no end-of-day run yet", markup=False)
        return
    table = Table("date", "status", "step", "started", "finished", *(step.name for step in eod.STEPS))
    for run in runs:
        steps = [f"{s.chunks_done}/{s.chunks} ({s.items})" for s in run.steps]
        table.add_row(
            run.business_date.isoformat(),
            run.status,
            run.step,
            _beijing(run.started_at),
            _beijing(run.finished_at),
            *steps,
        )
    _print_wide(table)
    console.print("steps: chunks done/planned (acts)", markup=False, highlight=False)


def _print_wide(table: Table) -> None:
    """The table as wide as it needs, however narrow the terminal: no cell is wrapped or cut."""
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    lines = console.render_lines(table, console.options.update_width(max(console.width, natural)), pad=False)
    console.print(Segments(segment for line in lines for segment in [*line, Segment.line()]), end="")


@applications_app.command("list")
def applications_list(
    status: Annotated[
        str | None,
        typer.Option(
            help="submitted, under_review, info_requested, awaiting_second_approval, "
            "approved, listed, rejected or cancelled."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many.")] = 50,
) -> None:
    """Applications, the oldest first for a status (a queue), else the newest first."""
    if status is not None and status not in STATUSES:
        err_console.print(f"error: --status is one of {', '.join(STATUSES)}", markup=False)
        raise typer.Exit(2)
    with business_act() as session:
        rows = origination.for_review(session, statuses=None if status is None else [status], limit=limit)
    console.print(
        "id  status  channel  borrower  amount  term  purpose  grade  score  submitted", markup=False
    )
    for a in rows:
        term = f"{a.term_months}m" if a.term_months is not None else f"{a.term_days}d"
        console.print(
            "  ".join(
                (
                    str(a.id),
                    a.status,
                    a.channel,
                    f"user:{a.borrower_id}",
                    format_cny(a.amount),
                    term,
                    a.purpose,
                    a.approved_grade or a.grade or "-",
                    "-" if a.score is None else str(a.score),
                    a.submitted_at.isoformat(timespec="seconds"),
                )
            ),
            markup=False,
            highlight=False,
        )
    if not rows:
        console.print("no applications", markup=False)


# --- lending: listings and loans ---------------------------------------------------------------

_LOAN_STATES = ("pending", "open", "funded", "disbursed", "settled", "failed", "withdrawn")


def _beijing(moment: datetime | None) -> str:
    """A timestamp as the business reads it: Beijing time, to the minute."""
    from p2plend import clock

    return moment.astimezone(clock.BUSINESS_TZ).strftime("%Y-%m-%d %H:%M") if moment else "-"


@listings_app.command("expire")
def listings_expire() -> None:
    """流标: fail every open listing past its funding deadline; every frozen bid is returned (R8).

    One line per failed listing, then the count; exit 0. Run daily: a second run finds none.
    """
    with business_act() as session:
        failed = marketplace.fail_expired_listings(session)
        lines = []
        for loan_id in failed:
            loan = marketplace.get_loan(session, loan_id)
            lines.append(
                f"listing {loan.id} failed (流标): funded {format_cny(loan.funded)} "
                f"of {format_cny(loan.amount)}, every bid returned; {loan.title}"
            )
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(f"{len(lines)} listing(s) failed", markup=False, highlight=False)


@loans_app.command("list")
def loans_list(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: " + ", ".join(_LOAN_STATES) + ".", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 200,
) -> None:
    """Listings and loans, newest first: one line each (id, status, amounts, rate, term, borrower)."""
    if status is not None and status not in _LOAN_STATES:
        err_console.print(f"error: unknown status {status!r}; known: {', '.join(_LOAN_STATES)}")
        raise typer.Exit(2)
    with business_act() as session:
        lines = [
            _loan_line(loan)
            for loan in marketplace.loans(session, statuses=[status] if status else None, limit=limit)
        ]
    console.print(
        "id  status  amount  funded  outstanding  rate  term  grade/class  borrower  deadline  title",
        markup=False,
        highlight=False,
    )
    for line in lines:
        console.print(line, markup=False, highlight=False)


def _loan_line(loan: "Loan") -> str:
    term = f"{loan.term_months}m" if loan.term_months is not None else f"{loan.term_days}d"
    return "  ".join(
        (
            str(loan.id),
            loan.status,
            format_cny(loan.amount),
            format_cny(loan.funded),
            format_cny(loan.principal_outstanding),
            f"{(Decimal(loan.annual_rate) * 100).quantize(Decimal('0.01'))}%",
            term,
            f"{loan.grade}/{loan.risk_class}",
            f"user:{loan.borrower_id}",
            _beijing(loan.deadline),
            loan.title,
        )
    )


def _listing_manager(session: Session, phone: str) -> int:
    """The staff member acting, by phone: active, with a confirmed authenticator and the
    permission to manage listings (``staff:applications:review``), as the staff API asks."""
    from p2plend.identity import service as identity
    from p2plend.identity.permissions import permissions_for

    user_id = identity.user_id_by_phone(session, phone)
    officer = identity.profile(session, user_id)
    granted = permissions_for(officer.roles, totp_enabled=officer.totp_enabled)
    if officer.status != "active" or identity.Permission.STAFF_APPLICATIONS_REVIEW not in granted:
        raise PermissionDenied(
            "This user may not manage listings (active staff with staff:applications:review and 2FA).",
            details={"permission": identity.Permission.STAFF_APPLICATIONS_REVIEW.value},
        )
    return user_id


Officer = Annotated[
    str, typer.Option("--officer", help="Phone of the staff member acting (staff:applications:review).")
]
LoanIdArgument = Annotated[int, typer.Argument(min=1, help="The loan's id (`p2plend loans list`).")]


@loans_app.command("open")
def loans_open(loan_id: LoanIdArgument, officer: Officer) -> None:
    """发布: a pending listing takes bids from now until its funding deadline."""
    with business_act() as session:
        loan = autobid.open_listing(session, loan_id, actor_id=_listing_manager(session, officer))
        line = f"loan {loan.id} open for bids until {_beijing(loan.deadline)} (Beijing time)"
        if loan.funded:
            line += f"; auto-bids took {format_cny(loan.funded)}"
    console.print(line, markup=False, highlight=False)


@loans_app.command("withdraw")
def loans_withdraw(
    loan_id: LoanIdArgument,
    officer: Officer,
    reason: Annotated[str, typer.Option(help="Why (kept on the loan and in the audit log).")],
) -> None:
    """撤标: take a pending, open or funded listing down; every frozen bid is returned in full."""
    with business_act() as session:
        loan = marketplace.withdraw_listing(
            session, loan_id, actor_id=_listing_manager(session, officer), reason=reason
        )
        line = f"loan {loan.id} withdrawn: {format_cny(loan.funded)} of bids returned"
    console.print(line, markup=False, highlight=False)


@loans_app.command("disburse")
def loans_disburse(loan_id: LoanIdArgument, officer: Officer) -> None:
    """满标复审 → 放款: disburse a funded listing through the custodian bank.

    Each investor's bid goes from their sub-account to the borrower's, the service fee to the
    platform; holdings record the claims and the schedule is fixed, in one transaction.
    """
    with custodian_bank() as (factory, bank), business_act(factory) as session:
        loan = autobid.disburse_loan(session, loan_id, bank, actor_id=_listing_manager(session, officer))
        holders = len(marketplace.holdings_of_loan(session, loan.id))
        rows = servicing.schedule(session, loan.id)
        line = (
            f"loan {loan.id} disbursed on {loan.value_date}: {format_cny(loan.amount)} "
            f"to user:{loan.borrower_id}, service fee {format_cny(loan.service_fee)}, "
            f"{holders} holding(s), {len(rows)} installment(s) from {rows[0].due_date if rows else '-'}"
        )
    console.print(line, markup=False, highlight=False)


# --- 担保 / 代偿: guarantee companies and their compensations ----------------------------------------

_MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)


def _staff_acting(session: Session, phone: str, permission: str, act: str) -> int:
    """The staff member acting, by phone: active, with a confirmed authenticator and ``permission``."""
    from p2plend.identity import service as identity
    from p2plend.identity.permissions import permissions_for

    user_id = identity.user_id_by_phone(session, phone)
    officer = identity.profile(session, user_id)
    granted = permissions_for(officer.roles, totp_enabled=officer.totp_enabled)
    if officer.status != "active" or permission not in granted:
        raise PermissionDenied(
            f"This user may not {act} (active staff with {permission} and 2FA).",
            details={"permission": str(permission)},
        )
    return user_id


def _refuse_input(exc: DomainError) -> typer.Exit:
    """Bad input: the stable code, the field when there is one, and exit 2."""
    field = exc.details.get("field")
    where = f" (--{str(field).replace('_', '-')})" if field else ""
    err_console.print(f"error {exc.code}{where}: {exc.message}", markup=False, highlight=False)
    return typer.Exit(2)


@guarantee_app.command("list")
def guarantee_list() -> None:
    """Every guarantee company: its terms (the defaults until agreed), then what it stands behind,
    its balance, what it has compensated, lacked (shortfall) and recovered."""
    from p2plend.guarantee import service as guarantee
    from p2plend.identity import service as identity

    with business_act() as session:
        lines = []
        for terms in guarantee.guarantors(session):
            profile = identity.profile(session, terms.guarantor_id)
            exposure = guarantee.exposure(session, terms.guarantor_id)
            lines.append(
                "  ".join(
                    (
                        f"user:{terms.guarantor_id}",
                        profile.status,
                        terms.coverage,
                        f"{terms.trigger_dpd}/{terms.accelerate_dpd}",
                        _percent(terms.fee_rate),
                        "agreed" if terms.agreed else "default",
                        format_cny(exposure.available),
                        str(exposure.loans),
                        format_cny(exposure.guaranteed_principal),
                        format_cny(exposure.compensated),
                        format_cny(exposure.shortfall),
                        format_cny(exposure.recovered),
                        profile.display_name or "-",
                    )
                )
            )
    console.print(
        "guarantor  status  coverage  trigger/accelerate DPD  fee  terms  available  loans  guaranteed  "
        "compensated  shortfall  recovered  name",
        markup=False,
        highlight=False,
    )
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(f"{len(lines)} guarantee compan{'y' if len(lines) == 1 else 'ies'}", markup=False)


@guarantee_app.command("terms")
def guarantee_terms(
    guarantor: Annotated[
        int,
        typer.Argument(
            min=1, max=_MAX_ID, help="The guarantee company's user id (`p2plend guarantee list`)."
        ),
    ],
    *,
    officer: Annotated[
        str, typer.Option("--officer", help="Phone of the staff member acting (staff:risk:manage).")
    ],
    coverage: Annotated[str, typer.Option(help="principal, or principal_interest (本息).")],
    trigger_dpd: Annotated[
        int, typer.Option("--trigger-dpd", help="Pay an overdue installment on this DPD.")
    ],
    accelerate_dpd: Annotated[
        int, typer.Option("--accelerate-dpd", help="Pay all that remains on this DPD (after the trigger).")
    ],
    fee_rate: Annotated[
        str, typer.Option("--fee-rate", help='担保费 of principal, a decimal: "0.015" is 1.5 %.')
    ],
) -> None:
    """Set a guarantee company's standing terms (担保合作协议), audited under the officer.

    Loans listed from now on copy them; agreements already signed keep theirs. Exit 2 on bad
    input (not_a_guarantor, invalid_guarantee_terms), 1 when the officer may not.
    """
    from p2plend.guarantee import service as guarantee
    from p2plend.guarantee.schemas import read_terms
    from p2plend.identity.permissions import Permission

    with business_act() as session:
        actor = _staff_acting(session, officer, Permission.STAFF_RISK_MANAGE, "set guarantee terms")
        try:
            guarantee.require_guarantor(session, guarantor)
            typed = read_terms(
                coverage=coverage, trigger_dpd=trigger_dpd, accelerate_dpd=accelerate_dpd, fee_rate=fee_rate
            )
            saved = guarantee.set_terms(
                session,
                guarantor,
                coverage=typed.coverage,
                trigger_dpd=typed.trigger_dpd,
                accelerate_dpd=typed.accelerate_dpd,
                fee_rate=typed.fee_rate,
                actor_id=actor,
            )
        except InvalidInput as exc:
            raise _refuse_input(exc) from exc
    console.print(
        f"user:{guarantor} terms set: coverage {saved.coverage}, trigger DPD {saved.trigger_dpd}, "
        f"accelerate DPD {saved.accelerate_dpd}, fee {_percent(saved.fee_rate)}; "
        "loans listed from now on copy them",
        markup=False,
        highlight=False,
    )


@guarantee_app.command("compensations")
def guarantee_compensations(
    guarantor: Annotated[
        int | None,
        typer.Option(
            "--guarantor", min=1, max=_MAX_ID, help="Only this guarantee company's.", show_default=False
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 200,
) -> None:
    """Compensations (代偿), newest first: the business date, the loan, who paid, the installment
    (0: acceleration), what was due, paid and lacked (shortfall), then the totals."""
    from p2plend.guarantee import service as guarantee

    with business_act() as session:
        if guarantor is not None:
            try:
                guarantee.require_guarantor(session, guarantor)
            except InvalidInput as exc:
                raise _refuse_input(exc) from exc
        rows = guarantee.compensations(session, guarantor_id=guarantor, limit=limit)
        titles = {
            loan_id: marketplace.get_loan(session, loan_id).title for loan_id in {r.loan_id for r in rows}
        }
        lines = [
            "  ".join(
                (
                    row.business_date.isoformat(),
                    f"loan:{row.loan_id}",
                    "risk-reserve" if row.agreement_id is None else f"user:{row.payer_id}",
                    "acceleration" if row.kind == "acceleration" else f"installment {row.installment_number}",
                    format_cny(row.due),
                    format_cny(row.paid),
                    format_cny(row.shortfall),
                    format_cny(row.principal),
                    format_cny(row.interest),
                    titles[row.loan_id],
                )
            )
            for row in rows
        ]
    if not rows:
        console.print("no compensation", markup=False)
        return
    console.print(
        "date  loan  paid by  what  due  paid  shortfall  principal  interest  title",
        markup=False,
        highlight=False,
    )
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(
        f"{len(rows)} compensation(s): paid {format_cny(sum(r.paid for r in rows))}, "
        f"shortfall {format_cny(sum(r.shortfall for r in rows))}",
        markup=False,
        highlight=False,
    )


# --- 风险备付金 and 合规检查: the platform risk reserve and the compliance report ------------------------


@reserve_app.command("status")
def reserve_status() -> None:
    """The reserve's settings and position: on or off (and since when), its terms, its balance,
    the loans it covers, what it received, paid, lacked and recovered; FLAGGED when the
    compliance report flags it (R37)."""
    from p2plend.guarantee import reserve

    with business_act() as session:
        position = reserve.position(session)
    terms = position.settings
    state = "on" if terms.enabled else "off"
    since = f" since {terms.enabled_since.isoformat()}" if terms.enabled and terms.enabled_since else ""
    lines = [
        f"risk reserve: {state}{since}{'  FLAGGED (R37)' if position.flagged else ''}",
        f"account: {'user:' + str(terms.holder_id) if terms.holder_id is not None else 'not opened'}",
        f"terms: coverage {terms.coverage}, trigger DPD {terms.trigger_dpd}, accelerate DPD "
        f"{terms.accelerate_dpd}, contribution {_percent(terms.contribution_rate)} of principal",
        f"balance {format_cny(position.available)}  loans covered {position.loans}  "
        f"covered principal {format_cny(position.covered_principal)}",
        f"contributions {format_cny(position.contributions)}  "
        f"compensated {format_cny(position.compensated)}  shortfall {format_cny(position.shortfall)}  "
        f"recovered {format_cny(position.recovered)}",
    ]
    for line in lines:
        console.print(line, markup=False, highlight=False)


@reserve_app.command("open")
def reserve_open(
    phone: Annotated[str, typer.Option(help="Contact phone of the reserve's custody sub-account.")],
) -> None:
    """Open the reserve's own account and custody sub-account, under the platform's name and
    credit code (once). The reserve stays off. Exit 2 on bad input, 1 when already open."""
    from p2plend.guarantee import reserve

    with custodian_bank() as (factory, bank), business_act(factory) as session:
        try:
            opened = reserve.open_account(session, bank, phone=phone, actor_id=None)
        except InvalidInput as exc:
            raise _refuse_input(exc) from exc
    console.print(f"risk reserve account opened: user:{opened.holder_id}; the reserve is off", markup=False)


@reserve_app.command("set")
def reserve_set(
    *,
    enabled: Annotated[bool, typer.Option("--on/--off", help="Switch it on (the report flags it) or off.")],
    coverage: Annotated[
        str, typer.Option(help="principal, or principal_interest (本息).")
    ] = "principal_interest",
    trigger_dpd: Annotated[
        int, typer.Option("--trigger-dpd", help="Pay an overdue installment on this DPD.")
    ] = 2,
    accelerate_dpd: Annotated[
        int, typer.Option("--accelerate-dpd", help="Pay all that remains on this DPD (after the trigger).")
    ] = 90,
    contribution_rate: Annotated[
        str,
        typer.Option(
            "--contribution-rate", help='Of each covered loan\'s principal, from fee income: "0.01" is 1 %.'
        ),
    ] = "0.01",
) -> None:
    """Switch the reserve on or off and set the terms loans covered from now on copy (audited;
    the console acts). On: loans disbursed from today without a guarantor are covered, and the
    compliance report flags the platform. Exit 2 on bad input (risk_reserve_not_open,
    invalid_risk_reserve_terms)."""
    from p2plend.guarantee import reserve
    from p2plend.guarantee.schemas import read_reserve_terms

    with business_act() as session:
        try:
            typed = read_reserve_terms(
                coverage=coverage,
                trigger_dpd=trigger_dpd,
                accelerate_dpd=accelerate_dpd,
                contribution_rate=contribution_rate,
            )
            saved = reserve.configure(
                session,
                enabled=enabled,
                coverage=typed.coverage,
                trigger_dpd=typed.trigger_dpd,
                accelerate_dpd=typed.accelerate_dpd,
                contribution_rate=typed.fee_rate,
                actor_id=None,
            )
        except InvalidInput as exc:
            raise _refuse_input(exc) from exc
    warning = "; the compliance report now flags the platform (R37)" if saved.enabled else ""
    console.print(f"risk reserve {'on' if saved.enabled else 'off'}{warning}", markup=False, highlight=False)


@compliance_app.command("report")
def compliance_report() -> None:
    """Every compliance check, clear or FLAGGED, with its figures. Exit 1 when any is flagged
    (for monitoring), 0 when all are clear."""
    from p2plend.compliance import service as compliance

    with business_act() as session:
        report = compliance.report(session)
    console.print(f"compliance report as of {report.as_of.isoformat()}", markup=False)
    for check in report.checks:
        figures = "  ".join(f"{key}={value}" for key, value in check.figures.items())
        console.print(
            f"{'FLAGGED' if check.flagged else 'clear  '}  {check.code}: {check.message}  [{figures}]",
            markup=False,
            highlight=False,
        )
    console.print(f"{len(report.flagged)} of {len(report.checks)} checks flagged", markup=False)
    if report.flagged:
        raise typer.Exit(1)


# --- 自动投标: the auto-bid queue ----------------------------------------------------------------------


@autobid_app.command("queue")
def autobid_queue(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many of the first in line.")] = 50,
) -> None:
    """The queue: one line per investor first in line (place, investor, amount per bid, reserve,
    total cap, available balance, valid until), then how many rules are on, expired and off."""
    with business_act() as session:
        overview = autobid.queue(session, limit=limit)
    console.print(
        "place  investor  per bid  reserve  total cap  available  valid until", markup=False, highlight=False
    )
    for e in overview.head:
        per_bid = (
            format_cny(e.fixed_amount)
            if e.amount_mode == "fixed"
            else f"{_percent(e.balance_share)} of balance"
        )
        _out(
            "  ".join(
                (
                    str(e.rank),
                    f"user:{e.investor_id}",
                    per_bid,
                    format_cny(e.reserve),
                    format_cny(e.total_cap) if e.total_cap is not None else "none",
                    format_cny(e.available),
                    e.valid_until.isoformat(),
                )
            )
        )
    _out(f"{overview.enabled} rule(s) in the queue, {overview.expired} expired, {overview.off} off")


@autobid_app.command("run")
def autobid_run(
    loan: Annotated[int, typer.Option("--loan", min=1, max=_MAX_ID, help="The open listing's id.")],
    officer: Officer,
) -> None:
    """Run the queue again for an open listing (it also runs by itself when a listing is
    published): investors already auto-bid on it are not served again. Audited under the officer."""
    with business_act() as session:
        result = autobid.allocate(session, loan, actor_id=_listing_manager(session, officer))
    _out(
        f"listing {result.loan_id}: {result.bids} auto-bid(s) for {format_cny(result.amount)}, "
        f"{result.skips} skipped; auto-bids now {format_cny(result.auto_funded)} "
        f"of at most {format_cny(result.auto_limit)}"
    )


# --- 机构债权 (P2B): partner-originated claims -----------------------------------------------------------


@claims_app.command("list")
def claims_list(
    status: Annotated[
        str | None, typer.Option(help="submitted, approved or rejected.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 200,
) -> None:
    """Partner claims, newest first: status, the institution, its type and risk tier, amount,
    rate and term, the repurchase commitment, and once booked the loan with what investors
    bought and what the institution still holds. Every line is labelled P2B."""
    from p2plend.p2b import service as p2b

    if status is not None and status not in ("submitted", "approved", "rejected"):
        err_console.print("error invalid_status (--status): submitted, approved or rejected", markup=False)
        raise typer.Exit(2)
    with business_act() as session:
        views = [p2b.view(session, claim) for claim in p2b.claims(session, status=status, limit=limit)]
        lines = [
            "  ".join(
                (
                    f"claim:{v.claim.id}",
                    "P2B",
                    v.claim.status,
                    f"user:{v.claim.institution_id}",
                    f"{v.claim.institution_type}/tier {v.claim.institution_risk_tier}",
                    format_cny(v.claim.amount),
                    _percent(v.claim.annual_rate),
                    f"{v.claim.term_months}m",
                    f"repurchase DPD {v.claim.repurchase_dpd}" if v.claim.repurchase_dpd else "no repurchase",
                    f"loan:{v.loan.id} sold {format_cny(v.sold)} unsold {format_cny(v.unsold)}"
                    if v.loan
                    else "-",
                )
            )
            for v in views
        ]
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(f"{len(lines)} partner claim(s)", markup=False)


@claims_app.command("decide")
def claims_decide(
    claim: Annotated[int, typer.Argument(min=1, max=_MAX_ID, help="The claim id (`p2plend claims list`).")],
    *,
    officer: Annotated[str, typer.Option("--officer", help="Phone of the risk officer acting.")],
    approve: Annotated[
        bool, typer.Option("--approve/--reject", help="Approve with --grade, or reject with --reason.")
    ],
    grade: Annotated[str, typer.Option(help="On approval: AA … HR.")] = "",
    reason: Annotated[str, typer.Option(help="On rejection: why.")] = "",
) -> None:
    """Approve a partner claim (the loan is booked in repayment, no money moves, and the claim is
    offered on the transfer market) or reject it; audited under the officer. Exit 2 on bad input,
    1 when the claim is decided already or the officer may not."""
    from p2plend.identity.permissions import Permission
    from p2plend.p2b import service as p2b

    with business_act() as session:
        actor = _staff_acting(session, officer, Permission.STAFF_APPLICATIONS_REVIEW, "decide partner claims")
        try:
            decided = (
                p2b.approve(session, claim, officer_id=actor, grade=grade)
                if approve
                else p2b.reject(session, claim, officer_id=actor, reason=reason)
            )
        except InvalidInput as exc:
            raise _refuse_input(exc) from exc
        loan = (
            f", loan:{decided.loan_id} booked and offered on the transfer market" if decided.loan_id else ""
        )
    console.print(f"claim:{claim} {decided.status}{loan}", markup=False, highlight=False)


# --- 催收 and 核销: collections and write-off ----------------------------------------------------------


def _out(line: str) -> None:
    console.print(line, markup=False, highlight=False)


def _exit_bad_input(message: str) -> NoReturn:
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(2)


def _staff_user(session: Session, value: str, option: str) -> int:
    """A staff member named by user id (up to 10 digits) or phone; exit 2 when there is none."""
    from p2plend.identity import service as identity

    text = value.strip()
    try:
        if text.isascii() and text.isdigit() and len(text) <= 10:
            return identity.profile(session, int(text)).user_id
        return identity.user_id_by_phone(session, text)
    except DomainError as exc:
        _exit_bad_input(f"{option} {value!r}: {exc.code}: {exc.message}")


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{(value * 100).quantize(Decimal('0.01'))}%"


@collections_app.command("cases")
def collections_cases(
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "open",
    stage: Annotated[
        str | None, typer.Option(help="m1, m2, m3, m3_plus or m7_plus.", show_default=False)
    ] = None,
    collector: Annotated[
        str | None,
        typer.Option(help="Only this collector's (id or phone), or 'none': unassigned.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many, most overdue first.")] = 200,
) -> None:
    """Collection cases, one line each: id, loan, status, stage, DPD, outstanding, overdue at
    opening, collector, opened, broken promises, title."""
    if status not in ("open", "closed", "all"):
        _exit_bad_input(f"--status is open, closed or all, not {status!r}")
    if stage is not None and stage not in collections.STAGES:
        _exit_bad_input(f"--stage is one of {', '.join(collections.STAGES)}, not {stage!r}")
    with business_act() as session:
        collector_id = None if collector in (None, "none") else _staff_user(session, collector, "--collector")
        page = collections.cases(
            session,
            status=None if status == "all" else status,
            stage=stage,
            collector_id=collector_id,
            unassigned=collector == "none",
            limit=limit,
        )
        names = {
            c.collector_id: collections.staff_name(session, c.collector_id)
            for c in page.items
            if c.collector_id
        }
    _out("case  loan  status  stage  dpd  outstanding  opening  collector  opened  broken  title")
    for c in page.items:
        who = f"user:{c.collector_id} {names[c.collector_id]}" if c.collector_id else "unassigned"
        status_text = c.status if c.close_reason is None else f"{c.status}/{c.close_reason}"
        _out(
            "  ".join(
                (
                    str(c.id),
                    str(c.loan_id),
                    status_text + (" written-off" if c.written_off else ""),
                    c.stage,
                    str(c.days_past_due),
                    format_cny(c.principal_outstanding),
                    format_cny(c.opening_balance),
                    who,
                    c.opened_on.isoformat(),
                    str(c.broken_promises),
                    c.loan_title,
                )
            )
        )
    _out(f"{len(page.items)} of {page.total} case(s)")


@collections_app.command("assign")
def collections_assign(
    case_id: Annotated[int, typer.Argument(min=1, help="The case (`p2plend collections cases`).")],
    collector: Annotated[
        str, typer.Option(help="The collector (id or phone), or 'none' to take the case back.")
    ],
    manager: Annotated[
        str | None,
        typer.Option(help="The manager acting (id or phone; staff:risk:manage). Default: the console."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (kept with the assignment).")] = "",
) -> None:
    """分案: give a case to a collector (or take it back). Audited."""
    with business_act() as session:
        actor = None if manager is None else _staff_user(session, manager, "--manager")
        collector_id = None if collector == "none" else _staff_user(session, collector, "--collector")
        try:
            case = collections.assign(
                session, actor_id=actor, case_id=case_id, collector_id=collector_id, reason=reason
            )
        except InvalidInput as exc:
            _exit_bad_input(f"{exc.code}: {exc.message}")
        name = collections.staff_name(session, case.collector_id) if case.collector_id else ""
    if case.collector_id is None:
        _out(f"case {case.id} (loan {case.loan_id}) is unassigned")
    else:
        _out(f"case {case.id} (loan {case.loan_id}) assigned to user:{case.collector_id} {name}")


@collections_app.command("kpi")
def collections_kpi(
    first: Annotated[
        datetime | None,
        typer.Option(
            "--from",
            formats=["%Y-%m-%d"],
            help="First day (default: 30 days before --to).",
            show_default=False,
        ),
    ] = None,
    last: Annotated[
        datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (default: today).", show_default=False),
    ] = None,
) -> None:
    """The KPI report: recovery rate by stage and by collector, roll rates (docs/collections.md)."""
    from datetime import timedelta

    from p2plend import clock

    end = last.date() if last is not None else clock.today()
    start = first.date() if first is not None else end - timedelta(days=30)
    with business_act() as session:
        try:
            report = collections.kpi(session, start, end)
        except InvalidInput as exc:
            _exit_bad_input(f"{exc.code}: {exc.message}")
    _out(f"recovery by stage, cases entering it {start.isoformat()} to {end.isoformat()}")
    for s in [*report.by_stage, report.total]:
        _out(
            f"{s.stage}  entered {s.spells}  overdue {format_cny(s.balance)}  repaid {format_cny(s.repaid)}  "
            f"recovered {format_cny(s.recovered)}  rate {_pct(s.recovery_rate)}  "
            f"cured {s.cured}  rolled {s.rolled}"
        )
    _out("recovery by collector")
    for c in report.by_collector:
        _out(
            f"user:{c.collector_id} {c.name}  assigned {c.assignments}  overdue {format_cny(c.balance)}  "
            f"recovered {format_cny(c.recovered)}  rate {_pct(c.recovery_rate)}  actions {c.actions}  "
            f"promises {c.promises} (kept {c.promises_kept}, broken {c.promises_broken})  cured {c.cured}  "
            f"open {c.open_cases}"
        )
    if not report.by_collector:
        _out("  (no assignment or action in the period)")
    observed = ", ".join(d.isoformat() for d in report.roll_dates) or "none (month-end + 30 days not closed)"
    _out(f"roll rates, 30 days after month-ends: {observed}")
    for r in report.roll_rates:
        moves = ", ".join(f"{stage} {n}" for stage, n in sorted(r.to.items()))
        nxt = r.next_stage or "-"
        _out(
            f"{r.from_stage} -> {nxt}: {_pct(r.roll_rate)} of {r.loans}  "
            f"cure {_pct(r.cure_rate)}  ({moves or 'none'})"
        )


@collections_app.command("analysis")
def collections_analysis(
    by: Annotated[str, typer.Option(help="region, city, product, grade or industry.")] = "region",
) -> None:
    """Overdue loans grouped by region, city, product, grade or industry: what overdue borrowers share."""
    if by not in collections.DIMENSIONS:
        _exit_bad_input(f"--by is one of {', '.join(collections.DIMENSIONS)}, not {by!r}")
    with business_act() as session:
        found = collections.analysis(session, by)
    total = found.total
    as_of = found.as_of.isoformat() if found.as_of else "no batch yet"
    _out(
        f"as of {as_of}: {total.loans} loan(s) being repaid, {total.overdue_loans} overdue "
        f"({_pct(total.overdue_rate)}; amount {_pct(total.amount_overdue_rate)})"
    )
    _out(f"{by}  loans  overdue  rate  lift  overdue-outstanding  past-due-principal  avg-dpd  npl")
    for g in found.groups:
        _out(
            "  ".join(
                (
                    g.key if g.label == g.key else f"{g.key} {g.label}",
                    str(g.loans),
                    str(g.overdue_loans),
                    _pct(g.overdue_rate),
                    "-" if g.lift is None else str(g.lift),
                    format_cny(g.overdue_outstanding),
                    format_cny(g.overdue_principal),
                    "-" if g.average_dpd is None else str(g.average_dpd),
                    str(g.non_performing),
                )
            )
        )
    if found.profiles:
        _out("commonest among overdue loans (region · product · grade · industry):")
        for p in found.profiles:
            _out(
                f"  {p.region} · {p.product} · {p.grade} · {p.industry}: {p.overdue_loans} ({_pct(p.share)})"
            )


def _write_off_line(w: "collections.WriteOffView") -> str:
    decided = f" by user:{w.decided_by} on {w.decided_on}" if w.decided_by else ""
    return (
        f"write-off {w.id}  loan {w.loan_id}  {w.status}{decided}  {w.reason}  dpd {w.days_past_due}  "
        f"principal {format_cny(w.principal)}  proposed by user:{w.proposed_by} on {w.proposed_on}"
        + (f"  recovered since {format_cny(w.recovered)}" if w.status == "approved" else "")
    )


@writeoff_app.command("propose")
def writeoff_propose(
    loan_id: Annotated[int, typer.Argument(min=1, help="The loan.")],
    officer: Annotated[
        str, typer.Option("--officer", help="The risk officer proposing (id or phone; staff:risk:manage).")
    ],
    reason: Annotated[str, typer.Option(help="dpd_over_180 or proof_of_loss.")],
    proof: Annotated[str, typer.Option(help="The proof of loss (needed for proof_of_loss).")] = "",
) -> None:
    """提出核销: a second staff member then approves or rejects (`writeoff approve|reject`)."""
    with business_act() as session:
        actor = _staff_user(session, officer, "--officer")
        try:
            proposed = collections.propose(
                session, actor_id=actor, loan_id=loan_id, reason=reason, proof=proof
            )
        except InvalidInput as exc:
            _exit_bad_input(f"{exc.code}: {exc.message}")
    _out(_write_off_line(proposed))
    _out("another staff member with staff:write_off:approve decides: p2plend writeoff approve|reject")


@writeoff_app.command("approve")
def writeoff_approve(
    write_off_id: Annotated[int, typer.Argument(min=1, help="The write-off (`p2plend writeoff list`).")],
    approver: Annotated[
        str,
        typer.Option(
            "--approver", help="The approver (id or phone; staff:write_off:approve), not the proposer."
        ),
    ],
    note: Annotated[str, typer.Option(help="The approval's note.")] = "",
) -> None:
    """批准核销: the holders' claims are marked lost for reporting; no money moves."""
    with business_act() as session:
        actor = _staff_user(session, approver, "--approver")
        try:
            approved = collections.approve(session, actor_id=actor, write_off_id=write_off_id, note=note)
        except InvalidInput as exc:
            _exit_bad_input(f"{exc.code}: {exc.message}")
    _out(_write_off_line(approved))
    _out(
        f"{len(approved.claims)} holding(s) marked lost "
        f"({format_cny(sum(c.principal for c in approved.claims))}); "
        "no money moved, later repayments still reach the holders"
    )


@writeoff_app.command("reject")
def writeoff_reject(
    write_off_id: Annotated[int, typer.Argument(min=1, help="The write-off.")],
    approver: Annotated[str, typer.Option("--approver", help="The staff member deciding (id or phone).")],
    note: Annotated[str, typer.Option(help="Why it is rejected.")],
) -> None:
    """驳回核销, saying why; the loan may be proposed again."""
    with business_act() as session:
        actor = _staff_user(session, approver, "--approver")
        try:
            rejected = collections.reject(session, actor_id=actor, write_off_id=write_off_id, note=note)
        except InvalidInput as exc:
            _exit_bad_input(f"{exc.code}: {exc.message}")
    _out(_write_off_line(rejected))


@writeoff_app.command("list")
def writeoff_list(
    status: Annotated[
        str | None, typer.Option(help="proposed, approved or rejected.", show_default=False)
    ] = None,
) -> None:
    """Write-offs, newest first."""
    if status is not None and status not in collections.STATUSES:
        _exit_bad_input(f"--status is one of {', '.join(collections.STATUSES)}, not {status!r}")
    with business_act() as session:
        rows = collections.write_offs(session, status=status)
    for w in rows:
        _out(_write_off_line(w))
    _out(f"{len(rows)} write-off(s)")


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
        remove_demo_files(settings)
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    bank = custody.simulated_custodian(settings.database_url, factory, settings)
    try:
        logins = demo_data.seed(factory, bank)
    except DomainError as exc:
        err_console.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(1) from exc
    _print_logins(logins)
    if seed_only:
        bank.close()
        engine.dispose()
        return
    import uvicorn

    from p2plend.server import create_app

    console.print(f"\n[bold]p2plend demo[/bold] at http://{host}:{port}  (API docs: /api/docs; Ctrl-C stops)")
    app = create_app(settings, factory, bank, eod_scheduler=settings.eod_scheduler_enabled)
    app.router.on_shutdown.append(bank.close)
    uvicorn.run(app, host=host, port=port)


def remove_demo_files(settings: Settings) -> None:
    """Delete the demo's SQLite file and the simulated bank's beside it (with their journals):
    a bank that remembered the last demo's balances would refuse the new demo's transfers."""
    from sqlalchemy.engine import make_url

    from p2plend.custody.simulated.bank import bank_database_url

    bank_url = make_url(bank_database_url(settings.database_url, settings.custodian_database_url))
    files = [make_url(settings.database_url).database]
    if bank_url.get_backend_name() == "sqlite":
        files.append(bank_url.database)
    for database in files:
        for suffix in ("", "-wal", "-shm"):
            if database:
                Path(database + suffix).unlink(missing_ok=True)


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


# Which option a calculator refusal is about (``details["field"]`` of the domain error).
_CALC_OPTION_OF_FIELD = {
    "method": "--method",
    "annual_rate": "--annual-rate",
    "term": "--months/--days",
    "months": "--months",
    "days": "--days",
    "start_date": "--start-date",
}
_METHOD_LABELS = {
    "equal-installment": "等额本息 equal installment",
    "equal-principal": "等额本金 equal principal",
    "interest-first": "先息后本 interest first, principal at maturity",
    "bullet": "一次性还本付息 bullet: principal and interest at maturity",
}


@app.command("calc")
def calc(
    *,
    method: Annotated[
        str | None,
        typer.Option(
            help="equal-installment, equal-principal, interest-first or bullet.", show_default=False
        ),
    ] = None,
    principal: Annotated[str | None, typer.Option(help='Yuan, e.g. "10000.00".', show_default=False)] = None,
    annual_rate: Annotated[
        str | None, typer.Option("--annual-rate", help='A fraction: "0.12" is 12 %.', show_default=False)
    ] = None,
    months: Annotated[str | None, typer.Option(help="Term in months, 1–360.", show_default=False)] = None,
    days: Annotated[
        str | None, typer.Option(help="Term in days, 1–3650 (bullet only).", show_default=False)
    ] = None,
    start_date: Annotated[
        str | None,
        typer.Option(
            "--start-date", help="Value date YYYY-MM-DD (default: business date).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of a table.")] = False,
) -> None:
    """Repayment calculator (借款计算器): a loan's schedule, by the same math as every loan.

    Exits 2 with a one-line reason on bad input. Needs no database.
    """
    for required, value in (("--method", method), ("--principal", principal), ("--annual-rate", annual_rate)):
        if value is None:
            err_console.print(f"[red]error[/red] missing {required}")
            raise typer.Exit(2)
    try:
        terms = calculator.read_terms(
            method=method,
            principal=principal,
            annual_rate=annual_rate,
            months=months,
            days=days,
            start_date=start_date,
        )
        rows = build_schedule(terms)
    except DomainError as exc:
        field = exc.details.get("field")
        option = "--principal" if exc.code == "invalid_amount" else _CALC_OPTION_OF_FIELD.get(str(field))
        where = f" ({option})" if option else ""
        err_console.print(f"[red]error[/red] {exc.code}{where}: {escape(exc.message)}")
        raise typer.Exit(2) from exc
    view = calculator.schedule_view(terms, rows)
    if as_json:
        text = json.dumps(view, ensure_ascii=False, indent=2)
        console.print(text, markup=False, highlight=False, emoji=False)
        return
    _print_schedule(terms, rows, view)


def _print_schedule(terms: Terms, rows: list[Installment], view: calculator.ScheduleView) -> None:
    term = f"{terms.months} month(s)" if terms.months is not None else f"{terms.days} day(s)"
    console.print(
        f"{_METHOD_LABELS[view['method']]}: principal {format_cny(terms.principal)}, "
        f"annual rate {view['annual_rate']}, {term} from {view['start_date']}",
        markup=False,
        highlight=False,
    )
    table = Table("period", "due date", "payment", "principal", "interest", "remaining")
    for column in table.columns[2:]:
        column.justify = "right"
    for row in rows:
        table.add_row(
            str(row.number),
            row.due_date.isoformat(),
            format_cny(row.payment),
            format_cny(row.principal),
            format_cny(row.interest),
            format_cny(row.remaining_principal),
        )
    # As wide as the table needs, however narrow the terminal: no cell is wrapped or cut.
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    lines = console.render_lines(table, console.options.update_width(max(console.width, natural)), pad=False)
    console.print(Segments(segment for line in lines for segment in [*line, Segment.line()]), end="")
    console.print(
        f"total payment {format_cny(sum(r.payment for r in rows))}, "
        f"total interest {format_cny(sum(r.interest for r in rows))}",
        markup=False,
        highlight=False,
    )


_TRANSFER_STATES = ("open", "sold", "cancelled", "expired")


@transfers_app.command("list")
def transfers_list(
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: " + ", ".join(_TRANSFER_STATES) + ".", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 100,
) -> None:
    """债权转让: transfer listings, newest first — offered, sold, today's price of what remains
    and the buyer's yield (XIRR), or why the listing closed."""
    from p2plend.transfers import service as transfers

    if status is not None and status not in _TRANSFER_STATES:
        err_console.print(f"error: unknown status {status!r}; known: {', '.join(_TRANSFER_STATES)}")
        raise typer.Exit(2)
    with business_act() as session:
        lines = []
        for listing in transfers.listings_of(session, status=status, limit=limit):
            view = transfers.view(session, listing)
            rest = view.remaining_price
            priced = (
                f"price {format_cny(rest.price)} (V {format_cny(rest.value)}) "
                f"yield {_percent(view.buyer_xirr) if view.buyer_xirr is not None else '-'}"
                if rest is not None
                else listing.close_reason or "-"
            )
            lines.append(
                "  ".join(
                    (
                        f"transfer {listing.id}",
                        f"loan {listing.loan_id}",
                        f"holding {listing.holding_id}",
                        listing.status,
                        f"offered {format_cny(listing.principal)}",
                        f"sold {format_cny(listing.sold)}",
                        f"discount {_percent(Decimal(listing.discount_rate))}",
                        priced,
                    )
                )
            )
    for line in lines:
        console.print(line, markup=False, highlight=False)
    console.print(f"{len(lines)} transfer listing(s)", markup=False, highlight=False)


@transfers_app.command("expire")
def transfers_expire() -> None:
    """Close stale transfer listings now (R40): past their expiry (3 days [D]) as expired, those
    of a loan now overdue as cancelled — what the batch's ``transfers`` step does. Exit 0."""
    from p2plend import clock
    from p2plend.transfers import service as transfers

    with business_act() as session:
        closed = transfers.close_stale_listings(session, clock.today())
    console.print(
        f"{closed.expired} transfer listing(s) expired, {closed.cancelled} cancelled (overdue)",
        markup=False,
        highlight=False,
    )


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only for >1).")] = 1,
) -> None:
    """Serve the API and the web pages (the schema must be migrated).

    Each worker also runs the end-of-day batch daily at P2PLEND_EOD_SCHEDULE (Beijing time,
    default 23:30) unless P2PLEND_EOD_SCHEDULER_ENABLED=false; on PostgreSQL the workers
    share the work (docs/eod.md).
    """
    import uvicorn

    uvicorn.run("p2plend.server:serve_app", factory=True, host=host, port=port, workers=workers)


@portfolio_app.command("concentration")
def portfolio_concentration(
    user: Annotated[int, typer.Option("--user", min=1, max=_MAX_ID, help="The investor's user id.")],
) -> None:
    """An investor's concentration (集中度), as their 我的投资 page shows it: outstanding
    principal, the largest loan, by grade, by borrower (user id and masked name) and the
    borrowers above the warning line. Exit 1 for an unknown user."""
    from p2plend.identity import service as identity
    from p2plend.portfolio import service as portfolio

    def pct(share: Decimal) -> str:
        return f"{share * 100:.2f}%"

    with business_act() as session:
        identity.profile(session, user)  # user_not_found
        c = portfolio.concentration(session, user)
    _out(f"user:{user}  outstanding {format_cny(c.total)}  warning above {pct(c.threshold)}")
    if c.largest_loan is None:
        _out("nothing outstanding")
        return
    top = c.largest_loan
    _out(
        f"largest loan: loan:{top.loan_id} {top.title} ({top.grade}) {top.borrower_name_masked} "
        f"{format_cny(top.amount)} {pct(top.share)}"
    )
    _out("by grade:")
    for g in c.by_grade:
        _out(f"  {g.grade}  {g.loans} loan(s)  {format_cny(g.amount)}  {pct(g.share)}")
    _out("by borrower:")
    for b in c.by_borrower:
        loans = ",".join(str(i) for i in b.loan_ids)
        flag = "  ABOVE" if b.above_threshold else ""
        _out(
            f"  user:{b.borrower_id} {b.borrower_name_masked}  loans {loans}  "
            f"{format_cny(b.amount)}  {pct(b.share)}{flag}"
        )
    _out(f"{len(c.warnings)} borrower(s) above {pct(c.threshold)}")


def main() -> None:
    app()

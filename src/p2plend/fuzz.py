"""API fuzzing: schemathesis against our own OpenAPI document, in-process, as every role.

Every operation of ``/api/v1/openapi.json`` gets requests generated from its documented
parameters and bodies, sent with each role's bearer token (and none, as the anonymous
visitor). A response fails when it is a 5xx, has a status code the operation does not
document, or a body or headers that do not match what it documents.

The world is small and made through the real services: one user per role, an open listing
with a bid on it and a disbursed loan, so that path parameters can name things that exist.
The test suite (``tests/fuzz``) runs a few examples per operation; ``p2plend fuzz api``
runs many on a throw-away SQLite database. schemathesis is a development dependency: it is
imported only when fuzzing starts.
"""

import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyotp
import typer
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock, migrate
from p2plend.config import Settings, get_settings
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory, transaction
from p2plend.errors import Unauthenticated
from p2plend.identity import records
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.identity.validation import normalise_phone
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.sim import numbers
from p2plend.suitability import service as suitability

if TYPE_CHECKING:
    from fastapi import FastAPI
    from schemathesis import APIOperation, Case, Response

ANONYMOUS = "anonymous"
STAFF = (
    Role.ADMIN,
    Role.RISK_OFFICER,
    Role.COLLECTOR,
    Role.CUSTOMER_SERVICE,
    Role.OPERATIONS,
    Role.FINANCE,
    Role.COMPLIANCE,
)
ROLES: tuple[str, ...] = (
    ANONYMOUS,
    Role.INVESTOR,
    Role.BORROWER,
    *STAFF,
    Role.PARTNER_INSTITUTION,
    Role.GUARANTOR,
)
PASSWORD = "Fuzz2026"  # noqa: S105 — throw-away users of a throw-away database
INVESTOR_DEPOSIT = 3_000_000  # 30,000.00: a bid on the open listing and the whole disbursed loan
LOAN_AMOUNT = 1_000_000


@dataclass
class Member:
    """A signed-in user of the fuzz world: enough to sign them in again."""

    user_id: int
    phone: str
    totp_secret: str
    token: str = ""


@dataclass
class World:
    """Who fuzzes (a member per role) and what path parameters may name (``path_values``)."""

    members: dict[str, Member]
    # Ids that exist, by path parameter name: each operation is also fuzzed with these.
    path_values: dict[str, tuple[int | str, ...]]
    # The members must not be disabled or stripped of roles: a generated ``user_id`` naming
    # one of them is sent to ``bystander`` instead, so every role keeps working to the end.
    bystander: int

    @property
    def cast_ids(self) -> frozenset[int]:
        return frozenset(member.user_id for member in self.members.values())


# --- the world ------------------------------------------------------------------------------


def seed_world(factory: sessionmaker[Session], bank: SimulatedBank) -> World:
    """One member per role (everyone with an authenticator, so staff hold staff permissions),
    money for the investor, an open listing they bid on and a loan they funded, disbursed."""
    members: dict[str, Member] = {role: _staff(factory, role, n) for n, role in enumerate(STAFF, start=1)}
    members[Role.INVESTOR] = _person(factory, bank, 11, Role.INVESTOR)
    members[Role.BORROWER] = _person(factory, bank, 12, Role.BORROWER)
    members[Role.PARTNER_INSTITUTION] = _organisation(factory, bank, 13, Role.PARTNER_INSTITUTION)
    members[Role.GUARANTOR] = _organisation(factory, bank, 14, Role.GUARANTOR)
    bystander = _person(factory, bank, 15, Role.INVESTOR).user_id
    investor, borrower = members[Role.INVESTOR].user_id, members[Role.BORROWER].user_id
    order_no = _deposit(factory, bank, investor, INVESTOR_DEPOSIT)
    with transaction(factory) as session:
        listing = _open_listing(session, borrower)
        marketplace.place_bid(
            session, investor_id=investor, loan_id=listing, amount=LOAN_AMOUNT // 10, fill_remaining=False
        )
        loan = _open_listing(session, borrower)
        marketplace.place_bid(session, investor_id=investor, loan_id=loan, amount=LOAN_AMOUNT)
    with transaction(factory) as session:
        servicing.disburse_loan(session, loan, bank, actor_id=members[Role.RISK_OFFICER].user_id)
    with transaction(factory) as session:
        holding = marketplace.holdings_of_holder(session, investor)[0].id
        card = identity.list_cards(session, investor)[0].id
    return World(
        members=members,
        path_values={
            "loan_id": (listing, loan),
            "holding_id": (holding,),
            "card_id": (card,),
            "order_no": (order_no,),
            "user_id": (bystander,),
            "guarantor_id": (members[Role.GUARANTOR].user_id,),
        },
        bystander=bystander,
    )


def sign_in(factory: sessionmaker[Session], member: Member) -> None:
    """A fresh bearer token for ``member``. A code works once per time-step, so the fixed
    business clock moves on a step first: signing in again later needs a new code too."""
    fixed = clock.current()
    if not isinstance(fixed, clock.FixedClock):
        raise RuntimeError("the fuzz world runs on a fixed clock (clock.FixedClock)")
    fixed.advance(timedelta(seconds=30))
    code = pyotp.TOTP(member.totp_secret).at(clock.now())
    with transaction(factory) as session:
        member.token = identity.login(
            session, phone=member.phone, password=PASSWORD, totp_code=code, client="api", ip=None
        ).token


def _phone(n: int) -> str:
    return f"137{n:08d}"


def _staff(factory: sessionmaker[Session], role: Role, n: int) -> Member:
    with transaction(factory) as session:
        user = identity.create_staff(
            session, actor_id=None, phone=_phone(n), password=PASSWORD, name="测试", roles=[role]
        )
        return Member(user.id, _phone(n), _enrol_totp(session, user.id))


def _person(factory: sessionmaker[Session], bank: SimulatedBank, n: int, role: Role) -> Member:
    """Verified, a card bound, a custody account open; an investor answers the questionnaire boldly."""
    with transaction(factory) as session:
        user = records.insert_user(session, kind="person", e164=normalise_phone(_phone(n)), password=PASSWORD)
        records.grant_role(session, user.id, role, granted_by=None)
        identity.verify_real_name(
            session, user.id, name="测试", id_number=numbers.resident_id(f"11010519900101{n:03d}")
        )
        identity.bind_card(
            session,
            user.id,
            card_number=numbers.card_number(f"622202{n:012d}"),
            bank_name="中国工商银行",
            holder_name="测试",
        )
        custody.open_account(session, user.id, bank)
        if role == Role.INVESTOR:
            answers = {
                q.key: max(q.options, key=lambda o: o.points).key for q in suitability.questionnaire("zh")
            }
            suitability.submit_assessment(session, user.id, answers)
        return Member(user.id, _phone(n), _enrol_totp(session, user.id))


def _organisation(factory: sessionmaker[Session], bank: SimulatedBank, n: int, role: Role) -> Member:
    from stdnum.cn import uscc

    body = f"91110105{n:09d}"
    with transaction(factory) as session:
        user = identity.create_partner(
            session,
            actor_id=None,
            phone=_phone(n),
            password=PASSWORD,
            name="测试有限公司",
            uscc=body + uscc.calc_check_digit(body),
            roles=[role],
        )
        custody.open_account(session, user.id, bank)
        return Member(user.id, _phone(n), _enrol_totp(session, user.id))


def _enrol_totp(session: Session, user_id: int) -> str:
    enrollment = identity.begin_totp_enrollment(session, user_id)
    identity.confirm_totp_enrollment(session, user_id, pyotp.TOTP(enrollment.secret).at(clock.now()))
    return enrollment.secret


def _deposit(factory: sessionmaker[Session], bank: SimulatedBank, user_id: int, amount: int) -> str:
    with transaction(factory) as session:
        card = identity.list_cards(session, user_id)[0].id
        order_no = custody.start_deposit(
            session, user_id, amount=amount, card_id=card, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no)
    return order_no


def _open_listing(session: Session, borrower: int) -> int:
    terms = marketplace.NewListing(
        borrower_id=borrower,
        borrower_kind="person",
        product_code="credit",
        product_kind="credit",
        title="fuzz",
        purpose="business",
        amount=LOAN_AMOUNT,
        annual_rate=Decimal("0.10"),
        method=Method.EQUAL_INSTALLMENT,
        term_months=12,
        term_days=None,
        grade="B",
        risk_class="R3",
        service_fee_rate=Decimal("0.02"),
        monthly_fee_rate=Decimal(0),
        investor_fee_rate=Decimal("0.10"),
        prepayment_fee_rate=Decimal(0),
        penalty_rate=Decimal("0.15"),
        min_bid=10_000,
        bid_step=10_000,
        max_share=Decimal(1),
        funding_days=7,
        disclosure=dict.fromkeys(marketplace.REQUIRED_DISCLOSURE, "fuzz"),
    )
    loan_id = marketplace.create_listing(session, terms, actor_id=None).id
    marketplace.open_listing(session, loan_id, actor_id=None)
    return loan_id


# --- the fuzz --------------------------------------------------------------------------------


@dataclass
class OperationReport:
    """What one operation answered one role: how many calls, which statuses, what failed."""

    operation: str
    role: str
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: set[str] = field(default_factory=set)


def prepare(app: "FastAPI") -> World:
    """Seed the world on ``app``'s database and bank, and sign every member in."""
    factory: sessionmaker[Session] = app.state.session_factory
    bank = app.state.custodian
    if not isinstance(bank, SimulatedBank):
        raise RuntimeError("fuzzing moves money through the simulated bank; this app has another custodian")
    world = seed_world(factory, bank)
    for member in world.members.values():
        sign_in(factory, member)
    return world


def fuzz_api(
    app: "FastAPI",
    world: World,
    *,
    examples: int,
    roles: Sequence[str] = ROLES,
    seed: int | None = None,
    only: Callable[[str], bool] = lambda label: True,
    share: bool = False,
) -> list[OperationReport]:
    """Fuzz every operation (``only`` those whose label it accepts) as each of ``roles``:
    ``examples`` generated requests, and as many again with each seeded id in the path.

    Every role sends the first request. A role turned away at the door (not signed in, no
    permission: the answer would not depend on the input) is not sent the others; each role
    let in sends all of them, or with ``share`` each is sent once, by the roles let in in
    turn. Without ``seed`` the requests are derived from the operation alone, so a run
    repeats exactly."""
    import schemathesis
    from schemathesis.core.result import Ok
    from schemathesis.python import asgi

    # Building the document takes seconds on a busy machine: more than the loader's 10 s default.
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app, timeout=120)
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise RuntimeError(f"an operation of the OpenAPI document cannot be read: {result.err()}")
        operations.append(result.ok())
    factory: sessionmaker[Session] = app.state.session_factory
    reports: list[OperationReport] = []
    try:
        for operation in operations:
            if not only(operation.label):
                continue
            first, *others = _generate(operation, world, examples=examples, seed=seed)
            by_role = {role: OperationReport(operation.label, role) for role in roles}
            let_in = [
                role for role in roles if not _turned_away(_call_and_check(first, by_role[role], world))
            ]
            if share:
                for n, case in enumerate(others if let_in else ()):
                    _call_and_check(case, by_role[let_in[n % len(let_in)]], world)
            else:
                for role in let_in:
                    for case in others:
                        _call_and_check(case, by_role[role], world)
            if operation.method.upper() != "GET":
                for role in roles:
                    _stay_signed_in(factory, world, role)
            reports.extend(by_role.values())
    finally:
        asgi.shutdown_lifespans()  # the app's shutdown (its bank's close) now, not at exit
    return reports


def _generate(
    operation: "APIOperation[Any, Any, Any, Any]", world: World, *, examples: int, seed: int | None
) -> list["Case[Any]"]:
    """Up to ``examples`` requests generated from the operation's schema, and as many with each
    seeded id its path can name (other path parameters stay generated)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    names = [name for name in re.findall(r"{(\w+)}", operation.path) if name in world.path_values]
    strategies = [
        operation.as_strategy(),
        *(
            operation.as_strategy(path_parameters={name: value})
            for name in names
            for value in world.path_values[name]
        ),
    ]
    cases: list[Case[Any]] = []
    for strategy in strategies:

        @settings(
            max_examples=examples,
            derandomize=seed is None,
            database=None,  # nothing remembered between runs: the code alone decides
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def collect(case: "Case[Any]") -> None:
            cases.append(case)

        if seed is not None:
            collect = seeded(seed)(collect)
        collect()
    return cases


def _call_and_check(case: "Case[Any]", report: OperationReport, world: World) -> "Response | None":
    """Send ``case`` as the report's role and check the answer; the answer, if there was one."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    if case.path_parameters.get("user_id") in world.cast_ids:
        case.path_parameters["user_id"] = world.bystander
    member = world.members.get(report.role)
    headers = {"Authorization": f"Bearer {member.token}"} if member else None
    try:
        response = case.call(headers=headers)
    except Exception as exc:  # the app itself raised: what a client would see as a 500
        report.failures.add(f"exception {type(exc).__name__}: {exc}")
        return None
    report.calls += 1
    report.statuses[response.status_code] += 1
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    try:
        case.validate_response(response, checks=checks, headers=headers)
    except FailureGroup as group:
        for failure in group.exceptions:
            report.failures.add(f"{response.status_code} {failure.title}: {failure.message}")
    return response


def _turned_away(response: "Response | None") -> bool:
    """Refused for who the caller is (the dependency checks run before the input is read)."""
    if response is None or response.status_code not in (401, 403):
        return False
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    return code in ("unauthenticated", "permission_denied")


def _stay_signed_in(factory: sessionmaker[Session], world: World, role: str) -> None:
    """Sign ``role`` in again if the operation signed them out (``POST /auth/logout``)."""
    member = world.members.get(role)
    if member is None:
        return
    with factory() as session:
        try:
            identity.authenticate(session, member.token)
            return
        except Unauthenticated:
            pass
    sign_in(factory, member)


# --- the command -----------------------------------------------------------------------------

cli = typer.Typer(
    help="Fuzzing: generated requests against the API's own OpenAPI document (docs/reliability.md).",
    no_args_is_help=True,
)


@cli.command("api")
def api(
    examples: Annotated[
        int,
        typer.Option(
            min=1, max=10_000, help="Generated requests per operation and role (and per seeded id)."
        ),
    ] = 25,
    role: Annotated[
        list[str] | None, typer.Option(help=f"Only this role; repeat for more. Roles: {', '.join(ROLES)}.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Hypothesis seed; without it each operation's requests are fixed.")
    ] = None,
    only: Annotated[
        str | None, typer.Option(help="Only operations whose 'METHOD /path' contains this text.")
    ] = None,
) -> None:
    """Fuzz every API operation as every role on a throw-away SQLite database: no 5xx, and
    every answer as documented. Prints each operation's counts and every failure; exits 1 on any."""
    import importlib.util

    if importlib.util.find_spec("schemathesis") is None:
        typer.echo(
            "error: fuzzing needs schemathesis, a development dependency: pip install -e '.[dev]'", err=True
        )
        raise typer.Exit(2)
    settings = get_settings()
    if settings.environment == "production":
        typer.echo("error: fuzzing is for development and test settings, not production", err=True)
        raise typer.Exit(2)
    unknown = sorted(set(role or ()) - set(ROLES))
    if unknown:
        typer.echo(f"error: unknown role {', '.join(unknown)}; roles: {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    with throwaway_app(settings) as app:
        world = prepare(app)
        reports = fuzz_api(
            app,
            world,
            examples=examples,
            roles=[r for r in ROLES if r in role] if role else ROLES,
            seed=seed,
            only=lambda label: only is None or only in label,
        )
    _print_reports(reports)
    if any(report.failures for report in reports):
        raise typer.Exit(1)


@contextmanager
def throwaway_app(settings: Settings) -> Iterator["FastAPI"]:
    """The app on a new migrated SQLite database in a temporary directory (the simulated bank
    beside it), on a fixed clock starting now; all of it gone afterwards."""
    import logging

    import structlog

    from p2plend.server import create_app

    previous = clock.current()
    clock.install(clock.FixedClock(clock.now()))
    try:
        with tempfile.TemporaryDirectory(prefix="p2plend-fuzz-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'fuzz.sqlite'}"
            migrate.upgrade(url)
            engine = make_engine(url)
            local = settings.model_copy(update={"database_url": url, "custodian_database_url": None})
            app = create_app(local, make_session_factory(engine))
            # Refusals are the point of a fuzz: only errors (a 500's traceback) are worth a line.
            logging_before = structlog.get_config()
            structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
            try:
                yield app
            finally:
                structlog.configure(**logging_before)
                engine.dispose()
    finally:
        clock.install(previous)


def _print_reports(reports: Sequence[OperationReport]) -> None:
    by_operation: dict[str, list[OperationReport]] = {}
    for report in reports:
        by_operation.setdefault(report.operation, []).append(report)
    width = max((len(label) for label in by_operation), default=0)
    for label, group in by_operation.items():
        statuses: Counter[int] = Counter()
        for report in group:
            statuses.update(report.statuses)
        classes = "  ".join(
            f"{c}xx {sum(n for s, n in statuses.items() if s // 100 == c)}" for c in (2, 4, 5)
        )
        failed = sum(len(report.failures) for report in group)
        typer.echo(f"{label:<{width}}  calls {statuses.total():>5}  {classes}  failures {failed}")
    failures = [(r.operation, r.role, f) for r in reports for f in sorted(r.failures)]
    for operation, role, failure in failures:
        typer.echo(f"\nFAIL {operation} as {role}\n  {failure}")
    calls = sum(report.calls for report in reports)
    typer.echo(f"\noperations {len(by_operation)}  calls {calls}  failures {len(failures)}")

"""A benchmark's world: a scratch database, a simulated bank, a fixed business clock, and the
people and listings the benchmark needs, made through the same services as real ones."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock, migrate
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory, normalise_url, transaction
from p2plend.identity import records
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.identity.validation import normalise_phone
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method
from p2plend.sim import numbers
from p2plend.suitability import service as suitability

BENCH_PASSWORD = "Bench2026"  # noqa: S105 — throw-away users of a throw-away database
START = datetime(2026, 1, 5, 2, tzinfo=UTC)  # a Monday, 10:00 in Beijing


@dataclass(frozen=True)
class World:
    url: str
    engine: Engine
    factory: sessionmaker[Session]
    bank: SimulatedBank
    clock: clock.FixedClock

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"


@contextmanager
def world(db: str | None, *, pool_size: int = 10, start: datetime = START) -> Iterator[World]:
    """A migrated scratch database (see ``scratch_database``) with a simulated bank and a clock
    fixed at ``start``; everything is dropped and the previous clock put back on the way out."""
    previous = clock.current()
    fixed = clock.FixedClock(start)
    clock.install(fixed)
    try:
        with scratch_database(db) as url:
            migrate.upgrade(url)
            engine = make_engine(url, pool_size=pool_size, max_overflow=pool_size)
            factory = make_session_factory(engine)
            bank = custody.simulated_custodian(url, factory)
            try:
                yield World(url, engine, factory, bank, fixed)
            finally:
                bank.close()
                engine.dispose()
    finally:
        clock.install(previous)


@contextmanager
def scratch_database(db: str | None) -> Iterator[str]:
    """A new empty database, dropped afterwards: a temporary SQLite file when ``db`` is None,
    else a new database on the PostgreSQL server of ``db`` (never the database it names)."""
    if db is None:
        with TemporaryDirectory(prefix="p2plend-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        return
    server = normalise_url(db)
    if not server.startswith("postgresql"):
        raise ValueError(f"--db must be a PostgreSQL URL (or omitted for SQLite), not {db!r}")
    name = f"p2plend_bench_{uuid.uuid4().hex[:12]}"
    admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin(server: str, statement: str) -> None:
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def person(w: World, n: int, *, deposit: int, borrower: bool = False) -> int:
    """Person number ``n``: registered, real-name verified, card bound, custody account open,
    risk-assessed as the boldest investor (or a borrower), ``deposit`` fen paid in."""
    phone = phone_of(n)
    id_number = numbers.resident_id(f"110105199001{n % 28 + 1:02d}{n % 1000:03d}")
    with transaction(w.factory) as session:
        user = records.insert_user(
            session, kind="person", e164=normalise_phone(phone), password=BENCH_PASSWORD
        )
        records.grant_role(session, user.id, Role.BORROWER if borrower else Role.INVESTOR, granted_by=None)
        identity.verify_real_name(session, user.id, name="测试", id_number=id_number)
        card = identity.bind_card(
            session,
            user.id,
            card_number=numbers.card_number(f"622202{n:09d}00"),
            bank_name="中国工商银行",
            holder_name="测试",
        )
        custody.open_account(session, user.id, w.bank)
        if not borrower:
            answers = {
                q.key: max(q.options, key=lambda o: o.points).key for q in suitability.questionnaire("zh")
            }
            suitability.submit_assessment(session, user.id, answers)
        user_id, card_id = user.id, card.id
    if deposit:
        with transaction(w.factory) as session:
            order = custody.start_deposit(session, user_id, amount=deposit, card_id=card_id, custodian=w.bank)
        w.bank.confirm_deposit_payment(order.order_no)
    return user_id


def phone_of(n: int) -> str:
    return f"139{n:08d}"


def open_listing(
    w: World, borrower: int, *, amount: int, min_bid: int, months: int = 12, max_share: Decimal = Decimal(1)
) -> int:
    """An open listing of ``amount`` fen at 9.99 %, equal installments, bids in whole yuan."""
    listing = marketplace.NewListing(
        borrower_id=borrower,
        borrower_kind="person",
        product_code="bench",
        product_kind="credit",
        title="bench",
        purpose="business",
        amount=amount,
        annual_rate=Decimal("0.0999"),
        method=Method.EQUAL_INSTALLMENT,
        term_months=months,
        term_days=None,
        grade="B",
        risk_class="R3",
        service_fee_rate=Decimal(0),
        monthly_fee_rate=Decimal(0),
        investor_fee_rate=Decimal("0.10"),
        prepayment_fee_rate=Decimal(0),
        penalty_rate=Decimal("0.02"),
        min_bid=min_bid,
        bid_step=100,
        max_share=max_share,
        funding_days=7,
        disclosure=dict.fromkeys(marketplace.REQUIRED_DISCLOSURE, "bench"),
    )
    with transaction(w.factory) as session:
        loan_id = marketplace.create_listing(session, listing, actor_id=None).id
        marketplace.open_listing(session, loan_id, actor_id=None)
    return loan_id


def risk_officer(w: World) -> int:
    with transaction(w.factory) as session:
        return identity.create_staff(
            session,
            actor_id=None,
            phone="13800009999",
            password=BENCH_PASSWORD,
            name="测试",
            roles=["risk_officer"],
        ).id

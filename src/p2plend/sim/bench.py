"""Benchmarks: each measures a business act against a baseline measured in the same run.

Our machines are shared and noisy, so no benchmark prints an absolute goal: each prints the
ratio of the act to the plainest work that must happen anyway, both timed on the same
database in the same process. A ratio that creeps up between commits is the signal.

``repayment``: one installment of a loan with N holders — split, N+1 ledger legs, N
distribution rows, N holdings updated, one batch instruction to the bank — against the
baseline of posting N plain two-leg ledger transfers in one transaction.
"""

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock, migrate
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.db import make_engine, make_session_factory, transaction
from p2plend.identity import records
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.identity.validation import normalise_phone
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.sim import numbers
from p2plend.suitability import service as suitability

BENCH_PASSWORD = "Bench2026"  # noqa: S105 — throw-away users of a throw-away database


@dataclass(frozen=True)
class BenchResult:
    name: str
    holders: int
    rounds: int
    act_ms: float  # median
    baseline_ms: float  # median

    @property
    def ratio(self) -> float:
        return self.act_ms / self.baseline_ms

    def lines(self) -> list[str]:
        return [
            f"bench {self.name}: {self.holders} holders, {self.rounds} rounds (medians)",
            f"  act       {self.act_ms:9.1f} ms  (repay one installment and distribute it)",
            f"  baseline  {self.baseline_ms:9.1f} ms  ({self.holders} plain two-leg ledger transfers)",
            f"  ratio     {self.ratio:9.2f}",
        ]


def repayment(*, holders: int = 100, rounds: int = 6) -> BenchResult:
    """Time ``servicing.repay`` on a loan held by ``holders`` investors (a fresh database)."""
    previous = clock.current()
    clock.install(clock.FixedClock(datetime(2026, 1, 5, 2, tzinfo=UTC)))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        migrate.upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        bank = custody.simulated_custodian(url, factory)
        try:
            return _repayment(factory, bank, holders, rounds)
        finally:
            bank.close()
            engine.dispose()
            clock.install(previous)


def _repayment(factory: sessionmaker[Session], bank: SimulatedBank, holders: int, rounds: int) -> BenchResult:
    lent = 100_000  # 1,000.00 yuan each
    investors = [_person(factory, bank, f"1390{n:07d}", deposit=lent * 2) for n in range(holders)]
    borrower = _person(factory, bank, "13700009998", deposit=10_000_000, borrower=True)
    loan_id = _funded_loan(factory, bank, borrower, investors, lent, months=rounds)
    rows = _timed_rounds(factory, bank, loan_id, borrower, rounds)
    baseline = [_baseline(factory, investors, borrower, n) for n in range(rounds)]
    return BenchResult("repayment", holders, rounds, statistics.median(rows), statistics.median(baseline))


def _timed_rounds(
    factory: sessionmaker[Session], bank: SimulatedBank, loan_id: int, borrower: int, rounds: int
) -> list[float]:
    timings = []
    for _ in range(rounds):
        with transaction(factory) as session:
            due = servicing.amount_due(session, loan_id).installments[0].due_date
        clock.current().set_business_date(due)  # type: ignore[attr-defined]
        timings.append(_ms(lambda: _repay(factory, bank, loan_id, borrower)))
    return timings


def _repay(factory: sessionmaker[Session], bank: SimulatedBank, loan_id: int, borrower: int) -> None:
    with transaction(factory) as session:
        servicing.repay(session, loan_id, payer_id=borrower, custodian=bank)


def _baseline(factory: sessionmaker[Session], investors: list[int], borrower: int, n: int) -> float:
    def act() -> None:
        with transaction(factory) as session:
            for investor in investors:
                ledger.transfer(
                    session,
                    kind="bench",
                    source=ledger.user_available(borrower),
                    destination=ledger.user_available(investor),
                    amount=1,
                    idempotency_key=f"bench:{n}:{investor}",
                )

    return _ms(act)


def _ms(act: Callable[[], None]) -> float:
    start = time.perf_counter()
    act()
    return (time.perf_counter() - start) * 1000


def _person(
    factory: sessionmaker[Session], bank: SimulatedBank, phone: str, *, deposit: int, borrower: bool = False
) -> int:
    id_number = numbers.resident_id(f"110105199001{int(phone[-4:]) % 28 + 1:02d}{int(phone[-3:]):03d}")
    with transaction(factory) as session:
        user = records.insert_user(
            session, kind="person", e164=normalise_phone(phone), password=BENCH_PASSWORD
        )
        records.grant_role(session, user.id, Role.BORROWER if borrower else Role.INVESTOR, granted_by=None)
        identity.verify_real_name(session, user.id, name="测试", id_number=id_number)
        card = identity.bind_card(
            session,
            user.id,
            card_number=numbers.card_number("622202" + phone[-9:] + "00"),
            bank_name="中国工商银行",
            holder_name="测试",
        )
        custody.open_account(session, user.id, bank)
        if not borrower:
            answers = {
                q.key: max(q.options, key=lambda o: o.points).key for q in suitability.questionnaire("zh")
            }
            suitability.submit_assessment(session, user.id, answers)
        user_id, card_id = user.id, card.id
    with transaction(factory) as session:
        order = custody.start_deposit(session, user_id, amount=deposit, card_id=card_id, custodian=bank)
    bank.confirm_deposit_payment(order.order_no)
    return user_id


def _funded_loan(
    factory: sessionmaker[Session],
    bank: SimulatedBank,
    borrower: int,
    investors: list[int],
    lent: int,
    *,
    months: int,
) -> int:
    amount = lent * len(investors)
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
        min_bid=lent,
        bid_step=100,
        max_share=Decimal(1),
        funding_days=7,
        disclosure=dict.fromkeys(marketplace.REQUIRED_DISCLOSURE, "bench"),
    )
    with transaction(factory) as session:
        loan_id = marketplace.create_listing(session, listing, actor_id=None).id
        marketplace.open_listing(session, loan_id, actor_id=None)
    for investor in investors:
        with transaction(factory) as session:
            marketplace.place_bid(session, investor_id=investor, loan_id=loan_id, amount=lent)
    with transaction(factory) as session:
        officer = identity.create_staff(
            session,
            actor_id=None,
            phone="13800009999",
            password=BENCH_PASSWORD,
            name="测试",
            roles=["risk_officer"],
        )
        servicing.disburse_loan(session, loan_id, bank, actor_id=officer.id)
    return loan_id

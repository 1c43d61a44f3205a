"""Builders for the lending life cycle: listings, funded investors, funded and disbursed loans.

Money always arrives through the simulated bank (a deposit paid on its page), so the
custodian's books and the ledger agree and reconciliation is part of every check.
"""

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import records
from p2plend.identity.permissions import Role
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from p2plend.suitability import service as suitability
from tests import builders

DISCLOSURE = {
    "borrower_type": "person",
    "borrower_name_masked": "陈**",
    "industry": "retail",
    "income": "8000-12000/month",
    "liabilities": "none declared",
    "credit_overdues_6m": 0,
    "other_platform_borrowing": "0.00",
    "project_summary": "Shop fit-out",
    "repayment_source": "salary",
    "safeguards": "none",
    "risk_assessment": "grade B",
}


def listing_terms(
    borrower_id: int,
    *,
    amount: int = 1_000_000,
    annual_rate: str = "0.10",
    method: Method = Method.EQUAL_INSTALLMENT,
    months: int | None = 12,
    days: int | None = None,
    **overrides: object,
) -> marketplace.NewListing:
    terms = marketplace.NewListing(
        borrower_id=borrower_id,
        borrower_kind="person",
        product_code="credit",
        product_kind="credit",
        title="Shop fit-out",
        purpose="business",
        amount=amount,
        annual_rate=Decimal(annual_rate),
        method=method,
        term_months=months,
        term_days=days,
        grade="B",
        risk_class="R3",
        service_fee_rate=Decimal("0.02"),
        monthly_fee_rate=Decimal(0),
        investor_fee_rate=Decimal("0.10"),
        prepayment_fee_rate=Decimal(0),
        min_bid=10_000,
        bid_step=10_000,
        max_share=Decimal("0.5"),
        funding_days=7,
        disclosure=dict(DISCLOSURE),
    )
    return replace(terms, **overrides)  # type: ignore[arg-type]


def make_borrower(session_factory: sessionmaker[Session], bank: SimulatedBank, *, balance: int = 0) -> int:
    with session_factory.begin() as session:
        user, card_id = builders.make_custody_user(session, bank)
        records.grant_role(session, user.id, Role.BORROWER, granted_by=None)
    if balance:
        deposit(session_factory, bank, user.id, card_id, balance)
    return user.id


def make_investor(
    session_factory: sessionmaker[Session], bank: SimulatedBank, *, balance: int, points: int = 90
) -> int:
    """A verified investor with a custody account, ``balance`` fen deposited and a C5 assessment."""
    with session_factory.begin() as session:
        user, card_id = builders.make_custody_user(session, bank)
        suitability.submit_assessment(session, user.id, builders.answers_scoring(points))
    if balance:
        deposit(session_factory, bank, user.id, card_id, balance)
    return user.id


def deposit(
    session_factory: sessionmaker[Session], bank: SimulatedBank, user_id: int, card_id: int, amount: int
) -> None:
    with session_factory.begin() as session:
        order_no = custody.start_deposit(
            session, user_id, amount=amount, card_id=card_id, custodian=bank
        ).order_no
    bank.confirm_deposit_payment(order_no)


def card_of(session_factory: sessionmaker[Session], user_id: int) -> int:
    from p2plend.identity import service as identity

    with session_factory() as session:
        return identity.list_cards(session, user_id)[0].id


def open_listing(session_factory: sessionmaker[Session], terms: marketplace.NewListing) -> int:
    with session_factory.begin() as session:
        loan = marketplace.create_listing(session, terms, actor_id=None)
        marketplace.open_listing(session, loan.id, actor_id=None)
        return loan.id


def bid(session_factory: sessionmaker[Session], investor_id: int, loan_id: int, amount: int) -> int:
    with session_factory.begin() as session:
        return marketplace.place_bid(session, investor_id=investor_id, loan_id=loan_id, amount=amount).id


def disburse(session_factory: sessionmaker[Session], bank: SimulatedBank, loan_id: int) -> Loan:
    with session_factory.begin() as session:
        return servicing.disburse_loan(session, loan_id, bank, actor_id=_officer(session))


def _officer(session: Session) -> int:
    user, _ = builders.make_staff(session, roles=(Role.RISK_OFFICER,))
    return user.id


def funded_loan(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    terms: marketplace.NewListing,
    investors: Sequence[tuple[int, int]],
) -> int:
    """List ``terms``, have each ``(investor_id, amount)`` bid, and disburse."""
    loan_id = open_listing(session_factory, terms)
    for investor_id, amount in investors:
        bid(session_factory, investor_id, loan_id, amount)
    disburse(session_factory, bank, loan_id)
    return loan_id


def go_to(day: object) -> None:
    clock.current().set_business_date(day)  # type: ignore[attr-defined]

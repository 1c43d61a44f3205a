"""Builders for the lending life cycle: listings, funded investors, funded and disbursed loans.

Money always arrives through the simulated bank (a deposit paid on its page), so the
custodian's books and the ledger agree and reconciliation is part of every check.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import service as guarantee
from p2plend.identity import records
from p2plend.identity.permissions import Role
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid, Holding, Loan
from p2plend.schedules.service import Method, PartialPrepaymentChoice
from p2plend.servicing import delinquency
from p2plend.servicing import service as servicing
from p2plend.servicing.models import Repayment
from p2plend.suitability import service as suitability
from tests import builders, invariants
from tests.custody.conftest import deposit

__all__ = ["deposit"]

CONTRACT_LPR = Decimal("0.03")  # the one-year LPR the test contracts were signed under

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
        penalty_rate=delinquency.capped_penalty_rate(
            Decimal(annual_rate), delinquency.PENALTY_MULTIPLIER, CONTRACT_LPR
        ),
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


def make_investors(
    session_factory: sessionmaker[Session], bank: SimulatedBank, balances: Sequence[int], *, points: int = 90
) -> list[int]:
    """Many investors at once (as ``make_investor``): users, cards, custody accounts,
    assessments and deposit orders in one transaction; then the bank takes every payment
    and its callbacks credit the deposits."""
    answers = builders.answers_scoring(points)
    orders: list[str] = []
    with session_factory.begin() as session:
        ids = []
        for balance in balances:
            user, card_id = builders.make_custody_user(session, bank)
            suitability.submit_assessment(session, user.id, answers)
            ids.append(user.id)
            if balance:
                orders.append(
                    custody.start_deposit(
                        session, user.id, amount=balance, card_id=card_id, custodian=bank
                    ).order_no
                )
    for order_no in orders:
        bank.confirm_deposit_payment(order_no, deliver=False)
    bank.deliver_pending()
    return ids


def card_of(session_factory: sessionmaker[Session], user_id: int) -> int:
    from p2plend.identity import service as identity

    with session_factory() as session:
        return identity.list_cards(session, user_id)[0].id


def create_listing(session_factory: sessionmaker[Session], terms: marketplace.NewListing) -> int:
    with session_factory.begin() as session:
        return marketplace.create_listing(session, terms, actor_id=None).id


def open_listing(session_factory: sessionmaker[Session], terms: marketplace.NewListing) -> int:
    with session_factory.begin() as session:
        loan = marketplace.create_listing(session, terms, actor_id=None)
        marketplace.open_listing(session, loan.id, actor_id=None)
        return loan.id


def bid(
    session_factory: sessionmaker[Session],
    investor_id: int,
    loan_id: int,
    amount: int,
    *,
    fill_remaining: bool = True,
) -> int:
    with session_factory.begin() as session:
        return marketplace.place_bid(
            session, investor_id=investor_id, loan_id=loan_id, amount=amount, fill_remaining=fill_remaining
        ).id


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


def repay(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    loan_id: int,
    borrower_id: int,
    amount: int | None = None,
) -> Repayment:
    with session_factory.begin() as session:
        return servicing.repay(session, loan_id, payer_id=borrower_id, custodian=bank, amount=amount)


def repay_early(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    loan_id: int,
    borrower_id: int,
    principal: int | None = None,
    choice: PartialPrepaymentChoice = PartialPrepaymentChoice.LOWER_INSTALLMENT,
) -> Repayment:
    with session_factory.begin() as session:
        return servicing.repay_early(
            session, loan_id, payer_id=borrower_id, custodian=bank, principal=principal, choice=choice
        )


def spend_all(session_factory: sessionmaker[Session], bank: SimulatedBank, user_id: int) -> None:
    """Withdraw everything the user has available (less the fee) to their card: a borrower
    who spent the loan and has nothing left for the auto-debit."""
    available = balances(session_factory, user_id).available
    fee = get_settings().withdrawal_fee_fen
    if available <= fee:
        return
    with session_factory.begin() as session:
        custody.place_withdrawal_hold(
            session, user_id, amount=available - fee, card_id=card_of(session_factory, user_id)
        )
    with session_factory.begin() as session:
        custody.submit_pending_withdrawals(session, bank)
    bank.deliver_pending()


def make_guarantor(
    session_factory: sessionmaker[Session], bank: SimulatedBank, balance: int, **terms: object
) -> int:
    name = "浙江安信融资担保有限公司"
    with session_factory.begin() as session:
        org = builders.make_organisation(session, bank, roles=(Role.GUARANTOR,), name=name)
        card_id = builders.bind_card(session, org.id, holder_name=name)
        if terms:
            guarantee.set_terms(session, org.id, actor_id=None, **terms)  # type: ignore[arg-type]
    if balance:
        deposit(session_factory, bank, org.id, card_id, balance)
    return org.id


def guaranteed_loan(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    guarantor: int,
    lent: Sequence[int],
    *,
    fee_rate: str = "0",
) -> tuple[int, int, list[int]]:
    """A 4 %, 12-month guaranteed loan lent by one investor per ``lent``, disbursed, its
    agreement signed on the guarantor's terms, the borrower having spent it all."""
    borrower = make_borrower(session_factory, bank)
    investors = make_investors(session_factory, bank, list(lent))
    terms = listing_terms(
        borrower,
        amount=sum(lent),
        annual_rate="0.04",
        product_kind="guaranteed",
        guarantor_id=guarantor,
        guarantee_fee_rate=Decimal(fee_rate),
    )
    loan_id = open_listing(session_factory, terms)
    with session_factory.begin() as session:
        guarantee.sign_agreement(session, loan_id, actor_id=None)
    for investor, amount in zip(investors, lent, strict=True):
        bid(session_factory, investor, loan_id, amount)
    disburse(session_factory, bank, loan_id)
    spend_all(session_factory, bank, borrower)
    return loan_id, borrower, investors


def go_to(day: object) -> None:
    clock.current().set_business_date(day)  # type: ignore[attr-defined]


def next_due_date(session_factory: sessionmaker[Session], loan_id: int) -> date:
    with session_factory() as session:
        return servicing.amount_due(session, loan_id).installments[0].due_date


# --- checks ------------------------------------------------------------------------------


def holdings_total(session: Session, loan_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Holding.principal_outstanding), 0)).where(
                Holding.loan_id == loan_id
            )
        )
        or 0
    )


def frozen_bids_of(session: Session, investor_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Bid.amount), 0)).where(
                Bid.investor_id == investor_id, Bid.status == "frozen"
            )
        )
        or 0
    )


def assert_loan_sound(session_factory: sessionmaker[Session], *loan_ids: int) -> None:
    """After every step: R26 (holdings sum to the outstanding principal, which the unpaid
    schedule still owes), the ledger invariants and the bank's books equal to the ledger."""
    with session_factory() as session:
        for loan_id in loan_ids:
            loan = marketplace.get_loan(session, loan_id)
            assert holdings_total(session, loan_id) == loan.principal_outstanding
            unpaid = [r for r in servicing.schedule(session, loan_id) if r.status == "due"]
            assert sum(r.principal - r.paid_principal for r in unpaid) == loan.principal_outstanding
        invariants.assert_books_sound(session)


def balances(session_factory: sessionmaker[Session], user_id: int) -> ledger.Balances:
    with session_factory() as session:
        return ledger.user_balances(session, user_id)

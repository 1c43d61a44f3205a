"""Builders for the debt-transfer tests: DOMAIN.md §9's worked-example loan, holdings held
long enough to sell, listings and purchases through the real services."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Holding
from p2plend.marketplace.transfer_listings import TransferListing, TransferSale
from p2plend.schedules.service import Method
from p2plend.transfers import service as transfers
from tests import lending

# 10,000.00 at 10 % for 3 months, equal installments (DOMAIN.md §2.1: 3389.04, 3389.04,
# 3389.05), disbursed on 2026-01-12: due 02-12, 03-12 (a 28-day second period), 04-12.
VALUE_DATE = date(2026, 1, 12)
FIRST_DUE = date(2026, 2, 12)
SECOND_DUE = date(2026, 3, 12)
THIRD_DUE = date(2026, 4, 12)
DAY_10 = date(2026, 2, 22)  # day 10 of the 28-day second period
HOLDERS = (500_000, 300_000, 200_000)  # A, B, C: DOMAIN.md §3's 5000:3000:2000


@dataclass(frozen=True)
class Market:
    loan_id: int
    borrower: int
    holders: list[int]  # A, B, C in bid order


def worked_example_loan(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    *,
    method: Method = Method.EQUAL_INSTALLMENT,
    months: int = 3,
    **terms: object,
) -> Market:
    """The §9 loan: lent 5000/3000/2000 on 2026-01-12; the borrower keeps enough to repay."""
    lending.go_to(VALUE_DATE)
    borrower = lending.make_borrower(session_factory, bank, balance=200_000)
    holders = lending.make_investors(session_factory, bank, list(HOLDERS))
    listing = lending.listing_terms(
        borrower, amount=sum(HOLDERS), annual_rate="0.10", method=method, months=months, **terms
    )
    loan_id = lending.funded_loan(session_factory, bank, listing, list(zip(holders, HOLDERS, strict=True)))
    return Market(loan_id, borrower, holders)


def after_first_installment(session_factory: sessionmaker[Session], bank: SimulatedBank) -> Market:
    """The §9 position: installment 1 repaid on its due date, A holding 3,347.14."""
    market = worked_example_loan(session_factory, bank)
    lending.go_to(FIRST_DUE)
    lending.repay(session_factory, bank, market.loan_id, market.borrower)
    return market


def holding_of(session_factory: sessionmaker[Session], loan_id: int, holder_id: int) -> Holding:
    with session_factory() as session:
        [holding] = [h for h in marketplace.holdings_of_loan(session, loan_id) if h.holder_id == holder_id]
        session.expunge(holding)
        return holding


def list_holding(
    session_factory: sessionmaker[Session],
    seller_id: int,
    holding_id: int,
    *,
    principal: int | None = None,
    discount: str = "0",
) -> TransferListing:
    with session_factory.begin() as session:
        listing = transfers.list_for_sale(
            session,
            seller_id=seller_id,
            holding_id=holding_id,
            principal=principal,
            discount_rate=Decimal(discount),
        )
        session.flush()
        session.expunge(listing)
        return listing


def buy(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    buyer_id: int,
    listing_id: int,
    principal: int | None = None,
) -> TransferSale:
    with session_factory.begin() as session:
        sale = transfers.buy(
            session, buyer_id=buyer_id, listing_id=listing_id, principal=principal, custodian=bank
        )
        session.flush()
        session.expunge(sale)
        return sale


def buyer(session_factory: sessionmaker[Session], bank: SimulatedBank, balance: int = 1_000_000) -> int:
    return lending.make_investor(session_factory, bank, balance=balance)

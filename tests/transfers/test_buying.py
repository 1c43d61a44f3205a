"""Buying a claim: R39 (price, fee, three amounts reconcile), partial sales and the holdings
contract, R41 (the buyer receives the whole next installment share, the seller nothing more
from that part), R15/R16 and who may not buy, and the buyer's yield (XIRR) against pyxirr."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import pyxirr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import DomainError
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.transfer_listings import TransferListing
from p2plend.servicing import statements
from p2plend.servicing.models import Distribution
from p2plend.transfers import service as transfers
from tests import builders, lending
from tests.transfers import market


def _listed(
    session_factory: sessionmaker[Session],
    bank: SimulatedBank,
    *,
    principal: int | None = None,
    discount: str = "0.005",
) -> tuple[market.Market, TransferListing]:
    """The §9 position on day 10, A's holding (or ``principal`` of it) listed."""
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[0])
    return loan, market.list_holding(
        session_factory, loan.holders[0], holding.id, principal=principal, discount=discount
    )


def _distributions(session_factory: sessionmaker[Session], holding_id: int) -> list[Distribution]:
    with session_factory() as session:
        rows = list(session.scalars(select(Distribution).where(Distribution.holding_id == holding_id)).all())
        session.expunge_all()
        return rows


def test_partial_sale_creates_a_holding_and_holdings_still_sum_to_outstanding(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan, listing = _listed(session_factory, bank, principal=200_000)
    a = loan.holders[0]
    buyer = market.buyer(session_factory, bank)
    first = market.buy(session_factory, bank, buyer, listing.id, principal=50_000)
    second = market.buy(session_factory, bank, buyer, listing.id)  # the rest: 1,500.00

    with session_factory() as session:
        holdings = marketplace.holdings_of_loan(session, loan.loan_id)
        by_holder = [(h.holder_id, h.principal_outstanding, h.source) for h in holdings]
        closed = session.get(TransferListing, listing.id)
        assert closed is not None and (closed.status, closed.sold) == ("sold", 200_000)
    assert by_holder[0] == (a, 134_714, "bid")  # the rest stays with the seller
    assert [(h, p, s) for h, p, s in by_holder if h == buyer] == [
        (buyer, 50_000, "transfer"),
        (buyer, 150_000, "transfer"),
    ]
    # The two parts bought the same day sum exactly to the listing's price of that day (R39).
    with session_factory() as session:
        day = transfers.day_price(session.get(TransferListing, listing.id), market.DAY_10)  # type: ignore[arg-type]
    assert first.price + second.price == day.price
    assert first.fee + second.fee == day.fee
    assert first.accrued_interest + second.accrued_interest == day.accrued_interest
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_r39_fee_is_waived_after_90_days_held(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.worked_example_loan(session_factory, bank, months=6)
    for due in (date(2026, 2, 12), date(2026, 3, 12), date(2026, 4, 12)):
        lending.go_to(due)
        lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    lending.go_to(market.VALUE_DATE + timedelta(days=91))  # 2026-04-13: held 91 days
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[1])
    listing = market.list_holding(session_factory, loan.holders[1], holding.id, discount="0.02")
    assert listing.fee_rate == 0 and listing.fee == 0
    seller_before = lending.balances(session_factory, loan.holders[1]).available
    sale = market.buy(session_factory, bank, market.buyer(session_factory, bank), listing.id)
    assert sale.fee == 0 and sale.seller_net == sale.price == listing.price
    assert lending.balances(session_factory, loan.holders[1]).available == seller_before + sale.price
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_r41_the_buyer_receives_the_whole_next_installment_share(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan, listing = _listed(session_factory, bank, principal=100_000)
    a = loan.holders[0]
    buyer = market.buyer(session_factory, bank)
    seller_holding = market.holding_of(session_factory, loan.loan_id, a)
    with session_factory() as session:
        projected = transfers.projected_receipts(
            session, marketplace.get_loan(session, loan.loan_id), seller_holding.id, 100_000
        )
    sale = market.buy(session_factory, bank, buyer, listing.id)
    before = lending.balances(session_factory, buyer).available

    lending.go_to(market.SECOND_DUE)
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    [received] = _distributions(session_factory, sale.buyer_holding_id)
    # The whole period's interest share (not from the sale date), and the principal share.
    assert (received.business_date, received.net) == projected[0]
    assert received.interest == 833  # 55.79 × 1,000.00 / 6,694.29, by the largest remainder
    assert lending.balances(session_factory, buyer).available == before + received.net
    # The seller received on 234,714 only: nothing more from the part sold.
    [seller_share] = [
        d for d in _distributions(session_factory, seller_holding.id) if d.business_date == market.SECOND_DUE
    ]
    assert seller_share.interest == 1_956  # 55.79 × 2,347.14 / 6,694.29
    assert seller_share.interest + received.interest < 2_789 + 1  # together: A's old share of 27.89
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_buyer_yield_matches_pyxirr_within_a_hundredth_of_a_point(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """The yield the listing shows equals pyxirr over the money the buyer then actually paid and
    received, the borrower paying on time (within 0.01 percentage points)."""
    loan, listing = _listed(session_factory, bank, discount="0.03")
    with session_factory() as session:
        view = transfers.view(session, session.get(TransferListing, listing.id))  # type: ignore[arg-type]
    assert view.buyer_xirr is not None and view.remaining_price is not None
    buyer = market.buyer(session_factory, bank)
    sale = market.buy(session_factory, bank, buyer, listing.id)
    assert sale.price == view.remaining_price.price
    for due in (market.SECOND_DUE, market.THIRD_DUE):
        lending.go_to(due)
        lending.repay(session_factory, bank, loan.loan_id, loan.borrower)
    flows = [(sale.business_date, -sale.price)] + [
        (d.business_date, d.net) for d in _distributions(session_factory, sale.buyer_holding_id)
    ]
    oracle = pyxirr.xirr([d for d, _ in flows], [a for _, a in flows])
    assert oracle is not None
    assert abs(view.buyer_xirr - Decimal(str(oracle))) <= Decimal("0.0001")
    assert view.buyer_xirr > Decimal("0.10")  # bought at a 3 % discount, two months from maturity
    # The buyer's own statement counts what the claim cost, not its principal.
    with session_factory() as session:
        [line] = statements.portfolio(session, buyer).holdings
    assert line.xirr is not None and abs(line.xirr - Decimal(str(oracle))) <= Decimal("0.0001")


def test_who_may_not_buy_and_what(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    loan, listing = _listed(session_factory, bank, principal=200_000)
    a = loan.holders[0]

    def refused(buyer: int, principal: int | None = None) -> str:
        with session_factory() as session, pytest.raises(DomainError) as caught:
            transfers.buy(session, buyer_id=buyer, listing_id=listing.id, principal=principal, custodian=bank)
        return caught.value.code

    assert refused(a) == "transfer_own_listing"
    assert refused(loan.borrower) == "own_loan"
    with session_factory.begin() as session:
        unassessed, _ = builders.make_custody_user(session, bank)
    assert refused(unassessed.id) == "risk_assessment_required"  # R15
    careful = lending.make_investor(session_factory, bank, balance=1_000_000, points=20)  # C1 < R3
    assert refused(careful) == "risk_class_not_suitable"
    poor = market.buyer(session_factory, bank, balance=10_000)
    assert refused(poor, 50_000) == "insufficient_funds"
    buyer = market.buyer(session_factory, bank)
    assert refused(buyer, 5_000) == "transfer_amount_invalid"  # below the minimum bid
    assert refused(buyer, 15_000) == "transfer_amount_invalid"  # off the step
    assert refused(buyer, 200_100) == "transfer_exceeds_remaining"
    market.buy(session_factory, bank, buyer, listing.id)
    assert refused(buyer) == "transfer_listing_not_open"
    with session_factory() as session:
        assert ledger.verify(session) == []


def test_r39_buyer_seller_and_platform_reconcile_in_one_entry(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    _, listing = _listed(session_factory, bank)
    sale = market.buy(session_factory, bank, market.buyer(session_factory, bank), listing.id)
    with session_factory() as session:
        history = ledger.user_history(session, sale.buyer_id)
        assert [(line.kind, line.amount) for line in history][:1] == [("debt_transfer", -sale.price)]
    assert sale.price - sale.seller_net - sale.fee == 0
    assert sale.instruction_no == f"TRF{listing.id}-1"

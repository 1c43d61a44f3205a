"""R40: a transfer listing is cancelled by any payment on the loan, a prepayment, an overdue,
or expiry (3 days [D]) — by servicing's payment paths and by the batch's ``transfers`` step;
the seller may withdraw it; what was sold stays sold."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import DomainError
from p2plend.jobs import eod
from p2plend.marketplace.transfer_listings import TransferListing
from p2plend.transfers import service as transfers
from tests import lending
from tests.transfers import market


def _listed(session_factory: sessionmaker[Session], bank: SimulatedBank) -> tuple[market.Market, int]:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[0])
    return loan, market.list_holding(session_factory, loan.holders[0], holding.id, principal=200_000).id


def _state(session_factory: sessionmaker[Session], listing_id: int) -> tuple[str, str, int]:
    with session_factory() as session:
        listing = session.get(TransferListing, listing_id)
        assert listing is not None
        return listing.status, listing.close_reason, listing.sold


def test_r40_a_payment_on_the_loan_cancels_its_listings(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan, listing = _listed(session_factory, bank)
    market.buy(session_factory, bank, market.buyer(session_factory, bank), listing, principal=50_000)
    lending.repay(session_factory, bank, loan.loan_id, loan.borrower, amount=1_000)  # part of installment 2
    assert _state(session_factory, listing) == ("cancelled", "payment", 50_000)  # the sold part stays sold
    with session_factory() as session, pytest.raises(DomainError) as refused:
        transfers.buy(session, buyer_id=loan.holders[1], listing_id=listing, custodian=bank)
    assert refused.value.code == "transfer_listing_not_open"
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_r40_a_prepayment_cancels_its_listings(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan, listing = _listed(session_factory, bank)
    lending.repay_early(session_factory, bank, loan.loan_id, loan.borrower, principal=100_000)
    assert _state(session_factory, listing) == ("cancelled", "prepayment", 0)


def test_r40_expiry_after_three_days(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    loan, listing = _listed(session_factory, bank)
    lending.go_to(market.DAY_10 + timedelta(days=3))  # 10:00, the instant it expires
    with session_factory() as session, pytest.raises(DomainError) as refused:
        transfers.buy(session, buyer_id=loan.holders[1], listing_id=listing, custodian=bank)
    assert refused.value.code == "transfer_listing_not_open"  # even before the batch has run
    with session_factory.begin() as session:
        assert transfers.open_listings(session) == []
        closed = transfers.close_stale_listings(session, clock.today())
    assert (closed.expired, closed.cancelled) == (1, 0)
    assert _state(session_factory, listing) == ("expired", "expired", 0)
    with session_factory.begin() as session:  # a second run finds nothing
        assert transfers.close_stale_listings(session, clock.today()).total == 0


def test_r40_an_overdue_cancels_in_the_end_of_day_batch(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """Listed 3 days before the due date; the borrower has spent everything; the batch of the day
    after the due date classifies the loan overdue and its ``transfers`` step cancels the listing."""
    loan = market.after_first_installment(session_factory, bank)
    lending.spend_all(session_factory, bank, loan.borrower)
    lending.go_to(market.SECOND_DUE - timedelta(days=3))
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[0])
    listing = market.list_holding(session_factory, loan.holders[0], holding.id).id
    day_after = market.SECOND_DUE + timedelta(days=1)
    lending.go_to(day_after)
    eod.close_through(session_factory, day_after, bank)  # the first batch ever: this date only
    assert _state(session_factory, listing) == ("cancelled", "overdue", 0)


def test_the_seller_withdraws_a_listing(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    loan, listing = _listed(session_factory, bank)
    with session_factory() as session, pytest.raises(DomainError) as refused:
        transfers.cancel_listing(session, seller_id=loan.holders[1], listing_id=listing)
    assert refused.value.code == "transfer_listing_not_found"
    with session_factory.begin() as session:
        transfers.cancel_listing(session, seller_id=loan.holders[0], listing_id=listing)
    assert _state(session_factory, listing) == ("cancelled", "seller", 0)
    with session_factory() as session, pytest.raises(DomainError) as refused:
        transfers.cancel_listing(session, seller_id=loan.holders[0], listing_id=listing)
    assert refused.value.code == "transfer_listing_not_open"
    # Withdrawn, the holding can be listed again.
    holding = market.holding_of(session_factory, loan.loan_id, loan.holders[0])
    assert market.list_holding(session_factory, loan.holders[0], holding.id).status == "open"

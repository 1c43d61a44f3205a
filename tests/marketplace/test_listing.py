"""Listings: creation (R48, R8), opening, withdrawal (撤标), failure on expiry (流标, R8), states."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import InvalidInput
from p2plend.ledger import service as ledger
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import (
    DisclosureIncomplete,
    FundingWindowTooLong,
    ListingNotOpen,
    LoanStateConflict,
)
from p2plend.marketplace.models import Bid, Loan
from p2plend.workcalendar import service as workcalendar
from tests import lending


@pytest.fixture
def borrower(session_factory: sessionmaker[Session], bank: SimulatedBank) -> int:
    return lending.make_borrower(session_factory, bank)


def _loan_count(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Loan)) or 0


@pytest.mark.parametrize("field", marketplace.REQUIRED_DISCLOSURE)
def test_r48_a_listing_missing_any_disclosure_field_is_refused(
    session_factory: sessionmaker[Session], borrower: int, field: str
) -> None:
    """R48: every per-loan disclosure field is there before a bid is possible — absent or blank."""
    for disclosure in (
        {k: v for k, v in lending.DISCLOSURE.items() if k != field},
        {**lending.DISCLOSURE, field: ""},
        {**lending.DISCLOSURE, field: None},
    ):
        with pytest.raises(DisclosureIncomplete) as refused, session_factory.begin() as session:
            marketplace.create_listing(
                session, lending.listing_terms(borrower, disclosure=disclosure), actor_id=None
            )
        assert refused.value.code == "disclosure_incomplete"
        assert refused.value.details["missing"] == [field]
    assert _loan_count(session_factory) == 0


def test_r48_a_zero_is_a_disclosed_value(session_factory: sessionmaker[Session], borrower: int) -> None:
    """0 overdues in 6 months is disclosure, not a missing field."""
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower))
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert loan.status == "pending"
        assert loan.disclosure["credit_overdues_6m"] == 0
        assert loan.funded == 0 and loan.deadline is None


def test_r8_funding_window_of_more_than_20_working_days_is_refused(
    session_factory: sessionmaker[Session], borrower: int
) -> None:
    """R8: from Saturday 2026-11-28, 29 calendar days hold 20 working days (to Sun 12-27); 30 hold 21."""
    lending.create_listing(session_factory, lending.listing_terms(borrower, funding_days=29))
    with pytest.raises(FundingWindowTooLong) as refused, session_factory.begin() as session:
        marketplace.create_listing(session, lending.listing_terms(borrower, funding_days=30), actor_id=None)
    assert refused.value.details == {"days": 30, "working_days": 21}
    with pytest.raises(FundingWindowTooLong), session_factory.begin() as session:
        marketplace.create_listing(session, lending.listing_terms(borrower, funding_days=0), actor_id=None)
    assert _loan_count(session_factory) == 1


def test_r8_working_days_follow_the_prc_holiday_calendar(
    session_factory: sessionmaker[Session], borrower: int
) -> None:
    """R8 across National Day 2026 (Oct 1–7 off, Sat Oct 10 a make-up workday): from Sun
    2026-09-20, 35 calendar days hold exactly 20 working days, 36 hold 21."""
    lending.go_to(date(2026, 9, 20))
    lending.create_listing(session_factory, lending.listing_terms(borrower, funding_days=35))
    with pytest.raises(FundingWindowTooLong), session_factory.begin() as session:
        marketplace.create_listing(session, lending.listing_terms(borrower, funding_days=36), actor_id=None)


def test_r8_counts_the_holidays_staff_enter_in_the_working_day_calendar(
    session_factory: sessionmaker[Session], borrower: int
) -> None:
    """R8 reads the staff-kept calendar (工作日历): 2027 has no holidays until staff enter them.
    From Sun 2027-09-26, 28 calendar days hold 20 working days; with Oct 1, 4–7 off, 35 do
    (to Sun 10-31), 36 hold 21."""
    lending.go_to(date(2027, 9, 26))
    with pytest.raises(FundingWindowTooLong), session_factory.begin() as session:
        marketplace.create_listing(session, lending.listing_terms(borrower, funding_days=29), actor_id=None)
    with session_factory.begin() as session:
        for day in (1, 4, 5, 6, 7):
            workcalendar.set_day(
                session, actor_id=None, day=date(2027, 10, day), is_workday=False, name="国庆节"
            )
    lending.create_listing(session_factory, lending.listing_terms(borrower, funding_days=35))
    with pytest.raises(FundingWindowTooLong), session_factory.begin() as session:
        marketplace.create_listing(session, lending.listing_terms(borrower, funding_days=36), actor_id=None)


def test_invalid_terms_are_refused(session_factory: sessionmaker[Session], borrower: int) -> None:
    for overrides in ({"amount": 0}, {"min_bid": 0}, {"bid_step": -1}, {"max_share": 0}, {"max_share": 2}):
        with pytest.raises(InvalidInput), session_factory.begin() as session:
            marketplace.create_listing(session, lending.listing_terms(borrower, **overrides), actor_id=None)
    assert _loan_count(session_factory) == 0


def test_open_sets_the_deadline_and_only_a_pending_listing_opens(
    session_factory: sessionmaker[Session], borrower: int
) -> None:
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower, funding_days=7))
    with session_factory.begin() as session:
        loan = marketplace.open_listing(session, loan_id, actor_id=None)
        assert loan.status == "open"
        assert loan.opened_at == clock.now()
        assert loan.deadline == clock.now() + timedelta(days=7)
    with pytest.raises(LoanStateConflict) as refused, session_factory.begin() as session:
        marketplace.open_listing(session, loan_id, actor_id=None)
    assert refused.value.details == {"status": "open", "expected": ["pending"]}


def test_a_pending_listing_takes_no_bids(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=100_000)
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower))
    with pytest.raises(ListingNotOpen):
        lending.bid(session_factory, investor, loan_id, 10_000)
    assert lending.balances(session_factory, investor).available == 100_000


def _open_with_bids(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> tuple[int, list[tuple[int, int]]]:
    """An open 10,000.00 listing with three bids (one investor bidding twice), not funded."""
    a, b = (lending.make_investor(session_factory, bank, balance=600_000) for _ in range(2))
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower))
    bids = [(a, 200_000), (b, 300_000), (a, 110_000)]
    for investor, amount in bids:
        lending.bid(session_factory, investor, loan_id, amount)
    assert lending.balances(session_factory, a).frozen == 310_000
    return loan_id, bids


def _assert_every_bid_returned(
    session_factory: sessionmaker[Session], loan_id: int, bids: list[tuple[int, int]], status: str
) -> None:
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        assert loan.status == status
        assert loan.closed_at == clock.now()
        rows = marketplace.bids_of_loan(session, loan_id)
        assert [r.status for r in rows] == ["refunded"] * len(bids)
        assert all(r.settled_at == clock.now() for r in rows)
        for investor in {i for i, _ in bids}:
            # Returned in full: the deposit is all available again, nothing frozen.
            assert ledger.user_balances(session, investor) == ledger.Balances(available=600_000, frozen=0)
            assert lending.frozen_bids_of(session, investor) == 0
            refunds = [
                line.amount
                for line in ledger.user_history(session, investor)
                if line.kind == "bid_refund" and line.account_kind == "available"
            ]
            assert sorted(refunds) == sorted(amount for i, amount in bids if i == investor)
        assert marketplace.holdings_of_loan(session, loan_id) == []


def test_withdraw_returns_every_bid_in_full(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> None:
    """撤标: each bid's own frozen amount goes back to its bidder's available."""
    loan_id, bids = _open_with_bids(session_factory, bank, borrower)
    with pytest.raises(InvalidInput), session_factory.begin() as session:
        marketplace.withdraw_listing(session, loan_id, actor_id=None, reason="  ")
    with session_factory.begin() as session:
        marketplace.withdraw_listing(session, loan_id, actor_id=None, reason="borrower cancelled")
    _assert_every_bid_returned(session_factory, loan_id, bids, "withdrawn")
    with session_factory() as session:
        assert marketplace.get_loan(session, loan_id).close_reason == "borrower cancelled"
    # A withdrawn listing takes no bids and cannot be withdrawn, opened or disbursed again.
    investor = bids[0][0]
    with pytest.raises(ListingNotOpen):
        lending.bid(session_factory, investor, loan_id, 10_000)
    for act in (
        lambda s: marketplace.withdraw_listing(s, loan_id, actor_id=None, reason="again"),
        lambda s: marketplace.open_listing(s, loan_id, actor_id=None),
        lambda s: marketplace.disburse_listing(s, loan_id, bank, actor_id=investor),
    ):
        with pytest.raises(LoanStateConflict), session_factory.begin() as session:
            act(session)


def test_withdraw_a_funded_listing_before_disbursement(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> None:
    """满标复审 refused: a funded listing is withdrawn and every bid returned."""
    a, b = (lending.make_investor(session_factory, bank, balance=600_000) for _ in range(2))
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower))
    lending.bid(session_factory, a, loan_id, 500_000)
    lending.bid(session_factory, b, loan_id, 500_000)
    with session_factory.begin() as session:
        marketplace.withdraw_listing(session, loan_id, actor_id=None, reason="review refused")
    _assert_every_bid_returned(session_factory, loan_id, [(a, 500_000), (b, 500_000)], "withdrawn")


def test_withdraw_a_pending_listing(session_factory: sessionmaker[Session], borrower: int) -> None:
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower))
    with session_factory.begin() as session:
        assert marketplace.withdraw_listing(session, loan_id, actor_id=None, reason="x").status == "withdrawn"


def test_r8_expired_listing_fails_and_returns_every_bid_not_before(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> None:
    """R8 (流标): unfunded at its deadline, the listing fails and every frozen bid is returned
    in full; a second before the deadline nothing happens; other listings are untouched."""
    loan_id, bids = _open_with_bids(session_factory, bank, borrower)
    with session_factory() as session:
        deadline = marketplace.get_loan(session, loan_id).deadline
    assert deadline is not None
    later_id = lending.open_listing(session_factory, lending.listing_terms(borrower, funding_days=8))
    clock.current().set(deadline - timedelta(seconds=1))  # type: ignore[attr-defined]
    with session_factory.begin() as session:
        assert marketplace.fail_expired_listings(session) == []
    assert lending.balances(session_factory, bids[0][0]).frozen == 310_000
    lending.bid(session_factory, bids[1][0], loan_id, 10_000)  # still open a second before
    bids.append((bids[1][0], 10_000))

    clock.current().set(deadline)  # type: ignore[attr-defined]
    with pytest.raises(ListingNotOpen):  # at the deadline no bid is taken, even before the job runs
        lending.bid(session_factory, bids[1][0], loan_id, 10_000)
    with session_factory.begin() as session:
        assert marketplace.fail_expired_listings(session) == [loan_id]
    _assert_every_bid_returned(session_factory, loan_id, bids, "failed")
    with session_factory.begin() as session:
        assert marketplace.fail_expired_listings(session) == []  # idempotent
        assert marketplace.get_loan(session, later_id).status == "open"
        assert marketplace.get_loan(session, loan_id).close_reason == "funding deadline passed"


def test_a_funded_listing_does_not_fail_at_its_deadline(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> None:
    a, b = (lending.make_investor(session_factory, bank, balance=500_000) for _ in range(2))
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower))
    lending.bid(session_factory, a, loan_id, 500_000)
    lending.bid(session_factory, b, loan_id, 500_000)
    clock.current().set(datetime(2027, 1, 1, tzinfo=UTC))  # type: ignore[attr-defined]
    with session_factory.begin() as session:
        assert marketplace.fail_expired_listings(session) == []
        assert marketplace.get_loan(session, loan_id).status == "funded"
        assert session.scalar(select(func.count()).where(Bid.status == "frozen")) == 2


def test_disbursing_a_listing_that_is_not_funded_is_refused(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int
) -> None:
    loan_id, _ = _open_with_bids(session_factory, bank, borrower)
    with pytest.raises(LoanStateConflict) as refused:
        lending.disburse(session_factory, bank, loan_id)
    assert refused.value.details["status"] == "open"

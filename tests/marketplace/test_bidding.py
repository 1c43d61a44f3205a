"""Bidding (投标): freezing in the same transaction, amounts (DOMAIN.md §5), caps, eligibility (R14–R16)."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import DomainError, InsufficientFunds, InvalidInput
from p2plend.identity.errors import RealNameRequired
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import (
    BidBelowMinimum,
    BidCapExceeded,
    BidExceedsRemaining,
    BidNotInSteps,
    ListingFullyFunded,
    ListingNotOpen,
    OwnLoan,
)
from p2plend.marketplace.models import Bid
from p2plend.suitability import service as suitability
from p2plend.suitability.errors import (
    RiskAssessmentExpired,
    RiskAssessmentRequired,
    RiskClassNotSuitable,
    TierCapExceeded,
)
from tests import builders, lending

# 10,050.00 yuan: min bid and step 100.00, cap 50 % = 5,025.00.
AMOUNT = 1_005_000


@pytest.fixture
def borrower(session_factory: sessionmaker[Session], bank: SimulatedBank) -> int:
    return lending.make_borrower(session_factory, bank)


@pytest.fixture
def listing(session_factory: sessionmaker[Session], borrower: int) -> int:
    return lending.open_listing(session_factory, lending.listing_terms(borrower, amount=AMOUNT))


@pytest.fixture
def investor(session_factory: sessionmaker[Session], bank: SimulatedBank) -> Callable[..., int]:
    def make(balance: int = 1_000_000, points: int = 90) -> int:
        return lending.make_investor(session_factory, bank, balance=balance, points=points)

    return make


def _snapshot(session_factory: sessionmaker[Session], loan_id: int, *users: int) -> tuple[object, ...]:
    """Everything a refused bid must leave as it was."""
    with session_factory() as session:
        loan = marketplace.get_loan(session, loan_id)
        return (
            loan.funded,
            loan.status,
            tuple((b.id, b.amount, b.status) for b in marketplace.bids_of_loan(session, loan_id)),
            tuple(ledger.user_balances(session, u) for u in users),
            session.scalar(select(func.count()).select_from(JournalEntry)),
        )


def _refused(
    session_factory: sessionmaker[Session],
    loan_id: int,
    investor_id: int,
    amount: int,
    error: type[DomainError],
    *,
    fill_remaining: bool = True,
) -> DomainError:
    before = _snapshot(session_factory, loan_id, investor_id)
    with pytest.raises(error) as refused:
        lending.bid(session_factory, investor_id, loan_id, amount, fill_remaining=fill_remaining)
    assert _snapshot(session_factory, loan_id, investor_id) == before
    return refused.value


def test_a_bid_freezes_the_investors_own_money_in_the_same_transaction(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    """Reserve: available → frozen in the investor's own accounts, in the bid's own transaction;
    rolled back together with it."""
    a = investor(1_000_000)
    with session_factory() as session:
        bid = marketplace.place_bid(session, investor_id=a, loan_id=listing, amount=300_000)
        # Inside the transaction: the bid, the entry, the balances and the listing agree.
        assert ledger.user_balances(session, a) == ledger.Balances(available=700_000, frozen=300_000)
        entry = session.scalars(
            select(JournalEntry).where(JournalEntry.idempotency_key == f"bid:{bid.id}:freeze")
        ).one()
        assert (entry.kind, entry.ref_type, entry.ref_id) == ("bid_freeze", "bid", str(bid.id))
        assert marketplace.get_loan(session, listing).funded == 300_000
        session.rollback()
    assert lending.balances(session_factory, a) == ledger.Balances(available=1_000_000, frozen=0)
    with session_factory() as session:
        assert marketplace.bids_of_loan(session, listing) == []
        assert marketplace.get_loan(session, listing).funded == 0

    bid_id = lending.bid(session_factory, a, listing, 300_000)
    with session_factory() as session:
        bid = session.get(Bid, bid_id)
        assert bid is not None
        assert (bid.amount, bid.requested, bid.status, bid.source) == (300_000, 300_000, "frozen", "bid")
        assert ledger.user_balances(session, a) == ledger.Balances(available=700_000, frozen=300_000)
        assert marketplace.get_loan(session, listing).funded == 300_000
        assert marketplace.lending_outstanding(session, a) == 300_000


def test_bids_below_the_minimum_or_off_the_step_are_refused(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    """DOMAIN.md §5: minimum 100.00, step 100.00."""
    a = investor()
    assert _refused(session_factory, listing, a, 9_900, BidBelowMinimum).code == "bid_below_minimum"
    assert _refused(session_factory, listing, a, 15_000, BidNotInSteps).code == "bid_not_in_steps"
    assert _refused(session_factory, listing, a, 10_001, BidNotInSteps).code == "bid_not_in_steps"
    for amount in (0, -10_000):
        _refused(session_factory, listing, a, amount, InvalidInput)
    lending.bid(session_factory, a, listing, 10_000)  # exactly the minimum
    lending.bid(session_factory, a, listing, 20_000)  # in steps


def test_a_last_bid_below_the_minimum_is_taken_only_when_it_completes_the_listing(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    """DOMAIN.md §5: 10,050.00 listing; after 10,000.00 the 50.00 left is one bid below the minimum."""
    a, b, c = investor(), investor(), investor()
    lending.bid(session_factory, a, listing, 500_000)
    lending.bid(session_factory, b, listing, 500_000)
    _refused(session_factory, listing, c, 4_000, BidBelowMinimum)  # below minimum, does not complete
    bid_id = lending.bid(session_factory, c, listing, 5_000)
    with session_factory() as session:
        loan = marketplace.get_loan(session, listing)
        assert (loan.funded, loan.status) == (AMOUNT, "funded")
        assert loan.funded_at == clock.now()
        bid = session.get(Bid, bid_id)
        assert bid is not None and bid.amount == 5_000


def test_a_last_bid_off_the_step_is_taken_when_it_completes_the_listing(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    a, b, c = investor(), investor(), investor()
    lending.bid(session_factory, a, listing, 500_000)
    lending.bid(session_factory, b, listing, 400_000)
    _refused(session_factory, listing, c, 95_000, BidNotInSteps)
    lending.bid(session_factory, c, listing, 105_000)  # 1,050.00 exactly completes
    with session_factory() as session:
        assert marketplace.get_loan(session, listing).status == "funded"


def test_a_bid_over_what_remains_is_filled_for_what_remains(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    """DOMAIN.md §5: filled for what remains; only that is frozen; the listing is funded."""
    a, b, c = investor(), investor(), investor()
    lending.bid(session_factory, a, listing, 500_000)
    lending.bid(session_factory, b, listing, 400_000)
    bid_id = lending.bid(session_factory, c, listing, 300_000)
    with session_factory() as session:
        bid = session.get(Bid, bid_id)
        assert bid is not None
        assert (bid.requested, bid.amount) == (300_000, 105_000)
        assert ledger.user_balances(session, c) == ledger.Balances(available=895_000, frozen=105_000)
        loan = marketplace.get_loan(session, listing)
        assert (loan.funded, loan.status) == (AMOUNT, "funded")


def test_a_bidder_who_opted_out_of_trimming_is_refused_over_what_remains(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    a, b, c = investor(), investor(), investor()
    lending.bid(session_factory, a, listing, 500_000)
    lending.bid(session_factory, b, listing, 400_000)
    refused = _refused(session_factory, listing, c, 300_000, BidExceedsRemaining, fill_remaining=False)
    assert refused.code == "bid_exceeds_remaining"
    assert refused.details == {"remaining": "1050.00"}
    lending.bid(session_factory, c, listing, 105_000, fill_remaining=False)  # exactly what remains


def test_one_investor_lends_at_most_half_of_a_listing(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    """DOMAIN.md §5 [D] 50 %: 5,025.00 of 10,050.00, over one bid or several."""
    a, b = investor(), investor()
    refused = _refused(session_factory, listing, a, 510_000, BidCapExceeded)
    assert refused.code == "bid_cap_exceeded"
    assert refused.details == {"cap": "5025.00", "already": "0.00"}
    lending.bid(session_factory, a, listing, 300_000)
    refused = _refused(session_factory, listing, a, 210_000, BidCapExceeded)
    assert refused.details["already"] == "3000.00"
    lending.bid(session_factory, a, listing, 200_000)  # 5,000.00 in all
    lending.bid(session_factory, b, listing, 500_000)
    # 50.00 remains: a completing bid from a would reach 5,050.00, over the cap even trimmed.
    _refused(session_factory, listing, a, 5_000, BidCapExceeded)
    _refused(session_factory, listing, b, 5_000, BidCapExceeded)
    lending.bid(session_factory, investor(), listing, 5_000)
    with session_factory() as session:
        assert ledger.user_balances(session, a).frozen == 500_000
        assert marketplace.get_loan(session, listing).status == "funded"


def test_a_trimmed_bid_still_respects_the_cap(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    a, b = investor(), investor()
    lending.bid(session_factory, b, listing, 500_000)
    lending.bid(session_factory, a, listing, 400_000)
    # 1,050.00 remains; a already has 4,000.00: filling it would reach 5,050.00 > 5,025.00.
    _refused(session_factory, listing, a, 200_000, BidCapExceeded)


def test_refunded_bids_do_not_count_towards_the_cap_of_a_new_listing(
    session_factory: sessionmaker[Session], borrower: int, investor: Callable[..., int]
) -> None:
    a = investor(2_000_000)
    first = lending.open_listing(session_factory, lending.listing_terms(borrower, amount=AMOUNT))
    second = lending.open_listing(session_factory, lending.listing_terms(borrower, amount=AMOUNT))
    lending.bid(session_factory, a, first, 500_000)
    lending.bid(session_factory, a, second, 500_000)  # the cap is per listing


def test_no_one_lends_to_their_own_loan(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int, investor: Callable[..., int]
) -> None:
    """自融 and its cousins: the borrower (and the loan's guarantor) never bid on it."""
    with session_factory.begin() as session:
        suitability.submit_assessment(session, borrower, builders.answers_scoring(90))
    lending.deposit(session_factory, bank, borrower, lending.card_of(session_factory, borrower), 500_000)
    guarantor = investor()
    loan_id = lending.open_listing(
        session_factory, lending.listing_terms(borrower, amount=AMOUNT, guarantor_id=guarantor)
    )
    assert _refused(session_factory, loan_id, borrower, 100_000, OwnLoan).code == "own_loan"
    _refused(session_factory, loan_id, guarantor, 100_000, OwnLoan)


def test_r14_only_verified_real_name_users_bid(session_factory: sessionmaker[Session], listing: int) -> None:
    """R14: a registered user without real-name verification cannot bid."""
    with session_factory.begin() as session:
        user = builders.make_assessed_investor(session, total=90)
    refused = _refused(session_factory, listing, user.id, 10_000, RealNameRequired)
    assert refused.code == "real_name_required"


def test_r15_no_risk_assessment_no_bid(
    session_factory: sessionmaker[Session], bank: SimulatedBank, listing: int
) -> None:
    """R15: verified, with money, but never assessed."""
    with session_factory.begin() as session:
        user, card_id = builders.make_custody_user(session, bank)
    lending.deposit(session_factory, bank, user.id, card_id, 100_000)
    assert _refused(session_factory, listing, user.id, 10_000, RiskAssessmentRequired).code == (
        "risk_assessment_required"
    )


def test_r15_an_expired_assessment_blocks_bidding(
    session_factory: sessionmaker[Session], borrower: int, investor: Callable[..., int]
) -> None:
    """R15: assessed on 2026-11-28, valid to 2027-11-27 (12 months [D]); refused from 2027-11-28."""
    a = investor()
    lending.go_to(clock.today().replace(year=2027) - timedelta(days=1))
    on_last_day = lending.open_listing(session_factory, lending.listing_terms(borrower, amount=AMOUNT))
    lending.bid(session_factory, a, on_last_day, 10_000)
    lending.go_to(clock.today() + timedelta(days=1))
    refused = _refused(session_factory, on_last_day, a, 10_000, RiskAssessmentExpired)
    assert refused.details == {"valid_until": "2027-11-27"}
    # A fresh assessment lets them bid again.
    with session_factory.begin() as session:
        suitability.submit_assessment(session, a, builders.answers_scoring(90))
    lending.bid(session_factory, a, on_last_day, 10_000)


def test_r16_a_lender_bids_only_up_to_their_tier(
    session_factory: sessionmaker[Session], borrower: int, investor: Callable[..., int]
) -> None:
    """R16: a C3 lender may take R1–R3 loans, not R4 (grade C/D) or R5."""
    c3 = investor(points=60)
    for risk_class, allowed in (("R1", True), ("R3", True), ("R4", False), ("R5", False)):
        loan_id = lending.open_listing(
            session_factory, lending.listing_terms(borrower, amount=AMOUNT, risk_class=risk_class)
        )
        if allowed:
            lending.bid(session_factory, c3, loan_id, 10_000)
        else:
            refused = _refused(session_factory, loan_id, c3, 10_000, RiskClassNotSuitable)
            assert refused.details == {"tier": "C3", "risk_class": risk_class}


def test_r16_a_lender_stays_within_their_tiers_outstanding_cap(
    session_factory: sessionmaker[Session], bank: SimulatedBank, borrower: int, investor: Callable[..., int]
) -> None:
    """R16: C1 may have 50,000.00 outstanding [D] — holdings of disbursed loans plus bids still frozen."""
    c1 = investor(balance=6_000_000, points=20)
    others = [investor(balance=3_000_000) for _ in range(2)]
    big = lending.listing_terms(borrower, amount=8_000_000, risk_class="R1")
    disbursed = lending.open_listing(session_factory, big)
    lending.bid(session_factory, c1, disbursed, 3_000_000)
    for other in others:
        lending.bid(session_factory, other, disbursed, 2_500_000)
    lending.disburse(session_factory, bank, disbursed)
    pending = lending.open_listing(session_factory, big)
    lending.bid(session_factory, c1, pending, 1_500_000)  # 45,000.00 at stake
    refused = _refused(session_factory, pending, c1, 510_000, TierCapExceeded)
    assert refused.code == "risk_tier_cap_exceeded"
    assert refused.details["outstanding"] == "45000.00"
    lending.bid(session_factory, c1, pending, 500_000)  # exactly 50,000.00


def test_insufficient_funds_changes_nothing(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    """The overdraft guard refuses the freeze: no bid row, listing not funded, balances as they were."""
    a = investor(99_999)
    lending.bid(session_factory, a, listing, 50_000)
    refused = _refused(session_factory, listing, a, 50_000, InsufficientFunds)
    assert refused.code == "insufficient_funds"
    with session_factory() as session:
        assert [b.amount for b in marketplace.bids_of_investor(session, a)] == [50_000]
        assert marketplace.get_loan(session, listing).funded == 50_000
        assert ledger.user_balances(session, a) == ledger.Balances(available=49_999, frozen=50_000)


def test_a_fully_funded_listing_takes_no_more_bids(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    a, b, c = investor(), investor(), investor()
    lending.bid(session_factory, a, listing, 500_000)
    lending.bid(session_factory, b, listing, 500_000)
    lending.bid(session_factory, c, listing, 5_000)
    refused = _refused(session_factory, listing, c, 10_000, ListingFullyFunded)
    assert refused.code == "listing_fully_funded"


def test_a_listing_past_its_deadline_takes_no_bids_before_the_job_runs(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    a = investor()
    clock.current().advance(timedelta(days=7))  # type: ignore[attr-defined]
    assert _refused(session_factory, listing, a, 10_000, ListingNotOpen).code == "listing_not_open"


def test_an_unknown_listing_is_not_found(
    session_factory: sessionmaker[Session], investor: Callable[..., int]
) -> None:
    from p2plend.marketplace.errors import LoanNotFound

    a = investor()
    with pytest.raises(LoanNotFound):
        lending.bid(session_factory, a, 999_999, 10_000)


def test_auto_bid_source_is_kept(
    session_factory: sessionmaker[Session], listing: int, investor: Callable[..., int]
) -> None:
    a = investor()
    with session_factory.begin() as session:
        bid = marketplace.place_bid(session, investor_id=a, loan_id=listing, amount=10_000, source="auto_bid")
        assert bid.source == "auto_bid"

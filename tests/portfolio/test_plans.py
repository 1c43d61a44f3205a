"""分散投资: a plan spreads an amount over the matching open listings as ordinary bids (R15,
R16 respected), records every bid and every listing left out, and is all or nothing."""

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.errors import InsufficientFunds
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import ListingNotOpen
from p2plend.origination import vocabulary
from p2plend.portfolio import service as portfolio
from p2plend.portfolio.schemas import read_plan
from p2plend.suitability.errors import RiskAssessmentRequired
from tests import builders, lending

Y = 100  # fen per yuan
C5, C3, C1 = 90, 60, 20  # questionnaire points of each tier


def _listing(
    session_factory: sessionmaker[Session],
    borrower: int,
    *,
    amount: int = 10_000 * Y,
    rate: str = "0.10",
    grade: str = "B",
    risk_class: str = "R3",
    **overrides: Any,
) -> int:
    terms = lending.listing_terms(
        borrower, amount=amount, annual_rate=rate, grade=grade, risk_class=risk_class, **overrides
    )
    return lending.open_listing(session_factory, terms)


def _plan(
    session_factory: sessionmaker[Session],
    investor: int,
    *,
    amount: int,
    max_per_loan: int,
    grades: tuple[str, ...] = ("A", "B"),
    min_rate: str = "0",
) -> portfolio.PlanView:
    terms = portfolio.check_terms(
        amount=amount, min_rate=Decimal(min_rate), max_per_loan=max_per_loan, grades=grades
    )
    with session_factory.begin() as session:
        return portfolio.execute_plan(session, investor, terms)


def _placed(plan: portfolio.PlanView) -> dict[int, int]:
    return {line.loan_id: line.amount for line in plan.lines if line.outcome == portfolio.PLACED}


def _outcomes(plan: portfolio.PlanView) -> dict[int, str]:
    return {line.loan_id: line.outcome for line in plan.lines}


def test_grades_are_origination_grades() -> None:
    assert portfolio.GRADES == vocabulary.GRADES


def test_a_plan_spreads_evenly_over_the_matching_listings(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=10_000 * Y, points=C5)
    b10 = _listing(session_factory, borrower, rate="0.10")
    a12 = _listing(session_factory, borrower, rate="0.12", grade="A", risk_class="R2")
    b09 = _listing(session_factory, borrower, rate="0.09")
    c11 = _listing(session_factory, borrower, rate="0.11", grade="C", risk_class="R4")  # grade not chosen
    b06 = _listing(session_factory, borrower, rate="0.06")  # below the minimum rate
    plan = _plan(session_factory, investor, amount=1_000 * Y, max_per_loan=500 * Y, min_rate="0.08")
    # 100 on each of the three, then 100 at a time to whoever holds least, 12 % first, then
    # 10 %, then 9 %: 400 / 300 / 300.
    assert _placed(plan) == {a12: 400 * Y, b10: 300 * Y, b09: 300 * Y}
    assert (plan.placed, plan.status, plan.unplaced_reason, plan.matching_listings) == (
        1_000 * Y,
        portfolio.COMPLETE,
        None,
        3,
    )
    assert [line.loan_id for line in plan.lines] == [a12, b10, b09]  # largest first, then by id
    assert c11 not in _outcomes(plan) and b06 not in _outcomes(plan)
    with session_factory() as session:
        bids = [b for b in marketplace.bids_of_investor(session, investor) if b.status == "frozen"]
        # Ordinary bids: source bid, frozen in the investor's own sub-account.
        assert {(b.loan_id, b.amount, b.source) for b in bids} == {
            (a12, 400 * Y, "bid"),
            (b10, 300 * Y, "bid"),
            (b09, 300 * Y, "bid"),
        }
        assert {line.bid_id for line in plan.lines} == {b.id for b in bids}
        assert marketplace.get_loan(session, a12).funded == 400 * Y
        records = audit.list_records(session, object_type="portfolio_plan", object_id=plan.id)
        assert [r.action for r in records] == ["portfolio_plan.executed"]
    assert lending.balances(session_factory, investor).available == 9_000 * Y
    assert lending.balances(session_factory, investor).frozen == 1_000 * Y


def test_the_most_per_loan_leaves_the_rest_unplaced(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=5_000 * Y)
    first = _listing(session_factory, borrower)
    second = _listing(session_factory, borrower)
    plan = _plan(session_factory, investor, amount=1_000 * Y, max_per_loan=200 * Y)
    assert _placed(plan) == {first: 200 * Y, second: 200 * Y}
    assert (plan.status, plan.unplaced, plan.unplaced_reason) == (
        portfolio.PARTIAL,
        600 * Y,
        portfolio.LISTINGS_FULL,
    )
    assert lending.balances(session_factory, investor).available == 4_600 * Y


def test_suitability_own_loans_and_caps_are_respected(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R16: a C3 investor's plan bids on R1–R3 only; never on their own loan; never above a
    listing's per-investor cap; never below a listing's minimum."""
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=20_000 * Y, points=C3)
    suitable = _listing(session_factory, borrower, grade="B", risk_class="R3")
    too_risky = _listing(session_factory, borrower, grade="C", risk_class="R4")
    own = _listing(session_factory, investor, grade="B", risk_class="R3")
    capped = _listing(session_factory, borrower, amount=1_000 * Y)  # 50 %: 500 per investor
    lending.bid(session_factory, investor, capped, 500 * Y)  # the cap is reached by hand
    big_minimum = _listing(session_factory, borrower, min_bid=2_000 * Y, bid_step=2_000 * Y)
    plan = _plan(session_factory, investor, amount=1_000 * Y, max_per_loan=1_000 * Y, grades=("B", "C"))
    assert _outcomes(plan) == {
        suitable: portfolio.PLACED,
        too_risky: portfolio.NOT_SUITABLE,
        own: portfolio.OWN_LOAN,
        capped: portfolio.CAP_REACHED,
        big_minimum: portfolio.BELOW_MINIMUM,
    }
    assert _placed(plan) == {suitable: 1_000 * Y}
    with session_factory() as session:
        assert marketplace.get_loan(session, too_risky).funded == 0
        assert marketplace.get_loan(session, own).funded == 0
        assert marketplace.get_loan(session, capped).funded == 500 * Y


def test_listings_the_amount_did_not_reach_say_so(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=1_000 * Y)
    low, mid, high = (_listing(session_factory, borrower, rate=r) for r in ("0.08", "0.10", "0.12"))
    plan = _plan(session_factory, investor, amount=200 * Y, max_per_loan=100 * Y)
    assert _outcomes(plan) == {high: portfolio.PLACED, mid: portfolio.PLACED, low: portfolio.USED_UP}
    assert plan.status == portfolio.COMPLETE


def test_a_bid_completing_a_listing_is_placed_for_what_remains(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor, other = lending.make_investors(session_factory, bank, [2_000 * Y, 2_000 * Y])
    nearly_full = _listing(session_factory, borrower, amount=950 * Y, max_share=Decimal(1))
    lending.bid(session_factory, other, nearly_full, 900 * Y)
    plan = _plan(session_factory, investor, amount=500 * Y, max_per_loan=500 * Y)
    assert _placed(plan) == {nearly_full: 50 * Y}  # below the 100 minimum: it completes the listing
    with session_factory() as session:
        assert marketplace.get_loan(session, nearly_full).status == marketplace.FUNDED


def test_the_tier_cap_limits_what_a_plan_places(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    """R16: a C1 investor (cap 50,000.00 outstanding) with 49,900.00 at stake places 100.00."""
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=51_000 * Y, points=C1)
    big = _listing(session_factory, borrower, amount=150_000 * Y, grade="AA", risk_class="R1")
    other = _listing(session_factory, borrower, grade="AA", risk_class="R1")
    lending.bid(session_factory, investor, big, 49_900 * Y)
    plan = _plan(session_factory, investor, amount=1_000 * Y, max_per_loan=500 * Y, grades=("AA",))
    assert plan.placed == 100 * Y
    assert (plan.status, plan.unplaced_reason) == (portfolio.PARTIAL, portfolio.TIER_CAP)
    assert set(_placed(plan)) <= {big, other}
    with session_factory() as session:
        assert marketplace.lending_outstanding(session, investor) == 50_000 * Y


def test_a_plan_that_can_place_nothing_is_refused_and_changes_nothing(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=1_000 * Y, points=C3)
    risky = _listing(session_factory, borrower, grade="D", risk_class="R4")
    terms = portfolio.check_terms(amount=500 * Y, min_rate=Decimal(0), max_per_loan=500 * Y, grades=("D",))
    with session_factory() as session, pytest.raises(portfolio.PlanUnplaceable) as refused:
        portfolio.execute_plan(session, investor, terms)
    assert refused.value.details == {
        "matching_listings": 1,
        "reasons": {portfolio.NOT_SUITABLE: 1},
    }
    nothing = portfolio.check_terms(amount=500 * Y, min_rate=Decimal(0), max_per_loan=500 * Y, grades=("HR",))
    with session_factory() as session, pytest.raises(portfolio.PlanUnplaceable) as empty:
        portfolio.execute_plan(session, investor, nothing)
    assert empty.value.details["matching_listings"] == 0
    with session_factory() as session:
        assert portfolio.plans_of(session, investor) == []
        assert marketplace.bids_of_investor(session, investor) == []
        assert marketplace.get_loan(session, risky).funded == 0
    assert lending.balances(session_factory, investor).available == 1_000 * Y


def test_a_plan_needs_the_money_and_a_valid_assessment(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    _listing(session_factory, borrower)
    investor = lending.make_investor(session_factory, bank, balance=300 * Y)
    terms = portfolio.check_terms(amount=500 * Y, min_rate=Decimal(0), max_per_loan=500 * Y, grades=("B",))
    with session_factory() as session, pytest.raises(InsufficientFunds):
        portfolio.execute_plan(session, investor, terms)
    with session_factory.begin() as session:
        unassessed, card = builders.make_custody_user(session, bank)
    lending.deposit(session_factory, bank, unassessed.id, card, 1_000 * Y)
    with session_factory() as session, pytest.raises(RiskAssessmentRequired):  # R15
        portfolio.execute_plan(session, unassessed.id, terms)


def test_a_refusal_at_placement_is_recorded_and_the_rest_placed(
    session_factory: sessionmaker[Session], bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bid runs in a savepoint: a refusal the plan did not foresee leaves nothing of that
    bid, is recorded with the marketplace's code, and the plan goes on."""
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=1_000 * Y)
    refusing = _listing(session_factory, borrower, rate="0.12")
    taking = _listing(session_factory, borrower, rate="0.10")
    real = marketplace.place_bid

    def place_bid(session: Session, **kwargs: object) -> object:
        if kwargs["loan_id"] == refusing:
            real(session, **kwargs)  # type: ignore[arg-type]  # freezes, then…
            raise ListingNotOpen("closed under our feet")
        return real(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(marketplace, "place_bid", place_bid)
    plan = _plan(session_factory, investor, amount=400 * Y, max_per_loan=200 * Y)
    assert _outcomes(plan) == {refusing: "listing_not_open", taking: portfolio.PLACED}
    assert (plan.placed, plan.status) == (200 * Y, portfolio.PARTIAL)
    with session_factory() as session:
        assert marketplace.get_loan(session, refusing).funded == 0
        assert [b.loan_id for b in marketplace.bids_of_investor(session, investor)] == [taking]
    assert lending.balances(session_factory, investor).frozen == 200 * Y


def test_plans_are_the_investors_own(session_factory: sessionmaker[Session], bank: SimulatedBank) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor, stranger = lending.make_investors(session_factory, bank, [1_000 * Y, 0])
    _listing(session_factory, borrower)
    first = _plan(session_factory, investor, amount=200 * Y, max_per_loan=200 * Y)
    second = _plan(session_factory, investor, amount=100 * Y, max_per_loan=100 * Y)
    with session_factory() as session:
        assert [p.id for p in portfolio.plans_of(session, investor)] == [second.id, first.id]
        assert portfolio.plan_of(session, investor, first.id) == first
        assert portfolio.plans_of(session, stranger) == []
        with pytest.raises(portfolio.PlanNotFound):
            portfolio.plan_of(session, stranger, first.id)


@pytest.mark.parametrize(
    ("amount", "max_per_loan", "min_rate", "grades", "field"),
    [
        ("50.00", "50.00", "0", ["A"], "amount"),  # below one minimum bid
        ("150.00", "100.00", "0", ["A"], "amount"),  # off the 100.00 step
        ("abc", "100.00", "0", ["A"], "amount"),
        ("500.00", "50.00", "0", ["A"], "max_per_loan"),
        ("500.00", "250.00", "0", ["A"], "max_per_loan"),
        ("500.00", "600.00", "0", ["A"], "max_per_loan"),  # above the amount
        ("500.00", "100.00", "1", ["A"], "min_rate"),
        ("500.00", "100.00", "0.1234567", ["A"], "min_rate"),
        ("500.00", "100.00", "-0.1", ["A"], "min_rate"),
        ("500.00", "100.00", "0", [], "grades"),
        ("500.00", "100.00", "0", ["Z"], "grades"),
    ],
)
def test_plan_terms_are_checked(
    amount: str, max_per_loan: str, min_rate: str, grades: list[str], field: str
) -> None:
    with pytest.raises(portfolio.InvalidPlan) as refused:
        read_plan(amount=amount, min_rate=min_rate, max_per_loan=max_per_loan, grades=grades)
    assert refused.value.details == {"field": field}


def test_plan_terms_read_as_typed() -> None:
    terms = read_plan(amount="1000.00", min_rate="0.085", max_per_loan="300", grades=["B", "AA", "B"])
    assert terms == portfolio.PlanTerms(1_000 * Y, Decimal("0.085"), 300 * Y, ("AA", "B"))

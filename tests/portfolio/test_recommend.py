"""为您推荐: only listings the investor may lend to, ranked by risk fit, past choices and
preference (explicit, else the auto-bid rule), ties by listing id, each with its reason."""

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.autobid import service as autobid
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.portfolio import recommend
from p2plend.schedules.service import Method
from p2plend.suitability.errors import RiskAssessmentRequired
from p2plend.suitability.questionnaire import Tier
from tests import builders, lending
from tests.autobid.conftest import rule_terms

Y = 100
C3 = 60


def _open(session_factory: sessionmaker[Session], borrower: int, **overrides: Any) -> int:
    return lending.open_listing(session_factory, lending.listing_terms(borrower, **overrides))


def _market(session_factory: sessionmaker[Session], bank: SimulatedBank) -> tuple[int, dict[str, int]]:
    """A C3 investor, and listings: three they may lend to, four they may not."""
    borrower = lending.make_borrower(session_factory, bank)
    investor, other = lending.make_investors(session_factory, bank, [5_000 * Y, 5_000 * Y], points=C3)
    ids = {
        "b12": _open(session_factory, borrower, grade="B", risk_class="R3", months=12),
        "a24": _open(session_factory, borrower, grade="A", risk_class="R2", months=24, annual_rate="0.09"),
        "aa6": _open(session_factory, borrower, grade="AA", risk_class="R1", months=6, annual_rate="0.08"),
        "c12": _open(session_factory, borrower, grade="C", risk_class="R4", months=12),  # above C3
        "own": _open(session_factory, investor, grade="B", risk_class="R3"),  # their own loan
        "capped": _open(session_factory, borrower, amount=1_000 * Y),  # their cap reached below
        "pending": lending.create_listing(session_factory, lending.listing_terms(borrower)),  # not open
    }
    lending.bid(session_factory, investor, ids["capped"], 500 * Y)
    lending.bid(session_factory, other, ids["capped"], 100 * Y)
    return investor, ids


def _feed(
    session_factory: sessionmaker[Session], investor: int, preference: recommend.Preference | None = None
) -> recommend.Feed:
    with session_factory() as session:
        return recommend.recommendations(session, investor, preference=preference)


def test_only_listings_the_investor_may_lend_to_by_risk_fit(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, ids = _market(session_factory, bank)
    feed = _feed(session_factory, investor)
    assert feed.tier == Tier.C3 and feed.preference is None
    # History: one frozen bid, on the capped listing (grade B, 12 months, equal installments).
    ranked = [(r.loan.id, r.risk_points, r.history_points, r.preference_points, r.score) for r in feed.items]
    assert ranked == [
        (ids["b12"], 30, 45, 0, 75),  # R3 at C3; B, 12 months, equal installments like before
        (ids["a24"], 30, 10, 0, 40),  # R2 one below C3; only the method like before
        (ids["aa6"], 20, 10, 0, 30),  # R1 two below C3
    ]
    first, _, third = feed.items
    assert first.reason == "history"
    assert first.explanation_zh == "与您常投的 12 个月、B 级、等额本息项目相近"
    assert first.explanation_en == "like the 12-month, grade B, equal-installment loans you usually choose"
    assert third.explanation("zh") == "与您常投的等额本息项目相近"


def test_risk_level_explains_when_nothing_else_does(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=0, points=C3)
    first = _open(session_factory, borrower, grade="A", risk_class="R2")
    second = _open(session_factory, borrower, grade="B", risk_class="R3")
    feed = _feed(session_factory, investor)
    assert [(r.loan.id, r.score) for r in feed.items] == [(first, 30), (second, 30)]  # a tie: by id
    assert feed.items[1].explanation_zh == "适合您的风险等级（C3 平衡型）：R3 级项目"
    assert feed.items[1].explanation_en == "suits your risk level (C3 Balanced): a class R3 loan"


def test_an_explicit_preference_ranks_and_explains(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, ids = _market(session_factory, bank)
    preference = recommend.check_preference(term_min=12, term_max=24, grades=["B", "A"])
    feed = _feed(session_factory, investor, preference)
    assert feed.preference == preference
    assert [(r.loan.id, r.preference_points, r.score) for r in feed.items] == [
        (ids["b12"], 25, 100),
        (ids["a24"], 25, 65),
        (ids["aa6"], 0, 30),
    ]
    assert feed.items[0].reason == "preference"
    assert feed.items[0].explanation_zh == "符合您 12–24 个月、A–B 级的偏好"
    assert feed.items[0].explanation_en == "matches your 12–24 month, grade A–B preference"
    assert feed.items[2].reason == "history"  # meets none of the preference


def test_a_partly_met_preference_names_what_is_met(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, ids = _market(session_factory, bank)
    preference = recommend.check_preference(
        term_max=6, rate_min=Decimal("0.08"), rate_max=Decimal("0.085"), methods=["equal_installment"]
    )
    items = {r.loan.id: r for r in _feed(session_factory, investor, preference).items}
    assert items[ids["aa6"]].preference_points == 25
    assert items[ids["aa6"]].explanation_zh == "符合您 6 个月以内、年利率 8–8.5%、等额本息的偏好"
    assert (
        items[ids["aa6"]].explanation_en
        == "matches your up to 6 month, 8–8.5 % rate, equal-installment preference"
    )
    assert items[ids["b12"]].preference_points == 8  # 25 × 1/3: only the method
    assert items[ids["b12"]].explanation_en == "matches your equal-installment preference"


def test_the_auto_bid_rule_counts_without_an_explicit_preference(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    investor, ids = _market(session_factory, bank)
    rule = rule_terms(min_term_months=24, max_term_months=36)  # everything else takes all
    with session_factory.begin() as session:
        autobid.save_rule(session, investor, rule, actor_id=investor)
    feed = _feed(session_factory, investor)
    # Only the term bounds say something: rates 0–100 %, every grade and method take everything.
    assert feed.preference == recommend.Preference(term_min=24, term_max=36, source=recommend.AUTO_BID)
    assert [(r.loan.id, r.preference_points, r.score) for r in feed.items] == [
        (ids["b12"], 0, 75),
        (ids["a24"], 25, 65),
        (ids["aa6"], 0, 30),
    ]
    assert feed.items[1].explanation_zh == "符合您 24–36 个月的偏好"
    # An explicit preference wins over the rule.
    explicit = _feed(session_factory, investor, recommend.check_preference(grades=["AA"]))
    assert explicit.preference is not None and explicit.preference.source == recommend.EXPLICIT
    assert {r.loan.id: r.preference_points for r in explicit.items} == {
        ids["b12"]: 0,
        ids["a24"]: 0,
        ids["aa6"]: 25,
    }


def test_no_assessment_no_recommendations(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    with session_factory.begin() as session:
        user, _ = builders.make_custody_user(session, bank)
    with session_factory() as session, pytest.raises(RiskAssessmentRequired):  # R15
        recommend.recommendations(session, user.id)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"term_min": 0}, "term_min"),
        ({"term_max": 361}, "term_max"),
        ({"term_min": 24, "term_max": 12}, "term_max"),
        ({"grades": ["Z"]}, "grades"),
        ({"rate_min": Decimal(1)}, "rate_min"),
        ({"rate_min": Decimal("0.1"), "rate_max": Decimal("0.05")}, "rate_max"),
        ({"methods": ["monthly"]}, "methods"),
    ],
)
def test_a_preference_is_checked(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(recommend.InvalidPreference) as refused:
        recommend.check_preference(**kwargs)  # type: ignore[arg-type]
    assert refused.value.details == {"field": field}


def test_reason_words() -> None:
    assert recommend.grades_text(["A", "B", "C"], en=True) == "A–C"
    assert recommend.grades_text(["AA", "B"], en=True) == "AA/B"
    assert recommend.grades_text(["AA", "B"], en=False) == "AA、B"
    assert recommend.grades_text(["HR"], en=False) == "HR"
    assert recommend.percent_text(Decimal("0.085")) == "8.5"
    assert recommend.percent_text(Decimal("0.100000")) == "10"
    assert recommend.risk_points(Tier.C5, "R1") == 0
    assert recommend.risk_points(Tier.C5, "R3") == 20
    assert recommend.risk_points(Tier.C1, "R1") == 30
    assert [m.value for m in Method] == list(recommend.METHOD_WORDS)

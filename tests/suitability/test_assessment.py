"""Investor suitability: scoring boundaries, the C1 override, expiry by the business clock (R15, R16)."""

from datetime import date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.errors import InvalidInput
from p2plend.suitability import service as suitability
from p2plend.suitability.questionnaire import TIER_FLOORS, score, tier_for
from p2plend.suitability.service import RiskClass, Tier
from tests.builders import answers_scoring, make_assessed_investor, make_user


def test_questionnaire_has_ten_questions_in_both_languages() -> None:
    zh, en = suitability.questionnaire("zh"), suitability.questionnaire("en-US")
    assert len(zh) == len(en) == 10
    assert [q.key for q in zh] == [q.key for q in en]
    assert zh[0].text == "您的年龄是？" and en[0].text == "How old are you?"
    assert all(len(q.options) >= 4 for q in zh)


def test_scores_run_from_12_to_100() -> None:
    questions = suitability.questionnaire("zh")
    lowest = {q.key: min(q.options, key=lambda o: o.points).key for q in questions}
    highest = {q.key: max(q.options, key=lambda o: o.points).key for q in questions}
    assert score(lowest) == 12
    assert score(highest) == 100


@pytest.mark.parametrize(
    ("total", "tier"),
    [
        (12, Tier.C1),
        (29, Tier.C1),
        (30, Tier.C2),
        (49, Tier.C2),
        (50, Tier.C3),
        (69, Tier.C3),
        (70, Tier.C4),
        (84, Tier.C4),
        (85, Tier.C5),
        (100, Tier.C5),
    ],
)
def test_tier_cut_points(session: Session, total: int, tier: Tier) -> None:
    user = make_user(session)
    answers = answers_scoring(total)
    assert score(answers) == total
    assessment = suitability.submit_assessment(session, user.id, answers)
    assert (assessment.score, assessment.tier) == (total, tier)


def test_cut_points_table_is_ordered_and_complete() -> None:
    floors = [floor for floor, _ in TIER_FLOORS]
    assert floors == sorted(floors, reverse=True) and floors[-1] == 0
    assert [tier for _, tier in TIER_FLOORS] == [Tier.C5, Tier.C4, Tier.C3, Tier.C2, Tier.C1]


def test_no_loss_accepted_means_c1_whatever_the_total() -> None:
    answers = answers_scoring(90)
    answers["loss_tolerance"] = "a"
    assert score(answers) >= 80
    assert tier_for(score(answers), answers) == Tier.C1


@pytest.mark.parametrize(
    ("change", "question", "problem"),
    [
        ({"horizon": None}, "horizon", "missing"),
        ({"age": "z"}, "age", "invalid_option"),
        ({"favourite_colour": "a"}, "favourite_colour", "unknown_question"),
    ],
)
def test_invalid_answers_name_the_question(
    session: Session, change: dict[str, str | None], question: str, problem: str
) -> None:
    user = make_user(session)
    answers = answers_scoring(60)
    for key, value in change.items():
        if value is None:
            del answers[key]
        else:
            answers[key] = value
    with pytest.raises(InvalidInput) as refused:
        suitability.submit_assessment(session, user.id, answers)
    assert refused.value.details["question"] == question
    assert refused.value.details["problems"] == {question: problem}
    assert suitability.latest_assessment(session, user.id) is None


def test_no_assessment_blocks_lending(session: Session) -> None:
    """R15."""
    user = make_user(session)
    assert suitability.current_assessment(session, user.id) is None
    with pytest.raises(suitability.RiskAssessmentRequired) as refused:
        suitability.require_valid_assessment(session, user.id)
    assert refused.value.code == "risk_assessment_required"


def test_assessment_is_valid_twelve_months_by_the_business_clock(
    session: Session, business_clock: clock.FixedClock
) -> None:
    """R15: taken 2026-11-28, it counts through 2027-11-27 and not on 2027-11-28."""
    user = make_assessed_investor(session, total=60)
    assessment = suitability.require_valid_assessment(session, user.id)
    assert (assessment.assessed_on, assessment.valid_until) == (date(2026, 11, 28), date(2027, 11, 27))

    business_clock.set_business_date(date(2027, 11, 27), hour=23)
    assert suitability.current_assessment(session, user.id) == assessment

    business_clock.set_business_date(date(2027, 11, 28), hour=0)
    assert suitability.current_assessment(session, user.id) is None
    with pytest.raises(suitability.RiskAssessmentExpired) as refused:
        suitability.require_valid_assessment(session, user.id)
    assert refused.value.code == "risk_assessment_expired"
    assert refused.value.details == {"valid_until": "2027-11-27"}


def test_validity_is_month_end_clamped(session: Session, business_clock: clock.FixedClock) -> None:
    business_clock.set_business_date(date(2028, 2, 29))
    user = make_assessed_investor(session, total=60)
    assert suitability.require_valid_assessment(session, user.id).valid_until == date(2029, 2, 27)


def test_validity_months_is_a_setting(
    session: Session, business_clock: clock.FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("P2PLEND_RISK_ASSESSMENT_VALID_MONTHS", "6")
    from p2plend.config import get_settings

    get_settings.cache_clear()
    user = make_assessed_investor(session, total=60)
    assert suitability.require_valid_assessment(session, user.id).valid_until == date(2027, 5, 27)


def test_retaking_keeps_history_and_the_latest_counts(
    session: Session, business_clock: clock.FixedClock
) -> None:
    user = make_assessed_investor(session, total=95)
    business_clock.advance(timedelta(days=30))
    retaken = suitability.submit_assessment(session, user.id, answers_scoring(40))
    session.commit()
    assert suitability.require_valid_assessment(session, user.id) == retaken
    assert [a.tier for a in suitability.assessment_history(session, user.id)] == [Tier.C2, Tier.C5]


def test_history_is_append_only_in_the_database(session: Session) -> None:
    """R17: an assessment can't be rewritten after the fact."""
    make_assessed_investor(session, total=60)
    session.commit()
    for statement in ("UPDATE risk_assessments SET tier = 'C5'", "DELETE FROM risk_assessments"):
        with pytest.raises(DBAPIError):
            session.execute(text(statement))
        session.rollback()


def test_submission_is_audited(session: Session) -> None:
    user = make_assessed_investor(session, total=72)
    [entry] = audit.list_records(session, object_type="user", object_id=user.id)
    assert entry.action == "risk_assessment.submitted"
    assert entry.details["tier"] == "C4" and entry.details["score"] == 72


@pytest.mark.parametrize(
    ("tier", "allowed"),
    [
        (Tier.C1, {"R1"}),
        (Tier.C2, {"R1", "R2"}),
        (Tier.C3, {"R1", "R2", "R3"}),
        (Tier.C4, {"R1", "R2", "R3", "R4"}),
        (Tier.C5, {"R1", "R2", "R3", "R4", "R5"}),
    ],
)
def test_may_lend_only_up_to_the_tier(tier: Tier, allowed: set[str]) -> None:
    """R16: class number ≤ tier number."""
    assert {c.value for c in RiskClass if suitability.may_lend(tier, c)} == allowed
    assert suitability.may_lend(tier.value, "R1")


def test_default_tier_caps() -> None:
    assert [suitability.tier_cap_fen(t) for t in Tier] == [
        5_000_000,
        10_000_000,
        30_000_000,
        100_000_000,
        None,
    ]


def test_require_may_lend_checks_class_and_cap(session: Session) -> None:
    """R16: within the class and the tier's outstanding cap (C2: 100,000.00)."""
    user = make_assessed_investor(session, total=40)
    ok = suitability.require_may_lend(
        session, user.id, risk_class="R2", outstanding_fen=9_000_000, amount_fen=1_000_000
    )
    assert ok.tier == Tier.C2
    with pytest.raises(suitability.RiskClassNotSuitable):
        suitability.require_may_lend(session, user.id, risk_class="R3", outstanding_fen=0, amount_fen=10_000)
    with pytest.raises(suitability.TierCapExceeded) as refused:
        suitability.require_may_lend(
            session, user.id, risk_class="R1", outstanding_fen=9_000_000, amount_fen=1_000_001
        )
    assert refused.value.details["cap"] == "100000.00"


def test_c5_has_no_cap(session: Session) -> None:
    user = make_assessed_investor(session, total=100)
    suitability.require_may_lend(session, user.id, risk_class="R5", outstanding_fen=10**12, amount_fen=10**12)

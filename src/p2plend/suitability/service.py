"""Investor suitability (投资者适当性): take the questionnaire, hold a tier, check lending against it.

A lender needs a valid assessment to bid, auto-bid or buy a transfer (R15), and may only
lend into loans whose risk class number is at most their tier number, within the tier's
outstanding cap (R16). An assessment is valid ``settings.risk_assessment_valid_months``
months from its business date: taken on 2026-11-28 with 12 months, it counts through
2027-11-27. Every assessment is kept (append-only history); the latest one counts.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.config import get_settings
from p2plend.errors import InvalidInput
from p2plend.money import yuan_str
from p2plend.suitability.errors import (
    RiskAssessmentExpired,
    RiskAssessmentRequired,
    RiskClassNotSuitable,
    TierCapExceeded,
)
from p2plend.suitability.models import RiskAssessment
from p2plend.suitability.questionnaire import (
    TIER_FLOORS,
    VERSION,
    Option,
    Question,
    RiskClass,
    Tier,
    answer_problems,
    questions,
    score,
    tier_for,
)

__all__ = [
    "TIER_FLOORS",
    "Assessment",
    "Option",
    "Question",
    "RiskAssessmentExpired",
    "RiskAssessmentRequired",
    "RiskClass",
    "RiskClassNotSuitable",
    "Tier",
    "TierCapExceeded",
    "assessment_history",
    "current_assessment",
    "latest_assessment",
    "may_lend",
    "normalise_locale",
    "questionnaire",
    "require_may_lend",
    "require_valid_assessment",
    "submit_assessment",
    "tier_cap_fen",
    "valid_until",
]


class UnsupportedLocale(InvalidInput):
    code = "unsupported_locale"


@dataclass(frozen=True, slots=True)
class Assessment:
    """One risk assessment (风险测评结果)."""

    id: int
    user_id: int
    tier: Tier
    score: int
    questionnaire_version: str
    answers: dict[str, str]
    assessed_at: datetime
    assessed_on: date
    valid_until: date  # the last business date it counts

    def is_valid_on(self, day: date) -> bool:
        return day <= self.valid_until


def questionnaire(locale: str) -> list[Question]:
    """The questions and options in ``locale`` (``zh`` or ``en``, regional variants accepted)."""
    return questions(normalise_locale(locale))


def submit_assessment(session: Session, user_id: int, answers: dict[str, str]) -> Assessment:
    """Score a completed questionnaire and record the result, valid from today's business date.

    Every question must be answered with one of its options; otherwise ``invalid_input``
    whose details name the first question at fault and list every problem.
    """
    problems = answer_problems(answers)
    if problems:
        first = next(iter(problems))
        raise InvalidInput(
            f"Question {first!r}: {problems[first].replace('_', ' ')}.",
            details={"question": first, "problems": problems},
        )
    total = score(answers)
    tier = tier_for(total, answers)
    today = clock.today()
    row = RiskAssessment(
        user_id=user_id,
        questionnaire_version=VERSION,
        answers=json.dumps(answers, sort_keys=True, separators=(",", ":")),
        score=total,
        tier=tier.value,
        assessed_at=clock.now(),
        assessed_on=today,
        valid_until=valid_until(today),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor_id=user_id,
        action="risk_assessment.submitted",
        object_type="user",
        object_id=user_id,
        details={"assessment_id": row.id, "tier": tier.value, "score": total, "version": VERSION},
    )
    return _view(row)


def valid_until(assessed_on: date) -> date:
    """The last day an assessment taken on ``assessed_on`` counts (month-end clamped)."""
    months = get_settings().risk_assessment_valid_months
    return assessed_on + relativedelta(months=months) - timedelta(days=1)


def latest_assessment(session: Session, user_id: int) -> Assessment | None:
    """The user's latest assessment, expired or not."""
    row = session.scalars(
        select(RiskAssessment)
        .where(RiskAssessment.user_id == user_id)
        .order_by(RiskAssessment.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else _view(row)


def current_assessment(session: Session, user_id: int) -> Assessment | None:
    """The assessment that counts today: the latest, unless it has expired."""
    latest = latest_assessment(session, user_id)
    if latest is None or not latest.is_valid_on(clock.today()):
        return None
    return latest


def assessment_history(session: Session, user_id: int, *, limit: int = 20) -> list[Assessment]:
    """Every assessment the user took, newest first."""
    rows = session.scalars(
        select(RiskAssessment)
        .where(RiskAssessment.user_id == user_id)
        .order_by(RiskAssessment.id.desc())
        .limit(max(1, min(limit, 100)))
    )
    return [_view(row) for row in rows]


def require_valid_assessment(session: Session, user_id: int) -> Assessment:
    """R15: the lender's valid assessment, or ``risk_assessment_required`` / ``risk_assessment_expired``."""
    return _valid(user_id, latest_assessment(session, user_id))


def latest_assessments(session: Session, user_ids: Sequence[int]) -> dict[int, Assessment]:
    """Each user's latest assessment, expired or not; users who never took one are absent."""
    latest_ids = (
        select(func.max(RiskAssessment.id))
        .where(RiskAssessment.user_id.in_(user_ids))
        .group_by(RiskAssessment.user_id)
    )
    rows = session.scalars(select(RiskAssessment).where(RiskAssessment.id.in_(latest_ids)))
    return {row.user_id: _view(row) for row in rows}


def _valid(user_id: int, latest: Assessment | None) -> Assessment:
    if latest is None:
        raise RiskAssessmentRequired(
            "Take the risk tolerance assessment before lending.", details={"user_id": user_id}
        )
    if not latest.is_valid_on(clock.today()):
        raise RiskAssessmentExpired(
            "Your risk tolerance assessment has expired; take it again before lending.",
            details={"valid_until": latest.valid_until.isoformat()},
        )
    return latest


def tier_cap_fen(tier: Tier | str) -> int | None:
    """The most a lender of ``tier`` may have outstanding, in fen; None: no cap (C5 by default)."""
    return get_settings().risk_tier_caps_fen[Tier(tier).value]


def may_lend(tier: Tier | str, risk_class: RiskClass | str) -> bool:
    """R16: a lender of tier Cn may lend into loans of class R1..Rn."""
    return RiskClass(risk_class).number <= Tier(tier).number


def require_may_lend(
    session: Session, user_id: int, *, risk_class: RiskClass | str, outstanding_fen: int, amount_fen: int
) -> Assessment:
    """R15 + R16 for one new commitment of ``amount_fen`` into a loan of ``risk_class``.

    ``outstanding_fen`` is what the lender already has at stake (holdings' principal plus
    frozen bids): the caller, who owns those tables, computes it in the same transaction.
    """
    return check_may_lend(
        user_id,
        latest_assessment(session, user_id),
        risk_class=risk_class,
        outstanding_fen=outstanding_fen,
        amount_fen=amount_fen,
    )


def check_may_lend(
    user_id: int,
    latest: Assessment | None,
    *,
    risk_class: RiskClass | str,
    outstanding_fen: int,
    amount_fen: int,
) -> Assessment:
    """``require_may_lend`` on an assessment the caller already read (``latest_assessments``)."""
    assessment = _valid(user_id, latest)
    if not may_lend(assessment.tier, risk_class):
        raise RiskClassNotSuitable(
            f"Your tier {assessment.tier.value} may not lend into {RiskClass(risk_class).value} loans.",
            details={"tier": assessment.tier.value, "risk_class": RiskClass(risk_class).value},
        )
    cap = tier_cap_fen(assessment.tier)
    if cap is not None and outstanding_fen + amount_fen > cap:
        raise TierCapExceeded(
            f"Tier {assessment.tier.value} may have at most {yuan_str(cap)} yuan outstanding.",
            details={
                "tier": assessment.tier.value,
                "cap": yuan_str(cap),
                "outstanding": yuan_str(outstanding_fen),
                "amount": yuan_str(amount_fen),
            },
        )
    return assessment


def normalise_locale(locale: str) -> str:
    """``zh``, ``zh-CN`` → ``zh``; ``en``, ``en_US`` → ``en``; anything else is refused."""
    language = locale.strip().replace("_", "-").split("-")[0].lower()
    if language not in ("zh", "en"):
        raise UnsupportedLocale(f"Locale {locale!r} is not supported.", details={"supported": ["zh", "en"]})
    return language


def _view(row: RiskAssessment) -> Assessment:
    answers: Any = json.loads(row.answers)
    return Assessment(
        id=row.id,
        user_id=row.user_id,
        tier=Tier(row.tier),
        score=row.score,
        questionnaire_version=row.questionnaire_version,
        answers=answers,
        assessed_at=row.assessed_at,
        assessed_on=row.assessed_on,
        valid_until=row.valid_until,
    )

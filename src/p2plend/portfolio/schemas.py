"""API shapes of 分散投资 and 为您推荐: portfolio plans, concentration, recommendations.

Money is a two-decimal yuan string (``money.yuan_str``), rates and shares are decimal strings
(``"0.08"`` is 8 %), never JSON numbers. :func:`read_plan` and :func:`read_preference` check
what a person or a client typed (API, pages and CLI alike); every refusal names the field.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from p2plend.errors import DomainError
from p2plend.marketplace.schemas import ListingSummary, rate_text
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str
from p2plend.portfolio import recommend
from p2plend.portfolio import service as portfolio

RateText = Annotated[str, Field(examples=["0.08"], description="A decimal fraction: 0.08 is 8 %.")]
ShareText = Annotated[str, Field(examples=["0.2500"], description="A share of the total: 0.25 is 25 %.")]

_RATE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]{1,6})?$")  # what Numeric(9, 6) keeps exactly

OUTCOME_DESCRIPTION = (
    "placed; or why no bid: risk_class_not_suitable (above my tier, R16), own_loan, "
    "investor_cap_reached (my room under the listing's per-investor cap is below its minimum bid), "
    "bid_below_minimum (the plan's most per loan is below the listing's minimum bid), "
    "amount_used_up (the plan's amount went to other listings), or the marketplace's own refusal code"
)
UNPLACED_DESCRIPTION = (
    "null when everything was placed; risk_tier_cap (my tier's outstanding cap left less room, R16); "
    "listings_full (the matching listings could take no more)"
)


def read_rate(field: str, text: str, error: type[DomainError]) -> Decimal:
    """A yearly rate typed as a decimal fraction (at most 6 decimals): ``"0.08"`` is 8 %."""
    if not _RATE.fullmatch(text.strip()):
        raise error('A rate is a decimal such as "0.08" (8 %), at most 6 decimals.', details={"field": field})
    return Decimal(text.strip())


def read_plan(*, amount: str, min_rate: str, max_per_loan: str, grades: Sequence[str]) -> portfolio.PlanTerms:
    """A plan as typed; ``portfolio.check_terms`` then checks how its terms fit together."""
    fen = {}
    for field, text in (("amount", amount), ("max_per_loan", max_per_loan)):
        try:
            fen[field] = parse_amount(text.strip())
        except DomainError as exc:
            raise portfolio.InvalidPlan(exc.message, details={"field": field}) from exc
    rate = read_rate("min_rate", min_rate or "0", portfolio.InvalidPlan)
    return portfolio.check_terms(
        amount=fen["amount"], min_rate=rate, max_per_loan=fen["max_per_loan"], grades=list(grades)
    )


def read_preference(
    *,
    term_min: int | None = None,
    term_max: int | None = None,
    grades: Sequence[str] = (),
    rate_min: str | None = None,
    rate_max: str | None = None,
    methods: Sequence[str] = (),
) -> recommend.Preference:
    """An explicit preference as typed (rates as decimal strings; blanks mean "any")."""
    low = read_rate("rate_min", rate_min, recommend.InvalidPreference) if rate_min else None
    high = read_rate("rate_max", rate_max, recommend.InvalidPreference) if rate_max else None
    return recommend.check_preference(
        term_min=term_min, term_max=term_max, grades=grades, rate_min=low, rate_max=high, methods=methods
    )


# --- portfolio plans -----------------------------------------------------------------------------


class PortfolioPlanRequest(BaseModel):
    """分散投资: spread ``amount`` over the open listings of ``grades`` at ``min_rate`` or more,
    at most ``max_per_loan`` on each, now, as ordinary bids."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"amount": "5000.00", "min_rate": "0.08", "max_per_loan": "1000.00", "grades": ["A", "B"]}
            ]
        },
    )

    amount: YuanText = Field(description="Yuan: at least 100.00, in steps of 100.00")
    min_rate: str = Field(default="0", description='The lowest yearly rate taken, a decimal: "0.08" is 8 %')
    max_per_loan: YuanText = Field(
        description="Yuan: the most on any one listing, 100.00 or more in steps of 100.00"
    )
    grades: list[str] = Field(description="Credit grades taken: AA, A, B, C, D, E, HR", max_length=7)


class PlanLineOut(BaseModel):
    loan_id: int
    title: str
    grade: str
    annual_rate: RateText
    term_months: int | None
    term_days: int | None
    method: str
    amount: Yuan = Field(description="The bid placed; 0.00 when none was")
    bid_id: int | None
    outcome: str = Field(description=OUTCOME_DESCRIPTION)

    @classmethod
    def of(cls, line: portfolio.PlanLine) -> "PlanLineOut":
        return cls(
            loan_id=line.loan_id,
            title=line.title,
            grade=line.grade,
            annual_rate=rate_text(line.annual_rate),
            term_months=line.term_months,
            term_days=line.term_days,
            method=line.method,
            amount=yuan_str(line.amount),
            bid_id=line.bid_id,
            outcome=line.outcome,
        )


class PortfolioPlanOut(BaseModel):
    id: int
    amount: Yuan
    min_rate: RateText
    max_per_loan: Yuan
    grades: list[str]
    placed: Yuan = Field(description="The sum of the bids the plan placed (frozen in my sub-account)")
    unplaced: Yuan = Field(description="amount − placed: stays available")
    unplaced_reason: str | None = Field(description=UNPLACED_DESCRIPTION)
    status: str = Field(description="complete (all placed) or partial")
    matching_listings: int = Field(description="Open listings of the plan's grades at its rate or more")
    bids: int
    created_at: datetime
    lines: list[PlanLineOut] = Field(description="One per matching listing: placed first, largest first")

    @classmethod
    def of(cls, plan: portfolio.PlanView) -> "PortfolioPlanOut":
        return cls(
            id=plan.id,
            amount=yuan_str(plan.terms.amount),
            min_rate=rate_text(plan.terms.min_rate),
            max_per_loan=yuan_str(plan.terms.max_per_loan),
            grades=list(plan.terms.grades),
            placed=yuan_str(plan.placed),
            unplaced=yuan_str(plan.unplaced),
            unplaced_reason=plan.unplaced_reason,
            status=plan.status,
            matching_listings=plan.matching_listings,
            bids=plan.bids,
            created_at=plan.created_at,
            lines=[PlanLineOut.of(line) for line in plan.lines],
        )


# --- concentration -------------------------------------------------------------------------------


def share_text(share: Decimal) -> str:
    return f"{share:.4f}"


class LoanExposureOut(BaseModel):
    loan_id: int
    title: str
    grade: str
    borrower_name_masked: str = Field(examples=["陈**"])
    amount: Yuan
    share: ShareText

    @classmethod
    def of(cls, e: portfolio.LoanExposure) -> "LoanExposureOut":
        return cls(
            loan_id=e.loan_id,
            title=e.title,
            grade=e.grade,
            borrower_name_masked=e.borrower_name_masked,
            amount=yuan_str(e.amount),
            share=share_text(e.share),
        )


class GradeExposureOut(BaseModel):
    grade: str
    loans: int
    amount: Yuan
    share: ShareText

    @classmethod
    def of(cls, e: portfolio.GradeExposure) -> "GradeExposureOut":
        return cls(grade=e.grade, loans=e.loans, amount=yuan_str(e.amount), share=share_text(e.share))


class BorrowerExposureOut(BaseModel):
    """One borrower, named as the loans' disclosure names them (masked, R47), with my loans to them."""

    borrower_name_masked: str = Field(examples=["陈**"])
    loan_ids: list[int]
    amount: Yuan
    share: ShareText
    above_threshold: bool

    @classmethod
    def of(cls, e: portfolio.BorrowerExposure) -> "BorrowerExposureOut":
        return cls(
            borrower_name_masked=e.borrower_name_masked,
            loan_ids=list(e.loan_ids),
            amount=yuan_str(e.amount),
            share=share_text(e.share),
            above_threshold=e.above_threshold,
        )


class ConcentrationOut(BaseModel):
    """集中度: my outstanding principal by loan, grade and borrower."""

    total_outstanding: Yuan = Field(description="待收本金 of my live claims")
    threshold: ShareText = Field(description="A borrower above this share of my outstanding is warned about")
    largest_loan: LoanExposureOut | None
    largest_borrower: BorrowerExposureOut | None
    by_grade: list[GradeExposureOut] = Field(description="Best grade first; only grades I hold")
    by_borrower: list[BorrowerExposureOut] = Field(description="Largest first")
    warnings: list[BorrowerExposureOut] = Field(description="The borrowers above the threshold")

    @classmethod
    def of(cls, c: portfolio.Concentration) -> "ConcentrationOut":
        return cls(
            total_outstanding=yuan_str(c.total),
            threshold=share_text(c.threshold),
            largest_loan=LoanExposureOut.of(c.largest_loan) if c.largest_loan else None,
            largest_borrower=BorrowerExposureOut.of(c.largest_borrower) if c.largest_borrower else None,
            by_grade=[GradeExposureOut.of(e) for e in c.by_grade],
            by_borrower=[BorrowerExposureOut.of(e) for e in c.by_borrower],
            warnings=[BorrowerExposureOut.of(e) for e in c.warnings],
        )


# --- recommendations -----------------------------------------------------------------------------


class PreferenceOut(BaseModel):
    source: str = Field(description="explicit (this request's) or auto_bid (my auto-bid rule)")
    term_min: int | None
    term_max: int | None
    grades: list[str]
    rate_min: RateText | None
    rate_max: RateText | None
    methods: list[str]

    @classmethod
    def of(cls, p: recommend.Preference) -> "PreferenceOut":
        return cls(
            source=p.source,
            term_min=p.term_min,
            term_max=p.term_max,
            grades=list(p.grades),
            rate_min=rate_text(p.rate_min) if p.rate_min is not None else None,
            rate_max=rate_text(p.rate_max) if p.rate_max is not None else None,
            methods=list(p.methods),
        )


class RecommendationOut(BaseModel):
    listing: ListingSummary
    score: int = Field(description="risk_points + history_points + preference_points (0–100)")
    risk_points: int = Field(description="Up to 30: the loan's class against my tier")
    history_points: int = Field(description="Up to 45: grade, term and method of what I chose before")
    preference_points: int = Field(description="Up to 25: the share of my stated preference it meets")
    reason: str = Field(description="preference, history or risk: what the explanation rests on")
    explanation_zh: str = Field(examples=["符合您 12–24 个月、A–B 级的偏好"])
    explanation_en: str = Field(examples=["matches your 12–24 month, grade A–B preference"])

    @classmethod
    def of(cls, r: recommend.Recommendation) -> "RecommendationOut":
        return cls(
            listing=ListingSummary.of(r.loan),
            score=r.score,
            risk_points=r.risk_points,
            history_points=r.history_points,
            preference_points=r.preference_points,
            reason=r.reason,
            explanation_zh=r.explanation_zh,
            explanation_en=r.explanation_en,
        )


class RecommendationsOut(BaseModel):
    """为您推荐: open listings I may lend to, best first (ties: lower listing id)."""

    tier: str = Field(description="My risk tier C1–C5")
    preference: PreferenceOut | None = Field(description="The preference that counted, if any")
    items: list[RecommendationOut]

    @classmethod
    def of(cls, feed: recommend.Feed) -> "RecommendationsOut":
        return cls(
            tier=feed.tier.value,
            preference=PreferenceOut.of(feed.preference) if feed.preference else None,
            items=[RecommendationOut.of(r) for r in feed.items],
        )

"""分散投资 and 为您推荐 API: portfolio plans, my concentration, my recommended listings.

Investors (``invest:self``) only, each on their own: ``POST /me/portfolio-plans`` spreads an
amount over the matching open listings now, as ordinary bids (with an Idempotency-Key, like a
bid); ``GET /me/portfolio-plans`` and ``GET /me/portfolio-plans/{id}`` show what each plan
placed and what it could not; ``GET /me/portfolio/concentration`` and ``GET /me/recommendations``
read.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse

from p2plend.api.deps import DbSession, IdempotencyKey, require
from p2plend.identity import service as identity
from p2plend.portfolio import recommend
from p2plend.portfolio import service as portfolio
from p2plend.portfolio.schemas import (
    ConcentrationOut,
    PortfolioPlanOut,
    PortfolioPlanRequest,
    RecommendationsOut,
    read_plan,
    read_preference,
)

router = APIRouter(prefix="/api/v1", tags=["portfolio"])

MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
Investor = Annotated[identity.AuthContext, Depends(require(identity.Permission.INVEST_SELF))]
PlanId = Annotated[int, Path(ge=1, le=MAX_ID)]
Months = Annotated[int | None, Query(ge=1, le=recommend.MAX_TERM_MONTHS)]


@router.post(
    "/me/portfolio-plans",
    status_code=status.HTTP_201_CREATED,
    response_model=PortfolioPlanOut,
    summary="分散投资: spread an amount over many listings now, as ordinary bids",
)
def create_plan(
    *, body: PortfolioPlanRequest, ctx: Investor, session: DbSession, idem: IdempotencyKey
) -> JSONResponse:
    """Matching listings: open, of one of `grades`, at `min_rate` or more, that I may lend to
    (my tier, R16; not my own loan). The amount goes to as many of them as possible, then as
    evenly as the bid steps allow (ties: higher rate, then lower id), at most `max_per_loan`,
    what remains and my room under each listing's per-investor cap on each — every bid a
    normal bid, all in one transaction with the plan. The answer lists each bid placed and
    each matching listing left out with the reason. Refusals (nothing placed):
    `invalid_portfolio_plan` (`details.field`), `real_name_required`, `custody_account_required`,
    `risk_assessment_required`, `risk_assessment_expired`, `insufficient_funds` (less available
    than the amount), `portfolio_plan_unplaceable` (no matching listing could take a bid;
    `details.reasons` counts why), `idempotency_key_reused`."""
    replay = idem.replay(session, user_id=ctx.user_id, operation="portfolio_plan.create")
    if replay is not None:
        return replay
    terms = read_plan(
        amount=body.amount, min_rate=body.min_rate, max_per_loan=body.max_per_loan, grades=body.grades
    )
    plan = portfolio.execute_plan(session, ctx.user_id, terms)
    return idem.respond(
        session,
        user_id=ctx.user_id,
        operation="portfolio_plan.create",
        payload=PortfolioPlanOut.of(plan),
        status=201,
    )


@router.get("/me/portfolio-plans", summary="My portfolio plans (分散投资), newest first")
def my_plans(
    ctx: Investor, session: DbSession, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[PortfolioPlanOut]:
    return [PortfolioPlanOut.of(plan) for plan in portfolio.plans_of(session, ctx.user_id, limit=limit)]


@router.get("/me/portfolio-plans/{plan_id}", summary="One of my portfolio plans with every line")
def my_plan(plan_id: PlanId, ctx: Investor, session: DbSession) -> PortfolioPlanOut:
    """Refusal: `portfolio_plan_not_found` (none, or another investor's)."""
    return PortfolioPlanOut.of(portfolio.plan_of(session, ctx.user_id, plan_id))


@router.get(
    "/me/portfolio/concentration",
    summary="My concentration (集中度): largest exposure, by grade, by borrower, warnings",
)
def my_concentration(ctx: Investor, session: DbSession) -> ConcentrationOut:
    """From my live claims' outstanding principal. A borrower whose share is above
    `threshold` (`P2PLEND_PORTFOLIO_BORROWER_SHARE_WARNING`, default 0.20) is in `warnings`.
    Borrowers are named as the loans' disclosure names them, masked (R47)."""
    return ConcentrationOut.of(portfolio.concentration(session, ctx.user_id))


@router.get("/me/recommendations", summary="为您推荐: open listings I may lend to, ranked for me")
def my_recommendations(
    ctx: Investor,
    session: DbSession,
    *,
    term_min: Months = None,
    term_max: Months = None,
    grades: Annotated[list[str] | None, Query(description="Preferred grades (repeat the parameter)")] = None,
    rate_min: Annotated[str | None, Query(max_length=12, description='Lowest rate, "0.08" is 8 %')] = None,
    rate_max: Annotated[str | None, Query(max_length=12, description="Highest rate")] = None,
    methods: Annotated[list[str] | None, Query(description="Preferred repayment methods")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RecommendationsOut:
    """Only listings I may bid on now (open, my tier, not my own, room under the per-investor
    cap). Score = risk (up to 30: the class against my tier) + history (up to 45: grade, term
    and method of what I chose before, by amount) + preference (up to 25: the share of the
    preference met — the one given here, else my auto-bid rule). Best first; ties by listing
    id. Each item explains itself in one line, Chinese and English. Refusals:
    `risk_assessment_required`, `risk_assessment_expired`, `invalid_preference`."""
    explicit = read_preference(
        term_min=term_min,
        term_max=term_max,
        grades=grades or (),
        rate_min=rate_min,
        rate_max=rate_max,
        methods=methods or (),
    )
    feed = recommend.recommendations(session, ctx.user_id, preference=explicit, limit=limit)
    return RecommendationsOut.of(feed)

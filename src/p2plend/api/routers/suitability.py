"""Investor suitability API: the questionnaire, taking it, and my current result (R15, R16)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from p2plend import clock
from p2plend.api.deps import CurrentUser, DbSession, require
from p2plend.identity import service as identity
from p2plend.suitability import service as suitability
from p2plend.suitability.schemas import (
    AssessmentResponse,
    MyAssessmentResponse,
    QuestionnaireResponse,
    SubmitAssessmentRequest,
)

router = APIRouter(prefix="/api/v1", tags=["suitability"])

Investor = Annotated[identity.AuthContext, Depends(require(identity.Permission.INVEST_SELF))]


@router.get(
    "/risk-assessment/questionnaire", summary="The risk tolerance questionnaire (风险承受能力评估问卷)"
)
def get_questionnaire(
    locale: Annotated[str, Query(max_length=16, description="`zh` (default) or `en`.")] = "zh",
) -> QuestionnaireResponse:
    """Refusals: `unsupported_locale`."""
    questions = suitability.questionnaire(locale)
    return QuestionnaireResponse.of(suitability.normalise_locale(locale), questions)


@router.post(
    "/me/risk-assessment",
    status_code=status.HTTP_201_CREATED,
    summary="Take the risk tolerance assessment",
)
def submit_assessment(body: SubmitAssessmentRequest, ctx: Investor, session: DbSession) -> AssessmentResponse:
    """Every question answered with one of its options; the result is valid 12 months.
    Refusals: `invalid_input` (details name the question)."""
    assessment = suitability.submit_assessment(session, ctx.user_id, body.answers)
    return AssessmentResponse.of(assessment, today=clock.today(), locale=ctx.locale)


@router.get("/me/risk-assessment", summary="My latest risk assessment and whether it is still valid")
def my_assessment(ctx: CurrentUser, session: DbSession) -> MyAssessmentResponse:
    latest = suitability.latest_assessment(session, ctx.user_id)
    if latest is None:
        return MyAssessmentResponse(status="none", assessment=None)
    today = clock.today()
    return MyAssessmentResponse(
        status="valid" if latest.is_valid_on(today) else "expired",
        assessment=AssessmentResponse.of(latest, today=today, locale=ctx.locale),
    )

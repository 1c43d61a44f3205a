"""Auto-bid API (自动投标), DOMAIN.md §10.

Investors (``invest:self``): the rule with its status and queue place, setting it, signing the
authorisation (自动投标授权书), switching it on and off, the decisions it made (bid or skip,
with the reason), and why it has no turn on a given listing.

Staff: the queue (``staff:applications:review`` or ``staff:reports:read``), and running the
queue again for an open listing (``staff:applications:review``, who publish listings; the
queue also runs by itself when a listing is published).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession, require, require_any
from p2plend.api.routers.marketplace import LoanId, public_listing
from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidDecision
from p2plend.autobid.schemas import (
    AllocationOut,
    AuthorisationOut,
    AutobidOut,
    DecisionOut,
    ExplainOut,
    QueueOut,
    RuleOut,
    RuleRequest,
)
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace

router = APIRouter(prefix="/api/v1", tags=["autobid"])

P = identity.Permission
READ_PERMISSIONS = (P.STAFF_APPLICATIONS_REVIEW, P.STAFF_REPORTS_READ)
RUN_PERMISSION = P.STAFF_APPLICATIONS_REVIEW

Investor = Annotated[identity.AuthContext, Depends(require(P.INVEST_SELF))]
QueueReader = Annotated[identity.AuthContext, Depends(require_any(*READ_PERMISSIONS))]
ListingManager = Annotated[identity.AuthContext, Depends(require(RUN_PERMISSION))]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, newest first")]


def authorisation_out(session: Session, investor_id: int) -> AuthorisationOut:
    signed = autobid.authorisation_of(session, investor_id)
    return AuthorisationOut(
        version=autobid.AUTHORISATION_VERSION,
        text=autobid.AUTHORISATION_TEXT,
        signed=signed is not None,
        signed_at=None if signed is None else signed.signed_at,
    )


def decisions_out(session: Session, rows: list[AutobidDecision]) -> list[DecisionOut]:
    titles = {i: marketplace.get_loan(session, i).title for i in {r.loan_id for r in rows}}
    return [DecisionOut.of(row, titles[row.loan_id]) for row in rows]


# --- the investor ------------------------------------------------------------------------------


@router.get("/me/autobid", summary="My auto-bid (自动投标): the rule, its status and my place in the queue")
def my_autobid(ctx: Investor, session: DbSession) -> AutobidOut:
    view = autobid.rule_of(session, ctx.user_id)
    return AutobidOut(
        rule=None if view is None else RuleOut.of(view), authorisation=authorisation_out(session, ctx.user_id)
    )


@router.put("/me/autobid", summary="Set my auto-bid rule")
def set_rule(body: RuleRequest, ctx: Investor, session: DbSession) -> RuleOut:
    """Editing a rule that is on sends me to the back of the queue (the queue is by the time a
    rule was last enabled or edited). Refusals: `invalid_autobid_rule` (`details.field`: rates
    are fractions 0–1 with min ≤ max; terms 1–360 months with min ≤ max; at least one known
    grade, method and product kind; a positive fixed amount or a share in (0, 1]; reserve ≥ 0;
    total cap positive or null; valid-until today or later)."""
    return RuleOut.of(autobid.save_rule(session, ctx.user_id, body.terms(), actor_id=ctx.user_id))


@router.post("/me/autobid/authorisation", summary="Sign the auto-bid authorisation (自动投标授权书)")
def sign(ctx: Investor, session: DbSession) -> AuthorisationOut:
    """Signing the current version once is enough; signing again changes nothing. Audited."""
    autobid.sign_authorisation(session, ctx.user_id)
    return authorisation_out(session, ctx.user_id)


@router.post("/me/autobid/enable", summary="Switch auto-bid on: join the back of the queue")
def enable(ctx: Investor, session: DbSession) -> RuleOut:
    """Refusals: `autobid_rule_not_found`, `autobid_authorisation_required` (sign it first),
    `autobid_rule_expired` (set a later valid-until), `risk_assessment_required`,
    `risk_assessment_expired` (R15)."""
    return RuleOut.of(autobid.enable(session, ctx.user_id, actor_id=ctx.user_id))


@router.post("/me/autobid/disable", summary="Switch auto-bid off")
def disable(ctx: Investor, session: DbSession) -> RuleOut:
    """The rule is kept; bids already made stand. Refusal: `autobid_rule_not_found`."""
    return RuleOut.of(autobid.disable(session, ctx.user_id, actor_id=ctx.user_id))


@router.get("/me/autobid/decisions", summary="What my rule did: each bid and each skip with its reason")
def my_decisions(ctx: Investor, session: DbSession, limit: Limit = 100) -> list[DecisionOut]:
    return decisions_out(session, autobid.decisions(session, investor_id=ctx.user_id, limit=limit))


@router.get(
    "/me/autobid/explain/{loan_id}", summary="Why my rule has no turn on this listing (it does not match)"
)
def explain(loan_id: LoanId, ctx: Investor, session: DbSession) -> ExplainOut:
    """Refusal: `loan_not_found` (never published)."""
    public_listing(session, loan_id)
    return ExplainOut(loan_id=loan_id, reasons=autobid.explain(session, ctx.user_id, loan_id))


# --- staff -------------------------------------------------------------------------------------


@router.get(
    "/staff/autobid",
    summary="The auto-bid queue: rules on, expired, off, and the first in line",
    tags=["staff"],
)
def staff_queue(
    ctx: QueueReader,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500, description="How many of the first in line")] = 50,
) -> QueueOut:
    return QueueOut.of(autobid.queue(session, limit=limit))


@router.post(
    "/staff/listings/{loan_id}/autobid",
    summary="Run the auto-bid queue for an open listing again",
    tags=["staff"],
)
def staff_run(loan_id: LoanId, ctx: ListingManager, session: DbSession) -> AllocationOut:
    """For rules switched on after the listing opened: investors already auto-bid on it are not
    served again. Audited. Refusals: `loan_not_found`, `listing_not_open`."""
    return AllocationOut.of(autobid.allocate(session, loan_id, actor_id=ctx.user_id))


@router.get("/staff/listings/{loan_id}/autobid", summary="One listing's auto-bid decisions", tags=["staff"])
def staff_listing_decisions(
    loan_id: LoanId, ctx: QueueReader, session: DbSession, limit: Limit = 500
) -> list[DecisionOut]:
    marketplace.get_loan(session, loan_id)
    return decisions_out(session, autobid.decisions(session, loan_id=loan_id, limit=limit))

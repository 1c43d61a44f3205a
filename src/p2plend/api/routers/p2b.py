"""机构债权 API (P2B / 债权转让模式).

The partner institution (``partner:self``): submit a claim on a loan it made outside the
platform, follow its claims (sold, unsold, next due, repurchase), pay what is due
(Idempotency-Key, as the borrower's repayment). Staff (``staff:applications:review``): the
claims by status and the decision — approve with a grade (the loan is booked in repayment
and the claim offered on the transfer market) or reject with a reason. Every claim carries
``partner_claim: true`` and the warning: a longer credit chain, more risk.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from p2plend.api.deps import DbSession, IdempotencyKey, require
from p2plend.api.routers.custody import AppCustodian
from p2plend.api.routers.loans import _result
from p2plend.api.routers.marketplace import scoped
from p2plend.identity import service as identity
from p2plend.p2b import service as p2b
from p2plend.p2b.models import PartnerClaim
from p2plend.p2b.schemas import ClaimOut, ClaimRequest, DecisionRequest, OfferRequest
from p2plend.servicing.schemas import RepayRequest
from p2plend.transfers import service as transfers

router = APIRouter(prefix="/api/v1", tags=["p2b"])
P = identity.Permission
Partner = Annotated[identity.AuthContext, Depends(require(P.PARTNER_SELF))]
Reviewer = Annotated[identity.AuthContext, Depends(require(P.STAFF_APPLICATIONS_REVIEW))]
ClaimId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _mine(session: DbSession, ctx: identity.AuthContext, claim_id: int) -> PartnerClaim:
    claim = p2b.get_claim(session, claim_id)
    if claim.institution_id != ctx.user_id:
        raise p2b.PartnerClaimNotFound("No such claim of yours.", details={"claim_id": claim_id})
    return claim


@router.post("/partner/claims", status_code=201, summary="Submit a partner-originated claim (机构债权)")
def submit(body: ClaimRequest, ctx: Partner, session: DbSession) -> ClaimOut:
    """Refusals: `not_a_partner_institution`, `invalid_partner_claim` (`details.field`: amount
    above the R4/R5 cap for the debtor's kind, method, term 2–36 months, purpose R7, discount
    0–0.05 …), `cost_above_legal_cap` (R29), `not_a_guarantor`, `invalid_amount`."""
    claim = p2b.submit_claim(session, ctx.user_id, body.to_input())
    return ClaimOut.of(p2b.view(session, claim))


@router.get("/partner/claims", summary="My claims, newest first")
def my_claims(ctx: Partner, session: DbSession, limit: Limit = 200) -> list[ClaimOut]:
    return [
        ClaimOut.of(p2b.view(session, c))
        for c in p2b.claims(session, institution_id=ctx.user_id, limit=limit)
    ]


@router.get("/partner/claims/{claim_id}", summary="One of my claims")
def my_claim(claim_id: ClaimId, ctx: Partner, session: DbSession) -> ClaimOut:
    return ClaimOut.of(p2b.view(session, _mine(session, ctx, claim_id)))


@router.post("/partner/claims/{claim_id}/repayments", status_code=201, summary="Pay what is due on my claim")
def repay(
    *,
    claim_id: ClaimId,
    body: RepayRequest,
    ctx: Partner,
    session: DbSession,
    custodian: AppCustodian,
    idem: IdempotencyKey,
) -> JSONResponse:
    """The institution pays in as the loan's borrower of record; split among the holders (its
    own unsold part included). Refusals: `partner_claim_not_found`, `partner_claim_not_booked`,
    `nothing_due`, `repayment_exceeds_due`, `insufficient_funds`, `idempotency_key_reused`."""
    request = scoped(idem, f"partner_claim:{claim_id}")
    replay = request.replay(session, user_id=ctx.user_id, operation="partner_claim.repay")
    if replay is not None:
        return replay
    repayment = p2b.repay(
        session, claim_id, institution_id=ctx.user_id, custodian=custodian, amount=body.amount_fen
    )
    return request.respond(
        session,
        user_id=ctx.user_id,
        operation="partner_claim.repay",
        payload=_result(session, repayment),
        status=201,
    )


@router.post(
    "/partner/claims/{claim_id}/offers",
    status_code=201,
    summary="Offer the unsold part of my claim on the transfer market again (重新挂牌)",
)
def offer(claim_id: ClaimId, body: OfferRequest, ctx: Partner, session: DbSession) -> ClaimOut:
    """A listing lasts 3 days and any payment on the loan closes it (R40); this lists what the
    institution still holds again. Refusals: `partner_claim_not_found`, `partner_claim_not_booked`
    (nothing left unsold), `transfer_discount_out_of_range`, `transfer_already_listed`, and the
    market's rules (R38: `transfer_loan_overdue`, `transfer_due_date_too_close`, …)."""
    claim = _mine(session, ctx, claim_id)
    p2b.offer(
        session,
        claim.id,
        institution_id=ctx.user_id,
        discount_rate=transfers.parse_discount(body.discount_rate),
    )
    return ClaimOut.of(p2b.view(session, claim))


@router.get("/staff/partner-claims", summary="Partner claims by status", tags=["staff"])
def staff_claims(
    ctx: Reviewer, session: DbSession, status: str | None = Query(default=None), limit: Limit = 200
) -> list[ClaimOut]:
    return [ClaimOut.of(p2b.view(session, c)) for c in p2b.claims(session, status=status, limit=limit)]


@router.post(
    "/staff/partner-claims/{claim_id}/decision", summary="Approve or reject a partner claim", tags=["staff"]
)
def decide(claim_id: ClaimId, body: DecisionRequest, ctx: Reviewer, session: DbSession) -> ClaimOut:
    """Approve with `grade`: the loan is booked in repayment (no money moves), the schedule
    fixed, the guarantee agreement signed, the claim offered on the transfer market. Reject
    with `reason`. Refusals: `partner_claim_not_found`, `partner_claim_already_decided`,
    `invalid_partner_claim`, `cost_above_legal_cap`. Audited."""
    if body.approve:
        claim = p2b.approve(session, claim_id, officer_id=ctx.user_id, grade=body.grade or "")
    else:
        claim = p2b.reject(session, claim_id, officer_id=ctx.user_id, reason=body.reason or "")
    return ClaimOut.of(p2b.view(session, claim))

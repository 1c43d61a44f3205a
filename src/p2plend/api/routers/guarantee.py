"""Guarantee and compensation API (担保 / 代偿), DOMAIN.md §8.

The guarantee company itself (``guarantee:self``, the signed-in organisation): its terms
and exposure, the loans it guarantees with their overdue position, its compensations.

Staff: the guarantee companies with terms and exposure, and every compensation — reading
with ``staff:risk:manage`` or ``staff:reports:read``; setting a company's terms with
``staff:risk:manage`` (audited). One loan's guarantee (agreement and compensations) also
with ``staff:applications:review``, who read the loan itself.

The platform risk reserve (风险备付金, off by default, R37): its settings, position and covered
loans read as above; opening its account and switching it on or off with
``staff:risk_reserve:manage`` (the administrator), audited.

Compensation itself is the end-of-day batch's ``compensate`` step; nothing here moves money.
"""

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession, require, require_any
from p2plend.api.routers.custody import AppCustodian
from p2plend.api.routers.marketplace import LoanId
from p2plend.guarantee import reserve
from p2plend.guarantee import service as guarantee
from p2plend.guarantee.models import Compensation
from p2plend.guarantee.schemas import (
    CompensationOut,
    GuaranteedLoanOut,
    GuaranteeTermsOut,
    GuaranteeTermsRequest,
    GuarantorOut,
    LoanGuaranteeOut,
    ReserveCoverageOut,
    RiskReserveOpenRequest,
    RiskReserveOut,
    RiskReserveRequest,
    read_reserve_terms,
    read_terms,
)
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace

router = APIRouter(prefix="/api/v1", tags=["guarantee"])

P = identity.Permission
MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
READ_PERMISSIONS = (P.STAFF_RISK_MANAGE, P.STAFF_REPORTS_READ)
MANAGE_PERMISSION = P.STAFF_RISK_MANAGE
LOAN_READ_PERMISSIONS = (*READ_PERMISSIONS, P.STAFF_APPLICATIONS_REVIEW)

GuaranteeCompany = Annotated[identity.AuthContext, Depends(require(P.GUARANTEE_SELF))]
Reader = Annotated[identity.AuthContext, Depends(require_any(*READ_PERMISSIONS))]
TermsKeeper = Annotated[identity.AuthContext, Depends(require(MANAGE_PERMISSION))]
LoanReader = Annotated[identity.AuthContext, Depends(require_any(*LOAN_READ_PERMISSIONS))]
ReserveManager = Annotated[identity.AuthContext, Depends(require(P.STAFF_RISK_RESERVE_MANAGE))]
GuarantorId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, newest first")]


def guarantor_out(session: Session, guarantor_id: int) -> GuarantorOut:
    return GuarantorOut.of(
        identity.profile(session, guarantor_id),
        guarantee.terms_of(session, guarantor_id),
        guarantee.exposure(session, guarantor_id),
    )


def compensations_out(session: Session, rows: Sequence[Compensation]) -> list[CompensationOut]:
    titles = {loan_id: marketplace.get_loan(session, loan_id).title for loan_id in {r.loan_id for r in rows}}
    return [CompensationOut.of(row, titles[row.loan_id]) for row in rows]


def guaranteed_loans(session: Session, guarantor_id: int) -> list[GuaranteedLoanOut]:
    claims = guarantee.claims_of_guarantor(session, guarantor_id)
    return [
        GuaranteedLoanOut.of(agreement, loan, claims.get(loan.id))
        for agreement, loan in guarantee.agreements_of_guarantor(session, guarantor_id)
    ]


# --- the guarantee company itself --------------------------------------------------------------


@router.get("/me/guarantee", summary="My guarantee business (担保业务): my terms and exposure")
def my_guarantee(ctx: GuaranteeCompany, session: DbSession) -> GuarantorOut:
    """Terms as agreed with the platform (the defaults [D] until staff record them), what I
    stand behind, what I have compensated, lacked and recovered."""
    return guarantor_out(session, ctx.user_id)


@router.get(
    "/me/guarantee/agreements",
    summary="The loans I guarantee (担保合同), newest first, with their overdue position",
)
def my_agreements(ctx: GuaranteeCompany, session: DbSession) -> list[GuaranteedLoanOut]:
    return guaranteed_loans(session, ctx.user_id)


@router.get("/me/guarantee/compensations", summary="My compensations (代偿记录), newest first")
def my_compensations(ctx: GuaranteeCompany, session: DbSession, limit: Limit = 200) -> list[CompensationOut]:
    return compensations_out(session, guarantee.compensations(session, guarantor_id=ctx.user_id, limit=limit))


# --- staff -------------------------------------------------------------------------------------


@router.get("/staff/guarantors", summary="Guarantee companies with their terms and exposure", tags=["staff"])
def staff_guarantors(ctx: Reader, session: DbSession) -> list[GuarantorOut]:
    return [guarantor_out(session, terms.guarantor_id) for terms in guarantee.guarantors(session)]


@router.put(
    "/staff/guarantors/{guarantor_id}/terms",
    summary="Set a guarantee company's standing terms (担保合作协议)",
    tags=["staff"],
)
def staff_set_terms(
    guarantor_id: GuarantorId, body: GuaranteeTermsRequest, ctx: TermsKeeper, session: DbSession
) -> GuaranteeTermsOut:
    """Loans listed from now on copy them; agreements already signed keep theirs. Audited.
    Refusals (nothing changed): `not_a_guarantor` (not an organisation with the guarantor
    role and a custody account), `invalid_guarantee_terms` (`details.field` names which:
    coverage is `principal` or `principal_interest`; 1 ≤ trigger_dpd < accelerate_dpd ≤ 3650;
    the fee rate a decimal string in [0, 1) with at most 6 decimals)."""
    guarantee.require_guarantor(session, guarantor_id)
    terms = read_terms(
        coverage=body.coverage,
        trigger_dpd=body.trigger_dpd,
        accelerate_dpd=body.accelerate_dpd,
        fee_rate=body.fee_rate,
    )
    saved = guarantee.set_terms(
        session,
        guarantor_id,
        coverage=terms.coverage,
        trigger_dpd=terms.trigger_dpd,
        accelerate_dpd=terms.accelerate_dpd,
        fee_rate=terms.fee_rate,
        actor_id=ctx.user_id,
    )
    return GuaranteeTermsOut.of(saved)


@router.get("/staff/compensations", summary="Compensations (代偿), newest first", tags=["staff"])
def staff_compensations(
    ctx: Reader,
    session: DbSession,
    guarantor_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this guarantor's")] = None,
    limit: Limit = 200,
) -> list[CompensationOut]:
    rows = guarantee.compensations(session, guarantor_id=guarantor_id, limit=limit)
    return compensations_out(session, rows)


@router.get(
    "/staff/loans/{loan_id}/guarantee",
    summary="One loan's guarantee agreement and its compensations",
    tags=["staff"],
)
def staff_loan_guarantee(loan_id: LoanId, ctx: LoanReader, session: DbSession) -> LoanGuaranteeOut:
    """Refusals: `loan_not_found`, `guarantee_agreement_not_found` (the loan is not guaranteed)."""
    marketplace.get_loan(session, loan_id)
    view = guarantee.loan_guarantee(session, loan_id)
    if view is None:
        raise guarantee.AgreementNotFound(
            "This loan has no guarantee agreement.", details={"loan_id": loan_id}
        )
    return LoanGuaranteeOut.of(view)


# --- the platform risk reserve ---------------------------------------------------------------------


@router.get(
    "/staff/risk-reserve",
    summary="The platform risk reserve (风险备付金): settings and position",
    tags=["staff"],
)
def staff_risk_reserve(ctx: Reader, session: DbSession) -> RiskReserveOut:
    """Off by default. `flagged` is what the compliance report says: on, or still standing
    behind loans it covered while it was on (R37)."""
    return RiskReserveOut.of(reserve.position(session))


@router.post(
    "/staff/risk-reserve/account",
    status_code=201,
    summary="Open the risk reserve's own account and custody sub-account (once)",
    tags=["staff"],
)
def staff_open_risk_reserve(
    body: RiskReserveOpenRequest, ctx: ReserveManager, session: DbSession, custodian: AppCustodian
) -> RiskReserveOut:
    """Under the platform's name and credit code, separate from its fee income; the reserve
    stays off. Refusals: `risk_reserve_already_open` (409), `invalid_phone`, `phone_taken`."""
    reserve.open_account(session, custodian, phone=body.phone, actor_id=ctx.user_id)
    return RiskReserveOut.of(reserve.position(session))


@router.put(
    "/staff/risk-reserve", summary="Switch the risk reserve on or off, and set its terms", tags=["staff"]
)
def staff_configure_risk_reserve(
    body: RiskReserveRequest, ctx: ReserveManager, session: DbSession
) -> RiskReserveOut:
    """Switching it on makes the compliance report flag the platform (R37): the 2016 rules
    forbid an intermediary to guarantee. Loans disbursed from then on without a guarantor are
    covered at their first end-of-day batch. Refusals (nothing changed): `risk_reserve_not_open`,
    `invalid_risk_reserve_terms` (`details.field`)."""
    terms = read_reserve_terms(
        coverage=body.coverage,
        trigger_dpd=body.trigger_dpd,
        accelerate_dpd=body.accelerate_dpd,
        contribution_rate=body.contribution_rate,
    )
    reserve.configure(
        session,
        enabled=body.enabled,
        coverage=terms.coverage,
        trigger_dpd=terms.trigger_dpd,
        accelerate_dpd=terms.accelerate_dpd,
        contribution_rate=terms.fee_rate,
        actor_id=ctx.user_id,
    )
    return RiskReserveOut.of(reserve.position(session))


@router.get("/staff/risk-reserve/coverages", summary="Loans the risk reserve covers", tags=["staff"])
def staff_risk_reserve_coverages(
    ctx: Reader, session: DbSession, limit: Limit = 200
) -> list[ReserveCoverageOut]:
    return [
        ReserveCoverageOut.of(coverage, loan) for coverage, loan in reserve.coverages(session, limit=limit)
    ]

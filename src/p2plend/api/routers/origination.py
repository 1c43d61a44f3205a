"""Origination API (借款申请): products, applications, documents, partner referrals, review.

No Idempotency-Key here: none of these acts moves money (a retried application submit is
refused as a duplicate, R18). Staff endpoints need the staff permission of the act (and so a
confirmed authenticator); reviewers see personal data masked.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from p2plend.api.deps import CurrentUser, DbSession
from p2plend.api.errors import error_responses
from p2plend.config import Settings
from p2plend.errors import InvalidInput, PermissionDenied
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.origination import service as origination
from p2plend.origination.schemas import (
    ApplicationListResponse,
    ApplicationRequest,
    ApplicationResponse,
    BlacklistRequest,
    BlacklistResponse,
    CreateProductRequest,
    DecisionRequest,
    DocumentResponse,
    FieldVerificationRequest,
    FieldVerificationResponse,
    LprRequest,
    LprResponse,
    NewVersionRequest,
    OfflineApplicationRequest,
    ProductResponse,
    ReferralRequest,
    ResubmitRequest,
    StaffApplicationResponse,
    StaffApplicationSummary,
    VersionResponse,
)
from p2plend.origination.vocabulary import STATUSES

router = APIRouter(prefix="/api/v1", tags=["origination"])

MAX_ID = 2**63 - 1  # BIGINT: a larger id names nothing (and must not reach the database)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def require_any(*permissions: Permission) -> Callable[..., AuthContext]:
    """Admit callers holding at least one of ``permissions``."""

    def dependency(ctx: CurrentUser) -> AuthContext:
        if not any(p in ctx.permissions for p in permissions):
            identity.require_permission(ctx, permissions[0])  # the usual refusal (TOTP or permission)
        return ctx

    return dependency


P = Permission
Customer = Annotated[AuthContext, Depends(require_any(P.ACCOUNT_SELF))]
Partner = Annotated[AuthContext, Depends(require_any(P.PARTNER_SELF))]
Reviewer = Annotated[AuthContext, Depends(require_any(P.STAFF_APPLICATIONS_REVIEW))]
RiskManager = Annotated[AuthContext, Depends(require_any(P.STAFF_RISK_MANAGE))]
ProductReader = Annotated[
    AuthContext,
    Depends(require_any(P.STAFF_RISK_MANAGE, P.STAFF_APPLICATIONS_REVIEW, P.STAFF_OPERATIONS_MANAGE)),
]
LprKeeper = Annotated[AuthContext, Depends(require_any(P.STAFF_RISK_MANAGE, P.STAFF_OPERATIONS_MANAGE))]
OfflineEntry = Annotated[
    AuthContext, Depends(require_any(P.STAFF_APPLICATIONS_REVIEW, P.STAFF_OPERATIONS_MANAGE))
]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _is_reviewer(ctx: AuthContext) -> bool:
    return P.STAFF_APPLICATIONS_REVIEW.value in ctx.permissions


def _response(session: Session, application: origination.LoanApplication) -> ApplicationResponse:
    product, version, _ = origination.version_terms(session, application.product_version_id)
    return ApplicationResponse.of(
        application, product.code, version.version, origination.documents_of(session, application.id)
    )


# --- public ----------------------------------------------------------------------------------------


@router.get("/products", summary="Loan products open for applications, with their current terms")
def public_products(session: DbSession) -> list[ProductResponse]:
    """Rate bands, fees and limits by grade: what a borrower may apply for (借款产品)."""
    return [ProductResponse.of(p) for p in origination.list_products(session, active_only=True)]


# --- borrowers ---------------------------------------------------------------------------------------


@router.post(
    "/applications",
    status_code=status.HTTP_201_CREATED,
    summary="Apply for a loan (申请借款)",
)
def apply(
    body: ApplicationRequest, ctx: Customer, session: DbSession, request: Request
) -> ApplicationResponse:
    """Checked, scored and run through the automatic rules at once: the answer is
    `under_review`, or `rejected` with a `rejection_code`. Refusals (nothing stored):
    `real_name_required`, `custody_account_required`, `product_not_found`, `product_inactive`,
    `product_not_for_borrower`, `amount_out_of_range`, `term_out_of_range`, `method_not_allowed`,
    `forbidden_purpose` (R7), `invalid_application`, `invalid_guarantor`, `collateral_required`,
    `ltv_exceeded`, `duplicate_application` (R18), `invalid_amount`, `invalid_request`."""
    if ctx.is_staff:
        raise PermissionDenied("Staff accounts do not borrow; enter an offline application instead.")
    application = origination.apply_online(session, ctx.user_id, body.to_input(), settings=_settings(request))
    return _response(session, application)


@router.get("/applications", summary="My applications, newest first")
def my_applications(
    ctx: Customer, session: DbSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> ApplicationListResponse:
    return ApplicationListResponse(
        items=[_response(session, a) for a in origination.of_borrower(session, ctx.user_id, limit=limit)]
    )


@router.get("/applications/{application_id}", summary="One of my applications (or one I referred)")
def get_application(application_id: Id, ctx: CurrentUser, session: DbSession) -> ApplicationResponse:
    application = origination.visible(session, application_id, ctx.user_id, reviewer=False)
    return _response(session, application)


@router.post("/applications/{application_id}/cancel", summary="Withdraw my application before approval")
def cancel(application_id: Id, ctx: Customer, session: DbSession) -> ApplicationResponse:
    """Refusals: `application_not_found`, `application_state_conflict`."""
    return _response(
        session, origination.cancel(session, borrower_id=ctx.user_id, application_id=application_id)
    )


@router.post(
    "/applications/{application_id}/resubmit", summary="Answer a request for information and resubmit"
)
def resubmit(
    application_id: Id, body: ResubmitRequest, ctx: Customer, session: DbSession
) -> ApplicationResponse:
    application = origination.resubmit(
        session, borrower_id=ctx.user_id, application_id=application_id, reply=body.reply
    )
    return _response(session, application)


@router.post(
    "/applications/{application_id}/documents",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a supporting document (PDF, JPEG or PNG)",
    responses=error_responses(413),
)
def upload_document(
    *,
    application_id: Id,
    ctx: CurrentUser,
    session: DbSession,
    request: Request,
    file: Annotated[UploadFile, File(description="PDF, JPEG or PNG; at most settings.document_max_bytes.")],
    kind: Annotated[str, Form(max_length=32, description="id_card, income_proof, bank_statement, …")],
) -> DocumentResponse:
    """The applicant, their referring partner or a reviewer. The type is detected from the
    file's bytes. Refusals: `unsupported_document_type`, `document_too_large` (413),
    `empty_document`, `application_not_found`, `application_state_conflict`."""
    settings = _settings(request)
    data = file.file.read(settings.document_max_bytes + 1)  # no more than one byte past the limit
    document = origination.upload_document(
        session,
        actor_id=ctx.user_id,
        application_id=application_id,
        kind=kind,
        filename=file.filename or "",
        declared_type=file.content_type,
        data=data,
        reviewer=_is_reviewer(ctx),
        settings=settings,
    )
    return DocumentResponse.of(document)


@router.get(
    "/applications/{application_id}/documents/{document_id}",
    summary="Download a supporting document",
    response_class=FileResponse,
)
def download_document(
    application_id: Id, document_id: Id, ctx: CurrentUser, session: DbSession, request: Request
) -> FileResponse:
    """The applicant, their referring partner or a reviewer; anyone else gets 404."""
    document, path = origination.open_document(
        session,
        viewer_id=ctx.user_id,
        application_id=application_id,
        document_id=document_id,
        reviewer=_is_reviewer(ctx),
        settings=_settings(request),
    )
    return FileResponse(
        path,
        media_type=document.content_type,
        filename=document.filename,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
    )


# --- partners ---------------------------------------------------------------------------------------


@router.post(
    "/partner/referrals",
    status_code=status.HTTP_201_CREATED,
    summary="Refer a borrower (推荐借款人)",
    tags=["partners"],
)
def refer(body: ReferralRequest, ctx: Partner, session: DbSession, request: Request) -> ApplicationResponse:
    """The borrower is a registered, verified user with a custody account, named by phone.
    The institution (P2B) product takes a company and records the referring institution's
    type and risk tier. Refusals as `POST /applications`, and `user_not_found`."""
    application = origination.refer_borrower(
        session,
        partner_id=ctx.user_id,
        borrower_phone=body.borrower_phone,
        data=body.to_input(),
        settings=_settings(request),
    )
    return _response(session, application)


@router.get("/partner/referrals", summary="The applications I referred", tags=["partners"])
def my_referrals(
    ctx: Partner, session: DbSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> ApplicationListResponse:
    return ApplicationListResponse(
        items=[_response(session, a) for a in origination.of_partner(session, ctx.user_id, limit=limit)]
    )


# --- staff: products and the LPR ---------------------------------------------------------------------


@router.get("/staff/products", summary="Products with every version", tags=["staff"])
def staff_products(ctx: ProductReader, session: DbSession) -> list[ProductResponse]:
    return [
        ProductResponse.of(origination.product_view(session, p.code, with_history=True))
        for p in origination.list_products(session)
    ]


@router.post(
    "/staff/products", status_code=status.HTTP_201_CREATED, summary="Create a product", tags=["staff"]
)
def staff_create_product(body: CreateProductRequest, ctx: RiskManager, session: DbSession) -> ProductResponse:
    """Refusals: `invalid_product_terms` (details.field), `cost_above_legal_cap` (R29),
    `product_code_taken`, `lpr_missing`."""
    product = origination.create_product(
        session,
        actor_id=ctx.user_id,
        code=body.code,
        kind=body.kind,
        name_zh=body.name_zh,
        name_en=body.name_en,
        terms=body.terms.to_terms(),
        note=body.note,
    )
    return ProductResponse.of(product)


@router.post(
    "/staff/products/{code}/versions",
    status_code=status.HTTP_201_CREATED,
    summary="New terms for a product: a new version (applications keep theirs)",
    tags=["staff"],
)
def staff_new_version(
    code: str, body: NewVersionRequest, ctx: RiskManager, session: DbSession
) -> VersionResponse:
    version = origination.add_version(
        session, actor_id=ctx.user_id, code=code, terms=body.terms.to_terms(), note=body.note
    )
    return VersionResponse.of(version)


@router.get("/staff/lpr", summary="The one-year LPR history, newest first", tags=["staff"])
def staff_lpr(ctx: ProductReader, session: DbSession) -> list[LprResponse]:
    return [LprResponse.of(v) for v in origination.lpr_history(session)]


@router.post(
    "/staff/lpr", status_code=status.HTTP_201_CREATED, summary="Record a new one-year LPR", tags=["staff"]
)
def staff_add_lpr(body: LprRequest, ctx: LprKeeper, session: DbSession) -> LprResponse:
    """Refusals: `invalid_lpr`, `lpr_date_taken`."""
    return LprResponse.of(
        origination.add_lpr(
            session, actor_id=ctx.user_id, effective_date=body.effective_date, rate=Decimal(body.rate)
        )
    )


# --- staff: applications -------------------------------------------------------------------------------


@router.get("/staff/applications", summary="审核队列: applications by status", tags=["staff"])
def staff_applications(
    ctx: Reviewer,
    session: DbSession,
    status_: Annotated[
        str | None, Query(alias="status", max_length=32, description=f"One of: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[StaffApplicationSummary]:
    """With a status: oldest first (a queue); without: newest first."""
    if status_ is not None and status_ not in STATUSES:
        raise InvalidInput(f"The status is one of {', '.join(STATUSES)}.", details={"field": "status"})
    statuses = None if status_ is None else [status_]
    rows = origination.for_review(session, statuses=statuses, limit=limit, offset=offset)
    return [StaffApplicationSummary.of(a) for a in rows]


@router.get("/staff/applications/{application_id}", summary="One application for review", tags=["staff"])
def staff_application(application_id: Id, ctx: Reviewer, session: DbSession) -> StaffApplicationResponse:
    return StaffApplicationResponse.of(origination.application_detail(session, application_id))


@router.post(
    "/staff/applications",
    status_code=status.HTTP_201_CREATED,
    summary="Enter an offline application taken at a branch (线下进件)",
    tags=["staff"],
)
def staff_offline_application(
    body: OfflineApplicationRequest, ctx: OfflineEntry, session: DbSession, request: Request
) -> StaffApplicationResponse:
    application = origination.enter_offline(
        session,
        officer_id=ctx.user_id,
        borrower_id=body.borrower_id,
        branch_code=body.branch_code,
        data=body.to_input(),
        settings=_settings(request),
    )
    return StaffApplicationResponse.of(origination.application_detail(session, application.id))


@router.post(
    "/staff/applications/{application_id}/field-verifications",
    status_code=status.HTTP_201_CREATED,
    summary="Record a field verification (面审/实地认证)",
    tags=["staff"],
)
def staff_field_verification(
    application_id: Id, body: FieldVerificationRequest, ctx: Reviewer, session: DbSession
) -> FieldVerificationResponse:
    row = origination.record_field_verification(
        session,
        officer_id=ctx.user_id,
        application_id=application_id,
        kind=body.kind,
        verified_on=body.verified_on,
        result=body.result,
        notes=body.notes,
    )
    return FieldVerificationResponse.of(row)


@router.post(
    "/staff/applications/{application_id}/decisions",
    summary="Decide: approve, reject, request_info, second_approve, second_reject",
    tags=["staff"],
)
def staff_decide(
    application_id: Id, body: DecisionRequest, ctx: Reviewer, session: DbSession, request: Request
) -> StaffApplicationResponse:
    """The final approval lists the loan (`loan_id`). Refusals: `invalid_decision`,
    `rate_outside_band`, `grade_not_approvable`, `grade_amount_cap_exceeded`,
    `cost_above_legal_cap` (R29), `borrowing_cap_exceeded` (R4/R5), `total_debt_cap_exceeded` (R6),
    `field_verification_required`, `four_eyes_same_officer`, `application_state_conflict`."""
    origination.decide(
        session,
        officer_id=ctx.user_id,
        application_id=application_id,
        decision=origination.Decision(
            action=body.action,
            grade=body.grade,
            annual_rate=None if body.annual_rate is None else Decimal(body.annual_rate),
            reason_code=body.reason_code,
            note=body.note,
            message=body.message,
        ),
        settings=_settings(request),
    )
    return StaffApplicationResponse.of(origination.application_detail(session, application_id))


# --- staff: blacklist -----------------------------------------------------------------------------------


@router.get("/staff/blacklist", summary="The blacklist and related parties (R2)", tags=["staff"])
def staff_blacklist(
    ctx: RiskManager, session: DbSession, include_removed: bool = False
) -> list[BlacklistResponse]:
    return [
        BlacklistResponse.of(e)
        for e in origination.blacklist_entries(session, include_removed=include_removed)
    ]


@router.post(
    "/staff/blacklist",
    status_code=status.HTTP_201_CREATED,
    summary="List a resident ID / USCC",
    tags=["staff"],
)
def staff_add_blacklist(body: BlacklistRequest, ctx: RiskManager, session: DbSession) -> BlacklistResponse:
    """Refusals: `invalid_id_number`, `already_blacklisted`, `invalid_application` (kind, reason)."""
    entry = origination.add_blacklist_entry(
        session, actor_id=ctx.user_id, id_number=body.id_number, kind=body.kind, reason=body.reason
    )
    return BlacklistResponse.of(entry)


@router.delete("/staff/blacklist/{entry_id}", summary="Remove a live entry (kept as history)", tags=["staff"])
def staff_remove_blacklist(entry_id: Id, ctx: RiskManager, session: DbSession) -> BlacklistResponse:
    return BlacklistResponse.of(
        origination.remove_blacklist_entry(session, actor_id=ctx.user_id, entry_id=entry_id)
    )

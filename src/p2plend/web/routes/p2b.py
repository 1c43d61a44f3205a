"""机构债权 (P2B) pages: the partner institution's 机构债权 (submit a claim, follow each one —
sold and unsold on the transfer market, the next due installment — pay what is due now and
re-offer what is unsold) and staff's review page (approve with a grade, reject with a reason).

The API's permissions (``api.routers.p2b``): the institution with ``partner:self``; staff
deciding with ``staff:applications:review``, reading also with ``staff:reports:read`` or
``staff:risk:manage``. Rates and discounts are typed as percentages (``8`` = 8 % a year), money
in yuan. A refusal is shown under its field (or on its claim's row) and changes nothing.
"""

import re
import secrets
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession, require_one_of
from p2plend.errors import DomainError
from p2plend.guarantee import service as guarantee
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.money import parse_amount
from p2plend.origination.vocabulary import ALLOWED_PURPOSES, GRADES
from p2plend.p2b import service as p2b
from p2plend.transfers import service as transfers
from p2plend.web.auth import ActingUser, CurrentUser, StaffUser
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import Locale, error_message, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.lending import act_once, percent
from p2plend.web.routes.origination import BadField, FormData, percent_text
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

P = Permission
MAX_ID = 2**63 - 1
ClaimId = Annotated[int, Path(ge=1, le=MAX_ID)]
Text = Annotated[str, Form(max_length=500)]
DECIDE_PERMISSION = P.STAFF_APPLICATIONS_REVIEW
READ_PERMISSIONS = (P.STAFF_APPLICATIONS_REVIEW, P.STAFF_REPORTS_READ, P.STAFF_RISK_MANAGE)
PARTNER_NOTICES = frozenset({"p2b.submitted", "p2b.repaid", "p2b.offered"})
STAFF_NOTICES = frozenset({"p2b.approved", "p2b.rejected"})
HUNDRED = Decimal(100)
_WHOLE = re.compile(r"^[0-9]{1,9}$")
_PERCENT = re.compile(r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?$")
# The form's text fields with the API's length limits (``p2b.schemas.ClaimRequest``).
TEXT_LIMITS = {
    "debtor_name": 100,
    "industry": 64,
    "region": 64,
    "project_summary": 500,
    "repayment_source": 200,
}
# The domain's ``details.field`` → the form's field, where they differ.
FORM_FIELD = {"discount_rate": "discount"}
FIELDS = (
    "institution_type",
    "institution_risk_tier",
    "debtor_kind",
    "debtor_name",
    "industry",
    "region",
    "purpose",
    "project_summary",
    "monthly_income",
    "liabilities",
    "credit_overdues_6m",
    "repayment_source",
    "amount",
    "annual_rate",
    "method",
    "term_months",
    "original_value_date",
    "guarantor_id",
    "repurchase_dpd",
    "discount",
)


def _notice(request: Request, allowed: frozenset[str]) -> str | None:
    key = request.query_params.get("notice")
    return translate(locale_of(request), key) if key in allowed else None


# --- reading the submission form -------------------------------------------------------------------


def _text(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if len(value) > TEXT_LIMITS.get(name, 64):
        raise BadField(name, f"p2b.bad.{name}")
    return value


def _whole(form: Mapping[str, str], name: str) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not _WHOLE.match(raw):
        raise BadField(name, f"p2b.bad.{name}")
    return int(raw)


def _required_whole(form: Mapping[str, str], name: str) -> int:
    value = _whole(form, name)
    if value is None:
        raise BadField(name, f"p2b.bad.{name}")
    return value


def _yuan(form: Mapping[str, str], name: str, *, allow_zero: bool) -> int:
    raw = form.get(name, "").strip()
    try:
        return parse_amount(raw or ("0" if allow_zero else ""), allow_zero=allow_zero)
    except DomainError:
        raise BadField(name, "error.invalid_amount") from None


def _percent(form: Mapping[str, str], name: str, *, blank_is_zero: bool = False) -> Decimal:
    """``8`` → ``Decimal("0.08")``."""
    raw = form.get(name, "").strip() or ("0" if blank_is_zero else "")
    if not _PERCENT.match(raw):
        raise BadField(name, f"p2b.bad.{name}")
    return Decimal(raw) / HUNDRED


def _date(form: Mapping[str, str], name: str) -> date:
    try:
        return date.fromisoformat(form.get(name, "").strip())
    except ValueError:
        raise BadField(name, "origination.form.bad_date") from None


def claim_input(form: Mapping[str, str]) -> p2b.ClaimInput:
    """The submission from the page form (``BadField`` on a field that cannot be read)."""
    return p2b.ClaimInput(
        institution_type=form.get("institution_type", "").strip(),
        institution_risk_tier=_required_whole(form, "institution_risk_tier"),
        debtor_kind=form.get("debtor_kind", "").strip(),
        debtor_name=_text(form, "debtor_name"),
        industry=_text(form, "industry"),
        region=_text(form, "region"),
        purpose=form.get("purpose", "").strip(),
        project_summary=_text(form, "project_summary"),
        monthly_income=_yuan(form, "monthly_income", allow_zero=True),
        liabilities=_yuan(form, "liabilities", allow_zero=True),
        credit_overdues_6m=_whole(form, "credit_overdues_6m") or 0,
        repayment_source=_text(form, "repayment_source"),
        amount=_yuan(form, "amount", allow_zero=False),
        annual_rate=_percent(form, "annual_rate"),
        method=form.get("method", "").strip(),
        term_months=_required_whole(form, "term_months"),
        original_value_date=_date(form, "original_value_date"),
        guarantor_id=_whole(form, "guarantor_id"),
        repurchase_dpd=_whole(form, "repurchase_dpd"),
        discount_rate=_percent(form, "discount", blank_is_zero=True),
    )


def _submit_errors(locale: Locale, exc: DomainError) -> FormErrors:
    """The refusal under the field it names (``details.field``), else above the form."""
    errors = FormErrors()
    field = exc.details.get("field")
    if exc.code == p2b.InvalidPartnerClaim.code and isinstance(field, str):
        name = FORM_FIELD.get(field, field)
        if name == "amount" and "cap" in exc.details:
            errors.add(name, translate(locale, "p2b.bad.amount_cap", cap=exc.details["cap"]))
        elif name in FIELDS:
            errors.add(name, translate(locale, f"p2b.bad.{name}"))
        else:
            errors.form = error_message(locale, exc.code)
    elif exc.code == "cost_above_legal_cap":
        errors.add("annual_rate", error_message(locale, exc.code))
    elif exc.code in ("not_a_guarantor", "user_not_found"):
        errors.add("guarantor_id", error_message(locale, "not_a_guarantor"))
    else:
        errors.form = error_message(locale, exc.code)
    return errors


# --- the partner institution's page ----------------------------------------------------------------


def _guarantors(session: Session) -> list[tuple[str, str]]:
    """The guarantee companies a claim may name, as (id, name) options."""
    return [
        (str(t.guarantor_id), identity.profile(session, t.guarantor_id).display_name or f"#{t.guarantor_id}")
        for t in guarantee.guarantors(session)
    ]


def _partner_context(session: Session, user: AuthContext) -> dict[str, Any]:
    return {
        "views": [p2b.view(session, c) for c in p2b.claims(session, institution_id=user.user_id)],
        "guarantors": _guarantors(session),
        "institution_types": p2b.CLAIM_INSTITUTION_TYPES,
        "risk_tiers": [str(n) for n in range(1, 6)],
        "debtor_kinds": p2b.DEBTOR_KINDS,
        "purposes": ALLOWED_PURPOSES,
        "methods": p2b.METHODS,
        "term_min": p2b.TERM_MIN_MONTHS,
        "term_max": p2b.TERM_MAX_MONTHS,
        "max_discount": percent_text(transfers.rules().max_discount),
        "form": {},
        "errors": {},
        "row_errors": {},
        "row_form": {},
        "request_key": secrets.token_urlsafe(18),
        "pct": percent,
        "percent_text": percent_text,
    }


def _partner(user: AuthContext) -> None:
    identity.require_permission(user, P.PARTNER_SELF)  # else the 403 page


@router.get("/partner/claims")
def claims_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """机构债权: the submission form and every claim of the institution with its position."""
    _partner(user)
    context = _partner_context(session, user)
    context["notice"] = _notice(request, PARTNER_NOTICES)
    return render(request, "partner_claims.html", context)


@router.post("/partner/claims")
def submit_claim(request: Request, session: DbSession, user: ActingUser, form: FormData) -> Response:
    """提交机构债权, as ``POST /api/v1/partner/claims``."""
    _partner(user)
    locale = locale_of(request)
    try:
        data = claim_input(form)
        with acting(session):
            p2b.submit_claim(session, user.user_id, data)
    except BadField as bad:
        errors, status = FormErrors(fields={bad.field: translate(locale, bad.key)}), 422
    except DomainError as exc:
        errors, status = _submit_errors(locale, exc), exc.status
    else:
        return redirect(request, "/partner/claims?notice=p2b.submitted")
    context = _partner_context(session, user)
    context |= {"form": form, "errors": errors.fields, "form_error": errors.form}
    return render(request, "partner_claims.html", context, status_code=status)


def _row_refused(
    request: Request,
    session: Session,
    user: AuthContext,
    claim_id: int,
    *,
    message: str,
    status: int,
    discount: str = "",
) -> Response:
    """The claims again, the refusal on the claim's row; nothing changed."""
    session.expire_all()
    context = _partner_context(session, user)
    context["row_errors"] = {claim_id: message}
    context["row_form"] = {claim_id: {"discount": discount}}
    return render(request, "partner_claims.html", context, status_code=status)


@router.post("/partner/claims/{claim_id}/repay")
def repay(
    request: Request,
    session: DbSession,
    user: ActingUser,
    claim_id: ClaimId,
    *,
    request_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """还款: what is due now (else the next installment), from the institution's balance, as
    ``POST /api/v1/partner/claims/{id}/repayments``; a resent form pays once."""
    _partner(user)

    def pay() -> str:
        p2b.repay(session, claim_id, institution_id=user.user_id, custodian=custodian_of(request))
        return "/partner/claims?notice=p2b.repaid"

    try:
        location = act_once(
            session, user, operation="web.p2b_repay", key=request_key, signature=str(claim_id), act=pay
        )
    except DomainError as exc:
        message = error_message(locale_of(request), exc.code)
        return _row_refused(request, session, user, claim_id, message=message, status=exc.status)
    return redirect(request, location)


@router.post("/partner/claims/{claim_id}/offer")
def offer(
    request: Request,
    session: DbSession,
    user: ActingUser,
    claim_id: ClaimId,
    *,
    discount: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """重新挂牌: offer what the institution still holds of the claim on the transfer market."""
    _partner(user)
    try:
        rate = _percent({"discount": discount}, "discount", blank_is_zero=True)
        with acting(session):
            p2b.offer(session, claim_id, institution_id=user.user_id, discount_rate=rate)
    except BadField as bad:
        message = translate(locale_of(request), bad.key)
        return _row_refused(request, session, user, claim_id, message=message, status=422, discount=discount)
    except DomainError as exc:
        message = error_message(locale_of(request), exc.code)
        return _row_refused(
            request, session, user, claim_id, message=message, status=exc.status, discount=discount
        )
    return redirect(request, "/partner/claims?notice=p2b.offered")


# --- staff: review ---------------------------------------------------------------------------------


def _staff_context(session: Session, user: AuthContext, status: str | None) -> dict[str, Any]:
    views = [p2b.view(session, c) for c in p2b.claims(session, status=status)]
    ids = {v.claim.institution_id for v in views} | {
        v.claim.guarantor_id for v in views if v.claim.guarantor_id is not None
    }
    return {
        "views": views,
        "names": {i: identity.profile(session, i).display_name or f"#{i}" for i in ids},
        "status": status or "",
        "states": p2b.STATUSES,
        "grades": GRADES,
        "can_decide": DECIDE_PERMISSION in user.permissions,
        "row_errors": {},
        "row_form": {},
        "pct": percent,
    }


def _staff_ready(request: Request, user: AuthContext, permissions: tuple[Permission, ...]) -> Response | None:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, permissions)  # else the 403 page
    return None


@router.get("/staff/partner-claims")
def staff_claims_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """机构债权审核: the claims by status (an unknown status lists all), with the decision forms
    for reviewers."""
    gate = _staff_ready(request, user, READ_PERMISSIONS)
    if gate is not None:
        return gate
    context = _staff_context(session, user, status if status in p2b.STATUSES else None)
    context["notice"] = _notice(request, STAFF_NOTICES)
    return render(request, "staff_partner_claims.html", context)


@router.post("/staff/partner-claims/{claim_id}/decision")
def staff_decide(
    request: Request,
    session: DbSession,
    user: StaffActing,
    claim_id: ClaimId,
    *,
    decision: Annotated[str, Form(max_length=16)] = "",
    grade: Annotated[str, Form(max_length=8)] = "",
    reason: Text = "",
) -> Response:
    """审核: approve with a grade (booked, scheduled, offered on the transfer market) or reject
    with a reason, as ``POST /api/v1/staff/partner-claims/{id}/decision``. Audited by the service."""
    gate = _staff_ready(request, user, (DECIDE_PERMISSION,))
    if gate is not None:
        return gate
    locale = locale_of(request)
    approve = decision == "approve"
    try:
        if decision not in ("approve", "reject"):
            raise p2b.InvalidPartnerClaim("Approve or reject.", details={"field": "decision"})
        with acting(session):
            if approve:
                p2b.approve(session, claim_id, officer_id=user.user_id, grade=grade.strip())
            else:
                p2b.reject(session, claim_id, officer_id=user.user_id, reason=reason)
    except DomainError as exc:
        session.expire_all()
        field = exc.details.get("field")
        message = (
            translate(locale, f"p2b.bad.{field}")
            if exc.code == p2b.InvalidPartnerClaim.code and field in ("grade", "reason")
            else error_message(locale, exc.code)
        )
        context = _staff_context(session, user, None)
        context["row_errors"] = {claim_id: {str(field) if field in ("grade", "reason") else "form": message}}
        context["row_form"] = {claim_id: {"grade": grade, "reason": reason}}
        context["notice"] = None
        return render(request, "staff_partner_claims.html", context, status_code=exc.status)
    notice = "p2b.approved" if approve else "p2b.rejected"
    return redirect(request, f"/staff/partner-claims?notice={notice}")

"""担保业务: the guarantee company's own page (exposure, the loans it guarantees with their
overdue status, its compensations and shortfalls), and staff's 担保机构 page (every guarantee
company's terms and exposure, a form to set terms, the latest compensations).

The same permissions as the API (``api.routers.guarantee``): the company with
``guarantee:self``; staff reading with ``staff:risk:manage`` or ``staff:reports:read``,
setting terms with ``staff:risk:manage``. A refusal is shown on the form and changes nothing.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession, require_one_of
from p2plend.api.routers.guarantee import MANAGE_PERMISSION, READ_PERMISSIONS
from p2plend.errors import DomainError
from p2plend.guarantee import service as guarantee
from p2plend.guarantee.models import Compensation, GuaranteeAgreement
from p2plend.guarantee.schemas import MAX_DPD, rate_text, read_terms
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Loan
from p2plend.web.auth import CurrentUser, StaffUser
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import Locale, error_message, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.lending import percent
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

COMPENSATIONS_SHOWN = 100
MAX_ID = 2**63 - 1
TERM_FIELDS = ("coverage", "trigger_dpd", "accelerate_dpd", "fee_rate")
NOTICES = frozenset({"staff.guarantors.saved"})


@dataclass(frozen=True)
class GuaranteedLoan:
    """One row of the company's loans: the agreement, the loan, its claim and what it stands behind."""

    agreement: GuaranteeAgreement
    loan: Loan
    claim: guarantee.Claim | None
    guaranteed: int


def guaranteed_loans(session: Session, guarantor_id: int) -> list[GuaranteedLoan]:
    claims = guarantee.claims_of_guarantor(session, guarantor_id)
    return [
        GuaranteedLoan(
            agreement,
            loan,
            claims.get(loan.id),
            guarantee.guaranteed_principal(agreement, loan, claims.get(loan.id)),
        )
        for agreement, loan in guarantee.agreements_of_guarantor(session, guarantor_id)
    ]


def loan_titles(session: Session, rows: list[Compensation]) -> dict[int, str]:
    return {loan_id: marketplace.get_loan(session, loan_id).title for loan_id in {r.loan_id for r in rows}}


# --- the guarantee company's own page ---------------------------------------------------------------


@router.get("/guarantee")
def guarantee_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """担保业务: what the company stands behind, what it paid and lacked, loan by loan."""
    identity.require_permission(user, identity.Permission.GUARANTEE_SELF)  # else the 403 page
    rows = guarantee.compensations(session, guarantor_id=user.user_id, limit=COMPENSATIONS_SHOWN)
    context = {
        "terms": guarantee.terms_of(session, user.user_id),
        "exposure": guarantee.exposure(session, user.user_id),
        "loans": guaranteed_loans(session, user.user_id),
        "compensations": rows,
        "titles": loan_titles(session, rows),
        "shown": COMPENSATIONS_SHOWN,
        "pct": percent,
    }
    return render(request, "guarantee.html", context)


# --- staff: 担保机构 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guarantor:
    profile: identity.Profile
    terms: guarantee.Terms
    exposure: guarantee.Exposure


def _guarantors(session: Session) -> list[Guarantor]:
    return [
        Guarantor(identity.profile(session, t.guarantor_id), t, guarantee.exposure(session, t.guarantor_id))
        for t in guarantee.guarantors(session)
    ]


def _form_of(terms: guarantee.Terms) -> dict[str, str]:
    return {
        "guarantor_id": str(terms.guarantor_id),
        "coverage": terms.coverage,
        "trigger_dpd": str(terms.trigger_dpd),
        "accelerate_dpd": str(terms.accelerate_dpd),
        "fee_rate": rate_text(terms.fee_rate),
    }


def _staff_context(session: Session, user: AuthContext) -> dict[str, Any]:
    rows = guarantee.compensations(session, limit=COMPENSATIONS_SHOWN)
    guarantors = _guarantors(session)
    return {
        "guarantors": guarantors,
        "payers": {g.profile.user_id: g.profile.display_name for g in guarantors},
        "compensations": rows,
        "titles": loan_titles(session, rows),
        "shown": COMPENSATIONS_SHOWN,
        "can_manage": MANAGE_PERMISSION in user.permissions,
        "coverages": guarantee.COVERAGES,
        "max_dpd": MAX_DPD,
        "pct": percent,
    }


@router.get("/staff/guarantors")
def staff_guarantors_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    edit: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Every guarantee company with its terms and exposure; ``?edit=ID`` fills the form with its terms."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, READ_PERMISSIONS)  # else the 403 page
    context = _staff_context(session, user)
    listed = {g.profile.user_id: g for g in context["guarantors"]}
    chosen = listed.get(edit) if edit is not None else None
    if chosen is None and listed:
        chosen = next(iter(listed.values()))
    context["form"] = _form_of(chosen.terms) if chosen is not None else {}
    notice = request.query_params.get("notice")
    context["notice"] = translate(locale_of(request), notice) if notice in NOTICES else None
    return render(request, "staff_guarantors.html", context)


def _field_errors(locale: Locale, exc: DomainError) -> FormErrors:
    """The refusal under the field it names (``details.field``), else above the form."""
    errors = FormErrors()
    field = exc.details.get("field")
    if exc.code == guarantee.InvalidGuaranteeTerms.code and field in TERM_FIELDS:
        errors.add(str(field), translate(locale, f"guarantee.bad.{field}", max=MAX_DPD))
    elif exc.code == guarantee.NotAGuarantor.code:
        errors.add("guarantor_id", error_message(locale, exc.code))
    else:
        errors.form = error_message(locale, exc.code)
    return errors


@router.post("/staff/guarantors")
def staff_set_terms(
    request: Request,
    *,
    session: DbSession,
    user: StaffActing,
    guarantor_id: Annotated[str, Form(max_length=32)] = "",
    coverage: Annotated[str, Form(max_length=32)] = "",
    trigger_dpd: Annotated[str, Form(max_length=32)] = "",
    accelerate_dpd: Annotated[str, Form(max_length=32)] = "",
    fee_rate: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Set a guarantee company's standing terms, as ``PUT /api/v1/staff/guarantors/{id}/terms``."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (MANAGE_PERMISSION,))
    locale = locale_of(request)
    typed = {
        "guarantor_id": guarantor_id.strip(),
        "coverage": coverage.strip(),
        "trigger_dpd": trigger_dpd.strip(),
        "accelerate_dpd": accelerate_dpd.strip(),
        "fee_rate": fee_rate.strip(),
    }
    chosen = typed["guarantor_id"]
    try:
        if not (chosen.isascii() and chosen.isdigit() and 1 <= int(chosen) <= MAX_ID):
            raise guarantee.NotAGuarantor("Choose a guarantee company.", details={"guarantor_id": chosen})
        with acting(session):
            guarantee.require_guarantor(session, int(chosen))
            terms = read_terms(
                coverage=typed["coverage"],
                trigger_dpd=typed["trigger_dpd"],
                accelerate_dpd=typed["accelerate_dpd"],
                fee_rate=typed["fee_rate"],
            )
            guarantee.set_terms(
                session,
                int(chosen),
                coverage=terms.coverage,
                trigger_dpd=terms.trigger_dpd,
                accelerate_dpd=terms.accelerate_dpd,
                fee_rate=terms.fee_rate,
                actor_id=user.user_id,
            )
    except DomainError as exc:
        errors, status = _field_errors(locale, exc), exc.status
    else:
        return redirect(request, f"/staff/guarantors?edit={chosen}&notice=staff.guarantors.saved")
    context = _staff_context(session, user) | {
        "form": typed,
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_guarantors.html", context, status_code=status)

"""合规检查 and 风险备付金: the compliance report (each check clear or flagged, with its
figures), and the platform risk reserve on the same page — its settings and position for
readers, the forms to open its account and to switch it on or off for the administrator.

The same permissions as the API: reading with ``staff:reports:read`` (the report) or the
guarantee readers (the reserve); acting with ``staff:risk_reserve:manage``. A refusal is shown
on the form and changes nothing.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession, require_one_of
from p2plend.compliance import service as compliance
from p2plend.errors import DomainError
from p2plend.guarantee import reserve
from p2plend.guarantee import service as guarantee
from p2plend.guarantee.schemas import MAX_DPD, rate_text, read_reserve_terms
from p2plend.identity.service import AuthContext, Permission
from p2plend.web.auth import StaffUser
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import error_message, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.lending import percent
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

READ = (Permission.STAFF_REPORTS_READ, Permission.STAFF_RISK_MANAGE)
MANAGE = Permission.STAFF_RISK_RESERVE_MANAGE
TERM_FIELDS = ("coverage", "trigger_dpd", "accelerate_dpd", "contribution_rate")
NOTICES = frozenset({"staff.compliance.reserve_saved", "staff.compliance.reserve_opened"})


def _form_of(terms: reserve.ReserveSettings) -> dict[str, str]:
    return {
        "enabled": "on" if terms.enabled else "",
        "coverage": terms.coverage,
        "trigger_dpd": str(terms.trigger_dpd),
        "accelerate_dpd": str(terms.accelerate_dpd),
        "contribution_rate": rate_text(terms.contribution_rate),
    }


def _context(session: Session, user: AuthContext) -> dict[str, Any]:
    position = reserve.position(session)
    return {
        "report": compliance.report(session) if Permission.STAFF_REPORTS_READ in user.permissions else None,
        "reserve": position,
        "coverages": reserve.coverages(session, limit=50),
        "can_manage": MANAGE in user.permissions,
        "coverage_kinds": guarantee.COVERAGES,
        "max_dpd": MAX_DPD,
        "pct": percent,
        "form": _form_of(position.settings),
        "errors": {},
    }


@router.get("/staff/compliance")
def compliance_page(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, READ)  # else the 403 page
    notice = request.query_params.get("notice")
    context = _context(session, user)
    context["notice"] = translate(locale_of(request), notice) if notice in NOTICES else None
    return render(request, "staff_compliance.html", context)


@router.post("/staff/risk-reserve/account")
def open_reserve(
    request: Request,
    *,
    session: DbSession,
    user: StaffActing,
    phone: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """As ``POST /api/v1/staff/risk-reserve/account``."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (MANAGE,))
    try:
        with acting(session):
            reserve.open_account(session, custodian_of(request), phone=phone.strip(), actor_id=user.user_id)
    except DomainError as exc:
        errors = FormErrors()
        errors.add("phone", error_message(locale_of(request), exc.code))
        context = _context(session, user) | {"errors": errors.fields, "phone": phone}
        return render(request, "staff_compliance.html", context, status_code=exc.status)
    return redirect(request, "/staff/compliance?notice=staff.compliance.reserve_opened#reserve")


@router.post("/staff/risk-reserve")
def configure_reserve(
    request: Request,
    *,
    session: DbSession,
    user: StaffActing,
    enabled: Annotated[str, Form(max_length=8)] = "",
    coverage: Annotated[str, Form(max_length=32)] = "",
    trigger_dpd: Annotated[str, Form(max_length=32)] = "",
    accelerate_dpd: Annotated[str, Form(max_length=32)] = "",
    contribution_rate: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """As ``PUT /api/v1/staff/risk-reserve``."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (MANAGE,))
    locale = locale_of(request)
    typed = {
        "enabled": "on" if enabled == "on" else "",
        "coverage": coverage.strip(),
        "trigger_dpd": trigger_dpd.strip(),
        "accelerate_dpd": accelerate_dpd.strip(),
        "contribution_rate": contribution_rate.strip(),
    }
    try:
        with acting(session):
            terms = read_reserve_terms(
                coverage=typed["coverage"],
                trigger_dpd=typed["trigger_dpd"],
                accelerate_dpd=typed["accelerate_dpd"],
                contribution_rate=typed["contribution_rate"],
            )
            reserve.configure(
                session,
                enabled=typed["enabled"] == "on",
                coverage=terms.coverage,
                trigger_dpd=terms.trigger_dpd,
                accelerate_dpd=terms.accelerate_dpd,
                contribution_rate=terms.fee_rate,
                actor_id=user.user_id,
            )
    except DomainError as exc:
        errors = FormErrors()
        field = exc.details.get("field")
        if exc.code == reserve.InvalidReserveTerms.code and field in TERM_FIELDS:
            errors.add(str(field), translate(locale, f"reserve.bad.{field}", max=MAX_DPD))
        else:
            errors.form = error_message(locale, exc.code)
        context = _context(session, user) | {
            "form": typed,
            "errors": errors.fields,
            "form_error": errors.form,
        }
        return render(request, "staff_compliance.html", context, status_code=exc.status)
    return redirect(request, "/staff/compliance?notice=staff.compliance.reserve_saved#reserve")

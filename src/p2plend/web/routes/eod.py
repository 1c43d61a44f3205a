"""日终批处理 (the end-of-day batch: its runs and a form to run it) and 逾期管理 (the loans
overdue as of the last batch, by stage), for staff.

The same permissions as the API (``api.routers.eod``): reading with ``staff:reports:read``
or ``staff:risk:manage``; running with ``staff:operations:manage``. The form runs the batch
as ``POST /api/v1/staff/eod/run`` does, through the same function.
"""

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.api.deps import DbSession, require_one_of
from p2plend.api.routers.eod import READ_PERMISSIONS, RUN_PERMISSION, run_batch
from p2plend.errors import DomainError
from p2plend.identity.service import AuthContext
from p2plend.jobs import eod
from p2plend.servicing import end_of_day
from p2plend.servicing.overdue_schemas import borrower_name_masked
from p2plend.web.auth import StaffUser
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors
from p2plend.web.i18n import MESSAGES, Locale, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

RUNS_SHOWN = 30
OVERDUE_PAGE = 50
OVERDUE_STAGES = ("m1", "m2", "m3", "m3_plus", "m7_plus")
NOTICES = frozenset({"staff.eod.done", "staff.eod.nothing"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def step_label(locale: Locale, name: str, label_zh: str) -> str:
    """A step's name for people: from the catalogue, else the batch's own Chinese label."""
    key = f"staff.eod.step.{name}"
    if key in MESSAGES:
        return translate(locale, key)
    return label_zh if locale == "zh" else name


def _eod_context(request: Request, session: Session, user: AuthContext) -> dict[str, Any]:
    locale = locale_of(request)
    scheduler = getattr(request.app.state, "eod_scheduler", None)
    return {
        "today": clock.today(),
        "last_closed": eod.last_closed(session),
        "runs": eod.status(session, limit=RUNS_SHOWN),
        "step_names": [(s.name, step_label(locale, s.name, s.label_zh)) for s in eod.STEPS],
        "step_label": lambda name, label_zh: step_label(locale, name, label_zh),
        "can_run": RUN_PERMISSION in user.permissions,
        "schedule": request.app.state.settings.eod_schedule if scheduler is not None else None,
        "form": {"day": ""},
    }


@router.get("/staff/eod")
def eod_page(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (*READ_PERMISSIONS, RUN_PERMISSION))  # else the 403 page
    context = _eod_context(request, session, user)
    notice = request.query_params.get("notice")
    context["notice"] = translate(locale_of(request), notice) if notice in NOTICES else None
    return render(request, "staff_eod.html", context)


def _day(raw: str) -> date | str | None:
    """Blank → None (today); ``YYYY-MM-DD`` → the date; anything else → a message key."""
    text = raw.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text) if _ISO_DATE.match(text) else "staff.eod.bad_date"
    except ValueError:  # 2026-02-30
        return "staff.eod.bad_date"


@router.post("/staff/eod")
def eod_run(
    request: Request,
    session: DbSession,
    user: StaffActing,
    day: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Close every date not yet closed up to ``day`` (blank: today). Bad input is shown on
    the form and closes nothing."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (RUN_PERMISSION,))
    locale = locale_of(request)
    chosen = _day(day)
    errors = FormErrors()
    status = 422
    if isinstance(chosen, str):
        errors.add("day", translate(locale, chosen))
    else:
        factory: sessionmaker[Session] = request.app.state.session_factory
        try:
            reports = run_batch(
                session, factory, custodian_of(request), actor_id=user.user_id, through=chosen
            )
        except DomainError as exc:
            errors = FormErrors.of(locale, exc, fields={"eod_date_not_closable": "day"})
            status = exc.status
        else:
            closed = [r for r in reports if not r.already_closed]
            return redirect(request, f"/staff/eod?notice=staff.eod.{'done' if closed else 'nothing'}")
    context = _eod_context(request, session, user) | {
        "form": {"day": day},
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_eod.html", context, status_code=status)


@router.get("/staff/overdue")
def overdue_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    stage: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """逾期管理: counts and principal by stage, then the overdue loans (an unknown stage lists all)."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, READ_PERMISSIONS)
    chosen = stage if stage in OVERDUE_STAGES else None
    found = end_of_day.overdue_loans(
        session, stage=chosen, limit=OVERDUE_PAGE + 1, offset=(page - 1) * OVERDUE_PAGE
    )
    loans = found[:OVERDUE_PAGE]
    stages = end_of_day.overdue_by_stage(session)
    context = {
        "as_of": eod.last_closed(session),
        "stages": stages,
        "total_loans": sum(s.loans for s in stages),
        "total_principal": sum(s.principal for s in stages),
        "loans": loans,
        "last": end_of_day.latest_risk_days(session, [loan.id for loan in loans]),
        "names": {loan.id: borrower_name_masked(loan) for loan in loans},
        "stage": chosen,
        "stage_codes": OVERDUE_STAGES,
        "page": page,
        "has_next": len(found) > OVERDUE_PAGE,
    }
    return render(request, "staff_overdue.html", context)

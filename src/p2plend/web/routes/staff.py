"""员工工作台: the staff home, the users list (personal data masked, R47), 对账, 异常回调, 审计日志, 工作日历.

Every page: staff only (a customer gets the 403 page), staff without an authenticator are
sent to enrol first, and the page's permission is checked by ``identity.require_permission``
(the 403 page otherwise) — the same rules as the staff API.
"""

import json
import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession
from p2plend.audit import service as audit
from p2plend.custody import service as custody
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.money import format_cny
from p2plend.web.auth import ActingUser, StaffUser, staff_user
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import Locale, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.common import not_found
from p2plend.workcalendar import service as workcalendar

router = APIRouter(include_in_schema=False)

USERS_PAGE = 20
RECONCILIATION_RUNS_SHOWN = 50
ANOMALIES_SHOWN = 200
AUDIT_PAGE = 50
MAX_ID = 2**63 - 1  # BIGINT: a larger id can name nothing (and must not reach the database)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def staff_acting(user: ActingUser) -> identity.AuthContext:
    """A staff member's form: CSRF checked first (as every POST), then staff only."""
    return staff_user(user)


StaffActing = Annotated[identity.AuthContext, Depends(staff_acting)]


@router.get("/staff")
def staff_home(request: Request, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    permissions = user.permissions
    return render(
        request,
        "staff_home.html",
        {
            "can_read_users": identity.Permission.STAFF_USERS_READ in permissions,
            "can_reconcile": identity.Permission.STAFF_CUSTODY_RECONCILE in permissions,
            "can_read_audit": identity.Permission.STAFF_AUDIT_READ in permissions,
            "can_keep_calendar": identity.Permission.STAFF_OPERATIONS_MANAGE in permissions,
        },
    )


@router.get("/staff/users")
def staff_users(
    request: Request,
    session: DbSession,
    user: StaffUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_USERS_READ)  # else the 403 page
    users = identity.list_users(session, page=page, page_size=USERS_PAGE)
    pages = max((users.total + USERS_PAGE - 1) // USERS_PAGE, 1)
    return render(request, "staff_users.html", {"users": users, "pages": pages})


# --- 对账: reconciliation with the custodian bank (R12) -----------------------------------------


def _reconciliation_context(session: Session) -> dict[str, Any]:
    return {
        "runs": custody.reconciliation_runs(session, limit=RECONCILIATION_RUNS_SHOWN),
        "voided": custody.voided_instructions(session, limit=RECONCILIATION_RUNS_SHOWN),
        "today": clock.today(),
    }


@router.get("/staff/reconciliation")
def staff_reconciliation(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_CUSTODY_RECONCILE)
    context = _reconciliation_context(session)
    context["form"] = {"day": context["today"].isoformat()}
    return render(request, "staff_reconciliation.html", context)


def _business_day(raw: str) -> date | str:
    """The day typed as ``YYYY-MM-DD``, or the key of the message saying why it can't be reconciled."""
    text = raw.strip()
    try:
        day = date.fromisoformat(text) if _ISO_DATE.match(text) else None
    except ValueError:  # 2026-02-30
        day = None
    if day is None:
        return "staff.recon.bad_date"
    if day > clock.today():
        # The bank has no statement for a day that has not begun.
        return "staff.recon.future_date"
    return day


@router.post("/staff/reconciliation")
def staff_reconcile(
    request: Request,
    session: DbSession,
    user: StaffActing,
    day: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """对账 for one business day, authorised as ``POST /api/v1/staff/custody/reconciliations`` is:
    the permission alone (staff signed in with their authenticator; no code per act, as this
    moves no money). Bad input is shown on the form and stores no run."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_CUSTODY_RECONCILE)
    locale = locale_of(request)
    chosen = _business_day(day)
    if isinstance(chosen, str):
        errors = FormErrors()
        errors.add("day", translate(locale, chosen, today=clock.today().isoformat()))
        status = 422
    else:
        try:
            with acting(session):
                report = custody.reconcile(session, custodian_of(request), chosen, actor_id=user.user_id)
        except DomainError as exc:
            errors, status = FormErrors.of(locale, exc), exc.status
        else:
            return redirect(request, f"/staff/reconciliation/{report.run_id}")
    context = {
        **_reconciliation_context(session),
        "form": {"day": day},
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_reconciliation.html", context, status_code=status)


@router.get("/staff/reconciliation/{run_id}")
def staff_reconciliation_run(
    request: Request,
    session: DbSession,
    user: StaffUser,
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_CUSTODY_RECONCILE)
    run = custody.reconciliation_run(session, run_id)
    if run is None:
        raise not_found()
    differences = custody.reconciliation_differences(session, run.id)
    return render(request, "staff_reconciliation_run.html", {"run": run, "differences": differences})


# --- 异常回调: callbacks that did not fit the books, for ops to review -------------------------------


# Amounts in an anomaly's details are fen (see ``custody.service._anomaly``): shown as money.
_ANOMALY_AMOUNTS = frozenset({"amount", "ordered", "reported"})


def _anomaly_details(text: str) -> list[tuple[str, str]]:
    """The stored JSON details as ``(key, shown value)`` pairs, amounts formatted to the fen."""
    try:
        details = json.loads(text)
    except ValueError:
        return [("", text)]
    if not isinstance(details, dict):
        return [("", text)]
    pairs: list[tuple[str, str]] = []
    for key, value in sorted(details.items()):
        if key in _ANOMALY_AMOUNTS and isinstance(value, int) and not isinstance(value, bool):
            pairs.append((key, format_cny(value)))
        elif isinstance(value, str):
            pairs.append((key, value))
        else:
            pairs.append((key, audit.canonical_json(value)))
    return pairs


@router.get("/staff/custody/anomalies")
def staff_anomalies(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_CUSTODY_RECONCILE)
    anomalies = [
        (row, _anomaly_details(row.details)) for row in custody.open_anomalies(session, limit=ANOMALIES_SHOWN)
    ]
    return render(request, "staff_anomalies.html", {"anomalies": anomalies, "shown": ANOMALIES_SHOWN})


# --- 审计日志: the audit log, newest first, and its verification (R17) -----------------------------


def _id_param(raw: str, name: str, errors: FormErrors, locale: Locale) -> int | None:
    """An optional id typed in a filter: blank → None; anything but 1…MAX_ID → a message on ``name``."""
    text = raw.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID:
        return int(text)
    errors.add(name, translate(locale, "staff.audit.bad_id"))
    return None


def _text_param(raw: str, name: str, errors: FormErrors, locale: Locale) -> str:
    """A filter typed as text, trimmed; control characters (NUL, which PostgreSQL refuses) → a message."""
    text = raw.strip()
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        errors.add(name, translate(locale, "staff.audit.bad_text"))
        return ""
    return text


@router.get("/staff/audit")
def staff_audit(
    request: Request,
    session: DbSession,
    user: StaffUser,
    *,
    actor_id: Annotated[str, Query(max_length=32)] = "",
    object_type: Annotated[str, Query(max_length=32)] = "",
    object_id: Annotated[str, Query(max_length=64)] = "",
    before_id: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Filters are GET parameters (a blank one filters nothing); ``before_id`` pages on, as the API."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_AUDIT_READ)
    locale = locale_of(request)
    errors = FormErrors()
    actor = _id_param(actor_id, "actor_id", errors, locale)
    before = _id_param(before_id, "before_id", errors, locale)
    filters = {
        "actor_id": actor_id.strip(),
        "object_type": _text_param(object_type, "object_type", errors, locale),
        "object_id": _text_param(object_id, "object_id", errors, locale),
    }
    records: list[audit.AuditRecord] = []
    next_before: int | None = None
    if not errors:
        found = audit.list_records(
            session,
            actor_id=actor,
            object_type=filters["object_type"] or None,
            object_id=filters["object_id"] or None,
            limit=AUDIT_PAGE + 1,  # one more tells whether there is a next page
            before_id=before,
        )
        records = found[:AUDIT_PAGE]
        if len(found) > AUDIT_PAGE:
            next_before = records[-1].id
    next_query = None
    if next_before is not None:
        next_query = _query({**filters, "before_id": str(next_before)})
    context = {
        "records": [(r, audit.canonical_json(r.details)) for r in records],
        "form": filters,
        "errors": errors.fields,
        "paged": before is not None,
        "first_query": _query(filters),
        "next_query": next_query,
        "violations": audit.verify(session),
    }
    return render(request, "staff_audit.html", context, status_code=422 if errors else 200)


def _query(values: dict[str, str]) -> str:
    return urlencode([(k, v) for k, v in values.items() if v])


# --- 工作日历: public holidays and make-up workdays (DOMAIN.md §1) ----------------------------------------

CALENDAR_NOTICES = frozenset({"staff.calendar.saved", "staff.calendar.removed"})
CalendarYear = Annotated[int, Query(ge=workcalendar.FIRST_DAY.year, le=workcalendar.LAST_DAY.year)]


def _calendar_context(session: Session, year: int) -> dict[str, Any]:
    return {
        "year": year,
        "first_year": workcalendar.FIRST_DAY.year,
        "last_year": workcalendar.LAST_DAY.year,
        "overrides": workcalendar.overrides(session, year),
        "per_month": workcalendar.working_days_by_month(session, year),
        "form": {},
        "errors": {},
    }


@router.get("/staff/calendar")
def staff_calendar(
    request: Request, session: DbSession, user: StaffUser, year: CalendarYear | None = None
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_OPERATIONS_MANAGE)
    context = _calendar_context(session, year or clock.today().year)
    notice = request.query_params.get("notice")
    context["notice"] = translate(locale_of(request), notice) if notice in CALENDAR_NOTICES else None
    context["form"] = {"kind": "holiday"}
    return render(request, "staff_calendar.html", context)


@router.post("/staff/calendar")
def staff_calendar_set(
    request: Request,
    *,
    session: DbSession,
    user: StaffActing,
    day: Annotated[str, Form(max_length=32)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Set one day as a working day or a day off; refusals are shown on the form and change nothing."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_OPERATIONS_MANAGE)
    locale = locale_of(request)
    errors = FormErrors()
    status = 422
    text = day.strip()
    try:
        chosen = date.fromisoformat(text) if _ISO_DATE.match(text) else None
    except ValueError:  # 2026-02-30
        chosen = None
    if chosen is None:
        errors.add("day", translate(locale, "staff.calendar.bad_date"))
    if kind not in ("workday", "holiday"):
        errors.add("kind", translate(locale, "staff.calendar.bad_kind"))
    if chosen is not None and not errors:
        try:
            with acting(session):
                workcalendar.set_day(
                    session, actor_id=user.user_id, day=chosen, is_workday=kind == "workday", name=name
                )
        except DomainError as exc:
            errors = FormErrors.of(
                locale, exc, fields={"calendar_day_out_of_range": "day", "invalid_calendar_name": "name"}
            )
            status = exc.status
        else:
            return redirect(request, f"/staff/calendar?year={chosen.year}&notice=staff.calendar.saved")
    year = chosen.year if chosen is not None and _in_calendar(chosen) else clock.today().year
    context = _calendar_context(session, year) | {
        "form": {"day": day, "kind": kind, "name": name},
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_calendar.html", context, status_code=status)


@router.post("/staff/calendar/{day}/remove")
def staff_calendar_remove(request: Request, session: DbSession, user: StaffActing, day: date) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, identity.Permission.STAFF_OPERATIONS_MANAGE)
    workcalendar.remove_override(session, actor_id=user.user_id, day=day)  # the 404 page if there is none
    return redirect(request, f"/staff/calendar?year={day.year}&notice=staff.calendar.removed")


def _in_calendar(day: date) -> bool:
    return workcalendar.FIRST_DAY <= day <= workcalendar.LAST_DAY

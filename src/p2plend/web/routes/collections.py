"""催收 (collections) and 核销 (write-off) pages for staff: 我的催收 (the collector's work
queue), 案件列表 (cases, assignment), 案件详情 (the case, its history and the action form),
催收策略 (strategies), 催收报表 (KPIs, roll rates), 逾期分析 (overdue analysis), 核销.

The permissions are the API's (``api.routers.collections``); every form runs the same
service act in a savepoint, so a refusal is shown on the form and changes nothing.
"""

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession
from p2plend.collections import service as collections
from p2plend.collections.errors import InvalidCollector
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.money import parse_amount
from p2plend.web.auth import StaffUser
from p2plend.web.forms import FormErrors, FormText, acting
from p2plend.web.i18n import Locale, error_message, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.common import not_found
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

P = Permission
MAX_ID = 2**63 - 1
CASES_PAGE = 50
WORKERS = (P.STAFF_COLLECTIONS_MANAGE, P.STAFF_RISK_MANAGE)
REPORTERS = (P.STAFF_REPORTS_READ, P.STAFF_RISK_MANAGE)
WRITE_OFF_READERS = (P.STAFF_RISK_MANAGE, P.STAFF_WRITE_OFF_APPROVE, P.STAFF_REPORTS_READ)
NOTICES = frozenset(
    {
        "coll.notice.assigned",
        "coll.notice.logged",
        "coll.notice.strategy_saved",
        "writeoff.notice.proposed",
        "writeoff.notice.approved",
        "writeoff.notice.rejected",
    }
)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _require_any(user: AuthContext, *permissions: Permission) -> None:
    if not any(p.value in user.permissions for p in permissions):
        identity.require_permission(user, permissions[0])  # the 403 page


def _notice(request: Request) -> str | None:
    key = request.query_params.get("notice")
    return translate(locale_of(request), key) if key in NOTICES else None


def _errors(locale: Locale, exc: DomainError) -> FormErrors:
    """The refusal under the field the domain names (``details.field``), else above the form."""
    errors = FormErrors.of(locale, exc)
    field = exc.details.get("field")
    if isinstance(field, str) and errors.form is not None:
        errors.form = None
        errors.fields[field] = error_message(locale, exc.code)
    return errors


def _collectors(session: Session) -> list[tuple[int, str, int]]:
    """(id, name, open cases) of each active collector."""
    loads = collections.open_cases_by_collector(session)
    return [
        (c, collections.staff_name(session, c), loads.get(c, 0))
        for c in collections.active_collectors(session)
    ]


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    return {i: collections.staff_name(session, i) for i in ids if i is not None}


def _is_manager(user: AuthContext) -> bool:
    return P.STAFF_RISK_MANAGE.value in user.permissions


# --- 我的催收: the collector's work queue -------------------------------------------------------


@router.get("/staff/collections/queue")
def queue_page(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, P.STAFF_COLLECTIONS_MANAGE)
    items = collections.queue(session, user.user_id)
    return render(request, "staff_collections_queue.html", {"items": items, "today": clock.today()})


# --- 案件列表: cases, with assignment for managers ------------------------------------------------


@router.get("/staff/collections/cases")
def cases_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    *,
    status: Annotated[str, Query(max_length=16)] = "open",
    stage: Annotated[str, Query(max_length=16)] = "",
    collector: Annotated[str, Query(max_length=24)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Filters are GET parameters; ``collector`` is an id, ``none`` (unassigned) or blank."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *WORKERS)
    chosen_status = status if status in ("open", "closed") else None
    chosen_stage = stage if stage in collections.STAGES else None
    collector_id = (
        int(collector)
        if collector.isascii() and collector.isdigit() and 0 < int(collector) <= MAX_ID
        else None
    )
    found = collections.cases(
        session,
        status=chosen_status,
        stage=chosen_stage,
        collector_id=collector_id,
        unassigned=collector == "none",
        limit=CASES_PAGE,
        offset=(page - 1) * CASES_PAGE,
    )
    collectors = _collectors(session)
    context = {
        "page": found,
        "page_number": page,
        "pages": max((found.total + CASES_PAGE - 1) // CASES_PAGE, 1),
        "filters": {"status": chosen_status or "", "stage": chosen_stage or "", "collector": collector},
        "stages": collections.STAGES,
        "collectors": collectors,
        "names": {c: n for c, n, _ in collectors} | _names(session, {c.collector_id for c in found.items}),
        "counts": collections.open_case_counts(session),
        "can_assign": _is_manager(user),
        "notice": _notice(request),
    }
    return render(request, "staff_collections_cases.html", context)


@router.post("/staff/collections/cases/{case_id}/assign")
def assign_case(
    request: Request,
    session: DbSession,
    user: StaffActing,
    case_id: CaseId,
    *,
    collector_id: Annotated[str, Form(max_length=24)] = "",
    reason: Annotated[str, Form(max_length=400)] = "",
    back: Annotated[str, Form(max_length=16)] = "case",
) -> Response:
    """分案 by a manager: a collector's id, or blank to take the case back."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    text = collector_id.strip()
    chosen = int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID else None
    locale = locale_of(request)
    try:
        if text and chosen is None:
            raise InvalidCollector("Choose a collector.", details={"field": "collector_id"})
        with acting(session):
            collections.assign(
                session, actor_id=user.user_id, case_id=case_id, collector_id=chosen, reason=reason
            )
    except DomainError as exc:
        if exc.status == 404:
            raise
        errors = _errors(locale, exc)
        errors.fields.setdefault("collector_id", errors.form or error_message(locale, exc.code))
        errors.form = None
        return _case_page(
            request, session, user, case_id, assign_errors=errors.fields, status_code=exc.status
        )
    target = "/staff/collections/cases" if back == "list" else f"/staff/collections/cases/{case_id}"
    return redirect(request, f"{target}?notice=coll.notice.assigned")


# --- 案件详情: a case and its action form -----------------------------------------------------------


def _case_page(
    request: Request,
    session: Session,
    user: AuthContext,
    case_id: int,
    *,
    form: Mapping[str, str] | None = None,
    errors: dict[str, str] | None = None,
    form_error: str | None = None,
    assign_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    reveal = P.STAFF_PII_READ.value in user.permissions
    detail = collections.detail(session, case_id, reveal_contact=reveal)
    people = {detail.case.collector_id, *(a.collector_id for a in detail.assignments)}
    people |= {a.actor_id for a in detail.actions} | {a.assigned_by for a in detail.assignments}
    may_act = detail.case.status == "open" and (
        _is_manager(user)
        or (
            P.STAFF_COLLECTIONS_MANAGE.value in user.permissions
            and detail.case.collector_id in (None, user.user_id)
        )
    )
    context = {
        "detail": detail,
        "case": detail.case,
        "names": _names(session, people),
        "kinds": collections.ACTION_KINDS,
        "details_of": collections.ACTION_DETAILS,
        "may_act": may_act,
        "can_assign": _is_manager(user) and detail.case.status == "open",
        "collectors": _collectors(session) if _is_manager(user) else [],
        "today": clock.today(),
        "last_promise_day": clock.today() + timedelta(days=collections.MAX_PROMISE_DAYS),
        "form": dict(form or {"kind": "call"}),
        "errors": errors or {},
        "form_error": form_error,
        "assign_errors": assign_errors or {},
        "notice": _notice(request),
    }
    return render(request, "staff_collections_case.html", context, status_code=status_code)


@router.get("/staff/collections/cases/{case_id}")
def case_page(request: Request, session: DbSession, user: StaffUser, case_id: CaseId) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *WORKERS)
    return _case_page(request, session, user, case_id)


@router.post("/staff/collections/cases/{case_id}/actions")
def log_action(
    request: Request,
    session: DbSession,
    user: StaffActing,
    case_id: CaseId,
    *,
    kind: Annotated[str, Form(max_length=32)] = "",
    detail: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    amount: Annotated[str, Form(max_length=32)] = "",
    due_on: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *WORKERS)
    locale = locale_of(request)
    form = {"kind": kind, "detail": detail, "note": note, "amount": amount, "due_on": due_on}
    errors = FormErrors()
    fen: int | None = None
    day: date | None = None
    if kind == "promise_to_pay":
        try:
            fen = parse_amount(amount.strip())
        except DomainError as exc:
            errors.add("amount", error_message(locale, exc.code))
        try:
            day = date.fromisoformat(due_on.strip())
        except ValueError:
            errors.add("due_on", translate(locale, "coll.bad_date"))
    if not errors:
        action = collections.ActionInput(kind=kind, detail=detail, note=note, amount=fen, due_on=day)
        try:
            with acting(session):
                collections.log_action(session, actor_id=user.user_id, case_id=case_id, action=action)
        except DomainError as exc:
            if exc.status == 404:
                raise
            errors = _errors(locale, exc)
            return _case_page(
                request,
                session,
                user,
                case_id,
                form=form,
                errors=errors.fields,
                form_error=errors.form,
                status_code=exc.status,
            )
        return redirect(request, f"/staff/collections/cases/{case_id}?notice=coll.notice.logged")
    return _case_page(request, session, user, case_id, form=form, errors=errors.fields, status_code=422)


# --- 催收策略: strategies --------------------------------------------------------------------------


def _strategies_context(request: Request, session: Session, user: AuthContext) -> dict[str, Any]:
    collectors = _collectors(session)
    return {
        "strategies": collections.strategies(session),
        "treatments": collections.TREATMENTS,
        "assignments": collections.ASSIGNMENTS,
        "collectors": collectors,
        "names": {c: n for c, n, _ in collectors},
        "can_edit": _is_manager(user),
        "edit_stage": None,
        "form": {},
        "errors": {},
        "notice": _notice(request),
    }


@router.get("/staff/collections/strategies")
def strategies_page(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *WORKERS)
    return render(request, "staff_collections_strategies.html", _strategies_context(request, session, user))


@router.post("/staff/collections/strategies/{stage}")
def strategy_save(
    request: Request,
    session: DbSession,
    user: StaffActing,
    stage: str,
    *,
    treatment: FormText = "",
    reminder_sms: FormText = "",
    reminder_app: FormText = "",
    reminder_every_days: FormText = "",
    assignment: FormText = "",
    team: Annotated[list[str], Form()] = [],  # noqa: B006  (FastAPI copies defaults per request)
    contact_every_days: FormText = "",
) -> Response:
    """One stage's form: every field (check boxes for the channels and the team)."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    locale = locale_of(request)
    errors = FormErrors()
    raw_numbers = {"reminder_every_days": reminder_every_days, "contact_every_days": contact_every_days}
    numbers: dict[str, int] = {}
    for name, raw in raw_numbers.items():
        digits = raw.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= 3:
            numbers[name] = int(digits)
        else:
            errors.add(name, error_message(locale, "invalid_collection_strategy"))
    members: list[int] = []
    for text in team[:200]:
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:
            members.append(int(text))
        else:
            errors.add("team", error_message(locale, "invalid_collection_strategy"))
    texts = {
        "treatment": treatment,
        "reminder_sms": reminder_sms,
        "reminder_app": reminder_app,
        "assignment": assignment,
    }
    form = {k: v[:64] for k, v in (texts | raw_numbers).items()}
    if not errors:
        change = collections.StrategyChange(
            treatment=treatment[:32],
            reminder_sms=reminder_sms == "1",
            reminder_app=reminder_app == "1",
            reminder_every_days=numbers["reminder_every_days"],
            assignment=assignment[:32],
            team=tuple(members),
            contact_every_days=numbers["contact_every_days"],
        )
        try:
            with acting(session):
                collections.update_strategy(session, actor_id=user.user_id, stage=stage, change=change)
        except DomainError as exc:
            errors = _errors(locale, exc)
        else:
            return redirect(request, "/staff/collections/strategies?notice=coll.notice.strategy_saved")
    context = _strategies_context(request, session, user) | {
        "edit_stage": stage,
        "form": form,
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_collections_strategies.html", context, status_code=422)


# --- 催收报表: KPI report -----------------------------------------------------------------------------


def _day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip()) if raw.strip() else None
    except ValueError:
        return None


@router.get("/staff/collections/kpi")
def kpi_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    first: Annotated[str, Query(alias="from", max_length=16)] = "",
    last: Annotated[str, Query(alias="to", max_length=16)] = "",
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *REPORTERS)
    locale = locale_of(request)
    end = _day(last) or clock.today()
    previous_month = date(end.year, end.month, 1) - timedelta(days=1)
    start = _day(first) or date(previous_month.year, previous_month.month, 1)  # default: last month and this
    errors = FormErrors()
    if (first.strip() and _day(first) is None) or (last.strip() and _day(last) is None):
        errors.add("from", translate(locale, "coll.bad_date"))
    report = None
    if not errors:
        try:
            report = collections.kpi(session, start, end)
        except DomainError as exc:
            errors = _errors(locale, exc)
            errors.fields.setdefault("from", error_message(locale, exc.code))
    context = {
        "report": report,
        "form": {"from": first.strip() or start.isoformat(), "to": last.strip() or end.isoformat()},
        "errors": errors.fields,
        "roll_stages": collections.ROLL_STAGES,
        "percent": _percent,
    }
    return render(request, "staff_collections_kpi.html", context, status_code=422 if errors else 200)


def _percent(value: object) -> str:
    """A four-place rate as a percentage with two decimals; — when there is none."""
    if value is None:
        return "—"
    return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.01'))}%"


# --- 逾期分析: overdue analysis ----------------------------------------------------------------------


@router.get("/staff/collections/analysis")
def analysis_page(
    request: Request,
    session: DbSession,
    user: StaffUser,
    dimension: Annotated[str, Query(max_length=16)] = "region",
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *REPORTERS)
    chosen = dimension if dimension in collections.DIMENSIONS else "region"
    context = {
        "found": collections.analysis(session, chosen),
        "dimension": chosen,
        "dimensions": collections.DIMENSIONS,
        "percent": _percent,
    }
    return render(request, "staff_collections_analysis.html", context)


# --- 核销: write-off -------------------------------------------------------------------------------------


def _write_offs_context(request: Request, session: Session, user: AuthContext) -> dict[str, Any]:
    rows = collections.write_offs(session)
    return {
        "write_offs": rows,
        "names": _names(session, {*(w.proposed_by for w in rows), *(w.decided_by for w in rows)}),
        "reasons": collections.REASONS,
        "can_propose": P.STAFF_RISK_MANAGE.value in user.permissions,
        "can_decide": P.STAFF_WRITE_OFF_APPROVE.value in user.permissions,
        "me": user.user_id,
        "form": {"reason": "proof_of_loss"},
        "errors": {},
        "decide_errors": {},
        "notice": _notice(request),
    }


@router.get("/staff/write-offs")
def write_offs_page(request: Request, session: DbSession, user: StaffUser) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    _require_any(user, *WRITE_OFF_READERS)
    return render(request, "staff_writeoffs.html", _write_offs_context(request, session, user))


@router.post("/staff/write-offs")
def propose_write_off(
    request: Request,
    session: DbSession,
    user: StaffActing,
    *,
    loan_id: Annotated[str, Form(max_length=24)] = "",
    reason: Annotated[str, Form(max_length=32)] = "",
    proof: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, P.STAFF_RISK_MANAGE)
    locale = locale_of(request)
    errors = FormErrors()
    status = 422
    text = loan_id.strip()
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID):
        errors.add("loan_id", translate(locale, "writeoff.bad_loan"))
    else:
        try:
            with acting(session):
                collections.propose(
                    session, actor_id=user.user_id, loan_id=int(text), reason=reason, proof=proof
                )
        except DomainError as exc:
            errors = _errors(locale, exc)
            if exc.code == "loan_not_found":
                errors = FormErrors(fields={"loan_id": error_message(locale, exc.code)})
            status = exc.status
        else:
            return redirect(request, "/staff/write-offs?notice=writeoff.notice.proposed")
    context = _write_offs_context(request, session, user) | {
        "form": {"loan_id": loan_id, "reason": reason, "proof": proof},
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "staff_writeoffs.html", context, status_code=status)


@router.post("/staff/write-offs/{write_off_id}/{decision}")
def decide_write_off(
    request: Request,
    session: DbSession,
    user: StaffActing,
    write_off_id: CaseId,
    decision: str,
    *,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    identity.require_permission(user, P.STAFF_WRITE_OFF_APPROVE)
    if decision not in ("approve", "reject"):
        raise not_found()
    locale = locale_of(request)
    try:
        with acting(session):
            if decision == "approve":
                collections.approve(session, actor_id=user.user_id, write_off_id=write_off_id, note=note)
            else:
                collections.reject(session, actor_id=user.user_id, write_off_id=write_off_id, note=note)
    except DomainError as exc:
        if exc.status == 404:
            raise
        context = _write_offs_context(request, session, user) | {
            "decide_errors": {write_off_id: error_message(locale, exc.code)},
        }
        return render(request, "staff_writeoffs.html", context, status_code=exc.status)
    notice = "writeoff.notice.approved" if decision == "approve" else "writeoff.notice.rejected"
    return redirect(request, f"/staff/write-offs?notice={notice}")

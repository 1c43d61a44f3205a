"""自动投标 pages: the investor's rule (form, authorisation, on/off, place in the queue, what the
rule did and why it skipped a listing), and staff's view of the queue with "run again" for an
open listing.

The same permissions as the API (``api.routers.autobid``). On the pages rates and shares are
typed as percentages (8.5 = 8.5 %); a refusal is shown next to its field and changes nothing.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession, require_one_of
from p2plend.api.routers.autobid import READ_PERMISSIONS, RUN_PERMISSION
from p2plend.autobid import service as autobid
from p2plend.autobid.models import AutobidDecision
from p2plend.autobid.schemas import read_rule
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import LoanNotFound
from p2plend.money import yuan_str
from p2plend.web.auth import ActingUser, CurrentUser, StaffUser
from p2plend.web.forms import FormErrors, acting
from p2plend.web.i18n import MESSAGES, Locale, error_message, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.lending import percent
from p2plend.web.routes.staff import StaffActing

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
DECISIONS_SHOWN = 50
RULE_FIELDS = (
    "min_rate",
    "max_rate",
    "min_term_months",
    "max_term_months",
    "grades",
    "methods",
    "product_kinds",
    "amount_mode",
    "fixed_amount",
    "balance_share",
    "reserve",
    "total_cap",
    "valid_until",
)
NOTICES = frozenset(
    {"autobid.notice.saved", "autobid.notice.signed", "autobid.notice.enabled", "autobid.notice.disabled"}
)
Text = Annotated[str, Form(max_length=32)]
Choices = Annotated[list[str], Form(max_length=16)]


def reason_text(locale: Locale, code: str) -> str:
    """A decision's reason in plain words: ours, else the refusal's own message."""
    key = f"autobid.reason.{code}"
    return translate(locale, key) if key in MESSAGES else error_message(locale, code)


@dataclass(frozen=True)
class DecisionRow:
    decision: AutobidDecision
    title: str
    reason: str


def decision_rows(session: Session, locale: Locale, rows: list[AutobidDecision]) -> list[DecisionRow]:
    titles = {i: marketplace.get_loan(session, i).title for i in {r.loan_id for r in rows}}
    return [
        DecisionRow(r, titles[r.loan_id], reason_text(locale, r.reason) if r.reason else "") for r in rows
    ]


def _percent_text(value: Decimal) -> str:
    return format((Decimal(value) * 100).normalize(), "f")


def _form_of(view: autobid.RuleView | None) -> dict[str, Any]:
    if view is None:
        return {
            "min_rate": "6",
            "max_rate": "15",
            "min_term_months": "1",
            "max_term_months": "36",
            "grades": list(autobid.GRADES[:4]),
            "methods": list(autobid.METHODS),
            "product_kinds": list(autobid.PRODUCT_KINDS),
            "amount_mode": autobid.FIXED,
            "fixed_amount": "1000.00",
            "balance_share": "10",
            "reserve": "0.00",
            "total_cap": "",
            "valid_until": (clock.today() + timedelta(days=365)).isoformat(),
        }
    t = view.terms
    return {
        "min_rate": _percent_text(t.min_rate),
        "max_rate": _percent_text(t.max_rate),
        "min_term_months": str(t.min_term_months),
        "max_term_months": str(t.max_term_months),
        "grades": list(t.grades),
        "methods": list(t.methods),
        "product_kinds": list(t.product_kinds),
        "amount_mode": t.amount_mode,
        "fixed_amount": yuan_str(t.fixed_amount) if t.amount_mode == autobid.FIXED else "1000.00",
        "balance_share": _percent_text(t.balance_share) if t.amount_mode == autobid.SHARE else "10",
        "reserve": yuan_str(t.reserve),
        "total_cap": "" if t.total_cap is None else yuan_str(t.total_cap),
        "valid_until": t.valid_until.isoformat(),
    }


def _context(request: Request, session: Session, user: AuthContext) -> dict[str, Any]:
    view = autobid.rule_of(session, user.user_id)
    signed = autobid.authorisation_of(session, user.user_id)
    notice = request.query_params.get("notice")
    return {
        "view": view,
        "signed": signed,
        "authorisation": autobid.AUTHORISATION_TEXT,
        "version": autobid.AUTHORISATION_VERSION,
        "form": _form_of(view),
        "decisions": decision_rows(
            session,
            locale_of(request),
            autobid.decisions(session, investor_id=user.user_id, limit=DECISIONS_SHOWN),
        ),
        "shown": DECISIONS_SHOWN,
        "grades": autobid.GRADES,
        "methods": autobid.METHODS,
        "product_kinds": autobid.PRODUCT_KINDS,
        "pct": percent,
        "notice": translate(locale_of(request), notice) if notice in NOTICES else None,
        "switch_error": None,
    }


def _investor(user: AuthContext) -> None:
    identity.require_permission(user, identity.Permission.INVEST_SELF)  # else the 403 page


@router.get("/invest/autobid")
def autobid_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """自动投标: the rule, the authorisation, on/off and the queue place, the recent decisions."""
    _investor(user)
    return render(request, "autobid.html", _context(request, session, user))


def _fraction(field: str, text: str) -> str:
    """A percentage as typed (8.5) → the fraction the rule keeps ("0.085")."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise autobid.InvalidAutobidRule("A percentage such as 8.5.", details={"field": field}) from None
    if not value.is_finite():
        raise autobid.InvalidAutobidRule("A percentage such as 8.5.", details={"field": field})
    return format((value / 100).normalize(), "f")


def _errors(locale: Locale, exc: DomainError) -> FormErrors:
    errors = FormErrors()
    field = exc.details.get("field")
    if exc.code == autobid.InvalidAutobidRule.code and field in RULE_FIELDS:
        errors.add(str(field), translate(locale, f"autobid.bad.{field}"))
    else:
        errors.form = error_message(locale, exc.code)
    return errors


@router.post("/invest/autobid")
def save_rule(
    request: Request,
    *,
    session: DbSession,
    user: ActingUser,
    min_rate: Text = "",
    max_rate: Text = "",
    min_term_months: Text = "",
    max_term_months: Text = "",
    grades: Choices = [],  # noqa: B006 (FastAPI copies defaults)
    methods: Choices = [],  # noqa: B006
    product_kinds: Choices = [],  # noqa: B006
    amount_mode: Text = "",
    fixed_amount: Text = "",
    balance_share: Text = "",
    reserve: Text = "",
    total_cap: Text = "",
    valid_until: Text = "",
) -> Response:
    """Save the rule, as ``PUT /api/v1/me/autobid``."""
    _investor(user)
    typed: dict[str, Any] = {
        "min_rate": min_rate.strip(),
        "max_rate": max_rate.strip(),
        "min_term_months": min_term_months.strip(),
        "max_term_months": max_term_months.strip(),
        "grades": grades,
        "methods": methods,
        "product_kinds": product_kinds,
        "amount_mode": amount_mode.strip(),
        "fixed_amount": fixed_amount.strip(),
        "balance_share": balance_share.strip(),
        "reserve": reserve.strip(),
        "total_cap": total_cap.strip(),
        "valid_until": valid_until.strip(),
    }
    try:
        with acting(session):
            terms = read_rule(
                min_rate=_fraction("min_rate", typed["min_rate"]),
                max_rate=_fraction("max_rate", typed["max_rate"]),
                min_term_months=typed["min_term_months"],
                max_term_months=typed["max_term_months"],
                grades=grades,
                methods=methods,
                product_kinds=product_kinds,
                amount_mode=typed["amount_mode"],
                fixed_amount=typed["fixed_amount"],
                balance_share=_fraction("balance_share", typed["balance_share"])
                if typed["amount_mode"] == autobid.SHARE
                else None,
                reserve=typed["reserve"],
                total_cap=typed["total_cap"],
                valid_until=typed["valid_until"],
            )
            autobid.save_rule(session, user.user_id, terms, actor_id=user.user_id)
    except DomainError as exc:
        errors, status = _errors(locale_of(request), exc), exc.status
    else:
        return redirect(request, "/invest/autobid?notice=autobid.notice.saved")
    context = _context(request, session, user) | {
        "form": typed,
        "errors": errors.fields,
        "form_error": errors.form,
    }
    return render(request, "autobid.html", context, status_code=status)


def _act(request: Request, session: Session, user: AuthContext, act: Any, notice: str) -> Response:
    _investor(user)
    try:
        with acting(session):
            act()
    except DomainError as exc:
        context = _context(request, session, user) | {
            "errors": {},
            "switch_error": error_message(locale_of(request), exc.code),
        }
        return render(request, "autobid.html", context, status_code=exc.status)
    return redirect(request, f"/invest/autobid?notice={notice}")


@router.post("/invest/autobid/authorisation")
def sign(request: Request, session: DbSession, user: ActingUser) -> Response:
    """签署自动投标授权书."""
    return _act(
        request,
        session,
        user,
        lambda: autobid.sign_authorisation(session, user.user_id),
        "autobid.notice.signed",
    )


@router.post("/invest/autobid/enable")
def enable(request: Request, session: DbSession, user: ActingUser) -> Response:
    """开启: join the back of the queue."""
    return _act(
        request,
        session,
        user,
        lambda: autobid.enable(session, user.user_id, actor_id=user.user_id),
        "autobid.notice.enabled",
    )


@router.post("/invest/autobid/disable")
def disable(request: Request, session: DbSession, user: ActingUser) -> Response:
    """关闭."""
    return _act(
        request,
        session,
        user,
        lambda: autobid.disable(session, user.user_id, actor_id=user.user_id),
        "autobid.notice.disabled",
    )


# --- staff: the queue ------------------------------------------------------------------------------


def _staff_context(request: Request, session: Session, user: AuthContext) -> dict[str, Any]:
    return {
        "overview": autobid.queue(session, limit=50),
        "can_run": RUN_PERMISSION in user.permissions,
        "pct": percent,
        "result": None,
        "form": {"loan_id": ""},
    }


@router.get("/staff/autobid")
def staff_queue_page(request: Request, session: DbSession, user: StaffUser) -> Response:
    """自动投标队列: how many rules are on, expired, off; the first 50 in line."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, READ_PERMISSIONS)  # else the 403 page
    return render(request, "staff_autobid.html", _staff_context(request, session, user))


@router.post("/staff/autobid/run")
def staff_run(
    request: Request,
    session: DbSession,
    user: StaffActing,
    loan_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Run the queue again for an open listing, as ``POST /api/v1/staff/listings/{id}/autobid``."""
    if user.needs_2fa_enrollment:
        return redirect(request, "/security/2fa")
    require_one_of(user, (RUN_PERMISSION,))
    locale = locale_of(request)
    chosen = loan_id.strip()
    try:
        if not (chosen.isascii() and chosen.isdigit() and 1 <= int(chosen) <= MAX_ID):
            raise LoanNotFound("No such loan.", details={"loan_id": chosen})
        with acting(session):
            result = autobid.allocate(session, int(chosen), actor_id=user.user_id)
    except DomainError as exc:
        context = _staff_context(request, session, user) | {
            "form": {"loan_id": chosen},
            "errors": {"loan_id": error_message(locale, exc.code)},
        }
        return render(request, "staff_autobid.html", context, status_code=exc.status)
    context = _staff_context(request, session, user) | {"result": result, "form": {"loan_id": chosen}}
    return render(request, "staff_autobid.html", context)

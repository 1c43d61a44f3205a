"""分散投资 (a plan's form, my plans, one plan's result) and 为您推荐 (my ranked feed).

Thin callers of ``portfolio.service`` and ``portfolio.recommend``, with the same permission
as the API (``invest:self``). The plan form moves money (its bids freeze funds), so it carries
a one-time ``request_key`` like the bid form: a resent form acts once. A refusal is shown next
to its field and changes nothing. The concentration section of 我的投资 is rendered by
``web.routes.statements`` from ``portfolio.concentration``.
"""

import re
import secrets
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext, Permission
from p2plend.ledger import service as ledger
from p2plend.portfolio import recommend
from p2plend.portfolio import service as portfolio
from p2plend.portfolio.schemas import read_plan, read_preference
from p2plend.suitability.errors import RiskAssessmentExpired, RiskAssessmentRequired
from p2plend.web.auth import ActingUser, CurrentUser
from p2plend.web.forms import FormErrors
from p2plend.web.i18n import MESSAGES, Locale, error_message, translate
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.lending import act_once, percent

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
PlanId = Annotated[int, Path(ge=1, le=MAX_ID)]
Text = Annotated[str, Form(max_length=40)]
PLANS_SHOWN = 20
PLAN_FIELDS = ("amount", "min_rate", "max_per_loan", "grades")
NOTICES = frozenset({"portfolio.plan.done"})
_PERCENT = re.compile(r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?$")  # 8 or 8.5 (%), four decimals at most
_MONTHS = re.compile(r"^[0-9]{1,3}$")


def _require_investor(user: AuthContext) -> None:
    identity.require_permission(user, Permission.INVEST_SELF)  # else the 403 page


def fraction_of_percent(text: str, field: str, error: type[DomainError]) -> str:
    """``"8.5"`` (percent, as people type it) → ``"0.085"``; blank → ``""``."""
    text = text.strip().removesuffix("%").strip()
    if not text:
        return ""
    if not _PERCENT.fullmatch(text):
        raise error("A rate is a percentage such as 8 or 8.5.", details={"field": field})
    return format(Decimal(text) / 100, "f")


# --- 分散投资 ---------------------------------------------------------------------------------


def _plans_context(session: Session, user: AuthContext) -> dict[str, Any]:
    return {
        "plans": portfolio.plans_of(session, user.user_id, limit=PLANS_SHOWN),
        "balances": ledger.user_balances(session, user.user_id),
        "all_grades": portfolio.GRADES,
        "min_bid": portfolio.PLAN_MIN_BID,
        "step": portfolio.PLAN_STEP,
        "request_key": secrets.token_urlsafe(18),
        "form": {"amount": "", "min_rate": "", "max_per_loan": "", "grades": []},
        "pct": percent,
    }


@router.get("/plans")
def plans_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """The plan form, my available balance, and my plans, newest first."""
    _require_investor(user)
    return render(request, "portfolio_plans.html", _plans_context(session, user))


def _plan_errors(locale: Locale, exc: DomainError) -> FormErrors:
    errors = FormErrors()
    field = exc.details.get("field")
    if exc.code == portfolio.InvalidPlan.code and field in PLAN_FIELDS:
        errors.add(str(field), translate(locale, f"portfolio.plan.bad.{field}"))
    elif exc.code in ("insufficient_funds", "invalid_amount"):
        errors.add("amount", error_message(locale, exc.code))
    else:
        errors.form = error_message(locale, exc.code)
    return errors


@router.post("/plans")
def create_plan(
    request: Request,
    session: DbSession,
    user: ActingUser,
    *,
    amount: Text = "",
    min_rate: Text = "",
    max_per_loan: Text = "",
    grades: Annotated[list[str] | None, Form(max_length=7)] = None,
    request_key: Text = "",
) -> Response:
    """Execute a plan now, as ``POST /api/v1/me/portfolio-plans``; then its result page."""
    _require_investor(user)
    chosen = [g for g in grades or [] if g in portfolio.GRADES]
    typed = {"amount": amount.strip(), "min_rate": min_rate.strip(), "max_per_loan": max_per_loan.strip()}

    def execute() -> str:
        terms = read_plan(
            amount=typed["amount"],
            min_rate=fraction_of_percent(typed["min_rate"], "min_rate", portfolio.InvalidPlan) or "0",
            max_per_loan=typed["max_per_loan"],
            grades=chosen,
        )
        plan = portfolio.execute_plan(session, user.user_id, terms)
        return f"/plans/{plan.id}?notice=portfolio.plan.done"

    try:
        location = act_once(
            session,
            user,
            operation="web.portfolio_plan",
            key=request_key,
            signature=f"{typed['amount']}|{typed['min_rate']}|{typed['max_per_loan']}|{','.join(chosen)}",
            act=execute,
        )
    except DomainError as exc:
        errors = _plan_errors(locale_of(request), exc)
        session.expire_all()
        context = _plans_context(session, user) | {
            "form": typed | {"grades": chosen},
            "errors": errors.fields,
            "form_error": errors.form,
            "request_key": request_key or secrets.token_urlsafe(18),
        }
        return render(request, "portfolio_plans.html", context, status_code=exc.status)
    return redirect(request, location)


@router.get("/plans/{plan_id}")
def plan_page(request: Request, session: DbSession, user: CurrentUser, plan_id: PlanId) -> Response:
    """One plan: what it asked, each bid it placed and each matching listing it left out, and why."""
    _require_investor(user)
    plan = portfolio.plan_of(session, user.user_id, plan_id)
    key = request.query_params.get("notice")
    notice = translate(locale_of(request), key) if key in NOTICES else None
    locale = locale_of(request)

    def outcome(code: str) -> str:
        """Placed, a reason the plan left the listing out, or the marketplace's refusal in words."""
        key = f"portfolio.plan.outcome.{code}"
        return translate(locale, key) if key in MESSAGES else error_message(locale, code)

    context = {"plan": plan, "pct": percent, "notice": notice, "outcome": outcome}
    return render(request, "portfolio_plan.html", context)


# --- 为您推荐 -----------------------------------------------------------------------------------


def _months(text: str, field: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not _MONTHS.fullmatch(text):
        raise recommend.InvalidPreference("A term is a whole number of months.", details={"field": field})
    return int(text)


@router.get("/recommended")
def recommended_page(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    *,
    term_min: Annotated[str, Query(max_length=8)] = "",
    term_max: Annotated[str, Query(max_length=8)] = "",
    grades: Annotated[list[str] | None, Query(max_length=7)] = None,
    rate_min: Annotated[str, Query(max_length=12)] = "",
    rate_max: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    """为您推荐: the listings I may lend to, ranked for me, each with its reason; the form above
    narrows nothing, it states a preference that ranks (a wrong value is shown, and ignored)."""
    _require_investor(user)
    locale = locale_of(request)
    form = {
        "term_min": term_min,
        "term_max": term_max,
        "grades": [g for g in grades or [] if g in portfolio.GRADES],
        "rate_min": rate_min,
        "rate_max": rate_max,
    }
    errors = FormErrors()
    preference = None
    try:
        preference = read_preference(
            term_min=_months(term_min, "term_min"),
            term_max=_months(term_max, "term_max"),
            grades=form["grades"],
            rate_min=fraction_of_percent(rate_min, "rate_min", recommend.InvalidPreference) or None,
            rate_max=fraction_of_percent(rate_max, "rate_max", recommend.InvalidPreference) or None,
        )
    except DomainError as exc:
        errors.add(str(exc.details.get("field", "term_min")), translate(locale, "portfolio.rec.bad"))
    context: dict[str, Any] = {
        "form": form,
        "errors": errors.fields,
        "all_grades": portfolio.GRADES,
        "pct": percent,
        "feed": None,
        "needs_assessment": False,
    }
    try:
        context["feed"] = recommend.recommendations(session, user.user_id, preference=preference)
    except (RiskAssessmentRequired, RiskAssessmentExpired):
        context["needs_assessment"] = True
    return render(request, "portfolio_recommended.html", context)

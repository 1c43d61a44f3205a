"""Account set-up: 双重认证 (TOTP), 实名认证 (opens the custody account), 绑定银行卡, 风险测评."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from p2plend.api.deps import DbSession
from p2plend.custody import service as custody
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.suitability import service as suitability
from p2plend.web.auth import ActingUser, CurrentUser
from p2plend.web.custodian import custodian_of
from p2plend.web.forms import FormErrors, FormText, acting
from p2plend.web.i18n import error_message, translate
from p2plend.web.render import locale_of, redirect, render, settings_of
from p2plend.web.routes.common import notice_of

router = APIRouter(include_in_schema=False)


def _failed(request: Request, template: str, exc: DomainError, context: dict[str, Any]) -> Response:
    errors = FormErrors.of(locale_of(request), exc)
    values = {**context, "errors": errors.fields, "form_error": errors.form}
    return render(request, template, values, status_code=exc.status)


# --- two-factor authentication -------------------------------------------------------------------


@router.get("/security/2fa")
def totp_page(request: Request, user: CurrentUser) -> Response:
    staff_must = user.needs_2fa_enrollment
    return render(
        request,
        "totp.html",
        {
            "enabled": user.totp_enabled,
            "enrollment": None,
            "staff_must": staff_must,
            "notice": notice_of(request),
        },
    )


@router.get("/security/2fa/begin")
@router.get("/security/2fa/confirm")
def totp_step_page(request: Request) -> Response:
    """Reloading (or switching the language of) a page the enrolment POSTs rendered."""
    query = f"?{request.url.query}" if request.url.query else ""
    return redirect(request, f"/security/2fa{query}")


@router.post("/security/2fa/begin")
def totp_begin(request: Request, session: DbSession, user: ActingUser) -> Response:
    """A new secret and its QR code (shown once; the domain keeps it encrypted)."""
    try:
        with acting(session):
            enrollment = identity.begin_totp_enrollment(session, user.user_id)
    except DomainError as exc:
        return _failed(
            request, "totp.html", exc, {"enabled": user.totp_enabled, "enrollment": None, "staff_must": False}
        )
    return render(
        request,
        "totp.html",
        {"enabled": False, "enrollment": enrollment, "staff_must": user.needs_2fa_enrollment},
    )


@router.post("/security/2fa/confirm")
def totp_confirm(
    request: Request, session: DbSession, user: ActingUser, totp_code: FormText = ""
) -> Response:
    try:
        with acting(session):
            identity.confirm_totp_enrollment(session, user.user_id, totp_code)
    except DomainError as exc:
        return _failed(
            request,
            "totp.html",
            exc,
            {"enabled": False, "enrollment": None, "staff_must": False, "retry": True},
        )
    return redirect(request, "/staff" if user.is_staff else "/account?notice=totp.done")


# --- real-name verification ---------------------------------------------------------------------


@router.get("/verify")
def kyc_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    profile = identity.profile(session, user.user_id)
    return render(request, "kyc.html", {"profile": profile})


@router.post("/verify")
def kyc_submit(
    request: Request, session: DbSession, user: ActingUser, name: FormText = "", id_number: FormText = ""
) -> Response:
    """实名认证, then the custody sub-account opens in the same transaction (both or neither)."""
    try:
        with acting(session):
            identity.verify_real_name(session, user.user_id, name=name, id_number=id_number)
            custody.open_account(session, user.user_id, custodian_of(request))
    except DomainError as exc:
        # The ID number typed is not echoed back: pages never show a full ID (R47).
        profile = identity.profile(session, user.user_id)
        return _failed(request, "kyc.html", exc, {"profile": profile, "form": {"name": name}})
    return redirect(request, "/account?notice=kyc.done")


# --- bank cards ---------------------------------------------------------------------------------


@router.get("/cards")
def cards_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    cards = identity.list_cards(session, user.user_id)
    return render(
        request,
        "cards.html",
        {"cards": cards, "verified": user.real_name_verified, "notice": notice_of(request)},
    )


@router.post("/cards")
def cards_bind(
    request: Request,
    session: DbSession,
    user: ActingUser,
    *,
    bank_name: FormText = "",
    card_number: FormText = "",
    holder_name: FormText = "",
) -> Response:
    """绑卡: a debit card in the user's verified name (R50)."""
    try:
        with acting(session):
            identity.bind_card(
                session, user.user_id, card_number=card_number, bank_name=bank_name, holder_name=holder_name
            )
    except DomainError as exc:
        cards = identity.list_cards(session, user.user_id)
        # The card number typed is not echoed back (R47).
        form = {"bank_name": bank_name, "holder_name": holder_name}
        return _failed(
            request, "cards.html", exc, {"cards": cards, "verified": user.real_name_verified, "form": form}
        )
    return redirect(request, "/cards?notice=cards.done")


# --- risk assessment ----------------------------------------------------------------------------


async def _answers(request: Request) -> dict[str, str]:
    """The questionnaire's radio answers: fields ``q_<question key>``."""
    form = await request.form()
    return {
        key.removeprefix("q_"): value
        for key, value in form.items()
        if key.startswith("q_") and isinstance(value, str)
    }


Answers = Annotated[dict[str, str], Depends(_answers)]


def _risk_context(request: Request, session: Any, user_id: int) -> dict[str, Any]:
    locale = locale_of(request)
    assessment = suitability.current_assessment(session, user_id)
    return {
        "questions": suitability.questionnaire(locale),
        "assessment": assessment,
        "tier_label": assessment.tier.label(locale) if assessment else None,
        "months": settings_of(request).risk_assessment_valid_months,
    }


@router.get("/risk")
def risk_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    identity.require_permission(user, identity.Permission.INVEST_SELF)  # lenders only, as the API
    context = _risk_context(request, session, user.user_id)
    context["notice"] = notice_of(request)
    if context["assessment"] is not None:
        context["form"] = {f"q_{k}": v for k, v in context["assessment"].answers.items()}
    return render(request, "risk.html", context)


@router.post("/risk")
def risk_submit(request: Request, session: DbSession, user: ActingUser, answers: Answers) -> Response:
    """风险测评: the tier and its expiry (valid ``risk_assessment_valid_months``)."""
    identity.require_permission(user, identity.Permission.INVEST_SELF)  # else the 403 page
    locale = locale_of(request)
    try:
        with acting(session):
            suitability.submit_assessment(session, user.user_id, answers)
    except DomainError as exc:
        context = _risk_context(request, session, user.user_id)
        context["form"] = {f"q_{k}": v for k, v in answers.items()}
        problems = exc.details.get("problems")
        if exc.code == "invalid_input" and isinstance(problems, dict):
            context["errors"] = {f"q_{key}": translate(locale, "risk.unanswered") for key in problems}
            context["form_error"] = None
            return render(request, "risk.html", context, status_code=exc.status)
        context["errors"] = {}
        context["form_error"] = error_message(locale, exc.code)
        return render(request, "risk.html", context, status_code=exc.status)
    return redirect(request, "/risk?notice=risk.saved")

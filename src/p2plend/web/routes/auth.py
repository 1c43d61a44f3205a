"""注册 / 登录 / 退出: registration with an SMS code, sign-in (with TOTP once on), sign-out."""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from p2plend import clock
from p2plend.api.deps import DbSession
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.web.auth import ActingUser, AnonymousCsrf, OptionalUser, end_session, start_session
from p2plend.web.forms import FormErrors, FormText, acting
from p2plend.web.i18n import error_message
from p2plend.web.render import locale_of, redirect, render, safe_next, settings_of, viewer_of
from p2plend.web.routes.common import is_htmx, notice_of

router = APIRouter(include_in_schema=False)


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _home_of(user: identity.AuthContext) -> str:
    return "/staff" if user.is_staff else "/account"


# --- register -----------------------------------------------------------------------------


@router.get("/register")
def register_page(request: Request, user: OptionalUser) -> Response:
    if user is not None:
        return redirect(request, _home_of(user))
    return render(request, "register.html")


@router.get("/register/sms-code")
def sms_code_page(request: Request) -> Response:
    """A page rendered by the no-JavaScript "send code" button, reloaded or re-languaged."""
    query = f"?{request.url.query}" if request.url.query else ""
    return redirect(request, f"/register{query}")


@router.post("/register/sms-code", dependencies=[AnonymousCsrf])
def send_sms_code(request: Request, session: DbSession, phone: FormText = "") -> Response:
    """Sends the registration code; an HTMX request gets the status line, a plain form the page."""
    locale = locale_of(request)
    context: dict[str, Any] = {"form": {"phone": phone}}
    try:
        with acting(session):
            identity.send_registration_code(session, phone)
    except DomainError as exc:
        context["sms_error"] = error_message(locale, exc.code)
    else:
        context["sms_sent"] = {
            "phone": _masked_input_phone(phone),
            "minutes": settings_of(request).sms_code_minutes,
        }
    if is_htmx(request):
        return render(request, "partials/sms_status.html", context)
    return render(request, "register.html", context)


def _masked_input_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())[-11:]
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) == 11 else "***"


@router.post("/register", dependencies=[AnonymousCsrf])
def register(
    request: Request,
    session: DbSession,
    phone: FormText = "",
    sms_code: FormText = "",
    password: FormText = "",
) -> Response:
    try:
        with acting(session):
            identity.register(session, phone=phone, password=password, sms_code=sms_code)
    except DomainError as exc:
        errors = FormErrors.of(locale_of(request), exc)
        return render(
            request,
            "register.html",
            {"form": {"phone": phone}, "errors": errors.fields, "form_error": errors.form},
            status_code=exc.status,
        )
    return redirect(request, "/login?notice=register.done")


# --- login / logout ------------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, user: OptionalUser) -> Response:
    next_url = safe_next(request.query_params.get("next"), "")
    if user is not None:
        return redirect(request, next_url or _home_of(user))
    notice = notice_of(request) or (
        notice_of_login_required(request) if request.query_params.get("next") else None
    )
    return render(request, "login.html", {"next_url": next_url, "show_totp": False, "notice": notice})


def notice_of_login_required(request: Request) -> str:
    from p2plend.web.i18n import translate

    return translate(locale_of(request), "login.required")


@router.post("/login", dependencies=[AnonymousCsrf])
def login(
    request: Request,
    session: DbSession,
    *,
    phone: FormText = "",
    password: FormText = "",
    totp_code: FormText = "",
    next: FormText = "",
) -> Response:
    next_url = safe_next(next, "")
    try:
        with acting(session):
            result = identity.login(
                session,
                phone=phone,
                password=password,
                totp_code=totp_code.strip() or None,
                client="web",
                ip=_client_ip(request),
            )
    except DomainError as exc:
        errors = FormErrors.of(locale_of(request), exc)
        show_totp = exc.code.startswith("totp_")
        return render(
            request,
            "login.html",
            {
                "form": {"phone": phone},
                "errors": errors.fields,
                "form_error": errors.form,
                "next_url": next_url,
                "show_totp": show_totp,
            },
            status_code=exc.status if exc.status != 401 else 400,
        )
    ctx = identity.authenticate(session, result.token)
    target = "/security/2fa" if result.needs_2fa_enrollment else next_url or _home_of(ctx)
    response = redirect(request, target)
    max_age = max(int((result.expires_at - clock.now()) / timedelta(seconds=1)), 0)
    start_session(request, response, result.token, max_age)
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, user: ActingUser) -> Response:
    token = viewer_of(request).token
    if token is not None:
        identity.logout(session, token)
    response = redirect(request, "/login?notice=logout.done")
    end_session(request, response)
    return response

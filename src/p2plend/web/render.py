"""Rendering pages: the Jinja2 environment, the locale, and what every template receives."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from p2plend import __version__, clock
from p2plend.config import Settings
from p2plend.identity.service import AuthContext
from p2plend.money import format_cny, format_yuan
from p2plend.web import csrf
from p2plend.web.i18n import DEFAULT_LOCALE, Locale, label_translator, normalise_locale, translator

LANG_COOKIE = "lang"
SESSION_COOKIE = "p2p_session"
ONE_YEAR = 365 * 24 * 3600

_env = Environment(
    loader=PackageLoader("p2plend.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _beijing(value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(clock.BUSINESS_TZ).strftime(fmt)
    return value.strftime("%Y-%m-%d")


_env.filters["cny"] = format_cny
_env.filters["yuan"] = format_yuan
_env.filters["beijing"] = _beijing
_env.globals["static"] = lambda path: f"/static/{path}?v={__version__}"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at the page: the signed-in caller (or None) and their session token."""

    user: AuthContext | None
    token: str | None


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def viewer_of(request: Request) -> Viewer:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return viewer or Viewer(None, None)


def locale_of(request: Request) -> Locale:
    """``?lang=`` first, then the ``lang`` cookie, then Chinese."""
    return (
        normalise_locale(request.query_params.get("lang"))
        or normalise_locale(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LOCALE
    )


def csrf_token_for(request: Request) -> str:
    """The token this page's forms carry (see :mod:`p2plend.web.csrf`)."""
    settings = settings_of(request)
    viewer = viewer_of(request)
    if viewer.user is not None and viewer.token is not None:
        return csrf.session_token(settings.secret_key, viewer.token)
    nonce = request.cookies.get(csrf.CSRF_COOKIE) or getattr(request.state, "csrf_nonce", None)
    if nonce is None:
        nonce = csrf.new_nonce()
        request.state.csrf_nonce = nonce  # set as a cookie on the response by finish()
    return csrf.anonymous_token(settings.secret_key, nonce)


def render_text(request: Request, template: str, context: dict[str, Any] | None = None) -> str:
    settings = settings_of(request)
    locale = locale_of(request)
    viewer = viewer_of(request)
    other = "en" if locale == "zh" else "zh"
    query = urlencode(
        [*((k, v) for k, v in request.query_params.multi_items() if k != "lang"), ("lang", other)]
    )
    values: dict[str, Any] = {
        "request": request,
        "t": translator(locale),
        "label": label_translator(locale),
        "locale": locale,
        "other_locale": other,
        "switch_url": f"{request.url.path}?{query}",  # this page in the other language
        "user": viewer.user,
        "csrf_token": csrf_token_for(request),
        "csrf_field": csrf.CSRF_FIELD,
        "csrf_header": csrf.CSRF_HEADER,
        "is_production": settings.environment == "production",
        "path": request.url.path,
        "errors": {},
        "form_error": None,
        "form": {},
        "notice": None,
    }
    values.update(context or {})
    return _env.get_template(template).render(values)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A full page or an HTMX fragment, in the caller's language."""
    response = HTMLResponse(render_text(request, template, context), status_code=status_code)
    finish(request, response)
    return response


def redirect(request: Request, url: str) -> Response:
    """See other: a 303, or for an HTMX request an ``HX-Redirect`` the browser follows."""
    response: Response
    if request.headers.get("HX-Request") == "true":
        response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    finish(request, response)
    return response


def finish(request: Request, response: Response) -> None:
    """Cookies every page answer may set: the language chosen by ``?lang=``, the CSRF nonce."""
    settings = settings_of(request)
    secure = settings.environment == "production"
    chosen = normalise_locale(request.query_params.get("lang"))
    if chosen is not None and chosen != normalise_locale(request.cookies.get(LANG_COOKIE)):
        response.set_cookie(LANG_COOKIE, chosen, max_age=ONE_YEAR, samesite="lax", secure=secure)
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce is not None and request.cookies.get(csrf.CSRF_COOKIE) != nonce:
        response.set_cookie(csrf.CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=secure)


def safe_next(target: str | None, default: str = "/account") -> str:
    """A local path to return to after signing in; anything else (``//evil``, ``https://…``) → default."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target

"""Adds the web pages to the app: routers, static files, and HTML answers for errors.

The API's error handlers answer JSON; on a page, people get an HTML page in their
language instead (404, 403, the CSRF refusal, a 500 that says nothing was changed).
Requests under ``/api`` and the system endpoints keep the JSON handlers.
"""

from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any, cast

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from p2plend.errors import DomainError
from p2plend.web import csrf
from p2plend.web.auth import LoginRequired, StaffOnly
from p2plend.web.i18n import error_message
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes import ROUTERS

log = structlog.get_logger()

Handler = Callable[[Request, Any], Awaitable[Response]]
_NOT_PAGES = ("/api/", "/api", "/healthz", "/metrics", "/static/")


def is_page(request: Request) -> bool:
    path = request.url.path
    if any(path == prefix or path.startswith(prefix) for prefix in _NOT_PAGES):
        return False
    # A documented operation outside /api (the simulated bank's actions) refuses in JSON, as documented.
    route = request.scope.get("route")
    return not (isinstance(route, APIRoute) and route.include_in_schema)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(files("p2plend.web") / "static")), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _install_error_pages(app)


def error_page(request: Request, kind: str, status_code: int, detail: str | None = None) -> Response:
    return render(request, "error.html", {"kind": kind, "detail": detail}, status_code=status_code)


def _install_error_pages(app: FastAPI) -> None:
    json_http = cast(Handler | None, app.exception_handlers.get(StarletteHTTPException))
    json_domain = cast(Handler | None, app.exception_handlers.get(DomainError))
    json_validation = cast(Handler | None, app.exception_handlers.get(RequestValidationError))
    json_bug = cast(Handler | None, app.exception_handlers.get(Exception))

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return redirect(request, f"/login?next={_quote(exc.next_url)}")

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        log.warning("csrf_refused", path=request.url.path)
        return error_page(request, "csrf", 403)

    async def staff_only(request: Request, exc: Exception) -> Response:
        return error_page(request, "forbidden", 403)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_page(request) and json_http is not None:
            return await json_http(request, exc)
        kind = {404: "not_found", 403: "forbidden", 405: "not_found"}.get(exc.status_code, "bad_request")
        return error_page(request, kind, exc.status_code)

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        if not is_page(request) and json_domain is not None:
            return await json_domain(request, exc)
        kind = {404: "not_found", 403: "forbidden"}.get(exc.status, "bad_request")
        return error_page(request, kind, exc.status, error_message(locale_of(request), exc.code))

    async def invalid_request(request: Request, exc: Exception) -> Response:
        if not is_page(request) and json_validation is not None:
            return await json_validation(request, exc)
        return error_page(request, "bad_request", 400)

    async def bug(request: Request, exc: Exception) -> Response:
        if not is_page(request) and json_bug is not None:
            return await json_bug(request, exc)
        log.exception("unhandled_error", path=request.url.path)
        return error_page(request, "internal", 500)

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(csrf.CsrfRefused, csrf_refused)
    app.add_exception_handler(StaffOnly, staff_only)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, bug)


def _quote(url: str) -> str:
    from urllib.parse import quote

    return quote(url, safe="/")

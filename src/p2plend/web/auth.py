"""Web sign-in: the ``p2p_session`` cookie, the current user, CSRF checks on POST.

The cookie carries the identity session token from ``identity.login(client="web")``
(HttpOnly, SameSite=Lax, Secure in production); each request authenticates it again, so
a sign-out, an expiry or a locked account takes effect at once.
"""

from typing import Annotated

from fastapi import Depends, Form, Header, Request
from fastapi.responses import Response

from p2plend.api.deps import DbSession
from p2plend.errors import Unauthenticated
from p2plend.identity import service as identity
from p2plend.identity.service import AuthContext
from p2plend.web import csrf
from p2plend.web.render import SESSION_COOKIE, Viewer, settings_of, viewer_of


class LoginRequired(Exception):
    """The page needs a signed-in user: redirect to the sign-in page, then back to ``next_url``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class StaffOnly(Exception):
    """A customer opened a staff page (rendered as the 403 page)."""


def optional_user(request: Request, session: DbSession) -> AuthContext | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        ctx = identity.authenticate(session, token)
    except Unauthenticated:
        return None
    request.state.viewer = Viewer(ctx, token)
    request.state.user_id = ctx.user_id
    return ctx


OptionalUser = Annotated[AuthContext | None, Depends(optional_user)]


def _here(request: Request) -> str:
    if request.method != "GET":
        # After signing in, come back to the page that holds the form, not to its POST target.
        referer = request.headers.get("referer", "")
        base = str(request.base_url)
        return referer.removeprefix(base.rstrip("/")) if referer.startswith(base) else "/account"
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def required_user(request: Request, ctx: OptionalUser) -> AuthContext:
    if ctx is None:
        raise LoginRequired(_here(request))
    return ctx


CurrentUser = Annotated[AuthContext, Depends(required_user)]


def _submitted_token(form_token: str | None, header_token: str | None) -> str | None:
    return form_token or header_token


def user_with_csrf(
    request: Request,
    ctx: CurrentUser,
    csrf_token: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> AuthContext:
    """A signed-in user's state-changing request, with the session's CSRF token."""
    viewer = viewer_of(request)
    expected = csrf.session_token(settings_of(request).secret_key, viewer.token or "")
    if not csrf.valid(_submitted_token(csrf_token, x_csrf_token), expected):
        raise csrf.CsrfRefused()
    return ctx


ActingUser = Annotated[AuthContext, Depends(user_with_csrf)]


def anonymous_csrf(
    request: Request,
    csrf_token: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> None:
    """A signed-out visitor's form (register, sign in): the signed double-submit cookie."""
    nonce = request.cookies.get(csrf.CSRF_COOKIE)
    expected = csrf.anonymous_token(settings_of(request).secret_key, nonce) if nonce else None
    if not csrf.valid(_submitted_token(csrf_token, x_csrf_token), expected):
        raise csrf.CsrfRefused()


AnonymousCsrf = Depends(anonymous_csrf)


def staff_user(ctx: CurrentUser) -> AuthContext:
    if not ctx.is_staff:
        raise StaffOnly()
    return ctx


StaffUser = Annotated[AuthContext, Depends(staff_user)]


def start_session(request: Request, response: Response, token: str, max_age: int) -> None:
    secure = settings_of(request).environment == "production"
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )


def end_session(request: Request, response: Response) -> None:
    secure = settings_of(request).environment == "production"
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure, path="/")

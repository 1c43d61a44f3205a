"""CSRF protection for every state-changing form (POST).

Signed in: the token is an HMAC of the session token with ``settings.secret_key`` — bound to
the session, nothing stored. Signed out (register, sign-in): a signed double-submit cookie:
the ``p2p_csrf`` cookie holds a random nonce and the form carries the HMAC of that nonce, so
a cross-site page can neither read the token nor forge one for a nonce it planted.
Forms send it as the ``csrf_token`` field; HTMX requests as the ``X-CSRF-Token`` header
(``hx-headers`` on ``<body>``). A request without a valid token is refused with a 403
page before the handler runs, so nothing changes.
"""

import hashlib
import hmac
import secrets

CSRF_COOKIE = "p2p_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRefused(Exception):
    """A state-changing request without a valid token (rendered as the 403 page)."""


def _sign(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def session_token(secret_key: str, auth_token: str) -> str:
    """The CSRF token of a signed-in session."""
    return _sign(secret_key, "csrf-session", auth_token)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def anonymous_token(secret_key: str, nonce: str) -> str:
    """The CSRF token of a signed-out visitor holding ``nonce`` in the ``p2p_csrf`` cookie."""
    return _sign(secret_key, "csrf-anonymous", nonce)


def valid(submitted: str | None, expected: str | None) -> bool:
    if not submitted or not expected:
        return False
    return hmac.compare_digest(submitted.encode(), expected.encode())

"""Small helpers the page modules share."""

from fastapi import Request
from starlette.exceptions import HTTPException

from p2plend.web.i18n import translate
from p2plend.web.render import locale_of

# Notices a redirect may ask the next page to show (``?notice=``): a fixed list, so a link
# cannot make the site display arbitrary text.
NOTICES = frozenset(
    {
        "register.done",
        "logout.done",
        "totp.done",
        "kyc.done",
        "cards.done",
        "risk.saved",
        "login.required",
    }
)


def notice_of(request: Request) -> str | None:
    key = request.query_params.get("notice")
    if key is None or key not in NOTICES:
        return None
    return translate(locale_of(request), key)


def not_found() -> HTTPException:
    return HTTPException(status_code=404)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"

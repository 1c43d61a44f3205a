"""Pages anyone may see: home, the simulated SMS inbox (outside production)."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from p2plend.api.deps import DbSession
from p2plend.notifications import service as notifications
from p2plend.web.auth import OptionalUser
from p2plend.web.render import render, settings_of
from p2plend.web.routes.common import not_found, notice_of

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, user: OptionalUser) -> Response:
    """首页: what the platform is (an information intermediary), custody, the risk warning (R3)."""
    return render(request, "home.html", {"notice": notice_of(request)})


@router.get("/demo/sms")
def demo_sms(request: Request, session: DbSession, user: OptionalUser) -> Response:
    """模拟短信: the SMS the platform sent, so a newcomer can read a code. Never in production."""
    if settings_of(request).environment == "production":
        raise not_found()
    messages = notifications.recent_sms(session, limit=20)
    template = "partials/sms_list.html" if request.headers.get("HX-Request") else "demo_sms.html"
    return render(request, template, {"messages": messages})

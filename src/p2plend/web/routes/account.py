"""账户总览, 资金流水, 消息中心: what a signed-in customer has and what happened to it."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from p2plend.api.deps import DbSession
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger
from p2plend.notifications import service as notifications
from p2plend.suitability import service as suitability
from p2plend.web.auth import ActingUser, CurrentUser
from p2plend.web.render import locale_of, redirect, render
from p2plend.web.routes.common import is_htmx, notice_of

router = APIRouter(include_in_schema=False)

HISTORY_PAGE = 20
RECENT_LINES = 8


@dataclass(frozen=True, slots=True)
class HistoryPage:
    lines: list[ledger.HistoryLine]
    next_before: int | None  # the cursor of the next page, None at the end


def history_page(session: Session, user_id: int, *, before: int | None, size: int) -> HistoryPage:
    """One page of postings, never cutting an entry in two (a freeze moves available and frozen).

    ``before`` is exclusive: the next page starts with entries whose id is below it.
    """
    lines = ledger.user_history(session, user_id, limit=size + 1, before_entry_id=before)
    if len(lines) <= size:
        return HistoryPage(lines, None)
    cut = lines[size - 1].entry_id
    if lines[size].entry_id == cut:
        kept = [line for line in lines[:size] if line.entry_id != cut]
        if kept:
            return HistoryPage(kept, cut + 1)
    return HistoryPage(lines[:size], lines[size - 1].entry_id)


@router.get("/account")
def overview(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """账户总览: balances, masked identity, masked cards, set-up steps, recent transactions."""
    if user.is_staff:
        return redirect(request, "/staff")
    profile = identity.profile(session, user.user_id)
    balances = ledger.user_balances(session, user.user_id)
    cards = identity.list_cards(session, user.user_id)
    assessment = suitability.current_assessment(session, user.user_id)
    recent = history_page(session, user.user_id, before=None, size=RECENT_LINES)
    return render(
        request,
        "account.html",
        {
            "profile": profile,
            "balances": balances,
            "cards": cards,
            "assessment": assessment,
            "tier_label": assessment.tier.label(locale_of(request)) if assessment else None,
            "recent": recent.lines,
            "unread": notifications.unread_count(session, user.user_id),
            "notice": notice_of(request),
        },
    )


@router.get("/account/history")
def history(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """资金流水, newest first; HTMX loads the next page into the table ("load more") or refreshes it."""
    page = history_page(session, user.user_id, before=before, size=HISTORY_PAGE)
    context = {"page": page, "before": before}
    if is_htmx(request) and request.headers.get("HX-Target") == "history-more":
        return render(request, "partials/history_rows.html", context)
    return render(request, "history.html", context)  # a refresh selects #history-body from it


@router.get("/messages")
def messages(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """消息中心: the user's in-app notifications, newest first."""
    items = notifications.inbox(session, user.user_id, limit=HISTORY_PAGE, before_id=before)
    return render(request, "messages.html", {"items": items, "page_size": HISTORY_PAGE})


@router.post("/messages/{notification_id}/read")
def mark_read(request: Request, session: DbSession, user: ActingUser, notification_id: int) -> Response:
    item = notifications.mark_read(session, user.user_id, notification_id)  # someone else's: 404
    if is_htmx(request):
        return render(request, "partials/message_item.html", {"item": item})
    return redirect(request, "/messages")

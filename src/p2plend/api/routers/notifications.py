"""Message center API (站内信): my messages, mark one read."""

from typing import Annotated

from fastapi import APIRouter, Query

from p2plend.api.deps import MAX_ID, CurrentUser, DbSession, Id
from p2plend.notifications import service as notifications
from p2plend.notifications.schemas import MessageListResponse, MessageResponse

router = APIRouter(prefix="/api/v1", tags=["messages"])


@router.get("/me/messages", summary="My messages, newest first")
def my_messages(
    ctx: CurrentUser,
    session: DbSession,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Page on: the previous page's `next_before_id`.")
    ] = None,
) -> MessageListResponse:
    items = notifications.inbox(
        session, ctx.user_id, limit=limit, unread_only=unread_only, before_id=before_id
    )
    return MessageListResponse(
        items=[MessageResponse.of(m) for m in items],
        unread_count=notifications.unread_count(session, ctx.user_id),
        next_before_id=items[-1].id if len(items) == limit else None,
    )


@router.post("/me/messages/{message_id}/read", summary="Mark one of my messages read")
def mark_read(message_id: Id, ctx: CurrentUser, session: DbSession) -> MessageResponse:
    """Idempotent: reading again keeps the first time. Refusals: `not_found`."""
    return MessageResponse.of(notifications.mark_read(session, ctx.user_id, message_id))

"""API shapes of the message center (站内信)."""

from datetime import datetime

from pydantic import BaseModel

from p2plend.notifications.service import Notification


class MessageResponse(BaseModel):
    id: int
    template: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, message: Notification) -> "MessageResponse":
        return cls(
            id=message.id,
            template=message.template,
            title=message.title,
            body=message.body or "",
            created_at=message.created_at,
            read_at=message.read_at,
        )


class MessageListResponse(BaseModel):
    items: list[MessageResponse]
    unread_count: int
    next_before_id: int | None

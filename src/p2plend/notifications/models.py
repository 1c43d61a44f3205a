"""The outbox (通知发件箱): every SMS and in-app message, written in the business transaction.

An SMS row is delivered afterwards by ``service.dispatch_pending`` through an
``SmsSender``; an in-app row is delivered by being written (the message center reads it).

An SMS may carry a one-time code, so its phone number and text are stored only sealed
(AES-256-GCM, ``sealing.py``); the masked number beside it is for people to read.
"""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class OutboxMessage(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'inbox', 'email')", name="channel"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        CheckConstraint("locale IN ('zh', 'en')", name="locale"),
        CheckConstraint("channel <> 'sms' OR sealed IS NOT NULL", name="sms_sealed"),
        CheckConstraint(
            "channel <> 'inbox' OR (user_id IS NOT NULL AND body IS NOT NULL)", name="inbox_body"
        ),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_notifications_user_channel", "user_id", "channel", "id"),
        Index("ix_notifications_channel_status", "channel", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    # ``138****5678`` for an SMS: enough for support staff, useless to anyone else.
    recipient_masked: Mapped[str | None] = mapped_column(String(32))
    # SMS only: the E.164 number and the text, sealed together (see sealing.py).
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    template: Mapped[str] = mapped_column(String(48))
    locale: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(100))
    # In-app messages only: the rendered text shown in the message center.
    body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

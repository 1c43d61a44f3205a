"""The notification port (通知): SMS and in-app messages through an outbox.

Business acts call :func:`send_sms` or :func:`notify_user` inside their own transaction:
the message is an outbox row committed (or rolled back) with the act. Nothing leaves the
platform before that commit: :func:`dispatch_pending`, run afterwards by a job with its
own session, hands pending SMS to an :class:`SmsSender` — the gateway port. The default
:class:`OutboxOnlySender` delivers nowhere (demo, development, tests: the "simulated SMS"
page reads :func:`recent_sms`); a real SMS gateway adapter implements the same protocol.

Delivery is at least once: a crash after the gateway accepted a message but before the
dispatcher's commit sends it again on the next run; ``OutgoingSms.reference`` is stable so
a gateway that de-duplicates by reference can drop the repeat.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import phonenumbers
from sqlalchemy import Subquery, func, insert, literal, select, update
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import get_settings
from p2plend.db import insert_rows, table_of
from p2plend.errors import InvalidInput, NotFound
from p2plend.notifications.models import OutboxMessage
from p2plend.notifications.sealing import open_sms, seal_sms
from p2plend.notifications.templates import SMS_SIGNATURE, normalise_locale, render, render_sql

MAX_SMS_ATTEMPTS = 5
MAX_PAGE = 100


# --- views ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """An outbox row as callers see it. ``body`` is None for an SMS: its text is sealed."""

    id: int
    channel: str
    user_id: int | None
    recipient_masked: str | None
    template: str
    locale: str
    title: str
    body: str | None
    status: str
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class SentSms:
    """A line of the demo's "simulated SMS" page. ``text`` is None in production."""

    id: int
    phone_masked: str
    template: str
    text: str | None
    status: str
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """What a gateway gets: ``reference`` is stable across retries of the same message."""

    reference: str
    phone: str  # E.164
    text: str


@dataclass(frozen=True, slots=True)
class DispatchReport:
    sent: int
    retrying: int
    failed: int


class SmsDeliveryError(Exception):
    """Raised by an ``SmsSender`` when the gateway refused or could not be reached."""


class SmsSender(Protocol):
    """The SMS gateway port (短信网关)."""

    def send(self, message: OutgoingSms) -> None:
        """Hand the message to the gateway; raise :class:`SmsDeliveryError` if it was not taken."""


class OutboxOnlySender:
    """The default gateway: delivery is the outbox row itself (demo, development, tests)."""

    def send(self, message: OutgoingSms) -> None:
        return None


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


# --- writing ----------------------------------------------------------------------------


def send_sms(
    session: Session,
    *,
    phone: str,
    template: str,
    params: dict[str, str],
    user_id: int | None = None,
    locale: str = "zh",
) -> Notification:
    """Queue an SMS (短信) in the outbox; it is sent after the caller's transaction commits."""
    e164 = _e164(phone)
    language = normalise_locale(locale)
    rendered = render(template, language, params)
    row = OutboxMessage(
        channel="sms",
        user_id=user_id,
        recipient_masked=mask_phone(e164),
        sealed=seal_sms(e164, SMS_SIGNATURE[language] + rendered.body),
        template=template,
        locale=language,
        title=rendered.title,
        body=None,
        status="pending",
        attempts=0,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return _view(row)


def notify_user(
    session: Session, *, user_id: int, template: str, params: dict[str, str], locale: str = "zh"
) -> Notification:
    """Put a message in the user's message center (站内信); delivered by being written."""
    row = OutboxMessage(**_inbox_row(InboxMessage(user_id, template, params, locale), clock.now()))
    session.add(row)
    session.flush()
    return _view(row)


@dataclass(frozen=True)
class InboxMessage:
    user_id: int
    template: str
    params: dict[str, str]
    locale: str = "zh"


def notify_users(session: Session, messages: Sequence[InboxMessage]) -> int:
    """Many messages to message centers at once — every holder's 回款通知 of a repayment — in
    one statement. Returns how many were written."""
    now = clock.now()
    rows = [_inbox_row(message, now) for message in messages]
    insert_rows(session, OutboxMessage, rows)
    return len(rows)


def notify_selected(session: Session, template: str, recipients: Subquery) -> int:
    """Message-center messages of ``template`` to every row of ``recipients`` — its columns
    ``user_id``, ``locale`` and the template's parameters, as text — rendered and written by
    the database in one INSERT … SELECT, in the rows' order: the day's 回款通知 to thousands
    of holders, with no row passing through Python. Returns how many were written."""
    params = {c.name: c for c in recipients.c if c.name not in ("user_id", "locale")}
    title, body = render_sql(template, recipients.c.locale, params)
    delivered = _delivered_inbox(clock.now())
    columns = table_of(OutboxMessage).c
    result = session.execute(
        insert(OutboxMessage).from_select(
            ["user_id", "template", "locale", "title", "body", *delivered],
            select(
                recipients.c.user_id,
                literal(template),
                recipients.c.locale,
                title,
                body,
                *(literal(value, columns[name].type) for name, value in delivered.items()),
            ),
        ),
        execution_options={"preserve_rowcount": True},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _inbox_row(message: InboxMessage, now: datetime) -> dict[str, Any]:
    language = normalise_locale(message.locale)
    rendered = render(message.template, language, message.params)
    return {
        "user_id": message.user_id,
        "template": message.template,
        "locale": language,
        "title": rendered.title,
        "body": rendered.body,
        **_delivered_inbox(now),
    }


def _delivered_inbox(now: datetime) -> dict[str, Any]:
    """What every message-center row carries: delivered by being written, at ``now``."""
    return {"channel": "inbox", "status": "sent", "attempts": 0, "created_at": now, "sent_at": now}


def mark_read(session: Session, user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's messages read; reading it again keeps the first time."""
    row = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.id == notification_id,
            OutboxMessage.user_id == user_id,
            OutboxMessage.channel == "inbox",
        )
    ).one_or_none()
    if row is None:
        # Someone else's message answers exactly like a missing one.
        raise NotFound("No such message.", details={"notification_id": notification_id})
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.read_at.is_(None))
        .values(read_at=clock.now()),
        execution_options={"synchronize_session": False},
    )
    session.refresh(row)
    return _view(row)


# --- reading ----------------------------------------------------------------------------


def inbox(
    session: Session,
    user_id: int,
    *,
    limit: int = 20,
    unread_only: bool = False,
    before_id: int | None = None,
) -> list[Notification]:
    """The user's message center, newest first; page with ``before_id``."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.user_id == user_id, OutboxMessage.channel == "inbox")
        .order_by(OutboxMessage.id.desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    if unread_only:
        query = query.where(OutboxMessage.read_at.is_(None))
    if before_id is not None:
        query = query.where(OutboxMessage.id < before_id)
    return [_view(row) for row in session.scalars(query)]


def unread_count(session: Session, user_id: int) -> int:
    """How many of the user's messages are unread (the badge on the bell)."""
    count = session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.user_id == user_id,
            OutboxMessage.channel == "inbox",
            OutboxMessage.read_at.is_(None),
        )
    )
    return int(count or 0)


def recent_sms(session: Session, *, limit: int = 20) -> list[SentSms]:
    """The latest SMS, newest first, for the demo's "simulated SMS" page.

    The text (which may hold a one-time code) is shown only outside production.
    """
    show_text = get_settings().environment != "production"
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == "sms")
        .order_by(OutboxMessage.id.desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    return [
        SentSms(
            id=row.id,
            phone_masked=row.recipient_masked or "",
            template=row.template,
            text=open_sms(row.sealed)[1] if show_text and row.sealed is not None else None,
            status=row.status,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )
        for row in rows
    ]


# --- dispatching ------------------------------------------------------------------------


def dispatch_pending(session: Session, sender: SmsSender, *, limit: int = 100) -> DispatchReport:
    """Hand up to ``limit`` pending SMS to ``sender`` and record each outcome.

    Run in its own transaction after the business acts committed. Several dispatchers may
    run at once on PostgreSQL: each takes rows the others have not locked (SKIP LOCKED).
    A message the gateway refuses is retried on later runs, up to ``MAX_SMS_ATTEMPTS``.
    """
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.channel == "sms", OutboxMessage.status == "pending")
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    sent = retrying = failed = 0
    for row in rows:
        if _deliver(row, sender):
            sent += 1
        elif row.status == "failed":
            failed += 1
        else:
            retrying += 1
    session.flush()
    return DispatchReport(sent=sent, retrying=retrying, failed=failed)


def _deliver(row: OutboxMessage, sender: SmsSender) -> bool:
    assert row.sealed is not None  # the sms_sealed CHECK guarantees it
    phone, text = open_sms(row.sealed)
    row.attempts += 1
    try:
        sender.send(OutgoingSms(reference=f"p2plend-sms-{row.id}", phone=phone, text=text))
    except SmsDeliveryError as exc:
        row.last_error = str(exc)[:200]
        if row.attempts >= MAX_SMS_ATTEMPTS:
            row.status = "failed"
        return False
    row.status = "sent"
    row.sent_at = clock.now()
    row.last_error = None
    return True


# --- helpers ----------------------------------------------------------------------------


def _e164(phone: str) -> str:
    """The number in E.164 (``+8613812345678``); a bare national number is read as mainland China."""
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("This is not a phone number.") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("This is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """``+8613812345678`` → ``138****5678`` (DOMAIN.md §11); other countries keep their code."""
    national = e164.removeprefix("+86")
    if len(national) <= 7:
        return "*" * len(national)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]


def _view(row: OutboxMessage) -> Notification:
    return Notification(
        id=row.id,
        channel=row.channel,
        user_id=row.user_id,
        recipient_masked=row.recipient_masked,
        template=row.template,
        locale=row.locale,
        title=row.title,
        body=row.body,
        status=row.status,
        created_at=row.created_at,
        sent_at=row.sent_at,
        read_at=row.read_at,
    )

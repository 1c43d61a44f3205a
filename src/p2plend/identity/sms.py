"""One-time codes sent by SMS (短信验证码): throttled, expiring, at most 5 guesses, used once."""

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import get_settings
from p2plend.identity import pii, records
from p2plend.identity.errors import SmsCodeAttemptsExceeded, SmsCodeExpired, SmsCodeInvalid, SmsResendTooSoon
from p2plend.identity.models import SmsCode
from p2plend.notifications import service as notifications

MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class SmsCodeSent:
    expires_at: datetime
    resend_after: datetime


def _code_hash(phone_index: str, purpose: str, code: str) -> str:
    # Keyed (HMAC): a leaked table does not give six-digit codes away to a brute force.
    return pii.blind_index(f"{phone_index}:{purpose}:{code}", context=records.SMS_CODE)


def _latest(session: Session, phone_index: str, purpose: str) -> SmsCode | None:
    """Only the latest code sent counts: asking for a new one retires the older ones."""
    return session.scalars(
        select(SmsCode)
        .where(SmsCode.phone_index == phone_index, SmsCode.purpose == purpose)
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc())
        .limit(1)
    ).one_or_none()


def issue(session: Session, *, e164: str, purpose: str, template: str) -> SmsCodeSent:
    """Create a 6-digit code for (phone, purpose) and send it through the notification port."""
    settings = get_settings()
    now = clock.now()
    phone_index = records.phone_index(e164)
    latest = _latest(session, phone_index, purpose)
    resend_gap = timedelta(seconds=settings.sms_resend_seconds)
    if latest is not None and latest.created_at + resend_gap > now:
        wait = latest.created_at + resend_gap - now
        raise SmsResendTooSoon(
            "A code was sent a moment ago; wait before asking for another.",
            details={"retry_after_seconds": int(wait.total_seconds()) + 1},
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    expires_at = now + timedelta(minutes=settings.sms_code_minutes)
    session.add(
        SmsCode(
            phone_index=phone_index,
            purpose=purpose,
            code_hash=_code_hash(phone_index, purpose, code),
            attempts=0,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    params = {"code": code, "minutes": str(settings.sms_code_minutes)}
    notifications.send_sms(session, phone=e164, template=template, params=params)
    return SmsCodeSent(expires_at=expires_at, resend_after=now + resend_gap)


def consume(session: Session, *, e164: str, purpose: str, code: str) -> None:
    """Accept the latest code sent for (phone, purpose), once."""
    phone_index = records.phone_index(e164)
    latest = _latest(session, phone_index, purpose)
    if latest is None or latest.consumed_at is not None:
        raise SmsCodeInvalid("Request a verification code first.")
    if latest.expires_at <= clock.now():
        raise SmsCodeExpired("The verification code has expired; request a new one.")
    # Count the guess before comparing, in one conditional UPDATE: concurrent guesses
    # cannot get more than MAX_ATTEMPTS comparisons between them.
    attempts = session.execute(
        update(SmsCode)
        .where(SmsCode.id == latest.id, SmsCode.attempts < MAX_ATTEMPTS)
        .values(attempts=SmsCode.attempts + 1)
        .returning(SmsCode.attempts)
    ).scalar_one_or_none()
    if attempts is None:
        raise SmsCodeAttemptsExceeded("Too many wrong codes; request a new one.")
    if not hmac.compare_digest(_code_hash(phone_index, purpose, code.strip()), latest.code_hash):
        raise SmsCodeInvalid(
            "The verification code is wrong.", details={"attempts_left": MAX_ATTEMPTS - attempts}
        )
    consumed = session.execute(
        update(SmsCode)
        .where(SmsCode.id == latest.id, SmsCode.consumed_at.is_(None))
        .values(consumed_at=clock.now())
        .returning(SmsCode.id)
    ).scalar_one_or_none()
    if consumed is None:  # a concurrent request used it first
        raise SmsCodeInvalid("This verification code was already used.")

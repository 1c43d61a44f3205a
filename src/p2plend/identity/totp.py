"""Two-factor authentication with TOTP authenticator apps (RFC 6238, 30-second steps).

Each code works once: the last time-step used is stored per user and a code of that step
or an earlier one is refused (as polar does in ``polar/models/totp_enrollment.py``). Five
wrong codes in a row block verification for ``login_lockout_minutes``.
Mandatory for staff (no staff permission without it) and for withdrawals (R10, custody).
"""

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import segno
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import get_settings
from p2plend.identity import events, pii, records
from p2plend.identity.errors import TotpAlreadyEnabled, TotpBlocked, TotpInvalid, TotpNotEnrolled
from p2plend.identity.models import TotpEnrollment as EnrollmentRow
from p2plend.identity.permissions import Permission

ISSUER = "p2plend"
MAX_FAILURES = 5
CODE_DIGITS = 6


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    """What the user scans into their app; the secret is shown once, then kept encrypted."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def matching_time_step(secret: str, code: str, now: datetime) -> int | None:
    """The time-step (current ±1, for clock drift) whose code is ``code``, or None."""
    code = code.strip()
    if len(code) != CODE_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_time_step(session: Session, enrollment_id: int, step: int) -> bool:
    """Record ``step`` as used unless it, or a later one, already was (one conditional UPDATE)."""
    claimed = session.execute(
        update(EnrollmentRow)
        .where(
            EnrollmentRow.id == enrollment_id,
            or_(EnrollmentRow.last_used_time_step.is_(None), EnrollmentRow.last_used_time_step < step),
        )
        .values(last_used_time_step=step, failed_attempts=0)
        .returning(EnrollmentRow.id)
    ).scalar_one_or_none()
    return claimed is not None


def _count_failure(session: Session, enrollment: EnrollmentRow, now: datetime) -> None:
    failures = session.execute(
        update(EnrollmentRow)
        .where(EnrollmentRow.id == enrollment.id)
        .values(failed_attempts=EnrollmentRow.failed_attempts + 1)
        .returning(EnrollmentRow.failed_attempts)
    ).scalar_one()
    if failures < MAX_FAILURES:
        return
    blocked_until = now + timedelta(minutes=get_settings().login_lockout_minutes)
    session.execute(
        update(EnrollmentRow)
        .where(EnrollmentRow.id == enrollment.id)
        .values(failed_attempts=0, blocked_until=blocked_until)
    )
    events.record(
        session,
        "totp.blocked",
        actor_id=None,
        object_id=enrollment.user_id,
        blocked_until=blocked_until.isoformat(),
    )


def check_code(session: Session, enrollment: EnrollmentRow, code: str) -> None:
    """Accept a fresh code of ``enrollment``; count a wrong or replayed one (TotpInvalid is recorded)."""
    now = clock.now()
    if enrollment.blocked_until is not None and enrollment.blocked_until > now:
        raise TotpBlocked(
            "Too many wrong codes: try again later.",
            details={"blocked_until": enrollment.blocked_until.isoformat()},
        )
    secret = pii.decrypt(enrollment.secret_encrypted, context=records.TOTP_SECRET)
    step = matching_time_step(secret, code, now)
    if step is not None and _claim_time_step(session, enrollment.id, step):
        return
    _count_failure(session, enrollment, now)
    if step is None:
        raise TotpInvalid("The authenticator code is wrong.", details={"reason": "wrong"})
    raise TotpInvalid(
        "This authenticator code was already used; wait for the next one.", details={"reason": "replayed"}
    )


def _enrollment_row(session: Session, user_id: int) -> EnrollmentRow | None:
    return session.scalars(
        select(EnrollmentRow).where(EnrollmentRow.user_id == user_id).with_for_update()
    ).one_or_none()


def begin_totp_enrollment(session: Session, user_id: int) -> TotpEnrollment:
    """Start (or restart, while unconfirmed) enrolling an authenticator: a new secret, URI and QR code."""
    user = records.get_user(session, user_id)
    row = _enrollment_row(session, user_id)
    if row is not None and row.confirmed_at is not None:
        raise TotpAlreadyEnabled("Two-factor authentication is already on.")
    secret = pyotp.random_base32()
    encrypted = pii.encrypt(secret, context=records.TOTP_SECRET)
    if row is None:
        row = EnrollmentRow(
            user_id=user_id, secret_encrypted=encrypted, created_at=clock.now(), failed_attempts=0
        )
        session.add(row)
    else:
        row.secret_encrypted = encrypted
        row.created_at = clock.now()
        row.last_used_time_step = None
        row.failed_attempts = 0
        row.blocked_until = None
    session.flush()
    # The label the app shows: the masked phone, so a lost phone's app does not leak the number.
    label = pii.mask_phone(records.phone_of(user))
    uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)
    qr_svg: str = segno.make(uri, error="m").svg_inline(scale=4, title="p2plend TOTP")
    return TotpEnrollment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg)


def confirm_totp_enrollment(session: Session, user_id: int, code: str) -> None:
    """Turn 2FA on with a first code from the app (proves the app holds the secret)."""
    row = _enrollment_row(session, user_id)
    if row is None:
        raise TotpNotEnrolled("Start the authenticator enrolment first.")
    if row.confirmed_at is not None:
        raise TotpAlreadyEnabled("Two-factor authentication is already on.")
    check_code(session, row, code)
    row.confirmed_at = clock.now()
    session.flush()
    events.record(session, "totp.enabled", actor_id=user_id, object_id=user_id)


def verify_totp(session: Session, user_id: int, code: str) -> None:
    """Check a TOTP code for a sensitive act (staff acts, withdrawals — R10). Each code works once."""
    enrollment = records.confirmed_enrollment(session, user_id)
    if enrollment is None:
        raise TotpNotEnrolled("Turn on two-factor authentication first.")
    check_code(session, enrollment, code)


def reset_totp(session: Session, *, actor_id: int | None, user_id: int) -> None:
    """An administrator removes a lost authenticator; the user enrols again at next sign-in."""
    records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    row = _enrollment_row(session, user_id)
    if row is None:
        return
    session.delete(row)
    session.flush()
    events.record(session, "totp.reset", actor_id=actor_id, object_id=user_id)

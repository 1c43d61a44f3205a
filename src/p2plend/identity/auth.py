"""Sign-in (登录), sessions and permission checks.

Lock-out lives in the database (``users.failed_login_count``, ``users.locked_until``) and
is counted with conditional UPDATEs, so it holds across any number of API workers.
A bearer token is random; only its SHA-256 is stored.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NoReturn

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import get_settings
from p2plend.errors import PermissionDenied, Unauthenticated
from p2plend.identity import events, passwords, records, totp
from p2plend.identity.errors import (
    AccountDisabled,
    AccountLocked,
    InvalidCredentials,
    InvalidPhone,
    TotpEnrollmentRequired,
    TotpRequired,
)
from p2plend.identity.models import AuthSession, User
from p2plend.identity.permissions import is_staff, permissions_for
from p2plend.identity.validation import normalise_phone

Client = Literal["web", "api"]
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling and what they may do; built per request by :func:`authenticate`."""

    user_id: int
    session_id: int
    roles: frozenset[str]
    permissions: frozenset[str]
    is_staff: bool
    totp_enabled: bool
    real_name_verified: bool
    locale: str
    kind: str = "person"

    @property
    def needs_2fa_enrollment(self) -> bool:
        """Staff without a confirmed authenticator get no staff permission until they enrol."""
        return self.is_staff and not self.totp_enabled


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str  # given to the client once; only its SHA-256 is kept
    expires_at: datetime
    user_id: int
    session_id: int
    needs_2fa_enrollment: bool


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def refuse_wrong_password(
    session: Session, user: User, *, reason: str, client: Client | None, ip: str | None
) -> NoReturn:
    """Count a failed sign-in; the last allowed one locks the account for a while."""
    settings = get_settings()
    failures = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_login_count=User.failed_login_count + 1)
        .returning(User.failed_login_count)
    ).scalar_one()
    if failures < settings.login_max_failures:
        events.record(
            session,
            "auth.login_failed",
            actor_id=None,
            object_id=user.id,
            reason=reason,
            failures=failures,
            client=client,
            ip=ip,
        )
        raise InvalidCredentials("The phone number or the password is wrong.")
    locked_until = clock.now() + timedelta(minutes=settings.login_lockout_minutes)
    session.execute(
        update(User).where(User.id == user.id).values(failed_login_count=0, locked_until=locked_until)
    )
    events.record(
        session,
        "auth.locked_out",
        actor_id=None,
        object_id=user.id,
        failures=failures,
        locked_until=locked_until.isoformat(),
        client=client,
        ip=ip,
    )
    raise AccountLocked(
        "Too many failed sign-ins: the account is locked for a while.",
        details={"locked_until": locked_until.isoformat()},
    )


def check_not_locked_out(user: User) -> None:
    if user.locked_until is not None and user.locked_until > clock.now():
        raise AccountLocked(
            "Too many failed sign-ins: the account is locked for a while.",
            details={"locked_until": user.locked_until.isoformat()},
        )


def _check_active(user: User) -> None:
    if user.status == "locked":
        raise AccountLocked(
            "This account is locked; contact customer service.", details={"locked_until": None}
        )
    if user.status != "active":
        raise AccountDisabled("This account is closed.")


def login(
    session: Session,
    *,
    phone: str,
    password: str,
    totp_code: str | None,
    client: Client,
    ip: str | None,
) -> LoginResult:
    """登录: phone + password (+ a TOTP code once 2FA is on) → a bearer token for ``session_hours``.

    Refusals: ``invalid_credentials`` (unknown phone or wrong password, alike),
    ``account_locked``, ``account_disabled``, ``totp_required``, ``totp_invalid``, ``totp_blocked``.
    """
    try:
        user = records.user_by_phone(session, normalise_phone(phone))
    except InvalidPhone:
        user = None
    if user is None:
        # Same answer, about the same time as a wrong password: whether a phone is registered
        # is not revealed here.
        passwords.spend_time_as_verifying()
        events.record(
            session,
            "auth.login_failed",
            actor_id=None,
            object_id=None,
            reason="unknown_phone",
            client=client,
            ip=ip,
        )
        raise InvalidCredentials("The phone number or the password is wrong.")
    check_not_locked_out(user)
    valid, new_hash = passwords.verify_and_update(password, user.password_hash)
    if not valid:
        refuse_wrong_password(session, user, reason="wrong_password", client=client, ip=ip)
    _check_active(user)
    enrollment = records.confirmed_enrollment(session, user.id)
    if enrollment is not None:
        if not totp_code:
            raise TotpRequired("Enter the code from your authenticator app.")
        totp.check_code(session, enrollment, totp_code)
    if new_hash is not None:
        user.password_hash = new_hash  # the argon2 parameters changed since this hash was made
    return _open_session(session, user, client=client, ip=ip, totp_enabled=enrollment is not None)


def _open_session(
    session: Session, user: User, *, client: Client, ip: str | None, totp_enabled: bool
) -> LoginResult:
    now = clock.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + timedelta(hours=get_settings().session_hours)
    user.failed_login_count = 0
    user.locked_until = None
    user.last_login_at = now
    auth_session = AuthSession(
        user_id=user.id,
        token_hash=_token_hash(token),
        client=client,
        ip=ip,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(auth_session)
    session.flush()
    events.record(
        session,
        "auth.login",
        actor_id=user.id,
        object_type="auth_session",
        object_id=auth_session.id,
        client=client,
        ip=ip,
    )
    return LoginResult(
        token=token,
        expires_at=expires_at,
        user_id=user.id,
        session_id=auth_session.id,
        needs_2fa_enrollment=is_staff(records.roles_of(session, user.id)) and not totp_enabled,
    )


def authenticate(session: Session, token: str | None) -> AuthContext:
    """The caller behind a bearer token; Unauthenticated if missing, unknown, expired or revoked."""
    if not token:
        raise Unauthenticated("Sign in first.")
    found = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.token_hash == _token_hash(token))
    ).one_or_none()
    if found is None:
        raise Unauthenticated("This session is not valid; sign in again.")
    auth_session, user = found
    if auth_session.revoked_at is not None or auth_session.expires_at <= clock.now():
        raise Unauthenticated("This session has ended; sign in again.")
    if user.status != "active":
        raise Unauthenticated("This account is not active.")
    roles = records.roles_of(session, user.id)
    totp_enabled = records.confirmed_enrollment(session, user.id) is not None
    return AuthContext(
        user_id=user.id,
        session_id=auth_session.id,
        roles=roles,
        permissions=permissions_for(roles, totp_enabled=totp_enabled),
        is_staff=is_staff(roles),
        totp_enabled=totp_enabled,
        real_name_verified=records.real_name_of(session, user.id) is not None,
        locale=user.locale,
        kind=user.kind,
    )


def logout(session: Session, token: str) -> None:
    """End the session of ``token``; ending an ended or unknown session is not an error."""
    ended = session.execute(
        update(AuthSession)
        .where(AuthSession.token_hash == _token_hash(token), AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .returning(AuthSession.id, AuthSession.user_id)
    ).one_or_none()
    if ended is not None:
        events.record(
            session, "auth.logout", actor_id=ended.user_id, object_type="auth_session", object_id=ended.id
        )


def revoke_all_sessions(session: Session, user_id: int) -> None:
    session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


def require_permission(ctx: AuthContext, permission: str) -> None:
    """Raise unless the caller holds ``permission`` (staff ones only once TOTP is enrolled)."""
    if permission in ctx.permissions:
        return
    if ctx.needs_2fa_enrollment and permission.startswith("staff:"):
        raise TotpEnrollmentRequired(
            "Enrol a TOTP authenticator before using staff functions.", details={"permission": permission}
        )
    raise PermissionDenied("You may not do this.", details={"permission": permission})

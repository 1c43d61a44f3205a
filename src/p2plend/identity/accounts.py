"""Accounts: registration (注册), staff and partner organisations, roles, status, profiles."""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.config import get_settings
from p2plend.db import among
from p2plend.errors import PermissionDenied
from p2plend.identity import auth, events, kyc, passwords, pii, records, sms
from p2plend.identity.errors import PhoneTaken, RoleNotAllowed, SmsCodeInvalid, UserNotFound
from p2plend.identity.models import User, UserRole
from p2plend.identity.permissions import (
    ORGANISATION_ROLES,
    SELF_SERVICE_ROLES,
    STAFF_ROLES,
    Permission,
    Role,
    is_staff,
    parse_role,
)
from p2plend.identity.validation import (
    check_password_policy,
    normalise_organisation_name,
    normalise_person_name,
    normalise_phone,
    normalise_uscc,
)

SMS_PURPOSE_REGISTRATION = "registration"
SMS_TEMPLATE_REGISTRATION = "registration_code"
SMS_PURPOSE_PASSWORD_RESET = "password_reset"  # noqa: S105 — a code purpose, not a password
SMS_TEMPLATE_PASSWORD_RESET = "password_reset_code"  # noqa: S105 — a template name
MAX_PAGE_SIZE = 100

UserStatus = Literal["active", "locked", "disabled"]


@dataclass(frozen=True, slots=True)
class Profile:
    """A user as they (or staff without need-to-know) see them: personal data masked (R47)."""

    user_id: int
    kind: str
    phone_masked: str
    display_name: str | None
    locale: str
    status: str
    roles: frozenset[str]
    is_staff: bool
    totp_enabled: bool
    real_name_verified: bool
    name_masked: str | None
    id_number_masked: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserPage:
    items: list[Profile]
    total: int
    page: int
    page_size: int


# --- registration ------------------------------------------------------------------------


def send_registration_code(session: Session, phone: str) -> sms.SmsCodeSent:
    """Send a 6-digit registration code by SMS (throttled, valid ``sms_code_minutes``)."""
    e164 = normalise_phone(phone)
    if records.user_by_phone(session, e164) is not None:
        raise PhoneTaken("This phone number is already registered.")
    return sms.issue(session, e164=e164, purpose=SMS_PURPOSE_REGISTRATION, template=SMS_TEMPLATE_REGISTRATION)


def register(session: Session, *, phone: str, password: str, sms_code: str) -> User:
    """注册: a person whose phone is proven by an SMS code; they start as an investor."""
    e164 = normalise_phone(phone)
    check_password_policy(password)  # before the code is spent: a weak password costs no code
    if records.user_by_phone(session, e164) is not None:
        raise PhoneTaken("This phone number is already registered.")
    sms.consume(session, e164=e164, purpose=SMS_PURPOSE_REGISTRATION, code=sms_code)
    user = records.insert_user(session, kind="person", e164=e164, password=password)
    records.grant_role(session, user.id, Role.INVESTOR, granted_by=None)
    events.record(session, "user.registered", actor_id=user.id, object_id=user.id, kind="person")
    return user


# --- passwords ---------------------------------------------------------------------------


def _set_password(session: Session, user: User, new_password: str) -> None:
    """A new password ends every session and lifts an automatic lock-out (the owner proved themself)."""
    user.password_hash = passwords.hash_password(new_password)
    user.failed_login_count = 0
    user.locked_until = None
    auth.revoke_all_sessions(session, user.id)
    session.flush()


def send_password_reset_code(session: Session, phone: str) -> sms.SmsCodeSent:
    """Send a password-reset code by SMS to a registered phone.

    An unregistered phone gets the same answer and no message: this endpoint does not
    tell who is registered.
    """
    e164 = normalise_phone(phone)
    if records.user_by_phone(session, e164) is None:
        now = clock.now()
        settings = get_settings()
        return sms.SmsCodeSent(
            expires_at=now + timedelta(minutes=settings.sms_code_minutes),
            resend_after=now + timedelta(seconds=settings.sms_resend_seconds),
        )
    return sms.issue(
        session, e164=e164, purpose=SMS_PURPOSE_PASSWORD_RESET, template=SMS_TEMPLATE_PASSWORD_RESET
    )


def reset_password(session: Session, *, phone: str, sms_code: str, new_password: str) -> None:
    """找回密码: a new password for the owner of the phone, proven by SMS code."""
    e164 = normalise_phone(phone)
    check_password_policy(new_password)
    user = records.user_by_phone(session, e164)
    if user is None:
        raise SmsCodeInvalid("Request a verification code first.")
    sms.consume(session, e164=e164, purpose=SMS_PURPOSE_PASSWORD_RESET, code=sms_code)
    _set_password(session, user, new_password)
    events.record(session, "auth.password_reset", actor_id=user.id, object_id=user.id)


def change_password(session: Session, user_id: int, *, current_password: str, new_password: str) -> None:
    """修改密码: the signed-in user proves the current password; every session ends."""
    user = records.get_user(session, user_id, for_update=True)
    auth.check_not_locked_out(user)
    if not passwords.verify_and_update(current_password, user.password_hash)[0]:
        # Counted like a failed sign-in: a stolen session must not become a password oracle.
        auth.refuse_wrong_password(session, user, reason="wrong_current_password", client=None, ip=None)
    check_password_policy(new_password)
    _set_password(session, user, new_password)
    events.record(session, "auth.password_changed", actor_id=user_id, object_id=user_id)


def _roles_within(roles: Iterable[str], allowed: frozenset[Role], message: str) -> list[Role]:
    wanted = sorted({parse_role(role) for role in roles})
    if not wanted or not set(wanted) <= allowed:
        raise RoleNotAllowed(message, details={"allowed": sorted(role.value for role in allowed)})
    return wanted


def create_staff(
    session: Session,
    *,
    actor_id: int | None,
    phone: str,
    password: str,
    name: str,
    roles: Iterable[str],
) -> User:
    """A staff member (actor: an administrator, or None for the console). TOTP comes at first sign-in."""
    records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    wanted = _roles_within(roles, STAFF_ROLES, "Staff accounts take one or more staff roles only.")
    e164 = normalise_phone(phone)
    check_password_policy(password)
    user = records.insert_user(
        session,
        kind="person",
        e164=e164,
        password=password,
        display_name=normalise_person_name(name),
        created_by=actor_id,
    )
    for role in wanted:
        records.grant_role(session, user.id, role, granted_by=actor_id)
    events.record(
        session, "staff.created", actor_id=actor_id, object_id=user.id, roles=[r.value for r in wanted]
    )
    return user


def create_partner(
    session: Session,
    *,
    actor_id: int | None,
    phone: str,
    password: str,
    name: str,
    uscc: str,
    roles: Iterable[str] = (Role.PARTNER_INSTITUTION,),
) -> User:
    """A partner organisation (合作机构, 担保公司 …), real-name verified by its USCC at onboarding."""
    records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    wanted = _roles_within(roles, ORGANISATION_ROLES, "An organisation takes organisation roles only.")
    e164 = normalise_phone(phone)
    check_password_policy(password)
    org_name = normalise_organisation_name(name)
    code = normalise_uscc(uscc)
    user = records.insert_user(
        session, kind="organisation", e164=e164, password=password, display_name=org_name, created_by=actor_id
    )
    kyc.store_real_name(session, user, name=org_name, number=code, document_type="uscc", birth_date=None)
    for role in wanted:
        records.grant_role(session, user.id, role, granted_by=actor_id)
    events.record(
        session,
        "partner.created",
        actor_id=actor_id,
        object_id=user.id,
        roles=[r.value for r in wanted],
        uscc_masked=pii.mask_id_number(code),
    )
    return user


def create_platform_account(
    session: Session, *, actor_id: int | None, phone: str, name: str, uscc: str, purpose: str
) -> User:
    """An account the platform itself owns (the risk reserve's 专户): an organisation under the
    platform's own name and credit code, with no role and a password nobody is told, so it holds
    money and claims but never signs in."""
    records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    e164 = normalise_phone(phone)
    org_name = normalise_organisation_name(name)
    code = normalise_uscc(uscc)
    user = records.insert_user(
        session,
        kind="organisation",
        e164=e164,
        password=secrets.token_urlsafe(32) + "Aa1",
        display_name=f"{org_name}（{purpose}）",
        created_by=actor_id,
    )
    kyc.store_real_name(session, user, name=org_name, number=code, document_type="uscc", birth_date=None)
    events.record(session, "platform_account.created", actor_id=actor_id, object_id=user.id, purpose=purpose)
    return user


# --- roles and status ----------------------------------------------------------------------


def _check_role_fits(user: User, role: Role) -> None:
    if user.kind == "organisation" and role not in ORGANISATION_ROLES:
        raise RoleNotAllowed("An organisation cannot hold this role.", details={"role": role.value})
    if user.kind == "person" and role is Role.PARTNER_INSTITUTION:
        raise RoleNotAllowed(
            "Only an organisation can be a partner institution.", details={"role": role.value}
        )


def add_role(session: Session, *, actor_id: int | None, user_id: int, role: str) -> bool:
    """Give a role; False if the user already had it.

    Users may make themselves borrowers (or investors); any other grant needs an
    administrator (``staff:users:manage``) or the console (``actor_id=None``).
    """
    wanted = parse_role(role)
    user = records.get_user(session, user_id)
    _check_role_fits(user, wanted)
    if not (actor_id == user_id and wanted in SELF_SERVICE_ROLES):
        records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    if not records.grant_role(session, user_id, wanted, granted_by=actor_id):
        return False
    events.record(session, "role.granted", actor_id=actor_id, object_id=user_id, role=wanted.value)
    return True


def remove_role(session: Session, *, actor_id: int | None, user_id: int, role: str) -> bool:
    """Take a role away (administrators); False if the user did not have it."""
    wanted = parse_role(role)
    records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    if actor_id == user_id and wanted is Role.ADMIN:
        raise RoleNotAllowed("An administrator cannot remove their own administrator role.")
    row = session.scalars(
        select(UserRole).where(UserRole.user_id == user_id, UserRole.role == wanted.value)
    ).one_or_none()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    events.record(session, "role.revoked", actor_id=actor_id, object_id=user_id, role=wanted.value)
    return True


def set_user_status(session: Session, *, actor_id: int | None, user_id: int, status: UserStatus) -> None:
    """Lock, close or re-open an account (administrators).

    Leaving ``active`` ends all of the user's sessions; re-opening also lifts an automatic lock-out.
    """
    records.require_actor(session, actor_id, Permission.STAFF_USERS_MANAGE)
    if actor_id == user_id:
        raise PermissionDenied("You cannot change the status of your own account.")
    user = records.get_user(session, user_id, for_update=True)
    previous = user.status
    user.status = status
    if status == "active":
        user.failed_login_count = 0
        user.locked_until = None
    else:
        auth.revoke_all_sessions(session, user_id)
    session.flush()
    events.record(
        session, "user.status_changed", actor_id=actor_id, object_id=user_id, previous=previous, status=status
    )


# --- profiles --------------------------------------------------------------------------------


def _profile_of(session: Session, user: User) -> Profile:
    roles = records.roles_of(session, user.id)
    identity = records.real_name_of(session, user.id)
    name = pii.decrypt(identity.name_encrypted, context=records.REAL_NAME) if identity else None
    number = pii.decrypt(identity.id_number_encrypted, context=records.ID_NUMBER) if identity else None
    return Profile(
        user_id=user.id,
        kind=user.kind,
        phone_masked=pii.mask_phone(records.phone_of(user)),
        display_name=user.display_name,
        locale=user.locale,
        status=user.status,
        roles=roles,
        is_staff=is_staff(roles),
        totp_enabled=records.confirmed_enrollment(session, user.id) is not None,
        real_name_verified=identity is not None,
        name_masked=pii.mask_name(name) if name is not None else None,
        id_number_masked=pii.mask_id_number(number) if number is not None else None,
        created_at=user.created_at,
    )


def profile(session: Session, user_id: int) -> Profile:
    """A user's profile, personal data masked."""
    return _profile_of(session, records.get_user(session, user_id))


def list_users(session: Session, *, page: int = 1, page_size: int = 20, role: str | None = None) -> UserPage:
    """Users for staff screens, newest first, masked (R47)."""
    page = max(page, 1)
    page_size = min(max(page_size, 1), MAX_PAGE_SIZE)
    query = select(User)
    if role is not None:
        holders = select(UserRole.user_id).where(UserRole.role == parse_role(role).value)
        query = query.where(User.id.in_(holders))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    users = session.scalars(query.order_by(User.id.desc()).offset((page - 1) * page_size).limit(page_size))
    return UserPage(
        items=[_profile_of(session, u) for u in users], total=total, page=page, page_size=page_size
    )


def set_locale(session: Session, user_id: int, locale: Literal["zh", "en"]) -> None:
    records.get_user(session, user_id).locale = locale
    session.flush()


def locales_of(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's language for messages (``zh`` or ``en``), in one query."""
    ids = set(user_ids)
    if not ids:
        return {}
    return {
        user_id: locale
        for user_id, locale in session.execute(
            select(User.id, User.locale).where(among(session, User.id, ids))
        )
    }


def locale_of(user_id: ColumnElement[int]) -> ColumnElement[str]:
    """The language of the user ``user_id`` names, inside a query (``locales_of`` set-wise)."""
    return select(User.locale).where(User.id == user_id).scalar_subquery()


def phone_of(session: Session, user_id: int) -> str:
    """A user's phone in E.164, to send them an SMS through the notification port."""
    return records.phone_of(records.get_user(session, user_id))


def user_id_by_phone(session: Session, phone: str) -> int:
    """The user registered with ``phone`` (any accepted spelling), for staff and operators."""
    user = records.user_by_phone(session, normalise_phone(phone))
    if user is None:
        raise UserNotFound("No user is registered with this phone number.")
    return user.id


def user_kind(session: Session, user_id: int) -> str:
    """``person`` or ``organisation`` (borrowing caps differ, DOMAIN.md §5)."""
    return records.get_user(session, user_id).kind

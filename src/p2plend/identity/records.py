"""Row lookups and writes shared by the identity modules (internal: other domains use ``service``)."""

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.errors import PermissionDenied
from p2plend.identity import passwords, pii
from p2plend.identity.errors import PhoneTaken, UserNotFound
from p2plend.identity.models import RealNameIdentity, TotpEnrollment, User, UserRole
from p2plend.identity.permissions import Permission, Role, permissions_for

# Each ciphertext and blind index is bound to its column (see pii.py).
PHONE = "users.phone"
REAL_NAME = "real_name_identities.name"
ID_NUMBER = "real_name_identities.id_number"
CARD_NUMBER = "bank_cards.card_number"
TOTP_SECRET = "totp_enrollments.secret"  # noqa: S105 — the name of a context, not a secret
SMS_CODE = "sms_codes.code"


def get_user(session: Session, user_id: int, *, for_update: bool = False) -> User:
    query = select(User).where(User.id == user_id)
    if for_update:
        query = query.with_for_update()
    user = session.scalars(query).one_or_none()
    if user is None:
        raise UserNotFound("There is no such user.", details={"user_id": user_id})
    return user


def phone_index(e164: str) -> str:
    return pii.blind_index(e164, context=PHONE)


def phone_of(user: User) -> str:
    return pii.decrypt(user.phone_encrypted, context=PHONE)


def user_by_phone(session: Session, e164: str) -> User | None:
    return session.scalars(select(User).where(User.phone_index == phone_index(e164))).one_or_none()


def roles_of(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))


def confirmed_enrollment(session: Session, user_id: int) -> TotpEnrollment | None:
    return session.scalars(
        select(TotpEnrollment).where(
            TotpEnrollment.user_id == user_id, TotpEnrollment.confirmed_at.is_not(None)
        )
    ).one_or_none()


def real_name_of(session: Session, user_id: int) -> RealNameIdentity | None:
    return session.scalars(select(RealNameIdentity).where(RealNameIdentity.user_id == user_id)).one_or_none()


def verified_among(session: Session, user_ids: Sequence[int]) -> set[int]:
    return set(
        session.scalars(select(RealNameIdentity.user_id).where(RealNameIdentity.user_id.in_(user_ids)))
    )


def require_actor(session: Session, actor_id: int | None, permission: Permission) -> None:
    """Staff acts re-check the actor in the database; ``None`` is the operator's console (CLI)."""
    if actor_id is None:
        return
    actor = get_user(session, actor_id)
    totp_enabled = confirmed_enrollment(session, actor_id) is not None
    granted = permissions_for(roles_of(session, actor_id), totp_enabled=totp_enabled)
    if actor.status != "active" or permission not in granted:
        raise PermissionDenied("You may not do this.", details={"permission": permission.value})


def insert_user(
    session: Session,
    *,
    kind: Literal["person", "organisation"],
    e164: str,
    password: str,
    display_name: str | None = None,
    created_by: int | None = None,
) -> User:
    if user_by_phone(session, e164) is not None:
        raise PhoneTaken("This phone number is already registered.")
    user = User(
        kind=kind,
        phone_encrypted=pii.encrypt(e164, context=PHONE),
        phone_index=phone_index(e164),
        password_hash=passwords.hash_password(password),
        status="active",
        locale="zh",
        display_name=display_name,
        failed_login_count=0,
        created_at=clock.now(),
        created_by=created_by,
    )
    try:
        # A concurrent registration of the same phone loses here, on the unique index.
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        raise PhoneTaken("This phone number is already registered.") from None
    return user


def grant_role(session: Session, user_id: int, role: Role, *, granted_by: int | None) -> bool:
    """Give ``role``; False when the user already had it."""
    if role.value in roles_of(session, user_id):
        return False
    try:
        # Two acts granting the same role at once (two first loan applications): one row wins.
        with session.begin_nested():
            session.add(
                UserRole(user_id=user_id, role=role.value, granted_at=clock.now(), granted_by=granted_by)
            )
            session.flush()
    except IntegrityError:
        return False
    return True

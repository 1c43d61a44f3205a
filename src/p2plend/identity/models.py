"""Identity tables: users, roles, auth sessions, SMS codes, TOTP, real-name KYC, bank cards.

Personal data (phone, real name, ID number, card number, TOTP secret) is stored only
encrypted (AES-256-GCM, ``pii.encrypt``). Where we must look a value up or keep it unique,
a keyed HMAC-SHA256 "blind index" of the normalised value sits beside it (``pii.blind_index``).
"""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class User(Base):
    """A platform user: a person (investor, borrower, staff) or an organisation (partner).

    ``status`` is the administrative state (``locked`` = locked by staff until unlocked,
    ``disabled`` = closed). The automatic lock-out after failed logins is separate and
    temporary: ``locked_until``.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("kind IN ('person', 'organisation')", name="kind"),
        CheckConstraint("status IN ('active', 'locked', 'disabled')", name="status"),
        CheckConstraint("locale IN ('zh', 'en')", name="locale"),
        CheckConstraint("failed_login_count >= 0", name="failed_login_count_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="person")
    # E.164 phone, encrypted; phone_index = HMAC of the E.164 string (login lookup, uniqueness).
    phone_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    phone_index: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="active")
    locale: Mapped[str] = mapped_column(String(2), default="zh")
    # Staff member's or partner organisation's name (not a customer's real name: that is KYC).
    display_name: Mapped[str | None] = mapped_column(String(100))
    failed_login_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AuthSession(Base):
    """A login: only the SHA-256 of the bearer token is kept."""

    __tablename__ = "auth_sessions"
    __table_args__ = (CheckConstraint("client IN ('web', 'api')", name="client"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client: Mapped[str] = mapped_column(String(8))
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmsCode(Base):
    """A one-time code sent by SMS (stored as an HMAC, never in clear)."""

    __tablename__ = "sms_codes"
    __table_args__ = (Index("ix_sms_codes_phone_purpose", "phone_index", "purpose", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone_index: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TotpEnrollment(Base):
    """A user's TOTP secret (encrypted) and the last time-step used, to refuse replays."""

    __tablename__ = "totp_enrollments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # polar's replay guard: a code of a time-step at or before this one is refused.
    last_used_time_step: Mapped[int | None] = mapped_column(BigInteger)
    # Consecutive wrong codes; past the limit, verification is refused until blocked_until.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RealNameIdentity(Base):
    """实名认证: the verified legal name and document of a user; one document per account."""

    __tablename__ = "real_name_identities"
    __table_args__ = (CheckConstraint("document_type IN ('resident_id', 'uscc')", name="document_type"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    document_type: Mapped[str] = mapped_column(String(16))
    name_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BankCard(Base):
    """绑卡: a debit card bound by a real-name user.

    ``card_index`` is set while the card is bound and cleared on unbinding, so its
    uniqueness means "bound to one user at a time" and the row stays as history.
    """

    __tablename__ = "bank_cards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    card_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    card_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    bank_name: Mapped[str] = mapped_column(String(64))
    bound_at: Mapped[datetime] = mapped_column(UtcDateTime)
    unbound_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

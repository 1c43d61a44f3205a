"""API shapes of the identity domain (pydantic v2). Personal data goes out masked only (R47).

Requests carry light limits (lengths) so nothing unbounded reaches the services; the
business rules and their stable error codes (``invalid_phone``, ``weak_password`` …) stay
in the services, where the web pages and the CLI get them too.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from p2plend.identity.accounts import Profile, UserPage
from p2plend.identity.auth import LoginResult
from p2plend.identity.cards import CardView
from p2plend.identity.kyc import RealNameSummary
from p2plend.identity.sms import SmsCodeSent
from p2plend.identity.totp import TotpEnrollment

StaffRole = Literal[
    "admin", "risk_officer", "collector", "customer_service", "operations", "finance", "compliance"
]

PHONE_EXAMPLE = "13812345678"
PASSWORD_EXAMPLE = "s3cret-passw0rd"  # noqa: S105 — documentation example


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- registration and sign-in ------------------------------------------------------------


class SmsCodeRequest(_Request):
    phone: str = Field(max_length=32, description="Mainland China mobile number.", examples=[PHONE_EXAMPLE])


class SmsCodeSentResponse(BaseModel):
    expires_at: datetime = Field(description="The code stops working at this instant.")
    resend_after: datetime = Field(description="Another code can be requested from this instant.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"expires_at": "2026-11-28T02:10:00Z", "resend_after": "2026-11-28T02:01:00Z"}]
        }
    )

    @classmethod
    def of(cls, sent: SmsCodeSent) -> "SmsCodeSentResponse":
        return cls(expires_at=sent.expires_at, resend_after=sent.resend_after)


class RegisterRequest(_Request):
    phone: str = Field(max_length=32, examples=[PHONE_EXAMPLE])
    password: str = Field(
        max_length=128,
        repr=False,
        description="At least 8 characters, letters and digits.",
        examples=[PASSWORD_EXAMPLE],
    )
    sms_code: str = Field(max_length=6, description="The 6-digit code sent by SMS.", examples=["493817"])


class LoginRequest(_Request):
    phone: str = Field(max_length=32, examples=[PHONE_EXAMPLE])
    password: str = Field(max_length=128, repr=False, examples=[PASSWORD_EXAMPLE])
    totp_code: str | None = Field(
        default=None,
        max_length=6,
        description="Code from the authenticator app; required once two-factor authentication is on.",
        examples=["123456"],
    )


class LoginResponse(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`. Shown once.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 — the OAuth 2 token type
    expires_at: datetime
    user_id: int
    needs_2fa_enrollment: bool = Field(description="Staff must enrol TOTP before any staff function works.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "kU3v0n7C9yYxQ2m8VqWwz1sQe5tJk1nZr4fHcL6aP0o",
                    "token_type": "bearer",
                    "expires_at": "2026-11-28T14:00:00Z",
                    "user_id": 42,
                    "needs_2fa_enrollment": False,
                }
            ]
        }
    )

    @classmethod
    def of(cls, result: LoginResult) -> "LoginResponse":
        return cls(
            access_token=result.token,
            expires_at=result.expires_at,
            user_id=result.user_id,
            needs_2fa_enrollment=result.needs_2fa_enrollment,
        )


class PasswordResetRequest(_Request):
    phone: str = Field(max_length=32, examples=[PHONE_EXAMPLE])
    sms_code: str = Field(max_length=6, description="The 6-digit code sent by SMS.", examples=["493817"])
    new_password: str = Field(max_length=128, repr=False, examples=[PASSWORD_EXAMPLE])


class ChangePasswordRequest(_Request):
    current_password: str = Field(max_length=128, repr=False, examples=[PASSWORD_EXAMPLE])
    new_password: str = Field(max_length=128, repr=False, examples=["an0ther-passw0rd"])


# --- the user ----------------------------------------------------------------------------


class ProfileResponse(BaseModel):
    user_id: int
    kind: Literal["person", "organisation"]
    phone_masked: str = Field(examples=["138****5678"])
    display_name: str | None = Field(description="Staff member's or organisation's name.")
    locale: Literal["zh", "en"]
    status: Literal["active", "locked", "disabled"]
    roles: list[str]
    is_staff: bool
    totp_enabled: bool
    real_name_verified: bool
    name_masked: str | None = Field(examples=["张*"])
    id_number_masked: str | None = Field(examples=["110***********1234"])
    created_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 42,
                    "kind": "person",
                    "phone_masked": "138****5678",
                    "display_name": None,
                    "locale": "zh",
                    "status": "active",
                    "roles": ["borrower", "investor"],
                    "is_staff": False,
                    "totp_enabled": True,
                    "real_name_verified": True,
                    "name_masked": "张*",
                    "id_number_masked": "110***********1234",
                    "created_at": "2026-11-28T02:00:00Z",
                }
            ]
        }
    )

    @field_validator("roles", mode="before")
    @classmethod
    def _sorted_roles(cls, roles: Iterable[str]) -> list[str]:
        return sorted(roles)

    @classmethod
    def of(cls, profile: Profile) -> "ProfileResponse":
        return cls.model_validate(profile, from_attributes=True)


class TotpEnrollmentResponse(BaseModel):
    secret: str = Field(description="Base32 secret, for typing into the app by hand. Shown once.")
    otpauth_uri: str
    qr_svg: str = Field(description="The otpauth URI as an inline SVG QR code.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "secret": "JBSWY3DPEHPK3PXP",
                    "otpauth_uri": "otpauth://totp/p2plend:138%2A%2A%2A%2A5678?secret=JBSWY3DPEHPK3PXP&issuer=p2plend",
                    "qr_svg": '<svg xmlns="http://www.w3.org/2000/svg" …></svg>',
                }
            ]
        }
    )

    @classmethod
    def of(cls, enrollment: TotpEnrollment) -> "TotpEnrollmentResponse":
        return cls(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri, qr_svg=enrollment.qr_svg)


class TotpCodeRequest(_Request):
    code: str = Field(
        max_length=6, description="The current code from the authenticator app.", examples=["123456"]
    )


class RealNameRequest(_Request):
    name: str = Field(
        max_length=100,
        description="Legal name as on the ID card (organisations: registered name).",
        examples=["张三"],
    )
    id_number: str = Field(
        max_length=32,
        description="18-character resident ID number (organisations: unified social credit code).",
        examples=["11010519900101123X"],
    )


class RealNameResponse(BaseModel):
    document_type: Literal["resident_id", "uscc"]
    name_masked: str = Field(examples=["张*"])
    id_number_masked: str = Field(examples=["110***********123X"])
    verified_at: datetime

    @classmethod
    def of(cls, summary: RealNameSummary) -> "RealNameResponse":
        return cls.model_validate(summary, from_attributes=True)


# --- bank cards --------------------------------------------------------------------------------


class BindCardRequest(_Request):
    card_number: str = Field(
        max_length=32,
        description="16–19 digits; spaces between groups allowed.",
        examples=["6222 0212 3456 7890 128"],
    )
    bank_name: str = Field(max_length=64, examples=["中国工商银行"])
    holder_name: str = Field(max_length=100, description="Must be the verified real name.", examples=["张三"])


class CardResponse(BaseModel):
    id: int
    bank_name: str
    masked: str = Field(examples=["6222 **** **** 0128"])
    bound_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "bank_name": "中国工商银行",
                    "masked": "6222 **** **** 0128",
                    "bound_at": "2026-11-28T02:00:00Z",
                }
            ]
        }
    )

    @classmethod
    def of(cls, card: CardView) -> "CardResponse":
        return cls(id=card.id, bank_name=card.bank_name, masked=card.masked, bound_at=card.bound_at)


class CardListResponse(BaseModel):
    items: list[CardResponse]


# --- staff -----------------------------------------------------------------------------------------


class UserPageResponse(BaseModel):
    items: list[ProfileResponse]
    total: int
    page: int
    page_size: int

    @classmethod
    def of(cls, page: UserPage) -> "UserPageResponse":
        return cls(
            items=[ProfileResponse.of(p) for p in page.items],
            total=page.total,
            page=page.page,
            page_size=page.page_size,
        )


class CreateStaffRequest(_Request):
    phone: str = Field(max_length=32, examples=["13912345678"])
    password: str = Field(
        max_length=128, repr=False, description="Initial password.", examples=[PASSWORD_EXAMPLE]
    )
    name: str = Field(max_length=30, examples=["王芳"])
    roles: list[StaffRole] = Field(min_length=1, examples=[["customer_service"]])


class CreatePartnerRequest(_Request):
    phone: str = Field(max_length=32, examples=["13912345679"])
    password: str = Field(
        max_length=128, repr=False, description="Initial password.", examples=[PASSWORD_EXAMPLE]
    )
    name: str = Field(max_length=60, examples=["杭州某融资担保有限公司"])
    uscc: str = Field(max_length=18, description="统一社会信用代码", examples=["91330106MA27XXXXXX"])
    roles: list[Literal["guarantor", "partner_institution"]] = Field(min_length=1, examples=[["guarantor"]])


class UserStatusRequest(_Request):
    status: Literal["active", "locked", "disabled"] = Field(
        description="`active` also lifts an automatic lock-out; leaving it ends every session."
    )

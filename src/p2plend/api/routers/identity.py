"""Identity API: registration, sign-in, the caller's profile, 2FA, real name, bank cards, staff users."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from p2plend.api.deps import CurrentUser, DbSession, Id, bearer_token, require
from p2plend.api.errors import error_responses
from p2plend.identity import service as identity
from p2plend.identity.schemas import (
    BindCardRequest,
    CardListResponse,
    CardResponse,
    ChangePasswordRequest,
    CreatePartnerRequest,
    CreateStaffRequest,
    LoginRequest,
    LoginResponse,
    PasswordResetRequest,
    ProfileResponse,
    RealNameRequest,
    RealNameResponse,
    RegisterRequest,
    SmsCodeRequest,
    SmsCodeSentResponse,
    TotpCodeRequest,
    TotpEnrollmentResponse,
    UserPageResponse,
    UserStatusRequest,
)

router = APIRouter(prefix="/api/v1", tags=["identity"])

StaffUsersReader = Annotated[identity.AuthContext, Depends(require(identity.Permission.STAFF_USERS_READ))]
StaffUsersManager = Annotated[identity.AuthContext, Depends(require(identity.Permission.STAFF_USERS_MANAGE))]


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- registration and sign-in ----------------------------------------------------------------


@router.post("/auth/sms-code", summary="Send a registration code by SMS", responses=error_responses(429))
def send_sms_code(body: SmsCodeRequest, session: DbSession) -> SmsCodeSentResponse:
    """Sends a 6-digit code to the phone (one request per minute per phone)."""
    return SmsCodeSentResponse.of(identity.send_registration_code(session, body.phone))


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    summary="Register with phone, password and SMS code",
)
def register(body: RegisterRequest, session: DbSession) -> ProfileResponse:
    user = identity.register(session, phone=body.phone, password=body.password, sms_code=body.sms_code)
    return ProfileResponse.of(identity.profile(session, user.id))


@router.post("/auth/login", summary="Sign in: a bearer token", responses=error_responses(423))
def login(body: LoginRequest, request: Request, session: DbSession) -> LoginResponse:
    """Refusals: `invalid_credentials`, `account_locked`, `account_disabled`, `totp_required`,
    `totp_invalid`, `totp_blocked`."""
    result = identity.login(
        session,
        phone=body.phone,
        password=body.password,
        totp_code=body.totp_code,
        client="api",
        ip=_client_ip(request),
    )
    return LoginResponse.of(result)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this session")
def logout(ctx: CurrentUser, request: Request, session: DbSession) -> Response:
    token = bearer_token(request)
    if token is not None:
        identity.logout(session, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password-reset/sms-code",
    summary="Send a password-reset code by SMS",
    responses=error_responses(429),
)
def send_password_reset_code(body: SmsCodeRequest, session: DbSession) -> SmsCodeSentResponse:
    """Answers the same whether or not the phone is registered."""
    return SmsCodeSentResponse.of(identity.send_password_reset_code(session, body.phone))


@router.post(
    "/auth/password-reset", status_code=status.HTTP_204_NO_CONTENT, summary="Reset a forgotten password"
)
def reset_password(body: PasswordResetRequest, session: DbSession) -> Response:
    """Every session of the account ends; an automatic lock-out is lifted."""
    identity.reset_password(session, phone=body.phone, sms_code=body.sms_code, new_password=body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the caller ---------------------------------------------------------------------------------


@router.get("/me", summary="My profile (personal data masked)")
def me(ctx: CurrentUser, session: DbSession) -> ProfileResponse:
    return ProfileResponse.of(identity.profile(session, ctx.user_id))


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change my password",
    responses=error_responses(423),
)
def change_password(body: ChangePasswordRequest, ctx: CurrentUser, session: DbSession) -> Response:
    """Every session ends, this one included: sign in again with the new password."""
    identity.change_password(
        session, ctx.user_id, current_password=body.current_password, new_password=body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/2fa/enroll", summary="Start enrolling an authenticator app")
def begin_2fa(ctx: CurrentUser, session: DbSession) -> TotpEnrollmentResponse:
    return TotpEnrollmentResponse.of(identity.begin_totp_enrollment(session, ctx.user_id))


@router.post(
    "/me/2fa/confirm",
    summary="Turn two-factor authentication on with a first code",
    responses=error_responses(423),
)
def confirm_2fa(body: TotpCodeRequest, ctx: CurrentUser, session: DbSession) -> ProfileResponse:
    identity.confirm_totp_enrollment(session, ctx.user_id, body.code)
    return ProfileResponse.of(identity.profile(session, ctx.user_id))


@router.post("/me/real-name", summary="Real-name verification (实名认证)")
def verify_real_name(body: RealNameRequest, ctx: CurrentUser, session: DbSession) -> RealNameResponse:
    """Refusals: `invalid_name`, `invalid_id_number`, `underage`, `id_number_taken`,
    `real_name_already_verified`."""
    summary = identity.verify_real_name(session, ctx.user_id, name=body.name, id_number=body.id_number)
    return RealNameResponse.of(summary)


@router.get("/me/cards", summary="My bound bank cards (masked)")
def list_cards(ctx: CurrentUser, session: DbSession) -> CardListResponse:
    return CardListResponse(
        items=[CardResponse.of(card) for card in identity.list_cards(session, ctx.user_id)]
    )


@router.post("/me/cards", status_code=status.HTTP_201_CREATED, summary="Bind a bank card (绑卡)")
def bind_card(body: BindCardRequest, ctx: CurrentUser, session: DbSession) -> CardResponse:
    """Refusals: `real_name_required`, `invalid_card_number`, `card_holder_mismatch`, `card_taken`,
    `card_already_bound`, `card_limit_reached`."""
    card = identity.bind_card(
        session,
        ctx.user_id,
        card_number=body.card_number,
        bank_name=body.bank_name,
        holder_name=body.holder_name,
    )
    return CardResponse.of(card)


@router.delete("/me/cards/{card_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Unbind a bank card")
def unbind_card(card_id: Id, ctx: CurrentUser, session: DbSession) -> Response:
    identity.unbind_card(session, ctx.user_id, card_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- staff --------------------------------------------------------------------------------------


@router.get("/staff/users", tags=["staff"], summary="Users, masked and paginated")
def staff_list_users(
    ctx: StaffUsersReader,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    role: Annotated[str | None, Query(max_length=32, description="Only users holding this role.")] = None,
) -> UserPageResponse:
    return UserPageResponse.of(identity.list_users(session, page=page, page_size=page_size, role=role))


@router.post(
    "/staff/staff-users",
    status_code=status.HTTP_201_CREATED,
    tags=["staff"],
    summary="Create a staff account",
)
def staff_create_staff(
    body: CreateStaffRequest, ctx: StaffUsersManager, session: DbSession
) -> ProfileResponse:
    """The new staff member enrols TOTP at first sign-in; until then no staff function works."""
    user = identity.create_staff(
        session,
        actor_id=ctx.user_id,
        phone=body.phone,
        password=body.password,
        name=body.name,
        roles=body.roles,
    )
    return ProfileResponse.of(identity.profile(session, user.id))


@router.post(
    "/staff/partners",
    status_code=status.HTTP_201_CREATED,
    tags=["staff"],
    summary="Create a partner organisation: a guarantor or a partner institution",
)
def staff_create_partner(
    body: CreatePartnerRequest, ctx: StaffUsersManager, session: DbSession
) -> ProfileResponse:
    user = identity.create_partner(
        session,
        actor_id=ctx.user_id,
        phone=body.phone,
        password=body.password,
        name=body.name,
        uscc=body.uscc,
        roles=body.roles,
    )
    return ProfileResponse.of(identity.profile(session, user.id))


@router.put("/staff/users/{user_id}/roles/{role}", tags=["staff"], summary="Grant a role")
def staff_grant_role(user_id: Id, role: str, ctx: StaffUsersManager, session: DbSession) -> ProfileResponse:
    identity.add_role(session, actor_id=ctx.user_id, user_id=user_id, role=role)
    return ProfileResponse.of(identity.profile(session, user_id))


@router.delete("/staff/users/{user_id}/roles/{role}", tags=["staff"], summary="Take a role away")
def staff_remove_role(user_id: Id, role: str, ctx: StaffUsersManager, session: DbSession) -> ProfileResponse:
    identity.remove_role(session, actor_id=ctx.user_id, user_id=user_id, role=role)
    return ProfileResponse.of(identity.profile(session, user_id))


@router.put("/staff/users/{user_id}/status", tags=["staff"], summary="Lock, disable or re-open an account")
def staff_set_status(
    user_id: Id, body: UserStatusRequest, ctx: StaffUsersManager, session: DbSession
) -> ProfileResponse:
    identity.set_user_status(session, actor_id=ctx.user_id, user_id=user_id, status=body.status)
    return ProfileResponse.of(identity.profile(session, user_id))


@router.post(
    "/staff/users/{user_id}/2fa/reset",
    tags=["staff"],
    summary="Remove a lost authenticator; the user enrols again at next sign-in",
)
def staff_reset_totp(user_id: Id, ctx: StaffUsersManager, session: DbSession) -> ProfileResponse:
    identity.reset_totp(session, actor_id=ctx.user_id, user_id=user_id)
    return ProfileResponse.of(identity.profile(session, user_id))

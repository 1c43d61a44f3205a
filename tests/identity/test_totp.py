"""TOTP two-factor authentication: enrolment, replay refusal, sign-in, staff gate."""

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.errors import RecordedRefusal
from p2plend.identity.models import TotpEnrollment
from tests.builders import DEFAULT_PASSWORD, enable_totp, make_staff, make_user

STEP = timedelta(seconds=30)


def code_now(authenticator: pyotp.TOTP) -> str:
    return authenticator.at(clock.now())


def test_enrolment_gives_secret_uri_and_svg_qr(session: Session) -> None:
    user = make_user(session, phone="13800138000")
    enrollment = identity.begin_totp_enrollment(session, user.id)
    assert enrollment.otpauth_uri.startswith("otpauth://totp/p2plend:138%2A%2A%2A%2A8000?")
    assert "issuer=p2plend" in enrollment.otpauth_uri
    assert f"secret={enrollment.secret}" in enrollment.otpauth_uri
    assert enrollment.qr_svg.startswith("<svg")
    row = session.scalars(select(TotpEnrollment).where(TotpEnrollment.user_id == user.id)).one()
    assert enrollment.secret.encode() not in row.secret_encrypted  # encrypted at rest
    assert row.confirmed_at is None


def test_confirm_with_a_code_from_the_app_turns_2fa_on(session: Session) -> None:
    user = make_user(session)
    enrollment = identity.begin_totp_enrollment(session, user.id)
    identity.confirm_totp_enrollment(session, user.id, pyotp.TOTP(enrollment.secret).at(clock.now()))
    assert identity.profile(session, user.id).totp_enabled
    with pytest.raises(DomainError) as excinfo:
        identity.begin_totp_enrollment(session, user.id)
    assert excinfo.value.code == "totp_already_enabled"


def test_confirm_with_a_wrong_code_is_refused(session: Session) -> None:
    user = make_user(session)
    enrollment = identity.begin_totp_enrollment(session, user.id)
    right = pyotp.TOTP(enrollment.secret).at(clock.now())
    with pytest.raises(DomainError) as excinfo:
        identity.confirm_totp_enrollment(session, user.id, "000000" if right != "000000" else "111111")
    assert excinfo.value.code == "totp_invalid"
    assert not identity.profile(session, user.id).totp_enabled


def test_confirm_without_enrolment_is_refused(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.confirm_totp_enrollment(session, user.id, "123456")
    assert excinfo.value.code == "totp_not_enrolled"


def test_a_code_works_once_replay_is_refused(session: Session, business_clock: clock.FixedClock) -> None:
    user = make_user(session)
    authenticator = enable_totp(session, user.id)
    used_at_confirmation = code_now(authenticator)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_totp(session, user.id, used_at_confirmation)
    assert excinfo.value.code == "totp_invalid"
    assert excinfo.value.details == {"reason": "replayed"}
    business_clock.advance(STEP)
    fresh = code_now(authenticator)
    identity.verify_totp(session, user.id, fresh)
    with pytest.raises(DomainError):
        identity.verify_totp(session, user.id, fresh)


def test_an_older_step_is_refused_after_a_newer_one_was_used(
    session: Session, business_clock: clock.FixedClock
) -> None:
    user = make_user(session)
    authenticator = enable_totp(session, user.id)
    business_clock.advance(STEP)
    previous = code_now(authenticator)
    business_clock.advance(STEP)
    identity.verify_totp(session, user.id, code_now(authenticator))
    with pytest.raises(DomainError):
        identity.verify_totp(session, user.id, previous)  # still within the drift window, but older


def test_codes_one_step_off_are_accepted_for_clock_drift(
    session: Session, business_clock: clock.FixedClock
) -> None:
    user = make_user(session)
    authenticator = enable_totp(session, user.id)
    business_clock.advance(STEP * 3)
    identity.verify_totp(session, user.id, authenticator.at(clock.now() + STEP))
    business_clock.advance(STEP * 3)
    with pytest.raises(DomainError):
        identity.verify_totp(session, user.id, authenticator.at(clock.now() + STEP * 2))


def test_five_wrong_codes_block_verification(session: Session, business_clock: clock.FixedClock) -> None:
    user = make_user(session)
    authenticator = enable_totp(session, user.id)
    session.commit()
    for _ in range(5):
        business_clock.advance(STEP)
        wrong = "000000" if code_now(authenticator) != "000000" else "111111"
        with pytest.raises(RecordedRefusal):
            identity.verify_totp(session, user.id, wrong)
        session.commit()
    business_clock.advance(STEP)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_totp(session, user.id, code_now(authenticator))
    assert excinfo.value.code == "totp_blocked"
    business_clock.advance(timedelta(minutes=15))
    identity.verify_totp(session, user.id, code_now(authenticator))


def test_verify_without_2fa_is_refused(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(DomainError) as excinfo:
        identity.verify_totp(session, user.id, "123456")
    assert excinfo.value.code == "totp_not_enrolled"


def test_sign_in_requires_a_valid_totp_once_enabled(
    session: Session, business_clock: clock.FixedClock
) -> None:
    user = make_user(session, phone="13800138000")
    authenticator = enable_totp(session, user.id)

    def login(code: str | None) -> identity.LoginResult:
        return identity.login(
            session, phone="13800138000", password=DEFAULT_PASSWORD, totp_code=code, client="web", ip=None
        )

    with pytest.raises(DomainError) as excinfo:
        login(None)
    assert excinfo.value.code == "totp_required"
    with pytest.raises(DomainError) as excinfo:
        login(code_now(authenticator))  # used at confirmation
    assert excinfo.value.code == "totp_invalid"
    business_clock.advance(STEP)
    result = login(code_now(authenticator))
    assert identity.authenticate(session, result.token).totp_enabled


def test_staff_get_no_staff_permission_before_enrolling_totp(
    session: Session, business_clock: clock.FixedClock
) -> None:
    staff, _ = make_staff(session, roles=["customer_service"], phone="13800138000", with_totp=False)
    result = identity.login(
        session, phone="13800138000", password=DEFAULT_PASSWORD, totp_code=None, client="web", ip=None
    )
    assert result.needs_2fa_enrollment
    ctx = identity.authenticate(session, result.token)
    assert ctx.is_staff and ctx.needs_2fa_enrollment
    assert "staff:users:read" not in ctx.permissions
    with pytest.raises(DomainError) as excinfo:
        identity.require_permission(ctx, "staff:users:read")
    assert excinfo.value.code == "totp_enrollment_required"
    assert excinfo.value.status == 403

    enable_totp(session, staff.id)
    ctx = identity.authenticate(session, result.token)
    assert not ctx.needs_2fa_enrollment
    identity.require_permission(ctx, "staff:users:read")
    with pytest.raises(DomainError) as excinfo:
        identity.require_permission(ctx, "staff:custody:reconcile")
    assert excinfo.value.code == "permission_denied"


def test_admin_can_reset_a_lost_authenticator(session: Session) -> None:
    admin, _ = make_staff(session)
    user = make_user(session)
    enable_totp(session, user.id)
    identity.reset_totp(session, actor_id=admin.id, user_id=user.id)
    assert not identity.profile(session, user.id).totp_enabled
    identity.begin_totp_enrollment(session, user.id)

"""Sign-in, lock-out held in the database, sessions and tokens."""

import hashlib
from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.errors import RecordedRefusal
from p2plend.identity.models import AuthSession, User
from tests.builders import DEFAULT_PASSWORD, make_staff, make_user

PHONE = "13800138000"


def login(session: Session, password: str = DEFAULT_PASSWORD, phone: str = PHONE) -> identity.LoginResult:
    return identity.login(
        session, phone=phone, password=password, totp_code=None, client="api", ip="203.0.113.9"
    )


def refusal_code(session: Session, act: Callable[[], object]) -> str:
    """The error code of ``act``; a recorded refusal is committed first, as the API does."""
    try:
        act()
    except RecordedRefusal as exc:
        session.commit()
        return exc.code
    except DomainError as exc:
        session.rollback()
        return exc.code
    raise AssertionError("expected a refusal")


def test_login_gives_a_token_of_which_only_the_hash_is_stored(session: Session) -> None:
    user = make_user(session, phone=PHONE)
    result = login(session)
    session.commit()
    assert result.user_id == user.id
    assert result.expires_at == clock.now() + timedelta(hours=get_settings().session_hours)
    stored = session.scalars(select(AuthSession)).one()
    assert stored.token_hash == hashlib.sha256(result.token.encode()).hexdigest()
    assert result.token not in stored.token_hash
    ctx = identity.authenticate(session, result.token)
    assert ctx.user_id == user.id and ctx.session_id == result.session_id
    assert ctx.roles == {"investor"}
    assert {"account:self", "funds:self"} <= ctx.permissions
    assert not ctx.is_staff and not ctx.totp_enabled and not ctx.real_name_verified
    assert ctx.locale == "zh"


def test_unknown_phone_and_wrong_password_look_the_same(session: Session) -> None:
    make_user(session, phone=PHONE)
    session.commit()
    wrong_password = refusal_code(session, lambda: login(session, password="wrong-password-1"))
    unknown_phone = refusal_code(session, lambda: login(session, phone="13900139000"))
    not_a_phone = refusal_code(session, lambda: login(session, phone="nonsense"))
    assert wrong_password == unknown_phone == not_a_phone == "invalid_credentials"


def test_lock_out_after_max_failures_then_unlock_after_the_window(
    session: Session, business_clock: clock.FixedClock
) -> None:
    settings = get_settings()
    make_user(session, phone=PHONE)
    session.commit()
    for _ in range(settings.login_max_failures - 1):
        assert (
            refusal_code(session, lambda: login(session, password="wrong-password-1"))
            == "invalid_credentials"
        )
    assert refusal_code(session, lambda: login(session, password="wrong-password-1")) == "account_locked"
    # Locked: even the right password is refused, and the failure count is not what decides.
    assert refusal_code(session, lambda: login(session)) == "account_locked"
    business_clock.advance(timedelta(minutes=settings.login_lockout_minutes) - timedelta(seconds=1))
    assert refusal_code(session, lambda: login(session)) == "account_locked"
    business_clock.advance(timedelta(seconds=1))
    login(session)


def test_lock_out_holds_for_another_worker(session_factory: sessionmaker[Session]) -> None:
    """Failures are counted in the database: a second session (worker) sees the lock."""
    settings = get_settings()
    with session_factory() as setup:
        make_user(setup, phone=PHONE)
        setup.commit()
    for _ in range(settings.login_max_failures):
        with session_factory() as worker:
            refusal_code(worker, partial(login, worker, "wrong-password-1"))
    with session_factory() as other_worker:
        assert refusal_code(other_worker, lambda: login(other_worker)) == "account_locked"


def test_success_resets_the_failure_count(session: Session) -> None:
    settings = get_settings()
    make_user(session, phone=PHONE)
    session.commit()
    for _ in range(settings.login_max_failures - 1):
        refusal_code(session, lambda: login(session, password="wrong-password-1"))
    login(session)
    session.commit()
    for _ in range(settings.login_max_failures - 1):
        assert (
            refusal_code(session, lambda: login(session, password="wrong-password-1"))
            == "invalid_credentials"
        )


def test_token_expires_after_session_hours(session: Session, business_clock: clock.FixedClock) -> None:
    make_user(session, phone=PHONE)
    result = login(session)
    business_clock.advance(timedelta(hours=get_settings().session_hours) - timedelta(seconds=1))
    identity.authenticate(session, result.token)
    business_clock.advance(timedelta(seconds=1))
    with pytest.raises(DomainError) as excinfo:
        identity.authenticate(session, result.token)
    assert excinfo.value.code == "unauthenticated"


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_missing_or_unknown_token_is_unauthenticated(session: Session, token: str | None) -> None:
    with pytest.raises(DomainError) as excinfo:
        identity.authenticate(session, token)
    assert excinfo.value.code == "unauthenticated"
    assert excinfo.value.status == 401


def test_logout_revokes_the_token(session: Session) -> None:
    make_user(session, phone=PHONE)
    result = login(session)
    identity.logout(session, result.token)
    identity.logout(session, result.token)  # twice is harmless
    with pytest.raises(DomainError):
        identity.authenticate(session, result.token)


def test_disabled_account_cannot_sign_in_and_its_sessions_end(session: Session) -> None:
    admin, _ = make_staff(session)
    user = make_user(session, phone=PHONE)
    result = login(session)
    identity.set_user_status(session, actor_id=admin.id, user_id=user.id, status="disabled")
    with pytest.raises(DomainError):
        identity.authenticate(session, result.token)
    assert refusal_code(session, lambda: login(session)) == "account_disabled"


def test_locked_by_staff_is_account_locked_until_reactivated(session: Session) -> None:
    admin, _ = make_staff(session)
    user = make_user(session, phone=PHONE)
    identity.set_user_status(session, actor_id=admin.id, user_id=user.id, status="locked")
    session.commit()
    assert refusal_code(session, lambda: login(session)) == "account_locked"
    identity.set_user_status(session, actor_id=admin.id, user_id=user.id, status="active")
    login(session)


def test_password_is_rehashed_when_the_cost_changes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session, phone=PHONE)
    session.commit()
    fast_hash = user.password_hash
    monkeypatch.setenv("P2PLEND_PASSWORD_HASH_PROFILE", "standard")
    get_settings.cache_clear()
    login(session)
    session.commit()
    rehashed = session.scalars(select(User.password_hash).where(User.id == user.id)).one()
    assert rehashed != fast_hash and "m=65536" in rehashed
    login(session)  # and the new hash verifies

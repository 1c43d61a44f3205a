"""Changing a password (修改密码) and resetting a forgotten one by SMS (找回密码)."""

import pytest
from sqlalchemy.orm import Session

from p2plend.config import get_settings
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.errors import RecordedRefusal
from tests.builders import DEFAULT_PASSWORD, make_user
from tests.identity.conftest import SentSms

PHONE = "13800138000"
NEW_PASSWORD = "brand-new-pass-7"


def login(session: Session, password: str) -> identity.LoginResult:
    return identity.login(session, phone=PHONE, password=password, totp_code=None, client="web", ip=None)


def test_reset_by_sms_sets_the_password_and_ends_sessions(session: Session, sent_sms: SentSms) -> None:
    make_user(session, phone=PHONE)
    old = login(session, DEFAULT_PASSWORD)
    identity.send_password_reset_code(session, PHONE)
    assert sent_sms.messages[-1]["template"] == "password_reset_code"
    identity.reset_password(session, phone=PHONE, sms_code=sent_sms.last_code(), new_password=NEW_PASSWORD)
    with pytest.raises(DomainError):
        identity.authenticate(session, old.token)
    login(session, NEW_PASSWORD)
    with pytest.raises(DomainError) as excinfo:
        login(session, DEFAULT_PASSWORD)
    assert excinfo.value.code == "invalid_credentials"


def test_reset_lifts_a_lock_out(session: Session, sent_sms: SentSms) -> None:
    make_user(session, phone=PHONE)
    session.commit()
    for _ in range(get_settings().login_max_failures):
        with pytest.raises(RecordedRefusal):
            login(session, "wrong-password-1")
        session.commit()
    identity.send_password_reset_code(session, PHONE)
    identity.reset_password(session, phone=PHONE, sms_code=sent_sms.last_code(), new_password=NEW_PASSWORD)
    login(session, NEW_PASSWORD)


def test_reset_code_for_an_unknown_phone_is_not_sent_but_looks_sent(
    session: Session, sent_sms: SentSms
) -> None:
    sent = identity.send_password_reset_code(session, PHONE)
    assert sent.expires_at > sent.resend_after
    assert sent_sms.messages == []
    with pytest.raises(DomainError) as excinfo:
        identity.reset_password(session, phone=PHONE, sms_code="123456", new_password=NEW_PASSWORD)
    assert excinfo.value.code == "invalid_sms_code"


def test_a_registration_code_does_not_reset_a_password(session: Session, sent_sms: SentSms) -> None:
    identity.send_registration_code(session, PHONE)
    identity.register(session, phone=PHONE, password=DEFAULT_PASSWORD, sms_code=sent_sms.last_code())
    with pytest.raises(DomainError) as excinfo:
        identity.reset_password(
            session, phone=PHONE, sms_code=sent_sms.last_code(), new_password=NEW_PASSWORD
        )
    assert excinfo.value.code == "invalid_sms_code"


def test_change_password_needs_the_current_one(session: Session) -> None:
    user = make_user(session, phone=PHONE)
    session.commit()
    with pytest.raises(DomainError) as excinfo:
        identity.change_password(
            session, user.id, current_password="wrong-password-1", new_password=NEW_PASSWORD
        )
    assert excinfo.value.code == "invalid_credentials"
    session.commit()  # the failure counts towards the lock-out
    with pytest.raises(DomainError) as excinfo:
        identity.change_password(session, user.id, current_password=DEFAULT_PASSWORD, new_password="weak")
    assert excinfo.value.code == "weak_password"
    session.rollback()
    identity.change_password(session, user.id, current_password=DEFAULT_PASSWORD, new_password=NEW_PASSWORD)
    login(session, NEW_PASSWORD)

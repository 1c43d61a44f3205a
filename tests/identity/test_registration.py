"""Registration by phone + password + SMS code (注册)."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.errors import DomainError
from p2plend.identity import service as identity
from p2plend.identity.errors import RecordedRefusal
from p2plend.identity.models import SmsCode, User
from tests.builders import make_user
from tests.identity.conftest import SentSms

PHONE = "138 0013 8000"
E164 = "+8613800138000"
PASSWORD = "secret123"


def register_with_code(session: Session, sent_sms: SentSms, phone: str = PHONE) -> User:
    identity.send_registration_code(session, phone)
    return identity.register(session, phone=phone, password=PASSWORD, sms_code=sent_sms.last_code())


def refused(session: Session, act: object) -> str:
    """Run ``act``; commit what a recorded refusal leaves behind, as the API does; the error code."""
    assert callable(act)
    try:
        act()
    except RecordedRefusal as exc:
        session.commit()
        return exc.code
    except DomainError as exc:
        session.rollback()
        return exc.code
    raise AssertionError("expected a refusal")


def test_registration_code_is_sent_through_the_notification_port(session: Session, sent_sms: SentSms) -> None:
    sent = identity.send_registration_code(session, PHONE)
    message = sent_sms.messages[-1]
    assert message["phone"] == E164
    assert message["template"] == "registration_code"
    code = message["params"]["code"]
    assert len(code) == 6 and code.isdigit()
    assert sent.expires_at == clock.now() + timedelta(minutes=10)
    stored = session.scalars(select(SmsCode)).one()
    assert code not in stored.code_hash  # kept as a keyed hash only


def test_new_user_is_an_active_investor_with_encrypted_phone(session: Session, sent_sms: SentSms) -> None:
    user = register_with_code(session, sent_sms)
    session.commit()
    assert E164.encode() not in user.phone_encrypted
    me = identity.profile(session, user.id)
    assert me.roles == {"investor"}
    assert me.status == "active" and me.locale == "zh" and me.kind == "person"
    assert me.phone_masked == "138****8000"
    assert not me.real_name_verified


def test_resend_is_throttled_until_the_window_passes(
    session: Session, sent_sms: SentSms, business_clock: clock.FixedClock
) -> None:
    identity.send_registration_code(session, PHONE)
    with pytest.raises(DomainError) as excinfo:
        identity.send_registration_code(session, PHONE)
    assert excinfo.value.code == "sms_resend_too_soon"
    assert excinfo.value.details["retry_after_seconds"] == 61
    business_clock.advance(timedelta(seconds=60))
    identity.send_registration_code(session, PHONE)
    assert len(sent_sms.messages) == 2


def test_only_the_latest_code_counts(
    session: Session, sent_sms: SentSms, business_clock: clock.FixedClock
) -> None:
    identity.send_registration_code(session, PHONE)
    first = sent_sms.last_code()
    business_clock.advance(timedelta(seconds=61))
    identity.send_registration_code(session, PHONE)
    if first != sent_sms.last_code():
        assert refused(
            session, lambda: identity.register(session, phone=PHONE, password=PASSWORD, sms_code=first)
        ) == ("invalid_sms_code")
    identity.register(session, phone=PHONE, password=PASSWORD, sms_code=sent_sms.last_code())


def test_wrong_code_counts_an_attempt_that_survives_the_refusal(session: Session, sent_sms: SentSms) -> None:
    identity.send_registration_code(session, PHONE)
    session.commit()
    wrong = "000000" if sent_sms.last_code() != "000000" else "111111"
    with pytest.raises(DomainError) as excinfo:
        identity.register(session, phone=PHONE, password=PASSWORD, sms_code=wrong)
    assert excinfo.value.code == "invalid_sms_code"
    assert excinfo.value.details == {"attempts_left": 4}
    session.commit()
    assert session.scalars(select(SmsCode.attempts)).one() == 1


def test_five_wrong_codes_kill_the_code(session: Session, sent_sms: SentSms) -> None:
    identity.send_registration_code(session, PHONE)
    session.commit()
    right = sent_sms.last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        code = refused(
            session, lambda: identity.register(session, phone=PHONE, password=PASSWORD, sms_code=wrong)
        )
        assert code == "invalid_sms_code"
    code = refused(
        session, lambda: identity.register(session, phone=PHONE, password=PASSWORD, sms_code=right)
    )
    assert code == "sms_code_attempts_exceeded"


def test_expired_code_is_refused(
    session: Session, sent_sms: SentSms, business_clock: clock.FixedClock
) -> None:
    identity.send_registration_code(session, PHONE)
    business_clock.advance(timedelta(minutes=10))
    with pytest.raises(DomainError) as excinfo:
        identity.register(session, phone=PHONE, password=PASSWORD, sms_code=sent_sms.last_code())
    assert excinfo.value.code == "sms_code_expired"


def test_a_used_code_cannot_register_again(session: Session, sent_sms: SentSms) -> None:
    register_with_code(session, sent_sms)
    with pytest.raises(DomainError) as excinfo:
        identity.register(session, phone=PHONE, password=PASSWORD, sms_code=sent_sms.last_code())
    assert excinfo.value.code == "phone_taken"


def test_register_without_a_code_sent_is_refused(session: Session) -> None:
    with pytest.raises(DomainError) as excinfo:
        identity.register(session, phone=PHONE, password=PASSWORD, sms_code="123456")
    assert excinfo.value.code == "invalid_sms_code"


def test_duplicate_phone_is_refused_with_a_stable_code(session: Session, sent_sms: SentSms) -> None:
    make_user(session, phone=PHONE)
    with pytest.raises(DomainError) as excinfo:
        identity.send_registration_code(session, "+86 13800138000")
    assert excinfo.value.code == "phone_taken"
    assert sent_sms.messages == []


def test_weak_password_does_not_spend_the_code(session: Session, sent_sms: SentSms) -> None:
    identity.send_registration_code(session, PHONE)
    with pytest.raises(DomainError) as excinfo:
        identity.register(session, phone=PHONE, password="short1", sms_code=sent_sms.last_code())
    assert excinfo.value.code == "weak_password"
    assert session.scalars(select(SmsCode.attempts)).one() == 0
    identity.register(session, phone=PHONE, password=PASSWORD, sms_code=sent_sms.last_code())

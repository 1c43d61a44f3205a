"""The notification port: outbox rows in the business transaction, dispatch afterwards."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from p2plend.config import get_settings
from p2plend.db import transaction
from p2plend.errors import InvalidInput, NotFound
from p2plend.notifications import service as notifications
from p2plend.notifications.service import OutboxOnlySender, OutgoingSms, SmsDeliveryError
from p2plend.notifications.templates import TEMPLATES, TemplateParamsMissing, UnknownTemplate, render
from tests.builders import make_user

CODE_PARAMS = {"code": "123456", "minutes": "10"}


class RecordingSender:
    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[OutgoingSms] = []
        self.fail_times = fail_times

    def send(self, message: OutgoingSms) -> None:
        if self.fail_times > 0:
            self.fail_times -= 1
            raise SmsDeliveryError("gateway timeout")
        self.sent.append(message)


def test_registration_sms_is_rendered_with_the_signature(session: Session) -> None:
    sms = notifications.send_sms(
        session, phone="13812345678", template="registration_code", params=CODE_PARAMS
    )
    session.commit()
    assert (sms.channel, sms.status, sms.recipient_masked, sms.body) == (
        "sms",
        "pending",
        "138****5678",
        None,
    )
    [shown] = notifications.recent_sms(session)
    assert shown.text == "【p2plend】您的注册验证码是123456，10分钟内有效。请勿泄露给他人。"
    assert shown.phone_masked == "138****5678"


def test_english_sms(session: Session) -> None:
    notifications.send_sms(
        session, phone="+8613812345678", template="registration_code", params=CODE_PARAMS, locale="en-US"
    )
    [shown] = notifications.recent_sms(session)
    assert shown.text == (
        "[p2plend] Your registration code is 123456, valid for 10 minutes. Never share it with anyone."
    )


def test_sms_phone_and_code_are_never_stored_in_clear(session: Session) -> None:
    notifications.send_sms(session, phone="13812345678", template="registration_code", params=CODE_PARAMS)
    session.commit()
    row = session.execute(text("SELECT * FROM notifications")).mappings().one()
    stored = repr(dict(row))
    assert "13812345678" not in stored
    assert "123456" not in stored


def test_sms_text_is_hidden_from_the_demo_page_in_production(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifications.send_sms(session, phone="13812345678", template="registration_code", params=CODE_PARAMS)
    monkeypatch.setenv("P2PLEND_ENVIRONMENT", "production")
    monkeypatch.setenv("P2PLEND_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("P2PLEND_PII_KEY", "cHJvZHVjdGlvbi1rZXktdGhhdC1pcy0zMi1ieXRlcyE=")
    monkeypatch.setenv("P2PLEND_CUSTODIAN_HMAC_SECRET", "y" * 40)
    get_settings.cache_clear()
    [shown] = notifications.recent_sms(session)
    assert shown.text is None and shown.phone_masked == "138****5678"


def test_invalid_phone_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        notifications.send_sms(session, phone="12345", template="registration_code", params=CODE_PARAMS)
    assert refused.value.code == "invalid_phone"


def test_unknown_template_and_missing_params_are_bugs(session: Session) -> None:
    with pytest.raises(UnknownTemplate):
        notifications.send_sms(session, phone="13812345678", template="nope", params={})
    with pytest.raises(TemplateParamsMissing) as missing:
        notifications.send_sms(
            session, phone="13812345678", template="registration_code", params={"code": "1"}
        )
    assert missing.value.details["missing"] == ["minutes"]


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_renders_in_both_languages(key: str) -> None:
    params = {name: f"<{name}>" for name in TEMPLATES[key].params}
    for locale in ("zh", "en"):
        rendered = render(key, locale, params)
        assert rendered.title and "{" not in rendered.body
        assert all(value in rendered.body for value in params.values())


def test_unsupported_locale_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput) as refused:
        render("password_changed", "fr", {})
    assert refused.value.code == "unsupported_locale"


def test_outbox_row_rolls_back_with_the_business_act(session_factory: sessionmaker[Session]) -> None:
    """Side effects after commit: a failed act leaves no message to send."""
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        notifications.send_sms(session, phone="13812345678", template="registration_code", params=CODE_PARAMS)
        raise RuntimeError("the business act failed")
    with session_factory() as session:
        assert notifications.recent_sms(session) == []


def test_dispatch_hands_pending_sms_to_the_gateway_once(session: Session) -> None:
    sms = notifications.send_sms(
        session, phone="13812345678", template="registration_code", params=CODE_PARAMS
    )
    session.commit()
    gateway = RecordingSender()
    report = notifications.dispatch_pending(session, gateway)
    session.commit()
    assert report == notifications.DispatchReport(sent=1, retrying=0, failed=0)
    assert gateway.sent == [
        OutgoingSms(
            reference=f"p2plend-sms-{sms.id}",
            phone="+8613812345678",
            text="【p2plend】您的注册验证码是123456，10分钟内有效。请勿泄露给他人。",
        )
    ]
    assert notifications.dispatch_pending(session, gateway) == notifications.DispatchReport(0, 0, 0)
    [shown] = notifications.recent_sms(session)
    assert shown.status == "sent" and shown.sent_at is not None


def test_refused_sms_is_retried_then_given_up(session: Session) -> None:
    notifications.send_sms(session, phone="13812345678", template="registration_code", params=CODE_PARAMS)
    gateway = RecordingSender(fail_times=99)
    reports = [
        notifications.dispatch_pending(session, gateway) for _ in range(notifications.MAX_SMS_ATTEMPTS)
    ]
    assert [r.retrying for r in reports[:-1]] == [1] * (notifications.MAX_SMS_ATTEMPTS - 1)
    assert reports[-1].failed == 1
    assert notifications.recent_sms(session)[0].status == "failed"
    assert notifications.dispatch_pending(session, gateway) == notifications.DispatchReport(0, 0, 0)


def test_retry_after_a_failure_delivers(session: Session) -> None:
    notifications.send_sms(session, phone="13812345678", template="registration_code", params=CODE_PARAMS)
    gateway = RecordingSender(fail_times=1)
    assert notifications.dispatch_pending(session, gateway).retrying == 1
    assert notifications.dispatch_pending(session, gateway).sent == 1
    assert len(gateway.sent) == 1


def test_the_default_sender_marks_messages_delivered(session: Session) -> None:
    notifications.send_sms(session, phone="13812345678", template="registration_code", params=CODE_PARAMS)
    assert notifications.dispatch_pending(session, OutboxOnlySender()).sent == 1


def test_message_center_lists_and_marks_read(session: Session) -> None:
    user = make_user(session)
    first = notifications.notify_user(
        session, user_id=user.id, template="deposit_succeeded", params={"amount": "1000.00"}
    )
    second = notifications.notify_user(
        session,
        user_id=user.id,
        template="withdrawal_succeeded",
        params={"amount": "500.00", "card_tail": "3446"},
        locale="en",
    )
    session.commit()
    assert first.body == "您的充值1000.00元已到账，可在存管账户中查看。"
    assert second.title == "Withdrawal paid"
    assert [m.id for m in notifications.inbox(session, user.id)] == [second.id, first.id]
    assert notifications.unread_count(session, user.id) == 2

    read = notifications.mark_read(session, user.id, first.id)
    again = notifications.mark_read(session, user.id, first.id)
    session.commit()
    assert read.read_at is not None and again.read_at == read.read_at
    assert [m.id for m in notifications.inbox(session, user.id, unread_only=True)] == [second.id]
    assert [m.id for m in notifications.inbox(session, user.id, limit=1, before_id=second.id)] == [first.id]


def test_nobody_reads_someone_elses_messages(session: Session) -> None:
    owner, other = make_user(session), make_user(session)
    message = notifications.notify_user(session, user_id=owner.id, template="password_changed", params={})
    with pytest.raises(NotFound):
        notifications.mark_read(session, other.id, message.id)
    assert notifications.inbox(session, other.id) == []


def test_sms_never_shows_in_the_message_center(session: Session) -> None:
    user = make_user(session)
    sms = notifications.send_sms(
        session, phone="13812345678", template="registration_code", params=CODE_PARAMS, user_id=user.id
    )
    assert notifications.inbox(session, user.id) == []
    with pytest.raises(NotFound):
        notifications.mark_read(session, user.id, sms.id)


@pytest.mark.postgres_only
def test_concurrent_dispatchers_send_each_sms_once(session_factory: sessionmaker[Session]) -> None:
    """SKIP LOCKED: two dispatchers at once split the outbox, they never both send a message."""
    with transaction(session_factory) as session:
        for _ in range(40):
            notifications.send_sms(
                session, phone="13812345678", template="registration_code", params=CODE_PARAMS
            )

    sent: list[str] = []
    lock = threading.Lock()

    class SlowGateway:
        def send(self, message: OutgoingSms) -> None:
            time.sleep(0.005)
            with lock:
                sent.append(message.reference)

    def dispatch(_: int) -> int:
        with transaction(session_factory) as session:
            return notifications.dispatch_pending(session, SlowGateway(), limit=10).sent

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(dispatch, range(8)))

    assert sum(counts) == 40
    assert len(sent) == len(set(sent)) == 40

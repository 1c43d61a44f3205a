"""Identity API: register, sign in, profile, 2FA, real name, cards, staff users."""

from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.notifications import service as notifications
from tests.builders import DEFAULT_PASSWORD, make_staff, make_user, valid_card_number, valid_id_number

PHONE = "13800138000"


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def sms_codes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    codes: list[str] = []
    real_send = notifications.send_sms

    def recording_send(session: Any, **kwargs: Any) -> Any:
        codes.append(kwargs["params"]["code"])
        return real_send(session, **kwargs)

    monkeypatch.setattr(notifications, "send_sms", recording_send)
    return codes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(api: TestClient, phone: str = PHONE, totp_code: str | None = None) -> str:
    response = api.post(
        "/api/v1/auth/login", json={"phone": phone, "password": DEFAULT_PASSWORD, "totp_code": totp_code}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_register_sign_in_and_see_my_masked_profile(api: TestClient, sms_codes: list[str]) -> None:
    sent = api.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    assert sent.status_code == 200, sent.text
    registered = api.post(
        "/api/v1/auth/register",
        json={"phone": PHONE, "password": DEFAULT_PASSWORD, "sms_code": sms_codes[-1]},
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["roles"] == ["investor"]
    token = sign_in(api)
    me = api.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["phone_masked"] == "138****8000"
    assert PHONE not in me.text


def test_wrong_sms_code_is_counted_across_requests(api: TestClient, sms_codes: list[str]) -> None:
    api.post("/api/v1/auth/sms-code", json={"phone": PHONE})
    wrong = "000000" if sms_codes[-1] != "000000" else "111111"
    body = {"phone": PHONE, "password": DEFAULT_PASSWORD, "sms_code": wrong}
    first = api.post("/api/v1/auth/register", json=body)
    assert error_code(first) == "invalid_sms_code"
    assert first.json()["error"]["details"] == {"attempts_left": 4}
    second = api.post("/api/v1/auth/register", json=body)
    assert second.json()["error"]["details"] == {"attempts_left": 3}


def test_lock_out_holds_across_requests(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    wrong = {"phone": PHONE, "password": "wrong-password-1"}
    codes = [
        error_code(api.post("/api/v1/auth/login", json=wrong))
        for _ in range(get_settings().login_max_failures)
    ]
    assert codes[:-1] == ["invalid_credentials"] * (len(codes) - 1)
    assert codes[-1] == "account_locked"
    locked = api.post("/api/v1/auth/login", json={"phone": PHONE, "password": DEFAULT_PASSWORD})
    assert locked.status_code == 423 and error_code(locked) == "account_locked"


def test_logout_ends_the_token(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    token = sign_in(api)
    assert api.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    after = api.get("/api/v1/me", headers=bearer(token))
    assert after.status_code == 401 and error_code(after) == "unauthenticated"


def test_me_without_a_token_is_401(api: TestClient) -> None:
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert error_code(response) == "unauthenticated"


def test_two_factor_enrolment_then_sign_in_needs_the_code(
    api: TestClient, session_factory: sessionmaker[Session], business_clock: clock.FixedClock
) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    token = sign_in(api)
    enrolled = api.post("/api/v1/me/2fa/enroll", headers=bearer(token))
    assert enrolled.status_code == 200
    assert enrolled.json()["qr_svg"].startswith("<svg")
    authenticator = pyotp.TOTP(enrolled.json()["secret"])
    confirmed = api.post(
        "/api/v1/me/2fa/confirm", headers=bearer(token), json={"code": authenticator.at(clock.now())}
    )
    assert confirmed.status_code == 200 and confirmed.json()["totp_enabled"]
    without = api.post("/api/v1/auth/login", json={"phone": PHONE, "password": DEFAULT_PASSWORD})
    assert error_code(without) == "totp_required"
    business_clock.advance(timedelta(seconds=30))
    sign_in(api, totp_code=authenticator.at(clock.now()))


def test_real_name_and_cards(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    token = sign_in(api)
    card_number = valid_card_number()
    card = {"card_number": card_number, "bank_name": "中国银行", "holder_name": "张三"}
    before = api.post("/api/v1/me/cards", headers=bearer(token), json=card)
    assert before.status_code == 403 and error_code(before) == "real_name_required"

    number = valid_id_number()
    verified = api.post(
        "/api/v1/me/real-name", headers=bearer(token), json={"name": "张三", "id_number": number}
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["id_number_masked"] == number[:3] + "*" * 11 + number[-4:]
    assert verified.json()["name_masked"] == "张*"

    bound = api.post("/api/v1/me/cards", headers=bearer(token), json=card)
    assert bound.status_code == 201, bound.text
    assert bound.json()["masked"] == f"{card_number[:4]} **** **** {card_number[-4:]}"
    listed = api.get("/api/v1/me/cards", headers=bearer(token))
    assert [c["id"] for c in listed.json()["items"]] == [bound.json()["id"]]
    assert card_number not in listed.text

    card_id = bound.json()["id"]
    assert api.delete(f"/api/v1/me/cards/{card_id}", headers=bearer(token)).status_code == 204
    again = api.delete(f"/api/v1/me/cards/{card_id}", headers=bearer(token))
    assert again.status_code == 404 and error_code(again) == "card_not_found"


def test_bad_id_number_gives_a_stable_code(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    token = sign_in(api)
    bad_id = api.post(
        "/api/v1/me/real-name",
        headers=bearer(token),
        json={"name": "张三", "id_number": "110105199001011230"},
    )
    assert bad_id.status_code == 422 and error_code(bad_id) == "invalid_id_number"


def test_staff_need_totp_then_see_masked_users_and_create_staff(
    api: TestClient, session_factory: sessionmaker[Session], business_clock: clock.FixedClock
) -> None:
    with session_factory() as session:
        make_staff(session, phone=PHONE, with_totp=False)
        make_user(session, phone="13900139000")
        session.commit()
    token = sign_in(api)
    gated = api.get("/api/v1/staff/users", headers=bearer(token))
    assert gated.status_code == 403 and error_code(gated) == "totp_enrollment_required"

    enrolled = api.post("/api/v1/me/2fa/enroll", headers=bearer(token)).json()
    authenticator = pyotp.TOTP(enrolled["secret"])
    api.post("/api/v1/me/2fa/confirm", headers=bearer(token), json={"code": authenticator.at(clock.now())})

    users = api.get("/api/v1/staff/users", headers=bearer(token), params={"page_size": 10})
    assert users.status_code == 200, users.text
    assert users.json()["total"] == 2
    assert "13900139000" not in users.text and "139****9000" in users.text

    created = api.post(
        "/api/v1/staff/staff-users",
        headers=bearer(token),
        json={"phone": "13700137000", "password": "secret123", "name": "李四", "roles": ["finance"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["finance"] and created.json()["is_staff"]


def test_customer_cannot_use_staff_endpoints(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    token = sign_in(api)
    response = api.get("/api/v1/staff/users", headers=bearer(token))
    assert response.status_code == 403 and error_code(response) == "permission_denied"


def test_openapi_documents_the_identity_endpoints(api: TestClient) -> None:
    document = api.get("/api/v1/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    for path in ["/api/v1/auth/login", "/api/v1/me", "/api/v1/me/cards/{card_id}", "/api/v1/staff/users"]:
        assert path in paths


def test_forgotten_password_is_reset_by_sms(
    api: TestClient, sms_codes: list[str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    old_token = sign_in(api)
    assert api.post("/api/v1/auth/password-reset/sms-code", json={"phone": PHONE}).status_code == 200
    reset = api.post(
        "/api/v1/auth/password-reset",
        json={"phone": PHONE, "sms_code": sms_codes[-1], "new_password": "brand-new-pass-7"},
    )
    assert reset.status_code == 204, reset.text
    assert api.get("/api/v1/me", headers=bearer(old_token)).status_code == 401
    signed_in = api.post("/api/v1/auth/login", json={"phone": PHONE, "password": "brand-new-pass-7"})
    assert signed_in.status_code == 200


def test_change_password_ends_the_session(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        make_user(session, phone=PHONE)
        session.commit()
    token = sign_in(api)
    wrong = api.post(
        "/api/v1/me/password",
        headers=bearer(token),
        json={"current_password": "wrong-password-1", "new_password": "brand-new-pass-7"},
    )
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_credentials"
    changed = api.post(
        "/api/v1/me/password",
        headers=bearer(token),
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-pass-7"},
    )
    assert changed.status_code == 204
    assert api.get("/api/v1/me", headers=bearer(token)).status_code == 401

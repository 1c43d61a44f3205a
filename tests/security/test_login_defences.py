"""Brute force and replay at the doors people use: the API's sign-in and the sign-in page.

Already covered elsewhere, not repeated here: the service's lock-out and unlock
(tests/identity/test_login.py), the API's lock after N failures refusing the right password
(tests/api/test_identity_api.py::test_lock_out_holds_across_requests), the page's count and
lock message (tests/web/test_forms.py::test_wrong_password_is_counted_and_shown) and the
service's TOTP replay refusal (tests/identity/test_totp.py). Added here: the lock passes only
when its window has (even the right password and a fresh TOTP code are refused until then),
and a TOTP code that signed someone in is refused a second time — on the API, on the page,
and from one to the other.
"""

from collections.abc import Iterator
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.server import create_app
from p2plend.web.render import SESSION_COOKIE
from tests import builders
from tests.web.conftest import csrf_of

WRONG = "wrong-password-1"
STEP = timedelta(seconds=30)


@pytest.fixture
def client(session_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    app = create_app(get_settings(), session_factory)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def staff(session_factory: sessionmaker[Session]) -> tuple[str, pyotp.TOTP]:
    """A staff member with TOTP (every sign-in needs a code): phone and authenticator."""
    phone = builders.next_phone()
    with session_factory() as session:
        _, authenticator = builders.make_staff(session, phone=phone)
        session.commit()
    assert authenticator is not None
    return phone, authenticator


def api_login(client: TestClient, phone: str, password: str, code: str | None = None) -> Response:
    return client.post("/api/v1/auth/login", json={"phone": phone, "password": password, "totp_code": code})


def page_login(client: TestClient, phone: str, password: str, code: str | None = None) -> Response:
    client.cookies.delete(SESSION_COOKIE)
    data = {"csrf_token": csrf_of(client.get("/login").text), "phone": phone, "password": password}
    if code is not None:
        data["totp_code"] = code
    return client.post("/login", data=data)


def error_code(response: Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def fresh_code(authenticator: pyotp.TOTP, business_clock: clock.FixedClock) -> str:
    business_clock.advance(STEP)
    return authenticator.at(clock.now())


def test_api_lock_holds_against_the_right_password_and_code_until_it_passes(
    client: TestClient, staff: tuple[str, pyotp.TOTP], business_clock: clock.FixedClock
) -> None:
    phone, authenticator = staff
    settings = get_settings()
    codes = [error_code(api_login(client, phone, WRONG)) for _ in range(settings.login_max_failures)]
    assert codes == ["invalid_credentials"] * (settings.login_max_failures - 1) + ["account_locked"]
    business_clock.advance(timedelta(minutes=settings.login_lockout_minutes) - 2 * STEP)
    locked = api_login(client, phone, builders.DEFAULT_PASSWORD, fresh_code(authenticator, business_clock))
    assert locked.status_code == 423 and error_code(locked) == "account_locked"
    business_clock.advance(STEP)  # the window has passed
    signed_in = api_login(client, phone, builders.DEFAULT_PASSWORD, fresh_code(authenticator, business_clock))
    assert signed_in.status_code == 200, signed_in.text


def test_page_lock_holds_against_the_right_password_until_it_passes(
    client: TestClient, session_factory: sessionmaker[Session], business_clock: clock.FixedClock
) -> None:
    phone = builders.next_phone()
    with session_factory() as session:
        builders.make_user(session, phone=phone)
        session.commit()
    settings = get_settings()
    for _ in range(settings.login_max_failures):
        page_login(client, phone, WRONG)
    business_clock.advance(timedelta(minutes=settings.login_lockout_minutes) - timedelta(seconds=1))
    locked = page_login(client, phone, builders.DEFAULT_PASSWORD)
    assert locked.status_code == 423 and "账户已暂时锁定" in locked.text
    assert SESSION_COOKIE not in client.cookies
    business_clock.advance(timedelta(seconds=1))
    signed_in = page_login(client, phone, builders.DEFAULT_PASSWORD)
    assert signed_in.status_code == 303 and SESSION_COOKIE in client.cookies


def test_api_refuses_a_totp_code_that_already_signed_in(
    client: TestClient, staff: tuple[str, pyotp.TOTP], business_clock: clock.FixedClock
) -> None:
    phone, authenticator = staff
    code = fresh_code(authenticator, business_clock)
    assert api_login(client, phone, builders.DEFAULT_PASSWORD, code).status_code == 200
    replayed = api_login(client, phone, builders.DEFAULT_PASSWORD, code)
    assert replayed.status_code == 401 and error_code(replayed) == "totp_invalid"
    assert replayed.json()["error"]["details"] == {"reason": "replayed"}
    assert "access_token" not in replayed.text


def test_page_refuses_a_totp_code_that_already_signed_in(
    client: TestClient, staff: tuple[str, pyotp.TOTP], business_clock: clock.FixedClock
) -> None:
    phone, authenticator = staff
    code = fresh_code(authenticator, business_clock)
    assert page_login(client, phone, builders.DEFAULT_PASSWORD, code).status_code == 303
    replayed = page_login(client, phone, builders.DEFAULT_PASSWORD, code)
    assert replayed.status_code == 400 and "动态验证码错误或已被使用" in replayed.text
    assert SESSION_COOKIE not in client.cookies


def test_a_code_used_on_one_door_is_refused_at_the_other(
    client: TestClient, staff: tuple[str, pyotp.TOTP], business_clock: clock.FixedClock
) -> None:
    phone, authenticator = staff
    on_the_page = fresh_code(authenticator, business_clock)
    assert page_login(client, phone, builders.DEFAULT_PASSWORD, on_the_page).status_code == 303
    assert error_code(api_login(client, phone, builders.DEFAULT_PASSWORD, on_the_page)) == "totp_invalid"
    on_the_api = fresh_code(authenticator, business_clock)
    assert api_login(client, phone, builders.DEFAULT_PASSWORD, on_the_api).status_code == 200
    assert page_login(client, phone, builders.DEFAULT_PASSWORD, on_the_api).status_code == 400

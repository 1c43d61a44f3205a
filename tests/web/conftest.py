"""Web fixtures: the real app on the test's database, a browser-like client, signed-in users."""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.custody import service as custody
from p2plend.server import create_app
from tests import builders

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(get_settings(), session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a bug shows as the 500 page a browser would get.
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client  # leaving the block shuts the app down, closing its simulated bank


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


def post_form(client: TestClient, page: str, action: str, data: dict[str, str]) -> "object":
    """GET ``page`` for its CSRF token, then POST ``data`` to ``action`` as its form would."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **data})


@dataclass
class WebUser:
    user_id: int
    phone: str
    password: str
    authenticator: pyotp.TOTP | None = None


@pytest.fixture
def make_web_user(
    session_factory: sessionmaker[Session],
) -> Callable[..., WebUser]:
    """A user in the database (committed); options: verified, with a card, with TOTP, staff
    (an administrator unless ``roles`` names the staff roles)."""

    def make(
        *,
        verified: bool = False,
        card: bool = False,
        totp: bool = False,
        staff: bool = False,
        roles: Iterable[str] | None = None,
    ) -> WebUser:
        phone = builders.next_phone()
        with session_factory() as session:
            authenticator = None
            if staff:
                if roles is None:
                    user, authenticator = builders.make_staff(session, phone=phone)
                else:
                    user, authenticator = builders.make_staff(session, phone=phone, roles=roles)
            elif verified:
                user = builders.make_verified_user(session, phone=phone)
                open_custody(session, user.id)
                if card:
                    builders.bind_card(session, user.id)
            else:
                user = builders.make_user(session, phone=phone)
            if totp and authenticator is None:
                authenticator = builders.enable_totp(session, user.id)
            session.commit()
            return WebUser(user.id, phone, builders.DEFAULT_PASSWORD, authenticator)

    return make


def open_custody(session: Session, user_id: int) -> None:
    """Open the user's sub-account at the simulated bank of the test's database."""
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    bank = custody.simulated_custodian(url)
    try:
        custody.open_account(session, user_id, bank)
    finally:
        bank.close()


def sign_in(client: TestClient, user: WebUser, totp_code: str | None = None) -> None:
    page = client.get("/login")
    data = {"csrf_token": csrf_of(page.text), "phone": user.phone, "password": user.password}
    if totp_code is not None:
        data["totp_code"] = totp_code
    response = client.post("/login", data=data)
    assert response.status_code == 303, response.text
    assert "p2p_session" in client.cookies


def next_totp_step() -> None:
    """Move the business clock (a ``FixedClock`` in tests) to the next 30-second TOTP step:
    each code works once, so a second act needs a code of a later step."""
    fixed = clock.current()
    assert isinstance(fixed, clock.FixedClock)
    fixed.advance(timedelta(seconds=30))

"""Security fixtures: one database per module with one signed-in user per role.

The checks here send thousands of requests; building users per test would dominate the
run. So a module clones one database (``fresh_database``), creates a user of every role
once, signs each in once for the API (a bearer token) and once for the pages (a
``p2p_session`` cookie in a client of its own), and the tests only read that world.
"""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.db import make_engine, make_session_factory
from p2plend.identity import service as identity
from p2plend.identity.permissions import STAFF_ROLES, Role
from p2plend.server import create_app
from p2plend.web.render import SESSION_COOKIE
from tests import builders, invariants

ANONYMOUS = "anonymous"
# Every role of the platform, and the visitor who holds none: the rows of each matrix.
ROLES: tuple[str, ...] = (ANONYMOUS, *(role.value for role in Role))

# The users sign in before the tests' business clock (02:00, tests/conftest.py) so their
# sessions are valid whenever a test runs; each sign-in with TOTP takes a later 30-s step.
SIGN_IN_START = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


@dataclass
class World:
    """A database with one user per role, signed in for the API and for the pages."""

    app: FastAPI
    session_factory: sessionmaker[Session]
    user_ids: dict[str, int]
    api_headers: dict[str, dict[str, str]]
    pages: dict[str, TestClient]  # role → a browser-like client holding that role's cookie

    def api(self) -> TestClient:
        return self.pages[ANONYMOUS]


def _make_user(session: Session, role: Role) -> tuple[int, pyotp.TOTP | None]:
    if role in STAFF_ROLES:
        staff, authenticator = builders.make_staff(session, roles=(role,))
        return staff.id, authenticator
    if role in (Role.GUARANTOR, Role.PARTNER_INSTITUTION):
        return builders.make_organisation(session, roles=(role,)).id, None
    return builders.make_user(session, roles=(role,)).id, None


def _sign_in(
    session: Session, user_id: int, authenticator: pyotp.TOTP | None, client: identity.Client
) -> str:
    fixed = clock.current()
    assert isinstance(fixed, clock.FixedClock)
    fixed.advance(timedelta(seconds=30))  # a fresh TOTP step: each code works once
    code = authenticator.at(clock.now()) if authenticator is not None else None
    phone = identity.phone_of(session, user_id)
    result = identity.login(
        session, phone=phone, password=builders.DEFAULT_PASSWORD, totp_code=code, client=client, ip=None
    )
    return result.token


def _browser(app: FastAPI) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


@pytest.fixture(scope="module")
def world(fresh_database: Callable[[], AbstractContextManager[str]]) -> Iterator[World]:
    previous = clock.current()
    clock.install(clock.FixedClock(SIGN_IN_START))
    try:
        with fresh_database() as url:
            engine = make_engine(url)
            factory = make_session_factory(engine)
            get_settings.cache_clear()
            app = create_app(get_settings(), factory)
            user_ids: dict[str, int] = {}
            api_headers: dict[str, dict[str, str]] = {ANONYMOUS: {}}
            pages: dict[str, TestClient] = {}
            # Each client is entered (a client outside its block starts an event loop per
            # request: twice as slow); leaving them closes the simulated bank, harmlessly often.
            with ExitStack() as clients:
                pages[ANONYMOUS] = clients.enter_context(_browser(app))
                with factory() as session:
                    for role in Role:
                        user_id, authenticator = _make_user(session, role)
                        session.commit()
                        user_ids[role.value] = user_id
                        api_token = _sign_in(session, user_id, authenticator, "api")
                        web_token = _sign_in(session, user_id, authenticator, "web")
                        session.commit()
                        api_headers[role.value] = {"Authorization": f"Bearer {api_token}"}
                        browser = clients.enter_context(_browser(app))
                        browser.cookies.set(SESSION_COOKIE, web_token)
                        pages[role.value] = browser
                clock.install(previous)
                yield World(app, factory, user_ids, api_headers, pages)
            with factory() as session:
                invariants.assert_books_sound(session)
            engine.dispose()
    finally:
        clock.install(previous)

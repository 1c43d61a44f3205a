"""Small helpers shared by API tests of the suitability, messages and audit routers."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from p2plend import clock
from p2plend.api.routers import identity as identity_router
from tests.builders import DEFAULT_PASSWORD


@contextmanager
def client_with(app: FastAPI, router: APIRouter) -> Iterator[TestClient]:
    """The app's client, with ``router`` (and identity's, to sign in) mounted if the app lacks them."""
    for needed in (identity_router.router, router):
        paths = {getattr(route, "path", "") for route in app.routes}
        if not any(getattr(route, "path", "") in paths for route in needed.routes):
            app.include_router(needed)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def sign_in(api: TestClient, phone: str, *, totp: Any = None) -> dict[str, str]:
    """Bearer headers for ``phone``; with an authenticator, a fresh time-step's code."""
    code = None
    if totp is not None:
        clock.current().advance(timedelta(seconds=30))  # type: ignore[attr-defined]
        code = totp.at(clock.now())
    response = api.post(
        "/api/v1/auth/login", json={"phone": phone, "password": DEFAULT_PASSWORD, "totp_code": code}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}

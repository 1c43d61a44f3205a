"""Small helpers shared by API tests of the suitability, messages and audit routers."""

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from p2plend import clock
from tests.builders import DEFAULT_PASSWORD


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

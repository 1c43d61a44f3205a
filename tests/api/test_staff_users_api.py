"""Staff management of accounts: partners, roles, status, a lost authenticator (R-identity)."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.identity.permissions import Role
from tests.api.helpers import sign_in
from tests.builders import DEFAULT_PASSWORD, make_staff, make_user, next_phone

USERS = "/api/v1/staff/users"


@pytest.fixture
def admin(client: TestClient, session_factory: sessionmaker[Session]) -> dict[str, str]:
    phone = next_phone()
    with session_factory.begin() as session:
        _, totp = make_staff(session, phone=phone)
    return sign_in(client, phone, totp=totp)


@pytest.fixture
def customer(session_factory: sessionmaker[Session]) -> tuple[int, str]:
    phone = next_phone()
    with session_factory.begin() as session:
        user = make_user(session, phone=phone)
        return user.id, phone


def test_admin_creates_a_guarantor(client: TestClient, admin: dict[str, str]) -> None:
    body = {
        "phone": next_phone(),
        "password": "secret123",
        "name": "杭州某融资担保有限公司",
        "uscc": "91110000600037341L",
        "roles": ["guarantor"],
    }
    created = client.post("/api/v1/staff/partners", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["guarantor"]
    bad = client.post(
        "/api/v1/staff/partners",
        json=body | {"phone": next_phone(), "uscc": "91110000600037341M"},
        headers=admin,
    )
    assert bad.status_code == 422, bad.text


def test_admin_grants_and_takes_roles(
    client: TestClient, admin: dict[str, str], customer: tuple[int, str]
) -> None:
    user_id, _ = customer
    granted = client.put(f"{USERS}/{user_id}/roles/borrower", headers=admin)
    assert granted.status_code == 200, granted.text
    assert "borrower" in granted.json()["roles"]
    removed = client.delete(f"{USERS}/{user_id}/roles/borrower", headers=admin)
    assert "borrower" not in removed.json()["roles"]
    unknown = client.put(f"{USERS}/{user_id}/roles/king", headers=admin)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_role")
    missing = client.put(f"{USERS}/999999/roles/borrower", headers=admin)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "user_not_found")


def test_disabling_ends_sessions_and_reopening_lets_back_in(
    client: TestClient, admin: dict[str, str], customer: tuple[int, str]
) -> None:
    user_id, phone = customer
    theirs = sign_in(client, phone)
    disabled = client.put(f"{USERS}/{user_id}/status", json={"status": "disabled"}, headers=admin)
    assert disabled.status_code == 200, disabled.text
    assert client.get("/api/v1/me", headers=theirs).status_code == 401
    refused = client.post("/api/v1/auth/login", json={"phone": phone, "password": DEFAULT_PASSWORD})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "account_disabled")
    reopened = client.put(f"{USERS}/{user_id}/status", json={"status": "active"}, headers=admin)
    assert reopened.status_code == 200
    assert client.get("/api/v1/me", headers=sign_in(client, phone)).status_code == 200
    bad = client.put(f"{USERS}/{user_id}/status", json={"status": "gone"}, headers=admin)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_request")


def test_a_lost_authenticator_is_reset(
    client: TestClient, admin: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    phone = next_phone()
    with session_factory.begin() as session:
        staff, _ = make_staff(session, roles=[Role.FINANCE], phone=phone)
    reset = client.post(f"{USERS}/{staff.id}/2fa/reset", headers=admin)
    assert reset.status_code == 200, reset.text
    token = sign_in(client, phone)  # no code needed any more: enrolment is required instead
    gated = client.get("/api/v1/staff/custody/reconciliations", headers=token)
    assert gated.json()["error"]["code"] == "totp_enrollment_required"


def test_only_administrators_manage_accounts(
    client: TestClient, session_factory: sessionmaker[Session], customer: tuple[int, str]
) -> None:
    user_id, _ = customer
    phone = next_phone()
    with session_factory.begin() as session:
        _, totp = make_staff(session, roles=[Role.CUSTOMER_SERVICE], phone=phone)
    service = sign_in(client, phone, totp=totp)
    for response in (
        client.put(f"{USERS}/{user_id}/roles/borrower", headers=service),
        client.put(f"{USERS}/{user_id}/status", json={"status": "disabled"}, headers=service),
        client.post(f"{USERS}/{user_id}/2fa/reset", headers=service),
    ):
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied")

"""Audit log API: staff with staff:audit:read only."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.identity.permissions import Role
from tests.api.helpers import sign_in
from tests.audit.test_audit import bypass_guards
from tests.builders import make_staff, make_user

COMPLIANCE_PHONE, FINANCE_PHONE, CUSTOMER_PHONE = "13700137000", "13600136000", "13800138000"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_compliance_reads_the_audit_log(api: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        officer, totp = make_staff(session, roles=[Role.COMPLIANCE], phone=COMPLIANCE_PHONE)
        for i in range(3):
            audit.record(
                session,
                actor_id=officer.id,
                action="withdrawal.reviewed",
                object_type="withdrawal",
                object_id=f"W{i}",
                details={"decision": "approve"},
            )
        session.commit()
    headers = sign_in(api, COMPLIANCE_PHONE, totp=totp)

    page = api.get("/api/v1/staff/audit", headers=headers, params={"object_type": "withdrawal", "limit": 2})
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [r["object_id"] for r in items] == ["W2", "W1"]
    assert items[0]["details"] == {"decision": "approve"} and items[0]["stream"] == "withdrawal:W2"
    rest = api.get(
        "/api/v1/staff/audit",
        headers=headers,
        params={"object_type": "withdrawal", "before_id": page.json()["next_before_id"]},
    )
    assert [r["object_id"] for r in rest.json()["items"]] == ["W0"]

    by_object = api.get(
        "/api/v1/staff/audit", headers=headers, params={"object_type": "withdrawal", "object_id": "W1"}
    )
    assert [r["action"] for r in by_object.json()["items"]] == ["withdrawal.reviewed"]

    verification = api.get("/api/v1/staff/audit/verification", headers=headers)
    assert verification.json() == {"intact": True, "violations": []}


def test_verification_reports_a_tampered_record(
    api: TestClient, session_factory: sessionmaker[Session], is_postgres: bool
) -> None:
    with session_factory() as session:
        officer, totp = make_staff(session, roles=[Role.COMPLIANCE], phone=COMPLIANCE_PHONE)
        record = audit.record(
            session,
            actor_id=officer.id,
            action="withdrawal.reviewed",
            object_type="withdrawal",
            object_id="W9",
            details={},
        )
        session.commit()
        bypass_guards(session, is_postgres, "audit_records")
        session.execute(
            text("UPDATE audit_records SET action = 'withdrawal.approved' WHERE id = :id"), {"id": record.id}
        )
        session.commit()
    body = api.get(
        "/api/v1/staff/audit/verification", headers=sign_in(api, COMPLIANCE_PHONE, totp=totp)
    ).json()
    assert body["intact"] is False
    assert [v["rule"] for v in body["violations"]] == ["record_hash"]


def test_other_staff_and_customers_are_refused(
    api: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        _, totp = make_staff(session, roles=[Role.FINANCE], phone=FINANCE_PHONE)
        make_user(session, phone=CUSTOMER_PHONE)
        session.commit()
    for headers in (sign_in(api, FINANCE_PHONE, totp=totp), sign_in(api, CUSTOMER_PHONE)):
        response = api.get("/api/v1/staff/audit", headers=headers)
        assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert api.get("/api/v1/staff/audit").status_code == 401


def test_control_characters_in_filters_are_refused(
    api: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        _, totp = make_staff(session, roles=[Role.COMPLIANCE], phone=COMPLIANCE_PHONE)
        session.commit()
    headers = sign_in(api, COMPLIANCE_PHONE, totp=totp)
    response = api.get("/api/v1/staff/audit", headers=headers, params={"object_type": "\x00"})
    assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request")

"""The platform risk reserve and the compliance report over the API: off and clear by
default; the administrator opens its account and switches it on (refusals change nothing);
the compliance report then flags it (R37); a covered loan is compensated by the reserve."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import builders, overdue
from tests.api.test_marketplace_api import staff_headers

API = "/api/v1"
ON = {
    "enabled": True,
    "coverage": "principal_interest",
    "trigger_dpd": 2,
    "accelerate_dpd": 90,
    "contribution_rate": "0.5",
}


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def error_of(response: object) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]  # type: ignore[attr-defined]


def flagged(api: TestClient, headers: dict[str, str]) -> dict[str, bool]:
    report = api.get(f"{API}/staff/compliance", headers=headers)
    assert report.status_code == 200, report.text
    return {check["code"]: check["flagged"] for check in report.json()["checks"]}


def test_the_reserve_is_off_and_the_report_clear_by_default(
    api: TestClient, session_factory: sessionmaker[Session]
) -> None:
    compliance = staff_headers(api, session_factory, Role.COMPLIANCE)
    assert flagged(api, compliance) == {
        "risk_reserve": False,
        "borrowing_caps": False,
        "guarantor_shortfalls": False,
        "partner_claims": False,
    }
    body = api.get(f"{API}/staff/risk-reserve", headers=compliance).json()
    assert (body["opened"], body["enabled"], body["flagged"], body["available"]) == (
        False,
        False,
        False,
        "0.00",
    )
    assert api.get(f"{API}/staff/compliance").status_code == 401
    investor = staff_headers(api, session_factory, Role.COLLECTOR)
    assert error_of(api.get(f"{API}/staff/compliance", headers=investor))[0] == 403


def test_the_administrator_switches_it_on_and_the_report_flags_it(
    api: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    admin = staff_headers(api, session_factory, Role.ADMIN)
    finance = staff_headers(api, session_factory, Role.FINANCE)
    assert error_of(api.put(f"{API}/staff/risk-reserve", json=ON, headers=admin)) == (
        422,
        "risk_reserve_not_open",
    )
    assert error_of(api.put(f"{API}/staff/risk-reserve", json=ON, headers=finance))[0] == 403
    phone = builders.next_phone()
    opened = api.post(f"{API}/staff/risk-reserve/account", json={"phone": phone}, headers=admin)
    assert opened.status_code == 201, opened.text
    assert opened.json()["opened"] and not opened.json()["enabled"]
    again = api.post(
        f"{API}/staff/risk-reserve/account", json={"phone": builders.next_phone()}, headers=admin
    )
    assert error_of(again) == (409, "risk_reserve_already_open")
    bad = api.put(f"{API}/staff/risk-reserve", json=ON | {"contribution_rate": "1.5"}, headers=admin)
    assert error_of(bad) == (422, "invalid_risk_reserve_terms")
    assert bad.json()["error"]["details"]["field"] == "contribution_rate"
    late = api.put(f"{API}/staff/risk-reserve", json=ON | {"accelerate_dpd": 2}, headers=admin)
    assert late.json()["error"]["details"]["field"] == "accelerate_dpd"
    assert api.get(f"{API}/staff/risk-reserve", headers=finance).json()["enabled"] is False  # nothing changed
    on = api.put(f"{API}/staff/risk-reserve", json=ON, headers=admin)
    assert on.status_code == 200, on.text
    assert (on.json()["enabled"], on.json()["flagged"], on.json()["contribution_rate"]) == (True, True, "0.5")
    assert flagged(api, finance)["risk_reserve"] is True
    with session_factory() as session:
        configured = audit.list_records(session, object_type="risk_reserve", object_id=1)
        assert [r.action for r in configured] == ["risk_reserve.configured"]
    # A loan disbursed now is covered at the batch and compensated by the reserve on DPD 2.
    loan = overdue.spent_loan(session_factory, bank)
    overdue.close_each_day(session_factory, bank, overdue.overdue_by(2))
    finance = staff_headers(api, session_factory, Role.FINANCE)  # weeks later: a new session
    coverages = api.get(f"{API}/staff/risk-reserve/coverages", headers=finance)
    assert coverages.status_code == 200, coverages.text
    [covered] = coverages.json()
    assert (covered["loan_id"], covered["status"]) == (loan.loan_id, "active")
    holder = on.json()["holder_id"]
    paid = api.get(f"{API}/staff/compensations", params={"guarantor_id": holder}, headers=finance).json()
    assert [p["loan_id"] for p in paid] == [loan.loan_id]

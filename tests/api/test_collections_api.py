"""Collections API (催收) and write-off (核销): cases, the work queue, actions, assignment,
strategies, the KPI report and the overdue analysis; write-off by two staff. Money as
strings, stable error codes, permissions."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import builders, collecting, overdue
from tests.api.helpers import sign_in
from tests.api.test_marketplace_api import headers_of
from tests.overdue import overdue_by


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Staff:
    user_id: int
    headers: dict[str, str]


def _staff(
    api: TestClient, session_factory: sessionmaker[Session], *roles: Role, name: str = "王员工"
) -> Staff:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        user, totp = builders.make_staff(session, phone=phone, roles=roles, name=name)
        user_id = user.id
    return Staff(user_id, sign_in(api, phone, totp=totp))


@dataclass
class Desk:
    api: TestClient
    sessions: sessionmaker[Session]
    bank: SimulatedBank
    loan: overdue.OverdueLoan
    case_id: int
    manager: Staff
    collector: Staff
    other: Staff


@pytest.fixture
def desk(api: TestClient, app: FastAPI, session_factory: sessionmaker[Session]) -> Desk:
    """A loan 5 days overdue (its case open, unassigned), a manager and two collectors."""
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    loan = overdue.spent_loan(session_factory, bank, title="门店装修")
    overdue.close(session_factory, bank, overdue_by(5))  # before signing in: sessions expire
    manager = _staff(api, session_factory, Role.RISK_OFFICER, name="李经理")
    collector = _staff(api, session_factory, Role.COLLECTOR, name="催收员甲")
    other = _staff(api, session_factory, Role.COLLECTOR, name="催收员乙")
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    return Desk(api, session_factory, bank, loan, case.id, manager, collector, other)


def test_cases_assignment_queue_and_actions(desk: Desk) -> None:
    api, case_url = desk.api, f"/api/v1/staff/collections/cases/{desk.case_id}"
    listed = api.get(
        "/api/v1/staff/collections/cases", headers=desk.manager.headers, params={"status": "open"}
    )
    assert listed.status_code == 200, listed.text
    [case] = listed.json()["items"]
    assert (case["stage"], case["days_past_due"], case["collector_id"]) == ("m1", 5, None)
    assert case["opening_balance"] == "1022.60" and case["principal_outstanding"] == "12000.00"
    assert (
        api.get(
            "/api/v1/staff/collections/cases", headers=desk.manager.headers, params={"stage": "m2"}
        ).json()["total"]
        == 0
    )

    assigned = api.put(
        f"{case_url}/collector",
        headers=desk.manager.headers,
        json={"collector_id": desk.collector.user_id, "reason": "本地"},
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["collector_id"] == desk.collector.user_id
    refused = api.put(
        f"{case_url}/collector", headers=desk.collector.headers, json={"collector_id": desk.collector.user_id}
    )
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    wrong = api.put(
        f"{case_url}/collector", headers=desk.manager.headers, json={"collector_id": desk.manager.user_id}
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "invalid_collector")

    [item] = api.get("/api/v1/staff/collections/queue", headers=desk.collector.headers).json()
    assert (item["priority"], item["case"]["id"]) == ("contact_due", desk.case_id)
    assert api.get("/api/v1/staff/collections/queue", headers=desk.other.headers).json() == []

    call = api.post(
        f"{case_url}/actions",
        headers=desk.collector.headers,
        json={"kind": "call", "detail": "reached", "note": "下周还"},
    )
    assert call.status_code == 201, call.text
    promise = api.post(
        f"{case_url}/actions",
        headers=desk.collector.headers,
        json={"kind": "promise_to_pay", "amount": "500.00", "due_on": overdue_by(8).isoformat()},
    )
    assert promise.status_code == 201, promise.text
    for body, code, field in (
        ({"kind": "call"}, "invalid_collection_action", "detail"),
        ({"kind": "promise_to_pay", "amount": "500.00"}, "invalid_collection_action", "due_on"),
        (
            {"kind": "promise_to_pay", "amount": 500, "due_on": overdue_by(8).isoformat()},
            "invalid_amount",
            None,
        ),
        (
            {"kind": "promise_to_pay", "amount": "-5", "due_on": overdue_by(8).isoformat()},
            "invalid_amount",
            None,
        ),
        ({"kind": "dance"}, "invalid_request", None),
    ):
        bad = api.post(f"{case_url}/actions", headers=desk.collector.headers, json=body)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, code), body
        if field:
            assert bad.json()["error"]["details"]["field"] == field
    theirs = api.post(f"{case_url}/actions", headers=desk.other.headers, json={"kind": "note", "note": "x"})
    assert (theirs.status_code, theirs.json()["error"]["code"]) == (403, "collection_case_not_yours")

    detail = api.get(case_url, headers=desk.collector.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert [a["kind"] for a in body["actions"]] == ["promise_to_pay", "call"]
    assert [(p["amount"], p["status"]) for p in body["promises"]] == [("500.00", "pending")]
    assert body["position"]["overdue_principal"] == "981.80" and body["position"]["days_past_due"] == 5
    assert body["position"]["owed_now"] == "1022.60"  # 1,021.80 + 5 days' penalty of 0.16
    assert body["contact"]["masked"] is False and body["contact"]["phone"].startswith("+86")
    # The case opened on DPD 5 (the first close): the M1 strategy reminded by SMS and app that day.
    assert sorted((r["channel"], r["amount"]) for r in body["reminders"]) == [
        ("app", "1022.60"),
        ("sms", "1022.60"),
    ]
    assert [s["to_stage"] for s in body["stage_changes"]] == ["m1"]
    assert [a["method"] for a in body["assignments"]] == ["manual"]
    masked = api.get(case_url, headers=desk.manager.headers).json()[
        "contact"
    ]  # a risk officer has PII read too
    assert masked["masked"] is False
    missing = api.get("/api/v1/staff/collections/cases/999999", headers=desk.manager.headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "collection_case_not_found")
    collectors = api.get("/api/v1/staff/collections/collectors", headers=desk.manager.headers).json()
    assert [(c["name"], c["open_cases"]) for c in collectors] == [("催收员甲", 1), ("催收员乙", 0)]


def test_customers_and_other_staff_are_refused(desk: Desk) -> None:
    customer = headers_of(desk.api, desk.sessions, desk.loan.investors[0])
    compliance = _staff(desk.api, desk.sessions, Role.CUSTOMER_SERVICE)
    for url in (
        "/api/v1/staff/collections/cases",
        "/api/v1/staff/collections/queue",
        "/api/v1/staff/write-offs",
    ):
        for headers in (customer, compliance.headers):
            assert desk.api.get(url, headers=headers).status_code == 403, url
    assert desk.api.get("/api/v1/staff/collections/cases").status_code == 401
    assert desk.api.get("/api/v1/staff/collections/kpi", headers=desk.collector.headers).status_code == 403


def test_strategies_are_read_by_staff_and_set_by_managers(desk: Desk) -> None:
    api, url = desk.api, "/api/v1/staff/collections/strategies"
    strategies = api.get(url, headers=desk.collector.headers).json()
    assert [(s["stage"], s["treatment"], s["assignment"], s["updated_at"]) for s in strategies][:2] == [
        ("m1", "reminder", "none", None),
        ("m2", "phone", "round_robin", None),
    ]
    body = {
        "treatment": "phone",
        "reminder_sms": True,
        "reminder_app": False,
        "reminder_every_days": 5,
        "assignment": "by_load",
        "team": [desk.collector.user_id],
        "contact_every_days": 2,
    }
    saved = api.put(f"{url}/m1", headers=desk.manager.headers, json=body)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["team"], saved.json()["updated_by"]) == (
        [desk.collector.user_id],
        desk.manager.user_id,
    )
    assert api.put(f"{url}/m1", headers=desk.collector.headers, json=body).status_code == 403
    for bad, field in (({"assignment": "random"}, "assignment"), ({"team": [desk.manager.user_id]}, "team")):
        refused = api.put(f"{url}/m1", headers=desk.manager.headers, json=body | bad)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_collection_strategy")
        assert refused.json()["error"]["details"]["field"] == field
    for bad_body in (
        body | {"reminder_sms": "yes"},
        body | {"reminder_every_days": 1.5},
        {"treatment": "phone"},
    ):
        assert (
            api.put(f"{url}/m1", headers=desk.manager.headers, json=bad_body).json()["error"]["code"]
            == "invalid_request"
        )
    assert api.put(f"{url}/current", headers=desk.manager.headers, json=body).status_code == 422


def test_kpi_and_overdue_analysis(desk: Desk) -> None:
    reporter = _staff(desk.api, desk.sessions, Role.OPERATIONS)  # staff:reports:read
    kpi = desk.api.get(
        "/api/v1/staff/collections/kpi",
        headers=reporter.headers,
        params={"from": "2026-12-01", "to": overdue_by(5).isoformat()},
    )
    assert kpi.status_code == 200, kpi.text
    m1 = kpi.json()["by_stage"][0]
    assert m1 == {
        "stage": "m1",
        "spells": 1,
        "balance": "1022.60",  # 1,021.80 + 5 days of 0.16 penalty (the first close was DPD 5)
        "repaid": "0.00",
        "recovered": "0.00",
        "recovery_rate": "0.0000",
        "cured": 0,
        "rolled": 0,
    }
    assert kpi.json()["roll_rates"][0]["from_stage"] == "current"
    for params in ({"from": "2027-01-05", "to": "2027-01-01"}, {"from": "2026-12-01", "to": "2099-01-01"}):
        bad = desk.api.get("/api/v1/staff/collections/kpi", headers=reporter.headers, params=params)
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_report_period")
    assert (
        desk.api.get(
            "/api/v1/staff/collections/kpi", headers=reporter.headers, params={"from": "soon"}
        ).status_code
        == 422
    )
    found = desk.api.get(
        "/api/v1/staff/collections/analysis", headers=desk.manager.headers, params={"dimension": "grade"}
    )
    assert found.status_code == 200, found.text
    [group] = found.json()["groups"]
    assert (
        group["key"],
        group["loans"],
        group["overdue_loans"],
        group["overdue_rate"],
        group["overdue_principal"],
    ) == ("B", 1, 1, "1.0000", "981.80")
    assert found.json()["profiles"][0]["region"] == "北京市"
    bad = desk.api.get(
        "/api/v1/staff/collections/analysis", headers=desk.manager.headers, params={"dimension": "zodiac"}
    )
    assert bad.json()["error"]["code"] == "invalid_request"


def test_write_off_by_two_staff(desk: Desk) -> None:
    api = desk.api
    both = _staff(api, desk.sessions, Role.RISK_OFFICER, Role.FINANCE, name="孙全能")
    finance = _staff(api, desk.sessions, Role.FINANCE, name="钱财务")
    body = {"loan_id": desk.loan.loan_id, "reason": "proof_of_loss", "proof": "法院终结本次执行裁定书"}
    assert api.post("/api/v1/staff/write-offs", headers=finance.headers, json=body).status_code == 403
    not_yet = api.post(
        "/api/v1/staff/write-offs", headers=both.headers, json=body | {"reason": "dpd_over_180"}
    )
    assert (not_yet.status_code, not_yet.json()["error"]["code"]) == (409, "write_off_not_eligible")
    no_proof = api.post("/api/v1/staff/write-offs", headers=both.headers, json=body | {"proof": ""})
    assert (no_proof.status_code, no_proof.json()["error"]["details"]["field"]) == (422, "proof")
    proposed = api.post("/api/v1/staff/write-offs", headers=both.headers, json=body)
    assert proposed.status_code == 201, proposed.text
    write_off = proposed.json()
    assert (write_off["status"], write_off["principal"], write_off["days_past_due"]) == (
        "proposed",
        "12000.00",
        5,
    )
    again = api.post("/api/v1/staff/write-offs", headers=desk.manager.headers, json=body)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "write_off_already_proposed")
    url = f"/api/v1/staff/write-offs/{write_off['id']}"
    same = api.post(f"{url}/approve", headers=both.headers, json={})
    assert (same.status_code, same.json()["error"]["code"]) == (403, "write_off_four_eyes")
    assert api.post(f"{url}/approve", headers=desk.manager.headers, json={}).status_code == 403
    approved = api.post(f"{url}/approve", headers=finance.headers, json={"note": "同意"})
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", finance.user_id)
    assert sorted(c["principal"] for c in approved.json()["claims"]) == ["6000.00", "6000.00"]
    twice = api.post(f"{url}/reject", headers=finance.headers, json={"note": "晚了"})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "write_off_not_pending")
    listed = api.get(
        "/api/v1/staff/write-offs", headers=desk.manager.headers, params={"status": "approved"}
    ).json()
    assert [w["id"] for w in listed] == [write_off["id"]]
    assert api.get(url, headers=finance.headers).json()["recovered"] == "0.00"
    missing = api.post("/api/v1/staff/write-offs/999999/approve", headers=finance.headers, json={})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "write_off_not_found")
    unknown_loan = api.post("/api/v1/staff/write-offs", headers=both.headers, json=body | {"loan_id": 999999})
    assert (unknown_loan.status_code, unknown_loan.json()["error"]["code"]) == (404, "loan_not_found")
    case = api.get("/api/v1/staff/collections/cases", headers=desk.manager.headers).json()["items"][0]
    assert case["written_off"] is True

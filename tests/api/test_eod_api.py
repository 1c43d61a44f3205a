"""End-of-day batch (日终批处理) and overdue management (逾期管理) API: the runs, running the
batch, the overdue dashboard, a loan's risk history, the daily figures, and the borrower's
own loan with its overdue position and penalty due."""

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.jobs import eod
from p2plend.jobs.models import EodChunk, EodRun
from p2plend.marketplace import service as marketplace
from tests import lending
from tests.api.test_marketplace_api import headers_of, staff_headers
from tests.overdue import close, overdue_by, spent_loan

MONEY = r"^-?[0-9]+\.[0-9]{2}$"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    custodian = app.state.custodian
    assert isinstance(custodian, SimulatedBank)
    return custodian


@pytest.fixture
def operations(api: TestClient, session_factory: sessionmaker[Session]) -> dict[str, str]:
    """Signed in at the tests' business date: use it before moving the clock by days."""
    return staff_headers(api, session_factory, Role.OPERATIONS)


@pytest.fixture
def risk_officer(api: TestClient, session_factory: sessionmaker[Session]) -> dict[str, str]:
    return staff_headers(api, session_factory, Role.RISK_OFFICER)


def _signed_in(api: TestClient, session_factory: sessionmaker[Session], role: Role) -> dict[str, str]:
    """A staff member signed in now (sessions last hours; the tests move the clock by days)."""
    return staff_headers(api, session_factory, role)


def _fen(text: str) -> int:
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int(cents)


def _batch_rows(session_factory: sessionmaker[Session]) -> tuple[int, int, int]:
    with session_factory() as session:
        return (
            int(session.scalar(select(func.count()).select_from(EodRun)) or 0),
            int(session.scalar(select(func.count()).select_from(EodChunk)) or 0),
            len(audit.list_records(session, object_type="eod")),
        )


def test_run_closes_today_records_it_and_a_second_run_does_nothing(
    api: TestClient,
    operations: dict[str, str],
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
) -> None:
    status = api.get("/api/v1/staff/eod", headers=operations)
    assert status.status_code == 200, status.text
    assert status.json() == {"today": "2026-11-28", "last_closed": None, "runs": []}
    loan = spent_loan(session_factory, bank)
    lending.go_to(overdue_by(5))
    operations = _signed_in(api, session_factory, Role.OPERATIONS)
    run = api.post("/api/v1/staff/eod/run", headers=operations, json={})
    assert run.status_code == 200, run.text
    body = run.json()
    assert (body["through"], body["closed"]) == ("2027-01-02", ["2027-01-02"])
    [day] = body["days"]
    assert day["business_date"] == "2027-01-02" and day["already_closed"] is False
    assert day["items"]["classify"] == 1 and day["items"]["figures"] == 1
    assert day["chunks"] == len(eod.STEPS)
    latest = body["runs"][0]
    assert (latest["business_date"], latest["status"], latest["step"]) == (
        "2027-01-02",
        "closed",
        eod.STEPS[-1].name,
    )
    assert [s["name"] for s in latest["steps"]] == list(eod.STEP_NAMES)
    assert all(s["chunks_done"] == s["chunks"] == 1 for s in latest["steps"])
    assert latest["steps"][0]["label_zh"] == "自动代扣"
    with session_factory() as session:
        row = marketplace.get_loan(session, loan.loan_id)
        assert (row.days_past_due, row.stage) == (5, "m1")
        [record] = audit.list_records(session, object_type="eod")
        assert (record.action, record.object_id) == ("eod.run", "2027-01-02")
        assert record.details["closed"] == ["2027-01-02"]
    again = api.post("/api/v1/staff/eod/run", headers=operations)  # no body at all: today
    assert again.status_code == 200, again.text
    assert (again.json()["closed"], again.json()["days"]) == ([], [])
    status = api.get("/api/v1/staff/eod", headers=operations, params={"limit": 1}).json()
    assert status["last_closed"] == "2027-01-02" and len(status["runs"]) == 1


def test_a_past_date_then_catch_up_oldest_first(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    spent_loan(session_factory, bank)
    lending.go_to(overdue_by(5))
    operations = _signed_in(api, session_factory, Role.OPERATIONS)
    first = api.post("/api/v1/staff/eod/run", headers=operations, json={"date": "2026-12-30"})
    assert first.status_code == 200, first.text
    assert first.json()["closed"] == ["2026-12-30"]
    rest = api.post("/api/v1/staff/eod/run", headers=operations, json={"date": None})
    assert rest.json()["closed"] == ["2026-12-31", "2027-01-01", "2027-01-02"]
    runs = api.get("/api/v1/staff/eod", headers=operations).json()["runs"]
    assert [r["business_date"] for r in runs] == ["2027-01-02", "2027-01-01", "2026-12-31", "2026-12-30"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"date": "2026-11-29"}, 422, "eod_date_not_closable"),
        ({"date": "2030-01-01"}, 422, "eod_date_not_closable"),
        ({"date": "2026-02-30"}, 422, "invalid_request"),
        ({"date": "tomorrow"}, 422, "invalid_request"),
        ({"date": "2026-11-28T00:00:00"}, 422, "invalid_request"),
        ({"date": 0}, 422, "invalid_request"),
        ({"date": 20261128}, 422, "invalid_request"),
        ({"day": "2026-11-28"}, 422, "invalid_request"),
        ([], 422, "invalid_request"),
    ],
)
def test_bad_requests_are_refused_and_close_nothing(
    api: TestClient,
    operations: dict[str, str],
    session_factory: sessionmaker[Session],
    body: Any,
    status: int,
    code: str,
) -> None:
    response = api.post("/api/v1/staff/eod/run", headers=operations, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert _batch_rows(session_factory) == (0, 0, 0)


def test_only_operations_may_run_and_only_staff_readers_may_read(
    api: TestClient,
    risk_officer: dict[str, str],
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
) -> None:
    loan = spent_loan(session_factory, bank)
    borrower = headers_of(api, session_factory, loan.borrower)
    finance = staff_headers(api, session_factory, Role.FINANCE)
    collector = staff_headers(api, session_factory, Role.COLLECTOR)
    no_totp = staff_headers(api, session_factory, Role.OPERATIONS, with_totp=False)
    for headers in (risk_officer, finance, borrower):
        refused = api.post("/api/v1/staff/eod/run", headers=headers, json={})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    refused = api.post("/api/v1/staff/eod/run", headers=no_totp, json={})
    assert refused.json()["error"]["code"] == "totp_enrollment_required"
    assert api.post("/api/v1/staff/eod/run", json={}).status_code == 401
    assert _batch_rows(session_factory) == (0, 0, 0)
    readers = ("/api/v1/staff/eod", "/api/v1/staff/overdue", "/api/v1/staff/figures")
    for path in (*readers, f"/api/v1/staff/loans/{loan.loan_id}/risk-history"):
        for headers in (risk_officer, finance):  # staff:risk:manage, staff:reports:read
            assert api.get(path, headers=headers).status_code == 200, path
        for headers in (borrower, collector):
            denied = api.get(path, headers=headers)
            assert denied.status_code == 403, path
            assert denied.json()["error"]["details"]["permissions"] == [
                "staff:reports:read",
                "staff:risk:manage",
                *(["staff:operations:manage"] if path == "/api/v1/staff/eod" else []),
            ]
        assert api.get(path, headers=no_totp).json()["error"]["code"] == "totp_enrollment_required"


def _two_overdue_loans(session_factory: sessionmaker[Session], bank: SimulatedBank) -> tuple[int, int, date]:
    """Loan A due 2026-12-28 and loan B due 2027-01-20, closed on 2027-02-01: A is 35 days
    past due (M2), B 12 days (M1)."""
    a = spent_loan(session_factory, bank, title="Loan A")
    lending.go_to(date(2026, 12, 20))
    b = spent_loan(session_factory, bank, title="Loan B")
    on = overdue_by(35)
    close(session_factory, bank, on)
    return a.loan_id, b.loan_id, on


def test_the_overdue_dashboard_by_stage(
    api: TestClient, risk_officer: dict[str, str], bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    empty = api.get("/api/v1/staff/overdue", headers=risk_officer).json()
    assert (empty["as_of"], empty["loans_overdue"], empty["principal_overdue"], empty["loans"]) == (
        None,
        0,
        "0.00",
        [],
    )
    assert [s["stage"] for s in empty["stages"]] == ["m1", "m2", "m3", "m3_plus", "m7_plus"]
    a, b, on = _two_overdue_loans(session_factory, bank)
    risk_officer = _signed_in(api, session_factory, Role.RISK_OFFICER)
    report = api.get("/api/v1/staff/overdue", headers=risk_officer).json()
    assert report["as_of"] == on.isoformat()
    assert {s["stage"]: (s["loans"], s["principal"]) for s in report["stages"]} == {
        "m1": (1, "12000.00"),
        "m2": (1, "12000.00"),
        "m3": (0, "0.00"),
        "m3_plus": (0, "0.00"),
        "m7_plus": (0, "0.00"),
    }
    assert (report["loans_overdue"], report["principal_overdue"]) == (2, "24000.00")
    first, second = report["loans"]
    assert (first["id"], second["id"]) == (a, b)  # the longest overdue first
    assert {k: first[k] for k in ("title", "borrower_name_masked", "days_past_due", "stage")} == {
        "title": "Loan A",
        "borrower_name_masked": "陈**",
        "days_past_due": 35,
        "stage": "m2",
    }
    assert first["classification"] == "special_mention" and first["principal_outstanding"] == "12000.00"
    for key in ("principal_outstanding", "overdue_principal", "overdue_interest", "penalty_owed"):
        assert isinstance(first[key], str) and _fen(first[key]) >= 0, key
    # A's first two installments are unpaid by 2027-02-01 (due 12-28 and 01-28).
    with session_factory() as session:
        from p2plend.servicing import service as servicing

        rows = servicing.schedule(session, a)[:2]
        assert _fen(first["overdue_principal"]) == sum(r.principal for r in rows)
        assert _fen(first["penalty_owed"]) == sum(r.penalty for r in rows) > 0
    assert (second["days_past_due"], second["stage"]) == (12, "m1")
    only_m1 = api.get("/api/v1/staff/overdue", headers=risk_officer, params={"stage": "m1"}).json()
    assert [loan["id"] for loan in only_m1["loans"]] == [b]
    paged = api.get("/api/v1/staff/overdue", headers=risk_officer, params={"limit": 1, "offset": 1}).json()
    assert [loan["id"] for loan in paged["loans"]] == [b] and paged["loans_overdue"] == 2
    for params in ({"stage": "current"}, {"stage": "m9"}, {"limit": 0}, {"offset": -1}):
        bad = api.get("/api/v1/staff/overdue", headers=risk_officer, params=params)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request", params


def test_a_loans_risk_history_and_the_borrowers_view(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    loan = spent_loan(session_factory, bank)
    for n in (3, 4, 5):
        close(session_factory, bank, overdue_by(n))
    risk_officer = _signed_in(api, session_factory, Role.RISK_OFFICER)
    history = api.get(f"/api/v1/staff/loans/{loan.loan_id}/risk-history", headers=risk_officer)
    assert history.status_code == 200, history.text
    body = history.json()
    assert (body["days_past_due"], body["stage"], body["classification"]) == (5, "m1", "special_mention")
    assert [(h["business_date"], h["days_past_due"]) for h in body["history"]] == [
        ("2026-12-31", 3),
        ("2027-01-01", 4),
        ("2027-01-02", 5),
    ]
    assert body["history"][0]["penalty_owed"] == "0.00"  # within grace (R30)
    assert _fen(body["history"][1]["penalty_owed"]) > 0  # past grace: days 1–4 at once
    assert body["penalty_accruals"] and all(
        set(a) >= {"business_date", "installment_id", "days", "penalty", "late_fee"}
        for a in body["penalty_accruals"]
    )
    assert sum(_fen(a["penalty"]) for a in body["penalty_accruals"]) == _fen(
        body["history"][-1]["penalty_owed"]
    )
    missing = api.get("/api/v1/staff/loans/999999/risk-history", headers=risk_officer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "loan_not_found"

    borrower = headers_of(api, session_factory, loan.borrower)
    mine = api.get(f"/api/v1/me/loans/{loan.loan_id}", headers=borrower).json()
    assert (mine["days_past_due"], mine["stage"], mine["classification"]) == (5, "m1", "special_mention")
    due = mine["next_due"]
    assert _fen(due["penalty"]) > 0 and due["late_fee"] == "0.00"
    assert _fen(due["total"]) == sum(
        _fen(due[k]) for k in ("principal", "interest", "fee", "penalty", "late_fee")
    )
    first = mine["schedule"][0]
    assert _fen(first["penalty"]) > 0 and first["paid_penalty"] == "0.00"
    listed = {row["id"]: row for row in api.get("/api/v1/me/loans", headers=borrower).json()}
    assert (
        listed[loan.loan_id]["stage"] == "m1"
        and listed[loan.loan_id]["next_due"]["penalty"] == due["penalty"]
    )


def test_daily_figures_between_two_dates(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    spent_loan(session_factory, bank)
    for n in (1, 2):
        close(session_factory, bank, overdue_by(n))
    risk_officer = _signed_in(api, session_factory, Role.RISK_OFFICER)
    rows = api.get(
        "/api/v1/staff/figures", headers=risk_officer, params={"from": "2026-12-01", "to": "2027-01-31"}
    ).json()
    assert [r["business_date"] for r in rows] == ["2026-12-29", "2026-12-30"]
    day = rows[-1]
    assert (day["loans_outstanding"], day["overdue_loans"], day["borrowers"], day["lenders"]) == (1, 1, 1, 2)
    assert day["principal_outstanding"] == day["overdue_principal"] == "12000.00"
    assert day["overdue_principal_90"] == "0.00"
    for key in ("repaid", "disbursed", "penalty_accrued"):
        assert isinstance(day[key], str) and Decimal(day[key]) >= 0
    default = api.get("/api/v1/staff/figures", headers=risk_officer).json()  # the last 30 days to today
    assert [r["business_date"] for r in default] == ["2026-12-29", "2026-12-30"]
    one = api.get("/api/v1/staff/figures", headers=risk_officer, params={"from": "2026-12-30"}).json()
    assert [r["business_date"] for r in one] == ["2026-12-30"]
    for params, code in (
        ({"from": "2027-01-02", "to": "2027-01-01"}, "invalid_date_range"),
        ({"from": "2025-01-01", "to": "2026-12-31"}, "invalid_date_range"),
        ({"from": "0"}, "invalid_request"),
        ({"to": "2026-02-30"}, "invalid_request"),
        ({"to": "yesterday"}, "invalid_request"),
    ):
        bad = api.get("/api/v1/staff/figures", headers=risk_officer, params=params)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, params


def test_the_openapi_document_has_the_endpoints_with_money_as_strings(api: TestClient) -> None:
    spec = api.get("/api/v1/openapi.json").json()
    for path in (
        "/api/v1/staff/eod",
        "/api/v1/staff/eod/run",
        "/api/v1/staff/overdue",
        "/api/v1/staff/figures",
        "/api/v1/staff/loans/{loan_id}/risk-history",
    ):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    for name, field in (
        ("OverdueLoanOut", "penalty_owed"),
        ("DailyFiguresOut", "overdue_principal"),
        ("AmountDueOut", "penalty"),
        ("StageCountOut", "principal"),
    ):
        prop = schemas[name]["properties"][field]
        assert prop["type"] == "string" and prop["pattern"] == MONEY, (name, field)
    params = {p["name"] for p in spec["paths"]["/api/v1/staff/figures"]["get"]["parameters"]}
    assert params == {"from", "to"}
    operation_ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_a_missed_date_is_closed_by_the_next_run(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    """The scheduler may miss a night; the next run's catch-up closes the date it missed."""
    spent_loan(session_factory, bank)
    close(session_factory, bank, overdue_by(1))
    lending.go_to(overdue_by(3))
    operations = _signed_in(api, session_factory, Role.OPERATIONS)
    body = api.post("/api/v1/staff/eod/run", headers=operations, json={}).json()
    assert body["closed"] == [(overdue_by(1) + timedelta(days=n)).isoformat() for n in (1, 2)]

"""The public calculators: ``POST /api/v1/calculator/schedule`` and ``/calculator/returns``.

No sign-in; the schedule is the very JSON ``p2plend calc --json`` prints; refusals are 422
with the stable codes. Expected numbers are DOMAIN.md's worked examples (R21–R23) and the
investor management fee rd(interest × rate) worked out by hand (R27).
"""

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from p2plend.cli import app as cli_app

SCHEDULE = "/api/v1/calculator/schedule"
RETURNS = "/api/v1/calculator/returns"
R21 = {"method": "equal-installment", "principal": "12000.00", "annual_rate": "0.12", "months": 12}


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]


def test_r21_schedule_without_signing_in(client: TestClient) -> None:
    response = client.post(SCHEDULE, json={**R21, "start_date": "2026-01-31"})
    assert response.status_code == 200, response.text
    body = response.json()
    payments = [row["payment"] for row in body["installments"]]
    assert payments == ["1066.19"] * 11 + ["1066.14"]
    assert (body["total_interest"], body["total_payment"]) == ("794.23", "12794.23")
    assert [row["due_date"] for row in body["installments"][:3]] == ["2026-02-28", "2026-03-31", "2026-04-30"]


def test_schedule_is_exactly_what_the_cli_prints(client: TestClient) -> None:
    for body, args in [
        (
            R21,
            [
                "--method",
                "equal-installment",
                "--principal",
                "12000.00",
                "--annual-rate",
                "0.12",
                "--months",
                "12",
            ],
        ),
        (
            {"method": "bullet", "principal": "12000", "annual_rate": "0.120", "days": 90},
            ["--method", "bullet", "--principal", "12000", "--annual-rate", "0.120", "--days", "90"],
        ),
    ]:
        api = client.post(SCHEDULE, json=body).json()
        result = CliRunner().invoke(cli_app, ["calc", *args, "--json"])
        assert result.exit_code == 0, result.output
        assert api == json.loads(result.stdout)


def test_r22_r23_and_defaults(client: TestClient) -> None:
    body = client.post(SCHEDULE, json={**R21, "method": "equal-principal"}).json()
    assert (body["installments"][0]["payment"], body["total_interest"]) == ("1120.00", "780.00")
    assert body["start_date"] == "2026-11-28"  # the business date
    body = client.post(SCHEDULE, json={**R21, "method": "interest-first"}).json()
    assert body["total_interest"] == "1440.00"
    body = client.post(
        SCHEDULE, json={"method": "bullet", "principal": "12000", "annual_rate": "0.12", "days": 90}
    )
    assert body.json()["installments"][0]["interest"] == "355.07"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"principal": 12000}, "invalid_amount", None),
        ({"principal": "10,000"}, "invalid_amount", None),
        ({"principal": "-5"}, "invalid_amount", None),
        ({"principal": "1.234"}, "invalid_amount", None),
        ({"annual_rate": 0.12}, "invalid_loan_terms", "annual_rate"),
        ({"annual_rate": "1"}, "invalid_loan_terms", "annual_rate"),
        ({"annual_rate": "-0.1"}, "invalid_loan_terms", "annual_rate"),
        ({"annual_rate": "abc"}, "invalid_loan_terms", "annual_rate"),
        ({"method": "annuity"}, "invalid_loan_terms", "method"),
        ({"months": None}, "invalid_loan_terms", "term"),
        ({"method": "bullet", "days": 30}, "invalid_loan_terms", "term"),
        ({"months": 361}, "invalid_loan_terms", "months"),
        ({"months": 0}, "invalid_loan_terms", "months"),
        ({"months": None, "days": 30}, "invalid_loan_terms", "days"),
        ({"method": "bullet", "months": None, "days": 3651}, "invalid_loan_terms", "days"),
        ({"start_date": "1899-12-31"}, "invalid_loan_terms", "start_date"),
    ],
)
def test_schedule_refusals(client: TestClient, change: dict[str, Any], code: str, field: str | None) -> None:
    error = refused(client.post(SCHEDULE, json={**R21, **change}), 422, code)
    assert error["details"].get("field") == field


@pytest.mark.parametrize(
    "change",
    [
        {"months": "12"},
        {"months": 12.5},
        {"start_date": "2026-02-30"},
        {"principal_yuan": "1"},
        {"method": 3},
    ],
)
def test_malformed_bodies_are_invalid_request(client: TestClient, change: dict[str, Any]) -> None:
    error = refused(client.post(SCHEDULE, json={**R21, **change}), 422, "invalid_request")
    assert error["details"]["problems"]


# --- 收益计算器 ---------------------------------------------------------------------------------------


def test_r27_returns_fee_on_interest_only(client: TestClient) -> None:
    """10,000.00 at 10 % for 3 months, equal installment: interest 83.33 / 55.79 / 28.01, the
    10 % fee rd(8.333) = 8.33, rd(5.579) = 5.58, rd(2.801) = 2.80 — nothing on principal."""
    response = client.post(
        RETURNS,
        json={"method": "equal-installment", "amount": "10000.00", "annual_rate": "0.10", "months": 3},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    rows = body["installments"]
    assert [r["principal"] for r in rows] == ["3305.71", "3333.25", "3361.04"]
    assert [r["interest"] for r in rows] == ["83.33", "55.79", "28.01"]
    assert [r["fee"] for r in rows] == ["8.33", "5.58", "2.80"]
    assert [r["net_interest"] for r in rows] == ["75.00", "50.21", "25.21"]
    assert [r["net"] for r in rows] == ["3380.71", "3383.46", "3386.25"]
    assert (body["total_principal"], body["total_interest"], body["total_fee"]) == (
        "10000.00",
        "167.13",
        "16.71",
    )
    assert (body["total_net_interest"], body["total_net"]) == ("150.42", "10150.42")
    assert (body["fee_rate"], body["amount"], body["method"]) == ("0.1", "10000.00", "equal-installment")


def test_returns_with_another_fee_rate_and_interest_first(client: TestClient) -> None:
    body = client.post(
        RETURNS,
        json={
            "method": "interest-first",
            "amount": "12000",
            "annual_rate": "0.12",
            "months": 12,
            "fee_rate": "0.05",
            "start_date": "2027-01-31",
        },
    ).json()
    assert [r["fee"] for r in body["installments"]] == ["6.00"] * 12
    assert [r["net"] for r in body["installments"]] == ["114.00"] * 11 + ["12114.00"]
    assert (body["total_interest"], body["total_fee"], body["total_net"]) == ("1440.00", "72.00", "13368.00")
    assert body["installments"][0]["due_date"] == "2027-02-28"
    body = client.post(RETURNS, json={**_returns(), "fee_rate": "0"}).json()
    assert body["total_fee"] == "0.00"


def _returns() -> dict[str, Any]:
    return {"method": "bullet", "amount": "12000", "annual_rate": "0.12", "days": 90}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"fee_rate": "1"}, "invalid_input"),
        ({"fee_rate": 0.1}, "invalid_input"),
        ({"fee_rate": "10%"}, "invalid_input"),
        ({"amount": "12,000"}, "invalid_amount"),
        ({"days": 3651}, "invalid_loan_terms"),
        ({"principal": "12000"}, "invalid_request"),
    ],
)
def test_returns_refusals(client: TestClient, change: dict[str, Any], code: str) -> None:
    refused(client.post(RETURNS, json={**_returns(), **change}), 422, code)


def test_both_calculators_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "post" in paths[SCHEDULE] and "post" in paths[RETURNS]

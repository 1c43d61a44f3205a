"""Auto-bid API: the investor sets a rule, signs the authorisation, switches it on; staff publish a
listing and the queue bids into it; the investor reads what the rule did; staff read the queue
and run it again; refusals change nothing."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.autobid import service as autobid
from p2plend.config import get_settings
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.server import create_app
from tests import lending
from tests.api.test_marketplace_api import headers_of, staff_headers

RULE = {
    "min_rate": "0.05",
    "max_rate": "0.15",
    "min_term_months": 1,
    "max_term_months": 24,
    "grades": ["A", "B"],
    "methods": ["equal_installment"],
    "product_kinds": ["credit"],
    "amount_mode": "fixed",
    "fixed_amount": "1500.00",
    "reserve": "1000.00",
    "total_cap": "20000.00",
}


@pytest.fixture
def app(session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(get_settings(), session_factory)


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


def _rule(**changes: object) -> dict[str, object]:
    return RULE | {"valid_until": (clock.today() + timedelta(days=90)).isoformat()} | changes


def test_the_investor_sets_signs_and_enables_then_sees_what_the_rule_did(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=10_000_00)
    me = headers_of(api, session_factory, investor)
    start = api.get("/api/v1/me/autobid", headers=me).json()
    assert start["rule"] is None and start["authorisation"]["signed"] is False
    assert "自动投标授权书" in start["authorisation"]["text"]

    bad = api.put("/api/v1/me/autobid", headers=me, json=_rule(max_rate="0.04"))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_autobid_rule"
    assert bad.json()["error"]["details"]["field"] == "max_rate"
    floats = api.put("/api/v1/me/autobid", headers=me, json=_rule(fixed_amount=1500.0))
    assert floats.status_code == 422
    assert api.get("/api/v1/me/autobid", headers=me).json()["rule"] is None

    saved = api.put("/api/v1/me/autobid", headers=me, json=_rule())
    assert saved.status_code == 200, saved.text
    assert (saved.json()["status"], saved.json()["fixed_amount"], saved.json()["total_cap"]) == (
        "off",
        "1500.00",
        "20000.00",
    )
    refused = api.post("/api/v1/me/autobid/enable", headers=me)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "autobid_authorisation_required"
    signed = api.post("/api/v1/me/autobid/authorisation", headers=me).json()
    assert signed["signed"] is True and signed["version"] == autobid.AUTHORISATION_VERSION
    on = api.post("/api/v1/me/autobid/enable", headers=me)
    assert on.status_code == 200 and (on.json()["status"], on.json()["queue_rank"]) == ("on", 1)

    borrower = lending.make_borrower(session_factory, bank)
    matching = lending.create_listing(session_factory, lending.listing_terms(borrower, amount=5_000_00))
    other = lending.create_listing(
        session_factory, lending.listing_terms(borrower, grade="C", risk_class="R4")
    )
    officer = staff_headers(api, session_factory, Role.RISK_OFFICER)
    for loan_id in (matching, other):
        assert api.post(f"/api/v1/staff/loans/{loan_id}/open", headers=officer).status_code == 200
    listing = api.get(f"/api/v1/listings/{matching}").json()
    assert listing["funded"] == "1000.00"  # 20 % of 5,000.00: the per-bid cap

    decisions = api.get("/api/v1/me/autobid/decisions", headers=me).json()
    assert [(d["loan_id"], d["outcome"], d["amount"]) for d in decisions] == [(matching, "bid", "1000.00")]
    why = api.get(f"/api/v1/me/autobid/explain/{other}", headers=me).json()
    assert why == {"loan_id": other, "reasons": ["grade_not_chosen"]}
    assert api.get("/api/v1/me/autobid", headers=me).json()["rule"]["auto_bid_total"] == "1000.00"

    off = api.post("/api/v1/me/autobid/disable", headers=me).json()
    assert (off["status"], off["off_reason"], off["queue_rank"]) == ("off", "investor", None)


def test_staff_read_the_queue_and_run_it_again(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower))
    investor = lending.make_investor(session_factory, bank, balance=5_000_00)
    me = headers_of(api, session_factory, investor)
    api.put("/api/v1/me/autobid", headers=me, json=_rule(grades=["B"]))
    api.post("/api/v1/me/autobid/authorisation", headers=me)
    api.post("/api/v1/me/autobid/enable", headers=me)

    reports = staff_headers(api, session_factory, Role.FINANCE)
    queue = api.get("/api/v1/staff/autobid", headers=reports).json()
    assert (queue["enabled"], queue["off"]) == (1, 0)
    assert [(e["rank"], e["investor_id"], e["fixed_amount"], e["available"]) for e in queue["head"]] == [
        (1, investor, "1500.00", "5000.00")
    ]
    refused = api.post(f"/api/v1/staff/listings/{loan_id}/autobid", headers=reports)
    assert refused.status_code == 403
    assert api.get("/api/v1/staff/autobid", headers=me).status_code == 403

    officer = staff_headers(api, session_factory, Role.RISK_OFFICER)
    ran = api.post(f"/api/v1/staff/listings/{loan_id}/autobid", headers=officer)
    assert ran.status_code == 200, ran.text
    assert ran.json() == {
        "loan_id": loan_id,
        "turns": 1,
        "bids": 1,
        "amount": "1500.00",
        "skips": 0,
        "auto_limit": "6000.00",
        "auto_funded": "1500.00",
    }
    again = api.post(f"/api/v1/staff/listings/{loan_id}/autobid", headers=officer).json()
    assert (again["turns"], again["bids"]) == (0, 0)  # one auto-bid per investor per listing
    decisions = api.get(f"/api/v1/staff/listings/{loan_id}/autobid", headers=officer).json()
    assert [(d["outcome"], d["amount"]) for d in decisions] == [("bid", "1500.00")]
    pending = lending.create_listing(session_factory, lending.listing_terms(borrower))
    not_open = api.post(f"/api/v1/staff/listings/{pending}/autobid", headers=officer)
    assert not_open.status_code == 409 and not_open.json()["error"]["code"] == "listing_not_open"
    missing = api.post("/api/v1/staff/listings/999999/autobid", headers=officer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "loan_not_found"


def test_disbursing_through_the_api_switches_the_borrowers_auto_bid_off(
    api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    borrower = lending.make_investor(session_factory, bank, balance=0)
    mine = headers_of(api, session_factory, borrower)
    api.put("/api/v1/me/autobid", headers=mine, json=_rule())
    api.post("/api/v1/me/autobid/authorisation", headers=mine)
    assert api.post("/api/v1/me/autobid/enable", headers=mine).json()["status"] == "on"
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower, amount=2_000_00))
    for lender in lending.make_investors(session_factory, bank, [1_000_00, 1_000_00]):
        lending.bid(session_factory, lender, loan_id, 1_000_00)
    officer = staff_headers(api, session_factory, Role.RISK_OFFICER)
    assert api.post(f"/api/v1/staff/loans/{loan_id}/disburse", headers=officer).status_code == 200
    rule = api.get("/api/v1/me/autobid", headers=mine).json()["rule"]
    assert (rule["status"], rule["off_reason"]) == ("off", "borrower_disbursed")
    assert [
        (d["outcome"], d["reason"]) for d in api.get("/api/v1/me/autobid/decisions", headers=mine).json()
    ] == [("off", "borrower_disbursed")]

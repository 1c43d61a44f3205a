"""Debt-transfer API (债权转让): the public market priced today with the buyer's yield, a
holding's transfer quote, listing for sale (refusals with their codes), buying with an
Idempotency-Key (a replay buys once), my transfers, cancelling, and the staff list — on
DOMAIN.md §9's worked example."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import lending
from tests.api.test_marketplace_api import headers_of, staff_headers
from tests.transfers import market

MONEY = r"^-?[0-9]+\.[0-9]{2}$"


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_quote_list_buy_and_my_transfers(
    api: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = market.after_first_installment(session_factory, bank)
    lending.go_to(market.DAY_10)
    a = loan.holders[0]
    holding = market.holding_of(session_factory, loan.loan_id, a).id
    seller = headers_of(api, session_factory, a)

    quote = api.get(
        f"/api/v1/me/holdings/{holding}/transfer-quote", headers=seller, params={"discount_rate": "0.005"}
    )
    assert quote.status_code == 200, quote.text
    body = quote.json()
    assert (body["value"], body["price"], body["fee"], body["seller_net"]) == (
        "3357.10",
        "3340.31",
        "16.70",
        "3323.61",
    )
    assert (body["period_interest"], body["accrued_interest"], body["days_elapsed"], body["period_days"]) == (
        "27.89",
        "9.96",
        10,
        28,
    )
    assert body["buyer_xirr"] is not None

    bad = api.get(
        f"/api/v1/me/holdings/{holding}/transfer-quote", headers=seller, params={"discount_rate": "0.06"}
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "transfer_discount_out_of_range")
    theirs = headers_of(api, session_factory, loan.holders[1])
    other = api.get(f"/api/v1/me/holdings/{holding}/transfer-quote", headers=theirs)
    assert (other.status_code, other.json()["error"]["code"]) == (404, "holding_not_found")

    listed = api.post(
        "/api/v1/me/transfers", headers=seller, json={"holding_id": holding, "discount_rate": "0.005"}
    )
    assert listed.status_code == 201, listed.text
    listing_id = listed.json()["id"]
    assert (listed.json()["price"], listed.json()["listed_fee"]) == ("3340.31", "16.70")
    again = api.post("/api/v1/me/transfers", headers=seller, json={"holding_id": holding})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "transfer_already_listed")

    public = api.get("/api/v1/transfers").json()
    [item] = public["items"]
    assert (item["id"], item["remaining"], item["value"], item["price"], item["discount"]) == (
        listing_id,
        "3347.14",
        "3357.10",
        "3340.31",
        "16.79",
    )
    assert "seller_id" not in item and item["buyer_xirr"] == body["buyer_xirr"]
    assert api.get(f"/api/v1/transfers/{listing_id}").json()["status"] == "open"
    assert api.get("/api/v1/transfers/999999").status_code == 404

    buyer = market.buyer(session_factory, bank)
    buyer_headers = headers_of(api, session_factory, buyer)
    part = api.get(
        f"/api/v1/transfers/{listing_id}/purchase-quote",
        headers=buyer_headers,
        params={"principal": "1000.00"},
    )
    assert part.status_code == 200 and part.json()["principal"] == "1000.00"
    own = api.post(f"/api/v1/transfers/{listing_id}/buy", headers=seller, json={})
    assert (own.status_code, own.json()["error"]["code"]) == (403, "transfer_own_listing")
    number = api.post(f"/api/v1/transfers/{listing_id}/buy", headers=buyer_headers, json={"principal": 1000})
    assert (number.status_code, number.json()["error"]["code"]) == (422, "invalid_amount")

    key = {**buyer_headers, "Idempotency-Key": "transfer-buy-0001"}
    bought = api.post(f"/api/v1/transfers/{listing_id}/buy", headers=key, json={"principal": "1000.00"})
    assert bought.status_code == 201, bought.text
    assert bought.json()["price"] == part.json()["price"] and bought.json()["role"] == "buyer"
    replay = api.post(f"/api/v1/transfers/{listing_id}/buy", headers=key, json={"principal": "1000.00"})
    assert replay.status_code == 201 and replay.json()["id"] == bought.json()["id"]
    assert api.get(f"/api/v1/transfers/{listing_id}").json()["sold"] == "1000.00"  # bought once
    reused = api.post(f"/api/v1/transfers/{listing_id}/buy", headers=key, json={"principal": "2000.00"})
    assert reused.json()["error"]["code"] == "idempotency_key_reused"

    mine = api.get("/api/v1/me/transfers", headers=seller).json()
    assert [s["principal"] for s in mine["sold"]] == ["1000.00"] and mine["bought"] == []
    assert mine["listings"][0]["received"] == mine["sold"][0]["seller_net"]
    assert [s["role"] for s in api.get("/api/v1/me/transfers", headers=buyer_headers).json()["bought"]] == [
        "buyer"
    ]

    cancelled = api.post(f"/api/v1/me/transfers/{listing_id}/cancel", headers=seller)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.get("/api/v1/transfers").json()["items"] == []

    staff = staff_headers(api, session_factory, Role.RISK_OFFICER)
    [row] = api.get("/api/v1/staff/transfers", headers=staff).json()
    assert (row["seller_id"], row["close_reason"], len(row["sales"])) == (a, "seller", 1)
    assert api.get("/api/v1/staff/transfers", headers=buyer_headers).status_code == 403
    expired = api.post("/api/v1/staff/transfers/expire", headers=staff)
    assert expired.json() == {"expired": 0, "cancelled": 0}
    lending.assert_loan_sound(session_factory, loan.loan_id)


def test_sign_in_needed_for_my_transfers_and_buying(api: TestClient) -> None:
    assert api.get("/api/v1/me/transfers").status_code == 401
    assert api.post("/api/v1/transfers/1/buy", json={}).status_code == 401

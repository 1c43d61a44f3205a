"""Custody API: deposits, withdrawals, my account, signed callbacks, reconciliation runs."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import signing
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.custody.simulated.models import BankCallback
from p2plend.identity.permissions import Role
from tests import builders
from tests.api.helpers import sign_in


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def api(app: FastAPI, bank: SimulatedBank) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Customer:
    headers: dict[str, str]
    card_id: int
    totp: pyotp.TOTP

    def code(self) -> str:
        clock.current().advance(timedelta(seconds=30))  # type: ignore[attr-defined]
        return self.totp.at(clock.now())


@pytest.fixture
def customer(api: TestClient, session_factory: sessionmaker[Session], bank: SimulatedBank) -> Customer:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        user = builders.make_verified_user(session, phone=phone)
        card_id = builders.bind_card(session, user.id)
        builders.open_custody_account(session, user.id, bank)
        totp = builders.enable_totp(session, user.id)
    return Customer(sign_in(api, phone, totp=totp), card_id, totp)


def _deposit(api: TestClient, customer: Customer, amount: str, **headers: str) -> dict[str, object]:
    response = api.post(
        "/api/v1/deposits",
        json={"amount": amount, "card_id": customer.card_id},
        headers=customer.headers | headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_deposit_through_the_bank_page_then_see_the_balance(api: TestClient, customer: Customer) -> None:
    order = _deposit(api, customer, "1000.00")
    assert order["amount"] == "1000.00" and order["status"] == "pending"
    assert order["payment_url"] == f"/sim-bank/deposits/{order['order_no']}"
    confirmed = api.post(f"/sim-bank/deposits/{order['order_no']}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    seen = api.get(f"/api/v1/deposits/{order['order_no']}", headers=customer.headers).json()
    assert seen["status"] == "succeeded"
    account = api.get("/api/v1/me/account", headers=customer.headers).json()
    assert (account["available"], account["frozen"], account["total"]) == ("1000.00", "0.00", "1000.00")
    assert account["history"][0]["amount"] == "1000.00" and account["sub_account_no"].startswith("SA")


def test_deposit_with_idempotency_key_is_created_once(api: TestClient, customer: Customer) -> None:
    first = _deposit(api, customer, "10.00", **{"Idempotency-Key": "dep-key-0001"})
    again = _deposit(api, customer, "10.00", **{"Idempotency-Key": "dep-key-0001"})
    assert first == again
    other = api.post(
        "/api/v1/deposits",
        json={"amount": "11.00", "card_id": customer.card_id},
        headers=customer.headers | {"Idempotency-Key": "dep-key-0001"},
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("amount", "code"), [(12.5, "invalid_amount"), ("0.99", "deposit_amount_out_of_range")]
)
def test_deposit_refusals(api: TestClient, customer: Customer, amount: object, code: str) -> None:
    response = api.post(
        "/api/v1/deposits", json={"amount": amount, "card_id": customer.card_id}, headers=customer.headers
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == code


def test_withdrawal_is_paid_after_the_request_commits(api: TestClient, customer: Customer) -> None:
    order = _deposit(api, customer, "100.00")
    api.post(f"/sim-bank/deposits/{order['order_no']}/confirm")
    response = api.post(
        "/api/v1/withdrawals",
        json={"amount": "50.00", "card_id": customer.card_id, "totp_code": customer.code()},
        headers=customer.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount"], body["fee"], body["status"]) == ("50.00", "2.00", "pending")
    assert "****" in body["card"]
    seen = api.get(f"/api/v1/withdrawals/{body['order_no']}", headers=customer.headers).json()
    assert seen["status"] == "succeeded"  # the background step submitted it and the bank paid
    account = api.get("/api/v1/me/account", headers=customer.headers).json()
    assert (account["available"], account["frozen"]) == ("48.00", "0.00")


def test_withdrawal_with_a_wrong_code_is_refused(api: TestClient, customer: Customer) -> None:
    response = api.post(
        "/api/v1/withdrawals",
        json={"amount": "1.00", "card_id": customer.card_id, "totp_code": "000000"},
        headers=customer.headers,
    )
    assert response.status_code in (400, 401, 403) and response.json()["error"]["code"] == "totp_invalid"


def test_someone_elses_order_is_not_found(
    api: TestClient, customer: Customer, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    order = _deposit(api, customer, "10.00")
    phone = builders.next_phone()
    with session_factory.begin() as session:
        builders.make_verified_user(session, phone=phone)
    other = sign_in(api, phone)
    assert api.get(f"/api/v1/deposits/{order['order_no']}", headers=other).status_code == 404


def test_callback_endpoint_verifies_the_signature(
    api: TestClient, customer: Customer, bank: SimulatedBank
) -> None:
    order = _deposit(api, customer, "10.00")
    sink, bank.sink = bank.sink, None
    bank.confirm_deposit_payment(str(order["order_no"]))
    with bank.session_factory() as bank_session:
        row = bank_session.scalars(select(BankCallback)).one()
    forged = api.post(
        "/api/v1/custody/callbacks", content=row.body.encode(), headers={"X-Custodian-Signature": "0" * 64}
    )
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"
    for expected in ("applied", "duplicate"):
        ok = api.post(
            "/api/v1/custody/callbacks",
            content=row.body.encode(),
            headers={"X-Custodian-Signature": row.signature},
        )
        assert ok.status_code == 200 and ok.json()["result"] == expected
    bank.sink = sink
    bank.deliver_pending()
    account = api.get("/api/v1/me/account", headers=customer.headers).json()
    assert account["available"] == "10.00"


def test_callback_with_a_tampered_body_is_refused(api: TestClient, customer: Customer) -> None:
    body = json.dumps(
        {
            "event_id": "EV1",
            "order_no": "D1",
            "type": "deposit",
            "status": "succeeded",
            "sub_account": "SA",
            "amount": 100,
            "fee": 0,
        }
    ).encode()
    signature = signing.sign(body, "dev-only-custodian-hmac-secret")
    tampered = body.replace(b"100", b"900")
    response = api.post(
        "/api/v1/custody/callbacks", content=tampered, headers={"X-Custodian-Signature": signature}
    )
    assert response.status_code == 401


def test_staff_reconcile_and_list(
    api: TestClient, customer: Customer, session_factory: sessionmaker[Session]
) -> None:
    order = _deposit(api, customer, "25.00")
    api.post(f"/sim-bank/deposits/{order['order_no']}/confirm")
    phone = builders.next_phone()
    with session_factory.begin() as session:
        _, totp = builders.make_staff(session, roles=(Role.FINANCE,), phone=phone)
    staff = sign_in(api, phone, totp=totp)
    today = clock.today().isoformat()
    run = api.post("/api/v1/staff/custody/reconciliations", json={"date": today}, headers=staff)
    assert run.status_code == 201, run.text
    assert run.json()["balanced"] is True and run.json()["platform_total"] == "25.00"
    listed = api.get("/api/v1/staff/custody/reconciliations", headers=staff).json()
    assert [r["id"] for r in listed] == [run.json()["id"]]
    assert (
        api.post(
            "/api/v1/staff/custody/reconciliations", json={"date": today}, headers=customer.headers
        ).status_code
        == 403
    )


def test_staff_see_open_anomalies(
    api: TestClient, customer: Customer, session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    order = _deposit(api, customer, "10.00")
    bank.confirm_deposit_payment(str(order["order_no"]), paid_amount=999)
    phone = builders.next_phone()
    with session_factory.begin() as session:
        _, totp = builders.make_staff(session, roles=(Role.FINANCE,), phone=phone)
    staff = sign_in(api, phone, totp=totp)
    [anomaly] = api.get("/api/v1/staff/custody/anomalies", headers=staff).json()
    assert anomaly["kind"] == "amount_mismatch" and anomaly["order_no"] == order["order_no"]
    assert anomaly["details"] == {"ordered": 1000, "reported": 999}


def test_sim_bank_is_closed_in_production(api: TestClient, app: FastAPI, customer: Customer) -> None:
    order = _deposit(api, customer, "10.00")
    app.state.settings = app.state.settings.model_copy(update={"environment": "production"})
    response = api.post(f"/sim-bank/deposits/{order['order_no']}/confirm")
    assert response.status_code == 404


def test_reconciling_a_future_day_is_refused(
    api: TestClient, session_factory: sessionmaker[Session], business_clock: clock.FixedClock
) -> None:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        _, totp = builders.make_staff(session, roles=[Role.FINANCE], phone=phone)
    headers = sign_in(api, phone, totp=totp)
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    response = api.post("/api/v1/staff/custody/reconciliations", json={"date": tomorrow}, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "reconciliation_date_in_future")
    assert api.get("/api/v1/staff/custody/reconciliations", headers=headers).json() == []

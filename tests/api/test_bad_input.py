"""Acceptance: every class of bad input to every money-moving endpoint gets a 4xx with a
stable error code — and changes nothing: the ledger, the orders and the bank's books are
exactly as they were."""

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import signing
from p2plend.custody.models import DepositOrder, WithdrawalOrder
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry
from tests import builders
from tests.api.helpers import sign_in
from tests.api.test_custody_api import Customer

FUNDED = "1000.00"


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    body: dict[str, Any]  # "{card}", "{other_card}" and "{code}" are filled in per test
    status: int
    code: str
    who: str = "owner"  # owner | nobody | staff | stranger
    headers: dict[str, str] = field(default_factory=dict)


DEPOSIT, WITHDRAW = "/api/v1/deposits", "/api/v1/withdrawals"

BAD_AMOUNTS: list[tuple[str, object]] = [
    ("letters", "abc"),
    ("empty", ""),
    ("negative", "-10.00"),
    ("zero", "0"),
    ("zero with decimals", "0.00"),
    ("three decimals", "10.001"),
    ("exponent", "1e3"),
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("thousands separator", "1,000.00"),
    ("currency sign", "¥10.00"),
    ("beyond BIGINT", "92233720368547758.08"),
    ("JSON float", 12.5),
    ("JSON integer", 100),
    ("JSON null", None),
    ("JSON list", ["10.00"]),
]

CASES: list[Case] = [
    *(
        Case(f"deposit {name}", DEPOSIT, {"amount": amount, "card_id": "{card}"}, 422, "invalid_amount")
        for name, amount in BAD_AMOUNTS
    ),
    *(
        Case(
            f"withdraw {name}",
            WITHDRAW,
            {"amount": amount, "card_id": "{card}", "totp_code": "{code}"},
            422,
            "invalid_amount",
        )
        for name, amount in BAD_AMOUNTS
    ),
    Case(
        "deposit below the minimum",
        DEPOSIT,
        {"amount": "0.99", "card_id": "{card}"},
        422,
        "deposit_amount_out_of_range",
    ),
    Case(
        "deposit above the maximum",
        DEPOSIT,
        {"amount": "5000001.00", "card_id": "{card}"},
        422,
        "deposit_amount_out_of_range",
    ),
    Case("deposit without amount", DEPOSIT, {"card_id": "{card}"}, 422, "invalid_request"),
    Case(
        "deposit from another's card",
        DEPOSIT,
        {"amount": "10.00", "card_id": "{other_card}"},
        404,
        "card_not_found",
    ),
    Case(
        "deposit signed out",
        DEPOSIT,
        {"amount": "10.00", "card_id": "{card}"},
        401,
        "unauthenticated",
        who="nobody",
    ),
    Case(
        "deposit as staff",
        DEPOSIT,
        {"amount": "10.00", "card_id": "{card}"},
        403,
        "permission_denied",
        who="staff",
    ),
    Case(
        "deposit with no custody account",
        DEPOSIT,
        {"amount": "10.00", "card_id": "{card}"},
        409,
        "custody_account_required",
        who="stranger",
    ),
    Case(
        "withdraw more than available",
        WITHDRAW,
        {"amount": FUNDED, "card_id": "{card}", "totp_code": "{code}"},
        409,
        "insufficient_funds",
    ),
    Case("withdraw without 2FA", WITHDRAW, {"amount": "10.00", "card_id": "{card}"}, 422, "invalid_request"),
    Case(
        "withdraw with a wrong 2FA code",
        WITHDRAW,
        {"amount": "10.00", "card_id": "{card}", "totp_code": "000000"},
        401,
        "totp_invalid",
    ),
    Case(
        "withdraw to another's card",
        WITHDRAW,
        {"amount": "10.00", "card_id": "{other_card}", "totp_code": "{code}"},
        404,
        "card_not_found",
    ),
    Case(
        "withdraw signed out",
        WITHDRAW,
        {"amount": "10.00", "card_id": "{card}", "totp_code": "{code}"},
        401,
        "unauthenticated",
        who="nobody",
    ),
    Case(
        "withdraw as staff",
        WITHDRAW,
        {"amount": "10.00", "card_id": "{card}", "totp_code": "{code}"},
        403,
        "permission_denied",
        who="staff",
    ),
    Case(
        "deposit with a malformed Idempotency-Key",
        DEPOSIT,
        {"amount": "10.00", "card_id": "{card}"},
        422,
        "invalid_input",
        headers={"Idempotency-Key": "x" * 300},
    ),
]


@dataclass
class World:
    api: TestClient
    owner: Customer
    other_card: int
    staff: dict[str, str]
    stranger: dict[str, str]


@pytest.fixture
def world(app: FastAPI, session_factory: sessionmaker[Session]) -> World:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    api = TestClient(app, raise_server_exceptions=False)
    owner_phone, other_phone, staff_phone, stranger_phone = (builders.next_phone() for _ in range(4))
    with session_factory.begin() as session:
        owner = builders.make_verified_user(session, phone=owner_phone)
        card_id = builders.bind_card(session, owner.id)
        builders.open_custody_account(session, owner.id, bank)
        totp = builders.enable_totp(session, owner.id)
        other = builders.make_verified_user(session, phone=other_phone)
        other_card = builders.bind_card(session, other.id)
        _staff, staff_totp = builders.make_staff(session, phone=staff_phone)
        builders.make_user(session, phone=stranger_phone)
    customer = Customer(sign_in(api, owner_phone, totp=totp), card_id, totp)
    order = api.post(DEPOSIT, json={"amount": FUNDED, "card_id": card_id}, headers=customer.headers).json()
    assert api.post(f"/sim-bank/deposits/{order['order_no']}/confirm").status_code == 200
    return World(
        api, customer, other_card, sign_in(api, staff_phone, totp=staff_totp), sign_in(api, stranger_phone)
    )


def books(session_factory: sessionmaker[Session], bank: SimulatedBank) -> dict[str, object]:
    """Everything a refused request must not change."""
    with session_factory() as session:
        return {
            "ledger entries": session.scalar(select(func.count()).select_from(JournalEntry)),
            "balances": ledger.balances_as_of(session, date.max),
            "deposit orders": session.scalar(select(func.count()).select_from(DepositOrder)),
            "withdrawal orders": session.scalar(select(func.count()).select_from(WithdrawalOrder)),
            "bank": bank.balances(),
        }


def _fill(value: object, world: World) -> object:
    fills = {"{card}": world.owner.card_id, "{other_card}": world.other_card}
    if value == "{code}":
        return world.owner.code()
    return fills.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(
    case: Case, world: World, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    before = books(session_factory, app.state.custodian)
    headers = {
        "owner": world.owner.headers,
        "nobody": {},
        "staff": world.staff,
        "stranger": world.stranger,
    }[case.who] | case.headers
    body = {key: _fill(value, world) for key, value in case.body.items()}
    response = world.api.post(case.path, json=body, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (case.status, case.code), response.text
    assert response.json()["error"]["message"]
    assert books(session_factory, app.state.custodian) == before


@pytest.mark.parametrize("path", [DEPOSIT, WITHDRAW])
def test_a_replayed_idempotency_key_with_another_body_is_refused(
    path: str, world: World, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    def body(amount: str) -> dict[str, object]:
        extra = {"totp_code": world.owner.code()} if path == WITHDRAW else {}
        return {"amount": amount, "card_id": world.owner.card_id, **extra}

    key = {"Idempotency-Key": f"replay-{path.rsplit('/', 1)[-1]}-0001"}
    first = world.api.post(path, json=body("10.00"), headers=world.owner.headers | key)
    assert first.status_code == 201, first.text
    world.api.post("/sim-bank/callbacks/deliver")
    before = books(session_factory, app.state.custodian)
    replay = world.api.post(path, json=body("11.00"), headers=world.owner.headers | key)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "idempotency_key_reused"
    assert books(session_factory, app.state.custodian) == before


def test_forged_bank_callbacks_change_nothing(
    world: World, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    before = books(session_factory, app.state.custodian)
    payload = json.dumps(
        {"event_id": "forged-1", "kind": "deposit", "order_no": "D-none", "amount": 100_000_00}
    ).encode()
    for signature in ("", "00" * 32, signing.sign(payload, "not-the-bank's-secret")):
        response = world.api.post(
            "/api/v1/custody/callbacks", content=payload, headers={"X-Custodian-Signature": signature}
        )
        assert response.status_code in (401, 422), response.text
        assert response.json()["error"]["code"] in ("invalid_signature", "invalid_request")
    assert books(session_factory, app.state.custodian) == before

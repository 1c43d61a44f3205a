"""Marketplace API: the market's listings, the disclosure, bids (投标) with idempotent replays,
my bids, and staff listing management (发布, 撤标, 满标复审 → 放款, 流标)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.models import Bid
from tests import builders, lending
from tests.api.helpers import sign_in
from tests.api.test_bad_input import BAD_AMOUNTS

AMOUNT = 1_000_000  # 10,000.00 yuan: min bid 100.00, step 100.00, at most 5,000.00 per investor


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def headers_of(api: TestClient, session_factory: sessionmaker[Session], user_id: int) -> dict[str, str]:
    with session_factory() as session:
        phone = identity.phone_of(session, user_id)
    return sign_in(api, phone)


def staff_headers(
    api: TestClient, session_factory: sessionmaker[Session], *roles: Role, with_totp: bool = True
) -> dict[str, str]:
    phone = builders.next_phone()
    with session_factory.begin() as session:
        _, totp = builders.make_staff(
            session, phone=phone, roles=roles or (Role.RISK_OFFICER,), with_totp=with_totp
        )
    return sign_in(api, phone, totp=totp)


@dataclass
class Market:
    """A borrower, two funded C5 investors and an open listing of 10,000.00 over 3 months."""

    api: TestClient
    bank: SimulatedBank
    sessions: sessionmaker[Session]
    borrower: int
    investors: list[int]
    loan_id: int

    def headers(self, user_id: int) -> dict[str, str]:
        return headers_of(self.api, self.sessions, user_id)

    def bid(self, user_id: int, amount: object, **extra: Any) -> Any:
        headers = self.headers(user_id) | extra.pop("headers", {})
        loan_id = extra.pop("loan_id", self.loan_id)
        return self.api.post(
            f"/api/v1/listings/{loan_id}/bids", json={"amount": amount, **extra}, headers=headers
        )

    def state(self, *user_ids: int) -> tuple[object, ...]:
        """Everything a refused act must leave as it was: balances, funding, bids, entries."""
        with self.sessions() as session:
            loan = marketplace.get_loan(session, self.loan_id)
            return (
                tuple(ledger.user_balances(session, u) for u in user_ids),
                loan.funded,
                loan.status,
                session.scalar(select(func.count()).select_from(Bid)),
                session.scalar(select(func.count()).select_from(JournalEntry)),
                self.bank.balances(),
            )


@pytest.fixture
def market(api: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]) -> Market:
    borrower = lending.make_borrower(session_factory, bank)
    investors = [lending.make_investor(session_factory, bank, balance=800_000) for _ in range(2)]
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower, amount=AMOUNT, months=3))
    return Market(api, bank, session_factory, borrower, investors, loan_id)


def _fen(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac)


# --- the market --------------------------------------------------------------------------


def test_listings_show_open_and_funded_listings_never_pending_ones(market: Market) -> None:
    pending = lending.create_listing(market.sessions, lending.listing_terms(market.borrower))
    funded = lending.open_listing(market.sessions, lending.listing_terms(market.borrower, amount=20_000))
    lending.bid(market.sessions, market.investors[0], funded, 10_000)
    lending.bid(market.sessions, market.investors[1], funded, 10_000)
    response = market.api.get("/api/v1/listings")  # public: no sign-in
    assert response.status_code == 200, response.text
    page = response.json()
    by_id = {item["id"]: item for item in page["items"]}
    assert set(by_id) == {market.loan_id, funded} and pending not in by_id
    listing = by_id[market.loan_id]
    assert (listing["amount"], listing["funded"], listing["remaining"]) == ("10000.00", "0.00", "10000.00")
    assert (listing["min_bid"], listing["bid_step"], listing["investor_cap"]) == (
        "100.00",
        "100.00",
        "5000.00",
    )
    assert (listing["annual_rate"], listing["term_months"], listing["method"]) == (
        "0.1",
        3,
        "equal_installment",
    )
    assert (listing["grade"], listing["risk_class"], listing["status"]) == ("B", "R3", "open")
    assert listing["deadline"] is not None and listing["progress_percent"] == "0.00"
    assert by_id[funded]["status"] == "funded" and by_id[funded]["progress_percent"] == "100.00"
    first = market.api.get("/api/v1/listings?limit=1").json()
    assert len(first["items"]) == 1 and first["next_offset"] == 1
    second = market.api.get("/api/v1/listings?limit=1&offset=1").json()
    assert second["next_offset"] is None and second["items"][0]["id"] != first["items"][0]["id"]
    only_funded = market.api.get("/api/v1/listings?status=funded").json()
    assert [item["id"] for item in only_funded["items"]] == [funded]
    for query in ("status=pending", "status=nonsense", "limit=0", "limit=101", "offset=-1"):
        refused = market.api.get(f"/api/v1/listings?{query}")
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request", query


def test_listing_detail_discloses_every_field_masked_and_promises_nothing(market: Market) -> None:
    """R47, R48, R3: every per-loan disclosure field, no personal data in clear, no promise."""
    response = market.api.get(f"/api/v1/listings/{market.loan_id}")
    assert response.status_code == 200, response.text
    detail = response.json()
    assert set(marketplace.REQUIRED_DISCLOSURE) <= set(detail["disclosure"])
    assert detail["disclosure"]["borrower_name_masked"] == "陈**"
    assert detail["terms"] == {
        "product_code": "credit",
        "product_kind": "credit",
        "borrower_service_fee_rate": "0.02",
        "monthly_management_fee_rate": "0",
        "investor_management_fee_rate": "0.1",
        "prepayment_fee_rate": "0",
        "repayment_order": "components",
        "day_basis": 365,
        "funding_days": 7,
        "max_share": "0.5",
    }
    assert "does not guarantee principal or interest" in detail["risk_notice"]
    with market.sessions() as session:
        person = identity.verified_identity(session, market.borrower)
        phone = identity.phone_of(session, market.borrower)
    for secret in (person.name, person.id_number, phone, phone[-8:]):
        assert secret not in response.text
    assert "borrower_id" not in detail


def test_a_listing_never_published_is_not_found(market: Market) -> None:
    pending = lending.create_listing(market.sessions, lending.listing_terms(market.borrower))
    for loan_id in (pending, 999_999):
        response = market.api.get(f"/api/v1/listings/{loan_id}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "loan_not_found"
    assert market.api.get("/api/v1/listings/abc").json()["error"]["code"] == "invalid_request"
    assert market.api.get("/api/v1/listings/0").status_code == 422
    assert market.api.get(f"/api/v1/listings/{2**63}").status_code == 422
    refused = market.bid(market.investors[0], "100.00", loan_id=pending)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "loan_not_found"


# --- bids ----------------------------------------------------------------------------------


def test_bid_freezes_funds_and_shows_in_my_bids(market: Market) -> None:
    investor = market.investors[0]
    response = market.bid(investor, "1000.00")
    assert response.status_code == 201, response.text
    bid = response.json()
    assert (bid["amount"], bid["requested"], bid["status"], bid["source"]) == (
        "1000.00",
        "1000.00",
        "frozen",
        "bid",
    )
    assert bid["loan_id"] == market.loan_id and bid["loan_title"] == "Shop fit-out"
    balances = lending.balances(market.sessions, investor)
    assert (balances.available, balances.frozen) == (700_000, 100_000)
    listing = market.api.get(f"/api/v1/listings/{market.loan_id}").json()
    assert (listing["funded"], listing["remaining"], listing["progress_percent"]) == (
        "1000.00",
        "9000.00",
        "10.00",
    )
    mine = market.api.get("/api/v1/me/bids", headers=market.headers(investor))
    assert mine.status_code == 200
    assert mine.json() == {
        "frozen_in_bids": "1000.00",
        "available": "7000.00",
        "frozen": "1000.00",
        "bids": [bid],
    }


def test_a_replayed_bid_returns_the_first_answer_and_freezes_once(market: Market) -> None:
    investor = market.investors[0]
    key = {"Idempotency-Key": "bid-0001-abcdef"}
    first = market.bid(investor, "500.00", headers=key)
    again = market.bid(investor, "500.00", headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert lending.balances(market.sessions, investor).frozen == 50_000
    with market.sessions() as session:
        assert len(marketplace.bids_of_investor(session, investor)) == 1
        assert marketplace.get_loan(session, market.loan_id).funded == 50_000
    before = market.state(investor)
    other_body = market.bid(investor, "600.00", headers=key)
    assert other_body.status_code == 409 and other_body.json()["error"]["code"] == "idempotency_key_reused"
    other = lending.open_listing(market.sessions, lending.listing_terms(market.borrower))
    other_loan = market.bid(investor, "500.00", headers=key, loan_id=other)
    assert other_loan.status_code == 409 and other_loan.json()["error"]["code"] == "idempotency_key_reused"
    assert market.state(investor) == before
    # Keys are per user: another investor's same key is a new bid.
    assert market.bid(market.investors[1], "500.00", headers=key).status_code == 201


def test_a_bid_above_what_remains_is_filled_for_it_unless_opted_out(market: Market) -> None:
    first, second = market.investors
    assert market.bid(first, "5000.00").status_code == 201
    before = market.state(second)
    refused = market.bid(second, "6000.00", fill_remaining=False)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "bid_exceeds_remaining"
    assert refused.json()["error"]["details"] == {"remaining": "5000.00"}
    assert market.state(second) == before
    filled = market.bid(second, "6000.00")
    assert filled.status_code == 201
    assert (filled.json()["amount"], filled.json()["requested"]) == ("5000.00", "6000.00")
    listing = market.api.get(f"/api/v1/listings/{market.loan_id}").json()
    assert (listing["status"], listing["remaining"]) == ("funded", "0.00")  # R44: never above the amount
    late = market.bid(first, "100.00")
    assert late.status_code == 409 and late.json()["error"]["code"] == "listing_fully_funded"


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("50.00", 422, "bid_below_minimum"),
        ("150.00", 422, "bid_not_in_steps"),
        ("5100.00", 409, "bid_cap_exceeded"),
        *((amount, 422, "invalid_amount") for _, amount in BAD_AMOUNTS),
    ],
)
def test_refused_bids_change_nothing(market: Market, amount: object, status: int, code: str) -> None:
    investor = market.investors[0]
    lending.bid(market.sessions, market.investors[1], market.loan_id, 100_000)
    before = market.state(investor, market.investors[1])
    response = market.bid(investor, amount)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert market.state(investor, market.investors[1]) == before


def test_a_bid_beyond_the_available_balance_is_refused(market: Market) -> None:
    poor = lending.make_investor(market.sessions, market.bank, balance=20_000)  # 200.00
    before = market.state(poor)
    response = market.bid(poor, "300.00")
    assert response.status_code == 409 and response.json()["error"]["code"] == "insufficient_funds"
    assert market.state(poor) == before


def test_bids_refused_for_who_the_bidder_is(market: Market) -> None:
    """R14–R16 and one's own loan: refused with a stable code, nothing frozen."""
    unsuited = lending.make_investor(market.sessions, market.bank, balance=100_000, points=20)  # C1 < R3
    with market.sessions.begin() as session:
        unassessed, card_id = builders.make_custody_user(session, market.bank)
        unverified_phone = builders.next_phone()
        builders.make_user(session, phone=unverified_phone)
    lending.deposit(market.sessions, market.bank, unassessed.id, card_id, 100_000)
    cases = [
        (market.borrower, 403, "own_loan"),
        (unsuited, 403, "risk_class_not_suitable"),
        (unassessed.id, 403, "risk_assessment_required"),
    ]
    for user_id, status, code in cases:
        before = market.state(user_id)
        response = market.bid(user_id, "100.00")
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
        assert market.state(user_id) == before
    unverified = market.api.post(
        f"/api/v1/listings/{market.loan_id}/bids",
        json={"amount": "100.00"},
        headers=sign_in(market.api, unverified_phone),
    )
    assert (unverified.status_code, unverified.json()["error"]["code"]) == (403, "real_name_required")


def test_bids_need_an_investor_signed_in(market: Market) -> None:
    before = market.state()
    path = f"/api/v1/listings/{market.loan_id}/bids"
    signed_out = market.api.post(path, json={"amount": "100.00"})
    assert (signed_out.status_code, signed_out.json()["error"]["code"]) == (401, "unauthenticated")
    staff = market.api.post(
        path, json={"amount": "100.00"}, headers=staff_headers(market.api, market.sessions)
    )
    assert (staff.status_code, staff.json()["error"]["code"]) == (403, "permission_denied")
    assert market.api.get("/api/v1/me/bids").status_code == 401
    assert market.state() == before


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        ({"amount": "100.00", "fill_remaining": "yes"}, {}, "invalid_request"),
        ({"amount": "100.00", "fill_remaining": 1}, {}, "invalid_request"),
        ({"amount": "100.00", "surprise": True}, {}, "invalid_request"),
        ({}, {}, "invalid_request"),
        ({"amount": "100.00"}, {"Idempotency-Key": "short"}, "invalid_input"),
    ],
)
def test_malformed_bid_requests_are_refused(
    market: Market, body: dict[str, object], headers: dict[str, str], code: str
) -> None:
    investor = market.investors[0]
    before = market.state(investor)
    response = market.api.post(
        f"/api/v1/listings/{market.loan_id}/bids", json=body, headers=market.headers(investor) | headers
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == code
    assert market.state(investor) == before


def test_a_listing_past_its_deadline_takes_no_bid(market: Market) -> None:
    lending.go_to(clock.today() + timedelta(days=8))
    before = market.state(market.investors[0])
    response = market.bid(market.investors[0], "100.00")
    assert response.status_code == 409 and response.json()["error"]["code"] == "listing_not_open"
    assert market.state(market.investors[0]) == before


# --- staff: 标的管理 ------------------------------------------------------------------------


def test_staff_publish_fund_and_disburse_a_listing(market: Market) -> None:
    officer = staff_headers(market.api, market.sessions)
    pending = lending.create_listing(market.sessions, lending.listing_terms(market.borrower, amount=AMOUNT))
    listed = market.api.get("/api/v1/staff/loans?status=pending", headers=officer)
    assert listed.status_code == 200 and [loan["id"] for loan in listed.json()] == [pending]
    assert listed.json()[0]["borrower_id"] == market.borrower
    opened = market.api.post(f"/api/v1/staff/loans/{pending}/open", headers=officer)
    assert opened.status_code == 200, opened.text
    assert opened.json()["status"] == "open" and opened.json()["deadline"] is not None
    again = market.api.post(f"/api/v1/staff/loans/{pending}/open", headers=officer)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "loan_state_conflict")
    early = market.api.post(f"/api/v1/staff/loans/{pending}/disburse", headers=officer)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "loan_state_conflict")
    for investor in market.investors:
        assert market.bid(investor, "5000.00", loan_id=pending).status_code == 201
    review = market.api.get(f"/api/v1/staff/loans/{pending}", headers=officer).json()
    assert review["status"] == "funded" and [b["amount"] for b in review["bids"]] == ["5000.00", "5000.00"]
    assert review["holdings"] == []
    done = market.api.post(f"/api/v1/staff/loans/{pending}/disburse", headers=officer)
    assert done.status_code == 200, done.text
    loan = done.json()
    assert (loan["status"], loan["principal_outstanding"], loan["service_fee"]) == (
        "disbursed",
        "10000.00",
        "200.00",
    )
    assert {b["status"] for b in loan["bids"]} == {"disbursed"}
    assert sorted((h["holder_id"], h["principal_outstanding"]) for h in loan["holdings"]) == sorted(
        (i, "5000.00") for i in market.investors
    )
    assert lending.balances(market.sessions, market.borrower).available == AMOUNT - 20_000
    for investor in market.investors:
        assert lending.balances(market.sessions, investor).frozen == 0
    lending.assert_loan_sound(market.sessions, pending)
    twice = market.api.post(f"/api/v1/staff/loans/{pending}/disburse", headers=officer)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "loan_state_conflict")
    assert lending.balances(market.sessions, market.borrower).available == AMOUNT - 20_000


def test_staff_withdraw_returns_every_bid(market: Market) -> None:
    officer = staff_headers(market.api, market.sessions)
    investor = market.investors[0]
    assert market.bid(investor, "2000.00").status_code == 201
    path = f"/api/v1/staff/loans/{market.loan_id}/withdraw"
    before = market.state(investor)
    bad_reasons: list[tuple[dict[str, str], str]] = [
        ({}, "invalid_request"),
        ({"reason": ""}, "invalid_request"),
        ({"reason": "a\x00b"}, "invalid_request"),
        ({"reason": "   "}, "invalid_input"),
    ]
    for body, code in bad_reasons:
        refused = market.api.post(path, json=body, headers=officer)
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, code), body
    assert market.state(investor) == before
    done = market.api.post(path, json={"reason": "借款人撤回申请"}, headers=officer)
    assert done.status_code == 200, done.text
    loan = done.json()
    assert (loan["status"], loan["close_reason"], loan["funded"]) == (
        "withdrawn",
        "借款人撤回申请",
        "2000.00",
    )
    assert [b["status"] for b in loan["bids"]] == ["refunded"]
    assert lending.balances(market.sessions, investor) == lending.balances(
        market.sessions, market.investors[1]
    )
    again = market.api.post(path, json={"reason": "again"}, headers=officer)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "loan_state_conflict")
    mine = market.api.get("/api/v1/me/bids", headers=market.headers(investor)).json()
    assert (mine["frozen_in_bids"], mine["bids"][0]["status"]) == ("0.00", "refunded")


def test_staff_expire_fails_listings_past_their_deadline(market: Market) -> None:
    """R8: 流标 returns every frozen bid in full; a second run finds nothing."""
    officer = staff_headers(market.api, market.sessions)
    investor = market.investors[0]
    assert market.bid(investor, "3000.00").status_code == 201
    assert market.api.post("/api/v1/staff/listings/expire", headers=officer).json() == {"failed": []}
    lending.go_to(clock.today() + timedelta(days=8))
    officer = staff_headers(market.api, market.sessions)
    response = market.api.post("/api/v1/staff/listings/expire", headers=officer)
    assert response.status_code == 200 and response.json() == {"failed": [market.loan_id]}
    assert lending.balances(market.sessions, investor).available == 800_000
    assert market.api.post("/api/v1/staff/listings/expire", headers=officer).json() == {"failed": []}
    failed = market.api.get("/api/v1/staff/loans?status=failed", headers=officer).json()
    assert [loan["id"] for loan in failed] == [market.loan_id]


def test_staff_endpoints_need_the_review_permission(market: Market) -> None:
    customer = market.headers(market.investors[0])
    finance = staff_headers(market.api, market.sessions, Role.FINANCE)
    untrusted = staff_headers(market.api, market.sessions, with_totp=False)
    before = market.state(*market.investors)
    calls = [
        ("get", "/api/v1/staff/loans", None),
        ("get", f"/api/v1/staff/loans/{market.loan_id}", None),
        ("post", f"/api/v1/staff/loans/{market.loan_id}/open", None),
        ("post", f"/api/v1/staff/loans/{market.loan_id}/withdraw", {"reason": "x"}),
        ("post", f"/api/v1/staff/loans/{market.loan_id}/disburse", None),
        ("post", "/api/v1/staff/listings/expire", None),
    ]
    for method, path, body in calls:
        for headers, status, code in [
            ({}, 401, "unauthenticated"),
            (customer, 403, "permission_denied"),
            (finance, 403, "permission_denied"),
            (untrusted, 403, "totp_enrollment_required"),
        ]:
            response = market.api.request(method, path, json=body, headers=headers)
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), (path, code)
    assert market.state(*market.investors) == before
    officer = staff_headers(market.api, market.sessions)
    missing = market.api.get("/api/v1/staff/loans/999999", headers=officer)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "loan_not_found")
    bad = market.api.get("/api/v1/staff/loans?status=lost", headers=officer)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_request")

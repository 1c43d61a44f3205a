"""Borrowers' loans API: my loans, the schedule, repayments (还款) with idempotent replays,
early repayment quotes and payments (提前还款); only the borrower sees or pays a loan."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.ledger import service as ledger
from p2plend.ledger.models import JournalEntry
from p2plend.marketplace import service as marketplace
from p2plend.servicing import service as servicing
from p2plend.servicing.models import Repayment
from tests import lending
from tests.api.test_bad_input import BAD_AMOUNTS
from tests.api.test_marketplace_api import headers_of, staff_headers

AMOUNT = 600_000  # 6,000.00 over 3 months at 10 %, 等额本息; service fee 2 % = 120.00


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass
class Book:
    """A disbursed loan: the borrower, two holders of 3,000.00 each."""

    api: TestClient
    bank: SimulatedBank
    sessions: sessionmaker[Session]
    borrower: int
    investors: list[int]
    loan_id: int

    def headers(self, user_id: int | None = None) -> dict[str, str]:
        return headers_of(self.api, self.sessions, self.borrower if user_id is None else user_id)

    def path(self, tail: str = "", loan_id: int | None = None) -> str:
        return f"/api/v1/me/loans/{self.loan_id if loan_id is None else loan_id}{tail}"

    def repay(self, body: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.api.post(self.path("/repayments"), json=body or {}, headers=self.headers() | headers)

    def repay_early(self, body: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.api.post(
            self.path("/early-repayments"), json=body or {}, headers=self.headers() | headers
        )

    def state(self) -> tuple[object, ...]:
        """What a refused act must leave as it was: balances, the schedule, repayments, the bank."""
        with self.sessions() as session:
            loan = marketplace.get_loan(session, self.loan_id)
            return (
                tuple(ledger.user_balances(session, u) for u in (self.borrower, *self.investors)),
                loan.principal_outstanding,
                loan.status,
                [
                    (r.number, r.schedule_version, r.paid_principal, r.paid_interest, r.status)
                    for r in servicing.schedule(session, self.loan_id, with_superseded=True)
                ],
                session.scalar(select(func.count()).select_from(Repayment)),
                session.scalar(select(func.count()).select_from(JournalEntry)),
                self.bank.balances(),
            )


@pytest.fixture
def book(api: TestClient, app: FastAPI, session_factory: sessionmaker[Session]) -> Book:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    borrower = lending.make_borrower(session_factory, bank)
    investors = [lending.make_investor(session_factory, bank, balance=300_000) for _ in range(2)]
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, amount=AMOUNT, months=3),
        [(investors[0], 300_000), (investors[1], 300_000)],
    )
    return Book(api, bank, session_factory, borrower, investors, loan_id)


def _fen(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac)


def test_my_loans_and_one_with_its_schedule(book: Book) -> None:
    listed = lending.create_listing(book.sessions, lending.listing_terms(book.borrower, amount=100_000))
    response = book.api.get("/api/v1/me/loans", headers=book.headers())
    assert response.status_code == 200, response.text
    loans = {loan["id"]: loan for loan in response.json()}
    assert set(loans) == {book.loan_id, listed}
    mine = loans[book.loan_id]
    assert (mine["status"], mine["amount"], mine["principal_outstanding"]) == (
        "disbursed",
        "6000.00",
        "6000.00",
    )
    assert mine["value_date"] == "2026-11-28" and mine["annual_rate"] == "0.1"
    assert mine["next_due"] == {
        "installments": [1],
        "due_date": "2026-12-28",
        "principal": "1983.43",
        "interest": "50.00",
        "fee": "0.00",
        "penalty": "0.00",
        "late_fee": "0.00",
        "total": "2033.43",
    }
    assert (mine["days_past_due"], mine["stage"], mine["classification"]) == (0, "current", "normal")
    assert loans[listed]["status"] == "pending" and loans[listed]["next_due"] is None
    detail = book.api.get(book.path(), headers=book.headers()).json()
    assert [row["due_date"] for row in detail["schedule"]] == ["2026-12-28", "2027-01-28", "2027-02-28"]
    assert sum(_fen(row["principal"]) for row in detail["schedule"]) == AMOUNT  # R20
    first = detail["schedule"][0]
    assert (first["payment"], first["paid_principal"], first["owed"], first["status"]) == (
        "2033.43",
        "0.00",
        "2033.43",
        "due",
    )
    assert detail["repayments"] == [] and detail["service_fee"] == "120.00"


def test_repay_what_is_due_now_and_a_replay_pays_once(book: Book) -> None:
    lending.go_to(date(2026, 12, 28))
    before = sum(lending.balances(book.sessions, i).available for i in book.investors)
    key = {"Idempotency-Key": "repay-2026-12-28"}
    first = book.repay(**key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["kind"], body["amount"], body["principal"], body["interest"]) == (
        "installment",
        "2033.43",
        "1983.43",
        "50.00",
    )
    assert (body["loan_status"], body["principal_outstanding"]) == ("disbursed", "4016.57")
    # The holders: the principal and the interest, less 10 % of each one's interest (R25, R27).
    after = sum(lending.balances(book.sessions, i).available for i in book.investors)
    assert after == before + 198_343 + 5_000 - 2 * 250
    state = book.state()
    again = book.repay(**key)
    assert (again.status_code, again.json()) == (201, body)
    assert book.state() == state  # money moved once
    reused = book.repay({"amount": "10.00"}, **key)
    assert (reused.status_code, reused.json()["error"]["code"]) == (409, "idempotency_key_reused")
    detail = book.api.get(book.path(), headers=book.headers()).json()
    assert detail["schedule"][0]["status"] == "paid" and detail["schedule"][0]["paid_on"] == "2026-12-28"
    assert [r["id"] for r in detail["repayments"]] == [body["id"]]
    assert detail["next_due"]["installments"] == [2]
    lending.assert_loan_sound(book.sessions, book.loan_id)


def test_a_partial_repayment_and_refusals_that_change_nothing(book: Book) -> None:
    lending.go_to(date(2026, 12, 28))
    part = book.repay({"amount": "60.00"})
    assert part.status_code == 201, part.text
    assert (part.json()["interest"], part.json()["principal"]) == ("50.00", "10.00")  # R32: interest first
    state = book.state()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"amount": "2000.00"}, 409, "repayment_exceeds_due"),
        ({"amount": "10.00", "extra": 1}, 422, "invalid_request"),
        *(({"amount": amount}, 422, "invalid_amount") for _, amount in BAD_AMOUNTS if amount is not None),
    ]
    for body, status, code in cases:
        response = book.repay(body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), body
    assert book.state() == state
    rest = book.repay()
    assert rest.status_code == 201 and rest.json()["amount"] == "1973.43"


def test_repaying_a_loan_not_disbursed_or_repaid_is_refused(book: Book) -> None:
    listed = lending.open_listing(book.sessions, lending.listing_terms(book.borrower, amount=100_000))
    headers = book.headers()
    for path in (book.path("/repayments", listed), book.path("/early-repayments", listed)):
        response = book.api.post(path, json={}, headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_repayment")
    quote = book.api.get(book.path("/early-repayment", listed), headers=headers)
    assert (quote.status_code, quote.json()["error"]["code"]) == (422, "invalid_repayment")
    lending.deposit(
        book.sessions, book.bank, book.borrower, lending.card_of(book.sessions, book.borrower), 200_000
    )
    assert book.repay_early().status_code == 201
    for response in (
        book.repay(),
        book.repay_early(),
        book.api.get(book.path("/early-repayment"), headers=headers),
    ):
        assert (response.status_code, response.json()["error"]["code"]) == (409, "nothing_due")
    assert book.api.get(book.path(), headers=headers).json()["status"] == "settled"


def test_early_repayment_quote_then_pay_exactly_it(book: Book) -> None:
    lending.go_to(date(2026, 12, 8))  # 10 days into the first 30-day period
    headers = book.headers()
    full = book.api.get(book.path("/early-repayment"), headers=headers)
    assert full.status_code == 200, full.text
    quote = full.json()
    # Accrued = rd(50.00 × 10 / 30) = 16.67 (DOMAIN.md §2.5); no fee on this product.
    assert (quote["kind"], quote["principal"], quote["interest"], quote["fee"], quote["total"]) == (
        "early_full",
        "6000.00",
        "16.67",
        "0.00",
        "6016.67",
    )
    assert quote["schedule"] == [] and quote["choice"] is None and quote["on"] == "2026-12-08"
    lower = book.api.get(book.path("/early-repayment?principal=3000.00"), headers=headers).json()
    shorter = book.api.get(
        book.path("/early-repayment?principal=3000.00&choice=shorter_term"), headers=headers
    ).json()
    assert (lower["kind"], lower["choice"], len(lower["schedule"])) == (
        "early_partial",
        "lower_installment",
        3,
    )
    assert shorter["choice"] == "shorter_term" and len(shorter["schedule"]) < 3
    assert sum(_fen(row["principal"]) for row in lower["schedule"]) == 300_000
    state = book.state()
    for query, status, code in [
        ("?principal=abc", 422, "invalid_amount"),
        ("?principal=0", 422, "invalid_amount"),
        ("?principal=7000.00", 422, "invalid_loan_terms"),
        ("?choice=sooner", 422, "invalid_request"),
    ]:
        response = book.api.get(book.path(f"/early-repayment{query}"), headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), query
    assert book.state() == state  # a quote stores nothing
    paid = book.repay_early(
        {"principal": "3000.00", "choice": "shorter_term"}, **{"Idempotency-Key": "early-0001"}
    )
    assert paid.status_code == 201, paid.text
    assert (paid.json()["kind"], paid.json()["amount"]) == ("early_partial", shorter["total"])
    assert paid.json()["principal_outstanding"] == "3000.00"
    replay = book.repay_early(
        {"principal": "3000.00", "choice": "shorter_term"}, **{"Idempotency-Key": "early-0001"}
    )
    assert replay.json() == paid.json()
    detail = book.api.get(book.path(), headers=headers).json()
    new_rows = [
        (row["number"], row["due_date"], row["principal"], row["interest"]) for row in detail["schedule"]
    ]
    assert new_rows == [
        (row["number"], row["due_date"], row["principal"], row["interest"]) for row in shorter["schedule"]
    ]
    assert {row["schedule_version"] for row in detail["schedule"]} == {2}
    lending.assert_loan_sound(book.sessions, book.loan_id)


def test_an_early_repayment_beyond_the_balance_changes_nothing(book: Book) -> None:
    lending.go_to(date(2026, 12, 8))
    state = book.state()  # the borrower holds 5,880.00 after the 2 % fee: not enough for 6,016.67
    response = book.repay_early()
    assert (response.status_code, response.json()["error"]["code"]) == (409, "insufficient_funds")
    assert book.state() == state
    for _, amount in BAD_AMOUNTS:
        if amount is None:  # an omitted principal: everything (refused above for the balance)
            continue
        bad = book.repay_early({"principal": amount})
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_amount"), amount
    wrong = book.repay_early({"choice": "sooner"})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "invalid_request")
    assert book.state() == state


def test_early_repayment_waits_for_the_installment_already_due(book: Book) -> None:
    lending.go_to(date(2026, 12, 28) + timedelta(days=1))
    state = book.state()
    quote = book.api.get(book.path("/early-repayment"), headers=book.headers())
    assert (quote.status_code, quote.json()["error"]["code"]) == (409, "installment_due_first")
    response = book.repay_early()
    assert (response.status_code, response.json()["error"]["code"]) == (409, "installment_due_first")
    assert book.state() == state


def test_only_the_borrower_sees_or_pays_the_loan(book: Book, app: FastAPI) -> None:
    other = lending.make_borrower(book.sessions, book.bank, balance=1_000_000)
    stranger = book.headers(other)
    state = book.state()
    for method, tail in [
        ("get", ""),
        ("get", "/early-repayment"),
        ("post", "/repayments"),
        ("post", "/early-repayments"),
    ]:
        response = book.api.request(
            method, book.path(tail), json={} if method == "post" else None, headers=stranger
        )
        assert (response.status_code, response.json()["error"]["code"]) == (404, "loan_not_found"), tail
        signed_out = book.api.request(method, book.path(tail), json={} if method == "post" else None)
        assert (signed_out.status_code, signed_out.json()["error"]["code"]) == (401, "unauthenticated")
        investor = book.api.request(
            method,
            book.path(tail),
            json={} if method == "post" else None,
            headers=book.headers(book.investors[0]),
        )
        assert (investor.status_code, investor.json()["error"]["code"]) == (403, "permission_denied")
        staff = book.api.request(
            method,
            book.path(tail),
            json={} if method == "post" else None,
            headers=staff_headers(book.api, book.sessions),
        )
        assert (staff.status_code, staff.json()["error"]["code"]) == (403, "permission_denied")
    assert book.api.get("/api/v1/me/loans", headers=stranger).json() == []
    missing = book.api.get(book.path(loan_id=999_999), headers=book.headers())
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "loan_not_found")
    assert book.state() == state

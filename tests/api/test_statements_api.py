"""Statements API: portfolio, repayment calendar, CSV exports; only one's own."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.identity import service as identity
from p2plend.servicing import service as servicing
from tests import lending
from tests.api.helpers import sign_in


def _phone(session_factory: sessionmaker[Session], user_id: int) -> str:
    with session_factory() as session:
        return identity.phone_of(session, user_id)


def _loan(app: FastAPI, session_factory: sessionmaker[Session]) -> tuple[int, int, list[int]]:
    bank = app.state.custodian
    borrower = lending.make_borrower(session_factory, bank, balance=50_000)
    investors = [lending.make_investor(session_factory, bank, balance=600_000) for _ in range(2)]
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, amount=600_000, months=3),
        [(investors[0], 300_000), (investors[1], 300_000)],
    )
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id).installments[0].due_date
    lending.go_to(due)
    with session_factory.begin() as session:
        servicing.repay(session, loan_id, payer_id=borrower, custodian=bank)
    return borrower, loan_id, investors


def test_portfolio_and_calendar(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _, loan_id, investors = _loan(app, session_factory)
    headers = sign_in(client, _phone(session_factory, investors[0]))
    book = client.get("/api/v1/me/portfolio", headers=headers)
    assert book.status_code == 200, book.text
    body = book.json()
    assert body["holdings"][0]["loan_id"] == loan_id
    assert body["holdings"][0]["principal_acquired"] == "3000.00"
    received = int(body["principal_received"].replace(".", ""))
    outstanding = int(body["principal_outstanding"].replace(".", ""))
    assert received + outstanding == 300_000
    calendar = client.get("/api/v1/me/calendar", headers=headers).json()
    assert [line["installment"] for line in calendar] == [2, 3]
    assert sum(int(line["principal"].replace(".", "")) for line in calendar) == outstanding


def test_csv_exports(app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]) -> None:
    borrower, loan_id, investors = _loan(app, session_factory)
    headers = sign_in(client, _phone(session_factory, investors[1]))
    portfolio = client.get("/api/v1/me/portfolio.csv", headers=headers)
    assert portfolio.status_code == 200
    assert portfolio.headers["content-type"].startswith("text/csv")
    assert portfolio.text.lstrip("\ufeff").startswith("holding_id,loan_id")
    calendar = client.get("/api/v1/me/calendar.csv", headers=headers)
    assert len(calendar.text.strip().splitlines()) == 3  # header + installments 2 and 3
    mine = client.get(
        f"/api/v1/me/loans/{loan_id}/schedule.csv", headers=sign_in(client, _phone(session_factory, borrower))
    )
    assert mine.status_code == 200
    assert mine.text.strip().splitlines()[1].split(",")[-1] == "paid"


def test_statements_are_private(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _, loan_id, _ = _loan(app, session_factory)
    assert client.get("/api/v1/me/portfolio").status_code == 401
    # Another borrower's schedule is not theirs to read.
    other = lending.make_borrower(session_factory, app.state.custodian)
    response = client.get(
        f"/api/v1/me/loans/{loan_id}/schedule.csv", headers=sign_in(client, _phone(session_factory, other))
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "loan_not_found"
    # An investor's portfolio shows their own holdings only.
    stranger = lending.make_investor(session_factory, app.state.custodian, balance=0)
    book = client.get("/api/v1/me/portfolio", headers=sign_in(client, _phone(session_factory, stranger)))
    assert book.json()["holdings"] == []

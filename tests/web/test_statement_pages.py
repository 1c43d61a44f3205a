"""我的投资 and 回款计划 pages: figures, holdings, the calendar by month, CSV downloads."""

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.identity import service as identity
from p2plend.servicing import service as servicing
from tests import lending
from tests.builders import DEFAULT_PASSWORD
from tests.web.conftest import WebUser, sign_in


def _investor_with_a_repaid_installment(app: FastAPI, session_factory: sessionmaker[Session]) -> WebUser:
    bank = app.state.custodian
    borrower = lending.make_borrower(session_factory, bank, balance=50_000)
    investor = lending.make_investor(session_factory, bank, balance=500_000)
    other = lending.make_investor(session_factory, bank, balance=500_000)
    loan_id = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, amount=800_000, months=3, title="门店装修"),
        [(investor, 400_000), (other, 400_000)],
    )
    with session_factory() as session:
        due = servicing.amount_due(session, loan_id).installments[0].due_date
        phone = identity.phone_of(session, investor)
    lending.go_to(due)
    with session_factory.begin() as session:
        servicing.repay(session, loan_id, payer_id=borrower, custodian=bank)
    return WebUser(investor, phone, DEFAULT_PASSWORD)


def test_portfolio_page_in_both_languages(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, _investor_with_a_repaid_installment(app, session_factory))
    zh = client.get("/portfolio")
    assert zh.status_code == 200
    assert "待收本金" in zh.text and "门店装修" in zh.text and "还款中" in zh.text
    assert 'data-testid="xirr"' in zh.text
    en = client.get("/portfolio?lang=en")
    assert "Principal to receive" in en.text and "Repaying" in en.text


def test_calendar_page_and_downloads(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    sign_in(client, _investor_with_a_repaid_installment(app, session_factory))
    page = client.get("/portfolio/calendar")
    assert page.status_code == 200
    assert "回款计划" in page.text and page.text.count("门店装修") == 2  # installments 2 and 3
    csv = client.get("/portfolio/calendar.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.strip().splitlines()) == 3
    assert client.get("/portfolio.csv").text.lstrip("\ufeff").startswith("holding_id,")


def test_statement_pages_need_a_signed_in_investor(client: TestClient) -> None:
    for page in ("/portfolio", "/portfolio/calendar", "/portfolio.csv"):
        response = client.get(page)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={page}"

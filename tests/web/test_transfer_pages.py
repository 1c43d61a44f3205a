"""债权转让 pages: the market and a listing (today's price and the buyer's yield), the buy form
(a resent form buys once; refusals next to the field), the sell flow from a holding (quote →
confirm), 我的转让 with withdrawal, and the staff page — in Chinese and English."""

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.identity.permissions import Role
from p2plend.marketplace.transfer_listings import TransferListing
from p2plend.transfers import service as transfers
from p2plend.web.routes.lending import percent
from tests import lending
from tests.transfers import market
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_lending_pages import key_of, web_user
from tests.web.test_pages import assert_translated
from tests.web.test_staff import bank_of, sign_in_staff

MakeUser = Callable[..., WebUser]


def _setup(client: TestClient, session_factory: sessionmaker[Session]) -> tuple[market.Market, int]:
    loan = market.after_first_installment(session_factory, bank_of(client))
    lending.go_to(market.DAY_10)
    return loan, market.holding_of(session_factory, loan.loan_id, loan.holders[0]).id


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_sell_flow_quote_then_confirm(
    client: TestClient, session_factory: sessionmaker[Session], locale: str
) -> None:
    loan, holding = _setup(client, session_factory)
    sign_in(client, web_user(session_factory, loan.holders[0]))
    portfolio = client.get("/portfolio").text
    assert f'href="/transfers/sell/{holding}"' in portfolio  # the sell flow starts from the portfolio

    mine = client.get(f"/transfers/mine?lang={locale}")
    assert mine.status_code == 200 and f'href="/transfers/sell/{holding}"' in mine.text
    assert_translated(mine.text, locale)
    quote = client.get(f"/transfers/sell/{holding}", params={"quote": "1", "discount": "0.5", "lang": locale})
    assert quote.status_code == 200
    assert_translated(quote.text, locale)
    assert 'data-testid="price">¥3,340.31' in quote.text and 'data-testid="net">¥3,323.61' in quote.text
    too_much = client.get(f"/transfers/sell/{holding}", params={"quote": "1", "discount": "6"})
    assert too_much.status_code == 422 and 'id="e-discount"' in too_much.text

    token = csrf_of(quote.text)
    done = client.post(
        f"/transfers/sell/{holding}", data={"csrf_token": token, "principal": "", "discount": "0.5"}
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/transfers/mine")
    with session_factory() as session:
        [listing] = transfers.listings_of(session, seller_id=loan.holders[0])
        assert (listing.price, listing.fee) == (334_031, 1_670)
    again = client.post(f"/transfers/sell/{holding}", data={"csrf_token": token, "discount": "0.5"})
    assert again.status_code == 409  # already listed: shown on the form
    page = client.get("/transfers/mine").text
    assert f'action="/transfers/mine/{listing.id}/cancel"' in page
    cancelled = client.post(f"/transfers/mine/{listing.id}/cancel", data={"csrf_token": csrf_of(page)})
    assert cancelled.status_code == 303
    with session_factory() as session:
        withdrawn = session.get(TransferListing, listing.id)
        assert withdrawn is not None and withdrawn.status == "cancelled"


def test_market_listing_and_buy_form(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    loan, holding = _setup(client, session_factory)
    listing = market.list_holding(session_factory, loan.holders[0], holding, discount="0.005")
    with session_factory() as session:
        view = transfers.view(session, session.get(TransferListing, listing.id))  # type: ignore[arg-type]
    shown_yield = percent(view.buyer_xirr)

    anonymous = client.get("/transfers")
    assert anonymous.status_code == 200 and f'href="/transfers/{listing.id}"' in anonymous.text
    assert f'data-testid="yield-{listing.id}">{shown_yield}' in anonymous.text
    assert "¥3,340.31" in anonymous.text
    detail = client.get(f"/transfers/{listing.id}").text
    assert 'data-testid="value">¥3,357.10' in detail and 'data-testid="accrued">¥9.96' in detail
    assert f"/login?next=/transfers/{listing.id}" in detail

    buyer = market.buyer(session_factory, bank_of(client))
    sign_in(client, web_user(session_factory, buyer))
    page = client.get(f"/transfers/{listing.id}").text
    form = {"csrf_token": csrf_of(page), "request_key": key_of(page)}
    off_step = client.post(f"/transfers/{listing.id}/buy", data={**form, "principal": "150.00"})
    assert off_step.status_code == 422 and 'id="e-principal"' in off_step.text
    bought = client.post(f"/transfers/{listing.id}/buy", data={**form, "principal": "1000.00"})
    assert (
        bought.status_code == 303 and bought.headers["location"] == "/transfers/mine?notice=transfers.bought"
    )
    resent = client.post(f"/transfers/{listing.id}/buy", data={**form, "principal": "1000.00"})
    assert resent.status_code == 303  # the same form key: bought once
    with session_factory() as session:
        assert [s.principal for s in transfers.purchases_of(session, buyer)] == [100_000]
    mine = client.get("/transfers/mine?notice=transfers.bought").text
    assert 'data-testid="notice"' in mine and "¥1,000.00" in mine
    lending.assert_loan_sound(session_factory, loan.loan_id)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_staff_page(
    client: TestClient, session_factory: sessionmaker[Session], make_web_user: MakeUser, locale: str
) -> None:
    loan, holding = _setup(client, session_factory)
    listing = market.list_holding(session_factory, loan.holders[0], holding)
    sign_in_staff(client, make_web_user, Role.RISK_OFFICER)
    page = client.get(f"/staff/transfers?lang={locale}")
    assert page.status_code == 200 and f'data-listing="{listing.id}"' in page.text
    assert_translated(page.text, locale)
    assert 'href="/staff/transfers"' in client.get("/staff").text
    expired = client.post("/staff/transfers/expire", data={"csrf_token": csrf_of(page.text)})
    assert expired.status_code == 200 and 'data-testid="closed"' in expired.text


def test_staff_page_refuses_customers(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    loan, _ = _setup(client, session_factory)
    sign_in(client, web_user(session_factory, loan.holders[1]))
    assert client.get("/staff/transfers").status_code == 403

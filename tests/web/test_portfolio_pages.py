"""分散投资 (form, result, my plans), 为您推荐 and the concentration section of 我的投资 —
in Chinese and English, with refusals next to their field."""

import re
from decimal import Decimal

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.marketplace import service as marketplace
from p2plend.portfolio import service as portfolio
from p2plend.web.i18n import error_message
from tests import builders, lending
from tests.portfolio.test_concentration import _book
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_lending_pages import field_error, key_of, web_user
from tests.web.test_pages import assert_translated

Y = 100


def _market(app: FastAPI, session_factory: sessionmaker[Session]) -> tuple[WebUser, list[int]]:
    bank = app.state.custodian
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=2_000 * Y)
    loans = [
        lending.open_listing(
            session_factory, lending.listing_terms(borrower, annual_rate=rate, title=f"项目{rate}")
        )
        for rate in ("0.10", "0.12")
    ]
    return web_user(session_factory, investor), loans


def _submit(client: TestClient, data: dict[str, object]) -> httpx.Response:
    page = client.get("/plans")
    form = {"csrf_token": csrf_of(page.text), "request_key": key_of(page.text), **data}
    return client.post("/plans", data=form)


def test_a_plan_from_the_form_and_its_result(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    user, (b10, b12) = _market(app, session_factory)
    sign_in(client, user)
    for locale in ("zh", "en"):
        page = client.get(f"/plans?lang={locale}")
        assert page.status_code == 200
        assert_translated(page.text, locale)
    assert "分散投资" in client.get("/plans?lang=zh").text
    data = {"amount": "500", "max_per_loan": "300", "min_rate": "8", "grades": ["B", "A"]}
    page = client.get("/plans")
    form = {"csrf_token": csrf_of(page.text), "request_key": key_of(page.text), **data}
    done = client.post("/plans", data=form)
    assert done.status_code == 303, done.text
    location = done.headers["location"]
    assert re.fullmatch(r"/plans/\d+\?notice=portfolio\.plan\.done", location)
    again = client.post("/plans", data=form)  # a resent form acts once
    assert (again.status_code, again.headers["location"]) == (303, location)
    result = client.get(location)
    assert result.status_code == 200
    assert "已按计划投标" in result.text and "全部投出" in result.text
    assert 'data-testid="placed">¥500.00' in result.text
    assert f'data-loan="{b12}"' in result.text and f'data-loan="{b10}"' in result.text
    with session_factory() as session:
        assert marketplace.get_loan(session, b12).funded == 300 * Y
        assert marketplace.get_loan(session, b10).funded == 200 * Y
    en = client.get(location.split("?")[0] + "?lang=en")
    assert_translated(en.text, "en")
    assert "All placed" in en.text and "Bid placed" in en.text
    listed = client.get("/plans")
    assert listed.text.count("data-plan=") == 1


def test_plan_refusals_are_shown_and_change_nothing(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    user, (b10, _) = _market(app, session_factory)
    sign_in(client, user)
    bad = _submit(client, {"amount": "550", "max_per_loan": "300", "grades": ["B"]})
    assert bad.status_code == 422
    assert field_error(bad.text, "amount") == "投资金额至少 100 元，按 100 元的整数倍。"
    rate = _submit(client, {"amount": "500", "max_per_loan": "300", "min_rate": "abc", "grades": ["B"]})
    assert field_error(rate.text, "min_rate").startswith("请输入")
    grades = _submit(client, {"amount": "500", "max_per_loan": "300"})
    assert field_error(grades.text, "grades") == "请至少选择一个信用等级。"
    poor = _submit(client, {"amount": "5000", "max_per_loan": "300", "grades": ["B"]})
    assert poor.status_code == 409
    assert field_error(poor.text, "amount") == error_message("zh", "insufficient_funds")
    none = _submit(client, {"amount": "500", "max_per_loan": "300", "grades": ["HR"]})
    assert none.status_code == 409
    assert "未做任何投标" in none.text
    with session_factory() as session:
        assert marketplace.get_loan(session, b10).funded == 0
        assert portfolio.plans_of(session, user.user_id) == []


def test_another_investors_plan_is_not_found(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    user, _ = _market(app, session_factory)
    terms = portfolio.check_terms(amount=200 * Y, min_rate=Decimal(0), max_per_loan=200 * Y, grades=("B",))
    with session_factory.begin() as session:
        plan = portfolio.execute_plan(session, user.user_id, terms)
    stranger = lending.make_investor(session_factory, app.state.custodian, balance=0)
    sign_in(client, web_user(session_factory, stranger))
    assert client.get(f"/plans/{plan.id}").status_code == 404


def test_recommended_page(app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]) -> None:
    user, (b10, b12) = _market(app, session_factory)
    sign_in(client, user)
    zh = client.get("/recommended")
    assert zh.status_code == 200
    assert_translated(zh.text, "zh")
    assert zh.text.index(f'data-loan="{b10}"') < zh.text.index(f'data-loan="{b12}"')  # a tie: by id
    assert "适合您的风险等级（C5 进取型）：R3 级项目" in zh.text
    ranked = client.get("/recommended?term_min=12&term_max=24&grades=A&grades=B&rate_min=11")
    assert ranked.text.index(f'data-loan="{b12}"') < ranked.text.index(f'data-loan="{b10}"')
    assert "符合您 12–24 个月、A–B 级、年利率 11%以上的偏好" in ranked.text
    en = client.get("/recommended?term_min=12&term_max=24&lang=en")
    assert_translated(en.text, "en")
    assert "matches your 12–24 month preference" in en.text
    bad = client.get("/recommended?term_min=abc")
    assert bad.status_code == 200 and field_error(bad.text, "term_min")
    assert 'data-testid="recommendations"' in bad.text  # the feed still shows, unranked by it


def test_recommended_needs_an_assessment(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory.begin() as session:
        user, _ = builders.make_custody_user(session, app.state.custodian)  # no risk assessment
    sign_in(client, web_user(session_factory, user.id))
    page = client.get("/recommended")
    assert page.status_code == 200
    assert 'data-testid="needs-assessment"' in page.text and 'href="/risk"' in page.text


def test_portfolio_page_shows_concentration(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    investor, (shop, _, _) = _book(session_factory, app.state.custodian)
    sign_in(client, web_user(session_factory, investor))
    zh = client.get("/portfolio")
    assert zh.status_code == 200
    assert 'data-testid="concentration"' in zh.text
    assert "借款人 陈** 占您待收本金的 80.00%，超过 20.00% 的提示线" in zh.text
    assert zh.text.count('data-testid="concentration-warning"') == 1
    assert f"#{shop}" in zh.text and "60.00%" in zh.text
    en = client.get("/portfolio?lang=en")
    assert_translated(en.text, "en")
    assert "Borrower 陈** holds 80.00% of your outstanding principal" in en.text


def test_pages_need_a_signed_in_investor(client: TestClient) -> None:
    for page in ("/plans", "/recommended", "/plans/1"):
        response = client.get(page)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={page}"


def test_the_result_says_why_a_listing_got_no_bid(
    app: FastAPI, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    bank = app.state.custodian
    borrower = lending.make_borrower(session_factory, bank)
    investor = lending.make_investor(session_factory, bank, balance=1_000 * Y, points=60)  # C3
    risky = lending.open_listing(session_factory, lending.listing_terms(borrower, grade="C", risk_class="R4"))
    lending.open_listing(session_factory, lending.listing_terms(borrower))
    terms = portfolio.check_terms(
        amount=200 * Y, min_rate=Decimal(0), max_per_loan=200 * Y, grades=("B", "C")
    )
    with session_factory.begin() as session:
        plan = portfolio.execute_plan(session, investor, terms)
    sign_in(client, web_user(session_factory, investor))
    page = client.get(f"/plans/{plan.id}")
    row = page.text[page.text.index(f'data-loan="{risky}"') :]
    assert "超出您的风险等级，不投" in row[: row.index("</tr>")]
    assert "已投标" in page.text

"""Lending pages: 投资 (the market, 信息披露, the bid form), 我的投标, 我的借款 (还款计划, 还款,
提前还款 with a quote step) and the staff's 标的管理 — in Chinese and English."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity import service as identity
from p2plend.identity.permissions import Role
from p2plend.marketplace import service as marketplace
from p2plend.servicing import service as servicing
from tests import lending
from tests.builders import DEFAULT_PASSWORD
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_pages import assert_translated
from tests.web.test_staff import sign_in_staff

MakeUser = Callable[..., WebUser]
_KEY = re.compile(r'name="request_key" value="([^"]+)"')


def web_user(session_factory: sessionmaker[Session], user_id: int) -> WebUser:
    with session_factory() as session:
        return WebUser(user_id, identity.phone_of(session, user_id), DEFAULT_PASSWORD)


def key_of(html: str) -> str:
    found = _KEY.search(html)
    assert found is not None, "the form has no request_key"
    return found.group(1)


def field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{name}" >([^<]*)</p>', html)
    assert found is not None, f"no visible error under {name}"
    return found.group(1)


@dataclass
class Market:
    sessions: sessionmaker[Session]
    bank: SimulatedBank
    borrower: int
    investors: list[int]
    loan_id: int


@pytest.fixture
def market(app: FastAPI, session_factory: sessionmaker[Session]) -> Market:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    borrower = lending.make_borrower(session_factory, bank)
    investors = [lending.make_investor(session_factory, bank, balance=800_000) for _ in range(2)]
    loan_id = lending.open_listing(
        session_factory, lending.listing_terms(borrower, amount=1_000_000, months=3, title="门店装修")
    )
    return Market(session_factory, bank, borrower, investors, loan_id)


def _loan(market: Market) -> int:
    """A disbursed 6,000.00 loan of the market's borrower, held 3,000.00 / 3,000.00."""
    return lending.funded_loan(
        market.sessions,
        market.bank,
        lending.listing_terms(market.borrower, amount=600_000, months=3, title="设备采购"),
        [(market.investors[0], 300_000), (market.investors[1], 300_000)],
    )


# --- 投资 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_market_and_listing_render_for_visitors(client: TestClient, market: Market, locale: str) -> None:
    page = client.get(f"/invest?lang={locale}")
    assert page.status_code == 200
    assert_translated(page.text, locale)
    assert "门店装修" in page.text and f'href="/invest/{market.loan_id}"' in page.text
    assert 'value="0"' in page.text  # the funding bar
    detail = client.get(f"/invest/{market.loan_id}?lang={locale}")
    assert detail.status_code == 200
    assert_translated(detail.text, locale)
    assert 'data-testid="disclosure"' in detail.text and "陈**" in detail.text
    words = {
        "zh": "信息披露 借款人类型 自然人 所属行业 收入情况 负债情况 还款来源 保障措施 风险评估 "
        "借款前 在其他网贷平台借款情况 登录后投标 不对本金和利息作任何承诺",
        "en": "Disclosure|Borrower type|Natural person|Industry|Safeguards|Risk assessment|Sign in to bid|"
        "neither promises nor guarantees principal or interest",
    }[locale]
    for word in words.split(" " if locale == "zh" else "|"):
        assert word in detail.text, word
    with market.sessions() as session:
        person = identity.verified_identity(session, market.borrower)
        phone = identity.phone_of(session, market.borrower)
    for secret in (person.name, person.id_number, phone):  # R47
        assert secret not in detail.text


def test_a_listing_never_published_is_the_404_page(client: TestClient, market: Market) -> None:
    pending = lending.create_listing(market.sessions, lending.listing_terms(market.borrower))
    assert client.get(f"/invest/{pending}").status_code == 404
    assert client.get("/invest/999999").status_code == 404


def test_bid_form_freezes_funds_once_and_shows_my_bids(client: TestClient, market: Market) -> None:
    investor = market.investors[0]
    sign_in(client, web_user(market.sessions, investor))
    page = client.get(f"/invest/{market.loan_id}").text
    assert 'data-testid="available">¥8,000.00<' in page
    assert "起投 ¥100.00，按 ¥100.00 递增，单人上限 ¥5,000.00，剩余可投 ¥10,000.00" in page
    form = {"csrf_token": csrf_of(page), "request_key": key_of(page), "amount": "1000", "fill_remaining": "1"}
    done = client.post(f"/invest/{market.loan_id}/bid", data=form)
    assert done.status_code == 303 and done.headers["location"] == "/invest/bids?notice=lending.bid.done"
    again = client.post(f"/invest/{market.loan_id}/bid", data=form)  # a double click
    assert again.status_code == 303
    with market.sessions() as session:
        assert len(marketplace.bids_of_investor(session, investor)) == 1
        assert marketplace.get_loan(session, market.loan_id).funded == 100_000
    mine = client.get(done.headers["location"])
    assert "投标成功" in mine.text and 'data-testid="frozen-in-bids">¥1,000.00<' in mine.text
    assert "门店装修" in mine.text and "冻结中" in mine.text
    assert_translated(client.get("/invest/bids?lang=en").text, "en")
    listing = client.get(f"/invest/{market.loan_id}").text
    assert 'data-testid="mine">¥1,000.00<' in listing and 'data-testid="available">¥7,000.00<' in listing


@pytest.mark.parametrize(
    ("amount", "fill", "zh", "en"),
    [
        ("50", "1", "投标金额低于起投金额", "The bid is below the minimum bid."),
        ("150", "1", "投标金额须按递增金额的整数倍", "Bids go in whole steps of the bid step."),
        ("abc", "1", "请输入正确的金额", "Enter an amount such as 100 or 100.50."),
        ("5100", "1", "超过单人在本项目的出借上限", "This is above the most one investor may lend here."),
        ("9000", "1", "超过单人在本项目的出借上限", "This is above the most one investor may lend here."),
    ],
)
def test_bid_errors_show_under_the_amount_in_the_users_language(
    client: TestClient, market: Market, amount: str, fill: str, zh: str, en: str
) -> None:
    investor = market.investors[0]
    sign_in(client, web_user(market.sessions, investor))
    before = lending.balances(market.sessions, investor)
    for locale, words in (("zh", zh), ("en", en)):
        page = client.get(f"/invest/{market.loan_id}?lang={locale}").text
        data = {
            "csrf_token": csrf_of(page),
            "request_key": key_of(page),
            "amount": amount,
            "fill_remaining": fill,
        }
        response = client.post(f"/invest/{market.loan_id}/bid", data=data)
        assert response.status_code in (409, 422), response.text
        assert words in field_error(response.text, "amount")
        assert f'value="{amount}"' in response.text  # the form keeps what was typed
    assert lending.balances(market.sessions, investor) == before
    with market.sessions() as session:
        assert marketplace.get_loan(session, market.loan_id).funded == 0


def test_bid_refusals_about_the_bidder_show_above_the_form(
    client: TestClient, market: Market, make_web_user: MakeUser
) -> None:
    unsuited = lending.make_investor(market.sessions, market.bank, balance=100_000, points=20)  # C1 < R3
    sign_in(client, web_user(market.sessions, unsuited))
    page = client.get(f"/invest/{market.loan_id}").text
    response = client.post(
        f"/invest/{market.loan_id}/bid",
        data={"csrf_token": csrf_of(page), "request_key": key_of(page), "amount": "100"},
    )
    assert response.status_code == 403 and 'class="notice notice-error"' in response.text
    assert lending.balances(market.sessions, unsuited).frozen == 0
    with TestClient(client.app, follow_redirects=False) as own:  # type: ignore[arg-type]
        sign_in(own, web_user(market.sessions, market.borrower))
        page = own.get(f"/invest/{market.loan_id}").text
        refused = own.post(
            f"/invest/{market.loan_id}/bid",
            data={"csrf_token": csrf_of(page), "amount": "100", "fill_remaining": "1"},
        )
        assert refused.status_code == 403 and "不能出借给自己的借款" in refused.text


def test_bidding_needs_a_signed_in_investor_and_csrf(client: TestClient, market: Market) -> None:
    response = client.post(f"/invest/{market.loan_id}/bid", data={"amount": "100"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/invest/bids").headers["location"] == "/login?next=/invest/bids"
    sign_in(client, web_user(market.sessions, market.investors[0]))
    refused = client.post(f"/invest/{market.loan_id}/bid", data={"amount": "100", "csrf_token": "forged"})
    assert refused.status_code == 403
    assert lending.balances(market.sessions, market.investors[0]).frozen == 0


def test_a_funded_or_closed_listing_shows_no_bid_form(client: TestClient, market: Market) -> None:
    lending.bid(market.sessions, market.investors[0], market.loan_id, 500_000)
    lending.bid(market.sessions, market.investors[1], market.loan_id, 500_000)
    sign_in(client, web_user(market.sessions, market.investors[0]))
    page = client.get(f"/invest/{market.loan_id}").text
    assert "满标待审" in page and 'data-testid="closed"' in page and 'name="amount"' not in page


# --- 我的借款 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_my_loans_and_the_schedule_render(client: TestClient, market: Market, locale: str) -> None:
    loan_id = _loan(market)
    sign_in(client, web_user(market.sessions, market.borrower))
    loans = client.get(f"/borrow/loans?lang={locale}")
    assert loans.status_code == 200
    assert_translated(loans.text, locale)
    assert "设备采购" in loans.text and "¥2,033.43" in loans.text and "2026-12-28" in loans.text
    detail = client.get(f"/borrow/loans/{loan_id}?lang={locale}")
    assert detail.status_code == 200
    assert_translated(detail.text, locale)
    assert detail.text.count("<tr") == 1 + 3 + 0 + 0  # the schedule's header and 3 installments
    assert ("还款计划" if locale == "zh" else "Repayment schedule") in detail.text
    assert 'data-testid="due-now"' in detail.text and "¥2,033.43" in detail.text


def test_repay_from_the_page_once_and_see_it_paid(client: TestClient, market: Market) -> None:
    loan_id = _loan(market)
    lending.go_to(date(2026, 12, 28))
    sign_in(client, web_user(market.sessions, market.borrower))
    page = client.get(f"/borrow/loans/{loan_id}").text
    form = {"csrf_token": csrf_of(page), "request_key": key_of(page), "amount": ""}
    done = client.post(f"/borrow/loans/{loan_id}/repay", data=form)
    assert (
        done.status_code == 303
        and done.headers["location"] == f"/borrow/loans/{loan_id}?notice=lending.repay.done"
    )
    assert client.post(f"/borrow/loans/{loan_id}/repay", data=form).status_code == 303  # resent: once
    with market.sessions() as session:
        assert len(servicing.repayments_of_loan(session, loan_id)) == 1
        assert marketplace.get_loan(session, loan_id).principal_outstanding == 600_000 - 198_343
    shown = client.get(done.headers["location"]).text
    assert "还款成功" in shown and "已还" in shown and "按期还款" in shown
    lending.assert_loan_sound(market.sessions, loan_id)


def test_repay_errors_show_under_the_amount(client: TestClient, market: Market) -> None:
    loan_id = _loan(market)
    sign_in(client, web_user(market.sessions, market.borrower))
    before = lending.balances(market.sessions, market.borrower)
    for amount, words in [("3000", "还款金额超过本次应还金额"), ("1.234", "请输入正确的金额")]:
        page = client.get(f"/borrow/loans/{loan_id}").text
        response = client.post(
            f"/borrow/loans/{loan_id}/repay",
            data={"csrf_token": csrf_of(page), "request_key": key_of(page), "amount": amount},
        )
        assert response.status_code in (409, 422)
        assert words in field_error(response.text, "amount")
    assert lending.balances(market.sessions, market.borrower) == before


def test_early_repayment_quote_then_confirm(client: TestClient, market: Market) -> None:
    loan_id = _loan(market)
    lending.go_to(date(2026, 12, 8))
    sign_in(client, web_user(market.sessions, market.borrower))
    blank = client.get(f"/borrow/loans/{loan_id}/early")
    assert blank.status_code == 200 and 'data-testid="quote"' not in blank.text
    bad = client.get(f"/borrow/loans/{loan_id}/early?quote=1&principal=7000&choice=shorter_term")
    assert bad.status_code == 422 and "借款条件无效" in field_error(bad.text, "principal")
    quote = client.get(f"/borrow/loans/{loan_id}/early?quote=1&principal=3000&choice=shorter_term")
    assert quote.status_code == 200 and 'data-testid="quote"' in quote.text
    total = re.search(r'data-testid="quote-total"><strong>([^<]+)<', quote.text)
    assert total is not None
    done = client.post(
        f"/borrow/loans/{loan_id}/early",
        data={
            "csrf_token": csrf_of(quote.text),
            "request_key": key_of(quote.text),
            "principal": "3000",
            "choice": "shorter_term",
        },
    )
    assert done.status_code == 303, done.text
    shown = client.get(done.headers["location"]).text
    assert "提前还款成功" in shown and 'data-testid="outstanding">¥3,000.00<' in shown
    assert "部分提前还款" in shown and total.group(1) in shown
    lending.assert_loan_sound(market.sessions, loan_id)
    assert_translated(client.get(f"/borrow/loans/{loan_id}/early?lang=en").text, "en")


def test_early_repayment_beyond_the_balance_is_refused_on_the_page(
    client: TestClient, market: Market
) -> None:
    loan_id = _loan(market)
    lending.go_to(date(2026, 12, 8))
    sign_in(client, web_user(market.sessions, market.borrower))
    quote = client.get(f"/borrow/loans/{loan_id}/early?quote=1").text
    response = client.post(
        f"/borrow/loans/{loan_id}/early", data={"csrf_token": csrf_of(quote), "request_key": key_of(quote)}
    )
    assert response.status_code == 409 and "可用余额不足" in field_error(response.text, "principal")
    with market.sessions() as session:
        assert marketplace.get_loan(session, loan_id).principal_outstanding == 600_000


def test_only_the_borrower_sees_the_loan_pages(client: TestClient, market: Market) -> None:
    loan_id = _loan(market)
    sign_in(client, web_user(market.sessions, market.investors[0]))  # an investor, not a borrower
    assert client.get("/borrow/loans").status_code == 403
    other = lending.make_borrower(market.sessions, market.bank)
    with TestClient(client.app, follow_redirects=False) as stranger:  # type: ignore[arg-type]
        sign_in(stranger, web_user(market.sessions, other))
        for page in (f"/borrow/loans/{loan_id}", f"/borrow/loans/{loan_id}/early"):
            assert stranger.get(page).status_code == 404
        assert "设备采购" not in stranger.get("/borrow/loans").text


def test_navigation_links_by_role(client: TestClient, market: Market, make_web_user: MakeUser) -> None:
    visitor = client.get("/").text
    assert 'href="/invest"' in visitor and 'href="/invest/bids"' not in visitor
    sign_in(client, web_user(market.sessions, market.borrower))  # borrowers are investors too
    home = client.get("/account").text
    assert 'href="/invest"' in home and 'href="/invest/bids"' in home and 'href="/borrow/loans"' in home
    with TestClient(client.app, follow_redirects=False) as staff_client:  # type: ignore[arg-type]
        sign_in_staff(staff_client, make_web_user, Role.RISK_OFFICER)
        staff_home = staff_client.get("/staff").text
        assert 'href="/staff/loans"' in staff_home and 'href="/invest"' not in staff_home


# --- 标的管理 ---------------------------------------------------------------------------------------


def test_staff_publish_review_and_disburse(
    client: TestClient, market: Market, make_web_user: MakeUser
) -> None:
    pending = lending.create_listing(
        market.sessions, lending.listing_terms(market.borrower, title="待发布标")
    )
    sign_in_staff(client, make_web_user, Role.RISK_OFFICER)
    listed = client.get("/staff/loans?status=pending")
    assert listed.status_code == 200 and "待发布标" in listed.text
    assert_translated(client.get("/staff/loans?lang=en").text, "en")
    client.get("/staff/loans?lang=zh")  # back to Chinese (the choice is kept in a cookie)
    page = client.get(f"/staff/loans/{pending}")
    assert page.status_code == 200 and "发布" in page.text
    opened = client.post(f"/staff/loans/{pending}/open", data={"csrf_token": csrf_of(page.text)})
    assert (
        opened.status_code == 303
        and opened.headers["location"] == f"/staff/loans/{pending}?notice=staff.loans.opened"
    )
    lending.bid(market.sessions, market.investors[0], pending, 500_000)
    lending.bid(market.sessions, market.investors[1], pending, 500_000)
    review = client.get(f"/staff/loans/{pending}").text
    assert "满标复审通过，放款" in review and review.count("冻结中") == 2
    assert_translated(client.get(f"/staff/loans/{pending}?lang=en").text, "en")
    client.get("/staff/loans?lang=zh")
    done = client.post(f"/staff/loans/{pending}/disburse", data={"csrf_token": csrf_of(review)})
    assert done.status_code == 303
    shown = client.get(done.headers["location"]).text
    assert "已放款" in shown and 'data-testid="holdings"' in shown and "还款中" in shown
    lending.assert_loan_sound(market.sessions, pending)
    again = client.post(f"/staff/loans/{pending}/disburse", data={"csrf_token": csrf_of(shown)})
    assert again.status_code == 409 and "该项目当前状态不能执行此操作" in again.text


def test_staff_withdraw_needs_a_reason_and_returns_the_bids(
    client: TestClient, market: Market, make_web_user: MakeUser
) -> None:
    lending.bid(market.sessions, market.investors[0], market.loan_id, 200_000)
    sign_in_staff(client, make_web_user, Role.RISK_OFFICER)
    page = client.get(f"/staff/loans/{market.loan_id}").text
    blank = client.post(
        f"/staff/loans/{market.loan_id}/withdraw", data={"csrf_token": csrf_of(page), "reason": " "}
    )
    assert blank.status_code == 422 and field_error(blank.text, "reason")
    assert lending.balances(market.sessions, market.investors[0]).frozen == 200_000
    done = client.post(
        f"/staff/loans/{market.loan_id}/withdraw",
        data={"csrf_token": csrf_of(page), "reason": "借款人撤回申请"},
    )
    assert done.status_code == 303
    shown = client.get(done.headers["location"]).text
    assert "已撤标" in shown and "借款人撤回申请" in shown and "已退回" in shown
    assert lending.balances(market.sessions, market.investors[0]).frozen == 0


def test_staff_run_the_expiry(client: TestClient, market: Market, make_web_user: MakeUser) -> None:
    lending.bid(market.sessions, market.investors[0], market.loan_id, 300_000)
    lending.go_to(clock.today() + timedelta(days=8))
    sign_in_staff(client, make_web_user, Role.RISK_OFFICER)
    page = client.get("/staff/loans").text
    response = client.post("/staff/listings/expire", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 200
    assert f"已流标 1 个项目：{market.loan_id}" in response.text
    assert lending.balances(market.sessions, market.investors[0]).available == 800_000
    again = client.post("/staff/listings/expire", data={"csrf_token": csrf_of(page)})
    assert "没有已过募集期的项目" in again.text


def test_staff_pages_need_the_permission(client: TestClient, market: Market, make_web_user: MakeUser) -> None:
    sign_in(client, web_user(market.sessions, market.investors[0]))
    assert client.get("/staff/loans").status_code == 403
    assert client.get(f"/staff/loans/{market.loan_id}").status_code == 403
    with TestClient(client.app, follow_redirects=False) as finance:  # type: ignore[arg-type]
        sign_in_staff(finance, make_web_user, Role.FINANCE)
        assert finance.get("/staff/loans").status_code == 403
        page = finance.get("/staff").text
        refused = finance.post(
            f"/staff/loans/{market.loan_id}/withdraw", data={"csrf_token": csrf_of(page), "reason": "x"}
        )
        assert refused.status_code == 403
    with market.sessions() as session:
        assert marketplace.get_loan(session, market.loan_id).status == "open"

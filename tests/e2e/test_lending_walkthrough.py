"""A loan's life in a real browser: an investor finds a listing, reads its disclosure and bids
(refused over the per-investor cap, in Chinese, then accepted); the listing fills and is
disbursed; the borrower sees the schedule and repays the first installment; the investor's
portfolio and repayment calendar show what came back."""

import re

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.custody import service as custody
from p2plend.identity import service as identity
from p2plend.schedules.service import Method
from p2plend.servicing import service as servicing
from tests import lending
from tests.builders import DEFAULT_PASSWORD
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


def _phone(factory: sessionmaker[Session], user_id: int) -> str:
    with factory() as session:
        return identity.phone_of(session, user_id).removeprefix("+86")


def _sign_in(page: object, phone: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto("/login")
    page.fill("#f-phone", phone)
    page.fill("#f-password", DEFAULT_PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url("**/account")


def test_a_loan_from_bid_to_first_repayment(browser_page: object, live_server: LiveServer) -> None:
    from playwright.sync_api import Page, expect

    page = browser_page
    assert isinstance(page, Page)
    factory = live_server.session_factory
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    bank = custody.simulated_custodian(url, factory)
    try:
        borrower = lending.make_borrower(factory, bank, balance=100_000)
        investor = lending.make_investor(factory, bank, balance=2_000_000)
        other = lending.make_investor(factory, bank, balance=2_000_000)
        terms = lending.listing_terms(
            borrower, amount=1_000_000, months=3, method=Method.EQUAL_INSTALLMENT, title="社区面包店扩店"
        )
        loan_id = lending.open_listing(factory, terms)

        # --- 投资: the listing, its disclosure, a bid over the cap, then a good one --------------
        _sign_in(page, _phone(factory, investor))
        page.goto("/invest")
        page.get_by_text("社区面包店扩店").first.click()
        page.wait_for_url(f"**/invest/{loan_id}")
        expect(page.locator("body")).to_contain_text("陈**")  # masked borrower (R47)
        page.fill("#f-amount", "6000")
        page.get_by_role("button", name="确认投标").click()
        expect(page.locator("body")).to_contain_text("超过单人在本项目的出借上限")
        page.fill("#f-amount", "5000")
        page.get_by_role("button", name="确认投标").click()
        page.wait_for_url("**/invest/bids**")
        expect(page.locator("body")).to_contain_text("投标成功，资金已冻结")
        expect(page.locator("body")).to_contain_text("¥5,000.00")

        # --- the other half, then 满标复审 and disbursement (staff acts are tested on their pages)
        lending.bid(factory, other, loan_id, 500_000)
        lending.disburse(factory, bank, loan_id)

        # --- 借款人: the schedule and the first installment --------------------------------------
        page.context.clear_cookies()
        _sign_in(page, _phone(factory, borrower))
        page.goto(f"/borrow/loans/{loan_id}")
        expect(page.get_by_test_id("schedule")).to_contain_text("3")
        with factory() as session:
            due = servicing.amount_due(session, loan_id)
        expect(page.get_by_test_id("due-now")).to_contain_text(f"{due.total / 100:,.2f}")
        page.get_by_role("button", name="确认还款").click()
        expect(page.locator("body")).to_contain_text("还款成功")
        with factory() as session:
            assert [r.status for r in servicing.schedule(session, loan_id)] == ["paid", "due", "due"]

        # --- 出借人: what came back ------------------------------------------------------------
        page.context.clear_cookies()
        _sign_in(page, _phone(factory, investor))
        page.goto("/portfolio")
        received = page.get_by_test_id("interest_received").inner_text()
        assert re.sub(r"[¥,]", "", received) not in ("0.00", "")
        page.goto("/portfolio/calendar")
        expect(page.locator("body")).to_contain_text("社区面包店扩店")
    finally:
        bank.close()

"""One newcomer's walk through the site in a real browser, against a real server and database.

register (code read from the simulated SMS page) → sign in → turn on 2FA → real-name
verification → bind a card → deposit, paid on the simulated bank's page → the balance shows
it → withdraw with a TOTP code → frozen, then settled by the bank's callback → the
transactions page shows every line.
"""

import re
from datetime import timedelta

import pyotp
import pytest

from p2plend import clock
from tests import builders
from tests.e2e.conftest import LiveServer

PHONE = "13700137000"
PASSWORD = "walkthrough42"
SCREENSHOT = "/tmp/p2plend-account.png"

pytestmark = pytest.mark.e2e


def _advance_to_next_totp_step(fixed: clock.FixedClock) -> None:
    fixed.advance(timedelta(seconds=30))


def test_newcomer_walkthrough(
    browser_page: object, live_server: LiveServer, business_clock: clock.FixedClock
) -> None:
    from playwright.sync_api import Page, expect

    page = browser_page
    assert isinstance(page, Page)

    # --- 首页 → 注册: the code is sent by HTMX and read on the simulated SMS page ---------------
    page.goto("/")
    expect(page.locator("body")).to_contain_text("市场有风险，出借需谨慎")
    page.get_by_role("link", name="立即注册").click()
    page.fill("#f-phone", PHONE)
    page.get_by_role("button", name="获取短信验证码").click()
    expect(page.locator("#sms-status")).to_contain_text("137****7000")
    sms = page.context.new_page()
    sms.goto("/demo/sms")
    found = re.search(r"验证码是(\d{6})", sms.locator("#sms-list").inner_text())
    assert found is not None
    sms.close()
    page.fill("#f-sms_code", found.group(1))
    page.fill("#f-password", PASSWORD)
    page.get_by_role("button", name="注册", exact=True).click()
    expect(page.locator(".notice-ok")).to_contain_text("注册成功")

    # --- 登录 -------------------------------------------------------------------------------
    page.fill("#f-phone", PHONE)
    page.fill("#f-password", PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url("**/account")

    # --- 双重认证: the secret shown on the page makes the codes --------------------------------
    page.goto("/security/2fa")
    page.get_by_role("button", name="开始设置").click()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    authenticator = pyotp.TOTP(secret)
    page.fill("#f-totp_code", authenticator.at(clock.now()))
    page.get_by_role("button", name="确认开启").click()
    page.wait_for_url("**/account?notice=totp.done")

    # --- 实名认证 (opens the custody account) -------------------------------------------------
    id_number = builders.valid_id_number(region="110105", birth=builders.adult_birth_date(35))
    page.goto("/verify")
    page.fill("#f-name", "王小明")
    page.fill("#f-id_number", id_number)
    page.get_by_role("button", name="提交认证").click()
    page.wait_for_url("**/account?notice=kyc.done")
    expect(page.locator("body")).to_contain_text(f"110***********{id_number[-4:]}")

    # --- 绑定银行卡 -----------------------------------------------------------------------------
    card = builders.valid_card_number(prefix="622588")
    page.goto("/cards")
    page.fill("#f-bank_name", "招商银行")
    page.fill("#f-card_number", card)
    page.fill("#f-holder_name", "王小明")
    page.get_by_role("button", name="绑定", exact=True).click()
    expect(page.locator(".card-list")).to_contain_text(f"{card[:4]} **** **** {card[-4:]}")

    # --- 充值 → 模拟存管银行 → back with the status ---------------------------------------------------
    page.goto("/deposit")
    page.fill("#f-amount", "1000")
    page.get_by_role("button", name="前往银行支付").click()
    expect(page.get_by_test_id("sim-bank")).to_contain_text("模拟存管银行")
    expect(page.get_by_test_id("bank-amount")).to_contain_text("¥1,000.00")
    page.get_by_role("button", name="确认支付").click()
    expect(page.get_by_test_id("deposit-status")).to_contain_text("充值成功")

    page.goto("/account")
    expect(page.get_by_test_id("available")).to_have_text("¥1,000.00")

    # --- 提现 with a fresh TOTP code: amount + 2.00 fee frozen ----------------------------------------
    page.goto("/withdraw")
    page.fill("#f-amount", "300")
    expect(page.locator("#fee-preview")).to_contain_text("¥302.00")  # HTMX preview
    _advance_to_next_totp_step(business_clock)
    page.fill("#f-totp_code", authenticator.at(clock.now()))
    page.get_by_role("button", name="申请提现").click()
    expect(page.get_by_test_id("withdraw-done")).to_contain_text("¥302.00")
    # The answer was rendered with the hold frozen; the instruction then went to the bank
    # after the commit, and the bank's callback settles it: reload until it has.
    expect(page.get_by_test_id("withdraw-frozen")).to_have_text("¥302.00")
    expect(page.get_by_test_id("withdraw-available")).to_have_text("¥698.00")
    settled = False
    for _ in range(50):
        page.goto("/account")
        if page.get_by_test_id("frozen").inner_text() == "¥0.00":
            settled = True
            break
        page.wait_for_timeout(100)
    assert settled, "the withdrawal was not settled by the bank's callback"
    expect(page.get_by_test_id("available")).to_have_text("¥698.00")
    expect(page.locator("body")).to_contain_text("王**")
    page.screenshot(path=SCREENSHOT, full_page=True)

    # --- 资金流水 -----------------------------------------------------------------------------------
    page.goto("/account/history")
    rows = page.locator("#history-rows tr[data-entry]")
    expect(rows.first).to_be_visible()
    text = page.locator("#history-rows").inner_text()
    assert "+¥1,000.00" in text and "-¥302.00" in text
    assert "提现成功" in text and "提现冻结" in text
    page.get_by_role("button", name="刷新").click()  # HTMX refresh keeps the table
    expect(page.locator("#history-rows")).to_contain_text("+¥1,000.00")

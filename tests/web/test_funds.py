"""充值 and 提现 through the pages, with the simulated custodian bank."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import get_settings
from p2plend.ledger import service as ledger
from p2plend.web import csrf
from tests.web.conftest import WebUser, csrf_of, next_totp_step, sign_in


def signed_in_customer(client: TestClient, make_web_user: Callable[..., WebUser]) -> WebUser:
    user = make_web_user(verified=True, card=True, totp=True)
    assert user.authenticator is not None
    next_totp_step()
    sign_in(client, user, totp_code=user.authenticator.at(clock.now()))
    return user


def card_id_on(page: str) -> str:
    found = re.search(r'<option value="(\d+)"', page)
    assert found is not None
    return found.group(1)


def deposit(client: TestClient, amount: str) -> str:
    """Start a deposit, pay it on the simulated bank's page; the order number."""
    page = client.get("/deposit").text
    started = client.post(
        "/deposit", data={"csrf_token": csrf_of(page), "amount": amount, "card_id": card_id_on(page)}
    )
    assert started.status_code == 303, started.text
    bank_url = started.headers["location"]
    assert bank_url.startswith("/sim-bank/deposits/")
    bank_page = client.get(bank_url)
    assert bank_page.status_code == 200 and "模拟存管银行" in bank_page.text
    paid = client.post(bank_url, data={"csrf_token": csrf_of(bank_page.text)})
    assert paid.status_code == 303
    return bank_url.rsplit("/", 1)[1]


def test_deposit_paid_at_the_simulated_bank(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = signed_in_customer(client, make_web_user)
    order_no = deposit(client, "1000.50")
    result = client.get(f"/deposit/{order_no}")
    assert "充值成功" in result.text and "¥1,000.50" in result.text
    account = client.get("/account").text
    assert 'data-testid="available">¥1,000.50<' in account
    history = client.get("/account/history").text
    assert "+¥1,000.50" in history and "充值" in history
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 100050
    # Paying twice at the bank changes nothing (the order is finished there).
    bank_page = client.get(f"/sim-bank/deposits/{order_no}")
    assert "该订单已处理" in bank_page.text
    token = csrf.anonymous_token(get_settings().secret_key, client.cookies["p2p_csrf"])
    again = client.post(f"/sim-bank/deposits/{order_no}", data={"csrf_token": token})
    assert again.status_code == 303
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 100050


def test_deposit_refusals_change_nothing(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = signed_in_customer(client, make_web_user)
    page = client.get("/deposit").text
    token, card = csrf_of(page), card_id_on(page)
    for amount, message in [
        ("12.345", "请输入正确的金额"),
        ("-5", "请输入正确的金额"),
        ("0.50", "单笔充值金额须在"),
    ]:
        response = client.post("/deposit", data={"csrf_token": token, "amount": amount, "card_id": card})
        assert response.status_code == 422 and message in response.text, amount
    response = client.post("/deposit", data={"csrf_token": token, "amount": "10", "card_id": "999999"})
    assert "请选择您已绑定的银行卡" in response.text
    assert client.get("/deposit/check?amount=1e5").text.strip() != ""
    with session_factory() as session:
        assert ledger.user_balances(session, user.user_id).available == 0


def test_someone_elses_deposit_order_is_not_found(
    client: TestClient, make_web_user: Callable[..., WebUser], app: object
) -> None:
    signed_in_customer(client, make_web_user)
    page = client.get("/deposit").text
    started = client.post(
        "/deposit", data={"csrf_token": csrf_of(page), "amount": "10", "card_id": card_id_on(page)}
    )
    order_no = started.headers["location"].rsplit("/", 1)[1]
    with TestClient(app, follow_redirects=False) as other:  # type: ignore[arg-type]
        sign_in(other, make_web_user())
        assert other.get(f"/deposit/{order_no}").status_code == 404


def test_withdrawal_freezes_then_the_bank_settles_it(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = signed_in_customer(client, make_web_user)
    assert user.authenticator is not None
    deposit(client, "500")
    page = client.get("/withdraw").text
    assert "¥2.00" in page  # the fee is told up front
    preview = client.get("/withdraw/preview?amount=100", headers={"HX-Request": "true"}).text
    assert "¥102.00" in preview
    next_totp_step()
    done = client.post(
        "/withdraw",
        data={
            "csrf_token": csrf_of(page),
            "amount": "100",
            "card_id": card_id_on(page),
            "totp_code": user.authenticator.at(clock.now()),
        },
    )
    assert done.status_code == 200
    # The page answered while the hold was frozen …
    assert 'data-testid="withdraw-frozen">¥102.00<' in done.text
    assert 'data-testid="withdraw-available">¥398.00<' in done.text
    # … then the instruction went to the bank after the commit and its callback settled it.
    with session_factory() as session:
        balances = ledger.user_balances(session, user.user_id)
    assert (balances.available, balances.frozen) == (39800, 0)
    history = client.get("/account/history").text
    assert "提现冻结" in history and "提现成功" in history


def test_withdrawal_refusals_change_nothing(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = signed_in_customer(client, make_web_user)
    assert user.authenticator is not None
    deposit(client, "50")
    page = client.get("/withdraw").text
    token, card = csrf_of(page), card_id_on(page)
    next_totp_step()
    wrong = client.post(
        "/withdraw", data={"csrf_token": token, "amount": "10", "card_id": card, "totp_code": "000000"}
    )
    assert "动态验证码错误或已被使用" in wrong.text
    too_much = client.post(
        "/withdraw",
        data={
            "csrf_token": token,
            "amount": "49",  # 49 + 2.00 fee > 50
            "card_id": card,
            "totp_code": user.authenticator.at(clock.now()),
        },
    )
    assert too_much.status_code == 409 and "可用余额不足" in too_much.text
    bad = client.post(
        "/withdraw", data={"csrf_token": token, "amount": "abc", "card_id": card, "totp_code": "1"}
    )
    assert "请输入正确的金额" in bad.text
    with session_factory() as session:
        balances = ledger.user_balances(session, user.user_id)
    assert (balances.available, balances.frozen) == (5000, 0)


def test_withdrawal_needs_two_factor(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    sign_in(client, make_web_user(verified=True, card=True))
    page = client.get("/withdraw").text
    assert "提现前请先开启双重认证" in page and 'name="totp_code"' not in page


def test_the_bank_pages_use_their_own_csrf(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    signed_in_customer(client, make_web_user)
    page = client.get("/deposit").text
    started = client.post(
        "/deposit", data={"csrf_token": csrf_of(page), "amount": "10", "card_id": card_id_on(page)}
    )
    bank_url = started.headers["location"]
    assert client.post(bank_url, data={}).status_code == 403
    assert "等待支付" in client.get(f"/deposit/{bank_url.rsplit('/', 1)[1]}").text

"""Forms: CSRF on every POST, refusals shown as translated messages that change nothing."""

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.custody import service as custody
from p2plend.identity import service as identity
from p2plend.notifications import service as notifications
from p2plend.suitability import service as suitability
from tests import builders
from tests.web.conftest import WebUser, csrf_of, next_totp_step, sign_in

PHONE = "13900139000"
PASSWORD = "secret123"


def sms_code_from_demo_page(client: TestClient) -> str:
    """The newest code on the simulated SMS page, as a newcomer would read it."""
    page = client.get("/demo/sms").text
    found = re.search(r"(?:验证码是|code is )(\d{6})", page)
    assert found is not None, "no code on the simulated SMS page"
    return found.group(1)


def test_register_with_the_sms_code_then_sign_in(client: TestClient) -> None:
    page = client.get("/register")
    token = csrf_of(page.text)
    sent = client.post(
        "/register/sms-code", data={"phone": PHONE}, headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert sent.status_code == 200
    assert "139****9000" in sent.text and "<html" not in sent.text  # an HTMX fragment
    code = sms_code_from_demo_page(client)
    done = client.post(
        "/register", data={"csrf_token": token, "phone": PHONE, "sms_code": code, "password": PASSWORD}
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=register.done"
    assert "注册成功" in client.get(done.headers["location"]).text
    sign_in(client, WebUser(0, PHONE, PASSWORD))
    account = client.get("/account")
    assert account.status_code == 200 and "139****9000" in account.text


def test_sms_code_without_htmx_renders_the_whole_page(client: TestClient) -> None:
    token = csrf_of(client.get("/register").text)
    sent = client.post("/register/sms-code", data={"csrf_token": token, "phone": PHONE})
    assert sent.status_code == 200 and "<html" in sent.text and "139****9000" in sent.text


def test_sms_code_refusals_are_shown_in_place(client: TestClient) -> None:
    token = csrf_of(client.get("/register").text)
    headers = {"HX-Request": "true", "X-CSRF-Token": token}
    bad = client.post("/register/sms-code", data={"phone": "12345"}, headers=headers)
    assert bad.status_code == 200 and "请输入有效的中国大陆手机号" in bad.text
    client.post("/register/sms-code", data={"phone": PHONE}, headers=headers)
    again = client.post("/register/sms-code", data={"phone": PHONE}, headers=headers)
    assert "验证码刚刚发送" in again.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short"}, "密码至少 8 位"),
        ({"sms_code": "000000"}, "短信验证码错误"),
        ({"phone": "abc"}, "请输入有效的中国大陆手机号"),
    ],
)
def test_register_refusals_are_translated_and_register_nobody(
    client: TestClient, session_factory: sessionmaker[Session], fields: dict[str, str], message: str
) -> None:
    token = csrf_of(client.get("/register").text)
    client.post("/register/sms-code", data={"csrf_token": token, "phone": PHONE})
    data = {"csrf_token": token, "phone": PHONE, "sms_code": "999999", "password": PASSWORD, **fields}
    if "sms_code" not in fields:
        data["sms_code"] = sms_code_from_demo_page(client)
    response = client.post("/register", data=data)
    assert response.status_code in (409, 422)
    assert message in response.text
    assert 'class="field has-error"' in response.text
    assert "Traceback" not in response.text
    with session_factory() as session:
        assert identity.list_users(session).total == 0


def test_wrong_password_is_counted_and_shown(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    """The failed sign-in is recorded (the counter survives the refusal) and shown in words."""
    user = make_web_user()
    for attempt in range(5):
        token = csrf_of(client.get("/login").text)
        response = client.post(
            "/login", data={"csrf_token": token, "phone": user.phone, "password": "wrong-1"}
        )
        expected = "手机号或密码错误" if attempt < 4 else "账户已暂时锁定"
        assert expected in response.text
    token = csrf_of(client.get("/login").text)
    locked = client.post("/login", data={"csrf_token": token, "phone": user.phone, "password": user.password})
    assert "账户已暂时锁定" in locked.text and "p2p_session" not in client.cookies


def test_sign_in_asks_for_the_totp_code_when_2fa_is_on(
    client: TestClient, make_web_user: Callable[..., WebUser]
) -> None:
    user = make_web_user(totp=True)
    assert user.authenticator is not None
    token = csrf_of(client.get("/login").text)
    first = client.post("/login", data={"csrf_token": token, "phone": user.phone, "password": user.password})
    assert "请输入身份验证器中的动态验证码" in first.text
    assert 'name="totp_code"' in first.text and "<details" not in first.text  # shown, not folded
    wrong = client.post(
        "/login",
        data={"csrf_token": token, "phone": user.phone, "password": user.password, "totp_code": "000000"},
    )
    assert "动态验证码错误或已被使用" in wrong.text
    next_totp_step()
    sign_in(client, user, totp_code=user.authenticator.at(clock.now()))


def test_two_factor_enrolment(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    import pyotp

    sign_in(client, make_web_user())
    page = client.get("/security/2fa")
    begun = client.post("/security/2fa/begin", data={"csrf_token": csrf_of(page.text)})
    assert begun.status_code == 200 and "<svg" in begun.text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', begun.text)
    assert secret is not None
    token = csrf_of(begun.text)
    wrong = client.post("/security/2fa/confirm", data={"csrf_token": token, "totp_code": "123"})
    assert "动态验证码错误或已被使用" in wrong.text
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    done = client.post("/security/2fa/confirm", data={"csrf_token": token, "totp_code": code})
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=totp.done"
    assert "双重认证已开启" in client.get("/security/2fa").text


def test_real_name_refusals_change_nothing(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = make_web_user()
    sign_in(client, user)
    token = csrf_of(client.get("/verify").text)
    bad_id = "110105199001011235"  # wrong check character
    response = client.post("/verify", data={"csrf_token": token, "name": "张三", "id_number": bad_id})
    assert response.status_code == 422 and "身份证号码无效" in response.text
    assert bad_id not in response.text  # never echoed back
    minor = builders.valid_id_number(birth=clock.today().replace(year=clock.today().year - 17))
    response = client.post("/verify", data={"csrf_token": token, "name": "张三", "id_number": minor})
    assert "未满 18 周岁" in response.text
    with session_factory() as session:
        assert not identity.profile(session, user.user_id).real_name_verified


def test_real_name_verification_opens_the_custody_account(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = make_web_user()
    sign_in(client, user)
    token = csrf_of(client.get("/verify").text)
    id_number = builders.valid_id_number(birth=builders.adult_birth_date())
    done = client.post("/verify", data={"csrf_token": token, "name": "李四", "id_number": id_number})
    assert done.status_code == 303 and done.headers["location"] == "/account?notice=kyc.done"
    page = client.get("/verify").text
    assert "李*" in page and id_number not in page and f"110***********{id_number[-4:]}" in page
    with session_factory() as session:
        assert custody.custody_account_of(session, user.user_id) is not None


def test_card_binding_and_its_refusals(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = make_web_user(verified=True)
    sign_in(client, user)
    token = csrf_of(client.get("/cards").text)
    card = builders.valid_card_number()
    mistyped = card[:-1] + str((int(card[-1]) + 1) % 10)
    bad = client.post(
        "/cards",
        data={"csrf_token": token, "bank_name": "招商银行", "card_number": mistyped, "holder_name": "张三"},
    )
    assert bad.status_code == 422 and "银行卡号无效" in bad.text and mistyped not in bad.text
    other = client.post(
        "/cards",
        data={"csrf_token": token, "bank_name": "招商银行", "card_number": card, "holder_name": "李四"},
    )
    assert "持卡人须与实名认证的姓名一致" in other.text and card not in other.text
    with session_factory() as session:
        assert identity.list_cards(session, user.user_id) == []
    done = client.post(
        "/cards",
        data={"csrf_token": token, "bank_name": "招商银行", "card_number": card, "holder_name": "张三"},
    )
    assert done.status_code == 303
    page = client.get("/cards").text
    assert f"{card[:4]} **** **** {card[-4:]}" in page and card not in page


def test_cards_need_real_name_first(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    sign_in(client, make_web_user())
    page = client.get("/cards").text
    assert "绑卡前请先完成实名认证" in page and 'name="card_number"' not in page


def test_risk_assessment(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = make_web_user()
    sign_in(client, user)
    page = client.get("/risk")
    token = csrf_of(page.text)
    answers = builders.answers_scoring(60)
    partial = dict(list(answers.items())[:3])
    refused = client.post("/risk", data={"csrf_token": token, **{f"q_{k}": v for k, v in partial.items()}})
    assert refused.status_code == 422 and "请回答这一题" in refused.text
    with session_factory() as session:
        assert suitability.current_assessment(session, user.user_id) is None
    done = client.post("/risk", data={"csrf_token": token, **{f"q_{k}": v for k, v in answers.items()}})
    assert done.status_code == 303
    result = client.get(done.headers["location"]).text
    assert "C3 平衡型" in result and "2027-11-27" in result
    assert "Balanced" in client.get("/risk?lang=en").text


# --- CSRF ------------------------------------------------------------------------------------


def test_anonymous_post_without_a_token_is_refused(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    client.get("/register")  # the visitor has the CSRF cookie, but the attacker's form has no token
    refused = client.post("/register/sms-code", data={"phone": PHONE})
    assert refused.status_code == 403 and "请求已过期" in refused.text
    forged = client.post("/register/sms-code", data={"phone": PHONE, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    with session_factory() as session:
        assert notifications.recent_sms(session) == []


def test_a_token_from_another_browser_is_refused(client: TestClient, app: object) -> None:
    token = csrf_of(client.get("/register").text)
    with TestClient(app, follow_redirects=False) as other:  # type: ignore[arg-type]
        other.get("/register")  # its own nonce cookie
        assert other.post("/register/sms-code", data={"phone": PHONE, "csrf_token": token}).status_code == 403


def test_signed_in_post_needs_the_session_token(
    client: TestClient, make_web_user: Callable[..., WebUser], session_factory: sessionmaker[Session]
) -> None:
    user = make_web_user(verified=True)
    sign_in(client, user)
    card = builders.valid_card_number()
    data = {"bank_name": "招商银行", "card_number": card, "holder_name": "张三"}
    assert client.post("/cards", data=data).status_code == 403
    assert client.post("/cards", data={**data, "csrf_token": "f" * 64}).status_code == 403
    # The anonymous token of the same browser does not do for a signed-in act.
    client.cookies.set("p2p_csrf", "nonce")
    from p2plend.config import get_settings
    from p2plend.web import csrf

    anonymous = csrf.anonymous_token(get_settings().secret_key, "nonce")
    assert client.post("/cards", data={**data, "csrf_token": anonymous}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    with session_factory() as session:
        assert identity.list_cards(session, user.user_id) == []
    assert client.get("/account").status_code == 200  # still signed in: the logout was refused


def test_htmx_requests_carry_the_token_in_a_header(
    client: TestClient, make_web_user: Callable[..., WebUser]
) -> None:
    sign_in(client, make_web_user())
    page = client.get("/account").text
    token = csrf_of(page)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page

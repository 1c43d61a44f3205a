"""The web pages: every page renders in Chinese and English, sign-in is required where it must be."""

import base64
import re
from collections.abc import Callable
from contextlib import closing

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import Settings
from p2plend.custody import service as custody
from p2plend.server import create_app
from p2plend.web.i18n import MESSAGES
from tests.web.conftest import WebUser, csrf_of, next_totp_step, sign_in

ANONYMOUS_PAGES = ["/", "/register", "/login", "/demo/sms"]
CUSTOMER_PAGES = [
    "/account",
    "/account/history",
    "/messages",
    "/security/2fa",
    "/verify",
    "/cards",
    "/risk",
    "/deposit",
    "/withdraw",
]
_TEXT_NODE = re.compile(r">([^<>]+)<")


def assert_translated(html: str, locale: str) -> None:
    """Rendered in ``locale``, and no catalogue key left unresolved in the text."""
    expected = 'lang="zh-CN"' if locale == "zh" else '<html lang="en"'
    assert expected in html
    texts = {text.strip() for text in _TEXT_NODE.findall(html)}
    unresolved = sorted(text for text in texts if text in MESSAGES)
    assert not unresolved, f"untranslated keys: {unresolved}"
    if locale == "en":
        assert "Lending carries risk" in html
    else:
        assert "市场有风险，出借需谨慎" in html


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_anonymous_pages_render_in_both_languages(client: TestClient, locale: str) -> None:
    for page in ANONYMOUS_PAGES:
        response = client.get(f"{page}?lang={locale}")
        assert response.status_code == 200, page
        assert_translated(response.text, locale)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_customer_pages_render_in_both_languages(
    client: TestClient, make_web_user: Callable[..., WebUser], locale: str
) -> None:
    user = make_web_user(verified=True, card=True, totp=True)
    next_totp_step()
    assert user.authenticator is not None
    sign_in(client, user, totp_code=user.authenticator.at(clock.now()))
    for page in CUSTOMER_PAGES:
        response = client.get(f"{page}?lang={locale}")
        assert response.status_code == 200, f"{page}: {response.status_code}"
        assert_translated(response.text, locale)


def test_chinese_is_the_default_and_the_switch_is_remembered(client: TestClient) -> None:
    assert 'lang="zh-CN"' in client.get("/").text
    switched = client.get("/?lang=en")
    assert switched.cookies.get("lang") == "en"
    assert '<html lang="en"' in client.get("/login").text  # the cookie now decides
    assert 'lang="zh-CN"' in client.get("/login?lang=zh").text


def test_home_page_says_what_the_platform_is_and_promises_nothing(client: TestClient) -> None:
    """R3: no page promises principal or interest; the home page warns of the risk."""
    for locale in ("zh", "en"):
        html = client.get(f"/?lang={locale}").text
        if locale == "zh":
            assert "信息中介" in html and "存管" in html and "市场有风险，出借需谨慎" in html
            for promise in ("保本保息！", "稳赚", "零风险", "100%安全", "刚性兑付"):
                assert promise not in html
            assert "不承诺保本保息" in html
        else:
            assert "information intermediary" in html and "custodian bank" in html
            assert "guaranteed return" not in html.lower()


@pytest.mark.parametrize("page", CUSTOMER_PAGES)
def test_customer_pages_redirect_to_sign_in(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={page}"


def test_sign_in_returns_to_the_page_asked_for(
    client: TestClient, make_web_user: Callable[..., WebUser]
) -> None:
    user = make_web_user()
    page = client.get("/login?next=/risk")
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "phone": user.phone,
            "password": user.password,
            "next": "/risk",
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/risk"


def test_sign_in_never_redirects_off_site(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    user = make_web_user()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_of(page.text),
            "phone": user.phone,
            "password": user.password,
            "next": "//evil.example/steal",
        },
    )
    assert response.headers["location"] == "/account"


def test_session_cookie_is_http_only_and_same_site(
    client: TestClient, make_web_user: Callable[..., WebUser]
) -> None:
    user = make_web_user()
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf_token": csrf_of(page.text), "phone": user.phone, "password": user.password}
    )
    cookie = response.headers["set-cookie"]
    assert "p2p_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # only in production


def test_sign_out_ends_the_session(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    user = make_web_user()
    sign_in(client, user)
    token = client.cookies["p2p_session"]
    account = client.get("/account")
    response = client.post("/logout", data={"csrf_token": csrf_of(account.text)})
    assert response.status_code == 303 and response.headers["location"] == "/login?notice=logout.done"
    # The old cookie is worthless now, even if a browser kept it.
    client.cookies.set("p2p_session", token)
    assert client.get("/account").status_code == 303


def test_unknown_page_is_an_html_404_and_the_api_keeps_json(client: TestClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "页面不存在" in page.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_static_files_are_served(client: TestClient) -> None:
    assert client.get("/static/app.css").status_code == 200
    htmx = client.get("/static/vendor/htmx-2.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]


def test_customers_cannot_open_staff_pages(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    sign_in(client, make_web_user())
    for page in ("/staff", "/staff/users"):
        response = client.get(page)
        assert response.status_code == 403 and "无权访问" in response.text


def test_staff_home_and_masked_user_list(client: TestClient, make_web_user: Callable[..., WebUser]) -> None:
    customer = make_web_user(verified=True, card=True)
    staff = make_web_user(staff=True)
    assert staff.authenticator is not None
    next_totp_step()
    sign_in(client, staff, totp_code=staff.authenticator.at(clock.now()))
    assert client.get("/account").headers["location"] == "/staff"
    home = client.get("/staff")
    assert home.status_code == 200 and "/staff/users" in home.text
    for locale in ("zh", "en"):
        users = client.get(f"/staff/users?lang={locale}")
        assert users.status_code == 200
        assert_translated(users.text, locale)
        digits = customer.phone
        assert f"{digits[:3]}****{digits[-4:]}" in users.text
        assert digits not in users.text
        assert "张*" in users.text and "张三" not in users.text


def test_demo_pages_do_not_exist_in_production(session_factory: sessionmaker[Session]) -> None:
    settings = Settings(
        environment="production",
        secret_key="a-production-secret",
        pii_key=base64.b64encode(b"p" * 32).decode(),
        custodian_hmac_secret="a-production-custodian-secret",
    )
    url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
    bank = custody.simulated_custodian(url, session_factory, settings)  # stands for the real bank's adapter
    app = create_app(settings, session_factory, bank)
    with TestClient(app, follow_redirects=False) as client, closing(bank):
        assert client.get("/demo/sms").status_code == 404
        assert client.get("/sim-bank").status_code == 404
        home = client.get("/?lang=en")
        assert "/demo/sms" not in home.text and "Demo environment" not in home.text
        assert "Secure" in home.headers["set-cookie"]  # the language and CSRF cookies


def test_a_bug_shows_a_calm_500_page_not_a_stack_trace(
    client: TestClient, make_web_user: Callable[..., WebUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    from p2plend.identity import service as identity

    sign_in(client, make_web_user())

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom: secret internals")

    monkeypatch.setattr(identity, "profile", broken)
    response = client.get("/account")
    assert response.status_code == 500
    assert "系统出现问题，本次操作未做任何更改" in response.text
    assert "boom" not in response.text and "Traceback" not in response.text
    api = client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert api.headers["content-type"].startswith("application/json")


def test_the_language_switch_keeps_the_page_and_its_query(client: TestClient) -> None:
    html = client.get("/login?next=/risk").text
    assert 'href="/login?next=%2Frisk&amp;lang=en"' in html


def test_staff_without_2fa_are_sent_to_enrol(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    from tests import builders

    phone = builders.next_phone()
    with session_factory() as session:
        builders.make_staff(session, phone=phone, with_totp=False)
        session.commit()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"csrf_token": csrf_of(page.text), "phone": phone, "password": builders.DEFAULT_PASSWORD},
    )
    assert response.headers["location"] == "/security/2fa"
    assert client.get("/staff").headers["location"] == "/security/2fa"
    assert "员工账户须先开启双重认证" in client.get("/security/2fa").text

"""Auto-bid pages: the investor's 自动投标 (rule form with refusals under their fields, the
authorisation, on/off, the place in the queue, the decisions with their reasons in plain words),
in Chinese and English; staff's 自动投标队列 with "run again"; the staff 发布 button runs the queue."""

import re
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.autobid import service as autobid
from p2plend.config import get_settings
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.server import create_app
from tests import lending
from tests.autobid.conftest import enable_rule
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_lending_pages import field_error, web_user
from tests.web.test_pages import assert_translated
from tests.web.test_staff import sign_in_staff

PAGE = "/invest/autobid"
FORM = {
    "min_rate": "6",
    "max_rate": "12.5",
    "min_term_months": "1",
    "max_term_months": "24",
    "grades": ["A", "B"],
    "methods": ["equal_installment"],
    "product_kinds": ["credit"],
    "amount_mode": "fixed",
    "fixed_amount": "800.00",
    "balance_share": "",
    "reserve": "500.00",
    "total_cap": "",
    "valid_until": "2027-06-30",
}


@pytest.fixture
def app(session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(get_settings(), session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    return bank


def _post(client: TestClient, action: str, data: dict[str, object] | None = None) -> object:
    token = csrf_of(client.get(PAGE).text)
    return client.post(action, data={"csrf_token": token, **(data or {})}, follow_redirects=False)


def _testid(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)
    assert found is not None, testid
    return found.group(1).strip()


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_investor_sets_signs_and_switches_on_auto_bid(
    client: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session], locale: str
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=5_000_00)
    sign_in(client, web_user(session_factory, investor))
    client.cookies.set("lang", locale)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert_translated(page.text, locale)
    assert 'data-testid="no-rule"' in page.text and 'data-testid="sign"' in page.text
    assert 'href="/invest/autobid"' in page.text  # the investor nav links it

    bad = _post(client, PAGE, FORM | {"max_rate": "5", "grades": []})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    assert field_error(bad.text, "max_rate") == (  # type: ignore[attr-defined]
        "最高年利率不低于最低年利率，且不超过 100。"
        if locale == "zh"
        else "The highest rate is at least the lowest and at most 100."
    )
    with session_factory() as session:
        assert autobid.rule_of(session, investor) is None

    saved = _post(client, PAGE, FORM)
    assert saved.status_code == 303  # type: ignore[attr-defined]
    with session_factory() as session:
        view = autobid.rule_of(session, investor)
    assert view is not None
    assert (view.terms.max_rate, view.terms.grades, view.terms.fixed_amount, view.terms.reserve) == (
        Decimal("0.125"),
        ("A", "B"),
        800_00,
        500_00,
    )
    refused = _post(client, f"{PAGE}/enable")
    assert refused.status_code == 409  # type: ignore[attr-defined]
    assert _testid(refused.text, "switch-error") == (  # type: ignore[attr-defined]
        "请先签署自动投标授权书，再开启自动投标。"
        if locale == "zh"
        else "Sign the auto-bid authorisation before switching auto-bid on."
    )
    assert _post(client, f"{PAGE}/authorisation").status_code == 303  # type: ignore[attr-defined]
    assert _post(client, f"{PAGE}/enable").status_code == 303  # type: ignore[attr-defined]
    on = client.get(PAGE).text
    assert _testid(on, "rule-status") == ("已开启" if locale == "zh" else "On")
    assert _testid(on, "rank") == ("第 1 位" if locale == "zh" else "No. 1")
    assert 'data-testid="signed"' in on and 'data-testid="disable"' in on
    assert _post(client, f"{PAGE}/disable").status_code == 303  # type: ignore[attr-defined]
    assert _testid(client.get(PAGE).text, "rule-status") == ("已关闭" if locale == "zh" else "Off")


def test_the_decisions_say_why_in_plain_words(
    client: TestClient, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=1_050_00)
    enable_rule(session_factory, investor, reserve=1_000_00)
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower))
    with session_factory.begin() as session:
        autobid.open_listing(session, loan_id, actor_id=None)
    sign_in(client, web_user(session_factory, investor))
    html = client.get(PAGE).text
    assert f'href="/invest/{loan_id}"' in html
    assert "余额不足：扣除保留金额后不够起投金额" in html and "未投标" in html
    english = client.get(PAGE, params={"lang": "en"}).text
    assert "Not enough balance above your reserve for a minimum bid" in english


def test_staff_see_the_queue_and_run_it_again(
    client: TestClient,
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
    make_web_user: Callable[..., WebUser],
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=3_000_00)
    enable_rule(session_factory, investor)
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.open_listing(session_factory, lending.listing_terms(borrower))
    sign_in_staff(client, make_web_user, Role.RISK_OFFICER)
    page = client.get("/staff/autobid")
    assert page.status_code == 200
    assert_translated(page.text, "zh")
    assert _testid(page.text, "enabled") == "1" and f'data-investor="{investor}"' in page.text
    assert 'href="/staff/autobid"' in client.get("/staff").text

    token = csrf_of(page.text)
    missing = client.post("/staff/autobid/run", data={"csrf_token": token, "loan_id": "abc"})
    assert missing.status_code == 404 and field_error(missing.text, "loan_id") == "未找到该借款项目。"
    ran = client.post("/staff/autobid/run", data={"csrf_token": token, "loan_id": str(loan_id)})
    assert ran.status_code == 200
    assert f"项目 #{loan_id}：新增自动投标 1 笔" in _testid(ran.text, "result")
    assert lending.balances(session_factory, investor).frozen == 1_000_00


def test_publishing_from_the_staff_page_runs_the_queue(
    client: TestClient,
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
    make_web_user: Callable[..., WebUser],
) -> None:
    investor = lending.make_investor(session_factory, bank, balance=3_000_00)
    enable_rule(session_factory, investor)
    borrower = lending.make_borrower(session_factory, bank)
    loan_id = lending.create_listing(session_factory, lending.listing_terms(borrower))
    sign_in_staff(client, make_web_user, Role.RISK_OFFICER)
    token = csrf_of(client.get(f"/staff/loans/{loan_id}").text)
    opened = client.post(f"/staff/loans/{loan_id}/open", data={"csrf_token": token}, follow_redirects=False)
    assert opened.status_code == 303
    assert lending.balances(session_factory, investor).frozen == 1_000_00


def test_the_page_needs_an_investor(
    client: TestClient, session_factory: sessionmaker[Session], make_web_user: Callable[..., WebUser]
) -> None:
    sign_in_staff(client, make_web_user, Role.FINANCE)
    assert client.get(PAGE).status_code == 403
    assert client.get("/staff/autobid").status_code == 200  # staff:reports:read reads the queue
    token = csrf_of(client.get("/staff/autobid").text)
    assert client.post("/staff/autobid/run", data={"csrf_token": token, "loan_id": "1"}).status_code == 403

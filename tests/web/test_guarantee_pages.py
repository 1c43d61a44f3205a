"""Guarantee pages: the guarantee company's 担保业务 (/guarantee), staff's 担保机构
(/staff/guarantors, with the form to set terms) and the guarantee block of the staff loan
page — in Chinese and English, after a real end-of-day compensation on DPD 2."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.guarantee import service as guarantee
from p2plend.identity.permissions import Role
from p2plend.money import format_cny
from tests import builders, lending
from tests.guarantee.test_compensation import LENT, first_installment
from tests.overdue import FIRST_DUE, close_each_day
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_lending_pages import web_user
from tests.web.test_pages import assert_translated
from tests.web.test_staff import sign_in_staff

MakeUser = Callable[..., WebUser]
PAGE = "/staff/guarantors"
GOOD = {"coverage": "principal", "trigger_dpd": "3", "accelerate_dpd": "60", "fee_rate": "0.015"}


@dataclass
class Book:
    sessions: sessionmaker[Session]
    bank: SimulatedBank
    guarantor: int
    loan_id: int
    borrower: int
    investors: list[int]


def _book(app: FastAPI, sessions: sessionmaker[Session], balance: int) -> Book:
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    guarantor = lending.make_guarantor(sessions, bank, balance)
    loan_id, borrower, investors = lending.guaranteed_loan(sessions, bank, guarantor, LENT)
    return Book(sessions, bank, guarantor, loan_id, borrower, investors)


@pytest.fixture
def book(app: FastAPI, session_factory: sessionmaker[Session]) -> Book:
    """A guarantor short of money (500.00) and its loan compensated on DPD 2, pro rata."""
    book = _book(app, session_factory, 50_000)
    close_each_day(session_factory, book.bank, FIRST_DUE + timedelta(days=2))
    return book


def _cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)
    assert found is not None, testid
    return found.group(1).strip()


def _field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{name}" >([^<]*)</p>', html)
    assert found is not None, f"no visible error under {name}"
    return found.group(1)


def _staff(client: TestClient, make_web_user: MakeUser, role: Role = Role.RISK_OFFICER) -> WebUser:
    client.cookies.clear()
    return sign_in_staff(client, make_web_user, role)


def _post(client: TestClient, data: dict[str, str]) -> Any:
    return client.post(PAGE, data={"csrf_token": csrf_of(client.get(PAGE).text), **data})


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_guarantee_company_sees_exposure_overdue_loans_and_shortfalls(
    client: TestClient, book: Book, locale: str
) -> None:
    p1, i1 = first_installment(book.sessions, book.loan_id)
    shortfall = p1 + i1 - 50_000
    sign_in(client, web_user(book.sessions, book.guarantor))
    page = client.get(f"/guarantee?lang={locale}")
    assert page.status_code == 200, page.text
    html = page.text
    assert_translated(html, locale)
    assert (
        'href="/guarantee"' in html
        and 'aria-current="page">' + ("担保业务" if locale == "zh" else "Guarantees") in html
    )
    assert _cell(html, "compensated") == format_cny(50_000)
    assert _cell(html, "shortfall") == format_cny(shortfall)
    assert _cell(html, "available") == format_cny(0)
    assert _cell(html, "loans") == "1"
    assert 'data-testid="shortfall-note"' in html
    overdue = re.search(rf'data-testid="overdue-{book.loan_id}"><span class="tag tag-overdue">([^<]*)<', html)
    assert overdue is not None
    assert overdue.group(1).startswith("逾期 2 天 · " if locale == "zh" else "2 days past due · ")
    assert ("履约中" if locale == "zh" else "Active") in html
    [row_id] = re.findall(r'data-compensation="(\d+)"', html)
    assert _cell(html, f"shortfall-{row_id}") == format_cny(shortfall)
    assert ("第 1 期" if locale == "zh" else "Installment 1") in html
    assert ("尚未与平台约定条款" if locale == "zh" else "No terms are recorded") in html


def test_the_guarantee_page_is_the_companys_only(client: TestClient, book: Book) -> None:
    assert client.get("/guarantee").status_code == 303  # sign in first
    sign_in(client, web_user(book.sessions, book.investors[0]))
    assert client.get("/guarantee").status_code == 403
    assert 'href="/guarantee"' not in client.get("/account").text


def test_a_company_with_nothing_guaranteed_sees_empty_tables(
    client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]
) -> None:
    bank = app.state.custodian
    guarantor = lending.make_guarantor(session_factory, bank, 0)
    sign_in(client, web_user(session_factory, guarantor))
    html = client.get("/guarantee").text
    assert "暂无担保项目" in html and "暂无代偿记录" in html and 'data-testid="shortfall-note"' not in html


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_staff_see_every_guarantor_and_the_compensations(
    client: TestClient, book: Book, make_web_user: MakeUser, locale: str
) -> None:
    _staff(client, make_web_user)
    page = client.get(f"{PAGE}?lang={locale}")
    assert page.status_code == 200, page.text
    assert_translated(page.text, locale)
    assert f'data-guarantor="{book.guarantor}"' in page.text and "浙江安信融资担保有限公司" in page.text
    assert 'data-testid="terms-form"' in page.text
    assert f'href="/staff/loans/{book.loan_id}"' in page.text  # the compensation links to its loan
    home = client.get(f"/staff?lang={locale}").text
    assert 'href="/staff/guarantors"' in home


def test_staff_who_only_read_see_no_form_and_others_none(
    client: TestClient, book: Book, make_web_user: MakeUser
) -> None:
    _staff(client, make_web_user, Role.FINANCE)  # staff:reports:read
    page = client.get(PAGE)
    assert page.status_code == 200 and 'data-testid="terms-form"' not in page.text
    refused = client.post(
        PAGE, data={"csrf_token": csrf_of(page.text), "guarantor_id": str(book.guarantor), **GOOD}
    )
    assert refused.status_code == 403
    _staff(client, make_web_user, Role.COLLECTOR)
    assert client.get(PAGE).status_code == 403
    assert 'href="/staff/guarantors"' not in client.get("/staff").text
    client.cookies.clear()
    sign_in(client, web_user(book.sessions, book.guarantor))
    assert client.get(PAGE).status_code == 403
    with book.sessions() as session:
        assert guarantee.terms_of(session, book.guarantor).agreed is False


def test_staff_set_terms_from_the_form(client: TestClient, book: Book, make_web_user: MakeUser) -> None:
    staff = _staff(client, make_web_user)
    form = client.get(f"{PAGE}?edit={book.guarantor}").text
    assert 'value="2"' in form and 'value="90"' in form  # the defaults fill the form
    saved = _post(client, {"guarantor_id": str(book.guarantor), **GOOD, "fee_rate": " 0.015 "})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{PAGE}?edit={book.guarantor}&notice=staff.guarantors.saved"
    shown = client.get(saved.headers["location"]).text
    assert "条款已保存" in shown and 'value="0.015"' in shown and "1.50%" in shown
    with book.sessions() as session:
        terms = guarantee.terms_of(session, book.guarantor)
        assert (terms.coverage, terms.trigger_dpd, terms.accelerate_dpd, terms.fee_rate) == (
            "principal",
            3,
            60,
            Decimal("0.015"),
        )
        actions = [
            (r.action, r.actor_id)
            for r in audit.list_records(session, object_type="user", object_id=book.guarantor)
            if r.action.startswith("guarantee.")
        ]
        assert actions == [("guarantee.terms_set", staff.user_id)]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"coverage": "everything"}, "coverage", "请选择担保范围"),
        ({"trigger_dpd": "abc"}, "trigger_dpd", "触发天数须为 1 至 3650"),
        ({"trigger_dpd": "0"}, "trigger_dpd", "触发天数须为 1 至 3650"),
        ({"accelerate_dpd": "3"}, "accelerate_dpd", "大于触发天数"),
        ({"accelerate_dpd": "99999"}, "accelerate_dpd", "大于触发天数"),
        ({"fee_rate": "1.5"}, "fee_rate", "小于 1 的小数"),
        ({"fee_rate": "1.5%"}, "fee_rate", "小于 1 的小数"),
        ({"fee_rate": ""}, "fee_rate", "小于 1 的小数"),
        ({"guarantor_id": "abc"}, "guarantor_id", "不是已开立存管账户的担保机构"),
        ({"guarantor_id": "999999"}, "guarantor_id", "不是已开立存管账户的担保机构"),
    ],
)
def test_bad_terms_show_under_their_field_and_change_nothing(
    client: TestClient, book: Book, make_web_user: MakeUser, change: dict[str, str], field: str, says: str
) -> None:
    _staff(client, make_web_user)
    refused = _post(client, {"guarantor_id": str(book.guarantor), **GOOD} | change)
    assert refused.status_code == 422, refused.text
    assert says in _field_error(refused.text, field)
    if field in ("trigger_dpd", "accelerate_dpd", "fee_rate"):  # what was typed is shown again
        assert f'id="f-{field}" name="{field}" type="text" value="{change[field]}"' in refused.text
    with book.sessions() as session:
        assert guarantee.terms_of(session, book.guarantor).agreed is False


def test_a_borrower_is_not_a_guarantor(client: TestClient, book: Book, make_web_user: MakeUser) -> None:
    _staff(client, make_web_user)
    refused = _post(client, {"guarantor_id": str(book.borrower), **GOOD})
    assert refused.status_code == 422
    assert "不是已开立存管账户的担保机构" in _field_error(refused.text, "guarantor_id")
    with book.sessions() as session:
        assert guarantee.terms_of(session, book.borrower).agreed is False


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_staff_loan_page_shows_the_guarantee_and_its_compensations(
    client: TestClient, book: Book, make_web_user: MakeUser, locale: str
) -> None:
    p1, i1 = first_installment(book.sessions, book.loan_id)
    _staff(client, make_web_user)
    page = client.get(f"/staff/loans/{book.loan_id}?lang={locale}")
    assert page.status_code == 200, page.text
    html = page.text
    assert_translated(html, locale)
    assert 'data-testid="guarantee"' in html
    assert _cell(html, "agreement-status") == ("履约中" if locale == "zh" else "Active")
    assert _cell(html, "loan-shortfall") == format_cny(p1 + i1 - 50_000)
    with book.sessions() as session:
        [row] = guarantee.compensations_of_loan(session, book.loan_id)
        assert _cell(html, "claim") == format_cny(row.principal)
    assert _cell(html, f"shortfall-{row.id}") == format_cny(row.shortfall)
    plain = lending.open_listing(
        book.sessions, lending.listing_terms(book.borrower, amount=100_000, months=3)
    )
    assert 'data-testid="guarantee"' not in client.get(f"/staff/loans/{plain}").text


def test_an_organisation_without_custody_is_listed_but_cannot_get_terms(
    client: TestClient, book: Book, make_web_user: MakeUser
) -> None:
    with book.sessions.begin() as session:
        pending = builders.make_organisation(session, roles=(Role.GUARANTOR,), name="未开户担保有限公司").id
    _staff(client, make_web_user)
    assert f'data-guarantor="{pending}"' in client.get(PAGE).text
    refused = _post(client, {"guarantor_id": str(pending), **GOOD})
    assert refused.status_code == 422 and _field_error(refused.text, "guarantor_id")

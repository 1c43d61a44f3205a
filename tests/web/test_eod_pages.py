"""Pages of the end-of-day batch and the overdue position: 日终批处理 and 逾期管理 for staff,
the staff loan page's overdue history, the borrower's 我的借款 and the investor's 我的投资."""

import re
from collections.abc import Callable
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from p2plend.jobs.models import EodRun
from p2plend.money import format_cny
from p2plend.servicing import service as servicing
from tests import lending
from tests.overdue import close, overdue_by, spent_loan
from tests.web.conftest import WebUser, csrf_of, next_totp_step, sign_in
from tests.web.test_lending_pages import field_error, web_user
from tests.web.test_pages import assert_translated

MakeUser = Callable[..., WebUser]
PAGE = "/staff/eod"


@pytest.fixture
def bank(app: FastAPI) -> SimulatedBank:
    custodian = app.state.custodian
    assert isinstance(custodian, SimulatedBank)
    return custodian


def _staff(client: TestClient, make_web_user: MakeUser, *roles: Role) -> WebUser:
    """A staff member signed in now (move the business clock first: sessions last hours)."""
    staff = make_web_user(staff=True, roles=roles)
    assert staff.authenticator is not None
    next_totp_step()
    client.cookies.clear()
    sign_in(client, staff, totp_code=staff.authenticator.at(clock.now()))
    return staff


def _as(client: TestClient, user: WebUser) -> None:
    client.cookies.clear()
    sign_in(client, user)


def _runs(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(EodRun)) or 0)


def _row(html: str, attribute: str, value: object) -> str:
    found = re.search(rf'<tr {attribute}="{value}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row {attribute}={value}"
    return found.group(1)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_batch_page_and_the_staff_home_links_in_both_languages(
    client: TestClient, make_web_user: MakeUser, locale: str
) -> None:
    _staff(client, make_web_user, Role.OPERATIONS)
    page = client.get(f"{PAGE}?lang={locale}")
    assert page.status_code == 200
    assert_translated(page.text, locale)
    assert ("尚无运行记录" if locale == "zh" else "No run yet") in page.text
    assert 'data-testid="run"' in page.text and 'action="/staff/eod"' in page.text
    # The tests' app runs no scheduler: the page says the batch is left to operations.
    assert "p2plend eod run" in page.text
    home = client.get(f"/staff?lang={locale}").text
    assert 'href="/staff/eod"' in home and 'href="/staff/overdue"' in home
    overdue = client.get(f"/staff/overdue?lang={locale}")
    assert overdue.status_code == 200
    assert_translated(overdue.text, locale)
    assert ("没有逾期借款" if locale == "zh" else "No loan is overdue") in overdue.text


def test_operations_run_the_batch_from_the_page(
    client: TestClient,
    make_web_user: MakeUser,
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
) -> None:
    spent_loan(session_factory, bank)
    lending.go_to(overdue_by(5))
    staff = _staff(client, make_web_user, Role.OPERATIONS)
    done = client.post(PAGE, data={"csrf_token": csrf_of(client.get(PAGE).text), "day": ""})
    assert done.status_code == 303 and done.headers["location"] == "/staff/eod?notice=staff.eod.done"
    page = client.get(done.headers["location"]).text
    assert "日终批处理已完成" in page
    row = _row(page, "data-date", "2027-01-02")
    assert "已关闭" in row and "分片 1/1" in row
    assert 'data-testid="last-closed">2027-01-02<' in page
    with session_factory() as session:
        [record] = audit.list_records(session, object_type="eod")
        assert (record.action, record.actor_id) == ("eod.run", staff.user_id)
    again = client.post(PAGE, data={"csrf_token": csrf_of(page), "day": "2027-01-02"})
    assert again.headers["location"] == "/staff/eod?notice=staff.eod.nothing"
    assert "没有需要关闭的营业日" in client.get(again.headers["location"]).text
    english = client.get("/staff/eod?lang=en").text
    assert "Closed" in english and "Auto-debit" in english and "Chunks 1/1" in english


@pytest.mark.parametrize(
    ("day", "says"),
    [
        ("2026-02-30", "请输入有效日期（YYYY-MM-DD）。"),
        ("next week", "请输入有效日期（YYYY-MM-DD）。"),
        ("2026-11-29", "该营业日尚未到来，不能关闭。"),
    ],
)
def test_refusals_are_shown_on_the_form_and_close_nothing(
    client: TestClient,
    make_web_user: MakeUser,
    session_factory: sessionmaker[Session],
    day: str,
    says: str,
) -> None:
    _staff(client, make_web_user, Role.OPERATIONS)
    response = client.post(PAGE, data={"csrf_token": csrf_of(client.get(PAGE).text), "day": day})
    assert response.status_code == 422
    assert field_error(response.text, "day") == says
    assert f'value="{day}"' in response.text  # what was typed stays in the form
    assert _runs(session_factory) == 0


def test_who_may_see_and_run(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    _staff(client, make_web_user, Role.RISK_OFFICER)  # reads (staff:risk:manage), may not run
    page = client.get(PAGE)
    assert page.status_code == 200 and 'data-testid="run"' not in page.text
    refused = client.post(PAGE, data={"csrf_token": csrf_of(page.text), "day": ""})
    assert refused.status_code == 403
    assert client.get("/staff/overdue").status_code == 200
    _staff(client, make_web_user, Role.COLLECTOR)  # neither
    assert client.get(PAGE).status_code == 403
    assert client.get("/staff/overdue").status_code == 403
    customer = make_web_user(verified=True)
    _as(client, customer)
    assert client.get(PAGE).status_code == 403 and client.get("/staff/overdue").status_code == 403
    client.cookies.clear()
    assert client.get(PAGE).headers["location"] == "/login?next=/staff/eod"
    assert _runs(session_factory) == 0


def _two_overdue_loans(session_factory: sessionmaker[Session], bank: SimulatedBank) -> tuple[int, int]:
    """Loan A due 2026-12-28 (35 days past due, M2) and loan B due 2027-01-20 (12 days, M1),
    the batch closing 2027-02-01 after closing 2027-01-31 (a day of history before)."""
    a = spent_loan(session_factory, bank, title="门店装修")
    lending.go_to(date(2026, 12, 20))
    b = spent_loan(session_factory, bank, title="设备采购")
    close(session_factory, bank, overdue_by(34))
    close(session_factory, bank, overdue_by(35))
    return a.loan_id, b.loan_id


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_overdue_page_by_stage_links_to_the_loan_with_its_history(
    client: TestClient,
    make_web_user: MakeUser,
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
    locale: str,
) -> None:
    a, b = _two_overdue_loans(session_factory, bank)
    _staff(client, make_web_user, Role.OPERATIONS)  # staff:reports:read, not a listing manager
    page = client.get(f"/staff/overdue?lang={locale}")
    assert page.status_code == 200
    assert_translated(page.text, locale)
    html = page.text
    as_of = "截至 2027-02-01 日终" if locale == "zh" else "As of the end of 2027-02-01"
    assert as_of in html
    total = "逾期借款 2 笔，本金 ¥24,000.00" if locale == "zh" else "2 overdue loan(s), principal ¥24,000.00"
    assert total in html
    assert "¥12,000.00" in _row(html, "data-stage", "m1") and ">1<" in _row(html, "data-stage", "m1")
    assert ">0<" in _row(html, "data-stage", "m3")
    row_a = _row(html, "data-loan", a)
    assert f'href="/staff/loans/{a}"' in row_a and "陈**" in row_a and ">35<" in row_a
    assert ("M2" in row_a) and (("关注" if locale == "zh" else "Special mention") in row_a)
    assert html.index(f'data-loan="{a}"') < html.index(f'data-loan="{b}"')  # longest overdue first
    only_m1 = client.get("/staff/overdue?stage=m1").text
    assert f'data-loan="{b}"' in only_m1 and f'data-loan="{a}"' not in only_m1
    assert client.get("/staff/overdue?stage=bogus").text.count("data-loan=") == 2  # unknown: all

    detail = client.get(f"/staff/loans/{a}?lang={locale}")
    assert detail.status_code == 200
    assert_translated(detail.text, locale)
    assert 'data-testid="dpd">35<' in detail.text and 'data-testid="stage">M2<' in detail.text
    assert 'data-testid="actions"' not in detail.text  # actions are the listing managers'
    history = detail.text[detail.text.index('data-testid="risk-history"') :]
    assert history.index("2027-02-01") < history.index("2027-01-31")  # newest first
    with session_factory() as session:
        owed = sum(r.penalty for r in servicing.schedule(session, a))
    assert format_cny(owed) in _row(history, "data-date", "2027-02-01")
    assert 'href="/staff/overdue"' in detail.text  # the way back, for a reader of 逾期管理


def test_a_listing_manager_sees_the_position_and_a_current_loan_has_no_history(
    client: TestClient, make_web_user: MakeUser, bank: SimulatedBank, session_factory: sessionmaker[Session]
) -> None:
    loan = spent_loan(session_factory, bank)
    close(session_factory, bank, overdue_by(-1))  # the day before the due date: current
    _staff(client, make_web_user, Role.RISK_OFFICER)
    page = client.get(f"/staff/loans/{loan.loan_id}").text
    assert 'data-testid="dpd">0<' in page and 'data-testid="stage">正常<' in page
    assert "该借款没有逾期记录。" in page
    _staff(client, make_web_user, Role.COLLECTOR)
    assert client.get(f"/staff/loans/{loan.loan_id}").status_code == 403


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_borrower_sees_days_past_due_stage_and_penalty(
    client: TestClient,
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
    locale: str,
) -> None:
    loan = spent_loan(session_factory, bank)
    for n in (4, 5):
        close(session_factory, bank, overdue_by(n))
    _as(client, web_user(session_factory, loan.borrower))
    listing = client.get(f"/borrow/loans?lang={locale}")
    assert listing.status_code == 200
    assert_translated(listing.text, locale)
    tag = "逾期 5 天 · M1" if locale == "zh" else "5 days past due · M1"
    assert tag in listing.text
    page = client.get(f"/borrow/loans/{loan.loan_id}?lang={locale}")
    assert page.status_code == 200
    assert_translated(page.text, locale)
    with session_factory() as session:
        due = servicing.amount_due(session, loan.loan_id)
    assert due.penalty > 0
    assert 'data-testid="dpd">5<' in page.text and 'data-testid="stage">M1<' in page.text
    assert f'data-testid="penalty">{format_cny(due.penalty)}<' in page.text
    assert f'data-testid="due-penalty">{format_cny(due.penalty)}<' in page.text
    assert ("罚息按日计收" if locale == "zh" else "penalty interest accrues daily") in page.text


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_holder_sees_the_overdue_status_of_each_holding(
    client: TestClient,
    bank: SimulatedBank,
    session_factory: sessionmaker[Session],
    locale: str,
) -> None:
    overdue = spent_loan(session_factory, bank, title="逾期的借款")
    # The same investor also holds a loan that is current: disbursed later, due later.
    lending.go_to(date(2026, 12, 20))
    borrower = lending.make_borrower(session_factory, bank)
    holder = overdue.investors[0]
    lending.deposit(session_factory, bank, holder, lending.card_of(session_factory, holder), 100_000)
    [other] = lending.make_investors(session_factory, bank, [100_000])
    current = lending.funded_loan(
        session_factory,
        bank,
        lending.listing_terms(borrower, amount=200_000, title="按时还款"),
        [(holder, 100_000), (other, 100_000)],
    )
    close(session_factory, bank, overdue_by(12))
    _as(client, web_user(session_factory, holder))
    page = client.get(f"/portfolio?lang={locale}")
    assert page.status_code == 200
    assert_translated(page.text, locale)
    cell = re.search(rf'data-testid="overdue-{overdue.loan_id}">(.*?)</td>', page.text, re.S)
    assert cell is not None
    assert ("逾期 12 天 · M1" if locale == "zh" else "12 days past due · M1") in cell.group(1)
    fine = re.search(rf'data-testid="overdue-{current}">(.*?)</td>', page.text, re.S)
    assert fine is not None and fine.group(1) == ("未逾期" if locale == "zh" else "Not overdue")
    assert ("截至 2027-01-09 日终" if locale == "zh" else "As of the end of 2027-01-09") in page.text

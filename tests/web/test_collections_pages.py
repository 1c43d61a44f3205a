"""催收 and 核销 pages: 我的催收, cases and assignment, the case and its action form,
strategies, the KPI report, the overdue analysis, write-off by two people — in Chinese and
English — and 已核销 on the holder's portfolio."""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.collections import service as collections
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.identity.permissions import Role
from tests import collecting, overdue
from tests.overdue import overdue_by
from tests.web.conftest import WebUser, csrf_of, sign_in
from tests.web.test_lending_pages import web_user
from tests.web.test_pages import assert_translated
from tests.web.test_staff import sign_in_staff

MakeUser = Callable[..., WebUser]


@dataclass
class Floor:
    client: TestClient
    sessions: sessionmaker[Session]
    bank: SimulatedBank
    loan: overdue.OverdueLoan
    case_id: int


@pytest.fixture
def floor(client: TestClient, app: FastAPI, session_factory: sessionmaker[Session]) -> Floor:
    """A loan 12 days overdue, its case open and unassigned (M1 is worked by reminders)."""
    bank = app.state.custodian
    assert isinstance(bank, SimulatedBank)
    loan = overdue.spent_loan(session_factory, bank, title="门店装修")
    overdue.close(session_factory, bank, overdue_by(12))
    case = collecting.case_of(session_factory, loan.loan_id)
    assert case is not None
    return Floor(client, session_factory, bank, loan, case.id)


def _post(client: TestClient, page: str, action: str, data: dict[str, str]) -> object:
    return client.post(action, data={"csrf_token": csrf_of(client.get(page).text), **data})


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_every_collections_page_renders_in_both_languages(
    floor: Floor, make_web_user: MakeUser, locale: str
) -> None:
    staff = sign_in_staff(floor.client, make_web_user, Role.COLLECTOR, Role.RISK_OFFICER, Role.FINANCE)
    with floor.sessions.begin() as session:
        collections.assign(session, actor_id=None, case_id=floor.case_id, collector_id=staff.user_id)
        collections.log_action(
            session,
            actor_id=staff.user_id,
            case_id=floor.case_id,
            action=collections.ActionInput("promise_to_pay", amount=50_000, due_on=overdue_by(14)),
        )
    pages = [
        "/staff",
        "/staff/collections/queue",
        "/staff/collections/cases",
        "/staff/collections/cases?status=all&stage=m1&collector=none",
        f"/staff/collections/cases/{floor.case_id}",
        "/staff/collections/strategies",
        "/staff/collections/kpi",
        "/staff/collections/kpi?from=2026-12-01&to=2027-01-09",
        "/staff/collections/analysis",
        "/staff/collections/analysis?dimension=city",
        "/staff/collections/analysis?dimension=industry",
        "/staff/write-offs",
    ]
    for page in pages:
        response = floor.client.get(page, params={"lang": locale})
        assert response.status_code == 200, f"{page}: {response.status_code}"
        assert_translated(response.text, locale)
    home = floor.client.get("/staff").text
    for link in (
        "/staff/collections/queue",
        "/staff/collections/cases",
        "/staff/collections/kpi",
        "/staff/write-offs",
    ):
        assert f'href="{link}"' in home
    queue = floor.client.get("/staff/collections/queue?lang=zh").text
    assert (
        "门店装修" in queue and "已安排" in queue
    )  # a promise is pending: the next contact is after its date


def test_a_collector_works_the_case_from_the_queue(floor: Floor, make_web_user: MakeUser) -> None:
    collector = sign_in_staff(floor.client, make_web_user, Role.COLLECTOR)
    with floor.sessions.begin() as session:
        collections.assign(session, actor_id=None, case_id=floor.case_id, collector_id=collector.user_id)
    queue = floor.client.get("/staff/collections/queue").text
    assert f'href="/staff/collections/cases/{floor.case_id}"' in queue and "应联系" in queue
    page = f"/staff/collections/cases/{floor.case_id}"
    detail = floor.client.get(page).text
    assert 'data-testid="action-form"' in detail and 'data-testid="assign-form"' not in detail
    assert "+86" in detail  # a collector has need-to-know: the phone in clear
    done = _post(
        floor.client, page, f"{page}/actions", {"kind": "call", "detail": "reached", "note": "答应周五还款"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("notice=coll.notice.logged")  # type: ignore[attr-defined]
    promised = _post(
        floor.client,
        page,
        f"{page}/actions",
        {"kind": "promise_to_pay", "amount": "500.00", "due_on": overdue_by(15).isoformat()},
    )
    assert promised.status_code == 303  # type: ignore[attr-defined]
    after = floor.client.get(f"{page}?notice=coll.notice.logged").text
    assert "已记录。" in after and "答应周五还款" in after and "¥500.00" in after and "待履行" in after
    bad = _post(
        floor.client, page, f"{page}/actions", {"kind": "promise_to_pay", "amount": "abc", "due_on": ""}
    )
    assert bad.status_code == 422  # type: ignore[attr-defined]
    html = bad.text  # type: ignore[attr-defined]
    assert re.search(r'id="e-amount" >[^<]+<', html) and re.search(r'id="e-due_on" >[^<]+<', html)
    outcome = _post(floor.client, page, f"{page}/actions", {"kind": "call", "detail": ""})
    assert outcome.status_code == 422 and 'id="e-detail" >' in outcome.text  # type: ignore[attr-defined]
    with floor.sessions() as session:
        detail_now = collections.detail(session, floor.case_id, reveal_contact=False)
        assert [(a.kind, a.detail) for a in detail_now.actions] == [
            ("promise_to_pay", ""),
            ("call", "reached"),
        ]
    assigned = _post(floor.client, page, f"{page}/assign", {"collector_id": str(collector.user_id)})
    assert assigned.status_code == 403  # type: ignore[attr-defined]


def test_a_manager_assigns_from_the_list_and_the_case(floor: Floor, make_web_user: MakeUser) -> None:
    first = make_web_user(staff=True, roles=(Role.COLLECTOR,))
    second = make_web_user(staff=True, roles=(Role.COLLECTOR,))
    sign_in_staff(floor.client, make_web_user, Role.RISK_OFFICER)
    listing = floor.client.get("/staff/collections/cases").text
    assert f'action="/staff/collections/cases/{floor.case_id}/assign"' in listing
    done = _post(
        floor.client,
        "/staff/collections/cases",
        f"/staff/collections/cases/{floor.case_id}/assign",
        {"collector_id": str(first.user_id), "back": "list"},
    )
    assert (
        done.status_code == 303
        and done.headers["location"] == "/staff/collections/cases?notice=coll.notice.assigned"
    )  # type: ignore[attr-defined]
    page = f"/staff/collections/cases/{floor.case_id}"
    moved = _post(
        floor.client, page, f"{page}/assign", {"collector_id": str(second.user_id), "reason": "调整"}
    )
    assert moved.status_code == 303  # type: ignore[attr-defined]
    refused = _post(floor.client, page, f"{page}/assign", {"collector_id": "abc"})
    assert refused.status_code == 422 and 'id="e-collector_id" >' in refused.text  # type: ignore[attr-defined]
    with floor.sessions() as session:
        assert collections.summary(session, floor.case_id).collector_id == second.user_id
    detail = floor.client.get(page).text
    assert "人工分案" in detail and "调整" in detail
    mine = floor.client.get(f"/staff/collections/cases?collector={second.user_id}").text
    assert f'data-case="{floor.case_id}"' in mine
    assert 'data-testid="cases-empty"' in floor.client.get("/staff/collections/cases?collector=none").text


def test_strategies_are_set_on_their_page(floor: Floor, make_web_user: MakeUser) -> None:
    collector = make_web_user(staff=True, roles=(Role.COLLECTOR,))
    sign_in_staff(floor.client, make_web_user, Role.RISK_OFFICER)
    page = "/staff/collections/strategies"
    form = {
        "treatment": "phone",
        "reminder_sms": "1",
        "reminder_every_days": "5",
        "assignment": "by_load",
        "team": str(collector.user_id),
        "contact_every_days": "2",
    }
    saved = _post(floor.client, page, f"{page}/m1", form)
    assert saved.status_code == 303  # type: ignore[attr-defined]
    with floor.sessions() as session:
        m1 = collections.strategy_of(session, "m1")
    assert (m1.treatment, m1.channels, m1.reminder_every_days, m1.assignment, m1.team) == (
        "phone",
        ("sms",),
        5,
        "by_load",
        (collector.user_id,),
    )
    for bad in ({"reminder_every_days": "0"}, {"reminder_every_days": "x"}, {"assignment": "random"}):
        refused = _post(floor.client, page, f"{page}/m1", form | bad)
        assert refused.status_code == 422, bad  # type: ignore[attr-defined]
        assert "请检查标出的项目" in refused.text  # type: ignore[attr-defined]
    floor.client.cookies.clear()  # sign out: the next person signs in
    sign_in_staff(floor.client, make_web_user, Role.COLLECTOR)
    read_only = floor.client.get(page).text
    assert 'action="/staff/collections/strategies/m1"' not in read_only and "按工作量" in read_only
    assert _post(floor.client, page, f"{page}/m1", form).status_code == 403  # type: ignore[attr-defined]


def test_kpi_and_analysis_pages_show_the_figures(floor: Floor, make_web_user: MakeUser) -> None:
    sign_in_staff(floor.client, make_web_user, Role.OPERATIONS)  # staff:reports:read
    kpi = floor.client.get("/staff/collections/kpi?from=2026-12-01&to=2027-01-09")
    assert kpi.status_code == 200
    assert re.search(r'<tr data-stage="m1">.*?data-testid="rate">0\.00%<', kpi.text, re.S)
    bad = floor.client.get("/staff/collections/kpi?from=2027-01-09&to=2026-12-01")
    assert bad.status_code == 422 and "报表期间" in bad.text
    assert floor.client.get("/staff/collections/kpi?from=soon").status_code == 422
    analysis = floor.client.get("/staff/collections/analysis?dimension=region").text
    assert re.search(r'<tr data-key="11">\s*<td>北京市</td>', analysis)
    assert 'data-testid="overdue-rate">100.00%<' in analysis
    assert floor.client.get("/staff/collections/queue").status_code == 403  # not a collector


def test_a_write_off_needs_a_second_person_and_holders_see_it(
    floor: Floor, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    sign_in_staff(floor.client, make_web_user, Role.RISK_OFFICER, Role.FINANCE)  # proposes, cannot approve
    page = "/staff/write-offs"
    missing = _post(floor.client, page, page, {"loan_id": "", "reason": "proof_of_loss", "proof": "x"})
    assert missing.status_code == 422 and 'id="e-loan_id" >' in missing.text  # type: ignore[attr-defined]
    early = _post(floor.client, page, page, {"loan_id": str(floor.loan.loan_id), "reason": "dpd_over_180"})
    assert early.status_code == 409 and "不符合核销条件" in early.text  # type: ignore[attr-defined]
    no_proof = _post(
        floor.client, page, page, {"loan_id": str(floor.loan.loan_id), "reason": "proof_of_loss"}
    )
    assert no_proof.status_code == 422 and 'id="e-proof" >' in no_proof.text  # type: ignore[attr-defined]
    proposed = _post(
        floor.client,
        page,
        page,
        {"loan_id": str(floor.loan.loan_id), "reason": "proof_of_loss", "proof": "法院终结执行裁定书"},
    )
    assert proposed.status_code == 303  # type: ignore[attr-defined]
    listing = floor.client.get(page).text
    assert "须由他人审批" in listing and "待审批" in listing
    [write_off] = _write_offs(session_factory)
    same = _post(floor.client, page, f"{page}/{write_off.id}/approve", {"note": ""})
    assert same.status_code == 403 and "四眼原则" in same.text  # type: ignore[attr-defined]

    floor.client.cookies.clear()
    sign_in_staff(floor.client, make_web_user, Role.FINANCE)
    approved = _post(floor.client, page, f"{page}/{write_off.id}/approve", {"note": "同意"})
    assert approved.status_code == 303  # type: ignore[attr-defined]
    assert "已批准核销。" in floor.client.get(f"{page}?notice=writeoff.notice.approved").text

    holder = floor.loan.investors[0]
    floor.client.cookies.clear()
    sign_in(floor.client, web_user(session_factory, holder))
    portfolio = floor.client.get("/portfolio").text
    assert f'data-testid="written-off-{floor.loan.loan_id}"' in portfolio and "已核销" in portfolio
    english = floor.client.get("/portfolio?lang=en").text
    assert "Written off" in english
    assert floor.client.get(page).status_code == 403  # a customer


def _write_offs(session_factory: sessionmaker[Session]) -> list[collections.WriteOffView]:
    with session_factory() as session:
        return collections.write_offs(session)

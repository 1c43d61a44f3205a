"""The staff page of the working-day calendar (工作日历): /staff/calendar."""

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.identity.permissions import Role
from p2plend.workcalendar import service as workcalendar
from tests.web.conftest import WebUser, csrf_of, next_totp_step, sign_in
from tests.web.test_pages import assert_translated

MakeUser = Callable[..., WebUser]
PAGE = "/staff/calendar"


def _staff(client: TestClient, make_web_user: MakeUser, *roles: Role) -> WebUser:
    staff = make_web_user(staff=True, roles=roles or (Role.OPERATIONS,))
    assert staff.authenticator is not None
    next_totp_step()
    client.cookies.clear()
    sign_in(client, staff, totp_code=staff.authenticator.at(clock.now()))
    return staff


def _post(client: TestClient, action: str, data: dict[str, str], page: str = PAGE) -> Any:
    return client.post(action, data={"csrf_token": csrf_of(client.get(page).text), **data})


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_page_lists_the_year_in_both_languages(
    client: TestClient, make_web_user: MakeUser, locale: str
) -> None:
    _staff(client, make_web_user)
    page = client.get(f"{PAGE}?year=2026&lang={locale}")
    assert page.status_code == 200
    assert_translated(page.text, locale)
    assert "2026-10-01" in page.text and "National Day" in page.text and "调休上班" in page.text
    assert ("国庆" not in page.text) or locale == "zh"
    assert ("节假日库" if locale == "zh" else "Holiday library") in page.text
    empty = client.get(f"{PAGE}?year=2027&lang={locale}")
    assert empty.status_code == 200 and ("本年没有" if locale == "zh" else "No holiday") in empty.text
    home = client.get(f"/staff?lang={locale}").text
    assert 'href="/staff/calendar"' in home
    assert client.get(f"{PAGE}?year=1999").status_code == 400  # the bad-request page


def test_staff_set_a_day_and_remove_it(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    staff = _staff(client, make_web_user)
    saved = _post(client, PAGE, {"day": "2027-10-01", "kind": "holiday", "name": "国庆节"})
    assert saved.status_code == 303
    assert saved.headers["location"].startswith("/staff/calendar?year=2027")
    page = client.get(saved.headers["location"]).text
    assert "已保存该日期" in page and "2027-10-01" in page and "国庆节" in page and "员工设置" in page
    removed = _post(client, "/staff/calendar/2027-10-01/remove", {}, page="/staff/calendar?year=2027")
    assert removed.status_code == 303
    assert "2027-10-01" not in client.get("/staff/calendar?year=2027").text
    with session_factory() as session:
        assert workcalendar.is_working_day(session, date(2027, 10, 1))
        records = audit.list_records(session, object_type="calendar_day", object_id="2027-10-01")
        assert [(r.action, r.actor_id) for r in records] == [
            ("calendar.day_removed", staff.user_id),
            ("calendar.day_set", staff.user_id),
        ]
    again = _post(client, "/staff/calendar/2027-10-01/remove", {}, page="/staff/calendar?year=2027")
    assert again.status_code == 404


def test_refusals_are_shown_on_the_form_and_change_nothing(
    client: TestClient, make_web_user: MakeUser, session_factory: sessionmaker[Session]
) -> None:
    _staff(client, make_web_user)
    cases = [
        ({"day": "2027-02-30", "kind": "holiday", "name": "x"}, "请输入有效日期"),
        ({"day": "", "kind": "holiday", "name": "x"}, "请输入有效日期"),
        ({"day": "2027-03-01", "kind": "sometimes", "name": "x"}, "请选择工作日或休息日"),
        ({"day": "1999-12-31", "kind": "holiday", "name": "x"}, "仅支持 2000 年至 2100 年"),
        ({"day": "2027-03-01", "kind": "workday", "name": "x" * 65}, "名称须为 1 至 64 个字符"),
        ({"day": "2027-03-01", "kind": "workday", "name": "  "}, "名称须为 1 至 64 个字符"),
    ]
    for data, message in cases:
        response = _post(client, PAGE, data)
        assert response.status_code == 422, data
        assert message in response.text and 'aria-invalid="true"' in response.text, data
        assert data["name"] in response.text or not data["name"].strip()  # what was typed is kept
    with session_factory() as session:
        assert workcalendar.overrides(session, 2027) == []
        assert audit.list_records(session, object_type="calendar_day") == []


def test_other_staff_are_kept_out(client: TestClient, make_web_user: MakeUser) -> None:
    _staff(client, make_web_user, Role.ADMIN)
    assert client.get(PAGE).status_code == 403
    assert 'href="/staff/calendar"' not in client.get("/staff").text
    token = csrf_of(client.get("/staff").text)
    denied = client.post(
        PAGE, data={"csrf_token": token, "day": "2027-10-01", "kind": "holiday", "name": "x"}
    )
    assert denied.status_code == 403
    assert client.post("/staff/calendar/2026-10-01/remove", data={"csrf_token": token}).status_code == 403

"""Working-day calendar API (工作日历): staff with staff:operations:manage only."""

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.identity.permissions import Role
from p2plend.workcalendar import service as workcalendar
from tests.api.helpers import sign_in
from tests.builders import make_staff, make_user

OPERATIONS_PHONE, ADMIN_PHONE, CUSTOMER_PHONE = "13700137001", "13600136001", "13800138001"
URL = "/api/v1/staff/calendar"


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def operations(api: TestClient, session_factory: sessionmaker[Session]) -> dict[str, str]:
    with session_factory() as session:
        _, totp = make_staff(session, roles=[Role.OPERATIONS], phone=OPERATIONS_PHONE)
        session.commit()
    return sign_in(api, OPERATIONS_PHONE, totp=totp)


def test_a_year_lists_its_overrides_and_working_days_per_month(
    api: TestClient, operations: dict[str, str]
) -> None:
    year = api.get(URL, headers=operations, params={"year": 2026})
    assert year.status_code == 200, year.text
    body = year.json()
    assert body["year"] == 2026 and len(body["working_days_per_month"]) == 12
    days = {o["day"]: o for o in body["overrides"]}
    assert days["2026-10-01"] | {"updated_at": None} == {
        "day": "2026-10-01",
        "is_workday": False,
        "name": "National Day",
        "source": "library",
        "updated_at": None,
        "updated_by": None,
    }
    assert days["2026-10-10"]["is_workday"] is True and days["2026-10-10"]["name"] == "调休上班"
    # October 2026: 22 weekdays, 5 of them National Day, plus Saturday the 10th.
    assert body["working_days_per_month"][9] == 22 - 5 + 1
    default = api.get(URL, headers=operations).json()
    assert default["year"] == 2026  # the business date's year
    later = api.get(URL, headers=operations, params={"year": 2027}).json()
    assert later["overrides"] == [] and later["working_days_per_month"][0] == 21
    for bad in ("1999", "2101", "abc"):
        assert api.get(URL, headers=operations, params={"year": bad}).status_code == 422, bad


def test_set_and_remove_a_day(
    api: TestClient, operations: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    put = api.put(f"{URL}/2027-10-01", headers=operations, json={"is_workday": False, "name": "国庆节"})
    assert put.status_code == 200, put.text
    assert put.json()["source"] == "staff" and put.json()["name"] == "国庆节"
    assert api.get(URL, headers=operations, params={"year": 2027}).json()["working_days_per_month"][9] == 20
    again = api.put(f"{URL}/2027-10-01", headers=operations, json={"is_workday": False, "name": "国庆节假期"})
    assert again.status_code == 200 and again.json()["name"] == "国庆节假期"
    gone = api.delete(f"{URL}/2027-10-01", headers=operations)
    assert gone.status_code == 204
    assert api.delete(f"{URL}/2027-10-01", headers=operations).json()["error"]["code"] == (
        "calendar_override_not_found"
    )
    with session_factory() as session:
        assert workcalendar.is_working_day(session, date(2027, 10, 1))
        actions = [r.action for r in audit.list_records(session, object_type="calendar_day")]
        assert actions == ["calendar.day_removed", "calendar.day_set", "calendar.day_set"]


def test_bad_input_is_refused_with_a_stable_code_and_changes_nothing(
    api: TestClient, operations: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    cases = [
        ("1999-12-31", {"is_workday": False, "name": "元旦"}, "calendar_day_out_of_range"),
        ("2101-01-01", {"is_workday": True, "name": "调休上班"}, "calendar_day_out_of_range"),
        ("2027-01-01", {"is_workday": False, "name": "x" * 65}, "invalid_calendar_name"),
        ("2027-01-01", {"is_workday": False, "name": " "}, "invalid_calendar_name"),
    ]
    for day, body, code in cases:
        response = api.put(f"{URL}/{day}", headers=operations, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
    for day, body in [
        ("2027-02-30", {"is_workday": False, "name": "元旦"}),
        ("2027-01-01", {"is_workday": "no", "name": "元旦"}),
        ("2027-01-01", {"is_workday": False}),
        ("2027-01-01", {"is_workday": False, "name": "元旦", "extra": 1}),
    ]:
        assert api.put(f"{URL}/{day}", headers=operations, json=body).status_code == 422, body
    with session_factory() as session:
        assert workcalendar.overrides(session, 2027) == []
        assert audit.list_records(session, object_type="calendar_day") == []


def test_only_operations_staff_keep_the_calendar(
    api: TestClient, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        _, admin_totp = make_staff(session, roles=[Role.ADMIN], phone=ADMIN_PHONE)
        make_user(session, phone=CUSTOMER_PHONE)
        session.commit()
    assert api.get(URL).status_code == 401
    for headers in (sign_in(api, CUSTOMER_PHONE), sign_in(api, ADMIN_PHONE, totp=admin_totp)):
        assert api.get(URL, headers=headers).status_code == 403
        put = api.put(f"{URL}/2027-10-01", headers=headers, json={"is_workday": False, "name": "国庆节"})
        assert put.status_code == 403
        assert api.delete(f"{URL}/2026-10-01", headers=headers).status_code == 403
    with session_factory() as session:
        assert workcalendar.overrides(session, 2027) == []
        assert not workcalendar.is_working_day(session, date(2026, 10, 1))

"""``p2plend calendar show|set``: the working-day calendar from the console."""

from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.workcalendar import service as workcalendar
from tests.console import Run


def test_show_lists_a_years_overrides_and_working_days(p2plend: Run) -> None:
    code, out = p2plend("calendar", "show", "--year", "2026")
    assert code == 0, out
    lines = out.splitlines()
    assert "2026-10-01  Thu  day off  library  National Day" in lines
    assert "2026-10-10  Sat  workday  library  调休上班" in lines
    assert lines[-1].startswith("working days 2026: ") and " 10:18 " in lines[-1]
    code, default = p2plend("calendar", "show")
    assert code == 0 and default == out  # the business date is in 2026
    code, out = p2plend("calendar", "show", "--year", "2027")
    assert code == 0 and out.splitlines()[0].startswith("2027: no holiday or make-up day recorded")
    assert out.splitlines()[-1].startswith("working days 2027: 261 (1:21 2:20 ")


def test_set_a_holiday_and_a_make_up_day(p2plend: Run, session_factory: sessionmaker[Session]) -> None:
    code, out = p2plend("calendar", "set", "2027-10-01", "--holiday", "--name", "国庆节")
    assert (code, out.strip()) == (0, "2027-10-01 is a day off: 国庆节")
    code, out = p2plend("calendar", "set", "2027-09-26", "--workday")
    assert (code, out.strip()) == (0, "2027-09-26 is a working day: 调休上班")
    code, out = p2plend("calendar", "show", "--year", "2027")
    assert "2027-09-26  Sun  workday  staff    调休上班" in out.splitlines()
    with session_factory() as session:
        assert not workcalendar.is_working_day(session, date(2027, 10, 1))
        assert workcalendar.is_working_day(session, date(2027, 9, 26))
        records = audit.list_records(session, object_type="calendar_day")
        assert [(r.action, r.actor_id) for r in records] == [("calendar.day_set", None)] * 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("2027-10-01",), "exactly one of --workday and --holiday"),
        (("2027-10-01", "--workday", "--holiday"), "exactly one of --workday and --holiday"),
        (("2027-02-30", "--holiday"), "Invalid value for 'day'"),
        (("tomorrow", "--holiday"), "Invalid value for 'day'"),
        (("1999-12-31", "--holiday"), "calendar_day_out_of_range"),
        (("2027-10-01", "--holiday", "--name", "x" * 65), "invalid_calendar_name"),
        (("2027-10-01", "--holiday", "--name", " "), "invalid_calendar_name"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    p2plend: Run, session_factory: sessionmaker[Session], args: tuple[str, ...], says: str
) -> None:
    code, out = p2plend("calendar", "set", *args)
    assert code == 2 and says in out, out
    with session_factory() as session:
        assert workcalendar.overrides(session, 2027) == [] and workcalendar.overrides(session, 1999) == []
        assert audit.list_records(session, object_type="calendar_day") == []


def test_show_refuses_a_year_out_of_range(p2plend: Run) -> None:
    for year in ("1999", "2101", "soon"):
        code, out = p2plend("calendar", "show", "--year", year)
        assert code == 2 and "--year" in out, out

"""The working-day calendar (工作日历, DOMAIN.md §1): seeded from chinesecalendar, kept by staff."""

from datetime import date, timedelta

import chinese_calendar
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from p2plend.audit import service as audit
from p2plend.identity.permissions import Role
from p2plend.workcalendar import service as workcalendar
from p2plend.workcalendar.errors import (
    CalendarDayOutOfRange,
    CalendarOverrideNotFound,
    InvalidCalendarName,
)
from p2plend.workcalendar.models import WorkingDayOverride
from tests import builders


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _staff(session_factory: sessionmaker[Session]) -> int:
    with session_factory.begin() as session:
        user, _ = builders.make_staff(session, roles=[Role.OPERATIONS])
        return user.id


def _snapshot(session: Session) -> list[tuple[date, bool, str, str]]:
    return [
        (r.day, r.is_workday, r.name, r.source)
        for r in session.scalars(select(WorkingDayOverride).order_by(WorkingDayOverride.day))
    ]


def test_national_day_2026_is_seeded_as_the_library_has_it(session: Session) -> None:
    """2026: Oct 1–7 off (Thu–Wed) and the make-up Sundays/Saturdays Sep 20 and Oct 10 worked,
    exactly as chinesecalendar says; Oct 8–9 are ordinary working days."""
    for day in _days(date(2026, 9, 19), date(2026, 10, 18)):
        assert workcalendar.is_working_day(session, day) == chinese_calendar.is_workday(day), day
    assert [
        d for d in _days(date(2026, 10, 1), date(2026, 10, 8)) if not workcalendar.is_working_day(session, d)
    ] == [date(2026, 10, n) for n in range(1, 8)]
    make_up = [o for o in workcalendar.overrides(session, 2026) if o.is_workday]
    assert date(2026, 9, 20) in [o.day for o in make_up] and date(2026, 10, 10) in [o.day for o in make_up]
    assert all(o.day.weekday() >= 5 and o.name == "调休上班" and o.source == "library" for o in make_up)
    national = {o.day: o for o in workcalendar.overrides(session, 2026) if o.name == "National Day"}
    assert sorted(national) == [date(2026, 10, n) for n in (1, 2, 5, 6, 7)]  # Oct 3–4: a weekend anyway


def test_the_seed_matches_the_library_for_every_day_2004_to_2026(session: Session) -> None:
    flags = {r.day: r for r in session.scalars(select(WorkingDayOverride))}
    assert len(flags) == 557
    for day in _days(date(2004, 1, 1), date(2026, 12, 31)):
        library = chinese_calendar.is_workday(day)
        assert workcalendar.is_working_day(session, day) == library, day
        row = flags.get(day)
        assert (row is not None) == (library != (day.weekday() < 5)), day
        if row is not None and not row.is_workday:
            assert row.name == chinese_calendar.get_holiday_detail(day)[1], day


def test_a_year_without_overrides_follows_monday_to_friday(session: Session) -> None:
    assert workcalendar.overrides(session, 2027) == []
    assert workcalendar.is_working_day(session, date(2027, 10, 1))  # a Friday: no holiday recorded yet
    assert not workcalendar.is_working_day(session, date(2027, 10, 2))  # Saturday
    assert workcalendar.working_days_by_month(session, 2027) == [
        21,
        20,
        23,
        22,
        21,
        22,
        22,
        22,
        22,
        21,
        22,
        23,
    ]
    assert workcalendar.working_days_after(session, date(2027, 3, 5), 7) == 5  # Sat 6 … Fri 12


def test_working_days_after_and_add_working_days_across_national_day(session: Session) -> None:
    start = date(2026, 9, 20)  # Sunday, itself a make-up workday: not counted (the days *after* it)
    brute = sum(
        1
        for d in _days(start + timedelta(days=1), start + timedelta(days=35))
        if chinese_calendar.is_workday(d)
    )
    assert workcalendar.working_days_after(session, start, 35) == brute == 20
    assert workcalendar.working_days_after(session, start, 36) == 21
    assert workcalendar.working_days_after(session, start, 0) == 0
    assert workcalendar.add_working_days(session, date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert workcalendar.add_working_days(session, date(2026, 10, 9), 1) == date(2026, 10, 10)  # 调休 Saturday
    assert workcalendar.add_working_days(session, date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert workcalendar.add_working_days(session, date(2026, 10, 3), 0) == date(2026, 10, 3)
    twentieth = workcalendar.add_working_days(session, start, 20)
    assert twentieth == date(2026, 10, 23)  # Friday; the window of 35 days runs on over the weekend
    assert workcalendar.working_days_after(session, start, (twentieth - start).days) == 20
    far = workcalendar.add_working_days(session, date(2026, 1, 1), 600)
    assert workcalendar.working_days_after(session, date(2026, 1, 1), (far - date(2026, 1, 1)).days) == 600
    assert workcalendar.is_working_day(session, far)


def test_staff_set_and_remove_a_day_and_both_are_audited(session_factory: sessionmaker[Session]) -> None:
    staff_id = _staff(session_factory)
    day = date(2027, 10, 1)
    with session_factory.begin() as session:
        saved = workcalendar.set_day(session, actor_id=staff_id, day=day, is_workday=False, name=" 国庆节 ")
    assert (saved.is_workday, saved.name, saved.source, saved.updated_by) == (
        False,
        "国庆节",
        "staff",
        staff_id,
    )
    with session_factory.begin() as session:
        assert not workcalendar.is_working_day(session, day)
        # Changing a seeded day makes it the staff's.
        changed = workcalendar.set_day(
            session, actor_id=staff_id, day=date(2026, 10, 10), is_workday=False, name="改休"
        )
        assert changed.source == "staff"
    with session_factory.begin() as session:
        workcalendar.remove_override(session, actor_id=staff_id, day=day)
    with session_factory() as session:
        assert workcalendar.is_working_day(session, day)  # a Friday again
        assert not workcalendar.is_working_day(session, date(2026, 10, 10))
        records = list(
            reversed(audit.list_records(session, object_type="calendar_day", object_id=day.isoformat()))
        )
        assert [(r.action, r.actor_id) for r in records] == [
            ("calendar.day_set", staff_id),
            ("calendar.day_removed", staff_id),
        ]
        assert records[0].details == {"is_workday": False, "name": "国庆节", "previous": None}
        assert records[1].details["previous"] == {"is_workday": False, "name": "国庆节", "source": "staff"}
        [seeded] = audit.list_records(session, object_type="calendar_day", object_id="2026-10-10")
        assert seeded.details["previous"] == {"is_workday": True, "name": "调休上班", "source": "library"}
        assert audit.verify(session) == []


@pytest.mark.parametrize(
    ("day", "name", "refusal"),
    [
        (date(1999, 12, 31), "元旦", CalendarDayOutOfRange),
        (date(2101, 1, 1), "元旦", CalendarDayOutOfRange),
        (date(2027, 1, 1), "", InvalidCalendarName),
        (date(2027, 1, 1), "   ", InvalidCalendarName),
        (date(2027, 1, 1), "x" * 65, InvalidCalendarName),
        (date(2027, 1, 1), "元\x00旦", InvalidCalendarName),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    session_factory: sessionmaker[Session], day: date, name: str, refusal: type[Exception]
) -> None:
    staff_id = _staff(session_factory)
    with session_factory() as session:
        before = _snapshot(session)
    with pytest.raises(refusal), session_factory.begin() as session:
        workcalendar.set_day(session, actor_id=staff_id, day=day, is_workday=False, name=name)
    with session_factory() as session:
        assert _snapshot(session) == before
        assert audit.list_records(session, object_type="calendar_day") == []


def test_removing_a_day_without_override_is_refused(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(CalendarOverrideNotFound), session_factory.begin() as session:
        workcalendar.remove_override(session, actor_id=None, day=date(2027, 3, 3))
    with session_factory() as session:
        assert audit.list_records(session, object_type="calendar_day") == []


def test_a_64_character_name_is_accepted(session: Session) -> None:
    saved = workcalendar.set_day(
        session, actor_id=None, day=date(2100, 12, 31), is_workday=True, name="节" * 64
    )
    assert saved.name == "节" * 64 and workcalendar.is_working_day(session, date(2100, 12, 31))
    saved = workcalendar.set_day(session, actor_id=None, day=date(2000, 1, 1), is_workday=False, name="元旦")
    assert not workcalendar.is_working_day(session, date(2000, 1, 1))

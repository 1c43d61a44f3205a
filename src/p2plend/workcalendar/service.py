"""The working-day calendar (工作日历): which days are PRC working days.

A day is a working day if it has an override — its ``is_workday`` — and otherwise if it is
Monday to Friday. Overrides are the public holidays that fall on weekdays (放假) and the
weekend days worked instead (调休上班). 2004–2026 are seeded from chinesecalendar by
migration 0006; later years are entered by operations staff (``staff:operations:manage``)
once the State Council publishes them, on the page ``/staff/calendar``, the API or
``p2plend calendar set``. A year without overrides simply follows Monday–Friday.
"""

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.workcalendar.errors import (
    CalendarDayOutOfRange,
    CalendarOverrideNotFound,
    InvalidCalendarName,
)
from p2plend.workcalendar.models import WorkingDayOverride

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_NAME",
    "CalendarDayOutOfRange",
    "CalendarOverrideNotFound",
    "DayOverride",
    "InvalidCalendarName",
    "add_working_days",
    "is_working_day",
    "overrides",
    "remove_override",
    "set_day",
    "working_days_after",
    "working_days_by_month",
]

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)
MAX_NAME = 64
SOURCE_LIBRARY = "library"
SOURCE_STAFF = "staff"


@dataclass(frozen=True, slots=True)
class DayOverride:
    """One day whose status differs from (or is pinned against) the Monday–Friday rule."""

    day: date
    is_workday: bool
    name: str
    source: str  # 'library' (seeded) or 'staff'
    updated_at: datetime
    updated_by: int | None


def is_weekday(day: date) -> bool:
    return day.weekday() < 5


def is_working_day(session: Session, day: date) -> bool:
    """工作日: the override's flag, else Monday–Friday."""
    flag = session.scalar(select(WorkingDayOverride.is_workday).where(WorkingDayOverride.day == day))
    return is_weekday(day) if flag is None else bool(flag)


def working_days_after(session: Session, start: date, days: int) -> int:
    """How many of the ``days`` calendar days after ``start`` (start+1 … start+days) are working days."""
    if days < 1:
        return 0
    days = min(days, (date.max - start).days)
    first, last = start + timedelta(days=1), start + timedelta(days=days)
    count = _weekdays_between(first, last)
    for day, flag in _overrides_between(session, first, last).items():
        count += int(flag) - int(is_weekday(day))
    return count


def add_working_days(session: Session, day: date, n: int) -> date:
    """The ``n``-th working day after ``day`` (before it when ``n`` is negative); ``day`` itself for 0."""
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    current = day
    while remaining:
        # Overrides one window at a time: a few queries whatever n is.
        span = max(2 * remaining + 14, 31)
        if n >= 0:
            window_end = current + timedelta(days=min(span, (date.max - current).days))
            flags = _overrides_between(session, current, window_end)
        else:
            window_end = current - timedelta(days=min(span, (current - date.min).days))
            flags = _overrides_between(session, window_end, current)
        if window_end == current:
            raise ValueError("no such working day within the dates Python can represent")
        while remaining and current != window_end:
            current += step
            flag = flags.get(current)
            if is_weekday(current) if flag is None else flag:
                remaining -= 1
    return current


def overrides(session: Session, year: int) -> list[DayOverride]:
    """The overrides of ``year``, by day."""
    rows = session.scalars(
        select(WorkingDayOverride)
        .where(WorkingDayOverride.day >= date(year, 1, 1), WorkingDayOverride.day <= date(year, 12, 31))
        .order_by(WorkingDayOverride.day)
    )
    return [_view(row) for row in rows]


def working_days_by_month(session: Session, year: int) -> list[int]:
    """The number of working days in each month of ``year``, January first."""
    counts: list[int] = []
    for month in range(1, 13):
        first = date(year, month, 1)
        counts.append(
            working_days_after(session, first - timedelta(days=1), calendar.monthrange(year, month)[1])
        )
    return counts


def set_day(session: Session, *, actor_id: int | None, day: date, is_workday: bool, name: str) -> DayOverride:
    """Record (or change) ``day`` as a working day or a day off, named e.g. "国庆节" or "调休上班"."""
    _check_day(day)
    name = _check_name(name)
    now = clock.now()
    row = session.get(WorkingDayOverride, day, with_for_update=True)
    previous = None if row is None else _state(row)
    if row is None:
        row = WorkingDayOverride(
            day=day,
            is_workday=is_workday,
            name=name,
            source=SOURCE_STAFF,
            updated_at=now,
            updated_by=actor_id,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # Another transaction recorded the day first: change its row instead.
            existing = session.get(WorkingDayOverride, day, with_for_update=True, populate_existing=True)
            if existing is None:
                raise
            row, previous = existing, _state(existing)
    row.is_workday, row.name, row.source = is_workday, name, SOURCE_STAFF
    row.updated_at, row.updated_by = now, actor_id
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="calendar.day_set",
        object_type="calendar_day",
        object_id=day.isoformat(),
        details={"is_workday": is_workday, "name": name, "previous": previous},
    )
    return _view(row)


def remove_override(session: Session, *, actor_id: int | None, day: date) -> None:
    """Remove ``day``'s override: it follows the Monday–Friday rule again."""
    row = session.get(WorkingDayOverride, day, with_for_update=True)
    if row is None:
        raise CalendarOverrideNotFound(
            "No override is recorded for that day.", details={"day": day.isoformat()}
        )
    previous = _state(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="calendar.day_removed",
        object_type="calendar_day",
        object_id=day.isoformat(),
        details={"previous": previous, "now_workday": is_weekday(day)},
    )


def _check_day(day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise CalendarDayOutOfRange(
            f"The calendar is kept for {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.",
            details={"day": day.isoformat(), "first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
        )


def _check_name(name: str) -> str:
    text = name.strip()
    if not 0 < len(text) <= MAX_NAME or any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise InvalidCalendarName(
            f"A day's name is 1 to {MAX_NAME} characters, without control characters.",
            details={"field": "name", "max_length": MAX_NAME},
        )
    return text


def _weekdays_between(first: date, last: date) -> int:
    """Monday–Friday days in first … last, both included."""
    total = (last - first).days + 1
    if total <= 0:
        return 0
    weeks, rest = divmod(total, 7)
    return weeks * 5 + sum(1 for n in range(rest) if (first.weekday() + n) % 7 < 5)


def _overrides_between(session: Session, first: date, last: date) -> dict[date, bool]:
    rows = session.execute(
        select(WorkingDayOverride.day, WorkingDayOverride.is_workday).where(
            WorkingDayOverride.day >= first, WorkingDayOverride.day <= last
        )
    )
    return {day: bool(flag) for day, flag in rows}


def _state(row: WorkingDayOverride) -> dict[str, object]:
    return {"is_workday": row.is_workday, "name": row.name, "source": row.source}


def _view(row: WorkingDayOverride) -> DayOverride:
    return DayOverride(
        day=row.day,
        is_workday=row.is_workday,
        name=row.name,
        source=row.source,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )

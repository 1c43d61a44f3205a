"""The business clock.

Services ask this module for "now" and "today", never ``date.today()``. Business dates
are in Asia/Shanghai. Tests, the demo and the simulator install a ``FixedClock`` they can
set and advance; production uses the system clock, optionally shifted by
``P2PLEND_CLOCK_OFFSET_DAYS`` for rehearsals.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set_business_date(self, day: date, hour: int = 10) -> None:
        """Move to ``hour`` o'clock Beijing time on ``day``."""
        self._at = datetime(day.year, day.month, day.day, hour, tzinfo=BUSINESS_TZ).astimezone(UTC)


_clock: Clock = SystemClock()


def install(clock: Clock) -> None:
    global _clock  # noqa: PLW0603 — the process's one clock, swapped by tests and the simulator
    _clock = clock


def current() -> Clock:
    return _clock


def now() -> datetime:
    """The current instant, timezone-aware (UTC)."""
    return _clock.now().astimezone(UTC)


def today() -> date:
    """The current business date in Asia/Shanghai."""
    return _clock.now().astimezone(BUSINESS_TZ).date()


def business_date_of(instant: datetime) -> date:
    """The business date (Asia/Shanghai) an instant falls on."""
    return instant.astimezone(BUSINESS_TZ).date()

"""Refusals of the working-day calendar."""

from p2plend.errors import InvalidInput, NotFound


class CalendarDayOutOfRange(InvalidInput):
    """The calendar is kept for 2000-01-01 … 2100-12-31 only."""

    code = "calendar_day_out_of_range"


class InvalidCalendarName(InvalidInput):
    """An override's name: 1 to 64 characters, no control characters."""

    code = "invalid_calendar_name"


class CalendarOverrideNotFound(NotFound):
    """No override is recorded for that day (it follows the Monday–Friday rule)."""

    code = "calendar_override_not_found"

"""Working-day calendar API (工作日历), staff with `staff:operations:manage` only."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from p2plend import clock
from p2plend.api.deps import DbSession, require
from p2plend.identity import service as identity
from p2plend.workcalendar import service as workcalendar
from p2plend.workcalendar.schemas import CalendarYearResponse, DayOverrideResponse, SetDayRequest

router = APIRouter(prefix="/api/v1", tags=["staff"])

CalendarKeeper = Annotated[
    identity.AuthContext, Depends(require(identity.Permission.STAFF_OPERATIONS_MANAGE))
]


@router.get("/staff/calendar", summary="A year's holidays and make-up workdays, and working days per month")
def calendar_year(
    ctx: CalendarKeeper,
    session: DbSession,
    year: Annotated[
        int | None,
        Query(
            ge=workcalendar.FIRST_DAY.year, le=workcalendar.LAST_DAY.year, description="Default: this year."
        ),
    ] = None,
) -> CalendarYearResponse:
    year = year or clock.today().year
    return CalendarYearResponse(
        year=year,
        overrides=[DayOverrideResponse.of(o) for o in workcalendar.overrides(session, year)],
        working_days_per_month=workcalendar.working_days_by_month(session, year),
    )


@router.put("/staff/calendar/{day}", summary="Set a day as a working day or a day off")
def set_calendar_day(
    day: date, body: SetDayRequest, ctx: CalendarKeeper, session: DbSession
) -> DayOverrideResponse:
    """Refusals: `calendar_day_out_of_range` (before 2000 or after 2100), `invalid_calendar_name`."""
    return DayOverrideResponse.of(
        workcalendar.set_day(
            session, actor_id=ctx.user_id, day=day, is_workday=body.is_workday, name=body.name
        )
    )


@router.delete(
    "/staff/calendar/{day}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a day's override: it follows Monday–Friday again",
)
def remove_calendar_day(day: date, ctx: CalendarKeeper, session: DbSession) -> Response:
    """Refusal: `calendar_override_not_found`."""
    workcalendar.remove_override(session, actor_id=ctx.user_id, day=day)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

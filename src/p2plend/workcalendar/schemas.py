"""API shapes of the working-day calendar (staff)."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from p2plend.workcalendar.service import DayOverride


class SetDayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"is_workday": False, "name": "元旦"}]},
    )

    is_workday: StrictBool = Field(description="true: a working day (e.g. 调休上班); false: a day off.")
    # Checked by the service (1–64 characters, no control characters: `invalid_calendar_name`).
    name: str = Field(max_length=1000, description="What the day is, e.g. '国庆节' or '调休上班'.")


class DayOverrideResponse(BaseModel):
    day: date
    is_workday: bool
    name: str
    source: Literal["library", "staff"] = Field(
        description="'library': seeded from chinesecalendar; 'staff': set by staff."
    )
    updated_at: datetime
    updated_by: int | None

    @classmethod
    def of(cls, override: DayOverride) -> "DayOverrideResponse":
        return cls(
            day=override.day,
            is_workday=override.is_workday,
            name=override.name,
            source=override.source,
            updated_at=override.updated_at,
            updated_by=override.updated_by,
        )


class CalendarYearResponse(BaseModel):
    year: int
    overrides: list[DayOverrideResponse] = Field(
        description="The days whose status is set explicitly; every other day follows Monday–Friday."
    )
    working_days_per_month: list[int] = Field(
        description="Working days in January … December.", min_length=12, max_length=12
    )

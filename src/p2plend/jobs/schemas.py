"""API shapes of the end-of-day batch (日终批处理): its runs, their steps, a run requested by staff."""

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from p2plend.jobs.eod import DayReport, RunStatus, StepStatus

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: Any) -> Any:
    """Only ``YYYY-MM-DD`` text (or a date): not a number of seconds, not a timestamp."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value  # pydantic checks that the day exists (2026-02-30 is refused)


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_only)]


class EodStepOut(BaseModel):
    name: str = Field(
        description="auto_debit, accrue, classify, transfers, compensate, collections, remind or figures, "
        "in this order"
    )
    label_zh: str = Field(examples=["自动代扣"])
    chunks_done: int
    chunks: int = Field(description="Chunks planned (0 until the step starts)")
    items: int = Field(description="Acts done: debits, accruals, history rows, messages …")

    @classmethod
    def of(cls, step: StepStatus) -> "EodStepOut":
        return cls(
            name=step.name,
            label_zh=step.label_zh,
            chunks_done=step.chunks_done,
            chunks=step.chunks,
            items=step.items,
        )


class EodRunOut(BaseModel):
    business_date: dt.date
    status: str = Field(description="running or closed")
    step: str = Field(description="The step in progress, or the last one")
    started_at: dt.datetime
    finished_at: dt.datetime | None
    steps: list[EodStepOut]

    @classmethod
    def of(cls, run: RunStatus) -> "EodRunOut":
        return cls(
            business_date=run.business_date,
            status=run.status,
            step=run.step,
            started_at=run.started_at,
            finished_at=run.finished_at,
            steps=[EodStepOut.of(step) for step in run.steps],
        )


class EodStatusOut(BaseModel):
    """日终批处理: where the batch stands."""

    today: dt.date = Field(description="The business date now")
    last_closed: dt.date | None = Field(description="The latest business date closed")
    runs: list[EodRunOut] = Field(description="The latest runs, newest first")


class EodRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"date": "2026-11-28"}]})

    date: IsoDate | None = Field(
        default=None, description="Close every date not yet closed up to this one (default: today)"
    )


class EodDayOut(BaseModel):
    business_date: dt.date
    already_closed: bool = Field(description="Another worker closed it first; nothing done here")
    items: dict[str, int] = Field(description="Acts done by this run, by step")
    chunks: int

    @classmethod
    def of(cls, report: DayReport) -> "EodDayOut":
        return cls(
            business_date=report.business_date,
            already_closed=report.already_closed,
            items=dict(report.items),
            chunks=report.chunks,
        )


class EodRunResult(BaseModel):
    through: dt.date
    closed: list[dt.date] = Field(description="The dates this run closed, oldest first (catch-up)")
    days: list[EodDayOut]
    runs: list[EodRunOut] = Field(description="The latest runs after this one, newest first")

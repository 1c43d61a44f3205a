"""The end-of-day batch on a timer inside the server (APScheduler): the job's time, what it
does when called, that a failure is logged and not raised, and the app starting and
stopping the scheduler. The cron is never waited for."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import Settings, get_settings
from p2plend.custody.simulated.bank import SimulatedBank
from p2plend.jobs import eod
from p2plend.jobs import scheduler as eod_scheduler
from p2plend.marketplace import service as marketplace
from p2plend.server import create_app, serve_app
from tests import lending
from tests.overdue import close, overdue_by, spent_loan


def _far_from_now() -> str:
    """A schedule twelve hours from the wall clock: a started scheduler never fires in a test."""
    later = datetime.now(UTC).astimezone(clock.BUSINESS_TZ) + timedelta(hours=12)
    return f"{later:%H}:{later:%M}"


def test_the_job_runs_daily_at_the_configured_beijing_time(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    settings = Settings(eod_schedule="01:05")
    scheduler = eod_scheduler.eod_scheduler(settings, session_factory, bank)
    job = scheduler.get_job(eod_scheduler.JOB_ID)
    assert job is not None and job.func is eod_scheduler.run_scheduled_close
    assert job.args == (session_factory, bank)
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"], fields["second"], fields["day"]) == ("1", "5", "0", "*")
    assert str(job.trigger.timezone) == "Asia/Shanghai"
    after = datetime(2026, 11, 28, 10, 0, tzinfo=clock.BUSINESS_TZ)
    assert job.trigger.get_next_fire_time(None, after) == datetime(
        2026, 11, 29, 1, 5, tzinfo=clock.BUSINESS_TZ
    )
    assert (job.coalesce, job.max_instances) == (True, 1)
    default = eod_scheduler.eod_trigger(get_settings())
    assert default.get_next_fire_time(None, after) == datetime(2026, 11, 28, 23, 30, tzinfo=clock.BUSINESS_TZ)


@pytest.mark.parametrize("value", ["25:00", "23:60", "7", "7:5", "half past eleven", ""])
def test_a_schedule_must_be_a_time_of_day(value: str) -> None:
    with pytest.raises(ValidationError, match="eod_schedule"):
        Settings(eod_schedule=value)


def test_a_schedule_is_normalised() -> None:
    assert Settings(eod_schedule=" 7:05 ").eod_schedule == "07:05"
    assert Settings(eod_schedule="07:05").eod_schedule_time == (7, 5)


def test_calling_the_job_closes_every_date_not_yet_closed(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    loan = spent_loan(session_factory, bank)
    close(session_factory, bank, overdue_by(1))
    lending.go_to(overdue_by(3))
    closed = eod_scheduler.run_scheduled_close(session_factory, bank)
    assert closed == [overdue_by(2), overdue_by(3)]
    with session_factory() as session:
        assert eod.last_closed(session) == overdue_by(3)
        assert marketplace.get_loan(session, loan.loan_id).days_past_due == 3
    assert eod_scheduler.run_scheduled_close(session_factory, bank) == []  # nothing left


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def exception(self, event: str, **values: Any) -> None:
        self.events.append(("exception", event, values))

    def info(self, event: str, **values: Any) -> None:
        self.events.append(("info", event, values))


def test_a_failed_run_is_logged_not_raised(
    session_factory: sessionmaker[Session], bank: SimulatedBank, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _Log()
    monkeypatch.setattr(eod_scheduler, "log", log)

    def broken(*args: object, **kwargs: object) -> list[eod.DayReport]:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(eod, "close_through", broken)
    assert eod_scheduler.run_scheduled_close(session_factory, bank) is None
    assert log.events == [("exception", "eod.scheduled_run_failed", {"through": "2026-11-28"})]


def test_the_app_starts_the_scheduler_and_stops_it_at_shutdown(
    session_factory: sessionmaker[Session], bank: SimulatedBank
) -> None:
    settings = get_settings().model_copy(update={"eod_schedule": _far_from_now()})
    app = create_app(settings, session_factory, bank, eod_scheduler=True)
    scheduler = app.state.eod_scheduler
    assert scheduler is not None and not scheduler.running
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert scheduler.running
        job = scheduler.get_job(eod_scheduler.JOB_ID)
        assert job.next_run_time is not None
        assert f"{job.next_run_time.astimezone(clock.BUSINESS_TZ):%H:%M}" == settings.eod_schedule
    assert not scheduler.running
    assert create_app(settings, session_factory, bank).state.eod_scheduler is None  # the tests' apps


@pytest.mark.parametrize(("enabled", "scheduled"), [("true", True), ("false", False)])
def test_the_served_app_has_the_scheduler_unless_disabled(
    database_url: str, monkeypatch: pytest.MonkeyPatch, enabled: str, scheduled: bool
) -> None:
    monkeypatch.setenv("P2PLEND_DATABASE_URL", database_url)
    monkeypatch.setenv("P2PLEND_EOD_SCHEDULE", _far_from_now())
    monkeypatch.setenv("P2PLEND_EOD_SCHEDULER_ENABLED", enabled)
    get_settings.cache_clear()
    app = serve_app()
    with TestClient(app):
        assert (app.state.eod_scheduler is not None) is scheduled
        if scheduled:
            assert app.state.eod_scheduler.running
    if scheduled:
        assert not app.state.eod_scheduler.running

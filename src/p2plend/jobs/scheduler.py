"""The 日终批处理 on a timer inside the server: APScheduler 3.11, one cron job per process.

``p2plend serve`` builds the app with this scheduler (``server.serve_app``): every day at
``settings.eod_schedule`` Beijing time the job closes every business date not yet closed up
to the business clock's today — the catch-up of ``eod.close_through``, so a day the server
was down is closed by the next run.

Several processes may each run the job at the same minute — ``p2plend serve --workers 4`` on
PostgreSQL, or servers on several machines — and that is by design, not an accident to
guard against: the batch fixes each step's chunks once and every worker claims pending
chunks with ``FOR UPDATE SKIP LOCKED``, so the processes share one date's work and each
chunk is done exactly once. On SQLite (one process) writers are serialised anyway.

A failed run is logged and left: the batch is resumable (a chunk is done and marked in one
transaction), so the next run — tomorrow's, or ``p2plend eod run`` now — finishes it.
"""

from datetime import date

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.config import Settings
from p2plend.custody.port import Custodian
from p2plend.jobs import eod

log = structlog.get_logger()

JOB_ID = "eod"
# A run missed by up to an hour (the process was busy or paused) still happens; later than
# that, the next day's run catches the date up.
MISFIRE_GRACE_SECONDS = 3600


def run_scheduled_close(factory: sessionmaker[Session], custodian: Custodian) -> list[date] | None:
    """The scheduled job: close every date not yet closed through today.

    Returns the dates this process closed (None when the run failed). It never raises: an
    exception in a background thread would only reach APScheduler's own log, so it is
    logged here, with the date, for the operators' alerts."""
    through = clock.today()
    try:
        reports = eod.close_through(factory, through, custodian)
    except Exception:
        log.exception("eod.scheduled_run_failed", through=through.isoformat())
        return None
    closed = [r.business_date for r in reports if not r.already_closed]
    log.info(
        "eod.scheduled_run",
        through=through.isoformat(),
        closed=[day.isoformat() for day in closed],
        items={r.business_date.isoformat(): r.items for r in reports},
    )
    return closed


def eod_trigger(settings: Settings) -> CronTrigger:
    """Every day at ``settings.eod_schedule``, Beijing time (business dates are Beijing's)."""
    hour, minute = settings.eod_schedule_time
    return CronTrigger(hour=hour, minute=minute, timezone=clock.BUSINESS_TZ)


def eod_scheduler(
    settings: Settings, factory: sessionmaker[Session], custodian: Custodian
) -> BackgroundScheduler:
    """A scheduler (not started) holding the daily end-of-day job; the server starts it at
    start-up and shuts it down at shutdown."""
    scheduler = BackgroundScheduler(timezone=clock.BUSINESS_TZ)
    scheduler.add_job(
        run_scheduled_close,
        eod_trigger(settings),
        args=(factory, custodian),
        id=JOB_ID,
        name="日终批处理",
        coalesce=True,  # runs missed while paused collapse into one: it catches up anyway
        max_instances=1,  # in this process; other processes cooperate through the chunks
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        replace_existing=True,
    )
    return scheduler

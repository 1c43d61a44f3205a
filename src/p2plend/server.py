"""The composition root: the JSON API under /api/v1 and the web pages in one ASGI app."""

from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from p2plend import __version__, logs
from p2plend.api.errors import COMMON_ERROR_RESPONSES, install_error_handlers
from p2plend.api.observability import install_observability
from p2plend.api.routers import audit as audit_api
from p2plend.api.routers import autobid as autobid_api
from p2plend.api.routers import calculator as calculator_api
from p2plend.api.routers import calendar as calendar_api
from p2plend.api.routers import collections as collections_api
from p2plend.api.routers import compliance as compliance_api
from p2plend.api.routers import custody as custody_api
from p2plend.api.routers import eod as eod_api
from p2plend.api.routers import guarantee as guarantee_api
from p2plend.api.routers import identity as identity_api
from p2plend.api.routers import loans as loans_api
from p2plend.api.routers import marketplace as marketplace_api
from p2plend.api.routers import notifications as notifications_api
from p2plend.api.routers import origination as origination_api
from p2plend.api.routers import p2b as p2b_api
from p2plend.api.routers import portfolio as portfolio_api
from p2plend.api.routers import sim_bank as sim_bank_api
from p2plend.api.routers import statements as statements_api
from p2plend.api.routers import suitability as suitability_api
from p2plend.api.routers import transfers as transfers_api
from p2plend.config import Settings, get_settings
from p2plend.custody import service as custody
from p2plend.custody.port import Custodian
from p2plend.db import make_engine, make_session_factory
from p2plend.jobs import scheduler as eod_jobs
from p2plend.marketplace.bid_queue import BidQueue
from p2plend.web import install as install_web

log = structlog.get_logger()

API_DESCRIPTION = """
p2plend is an online lending **information intermediary** (网络借贷信息中介平台): investors lend
directly to borrowers; every user's money stays in their own sub-account at the custodian bank
(资金存管). The platform matches, assesses, discloses and services; it never pools money, never
lends on its own account and never guarantees principal or interest.

* Money is a **string with two decimals** in yuan (`"1234.56"`), never a number.
* Authenticate with `Authorization: Bearer <token>` from `POST /api/v1/auth/login`.
* Money-moving calls accept an `Idempotency-Key` header: a retry returns the first answer;
  the same key with a different body is refused with `409 idempotency_key_reused`.
* Errors are `{"error": {"code", "message", "details"}}` with a stable `code`.
"""


def create_app(
    settings: Settings | None = None,
    session_factory: sessionmaker[Session] | None = None,
    custodian: Custodian | None = None,
    *,
    eod_scheduler: bool = False,
) -> FastAPI:
    """The app on ``session_factory``'s database, talking to ``custodian`` — by default the
    simulated custodian bank beside that database, delivering its callbacks in-process.

    ``eod_scheduler``: run the daily 日终批处理 in this process (``jobs.scheduler``), started
    with the app and shut down with it. Only the served app asks for it (``serve_app``);
    the tests' apps never run it unless a test does."""
    settings = settings or get_settings()
    logs.configure(json=settings.log_json)
    if session_factory is None:
        session_factory = make_session_factory(make_engine(settings.database_url))
    bank = None  # the simulated bank made here, closed at shutdown
    if custodian is None:
        if settings.environment == "production":
            raise RuntimeError("production needs the custodian bank's adapter; the simulated bank is not one")
        url = session_factory.kw["bind"].url.render_as_string(hide_password=False)
        custodian = bank = custody.simulated_custodian(url, session_factory, settings)

    app = FastAPI(
        title="p2plend API",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.custodian = custodian
    app.state.bid_queue = BidQueue(session_factory)
    install_error_handlers(app)
    metrics = install_observability(app)

    @app.get("/healthz", tags=["system"], summary="Liveness and database reachability")
    def healthz() -> dict[str, Any]:
        with session_factory() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["system"], summary="Prometheus metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        return metrics.render()

    for router in _api_routers(settings):
        app.include_router(router, responses=COMMON_ERROR_RESPONSES)
    install_web(app)  # the pages, their static files and HTML error pages
    app.state.eod_scheduler = None
    if eod_scheduler:
        # Before the bank's close below: the job must stop using the bank before it closes.
        _run_eod_scheduler(app, settings, session_factory, custodian)
    if bank is not None:
        app.router.on_shutdown.append(bank.close)
    return app


def serve_app() -> FastAPI:
    """The app ``p2plend serve`` runs, once per worker process: with the end-of-day
    scheduler unless ``P2PLEND_EOD_SCHEDULER_ENABLED=false``. Each worker runs it; on
    PostgreSQL they share each date's chunks (see ``jobs.scheduler``)."""
    settings = get_settings()
    return create_app(settings, eod_scheduler=settings.eod_scheduler_enabled)


def _run_eod_scheduler(
    app: FastAPI, settings: Settings, session_factory: sessionmaker[Session], custodian: Custodian
) -> None:
    """Start the daily batch's scheduler with the app, stop it at shutdown. Not waiting for
    a run in progress: the batch is resumable, and the next run finishes what it left."""
    scheduler = eod_jobs.eod_scheduler(settings, session_factory, custodian)
    app.state.eod_scheduler = scheduler

    def start() -> None:
        scheduler.start()
        job = scheduler.get_job(eod_jobs.JOB_ID)
        log.info("eod.scheduler_started", at=settings.eod_schedule, next_run=str(job.next_run_time))

    def stop() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)

    app.router.on_startup.append(start)
    app.router.on_shutdown.append(stop)


def _api_routers(settings: Settings) -> list[APIRouter]:
    """The domain routers, in the order they appear in the OpenAPI document."""
    routers = [
        identity_api.router,
        suitability_api.router,
        custody_api.router,
        notifications_api.router,
        audit_api.router,
        origination_api.router,
        calendar_api.router,
        eod_api.router,
        collections_api.router,
        marketplace_api.router,
        autobid_api.router,
        loans_api.router,
        transfers_api.router,
        calculator_api.router,
        statements_api.router,
        portfolio_api.router,
        guarantee_api.router,
        p2b_api.router,
        compliance_api.router,
    ]
    if settings.environment != "production":
        routers.append(sim_bank_api.router)  # the simulated bank's own pages: demo and tests
    return routers

"""End-of-day batch (日终批处理) and overdue management (逾期管理) for staff.

Permissions (docs/eod.md):

* running the batch — ``staff:operations:manage`` (the operations role);
* reading — the runs, the overdue dashboard, a loan's risk history, the daily figures —
  ``staff:reports:read`` (operations, finance, compliance, admin) **or**
  ``staff:risk:manage`` (risk officers); the runs also with ``staff:operations:manage``.

``POST /staff/eod/run`` works the batch in the request, chunk by chunk, exactly as
``p2plend eod run`` and the server's scheduler do; they may run at the same time and share
the work. The request's own transaction (the caller's authentication) is committed first:
the batch commits each chunk in a transaction of its own, and on SQLite an open
transaction would hold the database's one write lock against it.
"""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.api.deps import DbSession, require, require_any
from p2plend.api.routers.custody import AppCustodian
from p2plend.api.routers.marketplace import LoanId
from p2plend.audit import service as audit
from p2plend.custody.port import Custodian
from p2plend.identity import service as identity
from p2plend.jobs import eod
from p2plend.jobs.schemas import EodDayOut, EodRunOut, EodRunRequest, EodRunResult, EodStatusOut, IsoDate
from p2plend.marketplace import service as marketplace
from p2plend.money import yuan_str
from p2plend.servicing import end_of_day
from p2plend.servicing.overdue_schemas import (
    DailyFiguresOut,
    LoanRiskHistory,
    OverdueLoanOut,
    OverdueReport,
    PenaltyAccrualOut,
    RiskDayOut,
    StageCountOut,
)

router = APIRouter(prefix="/api/v1", tags=["staff"])

P = identity.Permission
RUN_PERMISSION = P.STAFF_OPERATIONS_MANAGE
READ_PERMISSIONS = (P.STAFF_REPORTS_READ, P.STAFF_RISK_MANAGE)
FIGURES_DEFAULT_DAYS = 30

Operator = Annotated[identity.AuthContext, Depends(require(RUN_PERMISSION))]
Reader = Annotated[identity.AuthContext, Depends(require_any(*READ_PERMISSIONS))]
# Who runs the batch also sees its runs (the operations role has both anyway).
EodReader = Annotated[identity.AuthContext, Depends(require_any(*READ_PERMISSIONS, RUN_PERMISSION))]
OverdueStage = Literal["m1", "m2", "m3", "m3_plus", "m7_plus"]


def run_batch(
    session: Session,
    factory: sessionmaker[Session],
    custodian: Custodian,
    *,
    actor_id: int,
    through: date | None,
) -> list[eod.DayReport]:
    """Close every date not yet closed up to ``through`` (default: today) for a staff
    member, and record it in the audit log. A future date is refused
    (``eod_date_not_closable``) before anything is written. Shared by the API and the page."""
    day = through or clock.today()
    if day > clock.today():
        raise eod.DateNotClosable(
            "A business date can be closed only once it has come.",
            details={"date": day.isoformat(), "today": clock.today().isoformat()},
        )
    session.commit()  # see the module docstring: the batch writes in transactions of its own
    reports = eod.close_through(factory, day, custodian)
    audit.record(
        session,
        actor_id=actor_id,
        action="eod.run",
        object_type="eod",
        object_id=day.isoformat(),
        details={
            "closed": [r.business_date.isoformat() for r in reports if not r.already_closed],
            "items": {r.business_date.isoformat(): dict(r.items) for r in reports},
        },
    )
    return reports


def _runs(session: Session, limit: int) -> list[EodRunOut]:
    return [EodRunOut.of(run) for run in eod.status(session, limit=limit)]


@router.get("/staff/eod", summary="日终批处理: the latest runs, each step's chunks and acts")
def eod_status(
    ctx: EodReader, session: DbSession, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> EodStatusOut:
    return EodStatusOut(today=clock.today(), last_closed=eod.last_closed(session), runs=_runs(session, limit))


@router.post("/staff/eod/run", summary="Run the end-of-day batch now: close every date not yet closed")
def run_eod(
    request: Request,
    ctx: Operator,
    session: DbSession,
    custodian: AppCustodian,
    body: EodRunRequest | None = None,
) -> EodRunResult:
    """Closes, oldest first, every business date not yet closed up to `date` (default: the
    business date today): auto-debit, penalty accrual, stage and classification, reminders,
    the day's figures. A date already closed is not run again, so a repeated call changes
    nothing. Refusals: `422 eod_date_not_closable` (a date after today, nothing done),
    `422 invalid_request` (a date not written YYYY-MM-DD, or another field)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    through = body.date if body is not None else None
    reports = run_batch(session, factory, custodian, actor_id=ctx.user_id, through=through)
    return EodRunResult(
        through=through or clock.today(),
        closed=[r.business_date for r in reports if not r.already_closed],
        days=[EodDayOut.of(r) for r in reports],
        runs=_runs(session, 10),
    )


@router.get("/staff/overdue", summary="逾期管理: overdue loans by stage, and the longest overdue first")
def overdue(
    ctx: Reader,
    session: DbSession,
    stage: Annotated[OverdueStage | None, Query(description="Only this stage")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OverdueReport:
    """As of the last end-of-day batch: each stage's loans and outstanding principal, then
    the overdue loans with their days past due, stage, five-tier class and the overdue
    amounts of the last batch. The borrower's name is masked (R47)."""
    stages = end_of_day.overdue_by_stage(session)
    loans = end_of_day.overdue_loans(session, stage=stage, limit=limit, offset=offset)
    last = end_of_day.latest_risk_days(session, [loan.id for loan in loans])
    return OverdueReport(
        as_of=eod.last_closed(session),
        loans_overdue=sum(s.loans for s in stages),
        principal_overdue=yuan_str(sum(s.principal for s in stages)),
        stages=[StageCountOut.of(s) for s in stages],
        loans=[OverdueLoanOut.of(loan, last.get(loan.id)) for loan in loans],
    )


@router.get(
    "/staff/loans/{loan_id}/risk-history",
    summary="A loan's overdue history: days past due, stage and class per day, penalty accruals",
)
def risk_history(loan_id: LoanId, ctx: Reader, session: DbSession) -> LoanRiskHistory:
    """Refusal: `404 loan_not_found`."""
    loan = marketplace.get_loan(session, loan_id)
    return LoanRiskHistory(
        loan_id=loan.id,
        title=loan.title,
        status=loan.status,
        days_past_due=loan.days_past_due,
        stage=loan.stage,
        classification=loan.classification,
        history=[RiskDayOut.of(row) for row in end_of_day.risk_history(session, loan.id)],
        penalty_accruals=[PenaltyAccrualOut.of(row) for row in end_of_day.penalty_accruals(session, loan.id)],
    )


@router.get("/staff/figures", summary="The platform's daily figures (信息披露 data), oldest first")
def figures(
    ctx: Reader,
    session: DbSession,
    first: Annotated[
        IsoDate | None, Query(alias="from", description="First date (default: 29 days before `to`)")
    ] = None,
    last: Annotated[IsoDate | None, Query(alias="to", description="Last date (default: today)")] = None,
) -> list[DailyFiguresOut]:
    """One row per closed business date in the range (a date not closed has none).
    Refusals: `422 invalid_date_range` (`from` after `to`, or more than 366 days),
    `422 invalid_request` (a date not written YYYY-MM-DD)."""
    last = last or clock.today()
    first = first or date.fromordinal(max(1, last.toordinal() - (FIGURES_DEFAULT_DAYS - 1)))  # ≥ 0001-01-01
    return [DailyFiguresOut.of(row) for row in end_of_day.figures_for(session, first, last)]

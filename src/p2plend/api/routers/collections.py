"""Collections API (催收) and write-off (核销), staff only.

* Collectors (``staff:collections:manage``) see the cases, their own work queue, and log
  actions on their cases and the unassigned ones.
* Collections managers (``staff:risk:manage``) also assign and reassign cases and set the
  per-stage strategies; they and ``staff:reports:read`` read the KPI report and the
  overdue analysis.
* Write-off: proposed with ``staff:risk:manage``, approved or rejected by another staff
  member with ``staff:write_off:approve`` (``write_off_four_eyes`` when the same person
  tries). It moves no money.

No Idempotency-Key: none of these acts moves money; a repeated assignment changes nothing, a
repeated proposal is refused (``write_off_already_proposed``).
"""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, status

from p2plend import clock
from p2plend.api.deps import DbSession
from p2plend.api.routers.origination import require_any
from p2plend.collections import service as collections
from p2plend.collections.schemas import (
    ActionRequest,
    ActionResponse,
    AnalysisResponse,
    AssignRequest,
    CaseDetailResponse,
    CaseListResponse,
    CaseResponse,
    CollectorResponse,
    DecideWriteOffRequest,
    KpiResponse,
    ProposeWriteOffRequest,
    QueueItemResponse,
    StrategyRequest,
    StrategyResponse,
    WriteOffResponse,
)
from p2plend.identity.service import AuthContext, Permission

router = APIRouter(prefix="/api/v1", tags=["collections"])

P = Permission
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Worker = Annotated[AuthContext, Depends(require_any(P.STAFF_COLLECTIONS_MANAGE, P.STAFF_RISK_MANAGE))]
Collector = Annotated[AuthContext, Depends(require_any(P.STAFF_COLLECTIONS_MANAGE))]
Manager = Annotated[AuthContext, Depends(require_any(P.STAFF_RISK_MANAGE))]
Reporter = Annotated[AuthContext, Depends(require_any(P.STAFF_REPORTS_READ, P.STAFF_RISK_MANAGE))]
WriteOffReader = Annotated[
    AuthContext,
    Depends(require_any(P.STAFF_RISK_MANAGE, P.STAFF_WRITE_OFF_APPROVE, P.STAFF_REPORTS_READ)),
]
Proposer = Annotated[AuthContext, Depends(require_any(P.STAFF_RISK_MANAGE))]
Approver = Annotated[AuthContext, Depends(require_any(P.STAFF_WRITE_OFF_APPROVE))]
StageParam = Literal["m1", "m2", "m3", "m3_plus", "m7_plus"]


# --- cases ---------------------------------------------------------------------------------------


@router.get("/staff/collections/cases", summary="Collection cases (催收案件), most overdue first")
def list_cases(
    ctx: Worker,
    session: DbSession,
    *,
    case_status: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
    stage: StageParam | None = None,
    collector_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    unassigned: bool = False,
    loan_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> CaseListResponse:
    page = collections.cases(
        session,
        status=case_status,
        stage=stage,
        collector_id=collector_id,
        unassigned=unassigned,
        loan_id=loan_id,
        limit=limit,
        offset=offset,
    )
    return CaseListResponse(items=[CaseResponse.of(c) for c in page.items], total=page.total)


@router.get("/staff/collections/queue", summary="My work queue (我的催收): my open cases, what to do first")
def my_queue(ctx: Collector, session: DbSession) -> list[QueueItemResponse]:
    return [QueueItemResponse.of(item) for item in collections.queue(session, ctx.user_id)]


@router.get(
    "/staff/collections/cases/{case_id}", summary="A case: the loan's overdue position and everything done"
)
def case_detail(case_id: Id, ctx: Worker, session: DbSession) -> CaseDetailResponse:
    """The borrower's name and phone in clear only with `staff:pii:read` (collectors have it).
    Refusal: `collection_case_not_found`."""
    reveal = P.STAFF_PII_READ.value in ctx.permissions
    return CaseDetailResponse.of(collections.detail(session, case_id, reveal_contact=reveal))


@router.post(
    "/staff/collections/cases/{case_id}/actions",
    status_code=status.HTTP_201_CREATED,
    summary="Log an action: call, message, visit, promise to pay, legal step, note",
)
def log_action(case_id: Id, body: ActionRequest, ctx: Worker, session: DbSession) -> ActionResponse:
    """A message by `sms` or `app` sends the standard reminder to the borrower now. A promise
    to pay is judged by the batch: kept once the amount is repaid by its date, broken the day
    after it otherwise. Refusals: `collection_case_not_found`, `collection_case_closed`,
    `collection_case_not_yours` (another collector's; managers may), `invalid_collection_action`
    (details.field), `invalid_amount`, `invalid_request`."""
    action = collections.ActionInput(
        kind=body.kind, detail=body.detail, note=body.note, amount=body.amount_fen, due_on=body.due_on
    )
    return ActionResponse.of(
        collections.log_action(session, actor_id=ctx.user_id, case_id=case_id, action=action)
    )


@router.put("/staff/collections/cases/{case_id}/collector", summary="Assign or reassign a case (分案)")
def assign_case(case_id: Id, body: AssignRequest, ctx: Manager, session: DbSession) -> CaseResponse:
    """Collections managers. Refusals: `collection_case_not_found`, `collection_case_closed`,
    `invalid_collector` (not an active collector with an authenticator)."""
    return CaseResponse.of(
        collections.assign(
            session, actor_id=ctx.user_id, case_id=case_id, collector_id=body.collector_id, reason=body.reason
        )
    )


@router.get("/staff/collections/collectors", summary="Active collectors and their open cases")
def list_collectors(ctx: Worker, session: DbSession) -> list[CollectorResponse]:
    loads = collections.open_cases_by_collector(session)
    return [
        CollectorResponse(user_id=c, name=collections.staff_name(session, c), open_cases=loads.get(c, 0))
        for c in collections.active_collectors(session)
    ]


# --- strategies ----------------------------------------------------------------------------------


@router.get("/staff/collections/strategies", summary="The per-stage strategies (催收策略)")
def list_strategies(ctx: Worker, session: DbSession) -> list[StrategyResponse]:
    return [StrategyResponse.of(s) for s in collections.strategies(session)]


@router.put("/staff/collections/strategies/{stage}", summary="Set a stage's strategy")
def set_strategy(
    stage: StageParam, body: StrategyRequest, ctx: Manager, session: DbSession
) -> StrategyResponse:
    """Collections managers; audited with the previous values. Refusal:
    `invalid_collection_strategy` (details.field: treatment, assignment, reminder_every_days,
    contact_every_days, team)."""
    return StrategyResponse.of(
        collections.update_strategy(session, actor_id=ctx.user_id, stage=stage, change=body.change())
    )


# --- reports -------------------------------------------------------------------------------------


@router.get("/staff/collections/kpi", summary="KPI: recovery by stage and collector, roll rates")
def kpi_report(
    ctx: Reporter,
    session: DbSession,
    first: Annotated[date | None, Query(alias="from", description="Default: 30 days before `to`")] = None,
    last: Annotated[date | None, Query(alias="to", description="Default: today")] = None,
) -> KpiResponse:
    """See docs/collections.md for the formulas. Refusal: `invalid_report_period`."""
    last = last or clock.today()
    first = first or date.fromordinal(max(1, last.toordinal() - 30))  # no earlier than 0001-01-01
    return KpiResponse.of(collections.kpi(session, first, last))


@router.get("/staff/collections/analysis", summary="Overdue loans by region, product, grade or industry")
def overdue_analysis(
    ctx: Reporter,
    session: DbSession,
    dimension: Literal["region", "city", "product", "grade", "industry"] = "region",
) -> AnalysisResponse:
    return AnalysisResponse.of(collections.analysis(session, dimension))


# --- write-off -----------------------------------------------------------------------------------


@router.get("/staff/write-offs", summary="Write-offs (核销), newest first")
def list_write_offs(
    ctx: WriteOffReader,
    session: DbSession,
    write_off_status: Annotated[
        Literal["proposed", "approved", "rejected"] | None, Query(alias="status")
    ] = None,
    loan_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[WriteOffResponse]:
    return [
        WriteOffResponse.of(w)
        for w in collections.write_offs(session, status=write_off_status, loan_id=loan_id)
    ]


@router.get("/staff/write-offs/{write_off_id}", summary="A write-off, with the claims and recoveries since")
def get_write_off(write_off_id: Id, ctx: WriteOffReader, session: DbSession) -> WriteOffResponse:
    return WriteOffResponse.of(collections.view(session, write_off_id))


@router.post("/staff/write-offs", status_code=status.HTTP_201_CREATED, summary="Propose a write-off")
def propose_write_off(body: ProposeWriteOffRequest, ctx: Proposer, session: DbSession) -> WriteOffResponse:
    """A loan more than 180 days past due (`dpd_over_180`) or with a stated proof of loss
    (`proof_of_loss`). Refusals: `loan_not_found`, `write_off_not_eligible`,
    `write_off_already_proposed`, `invalid_write_off` (details.field)."""
    return WriteOffResponse.of(
        collections.propose(
            session, actor_id=ctx.user_id, loan_id=body.loan_id, reason=body.reason, proof=body.proof
        )
    )


@router.post("/staff/write-offs/{write_off_id}/approve", summary="Approve a write-off (second staff member)")
def approve_write_off(
    write_off_id: Id, body: DecideWriteOffRequest, ctx: Approver, session: DbSession
) -> WriteOffResponse:
    """The holders' claims are marked lost for reporting and each holder is told; no money
    moves, later repayments still reach the holders. Refusals: `write_off_not_found`,
    `write_off_not_pending`, `write_off_four_eyes`, `write_off_not_eligible` (checked again)."""
    return WriteOffResponse.of(
        collections.approve(session, actor_id=ctx.user_id, write_off_id=write_off_id, note=body.note)
    )


@router.post("/staff/write-offs/{write_off_id}/reject", summary="Reject a write-off (second staff member)")
def reject_write_off(
    write_off_id: Id, body: DecideWriteOffRequest, ctx: Approver, session: DbSession
) -> WriteOffResponse:
    """Refusals: `write_off_not_found`, `write_off_not_pending`, `write_off_four_eyes`,
    `invalid_write_off` (a note is needed)."""
    return WriteOffResponse.of(
        collections.reject(session, actor_id=ctx.user_id, write_off_id=write_off_id, note=body.note)
    )

"""Custody API (资金存管): deposits, withdrawals, my account, bank callbacks, reconciliation,
orphaned bank instructions."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.api.deps import DbSession, IdempotencyKey, QueryId, get_custodian, require
from p2plend.api.errors import error_responses
from p2plend.config import Settings
from p2plend.custody import service as custody
from p2plend.custody.errors import OrderNotFound
from p2plend.custody.port import Custodian
from p2plend.custody.schemas import (
    AccountResponse,
    AnomalyResponse,
    CallbackAck,
    DepositResponse,
    OrphanSweepRequest,
    OrphanSweepResponse,
    ReconcileRequest,
    ReconciliationResponse,
    StartDepositRequest,
    VoidedInstructionResponse,
    WithdrawalRequest,
    WithdrawalResponse,
)
from p2plend.db import transaction
from p2plend.identity import service as identity
from p2plend.ledger import service as ledger

router = APIRouter(prefix="/api/v1", tags=["custody"])


AppCustodian = Annotated[Custodian, Depends(get_custodian)]
FundsUser = Annotated[identity.AuthContext, Depends(require(identity.Permission.FUNDS_SELF))]
Reconciler = Annotated[identity.AuthContext, Depends(require(identity.Permission.STAFF_CUSTODY_RECONCILE))]


def drive_withdrawals(factory: sessionmaker[Session], custodian: Custodian) -> None:
    """After the request committed: send pending instructions, then deliver the bank's answers."""
    with transaction(factory) as session:
        custody.submit_pending_withdrawals(session, custodian)
    custodian.deliver_pending()


@router.post(
    "/deposits",
    status_code=status.HTTP_201_CREATED,
    response_model=DepositResponse,
    summary="Start a deposit (充值): pay on the custodian bank's page",
)
def start_deposit(
    *,
    body: StartDepositRequest,
    ctx: FundsUser,
    session: DbSession,
    custodian: AppCustodian,
    idem: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Money arrives in your available balance when the bank confirms the payment.
    Refusals: `invalid_amount`, `deposit_amount_out_of_range`, `custody_account_required`,
    `card_not_found`, `idempotency_key_reused`."""
    replay = idem.replay(session, user_id=ctx.user_id, operation="deposit.start")
    if replay is not None:
        return replay
    order = custody.start_deposit(
        session,
        ctx.user_id,
        amount=body.amount_fen,
        card_id=body.card_id,
        custodian=custodian,
        settings=request.app.state.settings,
    )
    return idem.respond(
        session, user_id=ctx.user_id, operation="deposit.start", payload=DepositResponse.of(order), status=201
    )


@router.get("/deposits/{order_no}", summary="One of my deposit orders")
def get_deposit(order_no: str, ctx: FundsUser, session: DbSession) -> DepositResponse:
    return DepositResponse.of(custody.deposit_order(session, ctx.user_id, order_no))


@router.post(
    "/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=WithdrawalResponse,
    summary="Withdraw (提现) to one of my bound cards, with my authenticator code",
    responses=error_responses(423),
)
def request_withdrawal(
    *,
    body: WithdrawalRequest,
    ctx: FundsUser,
    session: DbSession,
    custodian: AppCustodian,
    idem: IdempotencyKey,
    request: Request,
    background: BackgroundTasks,
) -> JSONResponse:
    """Amount + fee are frozen at once and sent to the bank after this request commits.
    Refusals: `totp_invalid`, `totp_not_enrolled`, `invalid_amount`, `insufficient_funds`,
    `custody_account_required`, `card_not_found`, `idempotency_key_reused`."""
    replay = idem.replay(session, user_id=ctx.user_id, operation="withdrawal.request")
    if replay is not None:
        return replay
    order = custody.request_withdrawal(
        session,
        ctx.user_id,
        amount=body.amount_fen,
        card_id=body.card_id,
        totp_code=body.totp_code,
        settings=request.app.state.settings,
    )
    background.add_task(drive_withdrawals, request.app.state.session_factory, custodian)
    return idem.respond(
        session,
        user_id=ctx.user_id,
        operation="withdrawal.request",
        payload=WithdrawalResponse.of(order),
        status=201,
    )


@router.get("/withdrawals/{order_no}", summary="One of my withdrawal orders")
def get_withdrawal(order_no: str, ctx: FundsUser, session: DbSession) -> WithdrawalResponse:
    return WithdrawalResponse.of(custody.withdrawal_order(session, ctx.user_id, order_no))


@router.get("/me/account", summary="My custody balances and money history (资金流水)")
def my_account(
    ctx: FundsUser,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before_entry_id: QueryId = None,
) -> AccountResponse:
    account = custody.custody_account_of(session, ctx.user_id)
    history = ledger.user_history(session, ctx.user_id, limit=limit, before_entry_id=before_entry_id)
    return AccountResponse.of(
        None if account is None else account.sub_account_no,
        ledger.user_balances(session, ctx.user_id),
        history,
        limit,
    )


@router.post(
    "/custody/callbacks",
    summary="The custodian bank's signed callbacks (银行回调)",
    tags=["custodian"],
)
async def custodian_callback(
    request: Request,
    signature: Annotated[
        str, Header(alias="X-Custodian-Signature", description="hex HMAC-SHA256 of the raw body")
    ],
) -> CallbackAck:
    """The raw body is what was signed. 200 acknowledges (also for duplicates and recorded
    rejections); `401 invalid_signature` changes nothing; anything else makes the bank retry."""
    body = await request.body()
    factory: sessionmaker[Session] = request.app.state.session_factory
    settings: Settings = request.app.state.settings
    outcome = await run_in_threadpool(
        _handle_callback, factory, body, signature, settings.custodian_hmac_secret
    )
    return CallbackAck.of(outcome)


def _handle_callback(
    factory: sessionmaker[Session], body: bytes, signature: str, secret: str
) -> custody.CallbackOutcome:
    """Its own transaction (not DbSession: the endpoint is async to read the raw body), in a
    worker thread like every other request's database work. On the event loop a wait for a
    row lock stops the loop — and with it the commits of the requests that hold the lock: the
    server froze for good (found by ``p2plend chaos bank``, docs/reliability.md)."""
    with transaction(factory) as session:
        return custody.handle_callback(session, body, signature, secret=secret)


@router.post(
    "/staff/custody/reconciliations",
    status_code=status.HTTP_201_CREATED,
    summary="Reconcile every sub-account with the bank's statement for a day (对账, R12)",
    tags=["staff"],
)
def run_reconciliation(
    body: ReconcileRequest, ctx: Reconciler, session: DbSession, custodian: AppCustodian
) -> ReconciliationResponse:
    report = custody.reconcile(session, custodian, body.date, actor_id=ctx.user_id)
    return _run_response(session, report.run_id)


@router.get(
    "/staff/custody/reconciliations", summary="Past reconciliation runs, newest first", tags=["staff"]
)
def list_reconciliations(
    ctx: Reconciler, session: DbSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[ReconciliationResponse]:
    return [_run_response(session, run.id) for run in custody.reconciliation_runs(session, limit=limit)]


def _run_response(session: Session, run_id: int | None) -> ReconciliationResponse:
    run = custody.reconciliation_run(session, run_id) if run_id is not None else None
    if run is None:
        raise OrderNotFound("No such reconciliation run.")
    return ReconciliationResponse.of(run, custody.reconciliation_differences(session, run.id))


@router.get(
    "/staff/custody/anomalies",
    summary="Open callback anomalies for ops: mismatched amounts, unknown orders, contradictions",
    tags=["staff"],
)
def list_anomalies(
    ctx: Reconciler, session: DbSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[AnomalyResponse]:
    return [AnomalyResponse.of(row) for row in custody.open_anomalies(session, limit=limit)]


@router.get(
    "/staff/custody/voided-instructions",
    summary="Orphaned bank transfers voided by the sweep, newest first, with their reversals",
    tags=["staff"],
)
def list_voided_instructions(
    ctx: Reconciler, session: DbSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[VoidedInstructionResponse]:
    """A transfer the bank carried out but no act of the platform recorded (its transaction
    rolled back) is voided and reversed at the bank. `reversal_status` `refused`: the bank
    would not reverse it; custody differs by its amount until staff settle it."""
    return [VoidedInstructionResponse.of(row) for row in custody.voided_instructions(session, limit=limit)]


@router.post(
    "/staff/custody/orphan-sweeps",
    summary="Void and reverse the bank's transfers no act recorded (what `p2plend custody sweep` does)",
    tags=["staff"],
)
def sweep_orphaned_instructions(
    request: Request,
    ctx: Reconciler,
    session: DbSession,
    custodian: AppCustodian,
    body: OrphanSweepRequest | None = None,
) -> OrphanSweepResponse:
    """Every transfer the bank carried out more than `grace_minutes` ago (default 15) that no
    act recorded is voided, then reversed at the bank; a refused reversal is listed in
    `refused` (and in `GET /staff/custody/voided-instructions`). Running it again changes
    nothing more."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    grace = timedelta(minutes=(body or OrphanSweepRequest()).grace_minutes)
    session.commit()  # the sweep commits each void before its reversal, in transactions of its own
    report = custody.sweep_orphaned_instructions(
        factory, custodian, now=clock.now(), grace=grace, actor_id=ctx.user_id
    )
    return OrphanSweepResponse.of(report)

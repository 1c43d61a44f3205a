"""Borrowers' loans API (我的借款): schedules, repayments (还款) and early repayment (提前还款).

Only the borrower sees or repays a loan: anyone else's loan is ``404 loan_not_found``.
Paying moves money from the borrower's own sub-account straight to the holders' (and the
fees to the platform) at the custodian bank; both money-moving calls take an Idempotency-Key.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.api.deps import DbSession, IdempotencyKey, require
from p2plend.api.routers.custody import AppCustodian
from p2plend.api.routers.marketplace import LoanId, scoped
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import LoanNotFound
from p2plend.marketplace.models import Loan
from p2plend.money import parse_amount, yuan_str
from p2plend.schedules.service import PartialPrepaymentChoice
from p2plend.servicing import service as servicing
from p2plend.servicing.errors import InvalidRepayment, NothingDue
from p2plend.servicing.models import Repayment
from p2plend.servicing.schemas import (
    EarlyRepaymentQuoteOut,
    EarlyRepayRequest,
    InstallmentOut,
    MyLoanDetail,
    MyLoanSummary,
    RepaymentOut,
    RepaymentResult,
    RepayRequest,
)

router = APIRouter(prefix="/api/v1", tags=["loans"])

Borrower = Annotated[identity.AuthContext, Depends(require(identity.Permission.BORROW_SELF))]


def my_loan(session: Session, ctx: identity.AuthContext, loan_id: int) -> Loan:
    """The caller's own loan; anyone else's is not found (not even "forbidden")."""
    loan = marketplace.get_loan(session, loan_id)
    if loan.borrower_id != ctx.user_id:
        raise LoanNotFound("No such loan.", details={"loan_id": loan_id})
    return loan


def _due(session: Session, loan: Loan) -> servicing.AmountDue | None:
    return servicing.amount_due(session, loan.id) if loan.status == marketplace.DISBURSED else None


def _result(session: Session, repayment: Repayment) -> RepaymentResult:
    loan = marketplace.get_loan(session, repayment.loan_id)
    return RepaymentResult(
        **RepaymentOut.of(repayment).model_dump(),
        loan_status=loan.status,
        principal_outstanding=yuan_str(loan.principal_outstanding),
    )


@router.get("/me/loans", summary="My loans (我的借款): status, outstanding principal, what is due next")
def my_loans(
    ctx: Borrower, session: DbSession, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> list[MyLoanSummary]:
    loans = marketplace.loans(session, borrower_id=ctx.user_id, limit=limit)
    return [MyLoanSummary.of(loan, _due(session, loan)) for loan in loans]


@router.get("/me/loans/{loan_id}", summary="One of my loans: its schedule (还款计划), repayments, due now")
def my_loan_detail(loan_id: LoanId, ctx: Borrower, session: DbSession) -> MyLoanDetail:
    loan = my_loan(session, ctx, loan_id)
    summary = MyLoanSummary.of(loan, _due(session, loan))
    return MyLoanDetail(
        **summary.model_dump(),
        schedule=[InstallmentOut.of(row) for row in servicing.schedule(session, loan.id)],
        repayments=[RepaymentOut.of(r) for r in servicing.repayments_of_loan(session, loan.id)],
        service_fee=yuan_str(loan.service_fee),
    )


@router.post(
    "/me/loans/{loan_id}/repayments",
    status_code=status.HTTP_201_CREATED,
    response_model=RepaymentResult,
    summary="Repay (还款) what is due now, or part of it",
)
def repay(
    *,
    loan_id: LoanId,
    body: RepayRequest,
    ctx: Borrower,
    session: DbSession,
    custodian: AppCustodian,
    idem: IdempotencyKey,
) -> JSONResponse:
    """Without `amount`: everything due now (every installment due by today, else the next
    one). A part is applied fees → interest → principal, oldest installment first (R32).
    Split among the holders on the payment date (R25). Refusals: `invalid_amount`,
    `loan_not_found`, `nothing_due`, `invalid_repayment` (not disbursed), `repayment_exceeds_due`
    (paying ahead is an early repayment), `insufficient_funds`, `custodian_refused`,
    `idempotency_key_reused`."""
    request = scoped(idem, f"loan:{loan_id}")
    replay = request.replay(session, user_id=ctx.user_id, operation="loan.repay")
    if replay is not None:
        return replay
    my_loan(session, ctx, loan_id)
    repayment = servicing.repay(
        session, loan_id, payer_id=ctx.user_id, custodian=custodian, amount=body.amount_fen
    )
    return request.respond(
        session, user_id=ctx.user_id, operation="loan.repay", payload=_result(session, repayment), status=201
    )


def _early_principal(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else parse_amount(raw)


def _repayable(loan: Loan) -> None:
    """The refusals ``repay_early`` gives, for the quote too (which otherwise reads any loan)."""
    if loan.status == marketplace.SETTLED:
        raise NothingDue("This loan is repaid.")
    if loan.status != marketplace.DISBURSED:
        raise InvalidRepayment("This loan has not been disbursed.", details={"status": loan.status})


@router.get(
    "/me/loans/{loan_id}/early-repayment",
    summary="Quote an early repayment (提前还款) today: nothing is stored",
)
def early_repayment_quote(
    loan_id: LoanId,
    ctx: Borrower,
    session: DbSession,
    principal: Annotated[str | None, Query(description="Yuan of principal; omitted: all of it")] = None,
    choice: PartialPrepaymentChoice = PartialPrepaymentChoice.LOWER_INSTALLMENT,
) -> EarlyRepaymentQuoteOut:
    """Full: the remaining principal + the current period's interest up to today + the
    prepayment fee; no further interest. Partial: that principal, its interest up to today and
    fee, and the schedule after it — a shorter term (same installment) or a lower installment
    (same term). Refusals: `invalid_amount`, `loan_not_found`, `nothing_due`,
    `invalid_repayment`, `installment_due_first`, `invalid_loan_terms` (a principal not below
    what remains, or a shorter term on a loan that cannot have one)."""
    amount = _early_principal(principal)
    loan = my_loan(session, ctx, loan_id)
    _repayable(loan)
    quote = servicing.early_repayment_quote(session, loan.id, principal=amount, choice=choice)
    return EarlyRepaymentQuoteOut.of(quote, clock.today(), choice)


@router.post(
    "/me/loans/{loan_id}/early-repayments",
    status_code=status.HTTP_201_CREATED,
    response_model=RepaymentResult,
    summary="Repay early (提前还款): all the remaining principal, or part of it",
)
def repay_early(
    *,
    loan_id: LoanId,
    body: EarlyRepayRequest,
    ctx: Borrower,
    session: DbSession,
    custodian: AppCustodian,
    idem: IdempotencyKey,
) -> JSONResponse:
    """Pays exactly what `GET …/early-repayment` quotes today with the same `principal` and
    `choice`; a partial one writes the new schedule. Refusals: as the quote, plus
    `insufficient_funds`, `custodian_refused`, `idempotency_key_reused`."""
    request = scoped(idem, f"loan:{loan_id}")
    replay = request.replay(session, user_id=ctx.user_id, operation="loan.repay_early")
    if replay is not None:
        return replay
    my_loan(session, ctx, loan_id)
    repayment = servicing.repay_early(
        session,
        loan_id,
        payer_id=ctx.user_id,
        custodian=custodian,
        principal=body.principal_fen,
        choice=body.choice,
    )
    return request.respond(
        session,
        user_id=ctx.user_id,
        operation="loan.repay_early",
        payload=_result(session, repayment),
        status=201,
    )

"""Statements API: an investor's portfolio and repayment calendar (JSON, CSV); a borrower's schedule CSV."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from p2plend.api.deps import DbSession, Id, require
from p2plend.identity import service as identity
from p2plend.marketplace import service as marketplace
from p2plend.marketplace.errors import LoanNotFound
from p2plend.servicing import statements
from p2plend.servicing.statement_schemas import (
    CALENDAR_CSV_HEADER,
    PORTFOLIO_CSV_HEADER,
    SCHEDULE_CSV_HEADER,
    CalendarLineOut,
    PortfolioOut,
    calendar_csv_rows,
    portfolio_csv_rows,
    schedule_csv_rows,
)

router = APIRouter(prefix="/api/v1", tags=["statements"])

Investor = Annotated[identity.AuthContext, Depends(require(identity.Permission.INVEST_SELF))]
Borrower = Annotated[identity.AuthContext, Depends(require(identity.Permission.BORROW_SELF))]


def csv_download(text: str, filename: str) -> Response:
    """A CSV file the browser saves (API and pages alike)."""
    return Response(
        content=text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/me/portfolio", summary="My investments (我的投资): outstanding, expected, received, XIRR")
def my_portfolio(ctx: Investor, session: DbSession) -> PortfolioOut:
    return PortfolioOut.of(statements.portfolio(session, ctx.user_id))


@router.get("/me/portfolio.csv", summary="My investments as CSV", response_class=Response)
def my_portfolio_csv(ctx: Investor, session: DbSession) -> Response:
    book = statements.portfolio(session, ctx.user_id)
    return csv_download(statements.csv_text(PORTFOLIO_CSV_HEADER, portfolio_csv_rows(book)), "portfolio.csv")


@router.get("/me/calendar", summary="My repayment calendar (回款计划): every receipt due to me")
def my_calendar(ctx: Investor, session: DbSession) -> list[CalendarLineOut]:
    return [CalendarLineOut.of(line) for line in statements.repayment_calendar(session, ctx.user_id)]


@router.get("/me/calendar.csv", summary="My repayment calendar as CSV", response_class=Response)
def my_calendar_csv(ctx: Investor, session: DbSession) -> Response:
    lines = statements.repayment_calendar(session, ctx.user_id)
    return csv_download(statements.csv_text(CALENDAR_CSV_HEADER, calendar_csv_rows(lines)), "calendar.csv")


@router.get("/me/loans/{loan_id}/schedule.csv", summary="My loan's schedule as CSV", response_class=Response)
def my_schedule_csv(loan_id: Id, ctx: Borrower, session: DbSession) -> Response:
    loan = marketplace.get_loan(session, loan_id)
    if loan.borrower_id != ctx.user_id:
        raise LoanNotFound("No such loan.", details={"loan_id": loan_id})
    rows = schedule_csv_rows(statements.borrower_statement(session, loan_id))
    return csv_download(statements.csv_text(SCHEDULE_CSV_HEADER, rows), f"loan-{loan_id}-schedule.csv")

"""我的投资 (portfolio, realised return) and 回款计划 (repayment calendar), with CSV downloads."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from p2plend.api.deps import DbSession
from p2plend.api.routers.statements import csv_download
from p2plend.collections import service as collections
from p2plend.identity import service as identity
from p2plend.jobs import eod
from p2plend.p2b import service as p2b
from p2plend.portfolio import service as portfolio
from p2plend.servicing import end_of_day, statements
from p2plend.servicing.statement_schemas import (
    CALENDAR_CSV_HEADER,
    PORTFOLIO_CSV_HEADER,
    calendar_csv_rows,
    portfolio_csv_rows,
)
from p2plend.web.auth import CurrentUser
from p2plend.web.render import render
from p2plend.web.routes.lending import percent

router = APIRouter(include_in_schema=False)


def _investor(user: identity.AuthContext) -> None:
    identity.require_permission(user, identity.Permission.INVEST_SELF)


@router.get("/portfolio")
def portfolio_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """Each holding with its loan's overdue position (DPD, stage) as of the last end-of-day batch."""
    _investor(user)
    book = statements.portfolio(session, user.user_id)
    context = {
        "book": book,
        "positions": end_of_day.loan_positions(session, [h.loan_id for h in book.holdings]),
        "as_of": eod.last_closed(session),
        # 核销: a reporting status; the claim stays the holder's and recoveries still reach it.
        "written_off": collections.written_off_loans(session, [h.loan_id for h in book.holdings]),
        # 集中度 (docs/portfolio.md): largest exposure, by grade, by borrower, the warning line.
        "concentration": portfolio.concentration(session, user.user_id),
        "share": percent,
        # 机构债权（P2B）: labelled with the warning wherever they appear.
        "partner_loans": p2b.partner_claim_loans(session, [h.loan_id for h in book.holdings]),
    }
    return render(request, "portfolio.html", context)


@router.get("/portfolio.csv")
def portfolio_csv(session: DbSession, user: CurrentUser) -> Response:
    _investor(user)
    rows = portfolio_csv_rows(statements.portfolio(session, user.user_id))
    return csv_download(statements.csv_text(PORTFOLIO_CSV_HEADER, rows), "portfolio.csv")


@router.get("/portfolio/calendar")
def calendar_page(request: Request, session: DbSession, user: CurrentUser) -> Response:
    _investor(user)
    lines = statements.repayment_calendar(session, user.user_id)
    months: dict[str, list[statements.CalendarLine]] = {}
    for line in lines:
        months.setdefault(f"{line.due_date:%Y-%m}", []).append(line)
    partner_loans = p2b.partner_claim_loans(session, [line.loan_id for line in lines])
    return render(
        request,
        "portfolio_calendar.html",
        {"months": months, "lines": lines, "partner_loans": partner_loans},
    )


@router.get("/portfolio/calendar.csv")
def calendar_csv(session: DbSession, user: CurrentUser) -> Response:
    _investor(user)
    rows = calendar_csv_rows(statements.repayment_calendar(session, user.user_id))
    return csv_download(statements.csv_text(CALENDAR_CSV_HEADER, rows), "calendar.csv")

"""Statements: the investor's portfolio, repayment calendar and realised return; the borrower's schedule.

Projections follow the borrower's schedule only (DOMAIN.md §3): the future installments
are split among today's holdings exactly as ``_distribute`` will split them when paid on
time, each holding's principal shrinking as it would — so a holding's projected principal
sums to what it has outstanding, to the fen.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.marketplace import service as marketplace
from p2plend.marketplace import transfer_listings
from p2plend.marketplace.models import Holding, Loan
from p2plend.money import allocate, fen_times_rate
from p2plend.servicing import service as servicing
from p2plend.servicing.models import Distribution, ScheduledInstallment
from p2plend.servicing.service import DUE


@dataclass(frozen=True)
class CalendarLine:
    """回款计划: what one holding should receive on one due date if the borrower pays on time."""

    due_date: date
    loan_id: int
    loan_title: str
    holding_id: int
    installment: int
    principal: int
    interest: int
    fee: int  # the investor management fee on that interest

    @property
    def net(self) -> int:
        return self.principal + self.interest - self.fee


@dataclass(frozen=True)
class HoldingLine:
    holding_id: int
    loan_id: int
    loan_title: str
    loan_status: str
    annual_rate: Decimal
    acquired_on: date
    principal_acquired: int
    principal_outstanding: int  # 待收本金
    interest_expected: int  # 待收利息 (gross, before the management fee)
    principal_received: int  # 已收本金
    interest_received: int  # 已收利息
    prepayment_fees_received: int
    fees_paid: int
    xirr: Decimal | None  # realised annualised return; None while it cannot be computed


@dataclass(frozen=True)
class Portfolio:
    holdings: tuple[HoldingLine, ...]
    xirr: Decimal | None

    @property
    def principal_outstanding(self) -> int:
        return sum(h.principal_outstanding for h in self.holdings)

    @property
    def interest_expected(self) -> int:
        return sum(h.interest_expected for h in self.holdings)

    @property
    def principal_received(self) -> int:
        return sum(h.principal_received for h in self.holdings)

    @property
    def interest_received(self) -> int:
        return sum(h.interest_received for h in self.holdings)

    @property
    def fees_paid(self) -> int:
        return sum(h.fees_paid for h in self.holdings)


# --- investor ----------------------------------------------------------------------------


def repayment_calendar(session: Session, holder_id: int) -> list[CalendarLine]:
    """Every future receipt of the holder's live holdings, by due date."""
    lines: list[CalendarLine] = []
    for loan in _loans_held(session, holder_id):
        lines.extend(_project(session, loan, holder_id))
    return sorted(lines, key=lambda line: (line.due_date, line.loan_id, line.holding_id))


def portfolio(session: Session, holder_id: int) -> Portfolio:
    """我的投资: each holding's outstanding, expected and received amounts and its return."""
    holdings = marketplace.holdings_of_holder(session, holder_id)
    expected: dict[int, int] = {}
    for line in repayment_calendar(session, holder_id):
        expected[line.holding_id] = expected.get(line.holding_id, 0) + line.interest
    today = clock.today()
    lines, all_flows = [], []
    for holding in holdings:
        loan = marketplace.get_loan(session, holding.loan_id)
        flows = _cash_flows(session, holding, today)
        all_flows.extend(flows)
        lines.append(
            HoldingLine(
                holding_id=holding.id,
                loan_id=loan.id,
                loan_title=loan.title,
                loan_status=loan.status,
                annual_rate=Decimal(loan.annual_rate),
                acquired_on=clock.business_date_of(holding.acquired_at),
                principal_acquired=holding.principal_acquired,
                principal_outstanding=holding.principal_outstanding,
                interest_expected=expected.get(holding.id, 0),
                principal_received=holding.principal_received,
                interest_received=holding.interest_received,
                prepayment_fees_received=holding.prepayment_fee_received,
                fees_paid=holding.fees_paid,
                xirr=xirr(flows),
            )
        )
    return Portfolio(holdings=tuple(lines), xirr=xirr(all_flows))


def _loans_held(session: Session, holder_id: int) -> list[Loan]:
    loan_ids = sorted(
        {h.loan_id for h in marketplace.holdings_of_holder(session, holder_id) if h.principal_outstanding > 0}
    )
    return [marketplace.get_loan(session, loan_id) for loan_id in loan_ids]


def _project(session: Session, loan: Loan, holder_id: int) -> list[CalendarLine]:
    """The loan's unpaid installments split among its holdings as on-time payment would split
    them: the part of an installment a compensating guarantor owns to it, the rest pro rata
    among the investors' claims (as ``servicing.service`` distributes a payment)."""
    holdings = marketplace.holdings_of_loan(session, loan.id)
    investors = [h for h in holdings if h.source != servicing.COMPENSATION]
    payers = {h.holder_id: h for h in holdings if h.source == servicing.COMPENSATION}
    weights = [h.principal_outstanding for h in investors]
    rate = Decimal(loan.investor_fee_rate)
    lines = []

    def line(row: ScheduledInstallment, holding: Holding, principal: int, interest: int, fee: int) -> None:
        if holding.holder_id == holder_id and (principal or interest):
            lines.append(
                CalendarLine(
                    due_date=row.due_date,
                    loan_id=loan.id,
                    loan_title=loan.title,
                    holding_id=holding.id,
                    installment=row.number,
                    principal=principal,
                    interest=interest,
                    fee=fee,
                )
            )

    for row in servicing.unpaid_installments(session, loan.id):
        if row.compensated_by in payers:
            line(row, payers[row.compensated_by], row.compensated_principal, row.compensated_interest, 0)
        pooled_principal = row.principal - row.paid_principal - row.compensated_principal
        pooled_interest = row.interest - row.paid_interest - row.compensated_interest
        if sum(weights) == 0:
            continue
        interest = allocate(pooled_interest, weights)
        principal = allocate(pooled_principal, weights)
        for i, holding in enumerate(investors):
            line(row, holding, principal[i], interest[i], fen_times_rate(interest[i], rate))
        weights = [w - p for w, p in zip(weights, principal, strict=True)]
    return lines


def _cash_flows(session: Session, holding: Holding, today: date) -> list[tuple[date, int]]:
    """The holder's money out (the principal lent) and in (every net receipt); a live
    holding's outstanding principal counts as received today, so the return is realised
    on what has actually happened, not on promises."""
    # A claim bought on the transfer market cost its price; a part sold brought its net.
    bought = transfer_listings.purchase_of(session, holding.id)
    if bought is not None:
        flows = [(bought.business_date, -bought.price)]
    else:
        flows = [(clock.business_date_of(holding.acquired_at), -holding.principal_acquired)]
    for d in session.scalars(select(Distribution).where(Distribution.holding_id == holding.id)).all():
        flows.append((d.business_date, d.net))
    flows.extend(
        (sale.business_date, sale.seller_net) for sale in transfer_listings.sales_from(session, holding.id)
    )
    if holding.principal_outstanding:
        flows.append((today, holding.principal_outstanding))
    return flows


def xirr(flows: Sequence[tuple[date, int]]) -> Decimal | None:
    """The annual rate r with Σ cf / (1 + r)^(days/365) = 0, to 0.01 % (bisection, Decimal).

    None when there is no sign change to solve for (nothing received yet, or less than a
    day elapsed)."""
    if not flows:
        return None
    start = min(day for day, _ in flows)
    points = [(Decimal((day - start).days) / 365, Decimal(amount)) for day, amount in flows]
    if all(t == 0 for t, _ in points) or all(a >= 0 for _, a in points) or all(a <= 0 for _, a in points):
        return None
    with localcontext() as ctx:
        ctx.prec = 28

        def npv(rate: Decimal) -> Decimal:
            return sum((a / (1 + rate) ** t for t, a in points), Decimal(0))

        low, high = Decimal("-0.99"), Decimal(10)
        if npv(low) * npv(high) > 0:
            return None
        for _ in range(80):
            mid = (low + high) / 2
            if npv(low) * npv(mid) <= 0:
                high = mid
            else:
                low = mid
        return ((low + high) / 2).quantize(Decimal("0.0001"))


# --- borrower ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BorrowerStatement:
    loan: Loan
    installments: tuple[ScheduledInstallment, ...]
    next_due: ScheduledInstallment | None

    @property
    def paid(self) -> int:
        return sum(r.paid_principal + r.paid_interest + r.paid_fee for r in self.installments)

    @property
    def unpaid(self) -> int:
        return sum(r.owed for r in self.installments if r.status == DUE)


def borrower_statement(session: Session, loan_id: int) -> BorrowerStatement:
    rows = servicing.schedule(session, loan_id, with_superseded=True)
    upcoming = [r for r in rows if r.status == DUE]
    return BorrowerStatement(
        loan=marketplace.get_loan(session, loan_id),
        installments=tuple(rows),
        next_due=upcoming[0] if upcoming else None,
    )


# --- export ------------------------------------------------------------------------------


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV with a UTF-8 BOM so spreadsheet programs read the Chinese headers correctly."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()

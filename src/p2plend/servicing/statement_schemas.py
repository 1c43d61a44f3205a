"""API shapes of the statements: money as two-decimal strings, rates as strings."""

from datetime import date

from pydantic import BaseModel

from p2plend.money import yuan_str
from p2plend.servicing.statements import BorrowerStatement, CalendarLine, HoldingLine, Portfolio


class HoldingOut(BaseModel):
    holding_id: int
    loan_id: int
    loan_title: str
    loan_status: str
    annual_rate: str
    acquired_on: date
    principal_acquired: str
    principal_outstanding: str
    interest_expected: str
    principal_received: str
    interest_received: str
    prepayment_fees_received: str
    fees_paid: str
    xirr: str | None

    @classmethod
    def of(cls, h: HoldingLine) -> "HoldingOut":
        return cls(
            holding_id=h.holding_id,
            loan_id=h.loan_id,
            loan_title=h.loan_title,
            loan_status=h.loan_status,
            annual_rate=str(h.annual_rate.normalize()),
            acquired_on=h.acquired_on,
            principal_acquired=yuan_str(h.principal_acquired),
            principal_outstanding=yuan_str(h.principal_outstanding),
            interest_expected=yuan_str(h.interest_expected),
            principal_received=yuan_str(h.principal_received),
            interest_received=yuan_str(h.interest_received),
            prepayment_fees_received=yuan_str(h.prepayment_fees_received),
            fees_paid=yuan_str(h.fees_paid),
            xirr=None if h.xirr is None else str(h.xirr),
        )


class PortfolioOut(BaseModel):
    """我的投资: 待收本金, 待收利息, 已收本金, 已收利息, fees, and the realised return (XIRR)."""

    principal_outstanding: str
    interest_expected: str
    principal_received: str
    interest_received: str
    fees_paid: str
    xirr: str | None
    holdings: list[HoldingOut]

    @classmethod
    def of(cls, p: Portfolio) -> "PortfolioOut":
        return cls(
            principal_outstanding=yuan_str(p.principal_outstanding),
            interest_expected=yuan_str(p.interest_expected),
            principal_received=yuan_str(p.principal_received),
            interest_received=yuan_str(p.interest_received),
            fees_paid=yuan_str(p.fees_paid),
            xirr=None if p.xirr is None else str(p.xirr),
            holdings=[HoldingOut.of(h) for h in p.holdings],
        )


class CalendarLineOut(BaseModel):
    due_date: date
    loan_id: int
    loan_title: str
    holding_id: int
    installment: int
    principal: str
    interest: str
    fee: str
    net: str

    @classmethod
    def of(cls, line: CalendarLine) -> "CalendarLineOut":
        return cls(
            due_date=line.due_date,
            loan_id=line.loan_id,
            loan_title=line.loan_title,
            holding_id=line.holding_id,
            installment=line.installment,
            principal=yuan_str(line.principal),
            interest=yuan_str(line.interest),
            fee=yuan_str(line.fee),
            net=yuan_str(line.net),
        )


PORTFOLIO_CSV_HEADER = (
    "holding_id", "loan_id", "loan_title", "loan_status", "annual_rate", "acquired_on",
    "principal_acquired", "principal_outstanding", "interest_expected", "principal_received",
    "interest_received", "prepayment_fees_received", "fees_paid", "xirr",
)  # fmt: skip
CALENDAR_CSV_HEADER = (
    "due_date", "loan_id", "loan_title", "holding_id", "installment", "principal", "interest", "fee", "net",
)  # fmt: skip


def portfolio_csv_rows(p: Portfolio) -> list[list[object]]:
    return [list(HoldingOut.of(h).model_dump().values()) for h in p.holdings]


def calendar_csv_rows(lines: list[CalendarLine]) -> list[list[object]]:
    return [list(CalendarLineOut.of(line).model_dump().values()) for line in lines]


SCHEDULE_CSV_HEADER = (
    "number", "due_date", "principal", "interest", "fee",
    "paid_principal", "paid_interest", "paid_fee", "status",
)  # fmt: skip


def schedule_csv_rows(statement: BorrowerStatement) -> list[list[object]]:
    return [
        [
            r.number,
            r.due_date.isoformat(),
            yuan_str(r.principal),
            yuan_str(r.interest),
            yuan_str(r.fee),
            yuan_str(r.paid_principal),
            yuan_str(r.paid_interest),
            yuan_str(r.paid_fee),
            r.status,
        ]
        for r in statement.installments
    ]

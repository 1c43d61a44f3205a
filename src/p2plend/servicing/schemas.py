"""Servicing API shapes for borrowers: my loans, their schedules, repayments and early
repayment quotes. Money is a two-decimal yuan string (``money.yuan_str``); inputs are
parsed with ``money.parse_amount`` only."""

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from p2plend.marketplace.models import Loan
from p2plend.money import Yuan, YuanText, parse_amount, yuan_str
from p2plend.schedules.service import Installment, PartialPrepaymentChoice
from p2plend.servicing.models import Repayment, ScheduledInstallment
from p2plend.servicing.service import AmountDue, EarlyRepayment


def _rate(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _checked_amount(value: object) -> str | None:
    if value is None:
        return None
    parse_amount(value)  # invalid_amount for numbers, signs, > 2 decimals, zero …
    assert isinstance(value, str)
    return value


class AmountDueOut(BaseModel):
    """What ``POST …/repayments`` takes by default: every installment due by today, else the next one."""

    installments: list[int] = Field(description="Numbers of the installments it covers")
    due_date: date | None = Field(description="Due date of the earliest of them")
    principal: Yuan
    interest: Yuan
    fee: Yuan
    penalty: Yuan = Field(description="罚息 on overdue principal up to today, to the holders")
    late_fee: Yuan = Field(description="逾期管理费 of installments overdue past grace, to the platform")
    total: Yuan = Field(description="principal + interest + fee + penalty + late_fee")

    @classmethod
    def of(cls, due: AmountDue) -> "AmountDueOut":
        return cls(
            installments=[row.number for row in due.installments],
            due_date=due.installments[0].due_date if due.installments else None,
            principal=yuan_str(due.principal),
            interest=yuan_str(due.interest),
            fee=yuan_str(due.fee),
            penalty=yuan_str(due.penalty),
            late_fee=yuan_str(due.late_fee),
            total=yuan_str(due.total),
        )


class MyLoanSummary(BaseModel):
    """我的借款: one of my loans."""

    id: int
    title: str
    status: str = Field(description="pending, open, funded, disbursed (还款中), settled, failed, withdrawn")
    amount: Yuan
    funded: Yuan
    annual_rate: str
    method: str
    term_months: int | None
    term_days: int | None
    value_date: date | None
    principal_outstanding: Yuan
    next_due: AmountDueOut | None = Field(description="While repaying: what is due next (or now)")
    days_past_due: int = Field(description="逾期天数 as of the last end-of-day batch; 0 when current")
    stage: str = Field(description="逾期阶段 as of the last batch: current, m1, m2, m3, m3_plus, m7_plus")
    classification: str = Field(
        description="五级分类 as of the last batch: normal, special_mention, substandard, doubtful, loss"
    )

    @classmethod
    def of(cls, loan: Loan, due: AmountDue | None) -> "MyLoanSummary":
        return cls(
            id=loan.id,
            title=loan.title,
            status=loan.status,
            amount=yuan_str(loan.amount),
            funded=yuan_str(loan.funded),
            annual_rate=_rate(loan.annual_rate),
            method=loan.method,
            term_months=loan.term_months,
            term_days=loan.term_days,
            value_date=loan.value_date,
            principal_outstanding=yuan_str(loan.principal_outstanding),
            next_due=None if due is None or not due.installments else AmountDueOut.of(due),
            days_past_due=loan.days_past_due,
            stage=loan.stage,
            classification=loan.classification,
        )


class InstallmentOut(BaseModel):
    """One row of my schedule (还款计划)."""

    number: int
    schedule_version: int = Field(description="1, then +1 after each partial early repayment")
    due_date: date
    principal: Yuan
    interest: Yuan
    fee: Yuan
    payment: Yuan
    paid_principal: Yuan
    paid_interest: Yuan
    paid_fee: Yuan
    penalty: Yuan = Field(description="罚息 charged so far (once overdue past grace)")
    paid_penalty: Yuan
    late_fee: Yuan = Field(description="逾期管理费 charged (once overdue past grace)")
    paid_late_fee: Yuan
    owed: Yuan
    status: str = Field(description="due or paid")
    paid_on: date | None

    @classmethod
    def of(cls, row: ScheduledInstallment) -> "InstallmentOut":
        return cls(
            number=row.number,
            schedule_version=row.schedule_version,
            due_date=row.due_date,
            principal=yuan_str(row.principal),
            interest=yuan_str(row.interest),
            fee=yuan_str(row.fee),
            payment=yuan_str(row.principal + row.interest + row.fee),
            paid_principal=yuan_str(row.paid_principal),
            paid_interest=yuan_str(row.paid_interest),
            paid_fee=yuan_str(row.paid_fee),
            penalty=yuan_str(row.penalty),
            paid_penalty=yuan_str(row.paid_penalty),
            late_fee=yuan_str(row.late_fee),
            paid_late_fee=yuan_str(row.paid_late_fee),
            owed=yuan_str(row.owed),
            status=row.status,
            paid_on=row.paid_on,
        )


class RepaymentOut(BaseModel):
    """还款: one payment of mine, as applied."""

    id: int
    loan_id: int
    kind: str = Field(
        description="installment, auto_debit (代扣 by the end-of-day batch), early_full or early_partial"
    )
    business_date: date
    amount: Yuan
    principal: Yuan
    interest: Yuan
    fee: Yuan = Field(description="Monthly management fee, to the platform")
    prepayment_fee: Yuan = Field(description="To the holders")
    penalty: Yuan = Field(description="罚息, to the holders")
    late_fee: Yuan = Field(description="逾期管理费, to the platform")
    created_at: datetime

    @classmethod
    def of(cls, repayment: Repayment) -> "RepaymentOut":
        return cls(
            id=repayment.id,
            loan_id=repayment.loan_id,
            kind=repayment.kind,
            business_date=repayment.business_date,
            amount=yuan_str(repayment.amount),
            principal=yuan_str(repayment.principal),
            interest=yuan_str(repayment.interest),
            fee=yuan_str(repayment.fee),
            prepayment_fee=yuan_str(repayment.prepayment_fee),
            penalty=yuan_str(repayment.penalty),
            late_fee=yuan_str(repayment.late_fee),
            created_at=repayment.created_at,
        )


class MyLoanDetail(MyLoanSummary):
    schedule: list[InstallmentOut]
    repayments: list[RepaymentOut]
    service_fee: Yuan = Field(description="借款服务费 taken at disbursement")


class RepaymentResult(RepaymentOut):
    """The payment, and the loan after it."""

    loan_status: str
    principal_outstanding: Yuan


class RepayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"amount": "500.00"}]})

    amount: YuanText | None = Field(default=None, description="Yuan; omitted: everything due now")

    @field_validator("amount", mode="before")
    @classmethod
    def _check_amount(cls, value: object) -> str | None:
        return _checked_amount(value)

    @property
    def amount_fen(self) -> int | None:
        return None if self.amount is None else parse_amount(self.amount)


class EarlyRepayRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{}, {"principal": "3000.00", "choice": "shorter_term"}]},
    )

    principal: YuanText | None = Field(default=None, description="Yuan of principal; omitted: all of it")
    choice: PartialPrepaymentChoice = Field(
        default=PartialPrepaymentChoice.LOWER_INSTALLMENT,
        description="After a partial repayment: shorter_term (same installment) or "
        "lower_installment (same term)",
    )

    @field_validator("principal", mode="before")
    @classmethod
    def _check_principal(cls, value: object) -> str | None:
        return _checked_amount(value)

    @property
    def principal_fen(self) -> int | None:
        return None if self.principal is None else parse_amount(self.principal)


class QuoteInstallmentOut(BaseModel):
    number: int
    due_date: date
    principal: Yuan
    interest: Yuan
    payment: Yuan
    remaining_principal: Yuan

    @classmethod
    def of(cls, row: Installment) -> "QuoteInstallmentOut":
        return cls(
            number=row.number,
            due_date=row.due_date,
            principal=yuan_str(row.principal),
            interest=yuan_str(row.interest),
            payment=yuan_str(row.payment),
            remaining_principal=yuan_str(row.remaining_principal),
        )


class EarlyRepaymentQuoteOut(BaseModel):
    """提前还款 quote for today: nothing is stored; paying it is ``POST …/early-repayments``."""

    kind: str = Field(description="early_full or early_partial")
    on: date
    principal: Yuan
    interest: Yuan = Field(description="The current period's interest, only up to today")
    fee: Yuan = Field(description="Prepayment fee, to the holders")
    total: Yuan
    choice: PartialPrepaymentChoice | None
    schedule: list[QuoteInstallmentOut] = Field(
        description="The schedule after it (empty when everything is repaid); before management fees"
    )

    @classmethod
    def of(cls, quote: EarlyRepayment, on: date, choice: PartialPrepaymentChoice) -> "EarlyRepaymentQuoteOut":
        return cls(
            kind=quote.kind,
            on=on,
            principal=yuan_str(quote.principal),
            interest=yuan_str(quote.interest),
            fee=yuan_str(quote.fee),
            total=yuan_str(quote.total),
            choice=choice if quote.kind == "early_partial" else None,
            schedule=[QuoteInstallmentOut.of(row) for row in quote.schedule],
        )

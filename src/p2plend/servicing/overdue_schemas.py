"""API shapes of the overdue position for staff (逾期管理): counts by stage, overdue loans,
a loan's daily risk history and penalty accruals, and the platform's daily figures.
Money is a two-decimal yuan string (``money.yuan_str``)."""

from datetime import date

from pydantic import BaseModel, Field

from p2plend.marketplace.models import Loan
from p2plend.money import Yuan, yuan_str
from p2plend.servicing.end_of_day import StageCount
from p2plend.servicing.models import DailyFigures, LoanRiskDay, PenaltyAccrual

STAGE_DESCRIPTION = "current, m1 (DPD 1–30), m2 (31–60), m3 (61–90), m3_plus (91–180), m7_plus (> 180)"
CLASSIFICATION_DESCRIPTION = (
    "normal 正常, special_mention 关注, substandard 次级, doubtful 可疑, loss 损失 (DOMAIN.md §7)"
)


def borrower_name_masked(loan: Loan) -> str | None:
    """The borrower's masked name as the loan's disclosure shows it (R47), when there is one."""
    value = loan.disclosure.get("borrower_name_masked") if isinstance(loan.disclosure, dict) else None
    return value if isinstance(value, str) and value else None


class StageCountOut(BaseModel):
    stage: str = Field(description=STAGE_DESCRIPTION)
    loans: int
    principal: Yuan = Field(description="Outstanding principal of those loans")

    @classmethod
    def of(cls, count: StageCount) -> "StageCountOut":
        return cls(stage=count.stage, loans=count.loans, principal=yuan_str(count.principal))


class OverdueLoanOut(BaseModel):
    id: int
    title: str
    borrower_id: int
    borrower_name_masked: str | None = Field(examples=["陈**"])
    days_past_due: int
    stage: str = Field(description=STAGE_DESCRIPTION)
    classification: str = Field(description=CLASSIFICATION_DESCRIPTION)
    principal_outstanding: Yuan
    overdue_principal: Yuan = Field(description="Principal of the overdue installments, at the last batch")
    overdue_interest: Yuan
    penalty_owed: Yuan = Field(description="罚息 charged and unpaid, at the last batch")

    @classmethod
    def of(cls, loan: Loan, last: LoanRiskDay | None) -> "OverdueLoanOut":
        return cls(
            id=loan.id,
            title=loan.title,
            borrower_id=loan.borrower_id,
            borrower_name_masked=borrower_name_masked(loan),
            days_past_due=loan.days_past_due,
            stage=loan.stage,
            classification=loan.classification,
            principal_outstanding=yuan_str(loan.principal_outstanding),
            overdue_principal=yuan_str(last.overdue_principal if last else 0),
            overdue_interest=yuan_str(last.overdue_interest if last else 0),
            penalty_owed=yuan_str(last.penalty_owed if last else 0),
        )


class OverdueReport(BaseModel):
    """逾期管理: the loans overdue as of the last end-of-day batch."""

    as_of: date | None = Field(description="The last business date closed: the position is as of its end")
    loans_overdue: int
    principal_overdue: Yuan = Field(description="Outstanding principal of every overdue loan")
    stages: list[StageCountOut] = Field(description="Every overdue stage, M1 to M7+, with zeros")
    loans: list[OverdueLoanOut] = Field(description="The longest overdue first (paged by limit/offset)")


class RiskDayOut(BaseModel):
    """The loan's position at the end of one business date (a row per overdue day, and one
    for the day it came back to current)."""

    business_date: date
    days_past_due: int
    stage: str = Field(description=STAGE_DESCRIPTION)
    classification: str = Field(description=CLASSIFICATION_DESCRIPTION)
    overdue_principal: Yuan
    overdue_interest: Yuan
    penalty_owed: Yuan

    @classmethod
    def of(cls, row: LoanRiskDay) -> "RiskDayOut":
        return cls(
            business_date=row.business_date,
            days_past_due=row.days_past_due,
            stage=row.stage,
            classification=row.classification,
            overdue_principal=yuan_str(row.overdue_principal),
            overdue_interest=yuan_str(row.overdue_interest),
            penalty_owed=yuan_str(row.penalty_owed),
        )


class PenaltyAccrualOut(BaseModel):
    """罚息计提: what one installment earned on one business date."""

    business_date: date
    installment_id: int
    days_past_due: int
    days: int = Field(description="Days of penalty posted that date (the first day past grace: all of them)")
    overdue_principal: Yuan
    penalty: Yuan
    late_fee: Yuan

    @classmethod
    def of(cls, row: PenaltyAccrual) -> "PenaltyAccrualOut":
        return cls(
            business_date=row.business_date,
            installment_id=row.installment_id,
            days_past_due=row.days_past_due,
            days=row.days,
            overdue_principal=yuan_str(row.overdue_principal),
            penalty=yuan_str(row.penalty),
            late_fee=yuan_str(row.late_fee),
        )


class LoanRiskHistory(BaseModel):
    loan_id: int
    title: str
    status: str
    days_past_due: int = Field(description="As of the last batch")
    stage: str = Field(description=STAGE_DESCRIPTION)
    classification: str = Field(description=CLASSIFICATION_DESCRIPTION)
    history: list[RiskDayOut] = Field(description="Oldest first")
    penalty_accruals: list[PenaltyAccrualOut] = Field(description="Oldest first")


class DailyFiguresOut(BaseModel):
    """The platform's figures at the end of one business date (信息披露 data)."""

    business_date: date
    loans_outstanding: int
    principal_outstanding: Yuan
    borrowers: int
    lenders: int
    overdue_loans: int
    overdue_principal: Yuan = Field(description="Outstanding principal of the loans overdue")
    overdue_principal_90: Yuan = Field(description="Of loans more than 90 days past due (不良)")
    repaid: Yuan = Field(description="Repayments taken that day")
    disbursed: Yuan
    penalty_accrued: Yuan

    @classmethod
    def of(cls, row: DailyFigures) -> "DailyFiguresOut":
        return cls(
            business_date=row.business_date,
            loans_outstanding=row.loans_outstanding,
            principal_outstanding=yuan_str(row.principal_outstanding),
            borrowers=row.borrowers,
            lenders=row.lenders,
            overdue_loans=row.overdue_loans,
            overdue_principal=yuan_str(row.overdue_principal),
            overdue_principal_90=yuan_str(row.overdue_principal_90),
            repaid=yuan_str(row.repaid),
            disbursed=yuan_str(row.disbursed),
            penalty_accrued=yuan_str(row.penalty_accrued),
        )

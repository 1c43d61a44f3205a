"""Servicing tables: the loan's fixed schedule, its repayments and their split to holders."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class ScheduledInstallment(Base):
    """One row of the borrower's schedule. A partial prepayment supersedes the unpaid rows
    and writes the new ones under the next ``schedule_version``: history is kept."""

    __tablename__ = "loan_installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "schedule_version", "number"),
        CheckConstraint(
            "paid_principal <= principal AND paid_interest <= interest AND paid_fee <= fee",
            name="paid_within_due",
        ),
        CheckConstraint("paid_penalty <= penalty AND paid_late_fee <= late_fee", name="paid_within_charged"),
        Index("ix_loan_installments_loan_status", "loan_id", "status"),
        # The end-of-day batch finds the loans with something due or overdue by these two.
        Index(
            "ix_loan_installments_unpaid_due",
            "due_date",
            postgresql_where=text("status = 'due'"),
            sqlite_where=text("status = 'due'"),
        ),
        Index("ix_loan_installments_paid_on", "paid_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    schedule_version: Mapped[int] = mapped_column(Integer, default=1)
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)  # the borrower's monthly management fee
    paid_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_interest: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    # Charged only once the installment is overdue past grace (DOMAIN.md §7): 罚息, to the
    # holders, accrued day by day up to ``penalty_through``; 逾期管理费, to the platform.
    penalty: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_penalty: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_through: Mapped[date | None] = mapped_column(Date)
    late_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_late_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    # 代偿 (DOMAIN.md §8): the payer who compensated the holders owns this much of the
    # installment's unpaid principal and interest; the borrower's later payments of them
    # (and the penalty on the principal it owns) go to it.
    compensated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    compensated_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    compensated_interest: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # due | paid | superseded
    paid_on: Mapped[date | None] = mapped_column(Date)

    @property
    def owed(self) -> int:
        return (
            self.principal
            - self.paid_principal
            + self.interest
            - self.paid_interest
            + self.fee
            - self.paid_fee
            + self.penalty
            - self.paid_penalty
            + self.late_fee
            - self.paid_late_fee
        )


class Repayment(Base):
    """还款: one payment by the borrower, as applied to the schedule."""

    __tablename__ = "repayments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))  # installment | early_full | early_partial
    business_date: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)  # borrower's management fee, to the platform
    prepayment_fee: Mapped[int] = mapped_column(BigInteger)  # to the holders
    penalty: Mapped[int] = mapped_column(BigInteger, default=0)  # 罚息, to the holders
    late_fee: Mapped[int] = mapped_column(BigInteger, default=0)  # 逾期管理费, to the platform
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Distribution(Base):
    """回款: one holder's share of one repayment (R25–R28)."""

    __tablename__ = "repayment_distributions"
    __table_args__ = (
        UniqueConstraint("repayment_id", "holding_id"),
        Index("ix_repayment_distributions_loan_date", "loan_id", "business_date"),  # 回款通知
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    repayment_id: Mapped[int] = mapped_column(ForeignKey("repayments.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    prepayment_fee: Mapped[int] = mapped_column(BigInteger)
    penalty: Mapped[int] = mapped_column(BigInteger, default=0)
    investor_fee: Mapped[int] = mapped_column(BigInteger)  # 利息管理费, rd(interest × rate) (R27)

    @hybrid_property
    def net(self) -> int:
        """What the holder received, net of the management fee (in Python and in SQL)."""
        return self.principal + self.interest + self.prepayment_fee + self.penalty - self.investor_fee


class PenaltyAccrual(Base):
    """罚息计提: the penalty interest one installment earned for one business date (or, on the
    first day past grace, for the whole grace too). Unique per day: posting twice is refused."""

    __tablename__ = "penalty_accruals"
    __table_args__ = (UniqueConstraint("installment_id", "business_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    installment_id: Mapped[int] = mapped_column(ForeignKey("loan_installments.id"))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    days_past_due: Mapped[int] = mapped_column(Integer)
    days: Mapped[int] = mapped_column(Integer)  # days of penalty posted today (grace catch-up: > 1)
    overdue_principal: Mapped[int] = mapped_column(BigInteger)
    penalty: Mapped[int] = mapped_column(BigInteger)
    late_fee: Mapped[int] = mapped_column(BigInteger)


class LoanRiskDay(Base):
    """The loan's overdue position at the end of one business date (逾期/五级分类 history):
    a row for every day the loan is overdue and for the day it comes back to current."""

    __tablename__ = "loan_risk_days"
    __table_args__ = (UniqueConstraint("loan_id", "business_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    days_past_due: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))
    classification: Mapped[str] = mapped_column(String(16))
    overdue_principal: Mapped[int] = mapped_column(BigInteger)
    overdue_interest: Mapped[int] = mapped_column(BigInteger)
    penalty_owed: Mapped[int] = mapped_column(BigInteger)


class DailyFigures(Base):
    """The platform's figures at the end of one business date, for disclosure (信息披露)."""

    __tablename__ = "platform_daily_figures"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    loans_outstanding: Mapped[int] = mapped_column(Integer)
    principal_outstanding: Mapped[int] = mapped_column(BigInteger)
    borrowers: Mapped[int] = mapped_column(Integer)
    lenders: Mapped[int] = mapped_column(Integer)
    overdue_loans: Mapped[int] = mapped_column(Integer)
    overdue_principal: Mapped[int] = mapped_column(BigInteger)  # of the loans overdue, all of it
    overdue_principal_90: Mapped[int] = mapped_column(BigInteger)  # of loans > 90 DPD (不良)
    repaid: Mapped[int] = mapped_column(BigInteger)  # repayments taken that day
    disbursed: Mapped[int] = mapped_column(BigInteger)
    penalty_accrued: Mapped[int] = mapped_column(BigInteger)

"""Servicing tables: the loan's fixed schedule, its repayments and their split to holders."""

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
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
        Index("ix_loan_installments_loan_status", "loan_id", "status"),
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
        )


class Repayment(Base):
    """还款: one payment by the borrower, as applied to the schedule."""

    __tablename__ = "repayments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))  # installment | early_full | early_partial
    business_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)  # borrower's management fee, to the platform
    prepayment_fee: Mapped[int] = mapped_column(BigInteger)  # to the holders
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Distribution(Base):
    """回款: one holder's share of one repayment (R25–R28)."""

    __tablename__ = "repayment_distributions"
    __table_args__ = (UniqueConstraint("repayment_id", "holding_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    repayment_id: Mapped[int] = mapped_column(ForeignKey("repayments.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    prepayment_fee: Mapped[int] = mapped_column(BigInteger)
    investor_fee: Mapped[int] = mapped_column(BigInteger)  # 利息管理费, rd(interest × rate) (R27)

    @property
    def net(self) -> int:
        return self.principal + self.interest + self.prepayment_fee - self.investor_fee

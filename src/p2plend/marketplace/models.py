"""Marketplace tables: the loan (listed, then disbursed), its bids and its holdings.

A ``Loan`` row is born as a listing (借款标) and stays the loan for life: its terms are
copied from the product version and the approval, so a later product change never alters
it. ``holdings`` is a contract (ARCHITECTURE.md): one claim per holder per loan, summing
to the loan's outstanding principal.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime

Rate = Numeric(9, 6)


class Loan(Base):
    __tablename__ = "loans"
    __table_args__ = (
        # The database itself refuses over-funding (R44), whatever the code does.
        CheckConstraint("funded >= 0 AND funded <= amount", name="funded_within_amount"),
        CheckConstraint("principal_outstanding >= 0", name="outstanding_non_negative"),
        CheckConstraint("repayment_order IN ('components', 'installments')", name="repayment_order_known"),
        Index("ix_loans_status_deadline", "status", "deadline"),
        # The end-of-day batch's overdue loans (few, in a book of many).
        Index(
            "ix_loans_overdue",
            "id",
            postgresql_where=text("days_past_due > 0"),
            sqlite_where=text("days_past_due > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    borrower_kind: Mapped[str] = mapped_column(String(16))  # person | organisation
    product_code: Mapped[str] = mapped_column(String(32))
    product_kind: Mapped[str] = mapped_column(String(16))  # credit | mortgage | guaranteed | institution
    product_version_id: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    funded: Mapped[int] = mapped_column(BigInteger, default=0)
    annual_rate: Mapped[Decimal] = mapped_column(Rate)
    method: Mapped[str] = mapped_column(String(24))
    term_months: Mapped[int | None] = mapped_column(Integer)
    term_days: Mapped[int | None] = mapped_column(Integer)
    day_basis: Mapped[int] = mapped_column(Integer, default=365)
    grade: Mapped[str] = mapped_column(String(4))
    risk_class: Mapped[str] = mapped_column(String(4))
    service_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # of principal, at disbursement
    monthly_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # of principal, with each installment
    investor_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # of interest received, per holder
    prepayment_fee_rate: Mapped[Decimal] = mapped_column(Rate)  # of principal repaid early
    # How a payment short of what is due is applied (servicing.RepaymentOrder), from the product.
    repayment_order: Mapped[str] = mapped_column(String(16), default="components")
    # 罚息利率 per year on overdue principal, fixed by the contract within the 4 × LPR cap.
    penalty_rate: Mapped[Decimal] = mapped_column(Rate)
    late_fee: Mapped[int] = mapped_column(BigInteger, default=0)  # 逾期管理费 per overdue installment
    guarantee_fee_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal(0))  # 担保费, of principal
    min_bid: Mapped[int] = mapped_column(BigInteger)
    bid_step: Mapped[int] = mapped_column(BigInteger)
    max_share: Mapped[Decimal] = mapped_column(Numeric(5, 4))  # of the amount, per investor
    funding_days: Mapped[int] = mapped_column(Integer)
    guarantor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # pending → open → funded → disbursed → settled; or failed (流标) / withdrawn.
    status: Mapped[str] = mapped_column(String(16), index=True)
    disclosure: Mapped[dict[str, Any]] = mapped_column(JSON)  # masked: safe for investors (R47)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    funded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disbursed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    close_reason: Mapped[str] = mapped_column(String(200), default="")
    value_date: Mapped[date | None] = mapped_column(Date)
    service_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    guarantee_fee: Mapped[int] = mapped_column(BigInteger, default=0)  # paid to the guarantor at disbursement
    principal_outstanding: Mapped[int] = mapped_column(BigInteger, default=0)
    # The overdue position as of the last end-of-day batch (servicing keeps it; history in
    # ``loan_risk_days``): days past due, stage (M1…) and five-tier classification.
    days_past_due: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(16), default="current")
    classification: Mapped[str] = mapped_column(String(16), default="normal")


class Bid(Base):
    """投标: money promised to a listing, frozen in the investor's own sub-account."""

    __tablename__ = "bids"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    investor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    requested: Mapped[int] = mapped_column(BigInteger)  # before trimming to what remained
    source: Mapped[str] = mapped_column(String(16))  # bid | auto_bid
    status: Mapped[str] = mapped_column(String(16))  # frozen | disbursed | refunded
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Holding(Base):
    """债权: a holder's claim on a loan (contract)."""

    __tablename__ = "holdings"
    __table_args__ = (
        CheckConstraint("principal_outstanding >= 0", name="principal_non_negative"),
        Index("ix_holdings_loan_holder", "loan_id", "holder_id"),
        # Room on each page for the next version of its rows: every repayment updates all of
        # a loan's holdings, and with the room that update touches no index (migration 0018).
        {"postgresql_with": {"fillfactor": 60}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    principal_outstanding: Mapped[int] = mapped_column(BigInteger)
    principal_acquired: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(16))  # bid | auto_bid | transfer | compensation
    # Running totals of what this claim has received (statements; R28).
    principal_received: Mapped[int] = mapped_column(BigInteger, default=0)
    interest_received: Mapped[int] = mapped_column(BigInteger, default=0)
    prepayment_fee_received: Mapped[int] = mapped_column(BigInteger, default=0)
    penalty_received: Mapped[int] = mapped_column(BigInteger, default=0)
    fees_paid: Mapped[int] = mapped_column(BigInteger, default=0)

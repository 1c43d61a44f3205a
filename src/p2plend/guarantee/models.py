"""Guarantee tables: each guarantee company's standing terms, the agreement of each
guaranteed loan, and every compensation (代偿) paid under one."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class GuarantorTerms(Base):
    """担保合作协议: what a guarantee company covers on the loans it guarantees here.
    Each loan's agreement copies them when the loan is listed."""

    __tablename__ = "guarantor_terms"
    __table_args__ = (
        CheckConstraint("coverage IN ('principal', 'principal_interest')", name="coverage_known"),
        CheckConstraint("trigger_dpd >= 1 AND accelerate_dpd > trigger_dpd", name="triggers_ordered"),
        CheckConstraint("fee_rate >= 0 AND fee_rate < 1", name="fee_rate_range"),
    )

    guarantor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    coverage: Mapped[str] = mapped_column(String(24))
    trigger_dpd: Mapped[int] = mapped_column(Integer)  # pay the overdue installment at DPD ≥ this
    accelerate_dpd: Mapped[int] = mapped_column(Integer)  # pay all that remains at DPD ≥ this
    fee_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))  # 担保费, of principal, at disbursement
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GuaranteeAgreement(Base):
    """担保合同 of one loan (DOMAIN.md §8)."""

    __tablename__ = "guarantee_agreements"
    __table_args__ = (
        CheckConstraint("coverage IN ('principal', 'principal_interest')", name="coverage_known"),
        CheckConstraint("status IN ('active', 'accelerated', 'closed')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    guarantor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    coverage: Mapped[str] = mapped_column(String(24))
    trigger_dpd: Mapped[int] = mapped_column(Integer)
    accelerate_dpd: Mapped[int] = mapped_column(Integer)
    fee_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    status: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Compensation(Base):
    """代偿: what a payer (the guarantor, or the risk reserve) paid the holders for one
    installment (``kind`` installment) or for all that remained (acceleration, number 0)."""

    __tablename__ = "compensations"
    __table_args__ = (
        UniqueConstraint("loan_id", "kind", "installment_number"),
        CheckConstraint("kind IN ('installment', 'acceleration')", name="kind_known"),
        CheckConstraint(
            "paid + shortfall = due AND paid >= 0 AND shortfall >= 0", name="paid_plus_shortfall"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("guarantee_agreements.id"))
    # The guarantor, or the risk reserve's account (then ``agreement_id`` is None).
    payer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    installment_number: Mapped[int] = mapped_column(Integer)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    due: Mapped[int] = mapped_column(BigInteger)  # what the holders were owed
    paid: Mapped[int] = mapped_column(BigInteger)  # what the payer had and paid
    shortfall: Mapped[int] = mapped_column(BigInteger)  # recorded, never created (R36)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RiskReserve(Base):
    """风险备付金: the platform's reserve, one row. Off by default (DOMAIN.md §8); its money and
    the claims it acquires sit with ``holder_id``, a platform-owned account with its own custody
    sub-account, opened before the reserve can be switched on."""

    __tablename__ = "risk_reserve"
    __table_args__ = (
        CheckConstraint("id = 1", name="single_row"),
        CheckConstraint("coverage IN ('principal', 'principal_interest')", name="coverage_known"),
        CheckConstraint("trigger_dpd >= 1 AND accelerate_dpd > trigger_dpd", name="triggers_ordered"),
        CheckConstraint("contribution_rate >= 0 AND contribution_rate < 1", name="contribution_rate_range"),
        CheckConstraint("NOT enabled OR holder_id IS NOT NULL", name="enabled_needs_account"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    enabled_since: Mapped[date | None] = mapped_column(Date)  # loans disbursed from then on are covered
    coverage: Mapped[str] = mapped_column(String(24))
    trigger_dpd: Mapped[int] = mapped_column(Integer)
    accelerate_dpd: Mapped[int] = mapped_column(Integer)
    # 提取比例: of each covered loan's principal, from the platform's fee income, once.
    contribution_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    updated_by: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ReserveCoverage(Base):
    """A loan the risk reserve stands behind: granted once, with the contribution made for it."""

    __tablename__ = "risk_reserve_coverages"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'accelerated', 'closed')", name="status_known"),
        CheckConstraint("contribution >= 0", name="contribution_non_negative"),
    )

    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), primary_key=True)
    coverage: Mapped[str] = mapped_column(String(24))
    trigger_dpd: Mapped[int] = mapped_column(Integer)
    accelerate_dpd: Mapped[int] = mapped_column(Integer)
    contribution: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    covered_on: Mapped[date] = mapped_column(Date, index=True)

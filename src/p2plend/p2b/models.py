"""P2B tables: the claims partner institutions offer (``partner_claims``) and the repurchases
(回购) they made under their commitment (``partner_repurchases``)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class PartnerClaim(Base):
    """机构债权: a loan a partner institution made outside the platform, submitted for review
    and, once approved, booked as a loan the institution services and offered for transfer."""

    __tablename__ = "partner_claims"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'approved', 'rejected')", name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("term_months >= 1", name="term_positive"),
        CheckConstraint("institution_risk_tier BETWEEN 1 AND 5", name="risk_tier_range"),
        CheckConstraint("repurchase_dpd IS NULL OR repurchase_dpd >= 1", name="repurchase_dpd_positive"),
        CheckConstraint("discount_rate >= 0 AND discount_rate < 1", name="discount_range"),
        CheckConstraint("debtor_kind IN ('person', 'organisation')", name="debtor_kind_known"),
        Index("ix_partner_claims_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    institution_type: Mapped[str] = mapped_column(String(32))
    institution_risk_tier: Mapped[int] = mapped_column(Integer)  # 1 = lowest risk
    debtor_kind: Mapped[str] = mapped_column(String(16))  # person | organisation
    # DOMAIN.md §11's per-loan disclosure of the debtor, masked for investors (R47).
    disclosure: Mapped[dict[str, Any]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    annual_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    method: Mapped[str] = mapped_column(String(24))
    term_months: Mapped[int] = mapped_column(Integer)
    original_value_date: Mapped[date] = mapped_column(Date)  # the partner's own contract date
    guarantor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    repurchase_dpd: Mapped[int | None] = mapped_column(Integer)  # 回购承诺: buy back at DPD ≥ this
    discount_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), default=Decimal(0), server_default="0")
    status: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(4))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(500), default="", server_default="")
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), unique=True)
    listing_id: Mapped[int | None] = mapped_column(BigInteger)  # the first transfer listing
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PartnerRepurchase(Base):
    """回购: the institution paid the other holders and took their claims, once per loan."""

    __tablename__ = "partner_repurchases"
    __table_args__ = (
        CheckConstraint(
            "paid + shortfall = due AND paid >= 0 AND shortfall >= 0", name="paid_plus_shortfall"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("partner_claims.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    days_past_due: Mapped[int] = mapped_column(Integer)
    due: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)
    shortfall: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    business_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

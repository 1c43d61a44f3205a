"""Portfolio plans (分散投资): an investor's instruction to spread an amount over many listings,
and what it did — each bid it placed, each matching listing it could not use and why.

A plan is written in the same transaction as its bids (ordinary marketplace bids): a plan that
placed nothing is refused and leaves no row, so every stored plan placed at least one bid.
"""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class PortfolioPlan(Base):
    """分散投资计划: amount, minimum rate, most per loan and grades, executed at once."""

    __tablename__ = "portfolio_plans"
    __table_args__ = (
        CheckConstraint("amount > 0 AND max_per_loan > 0", name="amounts_positive"),
        CheckConstraint("min_rate >= 0 AND min_rate < 1", name="min_rate_range"),
        CheckConstraint("placed > 0 AND placed <= amount", name="placed_within_amount"),
        CheckConstraint("status IN ('complete', 'partial')", name="status_known"),
        CheckConstraint(
            "(status = 'complete' AND placed = amount AND unplaced_reason IS NULL) OR "
            "(status = 'partial' AND placed < amount AND unplaced_reason IS NOT NULL)",
            name="status_matches_placed",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    investor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # what the investor asked to spread
    min_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))  # a listing's rate is at least this
    max_per_loan: Mapped[int] = mapped_column(BigInteger)  # no bid above this
    grades: Mapped[str] = mapped_column(String(32))  # e.g. "A,B,C", best grade first
    placed: Mapped[int] = mapped_column(BigInteger)  # the sum of the bids placed
    status: Mapped[str] = mapped_column(String(16))  # complete | partial
    # Why ``amount - placed`` was not placed: risk_tier_cap | listings_full; NULL when complete.
    unplaced_reason: Mapped[str | None] = mapped_column(String(32))
    matching_listings: Mapped[int] = mapped_column(Integer)  # open listings of its grades and rate
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PortfolioPlanLine(Base):
    """One matching listing of a plan: the bid placed on it, or why none was."""

    __tablename__ = "portfolio_plan_lines"
    __table_args__ = (
        UniqueConstraint("plan_id", "loan_id"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint(
            "(outcome = 'placed' AND bid_id IS NOT NULL AND amount > 0) OR "
            "(outcome <> 'placed' AND bid_id IS NULL AND amount = 0)",
            name="placed_has_bid",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("portfolio_plans.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    bid_id: Mapped[int | None] = mapped_column(ForeignKey("bids.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # the bid's amount; 0 when none was placed
    # placed, or the reason none was: risk_class_not_suitable, own_loan, investor_cap_reached,
    # amount_used_up, or the marketplace's refusal code when it refused the bid itself.
    outcome: Mapped[str] = mapped_column(String(32))

"""Auto-bid tables (自动投标, DOMAIN.md §10): each investor's rule, the signed authorisation it
runs under, the queue's position counter, and every decision the platform made for a rule.

The rule's sets (grades, repayment methods, product kinds) are bitmask integers: one bit per
value of ``autobid.service.GRADES`` / ``METHODS`` / ``PRODUCT_KINDS``. SQL tests a listing's
value with ``(mask & bit) <> 0`` while it walks the queue index in order, so choosing the
candidates for a listing is one indexed, batched query — never a Python loop over all rules.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime

Rate = Numeric(9, 6)


class AutobidAuthorisation(Base):
    """自动投标授权书: the investor signed this version of the text (its SHA-256 kept), once.
    The platform bids for an investor only under such a standing authorisation (R10)."""

    __tablename__ = "autobid_authorisations"
    __table_args__ = (UniqueConstraint("investor_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    investor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    version: Mapped[str] = mapped_column(String(16))
    text_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AutobidRule(Base):
    """One investor's auto-bid rule (自动投标设置). ``queue_position`` is where the investor
    stands in the queue: taken from the counter when the rule is enabled or edited, and again
    after every turn (bid or skip), which sends the investor to the back."""

    __tablename__ = "autobid_rules"
    __table_args__ = (
        CheckConstraint("min_rate >= 0 AND min_rate <= max_rate AND max_rate <= 1", name="rates_ordered"),
        CheckConstraint("min_term_months >= 1 AND min_term_months <= max_term_months", name="terms_ordered"),
        CheckConstraint("grades > 0 AND methods > 0 AND product_kinds > 0", name="sets_not_empty"),
        CheckConstraint(
            "(amount_mode = 'fixed' AND fixed_amount > 0) OR "
            "(amount_mode = 'share' AND balance_share > 0 AND balance_share <= 1)",
            name="amount_known",
        ),
        CheckConstraint("reserve >= 0", name="reserve_non_negative"),
        CheckConstraint("total_cap IS NULL OR total_cap > 0", name="total_cap_positive"),
        Index("ix_autobid_rules_queue", "enabled", "queue_position"),
    )

    investor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    min_rate: Mapped[Decimal] = mapped_column(Rate)
    max_rate: Mapped[Decimal] = mapped_column(Rate)
    min_term_months: Mapped[int] = mapped_column(Integer)
    max_term_months: Mapped[int] = mapped_column(Integer)
    grades: Mapped[int] = mapped_column(Integer)  # bitmask over service.GRADES
    methods: Mapped[int] = mapped_column(Integer)  # bitmask over service.METHODS
    product_kinds: Mapped[int] = mapped_column(Integer)  # bitmask over service.PRODUCT_KINDS
    amount_mode: Mapped[str] = mapped_column(String(8))  # fixed | share
    fixed_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # fen per bid (fixed)
    balance_share: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal(0))  # of available (share)
    reserve: Mapped[int] = mapped_column(BigInteger, default=0)  # 保留金额: never bid below it
    total_cap: Mapped[int | None] = mapped_column(BigInteger)  # of auto-bids not returned; None: none
    valid_until: Mapped[date] = mapped_column(Date)  # the last business date the rule runs
    queue_position: Mapped[int] = mapped_column(BigInteger, default=0)
    authorisation_id: Mapped[int | None] = mapped_column(ForeignKey("autobid_authorisations.id"))
    # Why it is off: "" (never enabled), investor, borrower_disbursed.
    off_reason: Mapped[str] = mapped_column(String(32), default="")
    enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AutobidQueue(Base):
    """The queue's counter (one row, id 1): the last position handed out. Taking positions
    locks the row, so allocations run one at a time and the order is total."""

    __tablename__ = "autobid_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_position: Mapped[int] = mapped_column(BigInteger, default=0)


class AutobidDecision(Base):
    """What a rule did with one listing: ``bid`` (with the bid), ``skip`` (with the reason
    code), or ``off`` (the rule was switched off because of this loan, e.g. its borrower).

    ``bid_loan_id`` is the loan id on a ``bid`` row and NULL otherwise: the unique key
    (bid_loan_id, investor_id) is the database's own "one auto-bid per investor per listing"."""

    __tablename__ = "autobid_decisions"
    __table_args__ = (
        UniqueConstraint("bid_loan_id", "investor_id"),
        CheckConstraint("outcome IN ('bid', 'skip', 'off')", name="outcome_known"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint(
            "(outcome = 'bid' AND bid_id IS NOT NULL AND bid_loan_id = loan_id) OR "
            "(outcome <> 'bid' AND bid_id IS NULL AND bid_loan_id IS NULL)",
            name="bid_consistent",
        ),
        Index("ix_autobid_decisions_investor_id_id", "investor_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    investor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(40), default="")  # a stable code; "" on a bid
    amount: Mapped[int] = mapped_column(BigInteger, default=0)  # the bid, or what the rule would have bid
    bid_id: Mapped[int | None] = mapped_column(ForeignKey("bids.id"))
    bid_loan_id: Mapped[int | None] = mapped_column(BigInteger)
    queue_position: Mapped[int] = mapped_column(BigInteger)  # where the investor stood at the turn
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

"""债权转让 tables and the one act servicing needs: cancel a loan's open transfer listings.

The debt-transfer market itself lives in ``p2plend.transfers`` (eligibility, pricing, the
sale). Its tables live here, in the marketplace beside the holdings they trade, because
servicing — a lower layer than transfers — must cancel a loan's open listings whenever money
moves on the loan (DOMAIN.md §9, R40: any payment, a prepayment, a compensation), and the
statements read what a holding was bought for and sold for.

A listing offers ``principal`` of one holding (the whole or a part ≥ the minimum bid) at
``discount_rate`` off its value; buyers take parts of it. ``sold`` never exceeds
``principal`` — the database refuses it whatever the code does (R42).
"""

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.db import Base, BigId, UtcDateTime

OPEN, SOLD, CANCELLED, EXPIRED = "open", "sold", "cancelled", "expired"
STATUSES = (OPEN, SOLD, CANCELLED, EXPIRED)
# Why a listing closed without selling out (R40), and the seller's own withdrawal.
PAYMENT, PREPAYMENT, COMPENSATION, OVERDUE, EXPIRY, SELLER, INELIGIBLE = (
    "payment",
    "prepayment",
    "compensation",
    "overdue",
    "expired",
    "seller",
    "ineligible",
)
REASONS = (PAYMENT, PREPAYMENT, COMPENSATION, OVERDUE, EXPIRY, SELLER, INELIGIBLE)


class TransferListing(Base):
    """转让标: part or all of one holding offered for sale at a discount."""

    __tablename__ = "transfer_listings"
    __table_args__ = (
        CheckConstraint("principal > 0", name="principal_positive"),
        # R42: no part of a claim is ever sold twice, whatever the code does.
        CheckConstraint("sold >= 0 AND sold <= principal", name="sold_within_principal"),
        CheckConstraint("discount_rate >= 0 AND discount_rate < 1", name="discount_range"),
        CheckConstraint("fee_rate >= 0 AND fee_rate < 1", name="fee_rate_range"),
        CheckConstraint("status IN ('open', 'sold', 'cancelled', 'expired')", name="status_known"),
        # One open listing per holding at a time ("one claim per sale; no bundles").
        Index(
            "uq_transfer_listings_open_holding",
            "holding_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_transfer_listings_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"))
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    principal: Mapped[int] = mapped_column(BigInteger)  # offered
    sold: Mapped[int] = mapped_column(BigInteger, default=0)  # bought so far
    discount_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4))  # d: price = V × (1 − d)
    fee_rate: Mapped[Decimal] = mapped_column(Numeric(9, 6))  # the seller's, fixed when listed
    # The period the price accrues in (DOMAIN.md §2.5): installment number, its first day and
    # due date, and the offered principal's share of its scheduled interest (Z).
    installment_number: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    period_interest: Mapped[int] = mapped_column(BigInteger)
    # The quote on the day it was listed (value V, accrued interest, price, fee), as shown then.
    listed_on: Mapped[date] = mapped_column(Date)
    accrued_interest: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    close_reason: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @property
    def remaining(self) -> int:
        return self.principal - self.sold


class TransferSale(Base):
    """债权转让成交: one buyer's part of a listing. The buyer paid ``price``; the seller got
    ``price − fee``; the platform ``fee`` (R39) — one ledger entry, one bank instruction."""

    __tablename__ = "transfer_sales"
    __table_args__ = (
        CheckConstraint("principal > 0", name="principal_positive"),
        CheckConstraint("fee >= 0 AND fee <= price", name="fee_within_price"),
        CheckConstraint("accrued_interest >= 0", name="accrued_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("transfer_listings.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    seller_holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), index=True)
    buyer_holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"), unique=True)
    principal: Mapped[int] = mapped_column(BigInteger)
    accrued_interest: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    business_date: Mapped[date] = mapped_column(Date)
    instruction_no: Mapped[str] = mapped_column(String(40))
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @property
    def seller_net(self) -> int:
        return self.price - self.fee


def cancel_transfer_listings(session: Session, loan_id: int, reason: str) -> int:
    """Close every open transfer listing of ``loan_id`` (R40) — ``reason`` one of
    ``REASONS`` (``expired`` closes as expired, anything else as cancelled); what was sold
    stays sold. Returns how many closed. Servicing calls it under the loan's lock whenever
    money moves on the loan, so a buyer (who takes the same lock) never buys at a stale price."""
    return cancel_transfer_listings_of(session, [loan_id], reason)


def cancel_transfer_listings_of(session: Session, loan_ids: Sequence[int], reason: str) -> int:
    """``cancel_transfer_listings`` for several loans at once (a day's repayments)."""
    if reason not in REASONS:
        raise ValueError(f"unknown transfer cancellation reason {reason!r}")
    listings = list(
        session.scalars(
            select(TransferListing)
            .where(TransferListing.loan_id.in_(loan_ids), TransferListing.status == OPEN)
            .order_by(TransferListing.id)
            .with_for_update()
        ).all()
    )
    if not listings:
        return 0
    now = clock.now()
    for listing in listings:
        listing.status = EXPIRED if reason == EXPIRY else CANCELLED
        listing.close_reason = reason
        listing.closed_at = now
    session.flush()
    audit.record_all(
        session,
        [
            audit.Event(
                None,
                f"transfer.{listing.status}",
                "transfer_listing",
                listing.id,
                {"loan_id": listing.loan_id, "reason": reason},
            )
            for listing in listings
        ],
    )
    return len(listings)


def has_open_listings(session: Session, loan_id: int) -> bool:
    return (
        session.scalar(
            select(TransferListing.id)
            .where(TransferListing.loan_id == loan_id, TransferListing.status == OPEN)
            .limit(1)
        )
        is not None
    )


# --- what statements read -----------------------------------------------------------------


def purchase_of(session: Session, holding_id: int) -> TransferSale | None:
    """The sale that created ``holding_id`` (a claim bought on the transfer market), if any."""
    return session.scalars(select(TransferSale).where(TransferSale.buyer_holding_id == holding_id)).first()


def sales_from(session: Session, holding_id: int) -> list[TransferSale]:
    """Every part of ``holding_id`` its holder sold, oldest first."""
    return list(
        session.scalars(
            select(TransferSale).where(TransferSale.seller_holding_id == holding_id).order_by(TransferSale.id)
        ).all()
    )

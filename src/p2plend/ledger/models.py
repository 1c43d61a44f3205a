"""Ledger tables (contract, ARCHITECTURE.md): accounts, entries, postings.

Append-only: entries and postings are never updated or deleted (database triggers
refuse it); a correction is a new entry that points at the one it reverses.
"""

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        # A user's money can never go below zero: enforced by the database itself.
        CheckConstraint("owner_type <> 'user' OR balance >= 0", name="user_balance_non_negative"),
        UniqueConstraint("owner_type", "owner_id", "kind"),
        # Balances change with every entry: room on the page keeps the index untouched.
        {"postgresql_with": {"fillfactor": 70}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    owner_type: Mapped[str] = mapped_column(String(16))  # user | platform | external
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JournalEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_ref", "ref_type", "ref_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    # sha256 of what the entry moves: the same key with different legs is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ref_type: Mapped[str | None] = mapped_column(String(32))
    ref_id: Mapped[str | None] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(String(200), default="")
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))


class Posting(Base):
    __tablename__ = "ledger_postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_non_zero"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)

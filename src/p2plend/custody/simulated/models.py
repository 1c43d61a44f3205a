"""The simulated bank's own books: tables prefixed ``bank_``, never read by the platform.

The platform reaches this data only through the ``Custodian`` port and signed callbacks,
as it would a real bank's. (Operators' reconciliation SQL may read both sides.)
"""

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class BankSubAccount(Base):
    __tablename__ = "bank_sub_accounts"
    # The bank never lets a sub-account go below zero.
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_non_negative"),
        {"postgresql_with": {"fillfactor": 70}},  # as the ledger's balances (ledger/models.py)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True)
    owner_ref: Mapped[str] = mapped_column(String(64), unique=True)
    holder_name_masked: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BankTransaction(Base):
    """The bank's journal: one signed amount per sub-account movement, with its value date."""

    __tablename__ = "bank_transactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("bank_sub_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    value_date: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BankOrder(Base):
    __tablename__ = "bank_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # deposit | withdrawal | transfer
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    sub_account_no: Mapped[str] = mapped_column(String(32))
    counterparty_no: Mapped[str | None] = mapped_column(String(32))  # transfers
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_amount: Mapped[int | None] = mapped_column(BigInteger)  # what the payer actually paid
    card_masked: Mapped[str | None] = mapped_column(String(32))
    card_fails: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BankCallback(Base):
    """The outgoing callback queue: a row stays pending until the platform acknowledges it."""

    __tablename__ = "bank_callbacks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

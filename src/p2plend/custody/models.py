"""Custody tables on the platform side: sub-account records, orders, the callback inbox,
anomalies for ops, reconciliation runs and the batch instructions given to the bank (资金存管)."""

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class CustodyAccount(Base):
    """Which sub-account at the bank holds whose money: a user's, or the platform's fee account."""

    __tablename__ = "custody_accounts"
    __table_args__ = (UniqueConstraint("owner_type", "owner_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(16))  # user | platform
    owner_id: Mapped[int] = mapped_column(BigInteger)  # users.id; 0 for the platform
    sub_account_no: Mapped[str] = mapped_column(String(32), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DepositOrder(Base):
    """充值订单. Status: pending → succeeded | failed | expired | amount_mismatch (expired → succeeded)."""

    __tablename__ = "custody_deposit_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    card_id: Mapped[int] = mapped_column(BigInteger)
    sub_account_no: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    payment_url: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(200))


class WithdrawalOrder(Base):
    """提现订单. Status: pending → submitted → succeeded | failed."""

    __tablename__ = "custody_withdrawal_orders"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    card_id: Mapped[int] = mapped_column(BigInteger)
    card_masked: Mapped[str] = mapped_column(String(32))
    sub_account_no: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(200))


class CallbackEvent(Base):
    """The inbox of custodian callbacks (polar's external_event): each event recorded once."""

    __tablename__ = "custody_callback_events"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64))
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CustodyAnomaly(Base):
    """Something in a callback that does not fit the platform's books: for ops to review."""

    __tablename__ = "custody_anomalies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str | None] = mapped_column(String(64))
    sub_account_no: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ReconciliationRun(Base):
    """One comparison of the platform's books with the bank's statement for a day (对账)."""

    __tablename__ = "custody_reconciliation_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    run_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_by: Mapped[int | None] = mapped_column(BigInteger)
    sub_accounts_checked: Mapped[int] = mapped_column(Integer)
    difference_count: Mapped[int] = mapped_column(Integer)
    platform_total: Mapped[int] = mapped_column(BigInteger)
    bank_total: Mapped[int] = mapped_column(BigInteger)


class ReconciliationDifference(Base):
    __tablename__ = "custody_reconciliation_differences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("custody_reconciliation_runs.id"), index=True)
    sub_account_no: Mapped[str] = mapped_column(String(32))
    owner_type: Mapped[str | None] = mapped_column(String(16))
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    platform_amount: Mapped[int] = mapped_column(BigInteger)
    bank_amount: Mapped[int] = mapped_column(BigInteger)
    difference: Mapped[int] = mapped_column(BigInteger)  # bank − platform


class BankInstruction(Base):
    """A batch transfer instruction the bank carried out (批量转账指令), as the platform knows it.

    ``done``: recorded in the act's own transaction, so it exists exactly when the act
    committed. ``voided``: the bank moved the money but no act committed it (an orphan); the
    sweep recorded it first, so a late commit of the act fails on the unique number, then had
    the bank reverse it under ``reversal_no`` (``pending`` → ``succeeded`` | ``refused``).
    """

    __tablename__ = "custody_bank_instructions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instruction_no: Mapped[str] = mapped_column(String(64), unique=True)
    base_no: Mapped[str] = mapped_column(String(64), index=True)  # the act's number, before any ``~k``
    status: Mapped[str] = mapped_column(String(16), index=True)  # done | voided
    amount: Mapped[int] = mapped_column(BigInteger)  # the sum of the legs
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Voided only: what the bank moved (JSON [[from, to, amount], ...]) and when, and the reversal.
    legs: Mapped[str | None] = mapped_column(Text)
    executed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reversal_no: Mapped[str | None] = mapped_column(String(64))
    reversal_status: Mapped[str | None] = mapped_column(String(16))
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InstructionRecordStart(Base):
    """When the platform began recording its bank instructions, on a database upgraded while in
    use (migration 0017): the bank's transfers before it have no record, yet are not orphans,
    so the orphan sweep never reads before it. A database created at 0017 or later has none."""

    __tablename__ = "custody_instruction_record_start"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)

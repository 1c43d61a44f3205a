"""End-of-day batch tables: one row per business date closed, one per chunk of work."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class EodRun(Base):
    """日终: the batch of one business date, ``running`` until its last step is done."""

    __tablename__ = "eod_runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'closed')", name="status_known"),)

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str] = mapped_column(String(32))  # the step in progress, or the last one
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EodChunk(Base):
    """A slice of one step's loans. A worker claims it, does the work and marks it ``done``
    in one transaction, so a crash leaves it ``pending`` and the work undone."""

    __tablename__ = "eod_chunks"
    __table_args__ = (
        UniqueConstraint("business_date", "step", "number"),
        CheckConstraint("status IN ('pending', 'done')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    step: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    loan_ids: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    items: Mapped[int] = mapped_column(Integer, default=0)  # acts done (debits, accruals, …)
    worker: Mapped[str] = mapped_column(String(64), default="")
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

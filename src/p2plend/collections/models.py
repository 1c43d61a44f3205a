"""Collections tables (催收) and write-off (核销).

- ``collection_strategies``: per stage (M1…M7+), how overdue loans are worked — the
  treatment expected, the automatic reminders (SMS / app message and how often), how cases
  are given to collectors (round robin, by load, or not at all) and by which team.
- ``collection_cases``: one case per overdue spell of a loan, opened by the end-of-day batch
  on the loan's first overdue day, escalated as its stage moves, closed when the loan is
  current again (or settled). At most one open case per loan (a partial unique index).
- ``collection_stage_changes``, ``collection_assignments``: the case's stage and collector
  history (the KPI report reads them).
- ``collection_actions``: what collectors did (call, message, visit, promise to pay, legal
  step, note); ``collection_promises`` the promises to pay and whether they were kept;
  ``collection_reminders`` the batch's automatic reminders, once per case, date and channel.
- ``write_offs``: proposed by one staff member, approved (or rejected) by another;
  ``write_off_claims`` the holders' claims as they stood at approval, marked lost for
  reporting. A write-off moves no money (R34).

Money is integer fen (BIGINT).
"""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime

_STAGES = "'m1', 'm2', 'm3', 'm3_plus', 'm7_plus'"
_OPEN = "status = 'open'"
_LIVE_WRITE_OFF = "status IN ('proposed', 'approved')"


class CollectionStrategy(Base):
    """催收策略 of one stage, kept by staff (audited). A stage without a row follows the
    defaults of ``collections.strategies.DEFAULTS``."""

    __tablename__ = "collection_strategies"
    __table_args__ = (
        CheckConstraint(f"stage IN ({_STAGES})", name="stage_known"),
        CheckConstraint(
            "treatment IN ('reminder', 'phone', 'visit', 'legal', 'outsourcing')", name="treatment_known"
        ),
        CheckConstraint("assignment IN ('none', 'round_robin', 'by_load')", name="assignment_known"),
        CheckConstraint("reminder_every_days BETWEEN 1 AND 90", name="reminder_interval"),
        CheckConstraint("contact_every_days BETWEEN 1 AND 90", name="contact_interval"),
    )

    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    treatment: Mapped[str] = mapped_column(String(16))
    reminder_sms: Mapped[bool] = mapped_column(Boolean)
    reminder_app: Mapped[bool] = mapped_column(Boolean)
    reminder_every_days: Mapped[int] = mapped_column(Integer)
    assignment: Mapped[str] = mapped_column(String(16))
    team: Mapped[list[int]] = mapped_column(JSON)  # collector ids; empty: every collector
    contact_every_days: Mapped[int] = mapped_column(Integer)
    # Round robin: the collector who got this stage's last case (the next one goes to the next id).
    last_assigned_to: Mapped[int | None] = mapped_column(BigInteger)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CollectionCase(Base):
    """催收案件: one overdue spell of one loan."""

    __tablename__ = "collection_cases"
    __table_args__ = (
        UniqueConstraint("loan_id", "opened_on"),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        CheckConstraint(f"stage IN ({_STAGES})", name="stage_known"),
        CheckConstraint(
            "close_reason IS NULL OR close_reason IN ('cured', 'settled')", name="close_reason_known"
        ),
        Index(
            "uq_collection_cases_open_loan",
            "loan_id",
            unique=True,
            postgresql_where=text(_OPEN),
            sqlite_where=text(_OPEN),
        ),
        Index("ix_collection_cases_status_collector", "status", "collector_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16))
    stage_since: Mapped[date] = mapped_column(Date)
    opened_on: Mapped[date] = mapped_column(Date, index=True)
    closed_on: Mapped[date | None] = mapped_column(Date)
    close_reason: Mapped[str | None] = mapped_column(String(16))
    # The overdue position at the end of the opening day (from the loan's daily history).
    opening_dpd: Mapped[int] = mapped_column(Integer)
    opening_principal: Mapped[int] = mapped_column(BigInteger)
    opening_balance: Mapped[int] = mapped_column(BigInteger)  # principal + interest + penalty overdue
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_on: Mapped[date | None] = mapped_column(Date)
    last_action_on: Mapped[date | None] = mapped_column(Date)
    next_contact_on: Mapped[date | None] = mapped_column(Date)
    broken_promises: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CollectionStageChange(Base):
    """The case entered ``to_stage`` at the end of ``business_date`` (from ``from_stage``;
    ``current`` when the case opened). ``balance`` is the overdue balance then."""

    __tablename__ = "collection_stage_changes"
    __table_args__ = (UniqueConstraint("case_id", "business_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    days_past_due: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(BigInteger)


class CollectionAssignment(Base):
    """The case was given to ``collector_id`` (None: taken back) on ``business_date``, by the
    batch (``assigned_by`` None; round robin or by load) or by a manager (manual)."""

    __tablename__ = "collection_assignments"
    __table_args__ = (CheckConstraint("method IN ('round_robin', 'by_load', 'manual')", name="method_known"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    previous_collector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    method: Mapped[str] = mapped_column(String(16))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    balance: Mapped[int] = mapped_column(BigInteger)  # the overdue balance when given
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CollectionAction(Base):
    """催收记录: one thing a collector did on a case (``actor_id``), on ``business_date``."""

    __tablename__ = "collection_actions"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('call', 'message', 'visit', 'promise_to_pay', 'legal', 'note')", name="kind_known"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # call: reached | no_answer | … ; message: sms | app | letter ; visit: met | … ; legal: the step.
    detail: Mapped[str] = mapped_column(String(32), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    business_date: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CollectionPromise(Base):
    """承诺还款: the borrower promised ``amount`` by ``due_on``. Kept once that much has been
    repaid since ``made_on`` (by ``due_on``); broken — flagged by the batch — when ``due_on``
    has passed without it."""

    __tablename__ = "collection_promises"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("due_on >= made_on", name="due_after_made"),
        CheckConstraint("status IN ('pending', 'kept', 'broken')", name="status_known"),
        Index("ix_collection_promises_case_status", "case_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_cases.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    action_id: Mapped[int] = mapped_column(ForeignKey("collection_actions.id"), unique=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    made_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    repaid: Mapped[int] = mapped_column(BigInteger, default=0)  # repaid since made_on, when resolved
    resolved_on: Mapped[date | None] = mapped_column(Date)


class CollectionReminder(Base):
    """An automatic reminder the batch sent under the stage's strategy: once per case, date
    and channel (the unique key makes a rerun send nothing)."""

    __tablename__ = "collection_reminders"
    __table_args__ = (
        UniqueConstraint("case_id", "business_date", "channel"),
        CheckConstraint("channel IN ('sms', 'app')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("collection_cases.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(16))
    days_past_due: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)  # what the reminder said was owed
    notification_id: Mapped[int] = mapped_column(BigInteger)


class WriteOff(Base):
    """核销 of one loan: proposed by one staff member, decided by a different one (四眼原则).
    At most one proposal or approval per loan (a partial unique index)."""

    __tablename__ = "write_offs"
    __table_args__ = (
        CheckConstraint("reason IN ('dpd_over_180', 'proof_of_loss')", name="reason_known"),
        CheckConstraint("status IN ('proposed', 'approved', 'rejected')", name="status_known"),
        CheckConstraint("decided_by IS NULL OR decided_by <> proposed_by", name="four_eyes"),
        Index(
            "uq_write_offs_live_loan",
            "loan_id",
            unique=True,
            postgresql_where=text(_LIVE_WRITE_OFF),
            sqlite_where=text(_LIVE_WRITE_OFF),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    proof: Mapped[str] = mapped_column(String(1000), default="")  # the evidence of loss, described
    status: Mapped[str] = mapped_column(String(16))
    days_past_due: Mapped[int] = mapped_column(Integer)  # when proposed
    principal: Mapped[int] = mapped_column(BigInteger)  # outstanding when proposed, then when approved
    interest: Mapped[int] = mapped_column(BigInteger, default=0)  # overdue interest owed at approval
    penalty: Mapped[int] = mapped_column(BigInteger, default=0)  # penalty interest owed at approval
    proposed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_on: Mapped[date] = mapped_column(Date)
    proposed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str] = mapped_column(String(500), default="")


class WriteOffClaim(Base):
    """A holder's claim as it stood when the write-off was approved: marked lost for
    reporting, still the holder's for recovery."""

    __tablename__ = "write_off_claims"
    __table_args__ = (UniqueConstraint("write_off_id", "holding_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    write_off_id: Mapped[int] = mapped_column(ForeignKey("write_offs.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    holding_id: Mapped[int] = mapped_column(ForeignKey("holdings.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    principal: Mapped[int] = mapped_column(BigInteger)

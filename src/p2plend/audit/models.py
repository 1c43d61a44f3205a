"""Audit tables: the records, and one head per stream.

Records are chained per *stream* (one object, e.g. ``user:42``), not globally: a single
global head would make every audited write on PostgreSQL wait for every other one. Each
record stores the hash of its predecessor in the stream; the head row holds the last
sequence number and hash, so deleting the tail of a stream is detected too.

Database triggers (migration 0003) refuse UPDATE and DELETE of records, and let a head
move only one step forward, onto a record that exists.
"""

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from p2plend.db import Base, BigId, UtcDateTime


class AuditLogRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        UniqueConstraint("stream", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_records_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stream: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    # Canonical JSON (sorted keys, no spaces): exactly the text that was hashed.
    details: Mapped[str] = mapped_column(Text)
    business_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditStreamHead(Base):
    """The last record of a stream: what a deleted tail would no longer match."""

    __tablename__ = "audit_stream_heads"
    __table_args__ = (CheckConstraint("seq >= 0", name="seq_non_negative"),)

    stream: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

"""The audit log (审计日志): record staff acts, security events and money movements; verify the chains.

Append-only and tamper-evident (R17). Every record belongs to a *stream* — the object it
is about (``user:42``, ``withdrawal:W123``), or its actor when it names no object — and
carries ``seq`` (1, 2, … within the stream), the hash of the stream's previous record and
its own hash::

    hash = sha256(prev_hash + canonical JSON of the record's fields)

Streams rather than one global chain: the head of a chain must be locked while a record is
appended, and a global head would serialise every audited write on PostgreSQL. A stream's
head is locked only by writers about the same object, who contend for that object anyway.

Lock order: a head stays locked until the business transaction commits. An act that
audits several objects should record them in a stable order (e.g. by object id), as two
acts locking two heads in opposite orders can deadlock on PostgreSQL.

Details are JSON: strings, ints, bools, None, lists and dicts with string keys; dates,
datetimes, Decimals and enums are stored as strings. Floats are refused (R19: amounts are
int fen). Never put personal data in clear in details: masked values only.
"""

import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from p2plend import clock
from p2plend.audit.models import AuditLogRecord, AuditStreamHead
from p2plend.db import table_of

# The prev_hash of a stream's first record, and the hash of a head with no records yet.
GENESIS_HASH = "0" * 64
MAX_LIST_LIMIT = 500
_OBJECT_TYPE_MAX = 32
_OBJECT_ID_MAX = 64
_ACTION_MAX = 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record as read back: immutable, details already decoded."""

    id: int
    stream: str
    seq: int
    actor_id: int | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    business_date: date
    created_at: datetime
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditViolation:
    """A break in the log: ``rule`` names what failed, ``subject`` where."""

    rule: str
    subject: str
    detail: str


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """What happened, before it becomes a record: see ``record``."""

    actor_id: int | None
    action: str
    object_type: str
    object_id: str | int | None
    details: dict[str, object]


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: str | int | None,
    details: dict[str, object],
) -> AuditRecord:
    """Append one record to its object's stream, in the caller's transaction.

    ``actor_id`` is the user who acted (None for the system or an anonymous caller);
    ``action`` a dotted verb such as ``"withdrawal.approved"``.
    """
    [written] = record_all(session, [Event(actor_id, action, object_type, object_id, details)])
    return written


def record_all(session: Session, events: Sequence[Event]) -> list[AuditRecord]:
    """Append several records in order, each to its stream, with a fixed number of statements
    however many streams (a batch of bids; a day's repayments, one stream per loan): the
    heads are locked together, the rows go in one batch, the heads advance in one batch."""
    now = clock.now()
    keyed = [(event, None if event.object_id is None else str(event.object_id)) for event in events]
    for event, object_key in keyed:
        _check_labels(action=event.action, object_type=event.object_type)
        if object_key is not None and not 0 < len(object_key) <= _OBJECT_ID_MAX:
            raise ValueError(f"audit object_id must be 1..{_OBJECT_ID_MAX} characters")
    streams = [
        stream_of(actor_id=event.actor_id, object_type=event.object_type, object_id=object_key)
        for event, object_key in keyed
    ]
    locked = _lock_heads(session, sorted(set(streams)), now)
    heads = dict(locked)  # stream: (last seq, last hash) as the batch goes
    rows: list[AuditLogRecord] = []
    for (event, object_key), stream in zip(keyed, streams, strict=True):
        prev_seq, prev_hash = heads[stream]
        row = AuditLogRecord(
            stream=stream,
            seq=prev_seq + 1,
            actor_id=event.actor_id,
            action=event.action,
            object_type=event.object_type,
            object_id=object_key,
            details=canonical_json(_jsonable(event.details, path="details")),
            business_date=clock.today(),
            created_at=now,
            prev_hash=prev_hash,
        )
        row.hash = record_hash(row)
        rows.append(row)
        heads[stream] = (row.seq, row.hash)
    session.add_all(rows)
    session.flush()
    _advance_heads(session, locked, heads, now)
    return [_view(row) for row in rows]


def stream_of(*, actor_id: int | None, object_type: str, object_id: str | None) -> str:
    """The chain a record joins: its object's; else its actor's; else one per object type."""
    if object_id is not None:
        return f"{object_type}:{object_id}"
    if actor_id is not None:
        return f"actor:{actor_id}"
    # Anonymous events about no particular object (a sign-in with an unknown phone).
    return f"{object_type}:-"


def _check_labels(*, action: str, object_type: str) -> None:
    if not 0 < len(action) <= _ACTION_MAX:
        raise ValueError(f"audit action must be 1..{_ACTION_MAX} characters")
    if not 0 < len(object_type) <= _OBJECT_TYPE_MAX or ":" in object_type:
        raise ValueError(f"audit object_type must be 1..{_OBJECT_TYPE_MAX} characters without ':'")


def _lock_heads(session: Session, streams: list[str], now: datetime) -> dict[str, tuple[int, str]]:
    """Create the streams' heads that are new, then lock them all, in stream order (no
    deadlocks between batches): ``stream: (last seq, last hash)``.

    ON CONFLICT DO NOTHING: two first writers of a stream don't fail, the second waits
    for the first to commit and then reads its head. SQLite's BEGIN IMMEDIATE already
    serialises writers; FOR UPDATE is a no-op there.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(AuditStreamHead)
        .values([{"stream": stream, "seq": 0, "hash": GENESIS_HASH, "updated_at": now} for stream in streams])
        .on_conflict_do_nothing(index_elements=["stream"])
    )
    heads = session.execute(
        select(AuditStreamHead.stream, AuditStreamHead.seq, AuditStreamHead.hash)
        .where(AuditStreamHead.stream.in_(streams))
        .order_by(AuditStreamHead.stream)
        .with_for_update()
    ).all()
    return {head.stream: (head.seq, head.hash) for head in heads}


def _advance_heads(
    session: Session,
    locked: dict[str, tuple[int, str]],
    moved_to: dict[str, tuple[int, str]],
    now: datetime,
) -> None:
    heads = table_of(AuditStreamHead)
    # Core, not ORM: one executemany (an ORM update with many parameter sets is by primary key).
    moved = session.connection().execute(
        update(heads)
        .where(heads.c.stream == bindparam("head"), heads.c.seq == bindparam("from_seq"))
        .values(seq=bindparam("to_seq"), hash=bindparam("to_hash"), updated_at=now),
        [
            {"head": stream, "from_seq": locked[stream][0], "to_seq": seq, "to_hash": head_hash}
            for stream, (seq, head_hash) in moved_to.items()
        ],
    )
    if moved.rowcount != len(moved_to):
        # The heads were locked above: only a bug (or tampering) gets here.
        raise RuntimeError("an audit stream moved while locked")


# --- hashing ------------------------------------------------------------------------------


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, UTF-8 kept: one text per value, on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _Hashed(Protocol):
    """The fields a record's hash covers (an ORM row or a plain result row)."""

    @property
    def stream(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def actor_id(self) -> int | None: ...
    @property
    def action(self) -> str: ...
    @property
    def object_type(self) -> str: ...
    @property
    def object_id(self) -> str | None: ...
    @property
    def details(self) -> str: ...
    @property
    def business_date(self) -> date: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def prev_hash(self) -> str: ...


class _Stored(_Hashed, Protocol):
    @property
    def id(self) -> int: ...
    @property
    def hash(self) -> str: ...


def record_hash(row: _Hashed) -> str:
    """sha256(prev_hash + canonical JSON of every field the record asserts)."""
    fields = {
        "stream": row.stream,
        "seq": row.seq,
        "actor_id": row.actor_id,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "details": json.loads(row.details),
        "business_date": row.business_date.isoformat(),
        "created_at": _utc_iso(row.created_at),
    }
    return hashlib.sha256((row.prev_hash + canonical_json(fields)).encode()).hexdigest()


def _utc_iso(instant: datetime) -> str:
    # PostgreSQL may hand instants back in the session's time zone: hash the UTC form.
    return instant.astimezone(UTC).isoformat()


def _jsonable(value: object, *, path: str) -> object:
    """The JSON form of a details value; refuses floats and anything JSON can't carry exactly."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        raise TypeError(f"{path}: floats are not recorded (amounts are int fen)")
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, path=path)
    if isinstance(value, datetime):
        return _utc_iso(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date | Decimal):
        return value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(value, dict):
        return {_key(k, path): _jsonable(v, path=f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, path=f"{path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} can't be recorded in the audit log")


def _key(key: object, path: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"{path}: keys must be strings")
    return key


# --- reading ------------------------------------------------------------------------------


def list_records(
    session: Session,
    *,
    actor_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[AuditRecord]:
    """Records matching every filter given, newest first; page with ``before_id``."""
    query = select(AuditLogRecord).order_by(AuditLogRecord.id.desc())
    if actor_id is not None:
        query = query.where(AuditLogRecord.actor_id == actor_id)
    if object_type is not None:
        query = query.where(AuditLogRecord.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditLogRecord.object_id == str(object_id))
    if before_id is not None:
        query = query.where(AuditLogRecord.id < before_id)
    query = query.limit(max(1, min(limit, MAX_LIST_LIMIT)))
    return [_view(row) for row in session.scalars(query)]


def _view(row: AuditLogRecord) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        stream=row.stream,
        seq=row.seq,
        actor_id=row.actor_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        details=json.loads(row.details),
        business_date=row.business_date,
        created_at=row.created_at,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


# --- verifying ----------------------------------------------------------------------------


def verify(session: Session) -> list[AuditViolation]:
    """Walk every stream and check every head; an empty list means the log is intact.

    Detects an edited record (its hash no longer matches), a deleted or inserted record
    (a gap in ``seq`` or a broken ``prev_hash``), and a deleted tail (the head names a
    record that is gone or different).
    """
    violations: list[AuditViolation] = []
    # Plain rows, not ORM objects: a long walk must not fill the session's identity map.
    rec = AuditLogRecord
    rows = session.execute(
        select(
            rec.id,
            rec.stream,
            rec.seq,
            rec.actor_id,
            rec.action,
            rec.object_type,
            rec.object_id,
            rec.details,
            rec.business_date,
            rec.created_at,
            rec.prev_hash,
            rec.hash,
        )
        .order_by(rec.stream, rec.seq)
        .execution_options(yield_per=1000)
    )
    for stream, records in groupby(rows, key=lambda r: r.stream):
        violations.extend(_check_chain(stream, records))
    violations.extend(_check_heads(session))
    return violations


def _check_chain(stream: str, records: Iterable[_Stored]) -> Iterator[AuditViolation]:
    expected_seq, expected_prev = 1, GENESIS_HASH
    for row in records:
        subject = f"{stream}#{row.seq} (record {row.id})"
        if row.seq != expected_seq:
            yield AuditViolation("seq_contiguous", subject, f"expected seq {expected_seq}")
        if row.prev_hash != expected_prev:
            yield AuditViolation("prev_hash_links", subject, "prev_hash is not the previous record's hash")
        if record_hash(row) != row.hash:
            yield AuditViolation("record_hash", subject, "the record's fields no longer match its hash")
        expected_seq, expected_prev = row.seq + 1, row.hash


def _check_heads(session: Session) -> Iterator[AuditViolation]:
    tail = AuditLogRecord
    # A head must name its stream's last record: a missing one means the tail was deleted.
    broken = session.execute(
        select(AuditStreamHead.stream, AuditStreamHead.seq, AuditStreamHead.hash, tail.hash)
        .outerjoin(tail, and_(tail.stream == AuditStreamHead.stream, tail.seq == AuditStreamHead.seq))
        .where(AuditStreamHead.seq > 0)
        .where((tail.id.is_(None)) | (tail.hash != AuditStreamHead.hash))
    )
    for stream, seq, _head_hash, record_hash_ in broken:
        problem = "is missing" if record_hash_ is None else "has another hash"
        yield AuditViolation("head_matches_tail", stream, f"head names seq {seq}, which {problem}")
    beyond = session.execute(
        select(tail.stream, tail.seq)
        .outerjoin(AuditStreamHead, AuditStreamHead.stream == tail.stream)
        .where((AuditStreamHead.stream.is_(None)) | (tail.seq > AuditStreamHead.seq))
    )
    for stream, seq in beyond:
        yield AuditViolation("head_matches_tail", stream, f"record seq {seq} is beyond the stream's head")

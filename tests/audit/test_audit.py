"""The audit log: per-stream hash chains, append-only in the database, tamper-evident (R17)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from p2plend import clock
from p2plend.audit import service as audit
from p2plend.audit.service import GENESIS_HASH
from p2plend.db import transaction


def record_withdrawal_events(session: Session, order_no: str, count: int) -> list[audit.AuditRecord]:
    return [
        audit.record(
            session,
            actor_id=7,
            action=f"withdrawal.step{i}",
            object_type="withdrawal",
            object_id=order_no,
            details={"amount_fen": 10_000 + i, "memo": "提现"},
        )
        for i in range(count)
    ]


def bypass_guards(session: Session, is_postgres: bool, table: str) -> None:
    """Let the test itself do what the triggers refuse, to prove verify() still sees it."""
    if is_postgres:
        session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        for (name,) in session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"), {"t": table}
        ).all():
            session.execute(text(f'DROP TRIGGER "{name}"'))


def test_records_chain_within_their_stream(session: Session) -> None:
    first, second = record_withdrawal_events(session, "W1", 2)
    other = audit.record(
        session, actor_id=None, action="user.registered", object_type="user", object_id=5, details={}
    )
    session.commit()
    assert (first.stream, first.seq, first.prev_hash) == ("withdrawal:W1", 1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert (other.stream, other.seq, other.prev_hash) == ("user:5", 1, GENESIS_HASH)
    assert audit.verify(session) == []


def test_stream_falls_back_to_actor_then_to_object_type(session: Session) -> None:
    by_actor = audit.record(
        session, actor_id=3, action="report.exported", object_type="report", object_id=None, details={}
    )
    anonymous = audit.record(
        session,
        actor_id=None,
        action="login.failed",
        object_type="user",
        object_id=None,
        details={"phone": "138****0000"},
    )
    assert by_actor.stream == "actor:3"
    assert anonymous.stream == "user:-"
    assert audit.verify(session) == []


def test_details_are_stored_canonically_and_read_back(session: Session) -> None:
    rec = audit.record(
        session,
        actor_id=1,
        action="fee.changed",
        object_type="product",
        object_id=9,
        details={"rate": Decimal("0.0030"), "from": date(2026, 11, 28), "roles": ("admin", "finance")},
    )
    session.commit()
    [read] = audit.list_records(session, object_type="product", object_id=9)
    assert read == rec
    assert read.details == {"rate": "0.0030", "from": "2026-11-28", "roles": ["admin", "finance"]}
    assert read.business_date == clock.today()


def test_floats_are_refused_in_details(session: Session) -> None:
    with pytest.raises(TypeError, match="floats"):
        audit.record(session, actor_id=1, action="x", object_type="y", object_id=1, details={"amount": 1.5})


def test_list_records_filters_and_pages_newest_first(session: Session) -> None:
    record_withdrawal_events(session, "W1", 3)
    audit.record(session, actor_id=8, action="card.bound", object_type="bank_card", object_id=1, details={})
    session.commit()
    assert [r.action for r in audit.list_records(session, actor_id=7, limit=2)] == [
        "withdrawal.step2",
        "withdrawal.step1",
    ]
    newest = audit.list_records(session, object_type="withdrawal", object_id="W1")
    older = audit.list_records(session, object_type="withdrawal", before_id=newest[0].id)
    assert [r.seq for r in older] == [2, 1]
    assert [r.action for r in audit.list_records(session, actor_id=8)] == ["card.bound"]


def test_database_refuses_update_and_delete_of_records(session: Session) -> None:
    record_withdrawal_events(session, "W1", 1)
    session.commit()
    for statement in ("UPDATE audit_records SET details = '{}'", "DELETE FROM audit_records"):
        with pytest.raises(DBAPIError):
            session.execute(text(statement))
        session.rollback()
    assert len(audit.list_records(session)) == 1


def test_database_refuses_moving_a_head_anywhere_but_onto_its_next_record(session: Session) -> None:
    record_withdrawal_events(session, "W1", 2)
    session.commit()
    for statement in (
        "UPDATE audit_stream_heads SET seq = 1",  # rewinding, to hide a deleted tail
        "UPDATE audit_stream_heads SET seq = 3, hash = 'f'",  # pointing past the records
        "DELETE FROM audit_stream_heads",
        "INSERT INTO audit_stream_heads (stream, seq, hash, updated_at)"
        f" VALUES ('x:1', 5, '{'a' * 64}', '2026-01-01')",
    ):
        with pytest.raises(DBAPIError):
            session.execute(text(statement))
        session.rollback()
    assert audit.verify(session) == []


def test_a_batch_of_records_moves_each_stream_head_once_over_all_of_them(session: Session) -> None:
    """``record_all``: three records on one stream, one on another, in order; each head then
    stands on its stream's last record, and a head may not be moved back over them."""
    events = [audit.Event(7, f"bid.step{i}", "loan", 1, {"n": i}) for i in range(3)] + [
        audit.Event(8, "bid.step0", "loan", 2, {"n": 0})
    ]
    written = audit.record_all(session, events)
    session.commit()
    assert [(r.stream, r.seq) for r in written] == [
        ("loan:1", 1),
        ("loan:1", 2),
        ("loan:1", 3),
        ("loan:2", 1),
    ]
    assert written[1].prev_hash == written[0].hash and written[2].prev_hash == written[1].hash
    assert audit.verify(session) == []
    with pytest.raises(DBAPIError):
        session.execute(
            text("UPDATE audit_stream_heads SET seq = 2, hash = :h WHERE stream = 'loan:1'"),
            {"h": written[1].hash},
        )
    session.rollback()
    assert audit.verify(session) == []


def test_tampered_details_are_detected(session: Session, is_postgres: bool) -> None:
    """R17: editing a record's details breaks its hash."""
    _first, second, _third = record_withdrawal_events(session, "W1", 3)
    session.commit()
    bypass_guards(session, is_postgres, "audit_records")
    session.execute(
        text("UPDATE audit_records SET details = :d WHERE id = :id"),
        {"d": '{"amount_fen":1,"memo":"提现"}', "id": second.id},
    )
    session.commit()
    violations = audit.verify(session)
    assert [(v.rule, v.subject) for v in violations] == [
        ("record_hash", f"withdrawal:W1#2 (record {second.id})")
    ]


def test_rehashed_forgery_breaks_the_next_link(session: Session, is_postgres: bool) -> None:
    """Recomputing the edited record's hash does not help: its successor still names the old one."""
    _first, second, _third = record_withdrawal_events(session, "W1", 3)
    session.commit()
    bypass_guards(session, is_postgres, "audit_records")
    session.execute(
        text("UPDATE audit_records SET hash = :h WHERE id = :id"), {"h": "b" * 64, "id": second.id}
    )
    session.commit()
    rules = {v.rule for v in audit.verify(session)}
    assert rules == {"record_hash", "prev_hash_links"}


def test_deleting_the_tail_is_detected(session: Session, is_postgres: bool) -> None:
    """R17: a stream's head still names the deleted last record."""
    record_withdrawal_events(session, "W1", 3)
    session.commit()
    bypass_guards(session, is_postgres, "audit_records")
    session.execute(text("DELETE FROM audit_records WHERE stream = 'withdrawal:W1' AND seq = 3"))
    session.commit()
    violations = audit.verify(session)
    assert [(v.rule, v.subject) for v in violations] == [("head_matches_tail", "withdrawal:W1")]
    assert "seq 3, which is missing" in violations[0].detail


def test_deleting_a_middle_record_is_detected(session: Session, is_postgres: bool) -> None:
    record_withdrawal_events(session, "W1", 3)
    session.commit()
    bypass_guards(session, is_postgres, "audit_records")
    session.execute(text("DELETE FROM audit_records WHERE stream = 'withdrawal:W1' AND seq = 2"))
    session.commit()
    assert {v.rule for v in audit.verify(session)} == {"seq_contiguous", "prev_hash_links"}


def test_hash_is_stable_across_days_and_reads(session: Session, business_clock: clock.FixedClock) -> None:
    record_withdrawal_events(session, "W1", 1)
    session.commit()
    business_clock.advance(timedelta(days=400))
    record_withdrawal_events(session, "W1", 1)
    session.commit()
    session.expire_all()
    assert audit.verify(session) == []


@pytest.mark.postgres_only
def test_concurrent_records_keep_every_chain_valid(session_factory: sessionmaker[Session]) -> None:
    """20 writers at once: 10 on one shared stream, 10 on streams of their own."""

    def write(i: int) -> None:
        with transaction(session_factory) as session:
            audit.record(
                session, actor_id=i, action="bid.placed", object_type="listing", object_id=1, details={"i": i}
            )
            audit.record(
                session,
                actor_id=i,
                action="bid.placed",
                object_type="user",
                object_id=100 + i,
                details={"i": i},
            )

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(write, range(20)))

    with session_factory() as session:
        assert audit.verify(session) == []
        shared = audit.list_records(session, object_type="listing", object_id=1, limit=100)
        assert sorted(r.seq for r in shared) == list(range(1, 21))
        assert len(audit.list_records(session, object_type="user", limit=100)) == 20

"""``db.insert_rows`` and ``db.update_rows``: one statement for many rows, as the ORM would
have written them — on PostgreSQL by unnested arrays for a few rows and by COPY for many."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from p2plend.db import COPY_FROM_ROWS, insert_rows, update_rows
from p2plend.notifications.models import OutboxMessage

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def _emails(count: int) -> list[dict[str, object]]:
    # ``attempts`` left out: its default (0) applies, as in an ORM insert.
    return [
        {"channel": "email", "template": f"t{n}", "locale": "zh", "title": f"第{n}封", "status": "pending"}
        for n in range(count)
    ]


@pytest.mark.parametrize("count", [3, COPY_FROM_ROWS, 3 * COPY_FROM_ROWS])
def test_rows_are_inserted_in_list_order_with_defaults_and_shared_values(
    session: Session, count: int
) -> None:
    insert_rows(session, OutboxMessage, _emails(count), shared={"created_at": NOW})
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [r.template for r in rows] == [f"t{n}" for n in range(count)]
    assert {(r.attempts, r.created_at, r.user_id, r.body) for r in rows} == {(0, NOW, None, None)}
    assert rows[0].title == "第0封"


@pytest.mark.parametrize("count", [3, 3 * COPY_FROM_ROWS])
def test_a_violated_constraint_raises_integrity_error_and_writes_nothing(
    session: Session, count: int
) -> None:
    rows = _emails(count)
    rows[-1]["status"] = "lost"
    with pytest.raises(IntegrityError):
        insert_rows(session, OutboxMessage, rows, shared={"created_at": NOW})
    session.rollback()
    assert session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("count", [3, 3 * COPY_FROM_ROWS])
def test_values_are_bound_by_their_column_type(session: Session, count: int) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        insert_rows(session, OutboxMessage, _emails(count), shared={"created_at": datetime(2026, 11, 28)})


def test_rows_are_updated_by_id_or_incremented(session: Session) -> None:
    insert_rows(session, OutboxMessage, _emails(2 * COPY_FROM_ROWS), shared={"created_at": NOW})
    ids = list(session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))
    update_rows(session, OutboxMessage, [{"id": i, "status": "sent", "attempts": 2} for i in ids[::2]])
    update_rows(session, OutboxMessage, [{"id": i, "attempts": 5} for i in ids[:2]], increment=True)
    session.expire_all()
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(r.status, r.attempts) for r in rows[:4]] == [
        ("sent", 7),
        ("pending", 5),
        ("sent", 2),
        ("pending", 0),
    ]

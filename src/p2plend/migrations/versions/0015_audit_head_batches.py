"""An audit stream's head may advance over several records at once (a batch of bids).

Migration 0003 let a head move one step at a time, so a batch of N records on one stream
cost N updates of its head. Now a head may move forward any number of steps in one update,
provided every record it moves over is there — as many records between the old and the new
seq as the step — and the new head is the last of them, with its hash. The hash chain still
makes deleting a stream's tail detectable, and the head still never moves back.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def _pg_guard(advance: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit stream heads are never deleted';
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash <> '{GENESIS}' THEN
            RAISE EXCEPTION 'audit stream % must start empty', NEW.stream;
        END IF;
    ELSIF NEW.stream <> OLD.stream OR {advance} OR NOT EXISTS (
        SELECT 1 FROM audit_records r WHERE r.stream = NEW.stream AND r.seq = NEW.seq AND r.hash = NEW.hash
    ) THEN
        RAISE EXCEPTION 'audit stream % may only advance onto its next records', OLD.stream;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
"""  # noqa: S608 — built from constants only


# Each step forward lands on a record: as many records between the old and the new head.
SEVERAL_STEPS = """NEW.seq <= OLD.seq OR (
        SELECT count(*) FROM audit_records r WHERE r.stream = NEW.stream AND r.seq > OLD.seq AND r.seq <= NEW.seq
    ) <> NEW.seq - OLD.seq"""
ONE_STEP = "NEW.seq <> OLD.seq + 1"


def _sqlite_guard(advance: str) -> str:
    return f"""CREATE TRIGGER audit_stream_heads_advance BEFORE UPDATE ON audit_stream_heads
        WHEN NEW.stream <> OLD.stream OR {advance} OR NOT EXISTS (
            SELECT 1 FROM audit_records r WHERE r.stream = NEW.stream AND r.seq = NEW.seq AND r.hash = NEW.hash
        )
        BEGIN SELECT RAISE(ABORT, 'audit stream may only advance onto its next records'); END"""  # noqa: S608


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_guard(SEVERAL_STEPS))
    else:
        op.execute("DROP TRIGGER audit_stream_heads_advance")
        op.execute(_sqlite_guard(SEVERAL_STEPS))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_pg_guard(ONE_STEP))
    else:
        op.execute("DROP TRIGGER audit_stream_heads_advance")
        op.execute(_sqlite_guard(ONE_STEP))

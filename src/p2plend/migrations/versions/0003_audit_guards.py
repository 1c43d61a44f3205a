"""Audit and suitability guards: the database refuses to rewrite history (R17).

- ``audit_records`` and ``risk_assessments`` are append-only: UPDATE and DELETE (and
  TRUNCATE on PostgreSQL) are refused.
- ``audit_stream_heads``: a head is born empty (seq 0, genesis hash), moves only one
  step forward and only onto a record of its stream with that hash, and is never deleted.
  Together with the hash chain this makes deleting a stream's tail detectable.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
APPEND_ONLY = ("audit_records", "risk_assessments")

PG_GUARDS = f"""
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'history is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;

CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER risk_assessments_append_only BEFORE UPDATE OR DELETE ON risk_assessments
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER risk_assessments_no_truncate BEFORE TRUNCATE ON risk_assessments
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit stream heads are never deleted';
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.seq <> 0 OR NEW.hash <> '{GENESIS}' THEN
            RAISE EXCEPTION 'audit stream % must start empty', NEW.stream;
        END IF;
    ELSIF NEW.stream <> OLD.stream OR NEW.seq <> OLD.seq + 1 OR NOT EXISTS (
        SELECT 1 FROM audit_records r WHERE r.stream = NEW.stream AND r.seq = NEW.seq AND r.hash = NEW.hash
    ) THEN
        RAISE EXCEPTION 'audit stream % may only advance onto its next record', OLD.stream;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER audit_stream_heads_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_stream_heads
    FOR EACH ROW EXECUTE FUNCTION audit_head_guard();
CREATE TRIGGER audit_stream_heads_no_truncate BEFORE TRUNCATE ON audit_stream_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""  # noqa: S608 — built from constants only

PG_DROP = """
DROP TRIGGER audit_stream_heads_no_truncate ON audit_stream_heads;
DROP TRIGGER audit_stream_heads_guard ON audit_stream_heads;
DROP TRIGGER risk_assessments_no_truncate ON risk_assessments;
DROP TRIGGER risk_assessments_append_only ON risk_assessments;
DROP TRIGGER audit_records_no_truncate ON audit_records;
DROP TRIGGER audit_records_append_only ON audit_records;
DROP FUNCTION audit_head_guard();
DROP FUNCTION audit_refuse_change();
"""

SQLITE_GUARDS = [
    *(
        f"""CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table}
            BEGIN SELECT RAISE(ABORT, 'history is append-only'); END"""
        for table in APPEND_ONLY
        for op_name in ("UPDATE", "DELETE")
    ),
    """CREATE TRIGGER audit_stream_heads_no_delete BEFORE DELETE ON audit_stream_heads
        BEGIN SELECT RAISE(ABORT, 'audit stream heads are never deleted'); END""",
    f"""CREATE TRIGGER audit_stream_heads_start_empty BEFORE INSERT ON audit_stream_heads
        WHEN NEW.seq <> 0 OR NEW.hash <> '{GENESIS}'
        BEGIN SELECT RAISE(ABORT, 'audit stream must start empty'); END""",
    """CREATE TRIGGER audit_stream_heads_advance BEFORE UPDATE ON audit_stream_heads
        WHEN NEW.stream <> OLD.stream OR NEW.seq <> OLD.seq + 1 OR NOT EXISTS (
            SELECT 1 FROM audit_records r WHERE r.stream = NEW.stream AND r.seq = NEW.seq AND r.hash = NEW.hash
        )
        BEGIN SELECT RAISE(ABORT, 'audit stream may only advance onto its next record'); END""",
]

SQLITE_TRIGGERS = [
    *(f"{table}_no_{op_name}" for table in APPEND_ONLY for op_name in ("update", "delete")),
    "audit_stream_heads_no_delete",
    "audit_stream_heads_start_empty",
    "audit_stream_heads_advance",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARDS)
    else:
        for statement in SQLITE_GUARDS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DROP)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")

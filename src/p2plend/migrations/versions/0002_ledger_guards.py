"""Ledger guards: the platform chart of accounts and the database's own refusals.

- Entries and postings are append-only (R17): UPDATE and DELETE are refused by triggers.
- PostgreSQL: a deferred constraint trigger refuses, at commit, any entry whose postings
  don't sum to zero (SQLite has no deferred triggers; ``ledger.service.post`` checks it
  before writing and ``p2plend ledger verify`` re-checks the books).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHART = [
    ("platform:fee_income", "platform", "fee_income"),
    ("platform:own_funds", "platform", "own_funds"),
    ("platform:risk_reserve", "platform", "risk_reserve"),
    ("external:custodian_clearing", "external", "clearing"),
]

PG_GUARDS = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger history is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total BIGINT;
BEGIN
    SELECT COALESCE(SUM(amount), 0) INTO total FROM ledger_postings WHERE entry_id = NEW.entry_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger entry % does not balance (sum %)', NEW.entry_id, total;
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
"""

SQLITE_GUARDS = [
    f"""CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table}
        BEGIN SELECT RAISE(ABORT, 'ledger history is append-only'); END"""
    for table in ("ledger_entries", "ledger_postings")
    for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    accounts = sa.table(
        "ledger_accounts",
        sa.column("code", sa.String),
        sa.column("owner_type", sa.String),
        sa.column("owner_id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("balance", sa.BigInteger),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        accounts,
        [
            {
                "code": code,
                "owner_type": owner,
                "owner_id": None,
                "kind": kind,
                "balance": 0,
                "created_at": now,
            }
            for code, owner, kind in CHART
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARDS)
    else:
        for statement in SQLITE_GUARDS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_postings_balanced ON ledger_postings")
        op.execute("DROP TRIGGER ledger_postings_append_only ON ledger_postings")
        op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
        op.execute("DROP FUNCTION ledger_check_entry_balanced()")
        op.execute("DROP FUNCTION ledger_refuse_change()")
    else:
        for table in ("ledger_entries", "ledger_postings"):
            for op_name in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{op_name}")
    op.execute("DELETE FROM ledger_accounts WHERE owner_type IN ('platform', 'external')")

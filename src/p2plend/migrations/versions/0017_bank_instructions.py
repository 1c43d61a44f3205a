"""The platform's record of the batch transfer instructions the bank carried out.

``custody_bank_instructions``: one row per instruction number. ``done`` is written in the act's
own transaction, so it exists exactly when the act committed; ``voided`` is written (and
committed) by the orphan sweep for a transfer the bank made but no act recorded, with what the
bank moved and the state of its reversal. The unique number is what keeps a late commit of the
act and the void from both winning.

``custody_instruction_record_start``: on a database already in use (it has custody accounts),
the time of this upgrade. The bank's transfers before it have no row, yet are not orphans: the
sweep never reads before it. A new database needs none.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import p2plend.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "custody_bank_instructions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("instruction_no", sa.String(length=64), nullable=False),
        sa.Column("base_no", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", p2plend.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("legs", sa.Text(), nullable=True),
        sa.Column("executed_at", p2plend.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reversal_no", sa.String(length=64), nullable=True),
        sa.Column("reversal_status", sa.String(length=16), nullable=True),
        sa.Column("reversed_at", p2plend.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_bank_instructions")),
        sa.UniqueConstraint("instruction_no", name=op.f("uq_custody_bank_instructions_instruction_no")),
    )
    op.create_index(op.f("ix_custody_bank_instructions_base_no"), "custody_bank_instructions", ["base_no"])
    op.create_index(op.f("ix_custody_bank_instructions_status"), "custody_bank_instructions", ["status"])
    start = op.create_table(
        "custody_instruction_record_start",
        sa.Column("id", _ID, nullable=False),
        sa.Column("started_at", p2plend.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_instruction_record_start")),
    )
    in_use = op.get_bind().execute(sa.text("SELECT 1 FROM custody_accounts LIMIT 1")).first() is not None
    if in_use:
        op.bulk_insert(start, [{"started_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("custody_instruction_record_start")
    op.drop_index(op.f("ix_custody_bank_instructions_status"), table_name="custody_bank_instructions")
    op.drop_index(op.f("ix_custody_bank_instructions_base_no"), table_name="custody_bank_instructions")
    op.drop_table("custody_bank_instructions")

"""Portfolio plans (分散投资): an investor's plan to spread an amount over many listings, and one
line per matching listing — the bid the plan placed on it, or why none was.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portfolio_plans",
        sa.Column("id", _ID, nullable=False),
        sa.Column("investor_id", _ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("min_rate", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("max_per_loan", sa.BigInteger(), nullable=False),
        sa.Column("grades", sa.String(length=32), nullable=False),
        sa.Column("placed", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("unplaced_reason", sa.String(length=32), nullable=True),
        sa.Column("matching_listings", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount > 0 AND max_per_loan > 0", name=op.f("ck_portfolio_plans_amounts_positive")
        ),
        sa.CheckConstraint("min_rate >= 0 AND min_rate < 1", name=op.f("ck_portfolio_plans_min_rate_range")),
        sa.CheckConstraint(
            "placed > 0 AND placed <= amount", name=op.f("ck_portfolio_plans_placed_within_amount")
        ),
        sa.CheckConstraint("status IN ('complete', 'partial')", name=op.f("ck_portfolio_plans_status_known")),
        sa.CheckConstraint(
            "(status = 'complete' AND placed = amount AND unplaced_reason IS NULL) OR "
            "(status = 'partial' AND placed < amount AND unplaced_reason IS NOT NULL)",
            name=op.f("ck_portfolio_plans_status_matches_placed"),
        ),
        sa.ForeignKeyConstraint(
            ["investor_id"], ["users.id"], name=op.f("fk_portfolio_plans_investor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_plans")),
    )
    with op.batch_alter_table("portfolio_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_plans_investor_id"), ["investor_id"], unique=False)

    op.create_table(
        "portfolio_plan_lines",
        sa.Column("id", _ID, nullable=False),
        sa.Column("plan_id", _ID, nullable=False),
        sa.Column("loan_id", _ID, nullable=False),
        sa.Column("bid_id", _ID, nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_portfolio_plan_lines_amount_non_negative")),
        sa.CheckConstraint(
            "(outcome = 'placed' AND bid_id IS NOT NULL AND amount > 0) OR "
            "(outcome <> 'placed' AND bid_id IS NULL AND amount = 0)",
            name=op.f("ck_portfolio_plan_lines_placed_has_bid"),
        ),
        sa.ForeignKeyConstraint(["bid_id"], ["bids.id"], name=op.f("fk_portfolio_plan_lines_bid_id_bids")),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_portfolio_plan_lines_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["portfolio_plans.id"], name=op.f("fk_portfolio_plan_lines_plan_id_portfolio_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portfolio_plan_lines")),
        sa.UniqueConstraint("plan_id", "loan_id", name=op.f("uq_portfolio_plan_lines_plan_id_loan_id")),
    )
    with op.batch_alter_table("portfolio_plan_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portfolio_plan_lines_plan_id"), ["plan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portfolio_plan_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_plan_lines_plan_id"))

    op.drop_table("portfolio_plan_lines")
    with op.batch_alter_table("portfolio_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portfolio_plans_investor_id"))

    op.drop_table("portfolio_plans")

"""The platform risk reserve (风险备付金) and the product's repayment order.

- ``risk_reserve``: one row (a CHECK holds it to id 1) with the reserve's account, whether it
  is on, since when, and the terms loans covered from then on copy. No row is seeded: the
  reserve is off until an operator opens its account and switches it on (DOMAIN.md §8).
- ``risk_reserve_coverages``: the loans it stands behind, each with its contribution.
- ``product_versions.repayment_order`` and ``loans.repayment_order``: how a payment short of
  what is due is applied; ``components`` (R32) for every existing version and loan. The
  versions table keeps no CHECK on it: on SQLite adding one rebuilds the table and would drop
  the triggers that keep versions immutable; the domain validates it and the loans' copy has
  its CHECK.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import p2plend.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "risk_reserve",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("holder_id", BigId, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("enabled_since", sa.Date(), nullable=True),
        sa.Column("coverage", sa.String(length=24), nullable=False),
        sa.Column("trigger_dpd", sa.Integer(), nullable=False),
        sa.Column("accelerate_dpd", sa.Integer(), nullable=False),
        sa.Column("contribution_rate", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", p2plend.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "coverage IN ('principal', 'principal_interest')", name=op.f("ck_risk_reserve_coverage_known")
        ),
        sa.CheckConstraint(
            "NOT enabled OR holder_id IS NOT NULL", name=op.f("ck_risk_reserve_enabled_needs_account")
        ),
        sa.CheckConstraint(
            "contribution_rate >= 0 AND contribution_rate < 1",
            name=op.f("ck_risk_reserve_contribution_rate_range"),
        ),
        sa.CheckConstraint("id = 1", name=op.f("ck_risk_reserve_single_row")),
        sa.CheckConstraint(
            "trigger_dpd >= 1 AND accelerate_dpd > trigger_dpd", name=op.f("ck_risk_reserve_triggers_ordered")
        ),
        sa.ForeignKeyConstraint(["holder_id"], ["users.id"], name=op.f("fk_risk_reserve_holder_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_reserve")),
        sa.UniqueConstraint("holder_id", name=op.f("uq_risk_reserve_holder_id")),
    )
    op.create_table(
        "risk_reserve_coverages",
        sa.Column("loan_id", BigId, nullable=False),
        sa.Column("coverage", sa.String(length=24), nullable=False),
        sa.Column("trigger_dpd", sa.Integer(), nullable=False),
        sa.Column("accelerate_dpd", sa.Integer(), nullable=False),
        sa.Column("contribution", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("covered_on", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'accelerated', 'closed')",
            name=op.f("ck_risk_reserve_coverages_status_known"),
        ),
        sa.CheckConstraint(
            "contribution >= 0", name=op.f("ck_risk_reserve_coverages_contribution_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_risk_reserve_coverages_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_risk_reserve_coverages")),
    )
    op.create_index(
        op.f("ix_risk_reserve_coverages_covered_on"), "risk_reserve_coverages", ["covered_on"], unique=False
    )
    op.add_column(
        "product_versions",
        sa.Column("repayment_order", sa.String(length=16), nullable=False, server_default="components"),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("repayment_order", sa.String(length=16), nullable=False, server_default="components")
        )
        batch_op.create_check_constraint(
            "repayment_order_known", "repayment_order IN ('components', 'installments')"
        )


def downgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint("ck_loans_repayment_order_known", type_="check")
        batch_op.drop_column("repayment_order")
    op.drop_column("product_versions", "repayment_order")
    op.drop_index(op.f("ix_risk_reserve_coverages_covered_on"), table_name="risk_reserve_coverages")
    op.drop_table("risk_reserve_coverages")
    op.drop_table("risk_reserve")

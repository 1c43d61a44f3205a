"""Auto-bid (自动投标): the signed authorisations, each investor's rule with its queue position,
the queue's counter (one row) and every decision a rule made for a listing.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "autobid_authorisations",
        sa.Column("id", BigId, nullable=False),
        sa.Column("investor_id", BigId, nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["investor_id"], ["users.id"], name=op.f("fk_autobid_authorisations_investor_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autobid_authorisations")),
        sa.UniqueConstraint(
            "investor_id", "version", name=op.f("uq_autobid_authorisations_investor_id_version")
        ),
    )
    with op.batch_alter_table("autobid_authorisations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_autobid_authorisations_investor_id"), ["investor_id"], unique=False
        )

    op.create_table(
        "autobid_rules",
        sa.Column("investor_id", BigId, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("min_rate", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("max_rate", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("min_term_months", sa.Integer(), nullable=False),
        sa.Column("max_term_months", sa.Integer(), nullable=False),
        sa.Column("grades", sa.Integer(), nullable=False),
        sa.Column("methods", sa.Integer(), nullable=False),
        sa.Column("product_kinds", sa.Integer(), nullable=False),
        sa.Column("amount_mode", sa.String(length=8), nullable=False),
        sa.Column("fixed_amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_share", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("reserve", sa.BigInteger(), nullable=False),
        sa.Column("total_cap", sa.BigInteger(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("queue_position", sa.BigInteger(), nullable=False),
        sa.Column("authorisation_id", BigId, nullable=True),
        sa.Column("off_reason", sa.String(length=32), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "min_rate >= 0 AND min_rate <= max_rate AND max_rate <= 1",
            name=op.f("ck_autobid_rules_rates_ordered"),
        ),
        sa.CheckConstraint(
            "min_term_months >= 1 AND min_term_months <= max_term_months",
            name=op.f("ck_autobid_rules_terms_ordered"),
        ),
        sa.CheckConstraint(
            "grades > 0 AND methods > 0 AND product_kinds > 0", name=op.f("ck_autobid_rules_sets_not_empty")
        ),
        sa.CheckConstraint(
            "(amount_mode = 'fixed' AND fixed_amount > 0) OR "
            "(amount_mode = 'share' AND balance_share > 0 AND balance_share <= 1)",
            name=op.f("ck_autobid_rules_amount_known"),
        ),
        sa.CheckConstraint("reserve >= 0", name=op.f("ck_autobid_rules_reserve_non_negative")),
        sa.CheckConstraint(
            "total_cap IS NULL OR total_cap > 0", name=op.f("ck_autobid_rules_total_cap_positive")
        ),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["autobid_authorisations.id"],
            name=op.f("fk_autobid_rules_authorisation_id_autobid_authorisations"),
        ),
        sa.ForeignKeyConstraint(
            ["investor_id"], ["users.id"], name=op.f("fk_autobid_rules_investor_id_users")
        ),
        sa.PrimaryKeyConstraint("investor_id", name=op.f("pk_autobid_rules")),
    )
    with op.batch_alter_table("autobid_rules", schema=None) as batch_op:
        batch_op.create_index("ix_autobid_rules_queue", ["enabled", "queue_position"], unique=False)

    op.create_table(
        "autobid_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autobid_queue")),
    )
    op.execute("INSERT INTO autobid_queue (id, last_position) VALUES (1, 0)")

    op.create_table(
        "autobid_decisions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("loan_id", BigId, nullable=False),
        sa.Column("investor_id", BigId, nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("bid_id", BigId, nullable=True),
        sa.Column("bid_loan_id", sa.BigInteger(), nullable=True),
        sa.Column("queue_position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('bid', 'skip', 'off')", name=op.f("ck_autobid_decisions_outcome_known")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_autobid_decisions_amount_non_negative")),
        sa.CheckConstraint(
            "(outcome = 'bid' AND bid_id IS NOT NULL AND bid_loan_id = loan_id) OR "
            "(outcome <> 'bid' AND bid_id IS NULL AND bid_loan_id IS NULL)",
            name=op.f("ck_autobid_decisions_bid_consistent"),
        ),
        sa.ForeignKeyConstraint(["bid_id"], ["bids.id"], name=op.f("fk_autobid_decisions_bid_id_bids")),
        sa.ForeignKeyConstraint(
            ["investor_id"], ["users.id"], name=op.f("fk_autobid_decisions_investor_id_users")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_autobid_decisions_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autobid_decisions")),
        sa.UniqueConstraint(
            "bid_loan_id", "investor_id", name=op.f("uq_autobid_decisions_bid_loan_id_investor_id")
        ),
    )
    with op.batch_alter_table("autobid_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_autobid_decisions_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index("ix_autobid_decisions_investor_id_id", ["investor_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("autobid_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_autobid_decisions_investor_id_id")
        batch_op.drop_index(batch_op.f("ix_autobid_decisions_loan_id"))
    op.drop_table("autobid_decisions")
    op.drop_table("autobid_queue")
    with op.batch_alter_table("autobid_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_autobid_rules_queue")
    op.drop_table("autobid_rules")
    with op.batch_alter_table("autobid_authorisations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_autobid_authorisations_investor_id"))
    op.drop_table("autobid_authorisations")

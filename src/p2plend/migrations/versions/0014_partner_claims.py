"""Partner-originated claims (机构债权, P2B / 债权转让模式).

- ``partner_claims``: a claim a partner institution made outside the platform, with the
  debtor's disclosure, its guarantor and repurchase commitment (回购承诺) if any, the review
  decision and, once approved, the loan it was booked as.
- ``partner_repurchases``: the institution's repurchase of the other holders' claims at the
  commitment's DPD, once per loan (what it owed, paid and lacked).

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import p2plend.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_RATE = sa.Numeric(precision=9, scale=6)


def upgrade() -> None:
    op.create_table(
        "partner_claims",
        sa.Column("id", _ID, nullable=False),
        sa.Column("institution_id", _ID, nullable=False),
        sa.Column("institution_type", sa.String(length=32), nullable=False),
        sa.Column("institution_risk_tier", sa.Integer(), nullable=False),
        sa.Column("debtor_kind", sa.String(length=16), nullable=False),
        sa.Column("disclosure", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", _RATE, nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("original_value_date", sa.Date(), nullable=False),
        sa.Column("guarantor_id", _ID, nullable=True),
        sa.Column("repurchase_dpd", sa.Integer(), nullable=True),
        sa.Column("discount_rate", sa.Numeric(precision=6, scale=4), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=True),
        sa.Column("decided_by", _ID, nullable=True),
        sa.Column("decided_at", p2plend.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), server_default="", nullable=False),
        sa.Column("loan_id", _ID, nullable=True),
        sa.Column("listing_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", p2plend.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected')", name=op.f("ck_partner_claims_status_known")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_partner_claims_amount_positive")),
        sa.CheckConstraint("term_months >= 1", name=op.f("ck_partner_claims_term_positive")),
        sa.CheckConstraint(
            "institution_risk_tier BETWEEN 1 AND 5", name=op.f("ck_partner_claims_risk_tier_range")
        ),
        sa.CheckConstraint(
            "repurchase_dpd IS NULL OR repurchase_dpd >= 1",
            name=op.f("ck_partner_claims_repurchase_dpd_positive"),
        ),
        sa.CheckConstraint(
            "discount_rate >= 0 AND discount_rate < 1", name=op.f("ck_partner_claims_discount_range")
        ),
        sa.CheckConstraint(
            "debtor_kind IN ('person', 'organisation')", name=op.f("ck_partner_claims_debtor_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["users.id"], name=op.f("fk_partner_claims_institution_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["guarantor_id"], ["users.id"], name=op.f("fk_partner_claims_guarantor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_partner_claims_decided_by_users")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_partner_claims_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_claims")),
        sa.UniqueConstraint("loan_id", name=op.f("uq_partner_claims_loan_id")),
    )
    op.create_index(op.f("ix_partner_claims_institution_id"), "partner_claims", ["institution_id"])
    op.create_index("ix_partner_claims_status", "partner_claims", ["status"])
    op.create_table(
        "partner_repurchases",
        sa.Column("id", _ID, nullable=False),
        sa.Column("loan_id", _ID, nullable=False),
        sa.Column("claim_id", _ID, nullable=False),
        sa.Column("institution_id", _ID, nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("due", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_at", p2plend.db.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "paid + shortfall = due AND paid >= 0 AND shortfall >= 0",
            name=op.f("ck_partner_repurchases_paid_plus_shortfall"),
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_partner_repurchases_loan_id_loans")),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["partner_claims.id"], name=op.f("fk_partner_repurchases_claim_id_partner_claims")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["users.id"], name=op.f("fk_partner_repurchases_institution_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_repurchases")),
        sa.UniqueConstraint("loan_id", name=op.f("uq_partner_repurchases_loan_id")),
    )
    op.create_index(op.f("ix_partner_repurchases_institution_id"), "partner_repurchases", ["institution_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_partner_repurchases_institution_id"), table_name="partner_repurchases")
    op.drop_table("partner_repurchases")
    op.drop_index("ix_partner_claims_status", table_name="partner_claims")
    op.drop_index(op.f("ix_partner_claims_institution_id"), table_name="partner_claims")
    op.drop_table("partner_claims")

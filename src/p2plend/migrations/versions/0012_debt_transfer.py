"""Debt transfer (债权转让): transfer listings (all or part of one holding offered at a
discount, at most one open per holding, never sold beyond what was offered) and each part
sold (DOMAIN.md §9, R38–R42).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "transfer_listings",
        sa.Column("id", _ID, nullable=False),
        sa.Column("loan_id", _ID, nullable=False),
        sa.Column("holding_id", _ID, nullable=False),
        sa.Column("seller_id", _ID, nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("sold", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("discount_rate", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("fee_rate", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("installment_number", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("period_interest", sa.BigInteger(), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("accrued_interest", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="open"),
        sa.Column("close_reason", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("principal > 0", name=op.f("ck_transfer_listings_principal_positive")),
        sa.CheckConstraint(
            "sold >= 0 AND sold <= principal", name=op.f("ck_transfer_listings_sold_within_principal")
        ),
        sa.CheckConstraint(
            "discount_rate >= 0 AND discount_rate < 1", name=op.f("ck_transfer_listings_discount_range")
        ),
        sa.CheckConstraint(
            "fee_rate >= 0 AND fee_rate < 1", name=op.f("ck_transfer_listings_fee_rate_range")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'sold', 'cancelled', 'expired')",
            name=op.f("ck_transfer_listings_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["holding_id"], ["holdings.id"], name=op.f("fk_transfer_listings_holding_id_holdings")
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_transfer_listings_loan_id_loans")),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["users.id"], name=op.f("fk_transfer_listings_seller_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_listings")),
    )
    with op.batch_alter_table("transfer_listings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_listings_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfer_listings_seller_id"), ["seller_id"], unique=False)
        batch_op.create_index("ix_transfer_listings_status_expires", ["status", "expires_at"], unique=False)
        # One open listing per holding at a time.
        batch_op.create_index(
            "uq_transfer_listings_open_holding",
            ["holding_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "transfer_sales",
        sa.Column("id", _ID, nullable=False),
        sa.Column("listing_id", _ID, nullable=False),
        sa.Column("loan_id", _ID, nullable=False),
        sa.Column("seller_id", _ID, nullable=False),
        sa.Column("buyer_id", _ID, nullable=False),
        sa.Column("seller_holding_id", _ID, nullable=False),
        sa.Column("buyer_holding_id", _ID, nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("accrued_interest", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("instruction_no", sa.String(length=40), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("principal > 0", name=op.f("ck_transfer_sales_principal_positive")),
        sa.CheckConstraint("fee >= 0 AND fee <= price", name=op.f("ck_transfer_sales_fee_within_price")),
        sa.CheckConstraint("accrued_interest >= 0", name=op.f("ck_transfer_sales_accrued_non_negative")),
        sa.ForeignKeyConstraint(
            ["buyer_holding_id"], ["holdings.id"], name=op.f("fk_transfer_sales_buyer_holding_id_holdings")
        ),
        sa.ForeignKeyConstraint(["buyer_id"], ["users.id"], name=op.f("fk_transfer_sales_buyer_id_users")),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["transfer_listings.id"],
            name=op.f("fk_transfer_sales_listing_id_transfer_listings"),
        ),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_transfer_sales_loan_id_loans")),
        sa.ForeignKeyConstraint(
            ["seller_holding_id"], ["holdings.id"], name=op.f("fk_transfer_sales_seller_holding_id_holdings")
        ),
        sa.ForeignKeyConstraint(["seller_id"], ["users.id"], name=op.f("fk_transfer_sales_seller_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_sales")),
        sa.UniqueConstraint("buyer_holding_id", name=op.f("uq_transfer_sales_buyer_holding_id")),
    )
    with op.batch_alter_table("transfer_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfer_sales_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfer_sales_listing_id"), ["listing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfer_sales_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_transfer_sales_seller_holding_id"), ["seller_holding_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_transfer_sales_seller_id"), ["seller_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("transfer_sales", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfer_sales_seller_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_sales_seller_holding_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_sales_loan_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_sales_listing_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_sales_buyer_id"))
    op.drop_table("transfer_sales")
    with op.batch_alter_table("transfer_listings", schema=None) as batch_op:
        batch_op.drop_index("uq_transfer_listings_open_holding")
        batch_op.drop_index("ix_transfer_listings_status_expires")
        batch_op.drop_index(batch_op.f("ix_transfer_listings_seller_id"))
        batch_op.drop_index(batch_op.f("ix_transfer_listings_loan_id"))
    op.drop_table("transfer_listings")

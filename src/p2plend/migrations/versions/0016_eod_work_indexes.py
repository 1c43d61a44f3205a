"""Indexes by which the end-of-day batch finds the loans with work on a date.

Each step of the batch used to visit every loan in service; now it chooses the loans with its
work that day (installments due or overdue, overdue loans, the day's repayments), so that its
cost follows the day's work and not the size of the book. These indexes make those choices,
and the holders' repayment notices, cheap: unpaid installments by due date (partial), paid
installments by payment date, overdue loans (partial), repayments by business date, and a
loan's distributions by date.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    unpaid = sa.text("status = 'due'")
    op.create_index(
        "ix_loan_installments_unpaid_due",
        "loan_installments",
        ["due_date"],
        postgresql_where=unpaid,
        sqlite_where=unpaid,
    )
    op.create_index("ix_loan_installments_paid_on", "loan_installments", ["paid_on"])
    overdue = sa.text("days_past_due > 0")
    op.create_index("ix_loans_overdue", "loans", ["id"], postgresql_where=overdue, sqlite_where=overdue)
    op.create_index("ix_repayments_business_date", "repayments", ["business_date"])
    op.create_index(
        "ix_repayment_distributions_loan_date", "repayment_distributions", ["loan_id", "business_date"]
    )


def downgrade() -> None:
    op.drop_index("ix_repayment_distributions_loan_date", "repayment_distributions")
    op.drop_index("ix_repayments_business_date", "repayments")
    op.drop_index("ix_loans_overdue", "loans")
    op.drop_index("ix_loan_installments_paid_on", "loan_installments")
    op.drop_index("ix_loan_installments_unpaid_due", "loan_installments")

"""Indexes for receipt matching (issue 11, bench/receipts.py): an account's latest transactions
(`transactions(account_id, created_at)`: read newest first for every receipt, a sort of the
whole history without it) and the order a charge paid (`shop_orders.transaction_id`: looked up
for every candidate charge, a scan of every stored order without it)

Revision ID: 0022_match_indexes
Revises: 0021_insight_tags
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022_match_indexes"
down_revision: str | None = "0021_insight_tags"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_transactions_account_created", "transactions", ["account_id", "created_at"])
    op.create_index(op.f("ix_shop_orders_transaction_id"), "shop_orders", ["transaction_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_shop_orders_transaction_id"), table_name="shop_orders")
    op.drop_index("ix_transactions_account_created", table_name="transactions")

"""Receipts (issue 11): an order's further charges, one per parcel of a split shipment

Revision ID: 0018_shop_order_charges
Revises: 0017_receipt_addresses
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_shop_order_charges"
down_revision: str | None = "0017_receipt_addresses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shop_order_charges",
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_shop_order_charges_person_id_persons")),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_shop_order_charges")),
    )
    op.create_index(op.f("ix_shop_order_charges_order_id"), "shop_order_charges", ["order_id"])
    op.create_index(op.f("ix_shop_order_charges_person_id"), "shop_order_charges", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_shop_order_charges_person_id"), table_name="shop_order_charges")
    op.drop_index(op.f("ix_shop_order_charges_order_id"), table_name="shop_order_charges")
    op.drop_table("shop_order_charges")

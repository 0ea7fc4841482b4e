"""Receipts and shipping from merchants (issue 11)

Revision ID: 0014_receipts
Revises: 0013_person_zone
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0014_receipts"
down_revision: str | None = "0013_person_zone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def _person(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f(f"fk_{table}_person_id_persons"))


def upgrade() -> None:
    op.create_table(
        "merchant_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_slug", sa.String(length=60), nullable=False),
        sa.Column("customer_ref", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        _person("merchant_links"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_links")),
        sa.UniqueConstraint("merchant_slug", "customer_ref",
                            name="uq_merchant_links_merchant_slug"),
    )
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_slug", sa.String(length=60), nullable=False),
        sa.Column("order_ref", sa.String(length=200), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=True),
        sa.Column("match_state", sa.String(length=20), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        _person("shop_orders"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_orders")),
        sa.UniqueConstraint("merchant_slug", "order_ref", name="uq_shop_orders_merchant_slug"),
    )
    op.create_table(
        "merchant_events",
        sa.Column("merchant_slug", sa.String(length=60), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", _UTC(timezone=True), nullable=False),
        _person("merchant_events"),
        sa.PrimaryKeyConstraint("merchant_slug", "id", name=op.f("pk_merchant_events")),
    )
    for table in ("merchant_links", "shop_orders", "merchant_events"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    for table in ("merchant_events", "shop_orders", "merchant_links"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_person_id"))
        op.drop_table(table)

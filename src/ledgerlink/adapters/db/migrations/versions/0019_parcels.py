"""Parcels (issue 11): a tracking number pasted into a thread, followed on a shipping card

Revision ID: 0019_parcels
Revises: 0018_shop_order_charges
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0019_parcels"
down_revision: str | None = "0018_shop_order_charges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "parcels",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("thread_id", sa.String(length=40), nullable=False),
        sa.Column("carrier", sa.String(length=12), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("notified", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_parcels_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parcels")),
    )
    op.create_index(op.f("ix_parcels_person_id"), "parcels", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_parcels_person_id"), table_name="parcels")
    op.drop_table("parcels")

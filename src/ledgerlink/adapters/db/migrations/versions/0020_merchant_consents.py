"""Linking a shop with OAuth + PKCE (issue 11, ADR 0031): merchant consents and the newest
order version applied from a shop

Revision ID: 0020_merchant_consents
Revises: 0019_parcels
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0020_merchant_consents"
down_revision: str | None = "0019_parcels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "merchant_consents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_slug", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=True),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("link_id", sa.String(length=40), nullable=True),
        sa.Column("renews", sa.String(length=40), nullable=True),
        sa.Column("expires_at", _UTC(timezone=True), nullable=True),
        sa.Column("cursor", sa.String(length=400), nullable=True),
        sa.Column("synced_at", _UTC(timezone=True), nullable=True),
        sa.Column("receipt_jws", sa.Text(), nullable=True),
        sa.Column("ended_by", sa.String(length=20), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_merchant_consents_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_consents")),
        sa.UniqueConstraint("state", name=op.f("uq_merchant_consents_state")),
    )
    op.create_index(op.f("ix_merchant_consents_person_id"), "merchant_consents", ["person_id"])
    op.create_index(op.f("ix_merchant_consents_link_id"), "merchant_consents", ["link_id"])
    op.create_table(
        "merchant_order_versions",
        sa.Column("merchant_slug", sa.String(length=60), nullable=False),
        sa.Column("order_ref", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_merchant_order_versions_person_id_persons")),
        sa.PrimaryKeyConstraint("merchant_slug", "order_ref", name=op.f("pk_merchant_order_versions")),
    )
    op.create_index(op.f("ix_merchant_order_versions_person_id"), "merchant_order_versions", ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_merchant_order_versions_person_id"), table_name="merchant_order_versions")
    op.drop_table("merchant_order_versions")
    op.drop_index(op.f("ix_merchant_consents_link_id"), table_name="merchant_consents")
    op.drop_index(op.f("ix_merchant_consents_person_id"), table_name="merchant_consents")
    op.drop_table("merchant_consents")

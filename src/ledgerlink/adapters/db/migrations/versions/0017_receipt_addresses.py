"""Receipts by email (issue 11): each person's private forwarding address

Revision ID: 0017_receipt_addresses
Revises: 0016_bank_refunds_and_aliases
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0017_receipt_addresses"
down_revision: str | None = "0016_bank_refunds_and_aliases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "receipt_addresses",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_receipt_addresses_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_addresses")),
        sa.UniqueConstraint("person_id", name=op.f("uq_receipt_addresses_person_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_receipt_addresses_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("receipt_addresses")

"""Receipts (issue 11): bank refunds linked to their purchase, and the person's merchant aliases

Revision ID: 0016_bank_refunds_and_aliases
Revises: 0015_outbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0016_bank_refunds_and_aliases"
down_revision: str | None = "0015_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def _person(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f(f"fk_{table}_person_id_persons"))


def upgrade() -> None:
    op.create_table(
        "bank_refunds",
        sa.Column("refund_transaction_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("original_transaction_id", sa.String(length=40), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        _person("bank_refunds"),
        sa.PrimaryKeyConstraint("refund_transaction_id", name=op.f("pk_bank_refunds")),
    )
    op.create_table(
        "merchant_aliases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_slug", sa.String(length=60), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        _person("merchant_aliases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_aliases")),
    )
    for table in ("bank_refunds", "merchant_aliases"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(batch_op.f(f"ix_{table}_person_id"), ["person_id"], unique=False)
    with op.batch_alter_table("bank_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_refunds_original_transaction_id"),
                              ["original_transaction_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_refunds_original_transaction_id"))
    for table in ("merchant_aliases", "bank_refunds"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_person_id"))
        op.drop_table(table)

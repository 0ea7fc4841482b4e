"""The insight consumer's blind index (issue 12, ADR 0033): a sealed tag key per person and a
keyed tag per transaction, so one merchant's rows are read instead of the whole history

Revision ID: 0021_insight_tags
Revises: 0020_merchant_consents
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0021_insight_tags"
down_revision: str | None = "0020_merchant_consents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    # Existing rows get no tag here (the key is sealed per person): the consumer tags a row the
    # first time it evaluates a charge on its account.
    op.create_table(
        "insight_keys",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_insight_keys_person_id_persons")),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_insight_keys")),
    )
    op.create_table(
        "insight_tags",
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("tagged_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"], ondelete="CASCADE",
                                name=op.f("fk_insight_tags_transaction_id_transactions")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_insight_tags_person_id_persons")),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_insight_tags")),
    )
    op.create_index(op.f("ix_insight_tags_person_id"), "insight_tags", ["person_id"])
    op.create_index("ix_insight_tags_account_tag", "insight_tags", ["account_id", "tag"])


def downgrade() -> None:
    op.drop_index("ix_insight_tags_account_tag", table_name="insight_tags")
    op.drop_index(op.f("ix_insight_tags_person_id"), table_name="insight_tags")
    op.drop_table("insight_tags")
    op.drop_table("insight_keys")

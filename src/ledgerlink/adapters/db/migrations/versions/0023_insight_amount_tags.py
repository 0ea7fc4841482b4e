"""The insight consumer's amount tag (issue 12, ADR 0033): a keyed tag of each row's amount in
its series, so the duplicate-charge and same-day rules find the rows of an equal (or a zero)
amount without opening the others; and how far each account's rows are tagged
(`insight_scans`, with an index of rows by their last change), so the consumer's scan for
untagged rows reads only the rows changed since

Revision ID: 0023_insight_amount_tags
Revises: 0022_match_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0023_insight_amount_tags"
down_revision: str | None = "0022_match_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    # Existing tags get no amount tag here (the key is sealed per person): the consumer tags
    # those rows again the first time it evaluates a charge on their account.
    with op.batch_alter_table("insight_tags") as batch:
        batch.add_column(sa.Column("amount_tag", sa.String(length=64), nullable=True))
    op.create_table(
        "insight_scans",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("through", _UTC(timezone=True), nullable=False),
        sa.Column("full_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_insight_scans_person_id_persons")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_insight_scans")),
    )
    op.create_index(op.f("ix_insight_scans_person_id"), "insight_scans", ["person_id"])
    op.create_index("ix_transactions_account_updated", "transactions", ["account_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_transactions_account_updated", table_name="transactions")
    op.drop_index(op.f("ix_insight_scans_person_id"), table_name="insight_scans")
    op.drop_table("insight_scans")
    with op.batch_alter_table("insight_tags") as batch:
        batch.drop_column("amount_tag")

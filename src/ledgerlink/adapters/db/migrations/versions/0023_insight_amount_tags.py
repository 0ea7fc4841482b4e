"""The insight consumer's amount tag (issue 12, ADR 0033): a keyed tag of each row's amount in
its series, so the duplicate-charge and same-day rules find the rows of an equal (or a zero)
amount without opening the others

Revision ID: 0023_insight_amount_tags
Revises: 0022_match_indexes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_insight_amount_tags"
down_revision: str | None = "0022_match_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing tags get no amount tag here (the key is sealed per person): the consumer tags
    # those rows again the first time it evaluates a charge on their account.
    with op.batch_alter_table("insight_tags") as batch:
        batch.add_column(sa.Column("amount_tag", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("insight_tags") as batch:
        batch.drop_column("amount_tag")

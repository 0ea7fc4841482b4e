"""The person's IANA time zone for quiet hours and digests (issue 13, ADR 0025)

Revision ID: 0013_person_zone
Revises: 0012_category_corrections

Additive: a nullable `persons.zone`. Offsets stored before it sit inside sealed (encrypted)
settings that a migration cannot read; code reads a missing zone as the fixed offset they
hold ("Etc/GMT-1" is UTC+1 all year) until the person chooses a zone (ADR 0025).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_person_zone"
down_revision: str | None = "0012_category_corrections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("zone")

"""link health: failing syncs and "needs your attention" episodes (message templates)

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "link_health",
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("failing_since", _UTC(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("attention_at", _UTC(timezone=True), nullable=True),
        sa.Column("episodes", sa.Integer(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["links.id"], name=op.f("fk_link_health_link_id_links")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_link_health_person_id_persons")),
        sa.PrimaryKeyConstraint("link_id", name=op.f("pk_link_health")),
    )
    with op.batch_alter_table("link_health", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_health_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_health", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_health_person_id"))
    op.drop_table("link_health")

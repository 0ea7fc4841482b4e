"""Insights: category corrections and monthly budgets (issue 13)

Revision ID: 0012_category_corrections
Revises: 0011_refresh_log
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0012_category_corrections"
down_revision: str | None = "0011_refresh_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "category_corrections",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_category_corrections_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_corrections")),
    )
    with op.batch_alter_table("category_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_category_corrections_person_id"), ["person_id"], unique=False)
    op.create_table(
        "budgets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("warned_month", sa.String(length=7), nullable=True),
        sa.Column("warned_level", sa.Integer(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_budgets_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
    )
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_budgets_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budgets_person_id"))
    op.drop_table("budgets")
    with op.batch_alter_table("category_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_category_corrections_person_id"))
    op.drop_table("category_corrections")

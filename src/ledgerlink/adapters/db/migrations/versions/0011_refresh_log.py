"""The refresh planner's attempt log: requests to bank-data providers (issue 10)

Revision ID: 0011_refresh_log
Revises: 0010_platform_channels
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0011_refresh_log"
down_revision: str | None = "0010_platform_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "refresh_attempts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("target_id", sa.String(length=40), nullable=False),
        sa.Column("at", _UTC(timezone=True), nullable=False),
        sa.Column("attended", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("retry_at", _UTC(timezone=True), nullable=True),
        sa.Column("quotas", sa.Text(), nullable=True),
        sa.Column("scopes", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_attempts")),
    )
    op.create_index("ix_refresh_attempts_target_at", "refresh_attempts", ["target_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_refresh_attempts_target_at", table_name="refresh_attempts")
    op.drop_table("refresh_attempts")

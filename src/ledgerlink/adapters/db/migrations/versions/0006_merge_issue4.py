"""merge the issue-4 branches (bank dialogue, Matrix, read state and digests, templates)

Revision ID: 0006
Revises: 0002, 0003, 0004, 0005
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass  # the branches touch different tables; nothing to reconcile


def downgrade() -> None:
    pass

"""read state, digest settings, digests sent, held alerts

Revision ID: 0004
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "thread_reads",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("thread_id", sa.String(length=40), nullable=False),
        sa.Column("last_read_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_thread_reads_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_thread_reads_thread_id_threads")
        ),
        sa.PrimaryKeyConstraint("person_id", "thread_id", name=op.f("pk_thread_reads")),
    )
    op.create_table(
        "digest_settings",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("next_due_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_digest_settings_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_digest_settings")),
    )
    with op.batch_alter_table("digest_settings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_digest_settings_next_due_at"), ["next_due_at"], unique=False)

    op.create_table(
        "digests_sent",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("period_key", sa.String(length=40), nullable=False),
        sa.Column("sent_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_digests_sent_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests_sent")),
        sa.UniqueConstraint("person_id", "period_key", name="uq_digests_sent_person_period"),
    )
    op.create_table(
        "held_alerts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("thread_id", sa.String(length=40), nullable=False),
        sa.Column("subject_key", sa.String(length=96), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("held_at", _UTC(timezone=True), nullable=False),
        sa.Column("release_after", _UTC(timezone=True), nullable=False),
        sa.Column("released_at", _UTC(timezone=True), nullable=True),
        sa.Column("released_in", sa.String(length=48), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_held_alerts_person_id_persons")),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], name=op.f("fk_held_alerts_thread_id_threads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_alerts")),
        sa.UniqueConstraint("thread_id", "subject_key", name="uq_held_alerts_thread_subject"),
    )
    with op.batch_alter_table("held_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_held_alerts_pending", ["released_at", "release_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_held_alerts_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("held_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_held_alerts_person_id"))
        batch_op.drop_index("ix_held_alerts_pending")
    op.drop_table("held_alerts")
    op.drop_table("digests_sent")
    with op.batch_alter_table("digest_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_digest_settings_next_due_at"))
    op.drop_table("digest_settings")
    op.drop_table("thread_reads")

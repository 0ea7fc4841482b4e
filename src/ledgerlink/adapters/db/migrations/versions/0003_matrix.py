"""Matrix channel: rooms per thread, first events per message, inbound dedupe, sync token

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "matrix_rooms",
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("thread_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["person_channels.id"], ondelete="CASCADE",
            name=op.f("fk_matrix_rooms_channel_id_person_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_matrix_rooms_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["threads.id"], name=op.f("fk_matrix_rooms_thread_id_threads")
        ),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_matrix_rooms")),
        sa.UniqueConstraint("channel_id", "thread_id", name="uq_matrix_rooms_channel_thread"),
    )
    op.create_index(op.f("ix_matrix_rooms_person_id"), "matrix_rooms", ["person_id"], unique=False)

    op.create_table(
        "matrix_events",
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["person_channels.id"], ondelete="CASCADE",
            name=op.f("fk_matrix_events_channel_id_person_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_matrix_events_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_matrix_events")),
    )
    op.create_index(op.f("ix_matrix_events_person_id"), "matrix_events", ["person_id"], unique=False)
    op.create_index("ix_matrix_events_room_event", "matrix_events", ["room_id", "event_id"], unique=False)

    op.create_table(
        "matrix_inbound",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=255), nullable=False),
        sa.Column("handled_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_matrix_inbound_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_matrix_inbound")),
    )
    op.create_index(op.f("ix_matrix_inbound_person_id"), "matrix_inbound", ["person_id"], unique=False)

    op.create_table(
        "matrix_sync",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("next_batch", sa.Text(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_matrix_sync")),
    )


def downgrade() -> None:
    op.drop_table("matrix_sync")
    op.drop_index(op.f("ix_matrix_inbound_person_id"), table_name="matrix_inbound")
    op.drop_table("matrix_inbound")
    op.drop_index("ix_matrix_events_room_event", table_name="matrix_events")
    op.drop_index(op.f("ix_matrix_events_person_id"), table_name="matrix_events")
    op.drop_table("matrix_events")
    op.drop_index(op.f("ix_matrix_rooms_person_id"), table_name="matrix_rooms")
    op.drop_table("matrix_rooms")

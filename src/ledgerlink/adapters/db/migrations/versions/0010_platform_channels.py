"""Messenger and WhatsApp channels: bindings, messages shown, sends, link codes, seen events (issue 15)

Revision ID: 0010_platform_channels
Revises: 0009_statement_imports
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0010_platform_channels"
down_revision: str | None = "0009_statement_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def _channel_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["channel_id"], ["person_channels.id"], ondelete="CASCADE",
                                   name=op.f(f"fk_{table}_channel_id_person_channels"))


def _person_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f(f"fk_{table}_person_id_persons"))


def upgrade() -> None:
    op.create_table(
        "platform_bindings",
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("last_inbound_at", _UTC(timezone=True), nullable=True),
        sa.Column("current_thread_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        _channel_fk("platform_bindings"),
        _person_fk("platform_bindings"),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_platform_bindings")),
        sa.UniqueConstraint("platform", "address_key", name="uq_platform_bindings_address"),
    )
    op.create_index(op.f("ix_platform_bindings_person_id"), "platform_bindings", ["person_id"], unique=False)

    op.create_table(
        "platform_messages",
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("first_mid", sa.String(length=255), nullable=False),
        sa.Column("state_key", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("level", sa.String(length=32), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        _channel_fk("platform_messages"),
        _person_fk("platform_messages"),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_platform_messages")),
    )
    op.create_index(op.f("ix_platform_messages_person_id"), "platform_messages", ["person_id"], unique=False)

    op.create_table(
        "platform_sends",
        sa.Column("mid", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        _channel_fk("platform_sends"),
        _person_fk("platform_sends"),
        sa.PrimaryKeyConstraint("mid", name=op.f("pk_platform_sends")),
    )
    for column in ("channel_id", "person_id", "delivery_id"):
        op.create_index(op.f(f"ix_platform_sends_{column}"), "platform_sends", [column], unique=False)

    op.create_table(
        "platform_codes",
        sa.Column("code_key", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=True),
        sa.Column("expires_at", _UTC(timezone=True), nullable=False),
        sa.Column("used_at", _UTC(timezone=True), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        _person_fk("platform_codes"),
        sa.PrimaryKeyConstraint("code_key", name=op.f("pk_platform_codes")),
    )
    op.create_index(op.f("ix_platform_codes_person_id"), "platform_codes", ["person_id"], unique=False)

    op.create_table(
        "platform_events_seen",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=255), nullable=False),
        sa.Column("seen_at", _UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_key", name=op.f("pk_platform_events_seen")),
    )
    op.create_index(
        op.f("ix_platform_events_seen_seen_at"), "platform_events_seen", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_platform_events_seen_seen_at"), table_name="platform_events_seen")
    op.drop_table("platform_events_seen")
    op.drop_index(op.f("ix_platform_codes_person_id"), table_name="platform_codes")
    op.drop_table("platform_codes")
    for column in ("channel_id", "person_id", "delivery_id"):
        op.drop_index(op.f(f"ix_platform_sends_{column}"), table_name="platform_sends")
    op.drop_table("platform_sends")
    op.drop_index(op.f("ix_platform_messages_person_id"), table_name="platform_messages")
    op.drop_table("platform_messages")
    op.drop_index(op.f("ix_platform_bindings_person_id"), table_name="platform_bindings")
    op.drop_table("platform_bindings")

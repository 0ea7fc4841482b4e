"""bank dialogue: fraud prompts, bank outbox, bank messages, partner keys

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    with op.batch_alter_table("partners") as batch:
        batch.add_column(sa.Column("issuer", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
    op.create_table(
        "prompts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("thread_id", sa.String(length=40), nullable=False),
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("bank_ref", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("reminder_message_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reply_ids", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.String(length=32), nullable=True),
        sa.Column("answered_via", sa.String(length=16), nullable=True),
        sa.Column("answered_at", _UTC(timezone=True), nullable=True),
        sa.Column("remind_at", _UTC(timezone=True), nullable=True),
        sa.Column("reminded_at", _UTC(timezone=True), nullable=True),
        sa.Column("expires_at", _UTC(timezone=True), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner_id", "bank_ref", name="uq_prompts_partner_ref"),
    )
    op.create_index(op.f("ix_prompts_person_id"), "prompts", ["person_id"], unique=False)
    op.create_index("ix_prompts_message", "prompts", ["message_id"], unique=False)
    op.create_index("ix_prompts_status_expires", "prompts", ["status", "expires_at"], unique=False)
    op.create_table(
        "bank_outbox",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("link_id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _UTC(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "ref", name="uq_bank_outbox_kind_ref"),
    )
    op.create_index(op.f("ix_bank_outbox_person_id"), "bank_outbox", ["person_id"], unique=False)
    op.create_index("ix_bank_outbox_due", "bank_outbox", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "bank_messages",
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("bank_message_id", sa.String(length=128), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("received_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"]),
        sa.PrimaryKeyConstraint("partner_id", "bank_message_id"),
    )
    op.create_index(op.f("ix_bank_messages_person_id"), "bank_messages", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bank_messages_person_id"), table_name="bank_messages")
    op.drop_table("bank_messages")
    op.drop_index("ix_bank_outbox_due", table_name="bank_outbox")
    op.drop_index(op.f("ix_bank_outbox_person_id"), table_name="bank_outbox")
    op.drop_table("bank_outbox")
    op.drop_index("ix_prompts_status_expires", table_name="prompts")
    op.drop_index("ix_prompts_message", table_name="prompts")
    op.drop_index(op.f("ix_prompts_person_id"), table_name="prompts")
    op.drop_table("prompts")
    with op.batch_alter_table("partners") as batch:
        batch.drop_column("jwks")
        batch.drop_column("issuer")

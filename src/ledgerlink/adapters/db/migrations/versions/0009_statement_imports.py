"""statement imports: token keys, imported entries, imports, CSV mappings (issue 10, ADR 0022)

Revision ID: 0009_statement_imports
Revises: 0008_second_factor
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledgerlink.adapters.db.schema

revision: str = "0009_statement_imports"
down_revision: str | None = "0008_second_factor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = ledgerlink.adapters.db.schema.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "import_keys",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_import_keys_person_id_persons")),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_import_keys")),
    )
    op.create_table(
        "statement_imports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("file_token", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("merged", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("thread_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_statement_imports_person_id_persons")),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE",
                                name=op.f("fk_statement_imports_thread_id_threads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_imports")),
        sa.UniqueConstraint("person_id", "file_token", name="uq_statement_imports_person_file"),
    )
    with op.batch_alter_table("statement_imports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statement_imports_person_id"), ["person_id"], unique=False)
    op.create_table(
        "statement_entries",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("import_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_statement_entries_account_id_accounts")),
        sa.ForeignKeyConstraint(["transaction_id"], ["transactions.id"], ondelete="CASCADE",
                                name=op.f("fk_statement_entries_transaction_id_transactions")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_statement_entries_person_id_persons")),
        sa.PrimaryKeyConstraint("account_id", "entry_key", name=op.f("pk_statement_entries")),
    )
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_statement_entries_transaction_id"), ["transaction_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_statement_entries_person_id"), ["person_id"], unique=False)
    op.create_table(
        "csv_mappings",
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_csv_mappings_account_id_accounts")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"],
                                name=op.f("fk_csv_mappings_person_id_persons")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_csv_mappings")),
    )
    with op.batch_alter_table("csv_mappings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_csv_mappings_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("csv_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_csv_mappings_person_id"))
    op.drop_table("csv_mappings")
    with op.batch_alter_table("statement_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_entries_person_id"))
        batch_op.drop_index(batch_op.f("ix_statement_entries_transaction_id"))
    op.drop_table("statement_entries")
    with op.batch_alter_table("statement_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_imports_person_id"))
    op.drop_table("statement_imports")
    op.drop_table("import_keys")

"""Erasure reaches every table that holds a person's rows.

A table with a `person_id` column (or a foreign key to `persons`) that the erasure list does not
name keeps that person's rows after "erase me": two receipt tables did, until this test.
"""

from __future__ import annotations

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.messaging import SqlPersons

# Kept on purpose: the audit log is tamper-evident (hash chain, signed tree heads), so its rows
# stay; they name the person by id only, and the person's row itself becomes a tombstone.
KEPT = {"audit_log"}


def test_every_table_with_a_persons_rows_is_erased() -> None:
    holding = {
        name for name, table in schema.metadata.tables.items()
        if name != "persons" and ("person_id" in table.c
                                  or any(fk.column.table.name == "persons" for fk in table.foreign_keys))
    }
    assert holding - KEPT - set(SqlPersons._PERSON_TABLES) == set()


def test_the_erasure_list_names_only_real_tables() -> None:
    assert set(SqlPersons._PERSON_TABLES) - set(schema.metadata.tables) == set()

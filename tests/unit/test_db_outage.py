"""Telling the database out of reach (503, send again) from a defect (500): adapters/db/outage.py."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa

from ledgerlink.adapters.db.outage import store_unavailable


def _wrapped(orig: BaseException) -> sa.OperationalError:
    return sa.OperationalError("SELECT 1", {}, orig)


def test_postgresql_out_of_reach_is_an_outage_however_it_is_wrapped() -> None:
    refused = psycopg.OperationalError("connection refused")
    assert store_unavailable(refused)
    assert store_unavailable(_wrapped(refused))
    assert store_unavailable(sa.TimeoutError("QueuePool limit reached"))
    outer = RuntimeError("the batch failed")
    outer.__cause__ = refused  # `raise ... from` a driver error
    assert store_unavailable(outer)


def test_sqlite_counts_only_its_lock_and_defects_stay_defects() -> None:
    assert store_unavailable(_wrapped(sqlite3.OperationalError("database is locked")))
    assert not store_unavailable(_wrapped(sqlite3.OperationalError("no such table: people")))
    assert not store_unavailable(ValueError("bad"))
    assert not store_unavailable(sa.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")))

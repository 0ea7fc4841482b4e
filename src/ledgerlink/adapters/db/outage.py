"""Is this failure the database being out of reach, so that the request may simply be sent
again later (503 with Retry-After), rather than a defect (500)?

PostgreSQL stopped, restarting, or failing over; the network to it gone; the pool empty for
too long; SQLite's write lock held past its wait. Nothing of the request was stored in any of
these cases: its unit of work or ingest batch rolled back whole (issue 12)."""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa

__all__ = ["RETRY_AFTER", "store_unavailable"]

RETRY_AFTER = 5  # seconds a client is asked to wait before sending again

_OUT_OF_REACH = (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError,
                 psycopg.OperationalError, psycopg.InterfaceError)
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")


def store_unavailable(exc: BaseException) -> bool:
    """True when `exc`, or an error it was raised from, says the database cannot be reached
    now. A SQLite OperationalError counts only when it is the lock ("no such table" is a
    defect, not an outage); a PostgreSQL one always does (connection refused or lost, admin
    shutdown, the server starting or in recovery)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.OperationalError):
            return any(text in str(current) for text in _SQLITE_BUSY)
        if isinstance(current, sa.DBAPIError) and isinstance(current.orig, sqlite3.OperationalError):
            return any(text in str(current.orig) for text in _SQLITE_BUSY)
        if isinstance(current, _OUT_OF_REACH):
            return True
        if isinstance(current, sa.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False

"""Request-scoped access to the container and the signed-in person."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps

if TYPE_CHECKING:
    from ledgerlink.entrypoints.realtime import Hub

SESSION_KEY = "person_id"


def get_deps(conn: HTTPConnection) -> Deps:
    deps = conn.app.state.deps
    assert isinstance(deps, Deps)
    return deps


def get_hub(conn: HTTPConnection) -> Hub:
    return conn.app.state.hub  # type: ignore[no-any-return]


def current_person_id(conn: HTTPConnection) -> str | None:
    """The signed-in person's id from the session cookie, or None."""
    value = conn.session.get(SESSION_KEY)
    return value if isinstance(value, str) else None


def person_grant(conn: HTTPConnection) -> Grant | None:
    person_id = current_person_id(conn)
    return None if person_id is None else Grant.for_person(person_id)

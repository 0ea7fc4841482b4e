"""Bank events about an account beyond transactions and balances (fraud alerts, card
declines): each feature registers how to check its payload and how to apply it.

The ingest path (`services/ingest/inbox.py`) stays the one front door: it verifies the signature,
resolves the account, stores the event in the inbox and applies it later through the
handler registered here, inside the inbox worker's unit of work.

Ingest knows no feature: each feature module registers its handler when it is imported, and
the composition root (`ledgerlink.bootstrap`) imports every feature module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledgerlink.domain.banking import Scope

if TYPE_CHECKING:
    from ledgerlink.services.kernel.deps import Deps
    from ledgerlink.services.kernel.uow import UnitOfWork
    from ledgerlink.services.linking.ports import AccountRecord, LinkRecord

# validate(data) raises InvalidInput (code "malformed_event" or "malformed_payload") with the
# field at fault; it runs before anything is stored.
Validate = Callable[[dict[str, Any]], None]
# apply(deps, uow, account, link, data): inside the inbox worker's unit of work; the link is
# active. Append events to uow.events; do not commit.
Apply = Callable[["Deps", "UnitOfWork", "AccountRecord", "LinkRecord", dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AccountEventHandler:
    event_type: str
    validate: Validate
    apply: Apply
    scope: Scope  # what the link's consent must share for the event to be taken (issue 10)


HANDLERS: dict[str, AccountEventHandler] = {}


def account_event(event_type: str, validate: Validate, *, scope: Scope) -> Callable[[Apply], Apply]:
    """Register the handler of one account event type (decorates its apply function). `scope`:
    the consent scope the event belongs to; a link that does not share it gets none of them."""

    def register(apply: Apply) -> Apply:
        if event_type in HANDLERS:
            raise RuntimeError(f"account event {event_type!r} registered twice")
        HANDLERS[event_type] = AccountEventHandler(event_type, validate, apply, scope)
        return apply

    return register


# The scope each core event belongs to; account events name theirs when they register.
CORE_SCOPES = {
    "transaction.updated": Scope.TRANSACTIONS,
    "transaction.removed": Scope.TRANSACTIONS,
    "balance.updated": Scope.BALANCES,
}


def required_scope(event_type: str) -> Scope | None:
    """What a link's consent must share for a bank to push `event_type` (None: no account
    data, e.g. consent.revoked)."""
    if event_type in CORE_SCOPES:
        return CORE_SCOPES[event_type]
    handler = HANDLERS.get(event_type)
    return None if handler is None else handler.scope

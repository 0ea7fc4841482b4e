"""A bank-data provider (SimpleFIN, Enable Banking, GoCardless) seen through the platform's
`BankConnector` port, so linking, sync, renewal and unlinking work as for an OAuth bank.

- The "access token" is the provider's credential blob (JSON from the connector), which
  `access.store_bank_tokens` seals like any token; there is no refresh token.
- The sync cursor is ours: JSON ``{"since": "YYYY-MM-DD", "pending": [ids]}``. Each run reads
  booked and pending entries from `since` (ids are stable, so re-reading changes nothing) and
  reports as removed the pending entries the provider no longer lists (pending -> posted comes
  with a new id on all three providers). The next run starts `OVERLAP` days back, for late
  bookings.
- SimpleFIN answers every account of a token in one request: `provider_ports.REFRESH_GROUP`
  names the accounts one refresh covers, the first account's read fetches them all
  (`transactions_many`), the others' reads and every balance come from that answer (kept for
  `_FRESH` at most).
- An attended refresh forwards the person's presence (`provider_ports.ATTENDED_PSU`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from ledgerlink.domain.banking import Scope
from ledgerlink.domain.clock import Clock
from ledgerlink.services.linking.ports import (
    AuthorizationRequest,
    BankAccountInfo,
    BankBalance,
    BankRefused,
    SyncPage,
    TokenSet,
)
from ledgerlink.services.linking.provider_ports import (
    ATTENDED_PSU,
    REFRESH_GROUP,
    ProviderBalance,
    ProviderConnector,
    ProviderError,
    ProviderTransactions,
)

__all__ = ["FIRST_HISTORY", "OVERLAP", "ProviderBankConnector"]

FIRST_HISTORY = timedelta(days=90)  # what the first sync after linking reads
OVERLAP = timedelta(days=7)
_MAX_PENDING = 500  # pending ids kept in a cursor
_FRESH = timedelta(minutes=2)  # how long a read for the other accounts of a group is used


def _key(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()[:24]  # never the credential itself


class ProviderBankConnector:
    """`BankConnector` over one `ProviderConnector`. `provider_connector` is the provider itself
    (the link flow uses it directly: institutions, start_link, finish_link)."""

    def __init__(self, provider: ProviderConnector, *, clock: Clock) -> None:
        self.provider_connector = provider
        self._clock = clock
        self._fetched: dict[tuple[str, str], tuple[date, datetime, ProviderTransactions]] = {}
        self._balances: dict[tuple[str, str], ProviderBalance] = {}

    # ------------------------------------------------------------- OAuth: not a provider's way

    def authorization_request(self, *, redirect_uri: str, scopes: Sequence[Scope],
                              state: str) -> AuthorizationRequest:
        raise BankRefused("a provider links through its own flow", code="provider_link_flow")

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet:
        raise BankRefused("a provider links through its own flow", code="provider_link_flow")

    async def refresh(self, *, refresh_token: str) -> TokenSet:
        raise BankRefused("a provider credential is not refreshed", code="provider_no_refresh")

    async def subscribe_events(self, *, access_token: str, callback_url: str) -> str:
        return ""  # providers push nothing: refreshes bring every change

    async def post_signed(self, *, access_token: str, path: str, token: str,
                          idempotency_key: str) -> dict[str, Any]:
        raise BankRefused("this provider takes no signed requests", code="provider_no_dialogue")

    async def revoke(self, *, token: str) -> None:
        await self.provider_connector.revoke(credential=token.encode())

    # ------------------------------------------------------------------------------ data

    async def accounts(self, *, access_token: str) -> list[BankAccountInfo]:
        found = await self.provider_connector.accounts(credential=access_token.encode())
        return [BankAccountInfo(bank_account_id=a.account_id, name=a.name, type=a.type,
                                currency=a.currency, last4=a.last4) for a in found]

    async def balance(self, *, access_token: str, bank_account_id: str) -> BankBalance:
        cached = self._balances.pop((_key(access_token), bank_account_id), None)
        if cached is None:
            cached = await self.provider_connector.balance(
                credential=access_token.encode(), account_id=bank_account_id, psu=ATTENDED_PSU.get())
        return BankBalance(bank_account_id=cached.account_id, current=cached.current,
                           available=cached.available, as_of=cached.as_of)

    async def _read(self, access_token: str, account_id: str, since: date) -> ProviderTransactions:
        key, now = _key(access_token), self._clock.now()
        hit = self._fetched.pop((key, account_id), None)
        if hit is not None and hit[0] <= since and now - hit[1] <= _FRESH:
            return hit[2]
        group = REFRESH_GROUP.get()
        credential, psu = access_token.encode(), ATTENDED_PSU.get()
        if self.provider_connector.provider == "simplefin" and account_id in group:
            answers = await self.provider_connector.transactions_many(
                credential=credential, account_ids=group, since=since, psu=psu)
            for other, answer in answers.items():
                if other != account_id and isinstance(answer, ProviderTransactions):
                    self._fetched[(key, other)] = (since, now, answer)
            mine = answers.get(account_id)
            if isinstance(mine, ProviderError):
                raise mine
            if mine is not None:
                return mine
        return await self.provider_connector.transactions(
            credential=credential, account_id=account_id, since=since, psu=psu)

    async def sync_transactions(self, *, access_token: str, bank_account_id: str,
                                cursor: str | None) -> SyncPage:
        today = self._clock.now().date()
        since, pending_before = today - FIRST_HISTORY, set[str]()
        if cursor:
            try:
                state = json.loads(cursor)
                since = date.fromisoformat(state["since"])
                pending_before = {str(i) for i in state.get("pending", [])}
            except (ValueError, KeyError, TypeError):
                pass  # an unreadable cursor: read the first window again (ids keep it idempotent)
        page = await self._read(access_token, bank_account_id, since)
        if page.balance is not None:
            self._balances[(_key(access_token), bank_account_id)] = page.balance
        seen = {t.bank_transaction_id for t in (*page.booked, *page.pending)}
        pending_now = [t.bank_transaction_id for t in page.pending][:_MAX_PENDING]
        # Still-pending entries must be read again next time, or they would look removed.
        oldest = [d for t in page.pending for d in (t.booking_date, t.value_date) if d is not None]
        next_since = max(since, min([today - OVERLAP, *oldest]))
        return SyncPage(
            added=[*page.booked, *page.pending],
            removed=sorted(pending_before - seen),
            next_cursor=json.dumps({"since": next_since.isoformat(), "pending": pending_now},
                                   separators=(",", ":")),
            has_more=False,
        )

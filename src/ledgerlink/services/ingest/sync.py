"""Cursor sync: reconcile one account with its bank, so a lost webhook loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from ledgerlink.domain.banking import LinkStatus, Scope
from ledgerlink.domain.events import AccountSyncRequested, BalanceChanged, TransactionChanged
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.ingest import link_summary
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking import connection_health
from ledgerlink.services.linking.ending import end_link
from ledgerlink.services.linking.ports import BankAuthError, BankConnector, BankError, SyncPage

log = structlog.get_logger(__name__)

MAX_PAGES = 50  # per run; the next run continues from the stored cursor
TOKEN_EXPIRED = "bank_token_expired"  # the connectors' code for an access token the bank let lapse


async def _access_token(deps: Deps, connector: BankConnector, link_id: str,
                        *, stale: str | None = None) -> str | None:
    """The link's access token, refreshed first if it is about to expire, or if it is `stale`
    (the bank answered `token_expired` to it).

    Refresh tokens rotate and a reused one may end the consent at the bank, so refreshes are
    single-flight per link: the lock holder refreshes, the others then read its result."""
    lock = deps.link_locks.setdefault(link_id, asyncio.Lock())
    async with lock:
        now = deps.clock.now()
        async with deps.uow() as uow:
            link = await uow.links.get(link_id)
            if link is None or link.status != LinkStatus.ACTIVE.value:
                return None
            grant = Grant.for_component(link.person_id, "sync")
            secrets = await access.open_link_secrets(
                deps.vault, uow, grant, Purpose.SYNC_WITH_BANK, link, at=now
            )
            await uow.commit()
        token = secrets.get("access_token")
        if not isinstance(token, str):
            return None
        expiring = token == stale or (
            link.token_expires_at is not None and link.token_expires_at - now < timedelta(seconds=60))
        refresh_token = secrets.get("refresh_token")
        if not expiring or not isinstance(refresh_token, str):
            return token
        tokens = await connector.refresh(refresh_token=refresh_token)
        async with deps.uow() as uow:
            fresh = await uow.links.get(link_id)
            if fresh is None or fresh.status != LinkStatus.ACTIVE.value:
                return None
            fresh.updated_at = now
            await access.store_bank_tokens(
                deps.vault, uow, fresh, access_token=tokens.access_token,
                refresh_token=tokens.refresh_token or refresh_token, expires_at=tokens.expires_at,
            )  # fmt: skip
            await uow.links.update(fresh)
            await uow.commit()
        return tokens.access_token


async def sync_account(deps: Deps, account_id: str,
                       on_error: Callable[[BankError], None] | None = None) -> int:
    """Pull every change since the stored cursor. Returns the number of changes applied.
    `on_error` (the refresh planner, issue 10) is told of the bank's error, whatever is done with it."""
    async with deps.uow() as uow:
        account = await uow.accounts.get(account_id)
        link = None if account is None else await uow.links.get(account.link_id)
    if account is None or link is None or link.status != LinkStatus.ACTIVE.value:
        return 0
    connector = deps.banks.connector(account.partner_id)
    grant = Grant.for_component(account.person_id, "sync")
    try:
        token = await _access_token(deps, connector, link.id)
        applied = 0
        cursor = account.sync_cursor
        initial = cursor is None  # the first sync after linking brings history, quietly
        for attempt in range(2):
            if token is None:
                return 0
            try:
                for _ in range(MAX_PAGES):
                    if Scope.TRANSACTIONS.value not in link.scopes:
                        break
                    page = await connector.sync_transactions(
                        access_token=token, bank_account_id=account.bank_account_id, cursor=cursor
                    )
                    applied += await _apply_page_retrying(deps, grant, account_id, cursor, page,
                                                          initial=initial)
                    cursor = page.next_cursor
                    if not page.has_more:
                        break
                if Scope.BALANCES.value in link.scopes:
                    balance = await connector.balance(access_token=token,
                                                      bank_account_id=account.bank_account_id)
                    async with deps.uow() as uow:
                        fresh = await uow.accounts.get(account_id)
                        if fresh is not None and await access.store_balance(deps.vault, uow, fresh, balance):
                            uow.events.append(BalanceChanged(person_id=fresh.person_id, account_id=fresh.id))
                        await deps.commit_and_publish(uow)
                break
            except BankAuthError as exc:
                # The token expired while this run used it (a long first sync, a clock that
                # moved on): that ends nothing. Refresh once and go on from the cursor reached.
                if exc.code != TOKEN_EXPIRED or attempt:
                    raise
                token = await _access_token(deps, connector, link.id, stale=token)
    except BankAuthError as exc:
        log.warning("sync_auth_failed", account_id=account_id, code=exc.code)
        if on_error is not None:
            on_error(exc)
        if exc.code in connection_health.RECONNECT_NOW:
            # The bank refused our refresh token but never said the consent ended: the person
            # reconnects (same link, thread and history) rather than losing the link.
            await connection_health.sync_failed(deps, link_id=link.id, code=exc.code)
            return 0
        # The bank no longer honours this consent (revoked or expired there, and its
        # notice never reached us): end the link rather than retry forever.
        await end_link(
            deps,
            link_id=link.id,
            by="bank",
            text="Your bank no longer accepts this link (the consent was revoked or has expired "
            "there). No more updates will arrive here. You can link again at any time.",
        )
        return 0
    except BankError as exc:
        log.warning("sync_failed", account_id=account_id, code=exc.code)
        if on_error is not None:
            on_error(exc)
        await connection_health.sync_failed(deps, link_id=link.id, code=exc.code)
        raise
    await connection_health.sync_succeeded(deps, link_id=link.id)
    if initial and Scope.TRANSACTIONS.value in link.scopes:
        await link_summary.post_link_summary(deps, link_id=link.id)  # issue 13: one card, not a backlog
    return applied


async def _apply_page_retrying(
    deps: Deps, grant: Grant, account_id: str, cursor: str | None, page: SyncPage, *, initial: bool
) -> int:
    """Apply a page; once more if that failed. A bank event may insert the same transaction at
    the same moment (a unique violation on PostgreSQL): the page's unit of work was rolled back,
    and applied again it updates the row the event wrote. Without the retry the first sync
    after linking would fail, leave no cursor, and the next sync would still count as the
    quiet initial one, swallowing the card of a purchase made meanwhile."""
    try:
        return await _apply_page(deps, grant, account_id, cursor, page, initial=initial)
    except BankError:
        raise
    except Exception as exc:
        log.info("sync_page_retry", account_id=account_id, error=type(exc).__name__)
        return await _apply_page(deps, grant, account_id, cursor, page, initial=initial)


async def _apply_page(
    deps: Deps, grant: Grant, account_id: str, cursor: str | None, page: SyncPage, *, initial: bool
) -> int:
    now = deps.clock.now()
    applied = 0
    async with deps.uow() as uow:
        account = await uow.accounts.get(account_id)
        if account is None or account.sync_cursor != cursor:
            return 0  # another sync moved the cursor; it applied this page already
        for report in [*page.added, *page.modified]:
            if report.bank_account_id != account.bank_account_id:
                continue
            change = await access.upsert_transaction(deps.vault, uow, grant, account, report, at=now)
            if change.created and initial:
                continue  # history from before the link is stored quietly, not announced
            if change.changed:
                applied += 1
                uow.events.append(
                    TransactionChanged(
                        person_id=account.person_id,
                        transaction_id=change.transaction.id,
                        created=change.created,
                    )
                )
        for removed_id in page.removed:
            removed = await access.remove_transaction(deps.vault, uow, grant, account, removed_id, at=now)
            if removed is not None:
                applied += 1
                uow.events.append(
                    TransactionChanged(
                        person_id=account.person_id, transaction_id=removed.transaction.id, created=False
                    )
                )
        account.sync_cursor = page.next_cursor
        await uow.accounts.update(account)
        await deps.commit_and_publish(uow)
    return applied


class SyncScheduler:
    """Coalesces sync requests per account: at most one run in flight and one queued."""

    def __init__(self, deps: Deps, *, min_interval: float = 0.0,
                 runner: Callable[[str], Awaitable[object]] | None = None) -> None:
        self._deps = deps
        # Bank-data providers (issue 10): `runner` decides per account (refresh budgets) and syncs.
        self._runner = runner
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        # A burst of events for one account costs one sync per interval, not one per event.
        self._min_interval = min_interval
        self._last_started: dict[str, float] = {}

    async def on_requested(self, event: AccountSyncRequested) -> None:
        self.request(event.account_id)

    def request(self, account_id: str) -> None:
        if account_id in self._running:
            self._again.add(account_id)
            return
        self._running[account_id] = asyncio.create_task(self._run(account_id))

    async def _run(self, account_id: str) -> None:
        try:
            while True:
                wait = self._last_started.get(account_id, -1e9) + self._min_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._last_started[account_id] = time.monotonic()
                self._again.discard(account_id)
                try:
                    if self._runner is not None:
                        await self._runner(account_id)
                    else:
                        await sync_account(self._deps, account_id)
                except BankError:
                    pass  # logged in sync_account; the next event or periodic sync retries
                except Exception:
                    log.exception("sync_crashed", account_id=account_id)
                if account_id not in self._again:
                    break
        finally:
            self._running.pop(account_id, None)

    async def drain(self) -> None:
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def sync_all(self) -> None:
        """Queue a sync of every account with an active link (startup and periodic)."""
        async with self._deps.uow() as uow:
            account_ids = await uow.accounts.active_ids()
        for account_id in account_ids:
            self.request(account_id)


async def link_access_token(deps: Deps, connector: BankConnector, link_id: str) -> str | None:
    """The link's access token for another request to its bank (bank dialogue), refreshed
    single-flight like sync does; None when the link is not active."""
    return await _access_token(deps, connector, link_id)

"""The event bus subscriptions: which worker or use case handles each event."""

from __future__ import annotations

from ledgerlink.bootstrap.container import Container
from ledgerlink.domain.events import (
    AccountSyncRequested,
    BalanceChanged,
    BankEventsReceived,
    BankRequestQueued,
    ChannelDeliveriesQueued,
    ChannelRemoved,
    LinkActivated,
    LinkRevoked,
    TransactionChanged,
)
from ledgerlink.services.alerts import (
    forecast,  # the projected-balance alert (issue 13, charts)
    insights,  # insight alerts and budget warnings (issue 13)
)
from ledgerlink.services.ingest import delivery
from ledgerlink.services.kernel.batching import Batcher


def _wire(container: Container) -> None:
    deps = container.deps

    async def on_transaction(event: TransactionChanged) -> None:
        await delivery.on_transaction_changed(deps, event)

    async def on_balance(event: BalanceChanged) -> None:
        await delivery.on_balance_changed(deps, event)

    deps.bus.subscribe(BankEventsReceived, container.inbox_worker.on_event)
    deps.bus.subscribe(LinkRevoked, container.ingest.on_link_revoked)
    deps.bus.subscribe(TransactionChanged, on_transaction)

    # Issue 13; the calls of one inbox batch share a unit of work (issue 12: CPU per message).
    insights_batch: Batcher[TransactionChanged] = Batcher(
        lambda events: insights.on_transactions_changed(deps, events),
        one=lambda event: insights.on_transaction_changed(deps, event))

    async def on_transaction_insights(event: TransactionChanged) -> None:
        await insights_batch(event)

    deps.bus.subscribe(TransactionChanged, on_transaction_insights)  # issue 13
    deps.bus.subscribe(BalanceChanged, on_balance)

    async def on_balance_forecast(event: BalanceChanged) -> None:  # issue 13: projected balance
        await forecast.on_balance_changed(deps, event)

    deps.bus.subscribe(BalanceChanged, on_balance_forecast)  # issue 13: projected balance
    deps.bus.subscribe(AccountSyncRequested, container.scheduler.on_requested)
    deps.refresher = container.refresh_worker  # "refresh" in chat (issue 10)
    if container.refresh_worker is not None:  # a renewal ends a provider's needs-reconnect (issue 10)
        deps.bus.subscribe(LinkActivated, container.refresh_worker.on_link_activated)
    if container.bank_outbox is not None:
        deps.bus.subscribe(BankRequestQueued, container.bank_outbox.on_queued)
    if container.channel_worker is not None:
        deps.bus.subscribe(ChannelDeliveriesQueued, container.channel_worker.on_queued)
        deps.bus.subscribe(ChannelRemoved, container.channel_worker.on_removed)

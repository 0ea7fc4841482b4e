"""How much a JetStream consumer fetches at once (ADR 0035): what a kill of the process charges a
delivery is what it had fetched, so only about FETCH_BUDGET of handling, and one message while
the consumer is idle."""

from __future__ import annotations

from ledgerlink.adapters.events.jetstream_consumer import FETCH_BUDGET, Consumer
from ledgerlink.domain.events import AccountSyncRequested, Event


async def _handler(event: Event) -> None:
    return None


def test_a_consumer_fetches_one_message_while_idle_and_a_budget_of_work_with_a_backlog() -> None:
    consumer = Consumer(AccountSyncRequested, _handler, "probe")
    assert consumer.batch(64) == 1  # speed unknown
    consumer.backlog = True
    assert consumer.batch(64) == 1
    consumer.observe(FETCH_BUDGET / 2)
    assert consumer.batch(64) == 2
    consumer.observe(0.001)  # a fast message after a slow one: the estimate comes down slowly
    assert consumer.batch(64) == 2
    for _ in range(60):
        consumer.observe(0.001)
    assert consumer.batch(64) == 64
    consumer.observe(FETCH_BUDGET)  # a slow one: at once
    assert consumer.batch(64) == 1
    consumer.backlog = False
    consumer.observe(0.001)
    assert consumer.batch(64) == 1

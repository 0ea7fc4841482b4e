"""`SandboxBank`: the bank's state, its test hooks, and the fan-out of events to subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerlink.sandbox._agent import ServiceAgent
from ledgerlink.sandbox._cards import CardDetails, card_of, find_card
from ledgerlink.sandbox._fraud import FraudDesk
from ledgerlink.sandbox._keys import BankKey, PlatformKeys
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._messages import MessageOutbox, MessageRecord
from ledgerlink.sandbox._model import (
    Account,
    CardDeclined,
    Consent,
    Customer,
    Decline,
    Problem,
    Subscription,
    Txn,
    iso,
)
from ledgerlink.sandbox._oauth import SandboxAuthServer
from ledgerlink.sandbox.config import SandboxConfig
from ledgerlink.sandbox.merchants import Merchant, by_name
from ledgerlink.sandbox.simulator import Activity, Simulator
from ledgerlink.sandbox.webhooks import WebhookDispatcher

log = logging.getLogger("ledgerlink.sandbox")

AmountLike = Decimal | str | int


def to_amount(value: AmountLike | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float | bool):
        raise Problem(422, "bad_amount", "amounts are decimal strings, never floats")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise Problem(422, "bad_amount", f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise Problem(422, "bad_amount", "amounts have at most two decimal places")
    return amount


class SandboxBank:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.ledger = Ledger(seed=config.seed, now=self.clock.now())
        self.cards_issued = self.clock.now().date()  # cards run 2 to 4 years from the bank's start
        secrets_by_client = {c.client_id: c.webhook_secret for c in config.clients}
        self.auth = SandboxAuthServer(
            ledger=self.ledger, clients=config.clients, clock=self.clock,
            access_ttl=config.access_token_ttl_seconds, consent_days=config.consent_days,
            code_ttl=config.code_ttl_seconds,
            on_client_revoke=lambda cid: self._revoke(cid, by="client"),
            on_code_replay=lambda cid: self._revoke(cid, by="code_replay"))
        self.webhooks = WebhookDispatcher(
            clock=self.clock, secret_for=secrets_by_client.__getitem__,
            on_gone=lambda _sub: None, max_attempts=config.webhook_max_attempts,
            backoff_base=config.webhook_backoff_base_seconds,
            backoff_cap=config.webhook_backoff_cap_seconds,
            timeout=config.webhook_timeout_seconds, http=config.http)
        self.simulator = Simulator(seed=config.seed)
        self._timing = random.Random()
        # The bank dialogue (docs/bank-dialogue.md): its key, the clients' keys, messages out.
        self.key = BankKey(config.signing_key_pem)
        self.platform_keys = PlatformKeys(timeout=config.webhook_timeout_seconds, http=config.http)
        self.messages = MessageOutbox(
            clock=self.clock, key=self.key, issuer=config.public_url.rstrip("/"),
            clients=config.clients, delay=config.reply_delay_seconds,
            max_attempts=config.webhook_max_attempts,
            backoff_base=config.webhook_backoff_base_seconds,
            backoff_cap=config.webhook_backoff_cap_seconds,
            timeout=config.webhook_timeout_seconds, http=config.http)
        self.fraud = FraudDesk(
            seed=config.seed, ledger=self.ledger, clock=self.clock, messages=self.messages,
            apply=self.apply, notify=self._notify, publish=self._publish,
            publish_decline=self._publish_decline)
        self.agent = ServiceAgent(config=config, ledger=self.ledger, clock=self.clock,
                                  messages=self.messages)
        self._sim_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.webhooks.start()
        await self.messages.start()
        self.fraud.start()
        if self.config.simulate:
            self._sim_task = asyncio.create_task(self._simulate(), name="sandbox-simulator")

    async def stop(self) -> None:
        if self._sim_task is not None:
            self._sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sim_task
        await self.fraud.stop()
        await self.messages.stop()
        await self.platform_keys.aclose()
        await self.webhooks.stop()

    async def _simulate(self) -> None:
        while True:
            await asyncio.sleep(self.simulator.next_delay(
                mean_seconds=self.config.simulate_interval_seconds, speed=self.config.speed,
                rng=self._timing))
            try:
                self.step()
            except Problem as exc:  # an activity raced a hook; the next step goes on
                log.info("simulated activity skipped: %s", exc.code)

    def step(self) -> list[Activity]:
        """One simulator step, booked and pushed."""
        activities = self.simulator.step(self.ledger)
        # A charge under an open fraud alert is held: it neither posts nor voids meanwhile.
        activities = [a for a in activities if not self.fraud.holds(a.transaction_id)]
        for activity in activities:
            with contextlib.suppress(CardDeclined):  # pushed as card.declined; nothing booked
                self.apply(activity)
        self.fraud.simulate()
        return activities

    # ------------------------------------------------------------------ reads

    @property
    def customers(self) -> list[Customer]:
        return list(self.ledger.customers.values())

    def accounts_of(self, login: str) -> list[Account]:
        return self.ledger.accounts_of(login)

    def consents_of(self, login: str) -> list[Consent]:
        return sorted((c for c in self.ledger.consents.values() if c.login == login),
                      key=lambda c: c.created_at, reverse=True)

    def cards_of(self, login: str) -> list[CardDetails]:
        """The customer's payment cards (number, expiry, CVC), for the bank's own portal."""
        cards = (card_of(a, seed=self.config.seed, issued=self.cards_issued) for a in self.accounts_of(login))
        return [c for c in cards if c is not None]

    def transaction(self, transaction_id: str) -> dict[str, Any]:
        return self.ledger.txn(transaction_id).wire()

    # ------------------------------------------------------------------ hooks

    def apply(self, activity: Activity) -> str:
        now = self.clock.now()
        led = self.ledger
        amount = activity.amount
        if activity.kind == "purchase":
            assert activity.login is not None
            merchant = self._merchant(activity.merchant)
            try:
                txn = led.purchase(activity.login, now=now, account_id=activity.account_id,
                                   merchant=merchant, amount=amount, authorise=True)
            except CardDeclined as declined:
                self._publish_decline(declined.decline)
                raise
        elif activity.kind == "decline":  # a test hook: decline whatever the balance says
            assert activity.login is not None
            decline = led.decline(activity.login, now=now, account_id=activity.account_id,
                                  merchant=self._merchant(activity.merchant), amount=amount,
                                  reason=activity.reason or "insufficient_funds")
            self._publish_decline(decline)
            return decline.decline_id
        elif activity.kind == "deposit":
            assert activity.login is not None
            txn = led.deposit(activity.login, now=now, account_id=activity.account_id,
                              amount=amount, description=activity.description)
        elif activity.kind == "fee":
            assert activity.login is not None
            txn = led.fee(activity.login, now=now, account_id=activity.account_id,
                          amount=amount, description=activity.description)
        else:
            tid = activity.transaction_id
            if tid is None:
                raise Problem(422, "transaction_id_required", "give a transaction_id")
            if activity.kind == "post":
                txn = led.post(tid, now=now, final_amount=amount)
            elif activity.kind == "adjust":
                if amount is None:
                    raise Problem(422, "amount_required", "give the new amount")
                txn = led.adjust(tid, amount=amount)
            elif activity.kind == "void":
                txn = led.void(tid)
            elif activity.kind == "refund":
                txn = led.refund(tid, now=now, amount=amount)
            else:
                raise Problem(404, "unknown_activity", f"no activity {activity.kind!r}")
        self._publish(txn)
        return txn.transaction_id

    @staticmethod
    def _merchant(name: str | None) -> Merchant | None:
        if name is None:
            return None
        merchant = by_name(name)
        if merchant is None:
            raise Problem(422, "unknown_merchant", f"no merchant named {name!r}")
        return merchant

    async def purchase(self, login: str, *, account_id: str | None = None,
                       merchant: str | None = None, amount: AmountLike | None = None) -> str:
        """A card purchase: returns the id of the new pending transaction."""
        return self.apply(Activity("purchase", login=login, account_id=account_id,
                                   merchant=merchant, amount=to_amount(amount)))

    async def card_purchase(self, *, pan: str, exp_month: int, exp_year: int, cvc: str, merchant: str,
                            amount: AmountLike) -> tuple[str, str]:
        """A shop's checkout authorising a purchase by card number, expiry and CVC, as a card
        network would: (the pending transaction's id, the card's last 4). A wrong number,
        expiry or CVC, or a card that cannot pay: a Problem that never repeats the number."""
        card = find_card(list(self.ledger.accounts.values()), seed=self.config.seed, issued=self.cards_issued,
                         today=self.clock.now().date(), pan=pan, exp_month=exp_month, exp_year=exp_year,
                         cvc=cvc)
        login = self.ledger.accounts[card.account_id].login
        txn_id = await self.purchase(login, account_id=card.account_id, merchant=merchant, amount=amount)
        return txn_id, card.last4

    async def post(self, transaction_id: str, *, final_amount: AmountLike | None = None) -> str:
        """Settle a pending charge (maybe for another amount: a tip); returns the posted id."""
        return self.apply(Activity("post", transaction_id=transaction_id,
                                   amount=to_amount(final_amount)))

    async def adjust(self, transaction_id: str, *, amount: AmountLike) -> str:
        return self.apply(Activity("adjust", transaction_id=transaction_id,
                                   amount=to_amount(amount)))

    async def void(self, transaction_id: str) -> str:
        return self.apply(Activity("void", transaction_id=transaction_id))

    async def deposit(self, login: str, *, account_id: str | None = None,
                      amount: AmountLike | None = None, description: str | None = None) -> str:
        return self.apply(Activity("deposit", login=login, account_id=account_id,
                                   amount=to_amount(amount), description=description))

    async def fee(self, login: str, *, account_id: str | None = None,
                  amount: AmountLike | None = None, description: str | None = None) -> str:
        return self.apply(Activity("fee", login=login, account_id=account_id,
                                   amount=to_amount(amount), description=description))

    async def refund(self, transaction_id: str, *, amount: AmountLike | None = None) -> str:
        return self.apply(Activity("refund", transaction_id=transaction_id,
                                   amount=to_amount(amount)))

    async def decline(self, login: str, *, account_id: str | None = None,
                      merchant: str | None = None, amount: AmountLike | None = None,
                      reason: str = "insufficient_funds") -> str:
        """Decline a card authorisation (pushes `card.declined`); returns the decline id."""
        return self.apply(Activity("decline", login=login, account_id=account_id, merchant=merchant,
                                   amount=to_amount(amount), reason=reason))

    def invalidate_refresh_tokens(self, consent_id: str) -> None:
        """Refuse the consent's refresh tokens from now on (`invalid_grant`) without revoking
        the consent or saying so: a test hook for "the connection needs attention"."""
        if consent_id not in self.ledger.consents:
            raise Problem(404, "consent_not_found", "no such consent")
        for rec in self.auth.store.by_refresh.values():
            if rec.consent_id == consent_id:
                rec.refresh_revoked = True

    async def revoke_consent(self, consent_id: str) -> None:
        """The customer revokes at the bank: tokens die and `consent.revoked` is pushed."""
        if consent_id not in self.ledger.consents:
            raise Problem(404, "consent_not_found", "no such consent")
        self._revoke(consent_id, by="customer")

    # ------------------------------------------------------------------ the bank dialogue

    def jwks(self) -> dict[str, Any]:
        """The bank's public key set (served at /.well-known/jwks.json)."""
        return self.key.jwks()

    @property
    def messages_sent(self) -> list[MessageRecord]:
        return list(self.messages.records)

    def raise_fraud_alert(self, transaction_id: str, *, reason: str = "unusual merchant",
                          remind_after_seconds: int = 600, expires_in_seconds: int = 3600,
                          on_no_answer: str = "freeze_card") -> str:
        """Ask "Was this you?" about a pending charge (pushes `fraud.alert`); the alert id."""
        return self.fraud.raise_alert(
            transaction_id, reason=reason, remind_after_seconds=remind_after_seconds,
            expires_in_seconds=expires_in_seconds, on_no_answer=on_no_answer).alert_id

    async def suspicious_purchase(self, login: str, *, account_id: str | None = None,
                                  merchant: str | None = None, amount: AmountLike | None = None,
                                  reason: str = "unusual merchant",
                                  remind_after_seconds: int = 600,
                                  expires_in_seconds: int = 3600,
                                  on_no_answer: str = "freeze_card") -> tuple[str, str]:
        """An odd card-not-present purchase (pending) and a fraud alert on it:
        (transaction_id, alert_id)."""
        txn = self.fraud.odd_purchase(login, account_id=account_id, merchant=merchant,
                                      amount=to_amount(amount))
        return txn.transaction_id, self.raise_fraud_alert(
            txn.transaction_id, reason=reason, remind_after_seconds=remind_after_seconds,
            expires_in_seconds=expires_in_seconds, on_no_answer=on_no_answer)

    def run_due(self) -> list[str]:
        """Close unanswered fraud alerts past `expires_at` (`on_no_answer` applies); their ids.
        A background loop runs it every second while the bank runs."""
        return self.fraud.run_due()

    # ------------------------------------------------------------------ consents and events

    def _revoke(self, consent_id: str, *, by: str) -> None:
        consent = self.ledger.consents[consent_id]
        if consent.revoked_at is not None:
            return
        consent.revoked_at = self.clock.now()
        consent.revoked_by = by
        self.auth.store.revoke_consent_tokens(consent_id)
        if by == "client":
            return  # the client asked for it and knows; no echo
        for sub in self._subscriptions(consent):
            self.webhooks.enqueue(sub, "consent.revoked",
                                  {"consent_id": consent_id, "revoked_at": iso(consent.revoked_at)})

    def _notify(self, consent: Consent, event_type: str, data: dict[str, Any]) -> None:
        """Push one event to each live subscription of the consent."""
        for sub in self._subscriptions(consent):
            self.webhooks.enqueue(sub, event_type, data)

    def _publish_decline(self, decline: Decline) -> None:
        """Push a declined authorisation to every live consent with `transactions` on the account."""
        now = self.clock.now()
        for consent in list(self.ledger.consents.values()):
            if (not consent.active(now) or decline.account_id not in consent.account_ids
                    or "transactions" not in consent.scopes):
                continue
            for sub in self._subscriptions(consent):
                self.webhooks.enqueue(sub, "card.declined", {
                    "consent_id": consent.consent_id, "account_id": decline.account_id,
                    "decline": decline.wire()})

    def subscribe(self, consent: Consent, url: str) -> Subscription:
        sub = Subscription(self.ledger.new_id("sub"), consent.consent_id, consent.client_id, url,
                           self.clock.now())
        self.ledger.subscriptions[sub.subscription_id] = sub
        return sub

    def unsubscribe(self, consent: Consent, subscription_id: str) -> None:
        sub = self.ledger.subscriptions.get(subscription_id)
        if sub is None or sub.consent_id != consent.consent_id:
            raise Problem(404, "subscription_not_found", "no such subscription for this consent")
        sub.active = False
        del self.ledger.subscriptions[subscription_id]

    def _subscriptions(self, consent: Consent) -> list[Subscription]:
        return [s for s in self.ledger.subscriptions.values()
                if s.consent_id == consent.consent_id and s.active]

    def _publish(self, txn: Txn) -> None:
        """Push the change to every live consent that covers the account."""
        now = self.clock.now()
        balance = self.ledger.balance(txn.account_id, now=now)
        for consent in list(self.ledger.consents.values()):
            if not consent.active(now) or txn.account_id not in consent.account_ids:
                continue
            for sub in self._subscriptions(consent):
                base: dict[str, Any] = {"consent_id": consent.consent_id,
                                        "account_id": txn.account_id}
                if "transactions" in consent.scopes:
                    for effect in self.ledger.effects(txn):
                        if effect.type == "transaction.removed":
                            data = {**base, "transaction_id": txn.transaction_id}
                        else:
                            data = {**base, "transaction": txn.wire()}
                        self.webhooks.enqueue(sub, effect.type, data)
                if "balances" in consent.scopes:
                    self.webhooks.enqueue(sub, "balance.updated", {**base, "balance": balance})

"""The conversation with the bank: free text to its customer service, signed requests out of
an outbox, and signed messages from the bank into the thread (docs/bank-dialogue.md).

Out: a request (fraud answer, service message) is a `bank_outbox` row written in the same
transaction as what caused it; `BankOutboxWorker` signs it with the platform key (compact
JWS, the row id as `jti` and Idempotency-Key) and POSTs it with the link's access token,
retrying with backoff. In: `receive_bank_message` verifies the bank's JWS against the keys
registered for that bank before anything is stored, and stores each bank message id once.
"""

from __future__ import annotations

import random
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import structlog

from ledgerlink.domain.banking import LinkStatus
from ledgerlink.domain.chat import CardKind, ThreadKind
from ledgerlink.domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from ledgerlink.domain.events import BankRequestQueued
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.text import display_text
from ledgerlink.services import access
from ledgerlink.services.dialogue import fraud, prompts
from ledgerlink.services.dialogue.ports import BankOutboxRecord
from ledgerlink.services.ingest.sync import link_access_token
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.kernel.worker import TimedWorker
from ledgerlink.services.linking.ports import BankAuthError, BankRefused, BankUnavailable
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.channels import next_attempt
from ledgerlink.services.messaging.ports import ThreadRecord

__all__ = [
    "MAX_TEXT",
    "BankOutboxWorker",
    "LinkGone",
    "receive_bank_message",
    "send_to_bank",
    "wants_bank",
]

log = structlog.get_logger(__name__)

MAX_TEXT = 2000
REQUEST_LIFETIME = 300  # seconds a signed request stays valid
BANK_MESSAGE_KINDS = frozenset({"service", "fraud_outcome", "notice"})
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class LinkGone(DomainError):
    """The consent's link has ended: the bank should stop posting (410)."""

    code = "link_revoked"
    status = 410


# --------------------------------------------------------------------------- person -> bank


async def wants_bank(uow: UnitOfWork, thread: ThreadRecord) -> bool:
    """Free text in this thread goes to a bank: a bank thread whose link is active."""
    if thread.kind != ThreadKind.BANK.value or thread.link_id is None:
        return False
    link = await uow.links.get(thread.link_id)
    return link is not None and link.status == LinkStatus.ACTIVE.value


async def send_to_bank(deps: Deps, uow: UnitOfWork, grant: Grant, thread: ThreadRecord, text: str) -> str:
    """Store the person's message, marked for the bank, and queue it in the outbox, inside the
    caller's unit of work. Returns the request id (the `message_id` the bank replies to)."""
    assert thread.link_id is not None
    link = await uow.links.get(thread.link_id)
    partner = None if link is None else await uow.partners.get(link.partner_id)
    if link is None or partner is None:
        raise NotFound("this thread has no bank")
    now = deps.clock.now()
    request_id = new_id("req")
    body = {
        "text": text,
        "from": "person",
        "tone": "info",
        "actions": [],
        "to_bank": {"bank": partner.name, "status": "sending"},
    }
    record = await outgoing.put_message(
        deps, uow, grant, thread, kind=CardKind.TEXT, body=body, subject_key=f"to-bank:{request_id}"
    )
    assert record is not None
    await uow.bank_outbox.add(
        BankOutboxRecord(
            id=request_id,
            person_id=thread.person_id,
            link_id=link.id,
            partner_id=partner.id,
            kind="service_message",
            ref=request_id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    uow.events.append(BankRequestQueued(outbox_id=request_id))
    return request_id


async def _service_state(deps: Deps, uow: UnitOfWork, row: BankOutboxRecord, status: str) -> None:
    """Show on the person's message whether it reached the bank."""
    grant = Grant.for_component(row.person_id, "bank_dialogue")
    link = await uow.links.get(row.link_id)
    thread = None if link is None else await uow.threads.for_link(link.id)
    thread = None if thread is None else await uow.threads.lock(thread.id)
    if thread is None:
        return
    subject = f"to-bank:{row.ref}"
    view = await access.read_message_by_subject(
        deps.vault, uow, grant, Purpose.DELIVER_UPDATE, thread, subject, at=deps.clock.now()
    )
    if view is None:
        return
    body = {**view.body, "to_bank": {**view.body.get("to_bank", {}), "status": status}}
    await outgoing.put_card(deps, uow, grant, thread, CardKind.TEXT, body, subject_key=subject)


class BankOutboxWorker(TimedWorker):
    """Sends due outbox rows one at a time, oldest first; a timer wakes it for retries."""

    def __init__(self, deps: Deps, *, rng: random.Random | None = None, max_sleep: float = 60.0) -> None:
        self._deps = deps
        self._rng = rng or random.Random()
        super().__init__(deps.clock, max_sleep=max_sleep)

    async def on_queued(self, event: BankRequestQueued) -> None:
        self.poke()

    async def run_once(self) -> datetime | None:
        """Send every row due now; returns when the next waiting one is due."""
        async with self._deps.uow(readonly=True) as uow:
            rows = await uow.bank_outbox.due(self._deps.clock.now())
        for row in rows:
            await self._send(row)
        async with self._deps.uow(readonly=True) as uow:
            return await uow.bank_outbox.next_due()

    async def _claims(
        self, uow: UnitOfWork, row: BankOutboxRecord, consent_id: str
    ) -> tuple[str, dict[str, Any]]:
        deps = self._deps
        if row.kind == "fraud_answer":
            prompt = await uow.prompts.get(row.ref)
            if prompt is None or prompt.answer not in fraud.WIRE_ANSWERS:
                raise InvalidInput("the prompt of this answer is gone", code="prompt_gone")
            path = f"/open-banking/v1/fraud-alerts/{quote(prompt.bank_ref, safe='')}/answer"
            return path, {"alert_id": prompt.bank_ref, "answer": fraud.WIRE_ANSWERS[prompt.answer]}
        thread = await uow.threads.for_link(row.link_id)
        grant = Grant.for_component(row.person_id, "bank_dialogue")
        view = (
            None
            if thread is None
            else await access.read_message_by_subject(
                deps.vault,
                uow,
                grant,
                Purpose.SEND_TO_BANK,
                thread,
                f"to-bank:{row.ref}",
                at=deps.clock.now(),
            )
        )
        if view is None:
            raise InvalidInput("the message to send is gone", code="message_gone")
        return "/open-banking/v1/service/messages", {
            "message_id": row.id,
            "text": str(view.body.get("text", "")),
        }

    async def _send(self, row: BankOutboxRecord) -> None:
        deps = self._deps
        now = deps.clock.now()
        async with deps.uow() as uow:
            link = await uow.links.get(row.link_id)
            partner = await uow.partners.get(row.partner_id)
            try:
                if (
                    link is None
                    or partner is None
                    or link.status != LinkStatus.ACTIVE.value
                    or link.bank_consent_id is None
                ):
                    raise Conflict("the bank link has ended", code="link_ended")
                path, extra = await self._claims(uow, row, link.bank_consent_id)
            except DomainError as exc:
                await uow.commit()  # the audit entries of what was read
                await self._finish(row, status="refused", error=exc.code)
                return
            await uow.commit()
        if deps.partner_jws is None:
            await self._finish(row, status="refused", error="signing_unavailable")
            return
        issued = int(now.timestamp())
        token = deps.partner_jws.sign_request(
            {
                "iss": deps.public_url,
                "aud": partner.issuer or "",
                "iat": issued,
                "exp": issued + REQUEST_LIFETIME,
                "jti": row.id,
                "consent_id": link.bank_consent_id,
                **extra,
            }
        )
        connector = deps.banks.connector(row.partner_id)
        try:
            access_token = await link_access_token(deps, connector, row.link_id)
            if access_token is None:
                await self._finish(row, status="refused", error="link_ended")
                return
            answer = await connector.post_signed(
                access_token=access_token, path=path, token=token, idempotency_key=row.id
            )
        except BankRefused as exc:
            await self._finish(row, status="refused", error=exc.code)
        except (BankUnavailable, BankAuthError) as exc:
            await self._retry(row, error=exc.code)
        else:
            outcome = answer.get("status")
            outcome = outcome[:32] if isinstance(outcome, str) and _ID.match(outcome) else None
            await self._finish(row, status="sent", outcome=outcome)

    async def _retry(self, row: BankOutboxRecord, *, error: str) -> None:
        now = self._deps.clock.now()
        row.attempts += 1
        row.last_error = error[:64]
        row.updated_at = now
        row.next_attempt_at = next_attempt(
            attempts=row.attempts, first_try=row.created_at, now=now, rng=self._rng
        )
        if row.next_attempt_at is None:
            await self._finish(row, status="gave_up", error=error)
            return
        async with self._deps.uow() as uow:
            await uow.bank_outbox.update(row)
            await uow.commit()
        log.info("bank_request_retry", outbox_id=row.id, kind=row.kind, attempts=row.attempts, error=error)

    async def _finish(
        self, row: BankOutboxRecord, *, status: str, error: str | None = None, outcome: str | None = None
    ) -> None:
        deps = self._deps
        row.status = status
        row.attempts += 1
        row.last_error = None if error is None else error[:64]
        row.outcome = outcome
        row.next_attempt_at = None
        row.updated_at = deps.clock.now()
        shown = "sent" if status == "sent" else "failed"
        async with deps.uow() as uow:
            await uow.bank_outbox.update(row)
            if row.kind == "fraud_answer":
                await prompts.delivery_changed(deps, uow, row.ref, delivery=shown, outcome=outcome)
            else:
                await _service_state(deps, uow, row, shown)
            await deps.commit_and_publish(uow)
        log.info("bank_request_done", outbox_id=row.id, kind=row.kind, status=status, error=error)


# --------------------------------------------------------------------------- bank -> person


def _claim_text(
    claims: dict[str, Any], name: str, *, limit: int, pattern: re.Pattern[str] | None = None
) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(
            f"claim '{name}' must be a string of 1-{limit} characters", code="malformed_message"
        )
    if pattern is not None and not pattern.match(value):
        raise InvalidInput(
            f"claim '{name}' has characters outside A-Z a-z 0-9 _ . : -", code="malformed_message"
        )
    return value.strip()


def _reply_to(claims: dict[str, Any]) -> tuple[str, str] | None:
    target = claims.get("in_reply_to")
    if target is None:
        return None
    if not isinstance(target, dict) or len(target) != 1 or not ({"alert_id", "message_id"} & set(target)):
        raise InvalidInput(
            'claim \'in_reply_to\' must be {"alert_id": ...} or {"message_id": ...}', code="malformed_message"
        )
    ((key, value),) = target.items()
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(f"in_reply_to.{key} must be an id of 1-128 characters", code="malformed_message")
    return key, value


async def receive_bank_message(deps: Deps, partner: PartnerRecord, token: str) -> tuple[str, bool]:
    """A message the bank posts (compact JWS). Returns (message id, duplicate). Nothing is
    stored unless the signature verifies against the bank's registered keys."""
    if partner.kind != "bank" or not partner.jwks or not partner.issuer or deps.partner_jws is None:
        raise Forbidden(
            "this partner has no registered signing keys, so it may not post messages",
            code="partner_not_registered",
        )
    now = deps.clock.now()
    claims = deps.partner_jws.verify_bank_message(
        token, partner.jwks, issuer=partner.issuer, audience=deps.public_url, now=now
    )
    jti = _claim_text(claims, "jti", limit=128, pattern=_ID)
    consent_id = _claim_text(claims, "consent_id", limit=128)
    kind = _claim_text(claims, "kind", limit=32)
    if kind not in BANK_MESSAGE_KINDS:
        raise InvalidInput(
            f"claim 'kind' must be one of {', '.join(sorted(BANK_MESSAGE_KINDS))}", code="malformed_message"
        )
    text = claims.get("text")
    if isinstance(text, str):  # Unicode text only (else invalid_text); control and bidi characters out
        text = display_text(text, "claim 'text'")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("claim 'text' must be a non-empty string", code="malformed_message")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"claim 'text' is longer than {MAX_TEXT} characters", code="message_too_long")
    reply_to = _reply_to(claims)
    async with deps.uow() as uow:
        seen = await uow.bank_messages.get(partner.id, jti)
        if seen is not None:
            return seen, True
        link = await uow.links.by_consent(partner.id, consent_id)
        if link is None:
            raise NotFound("no consent with this id was given to you", code="consent_not_found")
        if link.status != LinkStatus.ACTIVE.value:
            raise LinkGone("this consent has ended: the customer's thread is closed")
        thread = await uow.threads.for_link(link.id)
        thread = None if thread is None else await uow.threads.lock(thread.id)
        if thread is None:
            raise NotFound("no consent with this id was given to you", code="consent_not_found")
        if reply_to is not None:
            await _check_reply_target(uow, partner, link.id, reply_to)
        body = {
            "text": text.strip(),
            "from": "bank",
            "bank": partner.name,
            "verified": True,
            "bank_kind": kind,
            "tone": "info",
            "actions": [],
        }
        if reply_to is not None:
            body["in_reply_to"] = {reply_to[0]: reply_to[1]}
        grant = Grant.for_component(thread.person_id, "bank_dialogue")
        record = await outgoing.put_message(deps, uow, grant, thread, kind=CardKind.TEXT, body=body)
        assert record is not None
        if not await uow.bank_messages.add(
            partner_id=partner.id,
            bank_message_id=jti,
            person_id=thread.person_id,
            message_id=record.id,
            at=now,
        ):
            raise Conflict("this message id is being stored by another request", code="duplicate_message")
        await deps.commit_and_publish(uow)
    log.info("bank_message_received", partner=partner.slug, kind=kind)
    return record.id, False


async def _check_reply_target(
    uow: UnitOfWork, partner: PartnerRecord, link_id: str, reply_to: tuple[str, str]
) -> None:
    key, value = reply_to
    if key == "alert_id":
        prompt = await uow.prompts.by_ref(partner.id, value)
        if prompt is None or prompt.link_id != link_id:
            raise InvalidInput(
                "in_reply_to.alert_id is not an alert of this consent", code="unknown_reply_target"
            )
        return
    row = await uow.bank_outbox.get(value)
    if row is None or row.kind != "service_message" or row.link_id != link_id:
        raise InvalidInput(
            "in_reply_to.message_id is not a message sent to you on this consent", code="unknown_reply_target"
        )

"""Linking a bank, as the person does it: consent (OAuth code flow with PKCE), the bank's
redirect back, and unlinking.

What a completed consent writes is `linking.activation`; how a link ends, `linking.ending`.
Network calls to the bank happen between units of work, never inside one.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlencode

import structlog

from ledgerlink.domain.banking import LinkStatus, Scope
from ledgerlink.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking.activation import RENEWAL_COMPLETED, activate_link, renew_link
from ledgerlink.services.linking.ending import end_link
from ledgerlink.services.linking.ports import BankBalance, BankError, LinkRecord
from ledgerlink.services.linking.provider_ports import provider_of
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text

log = structlog.get_logger(__name__)

DEFAULT_SCOPES = (Scope.BALANCES, Scope.TRANSACTIONS, Scope.ALERTS)
CHOOSABLE_SCOPES = DEFAULT_SCOPES


def chosen_scopes(values: Sequence[str]) -> tuple[Scope, ...]:
    """The scopes the person ticked; balances or transactions at least (a link that reads
    nothing is no link)."""
    picked = tuple(s for s in CHOOSABLE_SCOPES if s.value in set(values))
    if Scope.TRANSACTIONS not in picked and Scope.BALANCES not in picked:
        raise InvalidInput("choose at least balances or transactions", code="scopes_required")
    return picked
CONSENT_FLOW_TTL = timedelta(minutes=15)


# A callback that finds the flow claimed by another one waits this long for it to finish.
CLAIM_WAIT_STEPS = 100
CLAIM_WAIT_SECONDS = 0.1


class LinkFlowError(DomainError):
    code = "link_failed"
    status = 400


class LinkAlreadyComplete(Conflict):
    """The callback of a consent flow that already finished (a replay, a second tab): nothing
    was changed. `thread_id` is the bank's thread the link lives in (None if not known)."""

    code = "link_already_complete"

    def __init__(self, thread_id: str | None) -> None:
        super().__init__("this bank link is already complete")
        self.thread_id = thread_id


def callback_url(deps: Deps) -> str:
    return f"{deps.public_url.rstrip('/')}/link/callback"


def events_url(deps: Deps, partner_slug: str) -> str:
    return f"{deps.public_url.rstrip('/')}/partners/{partner_slug}/events"


async def start_link(deps: Deps, grant: Grant, *, partner_id: str, renews: str | None = None,
                     scopes: Sequence[Scope] = DEFAULT_SCOPES) -> str:
    """Create a pending link and return the bank's consent URL for the person's browser.

    `scopes`: what the person chose to share (`chosen_scopes`); the bank may grant less, and
    the link keeps what the bank granted. With `renews`, the new consent replaces the one of
    that (active or expired) link when it completes: same link, same thread, same account and
    transaction ids, and the same scopes as before."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        if renews is not None:
            old = await uow.links.get(renews)
            if old is None or old.person_id != grant.person_id:
                raise NotFound("link not found")
            if old.status not in (LinkStatus.ACTIVE.value, LinkStatus.EXPIRED.value):
                raise Conflict("only an active or expired link can be renewed", code="link_not_renewable")
            partner_id = old.partner_id
            scopes = tuple(sc for sc in CHOOSABLE_SCOPES if sc.value in old.scopes) or DEFAULT_SCOPES
        partner = await uow.partners.get(partner_id)
        if partner is None or partner.kind != "bank":
            raise NotFound("bank not found", code="bank_not_found")
        connector = deps.banks.connector(partner_id)
        if provider_of(connector) is not None:  # a bank-data provider: its own page (provider_links)
            query = ({"renews": renews} if renews is not None
                     else {} if set(scopes) == set(CHOOSABLE_SCOPES)
                     else {"scopes": ",".join(sc.value for sc in scopes)})
            return f"/link/provider/{partner.slug}" + (f"?{urlencode(query)}" if query else "")
        state = secrets.token_urlsafe(32)
        request = connector.authorization_request(
            redirect_uri=callback_url(deps), scopes=tuple(scopes), state=state
        )
        link = LinkRecord(
            id=new_id("lnk"),
            person_id=grant.person_id,
            partner_id=partner_id,
            status=LinkStatus.PENDING.value,
            scopes=[sc.value for sc in scopes],
            state=state,
            sealed_secrets=None,
            bank_consent_id=None,
            created_at=now,
            updated_at=now,
        )
        flow: dict[str, object] = {"code_verifier": request.code_verifier}
        if renews is not None:
            flow["renews"] = renews
        await access.seal_link_secrets(deps.vault, uow, link, flow)
        await uow.links.add(link)
        await uow.commit()
    log.info("link_started", link_id=link.id, partner_id=partner_id)
    return request.url


async def _fail(deps: Deps, link: LinkRecord | None, person_id: str, code: str, text: str) -> LinkFlowError:
    """Record the failure, explain it in the system thread, and return the error to raise.

    `link` is one this callback claimed (`_claim`): it is marked failed only while it is still
    `exchanging`, so a failure never writes over a link that became active meanwhile."""
    async with deps.uow() as uow:
        if link is not None:
            await uow.links.transition(
                link.id, expected=LinkStatus.EXCHANGING.value, status=LinkStatus.FAILED.value,
                at=deps.clock.now(), failure_code=code, drop_secrets=True,
            )  # fmt: skip
        thread = await ensure_system_thread(deps, uow, person_id)
        await post_text(
            deps, uow, thread, text, tone="error", actions=[{"label": "Try again", "href": "/link"}]
        )
        await deps.commit_and_publish(uow)
    log.info("link_failed", code=code, link_id=None if link is None else link.id)
    return LinkFlowError(text, code=code)


async def _claim(
    deps: Deps, grant: Grant, state: str | None
) -> tuple[LinkRecord | None, bool, dict[str, object]]:
    """Find the person's link by `state` and claim it (pending -> exchanging) in one
    conditional UPDATE, before anything is sent to the bank: of two callbacks for the same
    state exactly one wins, and only the winner opens the PKCE verifier and exchanges the
    code. Returns the link (None: not this person's), whether this call claimed it, and the
    opened flow secrets (only when claimed)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.by_state(state) if state else None
        if link is None or link.person_id != grant.person_id:
            return None, False, {}
        claimed = link.status == LinkStatus.PENDING.value and await uow.links.transition(
            link.id, expected=LinkStatus.PENDING.value, status=LinkStatus.EXCHANGING.value, at=now
        )
        fresh = await uow.links.get(link.id)  # as it is now (another callback may have won)
        assert fresh is not None
        if not claimed:
            return fresh, False, {}
        secrets_ = await access.open_link_secrets(
            deps.vault, uow, grant, Purpose.SYNC_WITH_BANK, fresh, at=now
        )
        await uow.commit()
    return fresh, True, secrets_


async def _finished_thread(deps: Deps, link: LinkRecord) -> str | None:
    """The thread a finished consent flow lives on in: its own link's, or for a completed
    renewal the renewed link's (when the person has exactly one link with that bank)."""
    async with deps.uow(readonly=True) as uow:
        target: LinkRecord | None = link
        if link.status == LinkStatus.FAILED.value and link.failure_code == RENEWAL_COMPLETED:
            same_bank = [
                other for other in await uow.links.for_person(link.person_id)
                if other.partner_id == link.partner_id and other.id != link.id
                and other.status in (LinkStatus.ACTIVE.value, LinkStatus.EXPIRED.value)
            ]  # fmt: skip
            target = same_bank[0] if len(same_bank) == 1 else None
        thread = None if target is None else await uow.threads.for_link(target.id)
    return None if thread is None else thread.id


async def _not_claimed(deps: Deps, grant: Grant, link: LinkRecord) -> str:
    """A callback for a link this call did not claim. Another callback is exchanging its code:
    wait for it and show the thread it opens. A finished one: "already complete", with the way
    to its thread. Nothing is sent to the bank: the code was or is being used."""
    waited = False
    for _ in range(CLAIM_WAIT_STEPS):
        if link.status != LinkStatus.EXCHANGING.value:
            break
        if deps.clock.now() - link.updated_at > CONSENT_FLOW_TTL:  # its callback died mid-way
            raise LinkFlowError("that consent flow broke off; please start again", code="link_flow_expired")
        await asyncio.sleep(CLAIM_WAIT_SECONDS)
        waited = True
        async with deps.uow(readonly=True) as uow:
            fresh = await uow.links.get(link.id)
        assert fresh is not None
        link = fresh
    if link.status in (LinkStatus.PENDING.value, LinkStatus.EXCHANGING.value):
        raise Conflict("this bank link is still being completed", code="link_in_progress")
    thread_id = await _finished_thread(deps, link)
    if waited and link.status == LinkStatus.ACTIVE.value and thread_id is not None:
        return thread_id  # the other callback completed it just now: show its thread
    if link.status == LinkStatus.FAILED.value and link.failure_code != RENEWAL_COMPLETED:
        if waited:  # the other callback failed and has explained why in the system thread
            raise LinkFlowError("the bank link did not complete", code="link_failed")
        raise await _fail(
            deps,
            None,
            grant.person_id,
            "link_state_used",
            "That bank link was already used and did not complete. Nothing was changed.",
        )
    raise LinkAlreadyComplete(thread_id)


async def complete_link(
    deps: Deps,
    grant: Grant,
    *,
    state: str | None,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
) -> str:
    """Handle the bank's redirect back. Returns the id of the bank's thread.

    Raises `LinkAlreadyComplete` (with the thread) for a callback of a flow that already
    finished, and `LinkFlowError` for one that cannot complete."""
    now = deps.clock.now()
    link, claimed, secrets_ = await _claim(deps, grant, state)
    if link is None:
        raise await _fail(
            deps,
            None,
            grant.person_id,
            "link_state_unknown",
            "That bank link could not be completed: the request did not come from a "
            "link you started here. Nothing was linked. Please start again.",
        )
    if not claimed:
        return await _not_claimed(deps, grant, link)
    try:
        return await _exchange(deps, grant, link, secrets_, now=now, code=code, error=error)
    except LinkFlowError:
        raise
    except BaseException:
        # Whatever broke after the claim (a database error, a cancelled request) must not
        # leave the flow claimed for ever; a link that became active is left as it is.
        async with deps.uow() as uow:
            await uow.links.transition(
                link.id, expected=LinkStatus.EXCHANGING.value, status=LinkStatus.FAILED.value,
                at=deps.clock.now(), failure_code="link_broke_off", drop_secrets=True,
            )  # fmt: skip
            await uow.commit()
        raise


async def _exchange(
    deps: Deps,
    grant: Grant,
    link: LinkRecord,
    secrets_: dict[str, object],
    *,
    now: datetime,
    code: str | None,
    error: str | None,
) -> str:
    """The claimed flow: check it, exchange the code, read the accounts, write the link."""
    if now - link.created_at > CONSENT_FLOW_TTL:
        raise await _fail(
            deps,
            link,
            grant.person_id,
            "link_flow_expired",
            "The bank consent took too long and expired. Nothing was linked. Please start again.",
        )
    if error:
        denied = error == "access_denied"
        raise await _fail(
            deps,
            link,
            grant.person_id,
            "consent_denied" if denied else "bank_refused",
            "You declined the consent at your bank, so nothing was linked."
            if denied
            else "Your bank refused the link request. Nothing was linked. Please try again later.",
        )
    if not code:
        raise await _fail(
            deps,
            link,
            grant.person_id,
            "missing_code",
            "The bank did not send an authorization code. Nothing was linked.",
        )
    connector = deps.banks.connector(link.partner_id)
    try:
        tokens = await connector.exchange_code(
            code=code, code_verifier=str(secrets_["code_verifier"]), redirect_uri=callback_url(deps)
        )
        accounts = await connector.accounts(access_token=tokens.access_token)
        balances: dict[str, BankBalance] = {}
        if Scope.BALANCES in tokens.scopes:
            for info in accounts:
                balances[info.bank_account_id] = await connector.balance(
                    access_token=tokens.access_token, bank_account_id=info.bank_account_id
                )
    except BankError as exc:
        raise await _fail(
            deps,
            link,
            grant.person_id,
            exc.code,
            "Your bank did not accept the link (the authorization was invalid, reused or "
            "expired). Nothing was linked. Please start again.",
        ) from None
    if not accounts:
        raise await _fail(
            deps,
            link,
            grant.person_id,
            "no_accounts",
            "No accounts were shared in the consent, so nothing was linked.",
        )
    renews = secrets_.get("renews")
    if isinstance(renews, str):
        thread_id = await renew_link(deps, grant, link, renews, tokens, accounts, balances)
    else:
        thread_id = await activate_link(deps, grant, link, tokens, accounts, balances)
    try:
        async with deps.uow() as uow:
            partner = await uow.partners.get(link.partner_id)
        assert partner is not None
        await connector.subscribe_events(
            access_token=tokens.access_token, callback_url=events_url(deps, partner.slug)
        )
    except BankError as exc:
        # Not fatal: cursor sync still brings every change, only later.
        log.warning("event_subscription_failed", link_id=link.id, code=exc.code)
    return thread_id


async def unlink(deps: Deps, grant: Grant, *, link_id: str) -> None:
    """The person ends a link: revoke at the bank, stop deliveries, say so in the thread."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.get(link_id)
        if link is None or link.person_id != grant.person_id:
            raise NotFound("link not found")
        if link.status != LinkStatus.ACTIVE.value:
            raise Conflict("this link is not active", code="link_not_active")
        secrets_ = await access.open_link_secrets(
            deps.vault, uow, grant, Purpose.SYNC_WITH_BANK, link, at=now
        )
        await uow.commit()
    connector = deps.banks.connector(link.partner_id)
    revoked_at_bank = True
    for key in ("refresh_token", "access_token"):
        token = secrets_.get(key)
        if isinstance(token, str):
            try:
                await connector.revoke(token=token)
            except BankError as exc:
                revoked_at_bank = False
                log.warning("bank_revoke_failed", link_id=link_id, code=exc.code)
    await end_link(
        deps,
        link_id=link_id,
        by="person",
        text="You unlinked this bank. Its access has been revoked and no more updates will arrive here."
        if revoked_at_bank
        else "You unlinked this bank. No more updates will arrive here. (The bank could "
        "not be reached to confirm the revocation; its token is deleted here.)",
    )

"""Linking a bank, as the person does it: consent (OAuth code flow with PKCE), the bank's
redirect back, and unlinking.

What a completed consent writes is `linking.activation`; how a link ends, `linking.ending`.
Network calls to the bank happen between units of work, never inside one.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import structlog

from ledgerlink.domain.banking import LinkStatus, Scope
from ledgerlink.domain.errors import Conflict, DomainError, NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking.activation import activate_link, renew_link
from ledgerlink.services.linking.ending import end_link
from ledgerlink.services.linking.ports import BankBalance, BankError, LinkRecord
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text

log = structlog.get_logger(__name__)

DEFAULT_SCOPES = (Scope.BALANCES, Scope.TRANSACTIONS, Scope.ALERTS)
CONSENT_FLOW_TTL = timedelta(minutes=15)


class LinkFlowError(DomainError):
    code = "link_failed"
    status = 400


def callback_url(deps: Deps) -> str:
    return f"{deps.public_url.rstrip('/')}/link/callback"


def events_url(deps: Deps, partner_slug: str) -> str:
    return f"{deps.public_url.rstrip('/')}/partners/{partner_slug}/events"


async def start_link(deps: Deps, grant: Grant, *, partner_id: str, renews: str | None = None) -> str:
    """Create a pending link and return the bank's consent URL for the person's browser.

    With `renews`, the new consent replaces the one of that (active or expired) link when it
    completes: same link, same thread, same account and transaction ids."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        if renews is not None:
            old = await uow.links.get(renews)
            if old is None or old.person_id != grant.person_id:
                raise NotFound("link not found")
            if old.status not in (LinkStatus.ACTIVE.value, LinkStatus.EXPIRED.value):
                raise Conflict("only an active or expired link can be renewed", code="link_not_renewable")
            partner_id = old.partner_id
        partner = await uow.partners.get(partner_id)
        if partner is None or partner.kind != "bank":
            raise NotFound("bank not found", code="bank_not_found")
        connector = deps.banks.connector(partner_id)
        state = secrets.token_urlsafe(32)
        request = connector.authorization_request(
            redirect_uri=callback_url(deps), scopes=DEFAULT_SCOPES, state=state
        )
        link = LinkRecord(
            id=new_id("lnk"),
            person_id=grant.person_id,
            partner_id=partner_id,
            status=LinkStatus.PENDING.value,
            scopes=[s.value for s in DEFAULT_SCOPES],
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
    """Record the failure, explain it in the system thread, and return the error to raise."""
    async with deps.uow() as uow:
        if link is not None and link.status == LinkStatus.PENDING.value:
            link.status = LinkStatus.FAILED.value
            link.failure_code = code
            link.updated_at = deps.clock.now()
            link.sealed_secrets = None
            await uow.links.update(link)
        thread = await ensure_system_thread(deps, uow, person_id)
        await post_text(
            deps, uow, thread, text, tone="error", actions=[{"label": "Try again", "href": "/link"}]
        )
        await deps.commit_and_publish(uow)
    log.info("link_failed", code=code, link_id=None if link is None else link.id)
    return LinkFlowError(text, code=code)


async def complete_link(
    deps: Deps,
    grant: Grant,
    *,
    state: str | None,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
) -> str:
    """Handle the bank's redirect back. Returns the id of the bank's thread."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.by_state(state) if state else None
        secrets_: dict[str, object] = {}
        if link is not None and link.person_id == grant.person_id:
            secrets_ = await access.open_link_secrets(
                deps.vault, uow, grant, Purpose.SYNC_WITH_BANK, link, at=now
            )
            await uow.commit()
    if link is None or link.person_id != grant.person_id:
        raise await _fail(
            deps,
            None,
            grant.person_id,
            "link_state_unknown",
            "That bank link could not be completed: the request did not come from a "
            "link you started here. Nothing was linked. Please start again.",
        )
    if link.status != LinkStatus.PENDING.value:
        raise await _fail(
            deps,
            None,
            grant.person_id,
            "link_state_used",
            "That bank link was already completed or cancelled. Nothing was changed.",
        )
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

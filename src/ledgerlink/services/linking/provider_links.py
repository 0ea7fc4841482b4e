"""Linking through a bank-data provider (docs/providers.md): SimpleFIN by a pasted setup token,
Enable Banking (bank choice -> redirect -> callback -> session) and GoCardless (institution ->
agreement -> requisition -> callback).

What a provider's consent writes is the same as an OAuth bank's (`linking.activation`): the
credential is sealed as the link's access token, the consent's end (Enable Banking session,
GoCardless agreement) is the link's `expires_at`, so the 7-day expiry warning and Renew work
unchanged. A renewal folds the new consent into the same link: the provider's account and
transaction ids are stable, so accounts and history stay one row each. The superseded
credential is then ended at the provider. Network calls happen between units of work.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta

import structlog

from ledgerlink.domain.banking import LinkStatus, Scope
from ledgerlink.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.linking import links
from ledgerlink.services.linking.activation import activate_link, renew_link
from ledgerlink.services.linking.ports import BankAccountInfo, BankBalance, LinkRecord, TokenSet
from ledgerlink.services.linking.provider_ports import (
    Institution,
    ProviderConnector,
    ProviderError,
    ProviderLink,
    SetupTokenRejected,
    provider_of,
)

__all__ = ["CHOOSABLE_SCOPES", "callback_url", "chosen_scopes", "complete", "institutions",
           "link_setup_token", "provider_for", "setup_token_page", "start"]

log = structlog.get_logger(__name__)

CHOOSABLE_SCOPES = links.CHOOSABLE_SCOPES
chosen_scopes = links.chosen_scopes


def callback_url(deps: Deps, slug: str) -> str:
    return f"{deps.public_url.rstrip('/')}/link/{slug}/callback"


async def provider_for(deps: Deps, partner_id: str) -> tuple[PartnerRecord, ProviderConnector]:
    async with deps.uow(readonly=True) as uow:
        partner = await uow.partners.get(partner_id)
    provider = None if partner is None else provider_of(deps.banks.connector(partner.id))
    if partner is None or provider is None:
        raise NotFound("provider not found", code="bank_not_found")
    return partner, provider


async def institutions(deps: Deps, *, partner_id: str, country: str) -> list[Institution]:
    _, provider = await provider_for(deps, partner_id)
    return await provider.institutions(country=country)


async def setup_token_page(deps: Deps, *, partner_id: str) -> str:
    """Where the person gets a setup token (SimpleFIN: the Bridge's create page)."""
    _, provider = await provider_for(deps, partner_id)
    started = await provider.start_link(state="page", redirect_url="", institution_id=None, scopes=(),
                                        valid_for=timedelta(0))
    return started.redirect_url


async def _check_renews(deps: Deps, grant: Grant, partner_id: str, renews: str | None) -> None:
    if renews is None:
        return
    async with deps.uow(readonly=True) as uow:
        old = await uow.links.get(renews)
    if old is None or old.person_id != grant.person_id or old.partner_id != partner_id:
        raise NotFound("link not found")
    if old.status not in (LinkStatus.ACTIVE.value, LinkStatus.EXPIRED.value):
        raise Conflict("only an active or expired link can be renewed", code="link_not_renewable")


async def _new_link(deps: Deps, grant: Grant, partner_id: str, scopes: Sequence[Scope], *, status: str,
                    flow: dict[str, object], state: str | None = None) -> LinkRecord:
    now = deps.clock.now()
    link = LinkRecord(id=new_id("lnk"), person_id=grant.person_id, partner_id=partner_id, status=status,
                      scopes=[s.value for s in scopes], state=state or secrets.token_urlsafe(32),
                      sealed_secrets=None, bank_consent_id=None, created_at=now, updated_at=now)
    async with deps.uow() as uow:
        await access.seal_link_secrets(deps.vault, uow, link, flow)
        await uow.links.add(link)
        await uow.commit()
    return link


async def start(deps: Deps, grant: Grant, *, partner_id: str, institution_id: str | None,
                scopes: Sequence[Scope], renews: str | None = None) -> str:
    """A redirect provider's link: the pending link (its sealed flow) and the bank's URL."""
    partner, provider = await provider_for(deps, partner_id)
    await _check_renews(deps, grant, partner_id, renews)
    if not institution_id:
        raise InvalidInput("choose your bank", code="institution_required")
    state = secrets.token_urlsafe(32)
    started = await provider.start_link(
        state=state, redirect_url=callback_url(deps, partner.slug), institution_id=institution_id,
        scopes=scopes, valid_for=timedelta(days=deps.link_duration_days))
    flow: dict[str, object] = {"provider_pending": base64.b64encode(started.pending).decode()}
    if renews is not None:
        flow["renews"] = renews
    link = await _new_link(deps, grant, partner_id, scopes, status=LinkStatus.PENDING.value, flow=flow,
                           state=state)
    log.info("provider_link_started", link_id=link.id, provider=provider.provider)
    return started.redirect_url


async def link_setup_token(deps: Deps, grant: Grant, *, partner_id: str, token: str,
                           scopes: Sequence[Scope], renews: str | None = None) -> str:
    """SimpleFIN: claim the pasted setup token and link. Returns the bank thread's id."""
    partner, provider = await provider_for(deps, partner_id)
    await _check_renews(deps, grant, partner_id, renews)
    started = await provider.start_link(state=secrets.token_urlsafe(16), redirect_url="",
                                        institution_id=None, scopes=scopes, valid_for=timedelta(0))
    link = await _new_link(deps, grant, partner_id, scopes, status=LinkStatus.EXCHANGING.value, flow={})
    try:
        plink = await provider.finish_link(pending=started.pending, answer={"setup_token": token})
    except (ProviderError, InvalidInput) as exc:
        raise await links._fail(deps, link, grant.person_id, exc.code, _explain(partner, exc)) from None
    return await _activate(deps, grant, link, partner, provider, plink, renews)


async def complete(deps: Deps, grant: Grant, *, answer: Mapping[str, str]) -> str:
    """The provider's redirect back (Enable Banking: state, code; GoCardless: ref)."""
    state = answer.get("state") or answer.get("ref")
    link, claimed, flow = await links._claim(deps, grant, state)
    if link is None:
        raise await links._fail(
            deps, None, grant.person_id, "link_state_unknown",
            "That bank link could not be completed: the request did not come from a link you "
            "started here. Nothing was linked. Please start again.")
    if not claimed:
        return await links._not_claimed(deps, grant, link)
    partner, provider = await provider_for(deps, link.partner_id)
    try:
        if deps.clock.now() - link.created_at > links.CONSENT_FLOW_TTL:
            raise await links._fail(deps, link, grant.person_id, "link_flow_expired",
                                    "The bank consent took too long and expired. Nothing was "
                                    "linked. Please start again.")
        pending = base64.b64decode(str(flow.get("provider_pending", "")))
        try:
            plink = await provider.finish_link(pending=pending, answer=dict(answer))
        except (ProviderError, InvalidInput) as exc:
            raise await links._fail(deps, link, grant.person_id, exc.code, _explain(partner, exc)) from None
        renews = flow.get("renews")
        return await _activate(deps, grant, link, partner, provider, plink,
                               renews if isinstance(renews, str) else None)
    except DomainError:
        raise
    except BaseException:
        async with deps.uow() as uow:  # never leave the flow claimed for ever
            await uow.links.transition(link.id, expected=LinkStatus.EXCHANGING.value,
                                       status=LinkStatus.FAILED.value, at=deps.clock.now(),
                                       failure_code="link_broke_off", drop_secrets=True)
            await uow.commit()
        raise


def _explain(partner: PartnerRecord, exc: DomainError) -> str:
    if isinstance(exc, SetupTokenRejected):
        return ("SimpleFIN says this setup token was already claimed or does not exist. If you did "
                "not claim it, someone else may have: disable it at the Bridge and create a new one.")
    if isinstance(exc, InvalidInput):
        return f"That is not a usable setup token: {exc.detail}. Nothing was linked."
    if exc.code == "consent_declined":
        return "You declined the consent at your bank, so nothing was linked."
    return (f"{partner.name} did not complete the link ({exc.code}). Nothing was linked. "
            "Please try again later.")


async def _activate(deps: Deps, grant: Grant, link: LinkRecord, partner: PartnerRecord,
                    provider: ProviderConnector, plink: ProviderLink, renews: str | None) -> str:
    asked = {Scope(s) for s in link.scopes}
    granted = tuple(s for s in CHOOSABLE_SCOPES if s in asked and (s in plink.scopes or s is Scope.ALERTS))
    if not plink.accounts:
        raise await links._fail(deps, link, grant.person_id, "no_accounts",
                                "No accounts were shared in the consent, so nothing was linked.")
    tokens = TokenSet(access_token=plink.credential.decode(), refresh_token=None, expires_at=None,
                      scopes=granted, consent_id=None, consent_expires_at=plink.valid_until)
    accounts = [BankAccountInfo(bank_account_id=a.account_id, name=a.name, type=a.type,
                                currency=a.currency, last4=a.last4) for a in plink.accounts]
    balances: dict[str, BankBalance] = {}  # the first refresh brings them (one request on SimpleFIN)
    if renews is None:
        return await activate_link(deps, grant, link, tokens, accounts, balances)
    async with deps.uow() as uow:
        old = await uow.links.get(renews)
        assert old is not None
        old_secrets = await access.open_link_secrets(deps.vault, uow, grant, Purpose.SYNC_WITH_BANK, old,
                                                     at=deps.clock.now())
        await uow.commit()
    thread_id = await renew_link(deps, grant, link, renews, tokens, accounts, balances)
    superseded = old_secrets.get("access_token")
    if isinstance(superseded, str) and superseded != tokens.access_token:
        try:
            await provider.revoke(credential=superseded.encode())
        except (ProviderError, InvalidInput) as exc:
            log.warning("old_provider_consent_revoke_failed", link_id=renews, code=exc.code)
    return thread_id

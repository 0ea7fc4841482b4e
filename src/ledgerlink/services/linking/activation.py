"""A completed consent written down, after the bank said yes: a new link activated (thread,
accounts, first balances, consent receipt, balance cards) or the link it renews updated in
place (same link, thread, accounts and history; accounts newly shared are added).

The consent flow itself (the redirect to the bank and back) is `linking.links`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from babel import Locale
from babel.numbers import format_decimal

from ledgerlink.domain import locale_text
from ledgerlink.domain.banking import LinkStatus, Scope
from ledgerlink.domain.cards import balance_card
from ledgerlink.domain.chat import CardKind, ThreadKind
from ledgerlink.domain.errors import Conflict
from ledgerlink.domain.events import AccountSyncRequested, LinkActivated
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.zones import tz
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.linking import consent_receipts
from ledgerlink.services.linking.ports import BankAccountInfo, BankBalance, BankError, LinkRecord, TokenSet
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.messenger import post_text
from ledgerlink.services.messaging.ports import ThreadRecord

log = structlog.get_logger(__name__)

RENEWAL_COMPLETED = "renewal_completed"  # the failure code of a renewal flow that did renew


def linked_text(bank: str, accounts: int, valid_until: datetime, zone: str | None, *,
                locale: str = locale_text.LOCALE) -> str:
    """The first words of a bank thread: how many accounts, with the locale's plural ("1 account",
    "2 accounts"), and the consent's last day on the person's calendar (their IANA zone, UTC
    before they chose one), as the locale writes dates."""
    many = Locale.parse(locale).plural_form(accounts) != "one"
    shared = f"{format_decimal(accounts, locale=locale)} account{'s' if many else ''}"
    until = locale_text.day(valid_until.astimezone(tz(zone or "UTC")).date(), locale=locale)
    return (f"{bank} is linked. {shared} shared; consent valid until {until}. Balances and "
            "transactions will appear here as they happen.")


async def activate_link(
    deps: Deps,
    grant: Grant,
    link: LinkRecord,
    tokens: TokenSet,
    accounts: list[BankAccountInfo],
    balances: dict[str, BankBalance],
) -> str:
    now = deps.clock.now()
    async with deps.uow() as uow:
        # Only the callback that claimed the flow gets here; the compare-and-set keeps even a
        # stray second writer from activating (or overwriting) it twice.
        if not await uow.links.transition(
            link.id, expected=LinkStatus.EXCHANGING.value, status=LinkStatus.ACTIVE.value, at=now
        ):
            raise Conflict("this link was completed in another tab", code="link_state_used")
        fresh = await uow.links.get(link.id)
        assert fresh is not None
        link = fresh
        link.scopes = [s.value for s in tokens.scopes]
        # `state` stays: a replayed callback then finds the link and says it is complete.
        link.bank_consent_id = tokens.consent_id
        link.expires_at = tokens.consent_expires_at or now + timedelta(days=deps.link_duration_days)
        link.updated_at = now
        await access.store_bank_tokens(
            deps.vault, uow, link, access_token=tokens.access_token,
            refresh_token=tokens.refresh_token, expires_at=tokens.expires_at,
        )  # fmt: skip
        await uow.links.update(link)
        partner = await uow.partners.get(link.partner_id)
        assert partner is not None
        thread = ThreadRecord(
            id=new_id("thr"),
            person_id=link.person_id,
            kind=ThreadKind.BANK.value,
            title=partner.name,
            partner_id=partner.id,
            link_id=link.id,
            created_at=now,
            last_rev=0,
            last_seq=0,
        )
        await uow.threads.add(thread)
        person = await uow.persons.get(link.person_id)
        zone = None if person is None else person.zone
        await post_text(
            deps,
            uow,
            thread,
            linked_text(partner.name, len(accounts), link.expires_at, zone),
            tone="success",
        )
        component = Grant.for_component(link.person_id, "linking")
        for info in accounts:
            record = await access.create_account(
                deps.vault,
                uow,
                person_id=link.person_id,
                link_id=link.id,
                partner_id=partner.id,
                info=info,
                at=now,
            )
            if info.bank_account_id in balances:
                await access.store_balance(deps.vault, uow, record, balances[info.bank_account_id])
            uow.events.append(AccountSyncRequested(account_id=record.id))
        views = await access.read_accounts(
            deps.vault, uow, component, Purpose.DELIVER_UPDATE, at=now, link_id=link.id
        )
        await consent_receipts.issue(deps, uow, link, partner, views)
        for view in views:
            await outgoing.put_card(
                deps,
                uow,
                component,
                thread,
                CardKind.BALANCE,
                balance_card(view, shared=Scope.BALANCES.value in link.scopes),
                subject_key=f"balance:{view.id}",
            )
        uow.events.append(LinkActivated(person_id=link.person_id, link_id=link.id))
        await deps.commit_and_publish(uow)
    log.info("link_activated", link_id=link.id, accounts=len(accounts))
    return thread.id


async def renew_link(
    deps: Deps,
    grant: Grant,
    pending: LinkRecord,
    link_id: str,
    tokens: TokenSet,
    accounts: list[BankAccountInfo],
    balances: dict[str, BankBalance],
) -> str:
    """Fold a completed consent flow into the link it renews: new tokens and expiry, the same
    link, thread, accounts and history; accounts newly shared are added."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        link = await uow.links.get(link_id)
        if link is None or not await uow.links.transition(
            pending.id, expected=LinkStatus.EXCHANGING.value, status=LinkStatus.FAILED.value, at=now
        ):
            raise Conflict("this link was completed in another tab", code="link_state_used")
        fresh = await uow.links.get(pending.id)
        assert fresh is not None
        old_secrets = await access.open_link_secrets(
            deps.vault, uow, grant, Purpose.SYNC_WITH_BANK, link, at=now
        )
        fresh.status = LinkStatus.FAILED.value  # the flow lives on in the renewed link
        fresh.failure_code = RENEWAL_COMPLETED
        fresh.sealed_secrets = None  # `state` stays, so a replayed callback is told it is done
        fresh.updated_at = now
        await uow.links.update(fresh)
        link.status = LinkStatus.ACTIVE.value
        link.scopes = [s.value for s in tokens.scopes]
        link.bank_consent_id = tokens.consent_id
        link.expires_at = tokens.consent_expires_at or now + timedelta(days=deps.link_duration_days)
        link.revoked_at = None
        link.revoked_by = None
        link.updated_at = now
        await access.store_bank_tokens(
            deps.vault, uow, link, access_token=tokens.access_token,
            refresh_token=tokens.refresh_token, expires_at=tokens.expires_at,
        )  # fmt: skip
        await uow.links.update(link)
        partner = await uow.partners.get(link.partner_id)
        thread = await uow.threads.for_link(link.id)
        assert partner is not None and thread is not None
        known = {a.bank_account_id: a for a in await uow.accounts.for_link(link.id)}
        for info in accounts:
            record = known.get(info.bank_account_id)
            if record is None:
                record = await access.create_account(
                    deps.vault, uow, person_id=link.person_id, link_id=link.id, partner_id=partner.id,
                    info=info, at=now,
                )
            if info.bank_account_id in balances:
                await access.store_balance(deps.vault, uow, record, balances[info.bank_account_id])
            uow.events.append(AccountSyncRequested(account_id=record.id))
        component = Grant.for_component(link.person_id, "linking")
        views = await access.read_accounts(deps.vault, uow, component, Purpose.DELIVER_UPDATE, at=now,
                                           link_id=link.id)
        await consent_receipts.issue(deps, uow, link, partner, views)
        await post_text(deps, uow, thread,
                        f"Consent renewed: {partner.name} stays linked until "
                        f"{link.expires_at.date().isoformat()}, with the same accounts and history.",
                        tone="success", subject_key=f"link:renewed:{link.expires_at.date().isoformat()}")
        uow.events.append(LinkActivated(person_id=link.person_id, link_id=link.id))
        await deps.commit_and_publish(uow)
    connector = deps.banks.connector(link.partner_id)
    old_refresh = old_secrets.get("refresh_token")
    if isinstance(old_refresh, str) and old_secrets.get("access_token") != tokens.access_token:
        try:
            await connector.revoke(token=old_refresh)  # the superseded consent ends at the bank
        except BankError as exc:
            log.warning("old_consent_revoke_failed", link_id=link.id, code=exc.code)
    log.info("link_renewed", link_id=link.id)
    return thread.id

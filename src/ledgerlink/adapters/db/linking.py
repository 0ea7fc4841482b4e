"""SQL repositories of linking: links, accounts, consent receipts and link health (see
`LinkRepository`, `AccountRepository`, `ReceiptRepository`, `LinkHealthRepository` in
ledgerlink.services.linking.ports)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from ledgerlink.adapters.db import schema as s
from ledgerlink.adapters.db._repo import _INSERT, _UPDATE, _by, _Remembering, _Repo, _set, _values
from ledgerlink.services.linking.ports import AccountRecord, LinkHealthRecord, LinkRecord, ReceiptRecord

_LINK = _by(s.links, "id")
_ACCOUNT = _by(s.accounts, "id")


class SqlLinks(_Remembering):
    async def add(self, link: LinkRecord) -> None:
        await self._conn.execute(_INSERT["links"], _values(link, s.links))
        self._remember(link.id, link)

    async def get(self, link_id: str) -> LinkRecord | None:
        return await self._remembered(LinkRecord, _LINK, link_id)

    async def by_state(self, state: str) -> LinkRecord | None:
        return await self._one(LinkRecord, select(s.links).where(s.links.c.state == state))

    async def by_consent(self, partner_id: str, bank_consent_id: str) -> LinkRecord | None:
        return await self._one(
            LinkRecord,
            select(s.links)
            .where(s.links.c.partner_id == partner_id, s.links.c.bank_consent_id == bank_consent_id)
            .order_by(s.links.c.created_at.desc()),
        )

    async def for_person(self, person_id: str) -> list[LinkRecord]:
        return await self._many(
            LinkRecord,
            select(s.links).where(s.links.c.person_id == person_id).order_by(s.links.c.created_at),
        )

    async def update(self, link: LinkRecord) -> None:
        await self._conn.execute(_UPDATE["links"], _set(link, s.links))
        self._remember(link.id, link)

    async def transition(
        self, link_id: str, *, expected: str, status: str, at: datetime,
        failure_code: str | None = None, drop_secrets: bool = False,
    ) -> bool:
        lk = s.links
        values: dict[str, object] = {"status": status, "updated_at": at}
        if failure_code is not None:
            values["failure_code"] = failure_code
        if drop_secrets:
            values["sealed_secrets"] = None
        result = await self._conn.execute(
            update(lk).where(lk.c.id == link_id, lk.c.status == expected).values(**values)
        )
        self._seen.pop(link_id, None)  # the next `get` reads the row as it now is
        return bool(result.rowcount)

    async def expiring(self, before: datetime) -> list[LinkRecord]:
        lk = s.links
        return await self._many(
            LinkRecord,
            select(lk).where(lk.c.status == "active", lk.c.expires_at.is_not(None), lk.c.expires_at < before),
        )


class SqlAccounts(_Remembering):
    async def add(self, account: AccountRecord) -> None:
        await self._conn.execute(_INSERT["accounts"], _values(account, s.accounts))
        self._remember(account.id, account)

    async def get(self, account_id: str) -> AccountRecord | None:
        return await self._remembered(AccountRecord, _ACCOUNT, account_id)

    async def by_bank_id(self, partner_id: str, bank_account_id: str) -> list[AccountRecord]:
        return await self._many(
            AccountRecord,
            select(s.accounts).where(
                s.accounts.c.partner_id == partner_id, s.accounts.c.bank_account_id == bank_account_id
            ),
        )

    async def for_link(self, link_id: str) -> list[AccountRecord]:
        return await self._many(
            AccountRecord,
            select(s.accounts).where(s.accounts.c.link_id == link_id).order_by(s.accounts.c.created_at),
        )

    async def for_person(self, person_id: str) -> list[AccountRecord]:
        return await self._many(
            AccountRecord,
            select(s.accounts).where(s.accounts.c.person_id == person_id).order_by(s.accounts.c.created_at),
        )

    async def update(self, account: AccountRecord) -> None:
        await self._conn.execute(_UPDATE["accounts"], _set(account, s.accounts))
        self._remember(account.id, account)

    async def active_ids(self) -> list[str]:
        a, lk = s.accounts, s.links
        stmt = select(a.c.id).join(lk, lk.c.id == a.c.link_id).where(lk.c.status == "active")
        return [row[0] for row in (await self._conn.execute(stmt)).all()]


class SqlReceipts(_Repo):
    """Consent receipts (sealed compact JWS)."""

    async def add(self, receipt: ReceiptRecord) -> None:
        await self._conn.execute(insert(s.consent_receipts).values(**_values(receipt, s.consent_receipts)))

    async def get(self, receipt_id: str) -> ReceiptRecord | None:
        return await self._one(
            ReceiptRecord, select(s.consent_receipts).where(s.consent_receipts.c.id == receipt_id)
        )

    async def for_person(self, person_id: str) -> list[ReceiptRecord]:
        return await self._many(
            ReceiptRecord,
            select(s.consent_receipts)
            .where(s.consent_receipts.c.person_id == person_id)
            .order_by(s.consent_receipts.c.issued_at, s.consent_receipts.c.id),
        )

    async def for_link(self, link_id: str) -> list[ReceiptRecord]:
        return await self._many(
            ReceiptRecord,
            select(s.consent_receipts)
            .where(s.consent_receipts.c.link_id == link_id)
            .order_by(s.consent_receipts.c.issued_at, s.consent_receipts.c.id),
        )


class SqlLinkHealth(_Repo):
    """One row per link whose syncs have failed at least once (codes and times only)."""

    async def get(self, link_id: str) -> LinkHealthRecord | None:
        h = s.link_health
        return await self._one(LinkHealthRecord, select(h).where(h.c.link_id == link_id))

    async def put(self, record: LinkHealthRecord) -> None:
        # Callers hold the link's thread lock, so update-then-insert does not race.
        h = s.link_health
        values = _values(record, h)
        result = await self._conn.execute(update(h).where(h.c.link_id == record.link_id).values(**values))
        if not result.rowcount:
            await self._conn.execute(insert(h).values(**values))

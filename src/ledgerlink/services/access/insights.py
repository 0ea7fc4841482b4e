"""Category corrections and budgets (issue 13): sealed per person; a merchant someone corrects
and what they budget for say what they buy. Read to answer, to deliver or to show them.

Also the insight consumer's blind index (issue 12, ADR 0033): a keyed tag of each transaction's
series (cleaned merchant, currency, direction), so the consumer opens one merchant's rows, not
the whole history.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from ledgerlink.domain.banking import Transaction
from ledgerlink.domain.budgets import Budget
from ledgerlink.domain.categories import Correction, merchant_key
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services.access import accounts as _accounts
from ledgerlink.services.access._gate import _mine, audit
from ledgerlink.services.access.vault import Vault
from ledgerlink.services.ingest.ports import TransactionRecord
from ledgerlink.services.insights.ports import (
    BudgetRecord,
    CorrectionRecord,
    InsightKeyRecord,
    InsightScanRecord,
    InsightTagRecord,
)
from ledgerlink.services.kernel.uow import UnitOfWork

_PURPOSES = frozenset({Purpose.ANSWER_QUESTION, Purpose.DELIVER_UPDATE, Purpose.SHOW_TO_PERSON,
                       Purpose.PERSON_EXPORT})
_CORRECTIONS = "category_corrections"
_BUDGETS = "budgets"
_KEYS = "insight_keys"
# The untagged-row scan (ADR 0033): the whole range daily, else the rows changed after the
# account's mark. The mark trails each scan by IN_FLIGHT: a unit of work stamps a row's
# updated_at from the clock before it commits, and one still open during the scan commits
# within this (else its row waits for the next whole scan, a day at most).
FULL_SCAN_EVERY = timedelta(days=1)
IN_FLIGHT = timedelta(minutes=2)
MARK_STEP = timedelta(seconds=30)


def _check(purpose: Purpose) -> None:
    if purpose not in _PURPOSES:
        raise ValueError(f"corrections and budgets are not read for {purpose.value}")


async def _open_corrections(
    vault: Vault, uow: UnitOfWork, grant: Grant
) -> list[tuple[CorrectionRecord, Correction]]:
    out = []
    for r in await uow.insights.corrections(grant.person_id):
        value = await vault.open(r.person_id, r.sealed, table=_CORRECTIONS, row_id=r.id)
        out.append((r, Correction(str(value["merchant_key"]), Category(value["category"]),
                                  date.fromisoformat(value["said_on"]))))
    return out


async def read_corrections(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> dict[str, Correction]:
    """The grant's corrections by merchant key (the latest word per merchant)."""
    _check(purpose)
    opened = await _open_corrections(vault, uow, grant)
    if opened:
        await audit(uow, grant, purpose, action="read_category_corrections",
                    subject=f"category_corrections:{len(opened)}", at=at)
    return {c.merchant_key: c for _, c in opened}


async def store_correction(
    vault: Vault, uow: UnitOfWork, grant: Grant, correction: Correction, *, at: datetime
) -> None:
    """Keep the person's word about a merchant, replacing what they said before about it."""
    for record, old in await _open_corrections(vault, uow, grant):
        if old.merchant_key == correction.merchant_key:
            await uow.insights.delete_correction(grant.person_id, record.id)
    row_id = new_id("cor")
    value = {"merchant_key": correction.merchant_key, "category": correction.category.value,
             "said_on": correction.said_on.isoformat()}
    sealed = await vault.seal(grant.person_id, value, table=_CORRECTIONS, row_id=row_id)
    await uow.insights.add_correction(CorrectionRecord(row_id, grant.person_id, sealed, at))


async def read_budgets(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, at: datetime
) -> list[Budget]:
    _check(purpose)
    out = []
    for r in await uow.insights.budgets(grant.person_id):
        value = await vault.open(r.person_id, r.sealed, table=_BUDGETS, row_id=r.id)
        out.append(Budget(r.id, Category(value["category"]),
                          Money(Decimal(value["amount"]), str(value["currency"])),
                          r.warned_month, r.warned_level))
    if out:
        await audit(uow, grant, purpose, action="read_budgets", subject=f"budgets:{len(out)}", at=at)
    return out


async def store_budget(
    vault: Vault, uow: UnitOfWork, grant: Grant, *, category: Category, limit: Money, at: datetime
) -> Budget:
    """Set the monthly budget of a category (one per category: a new amount replaces the old,
    and this month's warnings are re-armed)."""
    existing = next((b for b in await read_budgets(vault, uow, grant, Purpose.SHOW_TO_PERSON, at=at)
                     if b.category is category), None)
    row_id = existing.id if existing is not None else new_id("bud")
    value = {"category": category.value, "amount": str(limit.amount), "currency": limit.currency}
    sealed = await vault.seal(grant.person_id, value, table=_BUDGETS, row_id=row_id)
    await uow.insights.put_budget(BudgetRecord(row_id, grant.person_id, sealed, None, 0, at))
    return Budget(row_id, category, limit)


# --------------------------------------------------------------------------- merchant tags (ADR 0033)


class SeriesTags:
    """Keyed tags (HMAC-SHA256 under the person's insight key) of a transaction's series: the
    same cleaned merchant, currency and direction give the same tag for this person, and a tag
    says nothing about the merchant without the key. Another person's tags differ."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "SeriesTags(<key>)"

    def of(self, txn: Transaction) -> str:
        """As `recurring.series` groups activities: merchant key, currency, money in or out."""
        return self._mac(f"series\x00{self._series(txn)}")

    def amount_of(self, txn: Transaction, *, minor: int | None = None) -> str:
        """The row's amount within its series (`minor`: another amount of the same series, e.g.
        0): equal amounts in one series give equal tags, and a tag says nothing about the amount
        without the key. Rules compare amounts by it without opening rows (ADR 0033)."""
        size = abs(txn.amount.minor if minor is None else minor)
        return self._mac(f"amount\x00{self._series(txn)}\x00{size}")

    @staticmethod
    def _series(txn: Transaction) -> str:
        key = merchant_key(txn.merchant, txn.descriptor)
        direction = "in" if txn.amount.amount > 0 else "out"
        return f"{key}\x00{txn.amount.currency}\x00{direction}"

    def _mac(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()


async def series_tags(vault: Vault, uow: UnitOfWork, person_id: str, *, at: datetime) -> SeriesTags:
    """The person's tag key, made on first use."""
    record = await uow.insights.tag_key(person_id)
    if record is None:
        key = secrets.token_bytes(32)
        sealed = await vault.seal(person_id, {"key": base64.b64encode(key).decode()}, table=_KEYS,
                                  row_id=person_id)
        if await uow.insights.add_tag_key(InsightKeyRecord(person_id, sealed, at)):
            return SeriesTags(key)
        record = await uow.insights.tag_key(person_id)  # a concurrent first use won
        if record is None:  # pragma: no cover - the winner's row is visible once it committed
            raise RuntimeError("the insight key row vanished")
    value = await vault.open(person_id, record.sealed, table=_KEYS, row_id=person_id)
    return SeriesTags(base64.b64decode(value["key"]))


async def open_transactions(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, records: Sequence[TransactionRecord],
    *, account_id: str, at: datetime,
) -> list[Transaction]:
    """Open rows of one of the grant's accounts that the caller selected by their tags (one
    audit entry; none when there is nothing to open)."""
    _check(purpose)
    for r in records:
        _mine(grant, r.person_id, "transaction")
        if r.account_id != account_id:
            raise ValueError("a row of another account")
    txns = [await _accounts._open_txn(vault, uow, r) for r in records]
    if txns:
        await audit(uow, grant, purpose, action="read_transactions",
                    subject=f"account:{account_id} transactions:{len(txns)}", at=at)
    return txns


async def tag_transactions(
    vault: Vault, uow: UnitOfWork, grant: Grant, purpose: Purpose, *, account_id: str, start: date, end: date,
    tags: SeriesTags, opened: Sequence[Transaction] = (), at: datetime,
) -> None:
    """Tag every row of the account dated in [start, end] that has no tag or a stale one (the
    first time and daily: the whole range; in between, of the rows changed since the account's
    scan mark, which trails the scan by `IN_FLIGHT`, so a row a concurrent unit of work changed
    but had not committed yet is still read next time). Rows in `opened` are not opened again."""
    mark = await uow.insights.scan_mark(account_id)
    full = mark is None or not timedelta(0) <= at - mark.full_at < FULL_SCAN_EVERY  # a clock set back too
    stale = await uow.insights.untagged(account_id, start, end, since=None if full or mark is None
                                        else mark.through)
    through = at - IN_FLIGHT
    if full or mark is None:
        await uow.insights.put_scan_mark(InsightScanRecord(account_id, grant.person_id, through, at))
    elif through - mark.through >= MARK_STEP:  # the mark moves a step at a time, not every scan
        moved = InsightScanRecord(account_id, grant.person_id, through, mark.full_at)
        await uow.insights.put_scan_mark(moved)
    if not stale:
        return
    as_stored = {r.id: r.updated_at for r in stale}
    fresh = [t for t in opened if t.id in as_stored and as_stored[t.id] == t.updated_at]
    done = {t.id for t in fresh}
    rest = [r for r in stale if r.id not in done]
    txns = [*fresh, *await open_transactions(vault, uow, grant, purpose, rest, account_id=account_id, at=at)]
    await uow.insights.put_tags([InsightTagRecord(t.id, t.person_id, t.account_id, tags.of(t), t.updated_at,
                                                  tags.amount_of(t)) for t in txns])

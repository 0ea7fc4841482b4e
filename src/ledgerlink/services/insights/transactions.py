"""One transaction as the person opens it from its card (issue 13, "Tap a transaction"): the
merchant, its category and why, the account with its bank, the pending -> posted history, the
person's note; and the two things they can change there: the category (a correction for the
merchant, so past and future purchases follow) and the note.

Every read goes through `access` with purpose `show_to_person` (audited); another person's
transaction is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.answer_text import categorised
from ledgerlink.domain.banking import Transaction, TransactionStatus
from ledgerlink.domain.cards import account_label
from ledgerlink.domain.categories import Categorised, Correction, Source, merchant_key
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.questions import day_of, merchant_of
from ledgerlink.domain.text import displayable
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps

__all__ = ["CHOICES", "MAX_NOTE", "Detail", "Step", "corrected_category", "corrections", "detail", "explain",
           "set_category", "set_note"]

PURPOSE = Purpose.SHOW_TO_PERSON
MAX_NOTE = 500
# What a person may file a purchase under (Income and Other are what is left, not a choice).
CHOICES = tuple(c for c in Category if c not in (Category.INCOME, Category.OTHER))
_STATES = {"pending": "Pending", "posted": "Posted", "removed": "Cancelled"}
_STEP = re.compile(r"^(pending|posted|removed)->(pending|posted|removed)$")
_AMOUNT = re.compile(r"^amount (-?\d+(?:\.\d+)?) ([A-Z]{3})->(-?\d+(?:\.\d+)?) ([A-Z]{3})$")


@dataclass(frozen=True, slots=True)
class Step:
    label: str  # "Pending", "Posted", "Amount changed from $12.00 to $14.40"
    when: datetime | None  # known for the first sighting and the latest change only


@dataclass(slots=True)
class Detail:
    id: str
    merchant: str
    descriptor: str
    amount: Money
    amount_text: str  # signed, with a true minus sign: "+$2,400.00"
    status: str
    status_label: str
    day: str
    category: Category
    reason: str  # "Groceries: MCC 5411 (Groceries and supermarkets)"
    corrected: bool  # the category is the person's word
    account: str  # "Everyday Checking ••1234"
    bank: str
    note: str
    steps: list[Step] = field(default_factory=list)


def explain(c: Categorised) -> str:
    """`Categorised.explain`, the day the person said so in the messenger's locale."""
    if c.reason.source is Source.CORRECTION and c.reason.said_on is not None:
        return f"{c.category.value}: you said so on {fmt.day(c.reason.said_on)}"
    return c.explain()


def _steps(txn: Transaction) -> list[Step]:
    """The row's life from its history: the first state when first seen, then each change;
    only the latest change has a known time (the row keeps when it last changed)."""
    changes = [h for h in txn.history if _STEP.match(h) or _AMOUNT.match(h)]
    first = next((m.group(1) for h in changes if (m := _STEP.match(h))), txn.status.value)
    steps = [Step(_STATES.get(first, first.title()), txn.created_at)]
    for i, h in enumerate(changes):
        when = txn.updated_at if i == len(changes) - 1 else None
        if (m := _STEP.match(h)) is not None:
            steps.append(Step(_STATES.get(m.group(2), m.group(2).title()), when))
        elif (a := _AMOUNT.match(h)) is not None:
            old, new = Money.parse(a.group(1), a.group(2)), Money.parse(a.group(3), a.group(4))
            steps.append(Step(f"Amount changed from {fmt.money(-old if old.is_negative() else old)} "
                              f"to {fmt.money(-new if new.is_negative() else new)}", when))
    return steps


async def corrections(deps: Deps, grant: Grant) -> dict[str, Correction]:
    """The person's corrections (the thread files its older cards by them too)."""
    async with deps.uow() as uow:
        said = await access.read_corrections(deps.vault, uow, grant, PURPOSE, at=deps.clock.now())
        await uow.commit()
    return said


async def detail(deps: Deps, grant: Grant, txn_id: str) -> Detail:
    """The transaction `txn_id` of the grant's person (NotFound otherwise)."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        txn = await access.read_transaction(deps.vault, uow, grant, PURPOSE, txn_id, at=now)
        account = await access.read_account(deps.vault, uow, grant, PURPOSE, txn.account_id, at=now)
        said = await access.read_corrections(deps.vault, uow, grant, PURPOSE, at=now)
        partner = await uow.partners.get(account.partner_id)
        await uow.commit()  # the audit entries
    c = categorised(txn, said)
    return Detail(
        id=txn.id, merchant=merchant_of(txn), descriptor=txn.descriptor, amount=txn.amount,
        amount_text=fmt.money(txn.amount, signed=True),
        status=txn.status.value, status_label=_STATES.get(txn.status.value, txn.status.value.title()),
        day=fmt.day(day_of(txn)), category=c.category, reason=explain(c),
        corrected=c.reason.source is Source.CORRECTION, account=account_label(account),
        bank=partner.name if partner is not None else "Statement file", note=txn.note or "",
        steps=_steps(txn),
    )


def _choice(text: str) -> Category:
    try:
        chosen = Category(text)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in CHOICES:
        raise InvalidInput(f"\"{text[:40]}\" is not a category you can choose: pick one from the list.",
                           code="bad_category")
    return chosen


async def set_category(deps: Deps, grant: Grant, txn_id: str, category: str) -> tuple[str, int]:
    """File this purchase's merchant under `category`: a correction by merchant key, so every
    purchase there, past and future, follows. Returns (merchant, past purchases that moved)."""
    chosen = _choice(category)
    now = deps.clock.now()
    async with deps.uow() as uow:
        txn = await access.read_transaction(deps.vault, uow, grant, PURPOSE, txn_id, at=now)
        said = await access.read_corrections(deps.vault, uow, grant, PURPOSE, at=now)
        key = categorised(txn, said).merchant_key
        ids = [a.id for a in await uow.accounts.for_person(grant.person_id)]
        start = min(day_of(txn), now.date()).replace(year=now.year - 2)
        txns = await access.read_transactions_between(deps.vault, uow, grant, PURPOSE, account_ids=ids,
                                                      start=start, end=now.date(), at=now, limit=5000)
        mine = [t for t in txns if t.status is not TransactionStatus.REMOVED
                and categorised(t, said).merchant_key == key]
        moved = sum(1 for t in mine if categorised(t, said).category is not chosen)
        await access.store_correction(deps.vault, uow, grant, Correction(key, chosen, now.date()), at=now)
        await deps.commit_and_publish(uow)
    return merchant_of(txn), moved


def _clean_note(text: str) -> str:
    note = displayable(" ".join(str(text).replace("\r", "").split("\n")).strip())
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"A note is at most {MAX_NOTE} characters; this one has {len(note):,}.",
                           code="note_too_long")
    return note


async def set_note(deps: Deps, grant: Grant, txn_id: str, text: str) -> str:
    """Keep the person's note on their transaction (empty clears it). Returns the note kept."""
    note = _clean_note(text)
    async with deps.uow() as uow:
        await access.store_transaction_note(deps.vault, uow, grant, txn_id, note or None, at=deps.clock.now())
        await deps.commit_and_publish(uow)
    return note


def corrected_category(body: dict[str, object], said: dict[str, Correction]) -> str | None:
    """A card's category after the person's corrections (None: the card's own stands)."""
    merchant = body.get("merchant")
    key = merchant_key(str(merchant) if merchant else None, str(body.get("descriptor") or ""))
    found = said.get(key)
    return None if found is None else found.category.value

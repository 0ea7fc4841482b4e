"""Receipt questions in chat (issue 11, docs/receipts.md "Questions"): "where is my parcel",
"what did I buy at Acme in November", "show the receipt for the IKEA purchase".

Answered from the person's own receipts and followed parcels (`receipt_reads`, through the
access layer, purpose answer_question), money in Babel's words and times in the person's zone.
A shop they have no receipt from, or no parcel on its way, gets a sentence saying so: never a
guess at another shop. Registered in `commands.py` right after help (`COMMANDS`), so "the IKEA
purchase" is not taken for a transaction question.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import TypeVar

from babel.dates import format_datetime

from ledgerlink.domain import locale_text as fmt
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.questions import Period, month_end, take_period
from ledgerlink.domain.receipts import LineItem, Receipt
from ledgerlink.domain.tracking import masked
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.ports import ThreadRecord
from ledgerlink.services.questions import answers
from ledgerlink.services.questions import receipt_reads as reads
from ledgerlink.services.receipts.parcels import WORDS

__all__ = ["BOUGHT", "COMMANDS", "PARCELS", "RECEIPT", "built", "shop_of"]

Reply = tuple[str, list[dict[str, str]]]
Handler = Callable[[Deps, Grant, ThreadRecord, "re.Match[str]"], Awaitable[Reply]]
T = TypeVar("T")
SHOWN = 10  # receipts listed in one answer; the rest counted
LOOKBACK_DAYS = 90  # payments looked at to name a shop without a receipt

# Matched against the lower-cased text, question marks gone (commands.normalise).
PARCELS = re.compile(r"(?:(?:where(?:'s| is| are)|wheres|what's the status of|status of) (?:my|the) "
                     r"|(?:show |list )?(?:me )?my )(?:parcels?|packages?|shipments?|deliver(?:y|ies))"
                     r"(?: (?:now|today|at))?")
BOUGHT = re.compile(r"what (?:did|have) i (?:buy|bought|order|ordered|get|purchase)(?P<rest> .+)")
RECEIPT = re.compile(r"(?:show|see|find|get|open)(?: me)? (?:the |my |a )?receipts? (?:for|of|from) "
                     r"(?P<rest>.+)")
_SHOP = re.compile(r"(?:(?:the|my|a) )?(?:(?:purchase|order|payment|charge|one) )?(?:(?:at|from) )?"
                   r"(?:the )?(?P<shop>.+?)(?: (?:purchase|order|payment|charge|one)s?)?")


def _money(amount: Decimal, currency: str) -> str:
    try:
        return fmt.money(Money(amount, currency))
    except (InvalidInput, ValueError):  # an amount finer than its currency's minor unit
        return f"{amount} {currency}"


def _when(at: datetime, zone: tzinfo) -> str:
    return str(format_datetime(at, "MMM d, HH:mm", tzinfo=zone, locale=fmt.LOCALE))


def _day(r: Receipt, zone: tzinfo) -> date:
    return r.placed_at.astimezone(zone).date()


def _items(r: Receipt) -> str:
    return ", ".join(_item(r, i) for i in r.items)


def _item(r: Receipt, i: LineItem) -> str:
    return f"{i.quantity}× {i.name} {_money(i.unit_price * i.quantity, r.currency)}"


async def _paid_at(deps: Deps, grant: Grant, thread: ThreadRecord, shop: str) -> str | None:
    """The bank's name of a merchant the person paid lately that the words name: with a receipt
    missing, the answer names the shop as the bank spells it (the parser sees lower case)."""
    names = await answers.recent_merchants(deps, grant, thread, days=LOOKBACK_DAYS)
    return next((name for name in names if reads.shop_matches(shop, name)), None)


def shop_of(rest: str) -> str:
    found = _SHOP.fullmatch(rest.strip())
    return (found["shop"] if found else rest).strip()


# --------------------------------------------------------------------------- where is my parcel


async def parcels(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    zone = await reads.person_zone(deps, grant)
    found = await reads.open_parcels(deps, grant, await reads.receipts(deps, grant), zone)
    if not found:
        return ("You have no parcel on its way that I know of. Paste a tracking number here to follow "
                "one, or forward the shop's shipping email to your receipt address.", [])
    lines = []
    for p in found:
        what = " ".join(x for x in (p.carrier, "parcel", p.shown) if x)
        if p.order:
            what += f" ({p.order})"
        line = f"{what}: {WORDS.get(p.status, p.status) if p.status else 'no status from the carrier yet'}"
        if p.at is not None:
            line += f", {_when(p.at, zone)}"
        line += f"; expected {fmt.day(p.eta)}" if p.eta is not None else "; no delivery date yet"
        lines.append(line)
    if len(lines) == 1:
        return f"Your {lines[0]}.", []
    return f"You have {len(lines)} parcels on their way:\n" + "\n".join(f"• {line}" for line in lines), []


# --------------------------------------------------------------------------- what did I buy at X


async def bought(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    today = deps.clock.now().date()
    rest, period, ok = take_period(match["rest"].strip(), today)
    if not ok:
        return (f"I did not understand the time in \"{match['rest'].strip()}\". Try \"what did I buy at Acme "
                "in November\" or \"... last month\".", [])
    shop = shop_of(rest) if re.match(r"(?:at|from) ", rest) else ""
    if not shop:
        return "Which shop? Ask, for example, \"what did I buy at Acme in November\".", []
    zone = await reads.person_zone(deps, grant)
    theirs = [h for h in await reads.receipts(deps, grant) if reads.shop_matches(shop, h.receipt.shop)]
    if not theirs:
        paid = await _paid_at(deps, grant, thread, shop)
        if paid is not None:
            return (f"I have no receipt from {paid}, so I can't tell what you bought there: your bank shows "
                    f"only the amounts (ask \"spending at {paid.lower()}\").", [])
        return (f"I have no receipt from a shop called \"{shop}\", and you paid no shop of that name in the "
                f"last {LOOKBACK_DAYS} days. Receipts come from linked shops and from order emails sent to "
                "your receipt address.", [])
    names = sorted({h.receipt.shop for h in theirs})
    inside = [h for h in theirs if period is None or _in(period, _day(h.receipt, zone))]
    when = "" if period is None else " " + _period_words(period)
    if not inside:
        latest = _day(theirs[-1].receipt, zone)
        return (f"You bought nothing at {' or '.join(names)}{when} that I have a receipt for; the latest "
                f"receipt from there is from {fmt.day(latest)}.", [])
    inside.reverse()  # latest first
    lines = [f"• {fmt.day(_day(h.receipt, zone))}, order {h.receipt.order_ref}: {_items(h.receipt)}; "
             f"total {_money(h.receipt.total, h.receipt.currency)}" for h in inside[:SHOWN]]
    if len(inside) > SHOWN:
        lines.append(f"…and {len(inside) - SHOWN} more orders")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for h in inside:
        totals[h.receipt.currency] += h.receipt.total
    count = f"{len(inside)} order{'s' if len(inside) > 1 else ''}"
    spent = " + ".join(_money(v, c) for c, v in sorted(totals.items()))
    head = f"At {' and '.join(names)}{when}: {count}, {spent}"
    return head + "\n" + "\n".join(lines), []


def _in(period: Period, day: date) -> bool:
    return period.start <= day <= period.end


def _period_words(period: Period) -> str:
    if period.start == period.end:
        return f"on {fmt.day(period.start)}"
    if period.start.day == 1 and period.end <= month_end(period.start.year, period.start.month):
        return f"in {fmt.month(period.start)}"  # a month, or this month so far
    return f"from {fmt.day(period.start)} to {fmt.day(period.end)}"


# --------------------------------------------------------------------------- show the receipt for X


async def receipt(deps: Deps, grant: Grant, thread: ThreadRecord, match: re.Match[str]) -> Reply:
    shop = shop_of(match["rest"])
    if not any(ch.isalnum() for ch in shop):
        return "Which purchase? Ask, for example, \"show the receipt for the IKEA purchase\".", []
    zone = await reads.person_zone(deps, grant)
    theirs = [h for h in await reads.receipts(deps, grant) if reads.shop_matches(shop, h.receipt.shop)]
    if not theirs:
        paid = await _paid_at(deps, grant, thread, shop)
        if paid is None:
            return (f"I have no receipt for a purchase at \"{shop}\", and you paid no shop of that name in "
                    f"the last {LOOKBACK_DAYS} days.", [])
        return (f"I have no receipt for a purchase at {paid}: none of your payments there has one. Forward "
                "its order email to your receipt address, or upload it here, and I will attach it to the "
                "card payment.", [])
    held = max(theirs, key=lambda h: (h.transaction_id is not None, h.receipt.placed_at))
    r = held.receipt
    lines = [f"Receipt from {r.shop}, order {r.order_ref}, {fmt.day(_day(r, zone))}:"]
    lines += [f"• {_item(r, i)}" for i in r.items]
    lines.append(f"Subtotal {_money(r.subtotal, r.currency)} · tax {_money(r.tax, r.currency)} · shipping "
                 f"{_money(r.shipping, r.currency)} · total {_money(r.total, r.currency)}")
    if r.refunded:
        lines.append(f"Refunded {_money(r.refunded, r.currency)}")
    if r.carrier or r.tracking:
        status = r.timeline[-1].get("status", "") if r.timeline else ""
        lines.append(f"Parcel: {r.carrier or 'carrier'}{' ' + masked(r.tracking) if r.tracking else ''}, "
                     f"{WORDS.get(status, 'not shipped yet') if status else 'not shipped yet'}")
    actions: list[dict[str, str]] = []
    if held.transaction_id is not None:
        lines.append("Attached to its card payment.")
        actions.append({"label": "Open the purchase", "href": f"/transactions/{held.transaction_id}"})
    else:
        lines.append("Not attached to a card payment yet: it waits for the charge"
                     + (" (I asked you which one)." if held.state == "doubtful" else "."))
    return "\n".join(lines), actions


COMMANDS: list[tuple[str, str, re.Pattern[str], Handler]] = [  # commands.Command's first four fields
    ("where is my parcel", "where is my parcel", PARCELS, parcels),
    ("what did I buy", "what did I buy at Acme in November", BOUGHT, bought),
    ("show a receipt", "show the receipt for the IKEA purchase", RECEIPT, receipt),
]


def built(command: Callable[..., T]) -> list[T]:
    """The commands as `commands.Command`s (passed in: this module is imported by that one)."""
    return [command(*c) for c in COMMANDS]

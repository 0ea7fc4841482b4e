"""A person asks a spending question and sets an alert rule by chat, in a real browser.

The expected figures come from the sandbox bank's own books (the source of truth the platform
syncs from), not from the platform, so a wrong answer fails the test.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency
from playwright.async_api import Locator, Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up

from ledgerlink.domain.cards import category

LIVE = 15_000  # ms: a live update on a loaded 2-core machine


async def _sign_up_and_link(page: Page, stack: Stack, handle: str) -> None:
    """Register, link the sandbox bank as alice (every account ticked), land in its thread."""
    await sign_up(page, stack, handle)
    await link_sandbox_bank(page, stack)
    await expect(page.locator('.msg[data-kind="balance"]')).to_have_count(
        len(stack.bank.accounts_of("alice")), timeout=LIVE)
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "live", timeout=LIVE)
    # Let the first sync after linking finish before any purchase: while an account's cursor
    # is still None, sync stores new purchases quietly, as history (no card). That race between
    # linking, sync and webhooks is not what these tests are about.
    await stack.container.drain()


async def _say(page: Page, text: str) -> None:
    """Type into the thread's composer and send; the text shows up as the person's message."""
    await page.get_by_test_id("composer-text").fill(text)
    await page.get_by_test_id("composer-send").click()
    mine = page.locator(".msg.msg-mine").get_by_test_id("message-text")
    await expect(mine.filter(has_text=re.compile(rf"^{re.escape(text)}$"))).to_have_count(
        1, timeout=LIVE)


def _replies(page: Page) -> Locator:
    """Text cards not written by the person: answers, confirmations and alerts."""
    return page.locator('.msg[data-kind="text"]:not(.msg-mine)')


def _card(page: Page, merchant: str, amount: str) -> Locator:
    """The transaction card of one purchase, by merchant and amount (e.g. "$55.00")."""
    return page.locator('.msg[data-kind="transaction"]').filter(
        has=page.get_by_test_id("txn-merchant").get_by_text(merchant, exact=True)
    ).filter(has=page.get_by_test_id("txn-amount").get_by_text(f"\u2212{amount}", exact=True))


async def _purchase_posted(page: Page, stack: Stack, merchant: str, amount: str) -> None:
    """A card purchase at the sandbox bank, posted; waits until its card shows Posted."""
    pending = await stack.bank.purchase("alice", merchant=merchant, amount=amount)
    card = _card(page, merchant, f"${amount}")
    await expect(card).to_have_attribute("data-status", "pending", timeout=LIVE)
    await stack.bank.post(pending)
    await expect(card).to_have_attribute("data-status", "posted", timeout=LIVE)
    await expect(card).to_have_count(1)


def _bank_spending(
        stack: Stack, login: str, wanted: str, start: date, end: date) -> dict[str, tuple[Decimal, int]]:
    """Per currency: (total spent, number of purchases) in category `wanted`, from the bank's books,
    on the accounts of the customer's consent, booked (or, pending, authorised) in [start, end]."""
    consent = stack.bank.consents_of(login)[0]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    for t in stack.bank.ledger.txns.values():
        day = t.booking_date or t.value_date
        if (t.account_id in consent.account_ids and not t.removed and t.amount < 0
                and category(t.mcc) == wanted and day is not None and start <= day <= end):
            totals[t.currency] += -t.amount
            counts[t.currency] += 1
    return {cur: (totals[cur], counts[cur]) for cur in totals}


async def test_a_spending_question_is_answered_live_with_the_exact_total_and_logged(
        page: Page, stack: Stack) -> None:
    await _sign_up_and_link(page, stack, "quinn")
    thread_url = page.url

    # Before asking, no read "to answer a question" is in the person's access log.
    answered = "To answer a question you asked."
    await page.goto(f"{stack.platform_url}/privacy/accesses/entries")  # entries (issue 13)
    await expect(page.get_by_test_id("access").first).to_be_visible()
    await expect(page.get_by_test_id("access-why").get_by_text(answered, exact=True)).to_have_count(0)
    await page.goto(thread_url)
    await expect(page.get_by_test_id("connection-status")).to_have_attribute(
        "data-state", "live", timeout=LIVE)

    # Known purchases, one at a time (so their order is known): two at grocers, one restaurant.
    await _purchase_posted(page, stack, "Trader Joe's", "23.45")
    await _purchase_posted(page, stack, "Safeway", "61.10")
    await _purchase_posted(page, stack, "Trattoria da Luca", "48.00")

    today = stack.deps.clock.now().date()
    expected = _bank_spending(stack, "alice", "Groceries", today.replace(day=1), today)
    assert expected["USD"][1] >= 2  # the seeded history may add more; ours are in

    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # A spending question: the exact total per currency from the bank's books.
    await _say(page, "what did I spend on groceries this month")
    answer = _replies(page).filter(has_text="Spending on Groceries")
    await expect(answer).to_have_count(1, timeout=LIVE)
    text = await answer.get_by_test_id("message-text").text_content()
    assert text is not None
    lines = text.strip().splitlines()
    assert lines[0].startswith(f"Spending on Groceries, {today:%b} 1")
    bullets = [line for line in lines if line.startswith("• ")]
    assert len(bullets) == len(expected), text
    for cur, (total, count) in sorted(expected.items()):
        plural = "purchase" if count == 1 else "purchases"
        shown = format_currency(total, cur, locale="en_US")  # the answer's locale (babel)
        assert any(b.startswith(f"• {shown} in {count} {plural}. Top: ") for b in bullets), (
            f"expected {shown} in {count} {plural}, got:\n{text}")
    assert "Trattoria" not in text

    # Another shape: the last 3 transactions, newest first.
    day = format_date(today, "medium", locale="en_US")
    await _say(page, "last 3 transactions")
    last = _replies(page).filter(has_text="Your last 3 transactions")
    await expect(last).to_have_count(1, timeout=LIVE)
    assert (await last.get_by_test_id("message-text").text_content() or "").strip().splitlines() == [
        "Your last 3 transactions:",  # dates and amounts in the person's locale (babel)
        f"• {day} Trattoria da Luca \u2212$48.00 (posted)",
        f"• {day} Safeway \u2212$61.10 (posted)",
        f"• {day} Trader Joe's \u2212$23.45 (posted)",
    ]
    assert await page.evaluate("window.__sameDocument === true")  # answered live, no reload

    # The reads behind the answers are on the person's access log, as answers to a question.
    await page.goto(f"{stack.platform_url}/privacy/accesses/entries")  # entries (issue 13)
    entry = page.get_by_test_id("access").filter(
        has=page.get_by_test_id("access-why").get_by_text(answered, exact=True))
    await expect(entry.first).to_be_visible()
    await expect(entry.first.get_by_test_id("access-who")).to_have_text("You")
    await expect(entry.first.get_by_test_id("access-what")).to_have_text("read transactions of an account")


async def test_an_alert_rule_set_by_chat_fires_live_and_a_muted_merchant_stays_quiet(
        page: Page, stack: Stack) -> None:
    await _sign_up_and_link(page, stack, "rory")
    # An alert about a purchase is folded into that purchase's card (issue 13), not a bubble.
    alerts = page.get_by_test_id("txn-alert").filter(has_text="Large purchase on")

    # The rule, by chat.
    await _say(page, "tell me about purchases over 40")
    confirmed = _replies(page).filter(has_text="Done: I'll tell you about purchases over 40.")
    await expect(confirmed).to_have_count(1, timeout=LIVE)

    # 55.00 is over it: the alert arrives live, once, naming the merchant and the amount.
    await stack.bank.purchase("alice", merchant="Olive Garden", amount="55.00")
    await expect(_card(page, "Olive Garden", "$55.00")).to_have_count(1, timeout=LIVE)
    await expect(alerts).to_have_count(1, timeout=LIVE)
    await expect(alerts).to_contain_text("Olive Garden, 55.00 USD")
    await expect(alerts).to_contain_text("above 40")

    # 10.00 is not. Its card and any alert for it are written together, so once a later
    # message (the answer to "mute ...") is shown, an alert for it would be shown too.
    await stack.bank.purchase("alice", merchant="Starbucks", amount="10.00")
    await expect(_card(page, "Starbucks", "$10.00")).to_have_count(1, timeout=LIVE)
    await _say(page, "mute olive garden")
    muted = _replies(page).filter(has_text="Muted: no large-purchase alerts for olive garden")
    await expect(muted).to_have_count(1, timeout=LIVE)
    await expect(alerts).to_have_count(1)
    await expect(alerts.filter(has_text="Starbucks")).to_have_count(0)

    # Muted: a large purchase there shows its card but no alert; a later large purchase at
    # another merchant still alerts (and, arriving after, proves the muted one had its chance).
    await stack.bank.purchase("alice", merchant="Olive Garden", amount="80.00")
    await expect(_card(page, "Olive Garden", "$80.00")).to_have_count(1, timeout=LIVE)
    await stack.bank.purchase("alice", merchant="Nobu", amount="65.00")
    await expect(_card(page, "Nobu", "$65.00")).to_have_count(1, timeout=LIVE)
    await expect(alerts.filter(has_text="Nobu, 65.00 USD")).to_have_count(1, timeout=LIVE)
    await expect(alerts).to_have_count(2)
    await expect(alerts.filter(has_text="80.00")).to_have_count(0)

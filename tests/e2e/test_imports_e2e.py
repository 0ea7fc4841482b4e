"""A person imports statement files from the messenger in a real browser (issue 10): an OFX
file becomes one summary card and answers a question; a CSV is previewed, a column corrected,
then imported; a bad file's error names the format, the place and the reason.

Screenshots (1280x800 and 390x844) go to $LEDGERLINK_SHOTS (default /tmp/shots-imports).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import FilePayload, Page, expect
from tests.conftest import Stack
from tests.e2e.flows import sign_up

LIVE = 15_000  # ms
SHOTS = Path(os.environ.get("LEDGERLINK_SHOTS", "/tmp/shots-imports"))
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(autouse=True)
def _shots_dir() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)


def _file(name: str, mime: str, data: bytes) -> list[FilePayload]:
    return [{"name": name, "mimeType": mime, "buffer": data}]


def _ofx(day: str) -> bytes:
    rows = [("F1", "-12.50", "Blue Harbor Bakery"), ("F2", "-7.25", "Blue Harbor Bakery"),
            ("F3", "-40.00", "Gas Station 12")]
    txns = "".join(
        f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>{day}<TRNAMT>{amt}<FITID>{fid}<NAME>{name}</STMTTRN>\n"
        for fid, amt, name in rows
    )
    return (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\nCHARSET:1252\n"
        "COMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0"
        "<SEVERITY>INFO</STATUS><DTSERVER>" + day + "<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>"
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS><STMTRS><CURDEF>USD"
        "<BANKACCTFROM><BANKID>121000358<ACCTID>000123456789<ACCTTYPE>CHECKING</BANKACCTFROM>"
        f"<BANKTRANLIST><DTSTART>{day}<DTEND>{day}\n{txns}</BANKTRANLIST>"
        f"<LEDGERBAL><BALAMT>940.25<DTASOF>{day}</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    ).encode()


def _csv(day: str) -> bytes:
    return (
        "Date,Details,Counterparty,Amount\n"
        f"{day},CARD 4411 POS,Corner Books,-18.00\n"
        f"{day},CARD 4411 POS,Harbor Cinema,-22.50\n"
        f"{day},TRANSFER IN,Acme Payroll,1500.00\n"
    ).encode()


async def _shoot(page: Page, name: str) -> None:
    for label, (w, h) in SIZES.items():
        await page.set_viewport_size({"width": w, "height": h})
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


async def _say(page: Page, text: str) -> None:
    await page.get_by_test_id("composer-text").fill(text)
    await page.get_by_test_id("composer-send").click()


async def test_a_statement_file_imported_in_the_messenger_answers_questions(
    page: Page, stack: Stack
) -> None:
    today = datetime.now(UTC).date()
    ofx = _ofx(today.strftime("%Y%m%d"))
    await sign_up(page, stack, "pat")
    await page.get_by_test_id("import-statement").click()
    await expect(page.get_by_test_id("import-page")).to_be_visible()
    await _shoot(page, "upload")

    # OFX: a new account, known from files only, which the person confirms.
    await page.get_by_test_id("import-file").set_input_files(
        files=_file("statement.ofx", "application/x-ofx", ofx))
    await page.get_by_test_id("import-submit").click()
    await expect(page.get_by_test_id("import-confirm")).to_be_visible()
    await expect(page.get_by_test_id("choose-new-account")).to_be_checked()
    await page.get_by_test_id("confirm-import").click()
    await expect(page).to_have_url(re.compile(r"/threads/thr_"))
    await expect(page.get_by_test_id("thread-title")).to_have_text("Statement files")
    cards = page.locator('.msg[data-kind="text"]:not(.msg-mine)')
    await expect(cards).to_have_count(1, timeout=LIVE)  # one summary card, not one per entry
    await expect(cards.first).to_contain_text("3 transactions from statement.ofx")
    await expect(cards.first).to_contain_text("$940.25")
    await _shoot(page, "summary-card")

    # The imported rows answer a question: 12.50 + 7.25 at the bakery.
    await _say(page, "what did I spend at blue harbor this month")
    answer = cards.filter(has_text="Spending at Blue Harbor")
    await expect(answer).to_have_count(1, timeout=LIVE)
    await expect(answer).to_contain_text("$19.75 in 2 purchases")

    # The same file again adds nothing and keeps the one card.
    await page.get_by_test_id("import-statement").click()
    await page.get_by_test_id("import-file").set_input_files(
        files=_file("statement.ofx", "application/x-ofx", ofx))
    await page.get_by_test_id("import-submit").click()
    await expect(page.get_by_test_id("thread-title")).to_have_text("Statement files")
    summaries = cards.filter(has_text="transactions from statement.ofx")
    await expect(summaries).to_have_count(1)
    await expect(summaries).to_contain_text("all of them were already here")

    # CSV: the preview shows the detected columns; the person corrects one before importing.
    await page.get_by_test_id("import-statement").click()
    await page.get_by_test_id("import-file").set_input_files(
        files=_file("export.csv", "text/csv", _csv(today.isoformat())))
    await page.get_by_test_id("import-currency").fill("USD")
    await page.get_by_test_id("import-submit").click()
    await expect(page.get_by_test_id("csv-preview")).to_be_visible()
    descriptions = page.get_by_test_id("preview-description")
    await expect(descriptions.first).to_have_text("CARD 4411 POS")
    await page.get_by_test_id("map-description").select_option(label="3: Counterparty")
    await page.get_by_test_id("map-payee").select_option(value="none")
    await page.get_by_test_id("preview-update").click()
    await expect(descriptions).to_have_text(["Corner Books", "Harbor Cinema", "Acme Payroll"])
    await _shoot(page, "csv-preview")
    await page.get_by_test_id("preview-import").click()
    await expect(page.get_by_test_id("import-confirm")).to_be_visible()
    await page.get_by_test_id("confirm-import").click()
    await expect(page.get_by_test_id("thread-title")).to_have_text("Statement files")
    await expect(cards.filter(has_text="3 transactions from export.csv")).to_have_count(1, timeout=LIVE)
    await _say(page, "what did I spend at harbor cinema this month")
    cinema = cards.filter(has_text="Spending at Harbor Cinema")
    await expect(cinema).to_contain_text("$22.50 in 1 purchase", timeout=LIVE)


async def test_a_bad_file_gets_a_precise_error_and_stores_nothing(page: Page, stack: Stack) -> None:
    await sign_up(page, stack, "sam")
    await page.get_by_test_id("import-statement").click()
    truncated = _ofx("20250110").split(b"<LEDGERBAL>")[0][:-40]
    await page.get_by_test_id("import-file").set_input_files(
        files=_file("broken.ofx", "application/x-ofx", truncated))
    await page.get_by_test_id("import-submit").click()
    error = page.get_by_test_id("import-error")
    await expect(error).to_contain_text("broken.ofx was not imported, nothing was stored. OFX")
    await _shoot(page, "bad-file")
    await page.get_by_test_id("import-file").set_input_files(
        files=_file("notes.txt", "text/plain", b"just some words\n"))
    await page.get_by_test_id("import-submit").click()
    await expect(error).to_contain_text("the format could not be recognised")
    await page.goto(f"{stack.platform_url}/")
    await expect(page.get_by_test_id("thread-title")).not_to_have_text("Statement files")


async def test_ambiguous_csv_dates_are_confirmed_before_anything_is_stored(page: Page, stack: Stack) -> None:
    await sign_up(page, stack, "kim")
    await page.get_by_test_id("import-statement").click()
    data = b"Date,Description,Amount\n03/04/2025,Corner Books,-18.00\n05/06/2025,Harbor Cinema,-22.50\n"
    await page.get_by_test_id("import-file").set_input_files(
        files=_file("dates.csv", "text/csv", data))
    await page.get_by_test_id("import-currency").fill("EUR")
    await page.get_by_test_id("import-submit").click()
    await expect(page.get_by_test_id("date-order-question")).to_be_visible()
    await page.get_by_test_id("preview-import").click()  # no order chosen: the browser asks
    await expect(page.get_by_test_id("csv-preview")).to_be_visible()
    await page.get_by_test_id("map-date-format").select_option(value="%d/%m/%Y")
    await page.get_by_test_id("preview-update").click()
    await expect(page.get_by_test_id("date-order-question")).to_have_count(0)
    await expect(page.get_by_test_id("preview-table")).to_contain_text("2025-04-03")
    await page.get_by_test_id("preview-import").click()
    await page.get_by_test_id("confirm-import").click()
    await expect(page.locator('.msg[data-kind="text"]').filter(has_text="2 transactions from dates.csv")) \
        .to_contain_text("3 Apr – 5 Jun 2025")

"""A saved order email uploaded into a thread in Chromium (issue 11): the folded "Add an order
email (.eml)" control under the composer posts the file, the thread says the receipt was read
and the charge's card shows its line items; a PDF gets the page saying why it was not taken."""

from __future__ import annotations

from playwright.async_api import Page, expect
from tests.conftest import Stack
from tests.e2e.flows import link_sandbox_bank, sign_up
from tests.integration.test_receipt_questions import order_mail


async def test_an_order_email_uploaded_in_the_thread_attaches_to_its_charge(page: Page, stack: Stack) -> None:
    await sign_up(page, stack)
    await link_sandbox_bank(page, stack)
    thread_url = page.url
    acc = next(a for a in stack.bank.accounts_of("alice") if a.type == "checking")
    await stack.bank.post(await stack.bank.purchase("alice", account_id=acc.account_id,
                                                    merchant="Acme Outfitters", amount="53.96"))
    await stack.container.drain()
    await page.goto(thread_url)
    control = page.get_by_test_id("receipt-upload")
    await control.locator("summary").click()
    await page.get_by_test_id("receipt-upload-file").set_input_files(
        {"name": "Your order.eml", "mimeType": "message/rfc822",
         "buffer": order_mail(acc.mask, stack.deps.clock.now(), parcel=False)})
    await page.get_by_test_id("receipt-upload-send").click()
    await page.wait_for_url(thread_url)
    await expect(page.get_by_text("Receipt email read: order EM-1001 from Acme Outfitters: attached to its "
                                  "charge.")).to_be_visible()
    await expect(page.get_by_test_id("receipt-items").last).to_contain_text("Trail socks")

    await page.get_by_test_id("receipt-upload").locator("summary").click()
    await page.get_by_test_id("receipt-upload-file").set_input_files(
        {"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n"})
    await page.get_by_test_id("receipt-upload-send").click()
    await expect(page.get_by_role("heading", name="This receipt email was not taken")).to_be_visible()
    await expect(page.get_by_text("receipt.pdf: only an email saved as .eml")).to_be_visible()

"""Email: a plain-text message with the preview and a link to the thread (stdlib smtplib,
run in a thread so the event loop never waits on the mail server). A purchase with a receipt
(issue 11) also gets an HTML part: the card's line and the receipt's items, all escaped."""

from __future__ import annotations

import asyncio
import html
import smtplib
from email.message import EmailMessage
from typing import Any

from ledgerlink.services.messaging.channel_ports import OutboundMessage, SendResult
from ledgerlink.services.messaging.channel_receipts import receipt_html

__all__ = ["SmtpChannel"]


class SmtpChannel:
    """SMTP 4xx and connection problems retry; 5xx fails (the address or message is refused)."""

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 10.0) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._timeout = timeout

    def _compose(self, address: str, message: OutboundMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = address
        edited = message.type == "message.updated"
        mail["Subject"] = "Ledgerlink: " + ("an update" if edited else "new message")
        mail["Message-ID"] = f"<{message.delivery_id}@ledgerlink>"
        mail.set_content(f"{message.text}\n\nOpen the conversation: {message.thread_url}\n")
        if message.receipt is not None:
            line = html.escape(message.text.split("\n", 1)[0])
            url = html.escape(message.thread_url)
            mail.add_alternative(
                f"<!DOCTYPE html><html><body><p>{line}</p>{receipt_html(message.receipt)}"
                f"<p><a href=\"{url}\">Open the conversation</a></p></body></html>\n",
                subtype="html",
            )
        return mail

    def _send_now(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(mail)

    async def send(self, *, config: dict[str, Any], message: OutboundMessage) -> SendResult:
        mail = self._compose(str(config["address"]), message)
        try:
            await asyncio.to_thread(self._send_now, mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min(int(c) for c, _ in exc.recipients.values())
            return _by_code(code)
        except smtplib.SMTPResponseException as exc:
            return _by_code(int(exc.smtp_code))
        except (smtplib.SMTPException, OSError) as exc:
            return SendResult.retry(error=type(exc).__name__)
        return SendResult.delivered(250)


def _by_code(code: int) -> SendResult:
    if 400 <= code < 500:
        return SendResult.retry(status_code=code, error=f"smtp_{code}")
    return SendResult.failed(status_code=code, error=f"smtp_{code}")

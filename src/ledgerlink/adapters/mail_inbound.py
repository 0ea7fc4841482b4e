"""The inbound SMTP listener for receipt emails (issue 11): aiosmtpd's SMTP protocol served on
the application's own event loop. Only the people's forwarding addresses are accepted (any
other recipient: 550 at RCPT), a message over the size limit is refused by aiosmtpd (552), and
a message whose order belongs to someone else is refused (550) with nothing stored. Nothing
logged names an address or holds a body."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session

from ledgerlink.domain.errors import InvalidInput, NotFound

log = structlog.get_logger(__name__)
# aiosmtpd logs every command line (RCPT TO:<address>) and each recipient at INFO, DATA lines at
# DEBUG: personal data. Only its warnings (bogus commands, session errors) are let through.
logging.getLogger("mail.log").setLevel(logging.WARNING)

Recipient = Callable[[str], Awaitable[str | None]]
Deliver = Callable[[str, bytes], Awaitable[Any]]


class _Handler:
    def __init__(self, recipient: Recipient, deliver: Deliver) -> None:
        self._recipient, self._deliver = recipient, deliver

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if envelope.rcpt_tos:
            return "452 4.5.3 One receipt address per message"
        try:
            person_id = await self._recipient(address)
        except Exception as exc:  # the database away: a temporary answer, never the error's text
            log.error("receipt_mail_rcpt_failed", error=type(exc).__name__)
            return "451 4.3.0 Try again later"
        if person_id is None:
            return "550 5.1.1 No such receipt address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        person_id = await self._recipient(envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
        if person_id is None:
            return "554 5.5.1 No valid recipient"
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        try:
            await self._deliver(person_id, raw)
        except NotFound as exc:  # someone else's order number, a shipping notice before its order
            return f"550 5.7.1 {exc.code}: {_one_line(exc)}"
        except InvalidInput as exc:  # markup that does not add up: named, nothing stored
            return f"554 5.6.0 {exc.code}: {_one_line(exc)}"
        except Exception as exc:  # nothing stored (the unit of work rolled back); the sender retries
            log.error("receipt_mail_failed", error=type(exc).__name__)
            return "451 4.3.0 Receipt not stored, try again later"
        log.info("receipt_mail_received", size=len(raw))
        return "250 OK receipt received"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


class MailListener:
    def __init__(self, recipient: Recipient, deliver: Deliver, *, host: str, port: int,
                 max_bytes: int, hostname: str) -> None:
        self._handler = _Handler(recipient, deliver)
        self.host, self.port, self._max, self._hostname = host, port, max_bytes, hostname
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self._handler, data_size_limit=self._max, hostname=self._hostname,
                         enable_SMTPUTF8=True, ident="ledgerlink receipts"),
            host=self.host, port=self.port)
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])  # port 0: the one the system chose

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

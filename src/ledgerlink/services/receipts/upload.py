"""An order email the person saved (`.eml`) uploaded into a thread (issue 11, docs/receipts.md
"Uploading a .eml"): checked here, then read by the same path as the SMTP listener
(`ReceiptMail.deliver`), so it matches a charge like a forwarded one. A file that is no email
(another type, binary, no headers, broken MIME, too large) is refused with what is wrong and
nothing is stored; an email without markup is kept with "couldn't read this receipt"."""

from __future__ import annotations

import re
from email import errors, message_from_bytes, policy
from email.message import EmailMessage, Message

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.receipts.emails import MailOutcome, ReceiptMail

__all__ = ["MAX_EML_BYTES", "check_eml", "upload_eml"]

MAX_EML_BYTES = 5 * 1024 * 1024  # the SMTP listener's default SIZE: a receipt is far smaller
_TYPES = frozenset({"message/rfc822", "application/octet-stream", "text/plain", ""})  # what browsers send
_MAGIC = {b"%PDF": "a PDF", b"PK\x03\x04": "a ZIP archive", b"\x89PNG": "a PNG image", b"GIF8": "a GIF image",
          b"\xff\xd8\xff": "a JPEG image", b"\xd0\xcf\x11\xe0": "an Outlook .msg file", b"<": "an HTML page"}
_FIELD = re.compile(rb"[!-9;-~]{1,76}:")  # an RFC 5322 header field name, then its colon
_WANTED = ("from", "date", "subject", "to", "content-type", "message-id")
_BROKEN = {
    errors.NoBoundaryInMultipartDefect: "a multipart part has no boundary",
    errors.StartBoundaryNotFoundDefect: "a multipart part's boundary never appears in it",
    errors.CloseBoundaryNotFoundDefect: "the message is cut off (a multipart part is not closed)",
    errors.MultipartInvariantViolationDefect: "a multipart part holds no parts",
    errors.InvalidMultipartContentTransferEncodingDefect: "a multipart part has a content encoding",
}


def _refuse(name: str, why: str, code: str) -> InvalidInput:
    return InvalidInput(f"{name}: {why}", code=code)


def check_eml(filename: str | None, content_type: str, data: bytes, *, limit: int = MAX_EML_BYTES) -> None:
    """InvalidInput naming the file and what is wrong, or nothing for a readable email."""
    name = (filename or "the file")[-80:]
    if len(data) > limit:
        raise _refuse(name, f"the file is larger than {limit // (1024 * 1024)} MB, more than an order email "
                      "can be", "eml_too_large")
    if not data.strip():
        raise _refuse(name, "the file is empty", "eml_empty")
    if filename and not filename.lower().endswith(".eml"):
        raise _refuse(name, "only an email saved as .eml (in your mail program: Save as, or Download "
                      "message) can be read here", "not_an_eml")
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in _TYPES:
        raise _refuse(name, f"the file was sent as {media[:60]}, not as an email (message/rfc822)",
                      "not_an_eml")
    head = data.lstrip()[:8]
    kind = next((what for magic, what in _MAGIC.items() if head.startswith(magic)), None)
    if kind is not None:
        raise _refuse(name, f"this is {kind}, not an email", "not_an_eml")
    if b"\x00" in data[:65536]:
        raise _refuse(name, "this is a binary file, not an email", "not_an_eml")
    start = data.lstrip(b"\r\n")
    if start.startswith(b"From "):  # an mbox "From " line before the headers, as some mail programs save
        start = start.partition(b"\n")[2]
    if not _FIELD.match(start):
        raise _refuse(name, "this is not an email: it does not begin with header lines such as From:",
                      "not_an_eml")
    _check_mime(name, data)


def _check_mime(name: str, data: bytes) -> None:
    try:
        message = message_from_bytes(data, policy=policy.default)
        parts: list[Message] = list(message.walk())
        keys = {k.lower() for k in message}
    except (ValueError, TypeError, LookupError, IndexError, AttributeError) as exc:
        raise _refuse(name, f"the email cannot be parsed ({type(exc).__name__})", "broken_mime") from None
    if not isinstance(message, EmailMessage) or not keys & set(_WANTED):
        raise _refuse(name, "this is not an email: it has none of the headers From, Date, Subject, To",
                      "not_an_eml")
    for part in parts:
        for defect in part.defects:
            why = next((w for kind, w in _BROKEN.items() if isinstance(defect, kind)), None)
            if why is not None:
                raise _refuse(name, f"the email's MIME structure is broken: {why}", "broken_mime")


async def upload_eml(mail: ReceiptMail, grant: Grant, *, thread_id: str, filename: str | None,
                     content_type: str, data: bytes) -> MailOutcome:
    """Check the file, then deliver it into the person's thread (NotFound: not their thread;
    InvalidInput: refused, nothing stored)."""
    check_eml(filename, content_type, data)
    return await mail.deliver(grant.person_id, data, thread_id=thread_id)

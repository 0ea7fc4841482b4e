"""The leak scan (issue 14): after a scripted session on the embedded profile, no sensitive
value is anywhere in the data dir's raw bytes (database, WAL, key store, master key,
checkpoints, ...) nor in the log output, in any of the usual encodings.

The narrower database-only check is test_no_plaintext_at_rest.py; this one covers every
file under the data dir, the logs, channel secrets, the password and marker values that
no seeded data can contain by chance."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import structlog
from aiosmtpd.smtp import SMTP
from tests.conftest import Stack, report_figure, running_stack
from tests.integration.test_bank_events import PATH, _signed, _txn_event
from tests.integration.test_channels import Mailbox, Receiver, _until
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services import access
from ledgerlink.services.messaging import channels, messenger
from ledgerlink.services.questions import commands

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

# Markers: values no seed, template or ciphertext can contain by chance.
PASSWORD = "Qvx7 leakscan passphrase Tz9"
MERCHANTS = ("Zyqwx Leakmarker Bakery", "Vorbl Leakmarker Optics")
DESCRIPTORS = ("ZYQWX LEAKMARKER 4417", "VORBL LEAKMARKER 8821")
AMOUNTS = ("-4321.87", "-8765.43")
ACCOUNT_NAME = "Jaxtrum Leakmarker Giro"
EMAIL = "qlorp.leakmarker@example.test"
HOOK_PATH = "/hook-wyvrn-leakmarker"
TEST_LOGGERS = ("mail.log",)  # the test's own SMTP receiver (aiosmtpd), not the platform


# --------------------------------------------------------------------------- the scanner


@dataclass(frozen=True)
class Hit:
    where: str
    marker: str  # the marker's label, never its value
    encoding: str
    offset: int


def _forms(value: str) -> dict[str, bytes]:
    """The byte forms a string takes in files and logs."""
    forms = {
        "utf-8": value.encode(),
        "utf-8-lower": value.lower().encode(),
        "utf-8-upper": value.upper().encode(),
        "json": json.dumps(value)[1:-1].encode(),
        "json-ascii": json.dumps(value, ensure_ascii=True)[1:-1].encode(),
        "utf-16-le": value.encode("utf-16-le"),
        "utf-16-be": value.encode("utf-16-be"),
        "url": quote_plus(value).encode(),
    }
    return {k: v for k, v in forms.items() if v}


def _amount_forms(amount: str) -> dict[str, bytes]:
    """-4321.87 as text: signed, unsigned, with a thousands separator; and 432187 minor units."""
    unsigned = amount.lstrip("-")
    whole, cents = unsigned.split(".")
    grouped = f"{int(whole):,}.{cents}"
    forms: dict[str, bytes] = {}
    for label, text in (("signed", amount), ("unsigned", unsigned), ("grouped", grouped)):
        forms[f"{label}-utf-8"] = text.encode()
        forms[f"{label}-utf-16-le"] = text.encode("utf-16-le")
    return forms


class Scanner:
    """Exact byte search for every form of every marker; minor units (all digits) only where
    they stand alone, so digits inside base64 or hex ciphertext do not count."""

    def __init__(self) -> None:
        self.needles: dict[str, dict[str, bytes]] = {}
        self.patterns: dict[str, re.Pattern[bytes]] = {}

    def add(self, label: str, value: str) -> None:
        assert len(value) >= 6, f"marker {label} is too short to be meaningful"
        self.needles[label] = _forms(value)

    def add_amount(self, label: str, amount: str) -> None:
        self.needles[label] = _amount_forms(amount)
        minor = amount.lstrip("-").replace(".", "")
        # Integer minor units standing alone ("amount_minor":432187). Not after a "." : that is a
        # fraction, and SQLite's text timestamps carry microseconds (17:59:28.432187), which a
        # run's thousands of timestamps hit now and then (a CI run did).
        self.patterns[f"{label}-minor"] = re.compile(rb"(?<![A-Za-z0-9+/=_.-])" + minor.encode()
                                                     + rb"(?![A-Za-z0-9+/=_-])")

    @property
    def count(self) -> int:
        return len(self.needles) + len(self.patterns)

    def scan(self, where: str, blob: bytes) -> list[Hit]:
        hits = []
        for label, forms in self.needles.items():
            for encoding, needle in forms.items():
                at = blob.find(needle)
                if at >= 0:
                    hits.append(Hit(where, label, encoding, at))
        for label, pattern in self.patterns.items():
            if (match := pattern.search(blob)) is not None:
                hits.append(Hit(where, label, "ascii-digits", match.start()))
        return hits


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_the_scanner_finds_a_planted_marker(tmp_path: Path) -> None:
    """The scan can fail: plant markers in a file, in the forms the scanner claims to see."""
    scanner = Scanner()
    scanner.add("merchant", MERCHANTS[0])
    scanner.add("secret", "whsec_" + "QUJD" * 8)
    scanner.add_amount("amount", AMOUNTS[0])
    clean = tmp_path / "clean.bin"
    clean.write_bytes(secrets.token_bytes(4096) + b"QUJD4321870" + b"x432187y"
                      + b"2026-12-04 17:59:28.432187\x00")
    assert scanner.scan(clean.name, clean.read_bytes()) == []
    planted = tmp_path / "planted.db-wal"
    planted.write_bytes(secrets.token_bytes(512) + MERCHANTS[0].encode("utf-16-le")
                        + b'{"amount_minor":432187,' + json.dumps({"s": "whsec_" + "QUJD" * 8}).encode())
    hits = scanner.scan(planted.name, planted.read_bytes())
    assert {(h.marker, h.encoding) for h in hits} >= {
        ("merchant", "utf-16-le"), ("amount-minor", "ascii-digits"), ("secret", "utf-8"),
    }
    assert all(h.where == "planted.db-wal" for h in hits)


# --------------------------------------------------------------------------- the session


@contextmanager
def _captured_logs() -> Iterator[io.StringIO]:
    """Route structlog, as the CLI configures it (JSON lines) but at debug level, into a buffer;
    restore the previous configuration afterwards."""
    saved = structlog.get_config()
    buffer = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.WriteLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    try:
        yield buffer
    finally:
        structlog.configure(**saved)


async def _signed_event(stack: Stack, account_id: str, n: int) -> None:
    event = _txn_event(account_id, f"ext_leak_{n}", amount=AMOUNTS[n], status="posted")
    event["data"]["transaction"].update(merchant_name=MERCHANTS[n], descriptor=DESCRIPTORS[n], mcc="5999",
                                        booking_date=stack.deps.clock.now().date().isoformat())
    body = json.dumps(event).encode()
    async with stack.client() as client:
        resp = await client.post(PATH, content=body, headers=_signed(stack, body))
    assert resp.status_code == 202, resp.text


async def _session(stack: Stack, scanner: Scanner, hook_url: str, mailbox: Mailbox) -> None:
    [account, *_] = stack.bank.accounts_of("bob")  # EUR: the full number is an IBAN
    account.name = ACCOUNT_NAME
    scanner.add("account name", ACCOUNT_NAME)
    scanner.add("account number", account.number)
    scanner.add("account number, grouped", " ".join(re.findall(".{1,4}", account.number)))

    person_id = await messenger.register(stack.deps, handle="lena", display_name="Lena", password=PASSWORD)
    grant = Grant.for_person(person_id)
    _, thread_id = await _linked(stack, login="bob", grant=grant)

    for n in range(len(MERCHANTS)):
        await _signed_event(stack, account.account_id, n)
    await stack.container.drain()
    views = await messenger.thread_messages(stack.deps, grant, thread_id)
    assert {v.body.get("merchant") for v in views} >= set(MERCHANTS), "the marker purchases arrived"

    # Channels: a webhook with its secret and a marker URL, an email with a marker address.
    _, secret = await channels.add_webhook(stack.deps, grant, url=hook_url + HOOK_PATH)
    scanner.add("webhook secret", secret)
    scanner.add("webhook secret, key part", secret.removeprefix("whsec_"))
    scanner.add("webhook url path", HOOK_PATH)
    await channels.add_email(stack.deps, grant, address=EMAIL, enabled=True)
    scanner.add("email address", EMAIL)

    # Chat: a question naming a marker merchant, an alert rule on one, a plain message.
    question = f"how much did I spend at {MERCHANTS[0]} this month"
    await commands.handle_text(stack.deps, grant, thread_id, question)
    answer = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1].body["text"]
    assert MERCHANTS[0] in answer and "4,321.87" in answer, answer  # the answer, locale-formatted
    await commands.handle_text(stack.deps, grant, thread_id, f"mute {MERCHANTS[1].lower()}")
    await commands.handle_text(stack.deps, grant, thread_id, f"note to self: {MERCHANTS[1]} was {AMOUNTS[1]}")
    await _until(lambda: len(mailbox.mails) >= 1, stack)

    # Over real HTTP: sign in with the password, ask, export.
    async with stack.client() as browser:
        page = await browser.get("/login")
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        resp = await browser.post("/login", data={"csrf": token, "handle": "lena", "password": PASSWORD})
        assert resp.status_code == 303, resp.text
        export = await browser.get("/settings/export.json")
    assert export.status_code == 200
    assert MERCHANTS[0] in export.text and EMAIL in export.text, "the export holds the person's data"

    async with stack.deps.uow() as uow:
        [link] = [lk for lk in await uow.links.for_person(person_id) if lk.status == "active"]
        tokens = await access.open_link_secrets(stack.deps.vault, uow, grant, Purpose.OPERATIONS_SUPPORT,
                                                link, at=stack.deps.clock.now())
    scanner.add("oauth access token", tokens["access_token"])
    scanner.add("oauth refresh token", tokens["refresh_token"])
    await asyncio.sleep(0.1)
    await stack.container.drain()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_no_marker_in_any_data_file_or_log_line(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    embedded = f"sqlite:///{data_dir / 'ledgerlink.db'}"  # the embedded profile: all in the data dir
    scanner = Scanner()
    scanner.add("password", PASSWORD)
    for n, (merchant, descriptor, amount) in enumerate(zip(MERCHANTS, DESCRIPTORS, AMOUNTS, strict=True)):
        scanner.add(f"merchant {n}", merchant)
        scanner.add(f"descriptor {n}", descriptor)
        scanner.add_amount(f"amount {n}", amount)

    # The levels `ledgerlink serve` runs with (cli/commands.py), the app's own loggers at debug.
    # (set_level also sets the capture handler's level: the lowest one goes last)
    caplog.set_level(logging.INFO)
    for noisy in ("alembic", "httpx"):
        caplog.set_level(logging.WARNING, logger=noisy)
    caplog.set_level(logging.DEBUG, logger="ledgerlink")
    mailbox = Mailbox()
    smtp_sock, _ = bind_loopback()
    smtp = await asyncio.get_running_loop().create_server(lambda: SMTP(mailbox), sock=smtp_sock)
    hook_sock, hook_url = bind_loopback()
    receiver = Receiver()
    try:
        with _captured_logs() as structured:
            async with serve(receiver, hook_sock), running_stack(
                tmp_path, embedded, outbound_allow_loopback=True, smtp_host="127.0.0.1",
                smtp_port=smtp_sock.getsockname()[1], smtp_sender="bank@ledgerlink.test",
            ) as stack:
                await _session(stack, scanner, hook_url, mailbox)
                await _until(lambda: len(receiver.calls) >= 1, stack)
                # While running, too: the WAL's frames before the close checkpoints them away.
                live = {f"{p.relative_to(tmp_path)} (running)": p.read_bytes() for p in _files(tmp_path)}
    finally:
        smtp.close()
        await smtp.wait_closed()
    assert receiver.calls and parseaddr(EMAIL)[1] in mailbox.mails[0].rcpt_tos  # the channels worked

    files = _files(tmp_path)
    assert {"ledgerlink.db", "keys.db", "master.key"} <= {p.name for p in files}, files
    assert any(name.startswith("data/ledgerlink.db-wal") for name in live), sorted(live)
    blobs = {**live, **{str(p.relative_to(tmp_path)): p.read_bytes() for p in files}}
    hits: list[Hit] = []
    n_bytes = 0
    for name, blob in blobs.items():
        n_bytes += len(blob)
        hits += scanner.scan(name, blob)
    out = capsys.readouterr()
    logs = {
        "structlog": structured.getvalue(),
        "stdlib logging": "\n".join(
            f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
            if not r.name.startswith(TEST_LOGGERS)
        ),
        "stdout": out.out,
        "stderr": out.err,
    }
    for name, text in logs.items():
        n_bytes += len(text.encode())
        hits += scanner.scan(name, text.encode())
    assert logs["structlog"], "structlog output was captured (the scan saw the app's log lines)"
    for db in ("ledgerlink.db", "keys.db"):  # the files' clear parts are seen: the bytes are read
        assert b"CREATE TABLE" in blobs[f"data/{db}"]

    scanned = sorted({r.name for r in caplog.records} - set(TEST_LOGGERS))
    report_figure(f"leak scan: {len(blobs)} files, {n_bytes} bytes, {scanner.count} markers, "
                  f"{len(caplog.records)} stdlib log records ({', '.join(scanned)}), "
                  f"{logs['structlog'].count(chr(10))} structlog lines, hits {len(hits)}")
    with capsys.disabled():
        for hit in hits:
            print(f"  hit: {hit.marker} ({hit.encoding}) in {hit.where} at byte {hit.offset}")
    assert hits == [], [(h.where, h.marker, h.encoding) for h in hits]

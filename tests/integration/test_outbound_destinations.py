"""SSRF through the webhook channel (issue 14, defect 1; ADR 0018): person-supplied endpoints
reach public internet addresses only, checked when saved and again, by resolved address, at
every connection; no redirects; the person never sees what a refused address answered.

Real parts: receivers are real HTTP / HTTPS servers on 127.0.0.1 (uvicorn), the TLS one with a
certificate for a host name from a test CA. Only DNS is played (`Dns`): the name -> address
answers an outside name server would give, including one that changes its answer."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.conftest import Stack, running_stack
from tests.integration.test_channels import Receiver
from tests.integration.test_linking_flow import _linked

from ledgerlink.adapters.channels.outbound import OutboundPolicy
from ledgerlink.adapters.channels.webhook import REFUSED, WebhookChannel
from ledgerlink.adapters.webhooks import StandardWebhooksSigner
from ledgerlink.domain.clock import SystemClock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.privacy import Grant
from ledgerlink.sandbox.testing import bind_loopback, serve
from ledgerlink.services.messaging import channels, messenger
from ledgerlink.services.messaging.channel_ports import OutboundMessage

PUBLIC = "93.184.215.14"  # a public address: only ever *answered*, never connected to
NAME = "hooks.example.test"


class Dns:
    """Plays a name server: each name answers its list of address lists in turn (the last
    one repeats), like a rebinding attacker's server with a zero TTL."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        seq = self.answers.get(host)
        if not seq:
            raise OSError(f"{host}: name not known")
        return seq.pop(0) if len(seq) > 1 else seq[0]


SAVE_REFUSED = [
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/",
    "https://localhost/",
    "https://[::1]/",
    "https://2130706433/",
    "https://[::ffff:127.0.0.1]/",
    "https://0x7f000001/",
]


async def _webhooks(stack: Stack, grant: Grant) -> list[str]:
    return [c.target for c in await channels.overview(stack.deps, grant) if c.kind == "webhook"]


async def test_non_public_endpoints_are_refused_when_saved(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    sock, url = bind_loopback()  # a real local port, as in the tester's port scan
    sock.close()
    for candidate in [*SAVE_REFUSED, url + "/hook"]:
        with pytest.raises(InvalidInput) as refused:
            await channels.add_webhook(stack.deps, grant, url=candidate)
        expected = "bad_webhook_url" if candidate.startswith("http://") else "webhook_destination_not_public"
        assert refused.value.code == expected, candidate
    assert await _webhooks(stack, grant) == []


async def test_a_name_that_resolves_to_a_private_address_is_refused_without_telling_it(
        tmp_path: Path, db_url: str) -> None:
    dns = Dns({"intranet.example.test": [["10.20.30.40"]],
               "mixed.example.test": [[PUBLIC, "169.254.169.254"]],
               "fine.example.test": [[PUBLIC]]})
    async with running_stack(tmp_path, db_url, resolver=dns) as stack:
        grant, _ = await _linked(stack)
        for host in ("intranet.example.test", "mixed.example.test"):
            with pytest.raises(InvalidInput) as refused:
                await channels.add_webhook(stack.deps, grant, url=f"https://{host}/hook")
            assert refused.value.code == "webhook_destination_not_public"
            assert "10.20.30.40" not in refused.value.detail and "169.254" not in refused.value.detail
        await channels.add_webhook(stack.deps, grant, url="https://fine.example.test/hook")
        # A name that does not resolve right now is kept: it is checked at every send.
        await channels.add_webhook(stack.deps, grant, url="https://later.example.test/hook")
        assert await _webhooks(stack, grant) == ["https://fine.example.test/hook",
                                                 "https://later.example.test/hook"]


async def _one_message(stack: Stack, thread_id: str) -> None:
    async with stack.deps.uow() as uow:
        thread = await uow.threads.get(thread_id)
        assert thread is not None
        await messenger.post_text(stack.deps, uow, thread, "a note for the webhook")
        await stack.deps.commit_and_publish(uow)
    await stack.container.drain()


async def test_an_endpoint_stored_before_the_check_is_refused_at_send_and_shows_no_status(
        stack: Stack) -> None:
    """The tester's port scanner: a row pointing at a local port (stored before this check
    existed). Nothing connects, and the person sees no status from it."""
    sock, url = bind_loopback()
    receiver = Receiver()
    async with serve(receiver, sock):
        grant, thread_id = await _linked(stack)
        await channels._add(stack.deps, grant, "webhook", {"url": url + "/hook", "secret": "whsec_dGVzdA=="})
        await _one_message(stack, thread_id)
    assert receiver.calls == []
    [summary] = await channels.overview(stack.deps, grant)
    assert summary.deliveries
    assert {(d.status, d.last_status_code, d.last_error) for d in summary.deliveries} == {
        ("failed", None, REFUSED)}
    async with stack.client() as web:
        page = await web.get("/login")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        await web.post("/login", data={"csrf": csrf, "handle": "pat", "password": "correct horse"})
        shown = await web.get("/settings/channels")
    assert shown.status_code == 200
    deliveries = shown.text.split('data-testid="deliveries"', 1)[1].split("</table>", 1)[0]
    assert "refused: not a public address" in deliveries and "ConnectError" not in deliveries


async def test_a_name_rebound_to_loopback_after_saving_is_refused_at_send(
        tmp_path: Path, db_url: str) -> None:
    """DNS rebinding: public when saved, 127.0.0.1 when sent. The send-time check, by resolved
    address, refuses it (not a connection error: no connection is tried)."""
    sock, url = bind_loopback()
    port = int(url.rsplit(":", 1)[1])
    dns = Dns({"rebind.example.test": [[PUBLIC], ["127.0.0.1"]]})
    receiver = Receiver()
    async with serve(receiver, sock), running_stack(tmp_path, db_url, resolver=dns) as stack:
        grant, thread_id = await _linked(stack)
        await channels.add_webhook(stack.deps, grant, url=f"https://rebind.example.test:{port}/hook")
        await _one_message(stack, thread_id)
        [summary] = await channels.overview(stack.deps, grant)
    assert receiver.calls == []
    assert dns.asked.count("rebind.example.test") >= 2, "resolved when saved and again when sent"
    assert {(d.status, d.last_status_code, d.last_error) for d in summary.deliveries} == {
        ("failed", None, REFUSED)}


# --------------------------------------------------------------------------- the channel adapter


def _tls_files(tmp_path: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A test CA and a server certificate for NAME; the client context trusts only the CA."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledgerlink test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return cert_file, key_file, client


@asynccontextmanager
async def _https(app: Any, tmp_path: Path) -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    import asyncio

    cert_file, key_file, client = _tls_files(tmp_path)
    sock, url = bind_loopback()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                           ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield int(url.rsplit(":", 1)[1]), client
    finally:
        server.should_exit = True
        await task
        sock.close()


def _message() -> OutboundMessage:
    return OutboundMessage(delivery_id="dlv_test", type="message.created", thread_id="thr_1",
                           message_id="msg_1", seq=1, rev=1, kind="text", text="hello",
                           thread_url="https://ledgerlink.test/threads/thr_1",
                           at=dt.datetime.now(dt.UTC))


async def _send(policy: OutboundPolicy, client: ssl.SSLContext, url: str) -> Any:
    channel = WebhookChannel(StandardWebhooksSigner(), SystemClock(), policy, verify=client)
    try:
        return await channel.send(config={"url": url, "secret": "whsec_dGVzdA=="}, message=_message())
    finally:
        await channel.aclose()


async def test_the_connection_goes_to_the_checked_address_with_the_name_kept_for_tls(tmp_path: Path) -> None:
    """The client connects to the address it checked (the system resolver does not know NAME,
    so no second lookup could have found it), verifies the certificate for NAME (SNI) and
    sends Host: NAME."""
    receiver = Receiver()
    async with _https(receiver, tmp_path) as (port, client):
        dns = Dns({NAME: [["127.0.0.1"]]})
        result = await _send(OutboundPolicy(allow_loopback=True, resolver=dns), client,
                             f"https://{NAME}:{port}/hook")
    assert (result.outcome, result.status_code) == ("delivered", 200)
    assert dns.asked == [NAME]
    [(headers, _)] = receiver.calls
    assert headers["host"] == f"{NAME}:{port}"


async def test_the_adapter_refuses_loopback_and_mixed_answers_without_connecting(tmp_path: Path) -> None:
    receiver = Receiver()
    async with _https(receiver, tmp_path) as (port, client):
        off = await _send(OutboundPolicy(resolver=Dns({NAME: [["127.0.0.1"]]})), client,
                          f"https://{NAME}:{port}/hook")
        two = Dns({NAME: [["127.0.0.1", "10.0.0.1"]]})
        mixed = await _send(OutboundPolicy(allow_loopback=True, resolver=two), client,
                            f"https://{NAME}:{port}/hook")
        literal = await _send(OutboundPolicy(), client, f"https://127.0.0.1:{port}/hook")
    for result in (off, mixed, literal):
        assert (result.outcome, result.status_code, result.error) == ("failed", None, REFUSED)
    assert receiver.calls == []


async def test_a_redirect_is_a_failed_delivery_and_is_not_followed(tmp_path: Path) -> None:
    target_sock, target_url = bind_loopback()
    target = Receiver()

    async def redirecting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 307,
                    "headers": [(b"location", (target_url + "/internal").encode())]})
        await send({"type": "http.response.body", "body": b""})

    async with serve(target, target_sock), _https(redirecting, tmp_path) as (port, client):
        result = await _send(OutboundPolicy(allow_loopback=True, resolver=Dns({NAME: [["127.0.0.1"]]})),
                             client, f"https://{NAME}:{port}/hook")
    assert (result.outcome, result.status_code) == ("failed", 307)
    assert target.calls == []

"""Outbound connections to person-supplied destinations, public addresses only (ADR 0018).

`OutboundPolicy` resolves a host and checks every address it resolves to
(`domain.destinations.address_allowed`). `public_only_client` is an httpx client whose every
TCP connection goes through that check *inside the connection pool's network backend*: the
connection is made to the very address that was checked, so a DNS answer that changes
between a check and the connect (DNS rebinding) cannot swap it, while TLS still verifies the
certificate for the host name (SNI) and the Host header stays the name. No proxies from the
environment (they would connect for us, unchecked) and no redirects.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from ledgerlink.domain.destinations import address_allowed, host_literal

__all__ = [
    "DestinationRefused",
    "OutboundPolicy",
    "Resolver",
    "public_only_client",
    "system_resolver",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_TIMEOUT = 5.0


class DestinationRefused(Exception):
    """The host is, or resolves to, an address the platform does not connect to on a person's
    behalf. Says nothing about which address (that would map the private network)."""

    code = "destination_not_public"

    def __init__(self) -> None:
        super().__init__("destination is not a public internet address")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class OutboundPolicy:
    """Which addresses a host may be reached at. `allow_loopback` is the operator's test-only
    switch (`LEDGERLINK_OUTBOUND_ALLOW_LOOPBACK`, off by default)."""

    def __init__(self, *, allow_loopback: bool = False, resolver: Resolver | None = None,
                 resolve_timeout: float = RESOLVE_TIMEOUT) -> None:
        self.allow_loopback = allow_loopback
        self._resolve = resolver or system_resolver
        self._timeout = resolve_timeout

    async def addresses(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, when all of them may be reached; else
        `DestinationRefused`. Resolution failures raise OSError / TimeoutError."""
        literal = host_literal(host)
        if literal is not None:
            found = [str(literal)]
        else:
            found = await asyncio.wait_for(self._resolve(host, port), self._timeout)
        if not found or not all(address_allowed(a, allow_loopback=self.allow_loopback) for a in found):
            raise DestinationRefused()
        return found

    async def public(self, host: str, port: int) -> bool:
        """For the save-time check: False when the host resolves to any non-public address;
        True when every address is public, or when it does not resolve right now (it is
        resolved and checked again at every connection)."""
        try:
            await self.addresses(host, port)
        except DestinationRefused:
            return False
        except (OSError, TimeoutError, UnicodeError):
            return True
        return True


class _PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks in `connect_tcp`, then connects to the checked address itself."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,  # noqa: ASYNC109 (httpcore API)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._policy.addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout("name resolution timed out") from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError("name resolution failed") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout,
                                                     local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 (httpcore API)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc)) from exc
        raise


class _Stream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            with _httpx_errors():
                await self._stream.aclose()


class _PublicOnlyTransport(httpx.AsyncBaseTransport):
    """An httpx transport on its own httpcore pool with the checking network backend. (Not a
    subclass of httpx's transport: replacing its private pool would fail silently, unchecked,
    the day httpx renames it.)"""

    def __init__(self, policy: OutboundPolicy, *, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=100, max_keepalive_connections=20,
            keepalive_expiry=5.0, network_backend=_PublicOnlyBackend(policy))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        req = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw, content=request.stream, extensions=request.extensions,
        )
        with _httpx_errors():
            resp = await self._pool.handle_async_request(req)
        return httpx.Response(status_code=resp.status, headers=resp.headers,
                              stream=_Stream(resp.stream), extensions=resp.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


def public_only_client(policy: OutboundPolicy, *, verify: ssl.SSLContext | bool = True,
                       timeout: httpx.Timeout | float = 10.0) -> httpx.AsyncClient:
    """An httpx client that connects only where `policy` allows, follows no redirects and
    takes no proxy from the environment. `verify`: an SSL context trusting a test CA."""
    context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(
        verify=verify, trust_env=False)
    return httpx.AsyncClient(transport=_PublicOnlyTransport(policy, ssl_context=context),
                             follow_redirects=False, trust_env=False, timeout=timeout)

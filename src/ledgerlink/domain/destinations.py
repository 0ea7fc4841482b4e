"""Where the platform may connect on a person's behalf (ADR 0018): public internet addresses
only, so a person-supplied URL (a webhook endpoint) can never reach this server's own network,
the cloud metadata service or another host on the private network.

Pure rules on addresses and URLs. Resolving names and connecting to the checked address is
the adapters' part (`adapters/channels/outbound.py`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ledgerlink.domain.errors import InvalidInput

__all__ = [
    "NOT_PUBLIC",
    "Destination",
    "IPAddress",
    "address_allowed",
    "host_literal",
    "parse_destination",
    "refused_by_name",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NOT_PUBLIC = "webhook_destination_not_public"
MAX_URL = 2000

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


@dataclass(frozen=True, slots=True)
class Destination:
    url: str
    scheme: str
    host: str  # as written (lower case, no brackets, no trailing dot)
    port: int
    literal: IPAddress | None  # the address, when the host is written as one (in any form)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in every form the C library's `inet_aton` accepts, which is what
    resolvers do with numeric hosts: 127.0.0.1, 127.1, 2130706433, 0x7f000001, 0177.0.0.1."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                value = int(part[2:] or "0", 16)  # "0x" alone is 0 for inet_aton
            elif len(part) > 1 and part.startswith("0"):
                value = int(part[1:], 8)
            else:
                value = int(part, 10) if part.isdigit() else -1
        except ValueError:
            return None
        if value < 0:
            return None
        values.append(value)
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def host_literal(host: str) -> IPAddress | None:
    """The address a host means when it is written as a number (IPv6 with or without
    brackets, its zone dropped; IPv4 in any `inet_aton` form); None for a name."""
    host = host.strip().strip("[]").rstrip(".")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        return _inet_aton(host)
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to (IPv4-mapped, IPv4-compatible, NAT64, 6to4,
    Teredo): a gateway would connect there, so that is the address to judge."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (deprecated IPv4-compatible)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_allowed(address: str | IPAddress, *, allow_loopback: bool = False) -> bool:
    """True for a globally reachable unicast address; never private, loopback (unless the
    operator allowed it for tests), link-local, multicast, reserved, unspecified, shared
    (100.64/10) or site-local, also when wrapped in an IPv6 form."""
    try:
        ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return address_allowed(embedded, allow_loopback=allow_loopback)
        if ip.is_site_local:
            return False
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not (
        ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _refused(host: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"The webhook endpoint was not saved: its host {host!r} {why}. Webhooks are sent only to "
        "public internet addresses over https, never to this server's own network.",
        code=NOT_PUBLIC,
    )


def parse_destination(url: str, *, allow_loopback: bool = False) -> Destination:
    """Check a person-supplied endpoint before anything is stored or sent: an https URL
    without credentials whose host is not a non-public address written as a number or a
    local name. (Names are resolved and checked again at every connection.) With
    `allow_loopback` (an operator setting for tests) http://127.0.0.1 and ::1 are accepted."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        parts, host, port = None, "", None
    if parts is None or not host or port == 0 or len(url) > MAX_URL or parts.username or parts.password:
        raise InvalidInput("The webhook endpoint must be a full https:// URL (no user name or "
                           "password in it).", code="bad_webhook_url")
    literal = host_literal(host)
    loopback_ok = allow_loopback and literal is not None and address_allowed(literal, allow_loopback=True) \
        and not address_allowed(literal)
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback_ok):
        raise InvalidInput("The webhook endpoint must be an https:// URL.", code="bad_webhook_url")
    if literal is not None and not address_allowed(literal, allow_loopback=allow_loopback):
        raise _refused(host, "is a private, loopback, link-local or otherwise non-public address")
    if literal is None and (host in _LOCAL_NAMES or host.endswith(".localhost")):
        raise _refused(host, "names this server itself")
    default = 443 if parts.scheme == "https" else 80
    return Destination(url=url, scheme=parts.scheme, host=host, port=port or default, literal=literal)


def refused_by_name(host: str) -> InvalidInput:
    """The refusal for a name that resolves to a non-public address (the address itself is not
    told: it would map the private network for whoever asks)."""
    return _refused(host, "resolves to a non-public address")

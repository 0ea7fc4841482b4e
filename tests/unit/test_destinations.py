"""Person-supplied destinations: public internet addresses only, in every way of writing one
(issue 14, defect 1; ADR 0018)."""

from __future__ import annotations

import ipaddress

import pytest

from ledgerlink.domain.destinations import NOT_PUBLIC, address_allowed, host_literal, parse_destination
from ledgerlink.domain.errors import InvalidInput

NOT_PUBLIC_URLS = [
    "https://169.254.169.254/latest/meta-data/iam/",  # cloud metadata
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.1.1/hook",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "https://[::1]/",
    "https://2130706433/",  # 127.0.0.1 as one number
    "https://0x7f000001/",  # hex
    "https://0177.0.0.1/",  # octal
    "https://127.1/",  # inet_aton shorthand
    "https://127.0.0.1./",
    "https://0.0.0.0/",
    "https://0/",
    "https://100.64.0.1/",  # shared address space (carrier NAT)
    "https://224.0.0.1/",  # multicast
    "https://240.0.0.1/",  # reserved
    "https://255.255.255.255/",
    "https://198.51.100.7/",  # documentation
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "https://[::ffff:a9fe:a9fe]/",  # IPv4-mapped metadata address, in hex
    "https://[::10.0.0.1]/",  # IPv4-compatible
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 to the metadata address
    "https://[2002:7f00:1::]/",  # 6to4 carrying 127.0.0.1
    "https://[fe80::1%25eth0]/",  # link-local with a zone
    "https://[fc00::1]/",  # unique local
    "https://[fec0::1]/",  # site-local
    "https://[ff02::1]/",  # multicast
    "https://[::]/",
]


@pytest.mark.parametrize("url", NOT_PUBLIC_URLS)
def test_non_public_hosts_are_refused_with_a_clear_code(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_destination(url)
    assert refused.value.code == NOT_PUBLIC
    assert "public" in refused.value.detail and "Traceback" not in refused.value.detail


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook",  # plain http
    "http://93.184.215.14/hook",
    "ftp://example.org/",
    "https://user:pass@example.org/",  # credentials in the URL
    "https:///nohost",
    "https://example.org:0/",
    "https://example.org:99999/",
    "https://" + "a" * 2000 + ".org/",
])
def test_only_https_urls_without_credentials_are_taken(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_destination(url)
    assert refused.value.code == "bad_webhook_url"


def test_public_https_endpoints_are_taken() -> None:
    for url, host, port in [("https://hooks.example.org/x", "hooks.example.org", 443),
                            ("https://93.184.215.14:8443/x", "93.184.215.14", 8443),
                            ("https://[2606:4700::1111]/", "2606:4700::1111", 443)]:
        d = parse_destination(url)
        assert (d.scheme, d.host, d.port) == ("https", host, port)


def test_the_operator_loopback_switch_opens_loopback_only() -> None:
    assert parse_destination("http://127.0.0.1:9/hook", allow_loopback=True).port == 9
    assert parse_destination("https://[::1]:9/", allow_loopback=True).host == "::1"
    for url in ("https://10.0.0.1/", "https://169.254.169.254/", "http://10.0.0.1/", "http://example.org/"):
        with pytest.raises(InvalidInput):
            parse_destination(url, allow_loopback=True)


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"), ("10.1", "10.0.0.1"), ("169.254.43518", "169.254.169.254"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("[::1]", "::1"), ("fe80::1%eth0", "fe80::1"),
])
def test_numeric_hosts_are_read_as_the_resolver_reads_them(host: str, address: str) -> None:
    assert host_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.org", "cafe.beef", "256.1.1.1.1", "1.2.3.256", "0x1g", "09.1.1.1"])
def test_names_and_malformed_numbers_are_not_addresses(host: str) -> None:
    assert host_literal(host) is None


def test_address_rules() -> None:
    assert address_allowed("93.184.215.14") and address_allowed("2606:4700::1111")
    assert not address_allowed("127.0.0.1") and address_allowed("127.0.0.1", allow_loopback=True)
    assert not address_allowed("::ffff:10.0.0.1", allow_loopback=True)
    assert address_allowed("::ffff:93.184.215.14")
    assert not address_allowed("not an address")

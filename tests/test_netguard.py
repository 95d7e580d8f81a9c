"""Tests for monitor.netguard: every address form, range and scheme the crawler must refuse."""

from __future__ import annotations

import ipaddress

import pytest

from monitor.netguard import (
    INVALID_HOST,
    PRIVATE_ADDRESS,
    UNSUPPORTED_SCHEME,
    AddressRefused,
    check_resolved,
    check_url,
    is_public_ip,
    parse_ip_literal,
    parse_networks,
)

# --- parse_ip_literal ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0x7f000001", "127.0.0.1"),  # one hex number
        ("0X7F000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),  # hex, shortened
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0177.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # shortened: the last part fills the rest
        ("127.0.1", "127.0.0.1"),
        ("10.65535", "10.0.255.255"),
        ("127.256", "127.0.1.0"),
        ("127.0.0.1.", "127.0.0.1"),  # fully qualified
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),  # WHATWG reads a bare 0x as zero
        ("169.254.169.254", "169.254.169.254"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("[fe80::1%eth0]", "fe80::1%eth0"),
        ("fe80::1%25eth0", "fe80::1%eth0"),  # zone id as URLs write it
        ("2606:4700::1111", "2606:4700::1111"),
    ],
)
def test_parse_ip_literal_forms(host: str, expected: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "127.0.0.1.example.com",  # a name that merely starts with an address
        "0x7f.example",
        "1.2.3.4.5",  # too many parts: no address (check_url refuses it as invalid)
        "256.0.0.1",  # out of range
        "08.0.0.1",  # 8 is no octal digit
        "4294967296",  # 2**32
        "[v1.fe]",
        "[not-an-address]",
        "",
    ],
)
def test_parse_ip_literal_returns_none_for_non_addresses(host: str) -> None:
    assert parse_ip_literal(host) is None


# --- is_public_ip --------------------------------------------------------------------

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "192.168.255.255",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.0.1",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "198.51.100.1",
    "203.0.113.1",
    "::1",
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::7f00:1",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",  # unique local, fc00::/7
    "fd12:3456:789a::1",
    "fec0::1",  # site-local (deprecated)
    "ff02::1",  # multicast
    "ff0e::1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
    "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (obfuscated)
    "2001:db8::1",  # documentation
    "100::1",  # discard-only
]

PUBLIC_ADDRESSES = [
    "93.184.216.34",
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.0",  # just above
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:93.184.216.34",  # mapped public
    "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
    "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_is_public_ip_refuses(address: str) -> None:
    assert is_public_ip(address) is False
    assert is_public_ip(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_is_public_ip_allows(address: str) -> None:
    assert is_public_ip(address) is True
    assert is_public_ip(ipaddress.ip_address(address)) is True


def test_is_public_ip_rejects_non_addresses() -> None:
    with pytest.raises(ValueError):
        is_public_ip("example.com")


# --- check_url -----------------------------------------------------------------------


def refusal(url: str, *, allow_private: bool = False, **kwargs: object) -> AddressRefused:
    with pytest.raises(AddressRefused) as info:
        check_url(url, allow_private=allow_private, **kwargs)  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://127.0.0.1.:8080/",
        "http://0/",
        "https://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]:8080/x",
        "http://[fe80::1%25eth0]/",
        "http://[fe80::1%eth0]/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://172.31.0.1/",
        "http://192.168.1.1/",
        "http://0.0.0.0:6379/",
        "http://224.0.0.1/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:c0a8:0101::1]/",
        "http://[fc00::1]/",
        "http://[fd00::1]/",
        "HTTP://127.0.0.1/",
        "http://user:pass@127.0.0.1/",
        "http://example.com@127.0.0.1/",  # the host is what follows the @
        "http://127.0.0.1\\@example.com/",  # browsers and Scrapy read "\" as "/"
        "http://%31%32%37.0.0.1/",  # percent-encoded
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # fullwidth digits
        "  http://127.0.0.1/  ",
    ],
)
def test_check_url_refuses_private_literals(url: str) -> None:
    exc = refusal(url)
    assert exc.reason == PRIVATE_ADDRESS
    assert "refused private address" in str(exc)


def test_check_url_message_names_host_and_address_only() -> None:
    exc = refusal("http://2130706433:8080/victim/secret-path?q=name")
    assert str(exc) == "refused private address 127.0.0.1 for host '2130706433'"
    assert exc.host == "2130706433"
    assert exc.address == "127.0.0.1"


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/",
        "https://[2606:4700::1111]/",
        "http://[::ffff:93.184.216.34]/",
        "https://example.com/page",
        "http://localhost/",  # a name: judged after resolution, by check_resolved
        "http://127.0.0.1.nip.io/",
        "https://xn--bcher-kva.example/",
        "https://bücher.example/",
        "http://EXAMPLE.com:8443/",
    ],
)
def test_check_url_allows_public_literals_and_names(url: str) -> None:
    check_url(url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file"),
        ("FILE:///etc/passwd", "file"),
        ("data:text/html,<a href='http://127.0.0.1/'>x</a>", "data"),
        ("ftp://example.com/pub", "ftp"),
        ("s3://bucket/key", "s3"),
        ("javascript:alert(1)", "javascript"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "gopher"),
        ("about:blank", "about"),
        ("localhost:8080", "localhost"),  # no "//": the "scheme" is a host name
        ("//example.com/", ""),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_check_url_refuses_other_schemes_even_with_private_allowed(
    url: str, scheme: str, allow_private: bool
) -> None:
    exc = refusal(url, allow_private=allow_private)
    assert exc.reason == UNSUPPORTED_SCHEME
    assert repr(scheme) in str(exc)


@pytest.mark.parametrize(
    "url",
    [
        "http:///path",
        "http://",
        "http://[::1/",
        "http://[v1.fe]/",
        "http://[not-an-address]/",
        "http://1.2.3.4.5/",  # ends in a number but no address
        "http://256.0.0.1/",
        "http://08.0.0.1/",
        "http://4294967296/",
        "http://exa mple.com/",
        "http://%00example.com/",
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_check_url_refuses_invalid_hosts(url: str, allow_private: bool) -> None:
    assert refusal(url, allow_private=allow_private).reason == INVALID_HOST


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_check_url_allow_private_allows_private_literals(url: str) -> None:
    check_url(url, allow_private=True)


# --- the allowlist -------------------------------------------------------------------


def test_allowlist_allows_only_its_networks() -> None:
    allowed = parse_networks(["127.0.0.1/32", "10.1.0.0/16"])
    check_url("http://127.0.0.1/", allow_private=False, allowed=allowed)
    check_url("http://2130706433/", allow_private=False, allowed=allowed)
    check_url("http://[::ffff:127.0.0.1]/", allow_private=False, allowed=allowed)  # same host
    check_url("http://10.1.2.3/", allow_private=False, allowed=allowed)
    assert refusal("http://127.0.0.2/", allowed=allowed).reason == PRIVATE_ADDRESS
    assert refusal("http://10.2.0.1/", allowed=allowed).reason == PRIVATE_ADDRESS
    assert refusal("http://[::1]/", allowed=allowed).reason == PRIVATE_ADDRESS
    # An allowlist never opens other schemes.
    assert refusal("file:///etc/passwd", allowed=allowed).reason == UNSUPPORTED_SCHEME


def test_parse_networks_is_strict() -> None:
    assert parse_networks(["127.0.0.1", "fd00::/8"]) == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("fd00::/8"),
    )
    with pytest.raises(ValueError):
        parse_networks(["10.1.2.3/8"])  # host bits set: a typo, not 10.0.0.0/8
    with pytest.raises(ValueError):
        parse_networks(["localhost"])


# --- check_resolved ------------------------------------------------------------------


def test_check_resolved_allows_public_addresses() -> None:
    check_resolved("example.com", ["93.184.216.34", "2606:2800:220:1::248"], allow_private=False)


@pytest.mark.parametrize(
    ("private", "shown"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.0.0.7", "10.0.0.7"),
        ("::1", "::1"),
        ("fe80::1%2", "fe80::1%2"),
        ("::ffff:10.0.0.1", "::ffff:a00:1 (10.0.0.1)"),  # what it leads to is named
        ("64:ff9b::7f00:1", "64:ff9b::7f00:1 (127.0.0.1)"),
    ],
)
def test_check_resolved_refuses_if_any_address_is_private(private: str, shown: str) -> None:
    with pytest.raises(AddressRefused) as info:
        check_resolved("rebind.example", ["93.184.216.34", private], allow_private=False)
    assert info.value.reason == PRIVATE_ADDRESS
    assert info.value.host == "rebind.example"
    assert info.value.address == str(ipaddress.ip_address(private))
    assert str(info.value) == f"refused private address {shown} for host 'rebind.example'"


def test_check_resolved_with_private_allowed() -> None:
    check_resolved("localhost", ["127.0.0.1", "::1"], allow_private=True)


def test_check_resolved_with_allowlist() -> None:
    allowed = parse_networks(["127.0.0.1/32"])
    check_resolved("localhost", ["127.0.0.1"], allow_private=False, allowed=allowed)
    with pytest.raises(AddressRefused):
        check_resolved("localhost", ["127.0.0.1", "::1"], allow_private=False, allowed=allowed)


def test_check_resolved_fails_closed_on_unreadable_addresses() -> None:
    with pytest.raises(AddressRefused) as info:
        check_resolved("odd.example", ["93.184.216.34", "not-an-ip"], allow_private=True)
    assert info.value.reason == INVALID_HOST


def test_check_resolved_nothing_to_refuse() -> None:
    check_resolved("nothing.example", [], allow_private=False)

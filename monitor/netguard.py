"""Which network addresses the crawler may connect to.

The crawler fetches URLs that hostile sites choose (links, redirects, image
sources), so a page could point it at the monitor's own network: a cloud
metadata service, a database on localhost, a router. Only http(s) to globally
routable unicast addresses is allowed, unless a crawl is started with private
addresses allowed or an operator allowlists some networks.

Two checks, both needed:

* ``check_url`` looks at the URL alone: its scheme, and its host when the host
  is an IP address written in any of the forms that browsers and libc accept
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``...).
* ``check_resolved`` looks at the addresses a host name resolved to; the crawler
  calls it after DNS resolution, and again inside the resolver that the
  connection itself uses, so a name that re-resolves to a private address
  between the two (DNS rebinding) is refused as well.

Pure Python: no Scrapy, no Twisted.
"""

from __future__ import annotations

import ipaddress
import stringprep
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import SplitResult, unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The only schemes ever fetched, even with private addresses allowed.
ALLOWED_SCHEMES = frozenset({"http", "https"})

PRIVATE_ADDRESS = "private_address"
UNSUPPORTED_SCHEME = "unsupported_scheme"
INVALID_HOST = "invalid_host"

# Hosts are quoted in messages, never whole URLs (their paths can identify a victim).
_MAX_SHOWN = 80


class AddressRefused(Exception):
    """A URL or a resolved address the crawler must not connect to.

    ``reason`` is one of ``private_address``, ``unsupported_scheme`` and
    ``invalid_host``; it names the run's error statistic.
    """

    def __init__(self, reason: str, message: str, *, host: str = "", address: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.host = host
        self.address = address


# --- address ranges ------------------------------------------------------------------


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# IPv4 ranges that are not globally routable unicast (IANA special-purpose registry).
# Python's ``is_global`` says much of this too, but not multicast, and its tables
# change between Python releases; this list is the one that counts.
_REFUSED_V4 = _networks(
    "0.0.0.0/8",  # "this network"; connecting to 0.0.0.0 reaches localhost on Linux
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, where cloud metadata services live
    "172.16.0.0/12",
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
)

# All routable IPv6 unicast lies in 2000::/3; everything outside it (::, ::1, the
# deprecated IPv4-compatible ::/96, fc00::/7, fe80::/10, fec0::/10, ff00::/8,
# 64:ff9b:1::/48, 100::/64...) is refused, except the two translation prefixes below,
# which are judged by the IPv4 address they carry.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
# Special-purpose blocks inside 2000::/3. 2001::/23 includes Teredo (2001::/32),
# which tunnels to whatever IPv4 address it encodes, so all of it is refused.
_REFUSED_V6 = _networks(
    "2001::/23",
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
)


def _as_address(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ip
    return ipaddress.ip_address(ip.strip().removeprefix("[").removesuffix("]"))


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped, NAT64 or 6to4 address leads to on the wire."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour  # None outside 2002::/16


def _v4_refused(ip: ipaddress.IPv4Address) -> bool:
    if any(ip in net for net in _REFUSED_V4):
        return True
    # Belt and braces: anything the running Python knows to be special.
    return ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global


def _v6_refused(ip: ipaddress.IPv6Address) -> bool:
    if ip in _V4_MAPPED or ip in _NAT64 or ip in _SIX_TO_FOUR:
        embedded = _embedded_v4(ip)
        return embedded is None or _v4_refused(embedded)
    if ip not in _V6_GLOBAL_UNICAST:
        return True
    if any(ip in net for net in _REFUSED_V6):
        return True
    return ip.is_multicast or ip.is_site_local or ip.is_link_local or not ip.is_global


def is_public_ip(ip: str | IPAddress) -> bool:
    """True if ``ip`` is globally routable unicast, judged by where it really leads.

    IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by that IPv4 address.
    Raises ValueError if ``ip`` is no IP address.
    """
    address = _as_address(ip)
    if isinstance(address, ipaddress.IPv4Address):
        return not _v4_refused(address)
    return not _v6_refused(address)


def parse_networks(values: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    """Allowlist entries (``"10.1.0.0/16"``, ``"127.0.0.1"``) as networks.

    Strict: ``10.1.2.3/8`` is an error, not silently ``10.0.0.0/8``, because a
    typo in an allowlist should stop the crawl rather than open a wider range.
    """
    return tuple(ipaddress.ip_network(value) for value in values)


def _is_allowlisted(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    # ::ffff:10.0.0.1 is the same destination as 10.0.0.1 for an allowlist.
    forms: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        forms.append(ip.ipv4_mapped)
    return any(form in net for form in forms for net in allowed)


def _described(ip: IPAddress) -> str:
    """``ip``, and the IPv4 address it leads to if that is what made it refused."""
    embedded = _embedded_v4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return str(ip) if embedded is None else f"{ip} ({embedded})"


def _check_address(
    host: str, ip: IPAddress, *, allow_private: bool, allowed: Sequence[IPNetwork]
) -> None:
    if allow_private or is_public_ip(ip) or _is_allowlisted(ip, allowed):
        return
    raise AddressRefused(
        PRIVATE_ADDRESS,
        f"refused private address {_described(ip)} for host {_shown(host)}",
        host=host,
        address=str(ip),
    )


# --- IP literals ---------------------------------------------------------------------


def _parse_v4_number(part: str) -> int | None:
    """One part of an IPv4 literal: decimal, 0x-hex or 0-octal, as inet_aton reads it."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0  # WHATWG reads a bare "0x" as zero
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _v4_parts(host: str) -> list[str]:
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "127.0.0.1." (a fully qualified name) is still 127.0.0.1
    return parts


def _parse_v4(host: str) -> ipaddress.IPv4Address | None:
    """The shortened and non-decimal IPv4 forms (127.1, 2130706433, 0x7f.1, 0177.0.0.1).

    The last part fills the remaining bytes, as in inet_aton(3) and the WHATWG
    URL standard, so "127.1" is 127.0.0.1 and "10.65535" is 10.0.255.255.
    """
    parts = _v4_parts(host)
    if not 1 <= len(parts) <= 4 or any(not part for part in parts):
        return None
    parsed = [_parse_v4_number(part) for part in parts]
    numbers = [number for number in parsed if number is not None]
    if len(numbers) != len(parsed):
        return None
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _parse_v6(host: str) -> ipaddress.IPv6Address | None:
    # A zone id is written "%25eth0" in URLs and "%eth0" elsewhere.
    text = host.replace("%25", "%", 1) if "%25" in host else host
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, in any form libc or a browser accepts; else None.

    None means a host name (which must be resolved and checked with
    ``check_resolved``), or a host that is no valid address at all.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        return _parse_v6(text[1:-1])
    if ":" in text:
        return _parse_v6(text)
    return _parse_v4(text)


def _ends_in_number(host: str) -> bool:
    """WHATWG: a host whose last label is numeric is an IPv4 address or invalid.

    ``1.2.3.4.5`` or ``256.0.0.1`` must not be sent to DNS as a name: some
    resolvers would still turn parts of it into an address.
    """
    parts = _v4_parts(host)
    return bool(parts) and _parse_v4_number(parts[-1]) is not None


# --- URLs ----------------------------------------------------------------------------

# Code points that can never be part of a host (WHATWG "forbidden host code points").
_FORBIDDEN_HOST_CHARS = frozenset("\x00\t\n\r #/:<>?@[\\]^|%")
# What URL parsers strip from both ends of a URL before reading it.
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…")


def _split(url: str) -> SplitResult:
    # For http(s) browsers and Scrapy read "\" as "/": "http://127.0.0.1\@evil.com/"
    # goes to 127.0.0.1, though urlsplit alone would say evil.com.
    text = url.strip(_C0_AND_SPACE)
    return urlsplit(text.replace("\\", "/"))


def _normalise_host(hostname: str) -> str:
    """The host as a resolver would see it: percent-decoded, NFKC, lower case, without
    the code points IDNA maps to nothing.

    Catches "%31%32%37.0.0.1" and fullwidth "１２７.０.０.１", which URL parsers
    turn into 127.0.0.1, and "127.0.0.\u200b1" (a zero-width space, a soft hyphen...),
    which Scrapy's URL normalisation and Python's idna codec turn into 127.0.0.1 too
    (nameprep drops RFC 3454 table B.1 before NFKC).
    """
    host = "".join(c for c in unquote(hostname) if not stringprep.in_table_b1(c))
    host = unicodedata.normalize("NFKC", host)
    return host.replace("\u3002", ".").lower()


def _refuse_invalid(host: str) -> AddressRefused:
    return AddressRefused(INVALID_HOST, f"refused invalid host {_shown(host)}", host=host)


def check_url(url: str, *, allow_private: bool, allowed: Sequence[IPNetwork] = ()) -> None:
    """Raise AddressRefused unless ``url`` may be fetched, as far as the URL alone tells.

    Refused: any scheme but http(s) (always, even with ``allow_private``), a
    missing or malformed host, and hosts that are IP literals in a refused range
    (unless ``allow_private``, or the address is in one of the ``allowed``
    networks). Host names pass; their addresses go to ``check_resolved``.
    """
    try:
        parts = _split(url)
        raw_host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed "[" in the authority
        raise _refuse_invalid("") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        where = f" for host {_shown(raw_host)}" if raw_host else ""
        raise AddressRefused(
            UNSUPPORTED_SCHEME,
            f"refused unsupported scheme {_shown(scheme)}{where}",
            host=raw_host,
        )
    host = _normalise_host(raw_host)
    if not host:
        raise _refuse_invalid(raw_host)
    ip = parse_ip_literal(host)
    if ip is None:
        _check_host_name(host, raw_host, bracketed="[" in parts.netloc)
        return
    # Messages show the host as the URL wrote it, which is what an operator can find.
    _check_address(raw_host, ip, allow_private=allow_private, allowed=allowed)


def _check_host_name(host: str, raw_host: str, *, bracketed: bool) -> None:
    # "[v1.x]" (IPvFuture) and "1.2.3.4.5" are no names a resolver should be given.
    if bracketed or _ends_in_number(host) or any(c in _FORBIDDEN_HOST_CHARS for c in host):
        raise _refuse_invalid(raw_host)


def _resolved_addresses(host: str, addresses: Iterable[str]) -> Iterator[IPAddress]:
    for text in addresses:
        try:
            yield _as_address(text)
        except ValueError:
            # Fail closed: what cannot be judged is not connected to.
            raise AddressRefused(
                INVALID_HOST,
                f"refused unreadable address {_shown(text)} for host {_shown(host)}",
                host=host,
                address=text,
            ) from None


def check_resolved(
    host: str,
    addresses: Iterable[str],
    *,
    allow_private: bool,
    allowed: Sequence[IPNetwork] = (),
) -> None:
    """Raise AddressRefused if ANY address ``host`` resolved to is refused.

    Any, not all: which of several addresses the connection picks is not ours
    to choose, and an attacker's DNS can mix a public and a private one.
    """
    for ip in _resolved_addresses(host, addresses):
        _check_address(host, ip, allow_private=allow_private, allowed=allowed)

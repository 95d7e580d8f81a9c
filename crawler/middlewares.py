"""Keeping the crawler off private networks: a downloader middleware and two resolvers.

Hostile pages choose the URLs the crawler fetches, so every request, and every
redirect (RedirectMiddleware sends each hop back through the scheduler, hence
through ``AddressGuardMiddleware.process_request`` again), is checked before
anything is sent:

* ``AddressGuardMiddleware`` refuses non-http(s) schemes and private IP literals
  (``monitor.netguard.check_url``), resolves host names itself and refuses them if
  any address is private (``check_resolved``). It counts each refusal in the
  ``monitor/refused/{reason}`` statistic.
* ``GuardedResolver`` / ``GuardedHostnameResolver``, installed as the reactor's
  resolver (setting ``TWISTED_DNS_RESOLVER``), check the addresses the connection
  itself is about to use. This closes DNS rebinding (a name that resolves to a
  public address for the middleware and to 127.0.0.1 a moment later) and covers
  IP literals too: Twisted's HostnameEndpoint, used by the HTTP/1.1 and HTTP/2
  download handlers, sends every host, literal or not, through the resolver.

Settings: ``MONITOR_ALLOW_PRIVATE`` (bool, default False) and
``MONITOR_ALLOWED_ADDRESSES`` (list of CIDRs always allowed, e.g. a proxy's
address). The resolvers are built once per process from the process's settings,
so both must be set there, not per spider.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.resolver import CachingHostnameResolver, CachingThreadedResolver
from scrapy.utils.asyncio import is_asyncio_available
from scrapy.utils.datatypes import LocalCache
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from monitor.netguard import (
    AddressRefused,
    IPNetwork,
    check_resolved,
    check_url,
    parse_ip_literal,
    parse_networks,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector
    from twisted.internet.base import ReactorBase
    from twisted.internet.interfaces import IAddress, IHostResolution

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: How long the middleware trusts its verdict on a host name. Rebinding within
#: this time is still caught: the connection's resolver checks again.
VERDICT_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class GuardPolicy:
    """What a crawl may connect to besides public addresses."""

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> GuardPolicy:
        return cls(
            allow_private=settings.getbool("MONITOR_ALLOW_PRIVATE"),
            allowed=parse_networks(settings.getlist("MONITOR_ALLOWED_ADDRESSES")),
        )

    def check_url(self, url: str) -> None:
        check_url(url, allow_private=self.allow_private, allowed=self.allowed)

    def check_resolved(self, host: str, addresses: Sequence[str]) -> None:
        check_resolved(host, addresses, allow_private=self.allow_private, allowed=self.allowed)


class RefusedAddress(IgnoreRequest):
    """A request the address guard refused; ``reason`` names the statistic."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class RefusedLookupError(DNSLookupError):
    """A resolution the guarded resolvers refused ("refused private address ...")."""


# Host names the connection-time resolvers refused. Twisted reports those the
# same way as names that do not exist (DNSLookupError, often without our message),
# so the middleware looks here to count them as refusals. One crawl per process,
# and the resolvers are per process too, so a module-level registry is enough.
_refused_names: LocalCache[str, AddressRefused] = LocalCache(1000)


def _guard_lookup(policy: GuardPolicy, name: str, addresses: Sequence[str]) -> None:
    """Raise RefusedLookupError if ``name`` must not be connected to at ``addresses``."""
    try:
        policy.check_resolved(name, addresses)
    except AddressRefused as exc:
        _refused_names[name.lower()] = exc
        logger.info("Refused connection (%s): %s", exc.reason, exc)
        raise RefusedLookupError(str(exc)) from None


# --- resolvers -----------------------------------------------------------------------


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's default resolver (IPv4, cached, DNS_TIMEOUT), refusing private addresses.

    It is an IResolverSimple; the reactor wraps it for IHostnameResolver users
    (HostnameEndpoint, hence the HTTP/1.1 and HTTP/2 handlers), so both the
    ``reactor.resolve`` and the ``reactor.nameResolver`` paths go through it.
    """

    policy: GuardPolicy = GuardPolicy()  # refuse private unless configured otherwise

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = GuardPolicy.from_settings(crawler.settings)
        return resolver

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        # Checked after the cache too: a cached answer is no safer than a fresh one.
        d = super().getHostByName(name, timeout)
        d.addCallback(self._guard, name)
        return d

    def _guard(self, address: str, name: str) -> str:
        _guard_lookup(self.policy, name, [address])
        return address


@implementer(IResolutionReceiver)
class _GuardingReceiver:
    """Holds resolved addresses back until all are known, then passes on all or none."""

    def __init__(self, receiver: IResolutionReceiver, name: str, policy: GuardPolicy) -> None:
        self._receiver = receiver
        self._name = name
        self._policy = policy
        self._addresses: list[IAddress] = []

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self._receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        self._addresses.append(address)

    def resolutionComplete(self) -> None:
        hosts = [str(getattr(address, "host", "")) for address in self._addresses]
        try:
            _guard_lookup(self._policy, self._name, hosts)
        except RefusedLookupError:
            # IHostnameResolver has no error channel: no address makes the
            # endpoint fail with DNSLookupError("no results for hostname lookup").
            self._addresses = []
        for address in self._addresses:
            self._receiver.addressResolved(address)
        self._receiver.resolutionComplete()


class GuardedHostnameResolver(CachingHostnameResolver):
    """Scrapy's IPv4+IPv6 resolver (getaddrinfo, cached, no timeout), refusing private addresses.

    Use it as ``TWISTED_DNS_RESOLVER`` instead of ``GuardedResolver`` for IPv6
    sites. The reactor also wraps it for ``reactor.resolve`` users.
    """

    policy: GuardPolicy = GuardPolicy()

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: ReactorBase) -> GuardedHostnameResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = GuardPolicy.from_settings(crawler.settings)
        return resolver

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        # Wrapped outside the cache, so cached answers are checked as well.
        guard = _GuardingReceiver(resolutionReceiver, hostName, self.policy)
        return super().resolveHostName(
            guard, hostName, portNumber, addressTypes, transportSemantics
        )


# --- the middleware ------------------------------------------------------------------


def _system_lookup(host: str) -> list[str]:
    """Every address the system resolver gives for ``host``, IPv4 and IPv6 (blocking)."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def _in_thread(func: Callable[[str], _T], arg: str, timeout: float) -> _T:
    """``func(arg)`` in a thread, so a slow DNS server never blocks the event loop."""
    if is_asyncio_available():
        return await asyncio.wait_for(asyncio.to_thread(func, arg), timeout)
    # Imported here: the reactor module must not be imported before Scrapy installs one.
    from twisted.internet import reactor
    from twisted.internet.threads import deferToThread

    d = deferToThread(func, arg)
    d.addTimeout(timeout, reactor)
    return await maybe_deferred_to_future(d)


class AddressGuardMiddleware:
    """Refuses requests to private addresses and to schemes other than http(s).

    Put it at priority 75 in DOWNLOADER_MIDDLEWARES: after OffsiteMiddleware (50),
    so off-site links are dropped without a DNS lookup, and before
    RobotsTxtMiddleware (100) and everything that adds headers, cookies or a
    proxy, so nothing at all is done for a refused URL. Redirects (600) and
    meta refreshes (580) produce new requests that start the chain again.
    """

    def __init__(self, stats: StatsCollector, policy: GuardPolicy, dns_timeout: float) -> None:
        self.stats = stats
        self.policy = policy
        self.dns_timeout = dns_timeout
        # host -> (expiry, refusal or None for allowed)
        self._verdicts: LocalCache[str, tuple[float, AddressRefused | None]] = LocalCache(10_000)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(
            crawler.stats,  # type: ignore[arg-type]
            GuardPolicy.from_settings(crawler.settings),
            crawler.settings.getfloat("DNS_TIMEOUT"),
        )

    async def process_request(self, request: Request) -> None:
        try:
            self.policy.check_url(request.url)
            await self._check_host_name(request)
        except AddressRefused as exc:
            raise self._refused(exc) from None

    def process_exception(self, request: Request, exception: Exception) -> None:
        """Count a connection-time refusal by the guarded resolver as a refusal."""
        # Scrapy 2.19's handlers turn Twisted's DNSLookupError into CannotResolveHostError.
        if not isinstance(exception, (CannotResolveHostError, DNSLookupError)):
            return
        host = (urlparse_cached(request).hostname or "").lower()
        refusal = _refused_names.get(host)
        if refusal is None:
            return  # an ordinary DNS failure
        # The resolver has logged it already; here it only becomes a statistic.
        self.stats.inc_value(f"monitor/refused/{refusal.reason}")
        raise RefusedAddress(refusal.reason, str(refusal)) from exception

    def _refused(self, exc: AddressRefused) -> RefusedAddress:
        self.stats.inc_value(f"monitor/refused/{exc.reason}")
        logger.info("Refused request (%s): %s", exc.reason, exc)
        return RefusedAddress(exc.reason, str(exc))

    async def _check_host_name(self, request: Request) -> None:
        if self.policy.allow_private:
            return  # no resolved address can be refused, so no lookup is needed
        host = urlparse_cached(request).hostname or ""
        ip = parse_ip_literal(host)
        if ip is not None:
            # An IP literal: judged again as the literal Scrapy will connect to, in case
            # check_url read the URL's host differently (it once took "127.0.0.1\u200b",
            # which Scrapy makes 127.0.0.1, for a name).
            self.policy.check_resolved(host, [str(ip)])
            return
        now = time.monotonic()
        cached = self._verdicts.get(host)
        if cached is None or cached[0] <= now:
            cached = (now + VERDICT_TTL_SECONDS, await self._verdict(host))
            self._verdicts[host] = cached
        refusal = cached[1]
        if refusal is not None:
            raise AddressRefused(
                refusal.reason, str(refusal), host=refusal.host, address=refusal.address
            )

    async def _verdict(self, host: str) -> AddressRefused | None:
        addresses = await self._lookup(host)
        try:
            self.policy.check_resolved(host, addresses)
        except AddressRefused as exc:
            return exc
        return None

    async def _lookup(self, host: str) -> list[str]:
        # Failures raise what the download handler raises when its own lookup
        # fails, so retries and error statistics treat both alike.
        try:
            return await _in_thread(_system_lookup, host, self.dns_timeout)
        except (TimeoutError, defer.TimeoutError):
            raise CannotResolveHostError(f"DNS lookup failed: {host}: timed out") from None
        except (OSError, UnicodeError) as exc:  # socket.gaierror, bad IDNA labels
            raise CannotResolveHostError(f"DNS lookup failed: {host}: {exc}") from None


__all__ = [
    "AddressGuardMiddleware",
    "GuardPolicy",
    "GuardedHostnameResolver",
    "GuardedResolver",
    "RefusedAddress",
    "RefusedLookupError",
]

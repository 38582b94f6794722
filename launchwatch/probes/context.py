"""The target and tools a probe receives besides its options.

A probe never builds its own HTTP session, resolver or clock. It takes them
from the `ProbeContext`, so the daemon, the tests and the benchmarks can
each pass their own (loopback nameservers, a test clock, a test CA bundle).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult


@dataclass(frozen=True, slots=True)
class Target:
    """The site a check runs against."""

    site: str
    base_url: str
    # Host name -> IP address, like curl's --resolve: these names never reach DNS.
    resolve: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class DNSLookupError(OSError):
    """A host name did not resolve; `nxdomain` is true when the name does not exist."""

    def __init__(self, host: str, message: str, *, nxdomain: bool) -> None:
        super().__init__(message)
        self.host = host
        self.nxdomain = nxdomain


def make_dns_resolver(nameservers: list[str] | None, timeout_s: float = 5.0) -> dns.asyncresolver.Resolver:
    """Build a dnspython resolver for ``host`` or ``host:port`` nameservers.

    With no nameservers it reads the system configuration (/etc/resolv.conf).
    """
    if not nameservers:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = []
        for entry in nameservers:
            host, port = split_host_port(entry, default_port=53)
            resolver.nameservers.append(dns.nameserver.Do53Nameserver(host, port))
    resolver.lifetime = timeout_s
    resolver.timeout = timeout_s
    return resolver


def split_host_port(value: str, *, default_port: int) -> tuple[str, int]:
    """Split ``127.0.0.1:5353``, ``[::1]:53`` or a bare address."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else default_port
        return host, port
    if value.count(":") == 1:
        host, port_text = value.split(":")
        return host, int(port_text)
    return value, default_port


class OverrideResolver(AbstractResolver):
    """Resolve names from the site's ``resolve`` map first, then through DNS.

    DNS goes through dnspython with the configured nameservers, never the
    libc resolver, so tests and the demo can point every lookup at loopback.
    """

    def __init__(self, overrides: Mapping[str, str], dns_resolver: dns.asyncresolver.Resolver) -> None:
        self._overrides = {host.lower(): ip for host, ip in overrides.items()}
        self._dns = dns_resolver

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        override = self._overrides.get(host.lower().rstrip("."))
        if override is not None:
            return [_resolve_result(host, override, port)]
        addresses = await lookup_addresses(self._dns, host)
        return [_resolve_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        return None


async def lookup_addresses(resolver: dns.asyncresolver.Resolver, host: str) -> list[str]:
    """Return the A and AAAA addresses of ``host``, raising DNSLookupError."""
    addresses: list[str] = []
    nxdomain = False
    last_error = ""
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rdtype)
        except dns.resolver.NXDOMAIN:
            nxdomain = True
            break
        except dns.resolver.NoAnswer:
            continue
        except dns.resolver.LifetimeTimeout as exc:
            # The nameserver does not respond, so a second query for AAAA
            # would only double the wait.
            last_error = f"timed out: {exc}"
            break
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        addresses.extend(rdata.to_text() for rdata in answer)
    if addresses:
        return addresses
    if nxdomain:
        raise DNSLookupError(host, f"{host} does not exist (NXDOMAIN)", nxdomain=True)
    detail = last_error or "no A or AAAA records"
    raise DNSLookupError(host, f"{host} did not resolve: {detail}", nxdomain=False)


@functools.lru_cache(maxsize=1024)
def _address_family(address: str) -> socket.AddressFamily:
    # Parsing the address costs more than the rest of an override lookup,
    # and a daemon resolves the same few addresses on every run.
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def _resolve_result(host: str, address: str, port: int) -> ResolveResult:
    family = _address_family(address)
    return ResolveResult(
        hostname=host,
        host=address,
        port=port,
        family=family,
        proto=0,
        flags=socket.AI_NUMERICHOST,
    )


class SSLContexts:
    """Verifying client contexts, cached per CA bundle.

    Loading the system trust store costs milliseconds, too much to repeat on
    every probe run, and a context is safe to share between connections.
    """

    def __init__(self, default_ca_file: str | None = None) -> None:
        self._default_ca_file = default_ca_file
        self._cache: dict[str | None, ssl.SSLContext] = {}

    def get(self, ca_file: str | None = None) -> ssl.SSLContext:
        key = ca_file or self._default_ca_file
        context = self._cache.get(key)
        if context is None:
            context = ssl.create_default_context(cafile=key) if key else ssl.create_default_context()
            self._cache[key] = context
        return context


@dataclass
class ProbeContext:
    """Everything a probe may use besides its options."""

    target: Target
    timeout_s: float
    dns_resolver: dns.asyncresolver.Resolver
    ssl_contexts: SSLContexts
    logger: logging.Logger | logging.LoggerAdapter[Any]
    clock: Clock = field(default_factory=SystemClock)
    # The largest response body a probe reads, in bytes.
    max_body_bytes: int = 1024 * 1024
    user_agent: str = "launchwatch"
    secret: Callable[[str], str] = lambda name: ""

    def http_session(self, *, ca_file: str | None = None, **kwargs: Any) -> aiohttp.ClientSession:
        """Open a client session with a fresh connection and the site's resolve map.

        ``force_close`` makes every request open its own connection, so a run
        measures connect and TLS time instead of reusing a warm socket.
        """
        connector = aiohttp.TCPConnector(
            resolver=OverrideResolver(self.target.resolve, self.dns_resolver),
            ssl=self.ssl_contexts.get(ca_file),
            force_close=True,
            use_dns_cache=False,
        )
        headers = {"User-Agent": self.user_agent, **self.target.headers, **kwargs.pop("headers", {})}
        kwargs.setdefault("timeout", aiohttp.ClientTimeout(total=self.timeout_s))
        kwargs.setdefault("cookie_jar", aiohttp.DummyCookieJar())
        return aiohttp.ClientSession(connector=connector, headers=headers, **kwargs)

    async def resolve_host(self, host: str) -> list[str]:
        """Resolve ``host`` the way HTTP requests do: overrides, then DNS."""
        override = {h.lower(): ip for h, ip in self.target.resolve.items()}.get(host.lower().rstrip("."))
        if override is not None:
            return [override]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return await lookup_addresses(self.dns_resolver, host)
        return [host]

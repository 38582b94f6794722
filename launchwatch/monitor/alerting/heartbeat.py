"""Ping a heartbeat URL while the daemon is healthy, so an outside monitor notices when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
import dns.asyncresolver

from launchwatch.probes.context import OverrideResolver

log = logging.getLogger("launchwatch.alerting")

HEARTBEAT_TIMEOUT_S = 10.0


async def ping_heartbeat(url: str, healthy: Callable[[], tuple[bool, str]], session: aiohttp.ClientSession) -> bool:
    """GET ``url`` when the daemon is healthy; return whether a 2xx arrived."""
    ok, reason = healthy()
    if not ok:
        log.warning("skipped the heartbeat ping: %s", reason)
        return False
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=HEARTBEAT_TIMEOUT_S)) as response:
            if 200 <= response.status < 300:
                return True
            log.warning("heartbeat URL returned status %d; check the URL in alerts.heartbeat_url", response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("heartbeat ping failed: %s", type(exc).__name__ if not str(exc) else exc)
    return False


async def heartbeat_loop(
    url: str, interval_s: float, healthy: Callable[[], tuple[bool, str]], dns_resolver: dns.asyncresolver.Resolver
) -> None:
    # Lookups go through the configured nameservers, like every probe's.
    connector = aiohttp.TCPConnector(resolver=OverrideResolver({}, dns_resolver))
    async with aiohttp.ClientSession(connector=connector) as session:
        while True:
            await ping_heartbeat(url, healthy, session)
            await asyncio.sleep(interval_s)

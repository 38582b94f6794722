"""Helpers for the web tests: sites, checks, results and outbox rows in a real SQLite Storage, and a loopback server."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from launchwatch.monitor.checks import CheckDefinition, build_checks
from launchwatch.monitor.config import Config
from launchwatch.monitor.outbox import ChannelStatus, NotificationDraft, NotificationView, OutboxStore, insert_drafts
from launchwatch.monitor.storage import CheckStatusView, IncidentView, ResultView, Storage
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status, status_from_findings
from launchwatch.web.app import create_app

NOW = datetime(2025, 3, 14, 12, 0, 0, tzinfo=UTC)
XSS_NAME = '<script>alert("x")</script> & co'
SECURITY_MESSAGE = "Strict-Transport-Security header is missing; expected max-age of at least 15552000 s; add the header"
SECURITY_FAIL_MESSAGE = "TLS 1.0 is accepted; expected TLS 1.2 or later; disable TLS 1.0 and 1.1 on the server"
HTTP_FAIL_MESSAGE = "GET https://shop.test/cart returned 503; expected 200; check the upstream service"
# Every channel URL carries this marker in its credential, so a test can
# search a whole page or JSON body for any leaked part of a URL.
TOKEN_MARKER = "LWTOKEN"
CHANNEL_URLS = {
    "ops-hook": f"json://127.0.0.1:9/hook?token={TOKEN_MARKER}-ops-5f2c9a",
    "oncall-mail": f"mailtos://alerts:{TOKEN_MARKER}-mailpass-77@127.0.0.1:2525/",
    "pager": f"ntfy://{TOKEN_MARKER}-pager-topic-31",
    "spare": f"json://127.0.0.1:9/spare?token={TOKEN_MARKER}-spare-0d4e",
}
# A sender error that echoes the channel's URL, which the pages must redact.
LEAKY_ERROR = f"POST http://127.0.0.1:9/hook?token={TOKEN_MARKER}-ops-5f2c9a failed: connection refused"
SMTP_ERROR = "SMTP server rejected the message: 550 mailbox unavailable"


class FixedClock:
    """A clock frozen at NOW, so relative times and uptime windows are exact."""

    def __init__(self, now: datetime = NOW, monotonic: float = 5000.0) -> None:
        self._now = now
        self._monotonic = monotonic

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic


class FakeHealth:
    def __init__(self, healthy: bool = True, reason: str = "ok") -> None:
        self.result = (healthy, reason)
        self.calls: list[float] = []

    def healthy(self, now: float) -> tuple[bool, str]:
        self.calls.append(now)
        return self.result


def make_config(tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "state_dir": str(tmp_path),
            "web": {"links": {"Runbook & <notes>": "https://runbook.example.test/?a=1&b=2"}},
            "channels": [{"name": name, "url": url} for name, url in CHANNEL_URLS.items()],
            "maintenance": [
                {
                    "name": "cart-migration",
                    "start": (NOW - timedelta(minutes=30)).isoformat(),
                    "end": (NOW + timedelta(minutes=90)).isoformat(),
                    "checks": ["shop/cart"],
                },
                # NOW is a Friday, so the next window opens on Sunday 2025-03-16.
                {"name": "blog-reboot", "cron": "0 3 * * sun", "duration": "1h", "sites": ["blog"]},
                {"name": "last-year", "start": "2024-01-01T00:00:00Z", "end": "2024-01-01T02:00:00Z"},
            ],
            "sites": [
                {
                    "name": "shop",
                    "base_url": "https://shop.test:8443/app",
                    "checks": [
                        {"id": "home", "name": "Home page", "kind": "http"},
                        {"id": "cart", "name": XSS_NAME, "kind": "http", "options": {"path": "/cart"}},
                        {"id": "fresh", "name": "Not run yet", "kind": "http"},
                    ],
                },
                {
                    "name": "blog",
                    "base_url": "https://blog.test",
                    "checks": [{"id": "headers", "name": "Security headers", "kind": "http"}],
                },
                {"name": "empty-site", "base_url": "https://empty.test"},
            ],
        }
    )


def probe_result(started_at: datetime, duration_s: float, findings: list[Finding] | None = None, *, status: Status | None = None) -> ProbeResult:
    findings = findings or []
    final_status = status or status_from_findings(findings)
    reason = Reason.OK if final_status is Status.PASS else Reason.HTTP_STATUS
    if any(finding.code.startswith("security.") for finding in findings):
        reason = Reason.HEADER
    return ProbeResult(
        status=final_status,
        reason=reason,
        started_at=started_at,
        duration_s=duration_s,
        metrics={"ttfb_seconds": duration_s / 2, "http_status_code": 200.0 if final_status is Status.PASS else 503.0},
        findings=findings,
    )


def scenario_results(checks: dict[str, CheckDefinition]) -> list[tuple[CheckDefinition, ProbeResult]]:
    """Return results, oldest first.

    home fails twice in a row between two passes, so one incident opens and
    resolves. cart fails twice and stays failing. headers fails twice on a
    security finding, which opens an incident with that finding's message,
    then warns with another security finding and an info finding.
    """
    home = checks["shop/home"]
    cart = checks["shop/cart"]
    headers = checks["blog/headers"]
    http_fail = Finding("http.status", Severity.FAIL, HTTP_FAIL_MESSAGE)
    security_warn = Finding("security.hsts_missing", Severity.WARN, SECURITY_MESSAGE)
    security_fail = Finding("security.tls_legacy", Severity.FAIL, SECURITY_FAIL_MESSAGE)
    info = Finding("http.redirects", Severity.INFO, "followed 1 redirect")
    return [
        (home, probe_result(NOW - timedelta(hours=3), 0.120)),
        (home, probe_result(NOW - timedelta(hours=2), 0.200, [http_fail])),
        (home, probe_result(NOW - timedelta(hours=1), 0.450, [http_fail])),
        (home, probe_result(NOW - timedelta(minutes=5), 0.150)),
        (cart, probe_result(NOW - timedelta(minutes=20), 0.300, [http_fail])),
        (cart, probe_result(NOW - timedelta(minutes=10), 0.310, [http_fail])),
        (headers, probe_result(NOW - timedelta(minutes=40), 0.090, [security_fail])),
        (headers, probe_result(NOW - timedelta(minutes=35), 0.085, [security_fail])),
        (headers, probe_result(NOW - timedelta(minutes=30), 0.080, [info, security_warn])),
    ]


def write_outbox(storage: Storage) -> None:
    """Write outbox rows for the scenario's incidents and deliver some of them.

    ops-hook fails once with an error that echoes its URL, then sends the
    home incident's "opened" notification. oncall-mail fails it for good.
    pager only gets a "resolved" notification, which is silenced because it
    never heard of the incident. spare gets nothing, and retired-hook is not
    in the configuration any more but still has a pending row.
    """
    incidents = {incident.check_id: incident.id for incident in storage.incidents()}
    home, cart, headers = incidents["shop/home"], incidents["shop/cart"], incidents["blog/headers"]
    outbox = OutboxStore(storage)
    opened_at = NOW - timedelta(hours=1)

    def draft(channel: str, kind: str, incident_id: int, check_id: str) -> NotificationDraft:
        return NotificationDraft(channel=channel, kind=kind, payload=f"{kind} {check_id}", incident_id=incident_id, check_id=check_id)

    with storage.transaction() as conn:
        insert_drafts(conn, [draft("ops-hook", "opened", home, "shop/home"), draft("oncall-mail", "opened", home, "shop/home")], opened_at)

    first = {claimed.channel: claimed for claimed in outbox.claim("sender-1", opened_at, timedelta(minutes=1))}
    retry_at = opened_at + timedelta(minutes=2)
    outbox.complete(first["ops-hook"], "sender-1", opened_at, ok=False, error=LEAKY_ERROR, duration_s=0.01, give_up=False, retry_at=retry_at)
    outbox.complete(first["oncall-mail"], "sender-1", opened_at, ok=False, error=SMTP_ERROR, duration_s=0.02, give_up=True, retry_at=retry_at)
    (retried,) = outbox.claim("sender-1", retry_at, timedelta(minutes=1))
    outbox.complete(retried, "sender-1", retry_at, ok=True, error=None, duration_s=0.01, give_up=False, retry_at=retry_at)

    with storage.transaction() as conn:
        insert_drafts(conn, [draft("ops-hook", "opened", headers, "blog/headers"), draft("retired-hook", "opened", headers, "blog/headers")], NOW - timedelta(minutes=35))
        insert_drafts(conn, [draft("ops-hook", "opened", cart, "shop/cart")], NOW - timedelta(minutes=10))
        resolved = [draft(channel, "resolved", home, "shop/home") for channel in ("ops-hook", "oncall-mail", "pager")]
        insert_drafts(conn, resolved, NOW - timedelta(minutes=5))


class RecordingOutbox(OutboxStore):
    """A real OutboxStore that also notes which thread ran each read."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)
        self.calls: list[tuple[str, int]] = []

    def channel_statuses(self) -> list[ChannelStatus]:
        self.calls.append(("channel_statuses", threading.get_ident()))
        return super().channel_statuses()

    def notifications(self, incident_ids: list[int]) -> list[NotificationView]:
        self.calls.append(("notifications", threading.get_ident()))
        return super().notifications(incident_ids)


class RecordingStorage(Storage):
    """A real Storage that also notes which thread ran each read."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        # (method name, thread id) of every read.
        self.calls: list[tuple[str, int]] = []

    def check_statuses(self, now: datetime) -> list[CheckStatusView]:
        self.calls.append(("check_statuses", threading.get_ident()))
        return super().check_statuses(now)

    def check_status(self, check_id: str, now: datetime) -> CheckStatusView | None:
        self.calls.append(("check_status", threading.get_ident()))
        return super().check_status(check_id, now)

    def recent_results(self, check_id: str, limit: int = 50) -> list[ResultView]:
        self.calls.append(("recent_results", threading.get_ident()))
        return super().recent_results(check_id, limit)

    def incidents(self, check_id: str | None = None, limit: int = 20) -> list[IncidentView]:
        self.calls.append(("incidents", threading.get_ident()))
        return super().incidents(check_id, limit)


def open_storage(tmp_path: Path, checks: list[CheckDefinition]) -> RecordingStorage:
    """Create a migrated SQLite database in ``tmp_path`` with ``checks`` configured."""
    storage = RecordingStorage(f"sqlite:///{tmp_path / 'launchwatch.db'}")
    storage.upgrade()
    storage.sync_checks(checks, NOW - timedelta(days=1))
    return storage


@dataclass
class Scenario:
    config: Config
    checks: dict[str, CheckDefinition]
    storage: RecordingStorage
    batch: list[tuple[CheckDefinition, ProbeResult]]
    registry: CollectorRegistry
    health: FakeHealth
    clock: FixedClock
    outbox: RecordingOutbox

    def app(self) -> web.Application:
        return create_app(self.storage, self.registry, self.health, self.config, clock=self.clock, outbox=self.outbox)


@dataclass
class Fetched:
    status: int
    headers: dict[str, str]
    text: str


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free loopback port and yield its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def fetch(base_url: str, path: str, headers: dict[str, str] | None = None) -> Fetched:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(base_url + path, headers=headers or {}) as response:
            return Fetched(response.status, dict(response.headers), await response.text())


def fetch_paths(app_factory: Callable[[], web.Application], *paths: str, headers: dict[str, str] | None = None) -> dict[str, Fetched]:
    """Serve a fresh app, fetch each path once and return the responses by path."""
    async def run() -> dict[str, Fetched]:
        async with serve(app_factory()) as base_url:
            return {path: await fetch(base_url, path, headers) for path in paths}

    return asyncio.run(run())


@contextlib.contextmanager
def build_scenario(tmp_path: Path) -> Iterator[Scenario]:
    """Yield the scenario over a real SQLite Storage and close the storage afterwards."""
    config = make_config(tmp_path)
    checks = {check.id: check for check in build_checks(config)}
    storage = open_storage(tmp_path, list(checks.values()))
    try:
        batch = scenario_results(checks)
        storage.record_results(batch)
        write_outbox(storage)
        # Only the reads of the app under test count.
        storage.calls.clear()
        yield Scenario(config, checks, storage, batch, CollectorRegistry(), FakeHealth(), FixedClock(), RecordingOutbox(storage))
    finally:
        storage.close()

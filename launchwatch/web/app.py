"""The web front of the daemon: status page, check pages, JSON API, /metrics and /healthz.

Every storage and outbox read runs in a worker thread (``asyncio.to_thread``),
so a slow database never stalls the event loop that also runs the checks.
Notification channels appear by name only, because their URLs contain tokens.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import jinja2
from aiohttp import web
from markupsafe import Markup
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from launchwatch.monitor.alerting.maintenance import MaintenanceSchedule, MaintenanceWindow
from launchwatch.monitor.config import ChannelConfig, Config
from launchwatch.monitor.outbox import FAILED, PENDING, SENT, ChannelStatus, NotificationView, OutboxStore
from launchwatch.monitor.storage import CheckStatusView, IncidentView, ResultView, Storage, StorageError
from launchwatch.probes.context import Clock, SystemClock
from launchwatch.probes.result import Finding, Severity, Status
from launchwatch.web.sparkline import sparkline_svg

logger = logging.getLogger("launchwatch.web")

HIDDEN_SECURITY_MESSAGE = "hidden: security finding (view from the daemon's host)"
HIDDEN_SECURITY_CODE = "security.hidden"
REDACTED = "[redacted]"
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

# A reverse proxy on the same host connects from loopback for every visitor.
# These headers show that the request came through such a proxy, so a request
# that carries any of them is not treated as local.
_FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.FAIL: 2}
_RECENT_RESULTS_LIMIT = 50
_INCIDENTS_LIMIT = 20
# Parts of a channel URL shorter than this stay in error messages, because
# they are more likely path words or versions than credentials.
_MIN_SECRET_LENGTH = 4
_NOTIFICATION_STATE_CLASSES = {SENT: "pass", PENDING: "warn", FAILED: "fail"}


class Health(Protocol):
    def healthy(self, now: float) -> tuple[bool, str]:
        """Return whether the daemon works and, if not, why. ``now`` is in ``time.monotonic()`` seconds."""
        ...


# ---------------------------------------------------------------------------
# Who may see security findings


def is_loopback_address(address: str | None) -> bool:
    """Return whether ``address`` is in 127.0.0.0/8 or is ::1 (also as ::ffff:127.x.y.z)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def request_is_local(request: web.BaseRequest) -> bool:
    """Return whether the request comes straight from the daemon's host, not through a proxy."""
    if any(name in request.headers for name in _FORWARDING_HEADERS):
        return False
    return is_loopback_address(request.remote)


def is_security_code(code: str | None) -> bool:
    return code is not None and code.startswith("security.")


def visible_finding(finding: Finding, local: bool) -> Finding:
    """Return ``finding``, or a placeholder when it is a security finding and the viewer is remote."""
    if local or not is_security_code(finding.code):
        return finding
    return Finding(code=HIDDEN_SECURITY_CODE, severity=finding.severity, message=HIDDEN_SECURITY_MESSAGE)


def top_finding(findings: Iterable[Finding]) -> Finding | None:
    """Return the most severe finding, the first one among equals."""
    return max(findings, key=lambda finding: _SEVERITY_RANK[finding.severity], default=None)


def visible_incident_message(incident: IncidentView, local: bool) -> tuple[str, str | None]:
    """Return the message and code of ``incident`` as a viewer may see them.

    Only a message copied from a security finding is hidden from remote viewers.
    """
    if local or not is_security_code(incident.code):
        return incident.message, incident.code
    return HIDDEN_SECURITY_MESSAGE, HIDDEN_SECURITY_CODE


# ---------------------------------------------------------------------------
# Keeping channel URLs off the pages


def channel_url_secrets(url: str) -> list[str]:
    """Return the whole URL and each part of it that may be a credential, longest first.

    Apprise URLs put tokens anywhere: in the user info (mailtos://user:pass@),
    the host (slack://TokenA/TokenB/TokenC) or the query (?token=...). Every
    such part is a candidate, in both its written and its percent-decoded form.
    """
    parts = urlsplit(url)
    candidates = [url, parts.netloc, parts.path, parts.query, parts.fragment]
    candidates += [parts.username or "", parts.password or "", parts.hostname or ""]
    candidates += parts.path.split("/")
    candidates += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    secrets = set()
    for candidate in candidates:
        for form in (candidate, unquote(candidate)):
            if len(form) >= _MIN_SECRET_LENGTH:
                secrets.add(form)
    return sorted(secrets, key=len, reverse=True)


def redact(text: str | None, secrets: list[str]) -> str | None:
    """Replace every occurrence of each secret in ``text`` with REDACTED.

    NOTE: this catches a channel URL or its parts copied verbatim into a
    sender's error message, not a token that the sender re-encoded.
    """
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    # Adjacent parts of one URL (host, then path) read as one redaction.
    return re.sub(f"(?:{re.escape(REDACTED)})+", REDACTED, text)


# ---------------------------------------------------------------------------
# Formatting


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime, reading a naive one as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_utc(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_span(seconds: float) -> str:
    """Format a time span with its two largest units: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    total = max(int(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def format_age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = (as_utc(now) - as_utc(moment)).total_seconds()
    if seconds < 1:
        return "just now"
    return f"{format_span(seconds)} ago"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"


def format_uptime(percent: float | None) -> str:
    if percent is None:
        return "—"
    if percent >= 100:
        return "100 %"
    # Two decimals, but never rounded up to a misleading 100.00.
    return f"{int(percent * 100) / 100:.2f} %"


def format_until(moment: datetime, now: datetime) -> str:
    seconds = (as_utc(moment) - as_utc(now)).total_seconds()
    if seconds < 1:
        return "now"
    return f"in {format_span(seconds)}"


def isoformat(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def overall_status(views: list[CheckStatusView]) -> str:
    """Summarise all checks: failing, degraded, unknown or ok.

    ``degraded`` means no check is failing but some last result was not a
    pass, ``unknown`` that some check has no result yet or no check exists.
    """
    if any(view.state == "failing" for view in views):
        return "failing"
    if any(view.last_status not in (None, Status.PASS) for view in views):
        return "degraded"
    if not views or any(view.last_status is None for view in views):
        return "unknown"
    return "ok"


_OVERALL_HEADLINES = {
    "ok": "All checks passing",
    "degraded": "Degraded: some checks report problems",
    "failing": "Failing: at least one check is failing",
    "unknown": "Waiting for results",
}


# ---------------------------------------------------------------------------
# View models for the templates and the API


@dataclass(slots=True)
class _SiteSection:
    name: str
    host: str
    rows: list[dict[str, Any]]


def _status_class(status: Status | None) -> str:
    return "none" if status is None else str(status)


def _check_row(view: CheckStatusView, now: datetime, local: bool, maintenance: MaintenanceWindow | None) -> dict[str, Any]:
    finding = top_finding(view.last_findings)
    visible = visible_finding(finding, local) if finding is not None else None
    return {
        "id": view.check_id,
        "url": f"/checks/{view.check_id}",
        "name": view.name,
        "kind": view.kind,
        "site": view.site,
        "state": view.state,
        "status": str(view.last_status) if view.last_status is not None else "no results yet",
        "status_class": _status_class(view.last_status),
        "reason": view.last_reason or "",
        "since_relative": format_age(view.since, now),
        "since_absolute": format_utc(view.since),
        "since_iso": isoformat(view.since) or "",
        "last_run_relative": format_age(view.last_run_at, now),
        "last_run_absolute": format_utc(view.last_run_at),
        "last_duration": format_duration(view.last_duration_s),
        "finding": visible,
        "uptime_24h": format_uptime(view.uptime_24h),
        "uptime_7d": format_uptime(view.uptime_7d),
        "sparkline": Markup(sparkline_svg(view.latency_series)),
        "open_incident_id": view.open_incident_id,
        "maintenance": maintenance.config.name if maintenance is not None else None,
    }


def _site_sections(config: Config, views: list[CheckStatusView], rows: list[dict[str, Any]]) -> list[_SiteSection]:
    """Group check rows by site: configured sites in config order, then any others by name."""
    sections = {site.name: _SiteSection(site.name, urlsplit(site.base_url).hostname or "", []) for site in config.sites}
    for view, row in zip(views, rows, strict=True):
        section = sections.get(view.site)
        if section is None:
            # A check whose site left the configuration but is still in storage.
            section = sections[view.site] = _SiteSection(view.site, "", [])
        section.rows.append(row)
    configured_names = [site.name for site in config.sites]
    others = sorted(name for name in sections if name not in configured_names)
    return [sections[name] for name in configured_names + others]


def _finding_json(finding: Finding | None) -> dict[str, str] | None:
    if finding is None:
        return None
    return {"code": finding.code, "severity": str(finding.severity), "message": finding.message}


def _check_json(view: CheckStatusView, local: bool, maintenance: MaintenanceWindow | None) -> dict[str, Any]:
    finding = top_finding(view.last_findings)
    return {
        "id": view.check_id,
        "site": view.site,
        "name": view.name,
        "kind": view.kind,
        "state": view.state,
        "last_status": str(view.last_status) if view.last_status is not None else None,
        "last_reason": view.last_reason,
        "since": isoformat(view.since),
        "last_run_at": isoformat(view.last_run_at),
        "last_duration_s": view.last_duration_s,
        "uptime_24h": view.uptime_24h,
        "uptime_7d": view.uptime_7d,
        "top_finding": _finding_json(visible_finding(finding, local) if finding is not None else None),
        "in_maintenance": maintenance is not None,
    }


def _result_row(result: ResultView, now: datetime, local: bool) -> dict[str, Any]:
    return {
        "time": format_utc(result.started_at),
        "age": format_age(result.started_at, now),
        "status": str(result.status),
        "status_class": _status_class(result.status),
        "reason": result.reason,
        "duration": format_duration(result.duration_s),
        "findings": [visible_finding(finding, local) for finding in result.findings],
        "findings_dropped": result.findings_dropped,
    }


def _incident_row(
    incident: IncidentView,
    notifications: list[NotificationView],
    now: datetime,
    local: bool,
    secrets: list[str],
) -> dict[str, Any]:
    end = incident.resolved_at if incident.resolved_at is not None else now
    span = format_span((as_utc(end) - as_utc(incident.opened_at)).total_seconds())
    message, code = visible_incident_message(incident, local)
    return {
        "id": incident.id,
        "opened": format_utc(incident.opened_at),
        "resolved": format_utc(incident.resolved_at) if incident.resolved_at is not None else "open",
        "is_open": incident.resolved_at is None,
        "duration": span if incident.resolved_at is not None else f"{span} so far",
        "reason": incident.reason,
        "message": message,
        "code": code or "",
        "notifications": [_notification_row(notification, secrets) for notification in notifications],
    }


def _notification_row(notification: NotificationView, secrets: list[str]) -> dict[str, Any]:
    return {
        "channel": notification.channel,
        "kind": notification.kind,
        "state": notification.state,
        # Silenced and deduplicated rows are never sent, so they get the neutral badge.
        "state_class": _NOTIFICATION_STATE_CLASSES.get(notification.state, "none"),
        "attempts": notification.attempts,
        "sent": format_utc(notification.sent_at) if notification.sent_at is not None else "",
        "error": redact(notification.last_error, secrets) or "",
    }


def _channel_statuses_by_name(config: Config, statuses: list[ChannelStatus]) -> list[tuple[str, ChannelStatus | None, bool]]:
    """Pair each channel with its status: configured channels in config order, then others by name.

    A channel that left the configuration still shows while the outbox has rows for it.
    """
    by_name = {status.channel: status for status in statuses}
    configured = [channel.name for channel in config.channels]
    paired = [(name, by_name.get(name), True) for name in configured]
    paired += [(name, by_name[name], False) for name in sorted(by_name) if name not in configured]
    return paired


def _channel_row(name: str, status: ChannelStatus | None, configured: bool, now: datetime, secrets: list[str]) -> dict[str, Any]:
    last_sent_at = status.last_sent_at if status is not None else None
    last_error_at = status.last_error_at if status is not None else None
    return {
        "name": name,
        "configured": configured,
        "last_sent": format_utc(last_sent_at) if last_sent_at is not None else "",
        "last_sent_age": format_age(last_sent_at, now) if last_sent_at is not None else "",
        "last_error": redact(status.last_error, secrets) if status is not None else None,
        "last_error_time": format_utc(last_error_at) if last_error_at is not None else "",
        "last_error_age": format_age(last_error_at, now) if last_error_at is not None else "",
        "pending": status.pending if status is not None else 0,
        "failed": status.failed if status is not None else 0,
    }


def _channel_json(name: str, status: ChannelStatus | None, configured: bool, secrets: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "configured": configured,
        "last_sent_at": isoformat(status.last_sent_at) if status is not None else None,
        "last_error": redact(status.last_error, secrets) if status is not None else None,
        "last_error_at": isoformat(status.last_error_at) if status is not None else None,
        "pending": status.pending if status is not None else 0,
        "failed": status.failed if status is not None else 0,
    }


def _secrets_of(channels: list[ChannelConfig]) -> list[str]:
    secrets = {secret for channel in channels for secret in channel_url_secrets(channel.url)}
    return sorted(secrets, key=len, reverse=True)


# ---------------------------------------------------------------------------
# Maintenance windows


@dataclass(slots=True)
class _MaintenanceNow:
    """Maintenance windows at one moment, each with its current or next span and whether it is active."""

    spans: list[tuple[MaintenanceWindow, tuple[datetime, datetime] | None, bool]]

    @classmethod
    def at(cls, schedule: MaintenanceSchedule, now: datetime) -> _MaintenanceNow:
        spans = []
        for window in schedule.windows:
            active = window.span_at(now) is not None
            spans.append((window, window.next_span(now), active))
        return cls(spans)

    def covering(self, site: str, check_id: str) -> MaintenanceWindow | None:
        """Return the first active window that covers the check, if any."""
        for window, _, active in self.spans:
            if active and window.covers(site, check_id):
                return window
        return None


def _maintenance_scope(window: MaintenanceWindow) -> str:
    config = window.config
    if not config.sites and not config.checks:
        return "all checks"
    parts = []
    if config.sites:
        parts.append("sites " + ", ".join(config.sites))
    if config.checks:
        parts.append("checks " + ", ".join(config.checks))
    return "; ".join(parts)


def _maintenance_schedule_text(window: MaintenanceWindow) -> str:
    config = window.config
    if config.cron is not None and config.duration is not None:
        return f"cron {config.cron} (UTC), {format_span(config.duration)} each"
    return "one-off"


def _maintenance_row(window: MaintenanceWindow, span: tuple[datetime, datetime] | None, active: bool, now: datetime) -> dict[str, Any]:
    if span is None:
        when = "no upcoming window"
    elif active:
        when = f"in maintenance until {format_utc(span[1])} ({format_until(span[1], now)})"
    else:
        when = f"next from {format_utc(span[0])} to {format_utc(span[1])} ({format_until(span[0], now)})"
    return {
        "name": window.config.name,
        "scope": _maintenance_scope(window),
        "schedule": _maintenance_schedule_text(window),
        "active": active,
        "when": when,
    }


def _maintenance_json(window: MaintenanceWindow, span: tuple[datetime, datetime] | None, active: bool) -> dict[str, Any]:
    return {
        "name": window.config.name,
        "active": active,
        "start": isoformat(span[0]) if span is not None else None,
        "end": isoformat(span[1]) if span is not None else None,
    }


# ---------------------------------------------------------------------------
# Handlers


class _StatusWeb:
    def __init__(
        self,
        storage: Storage,
        registry: CollectorRegistry,
        health: Health,
        config: Config,
        clock: Clock,
        outbox: OutboxStore,
        maintenance: MaintenanceSchedule,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._health = health
        self._config = config
        self._clock = clock
        self._outbox = outbox
        self._maintenance = maintenance
        self._secrets = _secrets_of(config.channels)
        # Position of each configured check, so pages and the API list checks
        # in the order of the configuration file instead of by id.
        check_ids = [f"{site.name}/{check.id}" for site in config.sites for check in site.checks]
        self._config_order = {check_id: position for position, check_id in enumerate(check_ids)}
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("launchwatch.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates.globals["links"] = dict(config.web.links)

    def render(self, template: str, *, status: int = 200, **context: Any) -> web.Response:
        text = self._templates.get_template(template).render(**context)
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    async def _load_status(self, now: datetime) -> tuple[list[CheckStatusView], list[tuple[str, ChannelStatus | None, bool]]]:
        views, statuses = await asyncio.to_thread(self._read_status, now)
        unconfigured = len(self._config_order)
        views = sorted(views, key=lambda view: (self._config_order.get(view.check_id, unconfigured), view.check_id))
        return views, _channel_statuses_by_name(self._config, statuses)

    def _read_status(self, now: datetime) -> tuple[list[CheckStatusView], list[ChannelStatus]]:
        # One worker-thread hop for the reads of the status page and the API.
        return self._storage.check_statuses(now), self._outbox.channel_statuses()

    async def status_page(self, request: web.Request) -> web.Response:
        now = self._clock.now()
        views, channels = await self._load_status(now)
        maintenance = _MaintenanceNow.at(self._maintenance, now)
        local = request_is_local(request)
        rows = [_check_row(view, now, local, maintenance.covering(view.site, view.check_id)) for view in views]
        overall = overall_status(views)
        return self.render(
            "index.html",
            title="launchwatch status",
            generated=format_utc(now),
            overall=overall,
            headline=_OVERALL_HEADLINES[overall],
            check_count=len(views),
            failing_count=sum(1 for view in views if view.state == "failing"),
            sections=_site_sections(self._config, views, rows),
            channels=[_channel_row(name, status, configured, now, self._secrets) for name, status, configured in channels],
            maintenance=[_maintenance_row(window, span, active, now) for window, span, active in maintenance.spans],
        )

    async def check_page(self, request: web.Request) -> web.Response:
        check_id = f"{request.match_info['site']}/{request.match_info['check']}"
        now = self._clock.now()
        found = await asyncio.to_thread(self._load_check, check_id, now)
        if found is None:
            message = f"No check has the id {check_id}. The status page lists every configured check."
            return self._error_page(404, "Check not found", message)
        view, results, incidents, notifications = found
        local = request_is_local(request)
        maintenance = _MaintenanceNow.at(self._maintenance, now).covering(view.site, view.check_id)
        check = _check_row(view, now, local, maintenance)
        check["sparkline"] = Markup(sparkline_svg(view.latency_series, width=360, height=48))
        by_incident: dict[int | None, list[NotificationView]] = {}
        for notification in notifications:
            by_incident.setdefault(notification.incident_id, []).append(notification)
        incident_rows = [
            _incident_row(incident, by_incident.get(incident.id, []), now, local, self._secrets) for incident in incidents
        ]
        return self.render(
            "check.html",
            title=f"{view.name} · launchwatch",
            generated=format_utc(now),
            check=check,
            results=[_result_row(result, now, local) for result in results],
            incidents=incident_rows,
        )

    def _load_check(
        self, check_id: str, now: datetime
    ) -> tuple[CheckStatusView, list[ResultView], list[IncidentView], list[NotificationView]] | None:
        # One worker-thread hop for the four queries of a check page.
        view = self._storage.check_status(check_id, now)
        if view is None:
            return None
        results = self._storage.recent_results(check_id, _RECENT_RESULTS_LIMIT)
        incidents = self._storage.incidents(check_id, _INCIDENTS_LIMIT)
        notifications = self._outbox.notifications([incident.id for incident in incidents])
        return view, results, incidents, notifications

    async def api_status(self, request: web.Request) -> web.Response:
        now = self._clock.now()
        views, channels = await self._load_status(now)
        maintenance = _MaintenanceNow.at(self._maintenance, now)
        local = request_is_local(request)
        body = {
            "generated_at": isoformat(now),
            "status": overall_status(views),
            "checks": [_check_json(view, local, maintenance.covering(view.site, view.check_id)) for view in views],
            "channels": [_channel_json(name, status, configured, self._secrets) for name, status, configured in channels],
            "maintenance": [_maintenance_json(window, span, active) for window, span, active in maintenance.spans],
        }
        return web.json_response(body)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, reason = self._health.healthy(self._clock.monotonic())
        if healthy:
            return web.Response(text="ok\n")
        return web.Response(text=f"{reason}\n", status=503)

    @web.middleware
    async def error_pages(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Render 404, 500 and 503 as pages (or JSON under /api/) instead of aiohttp's bare text."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            if request.path.startswith("/api/"):
                return web.json_response({"error": f"not found: {request.path}"}, status=404)
            message = f"There is no page at {request.path}. The status page lists every check."
            return self._error_page(404, "Not found", message)
        except web.HTTPException:
            raise
        except StorageError as exc:
            # The message names the database, which is no business of a public page.
            logger.error("web request %s %s failed: %s", request.method, request.path, exc)
            if request.path.startswith("/api/"):
                return web.json_response({"error": "storage unavailable; see the daemon log"}, status=503)
            return self._error_page(503, "Storage unavailable", "The check data could not be read from the database. The daemon log has the error.")
        except Exception:
            logger.exception("web request %s %s failed", request.method, request.path)
            if request.path.startswith("/api/"):
                return web.json_response({"error": "internal error; see the daemon log"}, status=500)
            return self._error_page(500, "Internal error", "The page could not be built. The daemon log has the error.")

    def _error_page(self, status: int, heading: str, message: str) -> web.Response:
        return self.render(
            "error.html",
            status=status,
            title=f"{heading} · launchwatch",
            generated=format_utc(self._clock.now()),
            heading=heading,
            message=message,
        )


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Every response is live data, and pages viewed from the daemon's host show
    # security findings, so no browser or proxy may keep a copy.
    response.headers["Cache-Control"] = "no-store"


def create_app(
    storage: Storage,
    registry: CollectorRegistry,
    health: Health,
    config: Config,
    clock: Clock | None = None,
    *,
    outbox: OutboxStore | None = None,
    maintenance: MaintenanceSchedule | None = None,
) -> web.Application:
    """Build the aiohttp application; the caller runs it (AppRunner) and closes the storage.

    Without ``outbox`` or ``maintenance`` the app reads the outbox of
    ``storage`` and the maintenance windows of ``config``.
    """
    handlers = _StatusWeb(
        storage,
        registry,
        health,
        config,
        clock or SystemClock(),
        outbox if outbox is not None else OutboxStore(storage),
        maintenance if maintenance is not None else MaintenanceSchedule(config.maintenance),
    )
    app = web.Application(middlewares=[handlers.error_pages])
    app.router.add_get("/", handlers.status_page)
    app.router.add_get("/checks/{site}/{check}", handlers.check_page)
    app.router.add_get("/api/v1/status", handlers.api_status)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/healthz", handlers.healthz)
    app.on_response_prepare.append(_add_security_headers)
    return app

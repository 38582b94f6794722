"""The configuration schema: sites, their checks, storage, web and defaults.

Every model forbids unknown keys, so a typo stops the start instead of
silently falling back to a default. Loading, secret expansion, error
formatting and the rules that span several entries (unique names, channel
references) live in `configfile`, which checks them on the raw YAML so
that one run reports every problem.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from launchwatch.probes.options import Duration, check_ca_file
from launchwatch.probes.registry import PROBE_KINDS

_CHECK_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _identifier(value: str, what: str, why: str = "") -> str:
    """Check a site, check or channel name: they appear in ids, URLs and metric labels."""
    if not _CHECK_ID.match(value):
        raise ValueError(
            f"invalid {what} {value!r}; use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit{why}"
        )
    return value


def _positive_interval(value: float | None) -> float | None:
    if value is not None and value < 1:
        raise ValueError(f"interval {value:g} s is too short; use at least 1s")
    return value


def _positive_timeout(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise ValueError("timeout must be more than 0 s; write a duration such as 10s")
    return value


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckDefaults(StrictModel):
    interval: Duration = 60.0
    timeout: Duration = 10.0
    # Each run starts up to this much later than planned, so checks that
    # share an interval do not all fire in the same instant.
    jitter: Duration = 0.0
    severity: Literal["critical", "warning", "info"] = "critical"
    failure_threshold: int = Field(default=2, ge=1, le=100)
    success_threshold: int = Field(default=1, ge=1, le=100)

    _interval = field_validator("interval")(_positive_interval)
    _timeout = field_validator("timeout")(_positive_timeout)


class CheckConfig(StrictModel):
    """One check as written in YAML; unset fields come from `defaults`."""

    id: str
    name: str | None = None
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    interval: Duration | None = None
    timeout: Duration | None = None
    jitter: Duration | None = None
    severity: Literal["critical", "warning", "info"] | None = None
    failure_threshold: int | None = Field(default=None, ge=1, le=100)
    success_threshold: int | None = Field(default=None, ge=1, le=100)
    # Channel names to notify; unset means the site's, then alerts.channels.
    channels: list[str] | None = None

    _interval = field_validator("interval")(_positive_interval)
    _timeout = field_validator("timeout")(_positive_timeout)

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        return _identifier(value, "check id", " (the id keeps the check's history, so pick it once)")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in PROBE_KINDS:
            known = ", ".join(sorted(PROBE_KINDS))
            raise ValueError(f"unknown probe kind {value!r}; use one of: {known}")
        return value


class SiteConfig(StrictModel):
    name: str
    base_url: str
    resolve: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    # Channel names for this site's checks; unset means alerts.channels.
    channels: list[str] | None = None
    checks: list[CheckConfig] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _site_name(cls, value: str) -> str:
        return _identifier(value, "site name")

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid base_url {value!r}; write an absolute http:// or https:// URL such as https://app.example.com")
        try:
            parts.port
        except ValueError:
            raise ValueError(f"invalid port in base_url {value!r}; use a port from 1 to 65535") from None
        if parts.username or parts.password:
            raise ValueError("base_url contains credentials; send them in headers (Authorization) instead, so they stay out of logs")
        return value

    @field_validator("resolve")
    @classmethod
    def _ip_addresses(cls, value: dict[str, str]) -> dict[str, str]:
        import ipaddress

        for host, address in value.items():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(
                    f"resolve maps {host!r} to {address!r}, which is not an IP address; write an IPv4 or IPv6 address such as 127.0.0.1"
                ) from None
        return value


Severity = Literal["critical", "warning", "info"]


class ChannelConfig(StrictModel):
    """A place notifications go: one apprise URL and what it receives."""

    name: str
    # An apprise URL: slack://, mailto://, mailtos://, json://, discord://, ...
    url: str
    # Check severities this channel hears about.
    severities: list[Severity] = Field(default_factory=lambda: ["critical", "warning", "info"])
    # Result statuses whose incidents this channel hears about: "fail" means the
    # target misbehaved, "error" that the probe itself could not run.
    statuses: list[Literal["fail", "error"]] = Field(default_factory=lambda: ["fail", "error"])

    @field_validator("name")
    @classmethod
    def _channel_name(cls, value: str) -> str:
        return _identifier(value, "channel name")


class EscalationConfig(StrictModel):
    # How long an incident stays open before the escalation channels hear of it.
    after: Duration
    channels: list[str]


class AlertsConfig(StrictModel):
    # Channels for every check that names none itself (and whose site names none).
    channels: list[str] = Field(default_factory=list)
    # Repeat the opening notification this often while an incident stays open;
    # unset sends no reminders.
    reminder_interval: Duration | None = None
    escalation: EscalationConfig | None = None
    # Called after each healthy scheduler cycle (healthchecks.io style), so
    # someone learns when launchwatch itself stops.
    heartbeat_url: str | None = None
    heartbeat_interval: Duration = 60.0
    # Notifications are retried with growing delays for this long, then
    # marked failed.
    give_up_after: Duration = 86400.0

    @field_validator("reminder_interval")
    @classmethod
    def _reminder_interval(cls, value: float | None) -> float | None:
        if value is not None and value < 60:
            raise ValueError(f"reminder_interval {value:g} s is too short; use at least 1m, or leave it unset for no reminders")
        return value

    @field_validator("heartbeat_url")
    @classmethod
    def _heartbeat_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"invalid heartbeat_url {value!r}; write an absolute http:// or https:// URL")
        return value


class MaintenanceConfig(StrictModel):
    """A stretch of time in which notifications stay silent: recurring or one-off."""

    name: str
    # Recurring: a 5-field cron expression (UTC) and how long each window lasts.
    cron: str | None = None
    duration: Duration | None = None
    # One-off: an ISO 8601 start and end with a time zone.
    start: datetime | None = None
    end: datetime | None = None
    # Which sites or checks (``site/check``) it silences; both empty means all.
    sites: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind_of_window(self) -> MaintenanceConfig:
        recurring = self.cron is not None or self.duration is not None
        one_off = self.start is not None or self.end is not None
        if recurring and one_off:
            raise ValueError(f"maintenance window {self.name!r} sets both cron/duration and start/end; keep one of the two forms")
        if recurring:
            if self.cron is None or self.duration is None:
                raise ValueError(f"maintenance window {self.name!r} needs both cron and duration, e.g. cron: '0 3 * * sun' and duration: 1h")
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(self.cron, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"maintenance window {self.name!r} has an invalid cron expression {self.cron!r}: {exc}; write 5 fields: minute hour day month weekday") from None
        elif self.start is None or self.end is None:
            raise ValueError(f"maintenance window {self.name!r} needs cron and duration, or start and end")
        else:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError(f"maintenance window {self.name!r} needs a time zone on start and end, e.g. 2026-12-05T02:00:00Z")
            if self.end <= self.start:
                raise ValueError(f"maintenance window {self.name!r} ends before it starts; put end after start")
        return self


class StorageConfig(StrictModel):
    # Empty means a SQLite file in the state directory.
    url: str = ""
    # Raw results older than this are deleted; hourly rollups keep the history.
    retention: Duration = 30 * 86400.0

    @field_validator("url")
    @classmethod
    def _supported_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError(f"unsupported storage URL {value!r}; use sqlite:///path/to/file.db or postgresql://user@host/db")
        return value


class WebConfig(StrictModel):
    enabled: bool = True
    # ``host:port``; port 0 picks a free port.
    listen: str = "127.0.0.1:8080"
    # The address people use to reach the status page, for links in messages.
    public_url: str | None = None
    # Extra links shown at the top of the status page: title -> URL.
    links: dict[str, str] = Field(default_factory=dict)

    @field_validator("links")
    @classmethod
    def _http_links(cls, value: dict[str, str]) -> dict[str, str]:
        for title, url in value.items():
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"link {title!r} points to {url!r}; write an absolute http:// or https:// URL")
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"invalid listen address {value!r}; write host:port such as 127.0.0.1:8080 or [::1]:8080")
        return value


class DnsConfig(StrictModel):
    # ``host`` or ``host:port`` entries; empty means /etc/resolv.conf.
    nameservers: list[str] = Field(default_factory=list)
    timeout: Duration = 5.0


class SchedulerConfig(StrictModel):
    # Maximum number of checks running at once across all sites.
    max_concurrency: int = Field(default=200, ge=1, le=10000)


class Config(StrictModel):
    state_dir: Path = Path("./launchwatch-state")
    storage: StorageConfig = Field(default_factory=StorageConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    defaults: CheckDefaults = Field(default_factory=CheckDefaults)
    # A CA bundle that TLS verification trusts instead of the system store.
    ca_file: str | None = None

    _ca_file = field_validator("ca_file")(check_ca_file)
    channels: list[ChannelConfig] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    maintenance: list[MaintenanceConfig] = Field(default_factory=list)
    sites: list[SiteConfig] = Field(default_factory=list)

    def storage_url(self) -> str:
        if self.storage.url:
            return self.storage.url
        return f"sqlite:///{(self.state_dir / 'launchwatch.db').resolve()}"

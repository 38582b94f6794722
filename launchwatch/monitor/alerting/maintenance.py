"""Maintenance windows: recurring (cron and duration) or one-off (start and end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from launchwatch.monitor.config import MaintenanceConfig


@dataclass(frozen=True)
class MaintenanceWindow:
    config: MaintenanceConfig

    def covers(self, site: str, check_id: str) -> bool:
        scoped = self.config.sites or self.config.checks
        if not scoped:
            return True
        return site in self.config.sites or check_id in self.config.checks

    def span_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        """Return the (start, end) of the window occurrence containing ``now``, if any."""
        config = self.config
        if config.start is not None and config.end is not None:
            return (config.start, config.end) if config.start <= now < config.end else None
        assert config.cron is not None and config.duration is not None
        duration = timedelta(seconds=config.duration)
        trigger = CronTrigger.from_crontab(config.cron, timezone="UTC")
        # The first firing at or after now - duration is the latest one
        # whose window could still be open.
        start = trigger.get_next_fire_time(None, now - duration)
        if start is not None and start <= now:
            return start, start + duration
        return None

    def next_span(self, now: datetime) -> tuple[datetime, datetime] | None:
        """Return the current or next occurrence, for the status page."""
        current = self.span_at(now)
        if current:
            return current
        config = self.config
        if config.start is not None and config.end is not None:
            return (config.start, config.end) if config.start > now else None
        assert config.cron is not None and config.duration is not None
        start = CronTrigger.from_crontab(config.cron, timezone="UTC").get_next_fire_time(None, now)
        return (start, start + timedelta(seconds=config.duration)) if start else None


class MaintenanceSchedule:
    def __init__(self, configs: list[MaintenanceConfig]) -> None:
        self.windows = [MaintenanceWindow(config) for config in configs]

    def active(self, site: str, check_id: str, now: datetime) -> MaintenanceWindow | None:
        for window in self.windows:
            if window.covers(site, check_id) and window.span_at(now):
                return window
        return None

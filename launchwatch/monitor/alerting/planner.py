"""Decide which channels hear about what: openings, recoveries, reminders and escalations."""

from __future__ import annotations

from datetime import datetime

from launchwatch.monitor.alerting.events import ESCALATION, OPENED, REMINDER, NotificationEvent
from launchwatch.monitor.alerting.maintenance import MaintenanceSchedule
from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.config import ChannelConfig, Config
from launchwatch.monitor.outbox import PENDING, SENT, FAILED, DEDUPLICATED, NotificationDraft, OpenIncident
from launchwatch.monitor.storage import Transition
from launchwatch.probes.result import Finding, ProbeResult

# An "opened" row in one of these states means the channel was notified or
# will be. Such an incident gets reminders, and its resolution is sent.
_NOTIFIED = (PENDING, SENT, FAILED)


class NotificationPlanner:
    def __init__(self, config: Config, checks: list[CheckDefinition]) -> None:
        self._channels = {channel.name: channel for channel in config.channels}
        self._alerts = config.alerts
        self._maintenance = MaintenanceSchedule(config.maintenance)
        self._public_url = config.web.public_url
        self.checks = {check.id: check for check in checks}

    @property
    def maintenance(self) -> MaintenanceSchedule:
        return self._maintenance

    def __call__(self, check: CheckDefinition, result: ProbeResult, transition: Transition) -> list[NotificationDraft]:
        """Plan the notifications of one state change; storage writes them with it."""
        event = self._event(
            check,
            kind=transition.kind,
            status=str(result.status),
            reason=str(result.reason),
            findings=result.findings,
            opened_at=transition.opened_at,
            at=transition.at,
            incident_id=transition.incident_id,
        )
        if transition.kind == "resolved":
            event = event.replace(resolved_at=transition.at)
            channels = [self._channels[name] for name in check.channels]
            if self._alerts.escalation:
                channels += [self._channels[name] for name in self._alerts.escalation.channels]
        else:
            channels = self._routed(check, str(result.status))
        silenced = self._maintenance.active(check.site, check.id, transition.at) is not None
        return [
            NotificationDraft(
                channel=channel.name,
                kind=transition.kind,
                payload=event.to_json(),
                incident_id=transition.incident_id,
                check_id=check.id,
                dedupe_key=result.dedupe_key if transition.kind == OPENED else None,
                silenced=silenced,
            )
            for channel in _unique(channels)
        ]

    def due(self, incident: OpenIncident, now: datetime) -> list[NotificationDraft]:
        """Plan what an open incident is owed at ``now``: a deferred opening, a reminder, an escalation."""
        check = self.checks.get(incident.check_id)
        if check is None or self._maintenance.active(check.site, check.id, now) is not None:
            return []
        drafts = []
        for channel in self._routed(check, incident.last_status):
            drafts.extend(self._due_for_channel(check, incident, channel, now))
        escalation = self._alerts.escalation
        if escalation and (now - incident.opened_at).total_seconds() >= escalation.after:
            for name in escalation.channels:
                if ESCALATION not in incident.written.get(name, set()):
                    drafts.append(self._draft(check, incident, ESCALATION, name, 0, now))
        return drafts

    def _due_for_channel(self, check: CheckDefinition, incident: OpenIncident, channel: ChannelConfig, now: datetime) -> list[NotificationDraft]:
        states = incident.opened_states.get(channel.name, [])
        if DEDUPLICATED in states and not any(state in _NOTIFIED for state in states):
            # Another check's incident about the same fault speaks for this
            # one, reminders included.
            return []
        if not any(state in _NOTIFIED for state in states):
            # Opened during maintenance (or before this channel was routed):
            # tell the channel now that it may hear.
            return [self._draft(check, incident, OPENED, channel.name, len(states), now)]
        interval = self._alerts.reminder_interval
        if interval is None:
            return []
        sequence = int((now - incident.opened_at).total_seconds() // interval)
        if sequence < 1:
            return []
        # Written under a unique (incident, channel, kind, sequence) key, so
        # planning the same reminder twice, here or in another daemon, is harmless.
        return [self._draft(check, incident, REMINDER, channel.name, sequence, now)]

    def _draft(self, check: CheckDefinition, incident: OpenIncident, kind: str, channel: str, sequence: int, now: datetime) -> NotificationDraft:
        event = self._event(
            check,
            kind=kind,
            status=incident.last_status,
            reason=incident.last_reason,
            findings=incident.last_findings,
            opened_at=incident.opened_at,
            at=now,
            incident_id=incident.id,
        )
        return NotificationDraft(
            channel=channel, kind=kind, payload=event.to_json(), incident_id=incident.id, check_id=check.id, sequence=sequence
        )

    def _routed(self, check: CheckDefinition, status: str) -> list[ChannelConfig]:
        routed = []
        for name in check.channels:
            channel = self._channels[name]
            if check.severity in channel.severities and status in channel.statuses:
                routed.append(channel)
        return routed

    def _event(
        self,
        check: CheckDefinition,
        *,
        kind: str,
        status: str,
        reason: str,
        findings: list[Finding],
        opened_at: datetime,
        at: datetime,
        incident_id: int,
    ) -> NotificationEvent:
        return NotificationEvent(
            kind=kind,
            check_id=check.id,
            site=check.site,
            check_name=check.name,
            probe_kind=check.kind,
            severity=check.severity,
            status=status,
            reason=reason,
            opened_at=opened_at,
            at=at,
            findings=_by_severity(findings),
            incident_id=incident_id,
            check_url=self.check_url(check.id),
        )

    def check_url(self, check_id: str) -> str | None:
        if not self._public_url:
            return None
        return f"{self._public_url.rstrip('/')}/checks/{check_id}"


def _by_severity(findings: list[Finding]) -> list[Finding]:
    rank = {"fail": 0, "warn": 1, "info": 2}
    return sorted(findings, key=lambda finding: rank.get(str(finding.severity), 3))


def _unique(channels: list[ChannelConfig]) -> list[ChannelConfig]:
    seen: dict[str, ChannelConfig] = {}
    for channel in channels:
        seen.setdefault(channel.name, channel)
    return list(seen.values())

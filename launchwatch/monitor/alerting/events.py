"""The subject of a notification, stored as JSON in the outbox and rendered per channel at send time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from launchwatch.probes.result import Finding

# Kinds of notification, in the order an incident produces them.
OPENED = "opened"
REMINDER = "reminder"
ESCALATION = "escalation"
RESOLVED = "resolved"
TEST = "test"
KINDS = (OPENED, REMINDER, ESCALATION, RESOLVED, TEST)

# Findings carried in a notification; the check's page has the rest.
MAX_EVENT_FINDINGS = 3


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    kind: str
    check_id: str
    site: str
    check_name: str
    probe_kind: str
    severity: str
    # Status and reason of the result that caused the event.
    status: str
    reason: str
    opened_at: datetime | None
    at: datetime
    findings: list[Finding] = field(default_factory=list)
    resolved_at: datetime | None = None
    incident_id: int | None = None
    # A link to the check's page, when web.public_url is configured.
    check_url: str | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "kind": self.kind,
            "check_id": self.check_id,
            "site": self.site,
            "check_name": self.check_name,
            "probe_kind": self.probe_kind,
            "severity": self.severity,
            "status": self.status,
            "reason": self.reason,
            "opened_at": _iso(self.opened_at),
            "at": _iso(self.at),
            "resolved_at": _iso(self.resolved_at),
            "incident_id": self.incident_id,
            "check_url": self.check_url,
            "findings": [finding.to_dict() for finding in self.findings[:MAX_EVENT_FINDINGS]],
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> NotificationEvent:
        data = json.loads(text)
        return cls(
            kind=data["kind"],
            check_id=data["check_id"],
            site=data["site"],
            check_name=data["check_name"],
            probe_kind=data["probe_kind"],
            severity=data["severity"],
            status=data["status"],
            reason=data["reason"],
            opened_at=_parse(data.get("opened_at")),
            at=_parse(data["at"]),  # type: ignore[arg-type]
            resolved_at=_parse(data.get("resolved_at")),
            incident_id=data.get("incident_id"),
            check_url=data.get("check_url"),
            findings=[Finding.from_dict(item) for item in data.get("findings", [])],
        )

    def replace(self, **changes: Any) -> NotificationEvent:
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        return NotificationEvent(**values)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

"""The result every probe returns: a status, one reason, metrics and findings."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    # The probe itself could not run to a verdict (bad option, internal bug).
    ERROR = "error"


class Severity(enum.StrEnum):
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


class Reason(enum.StrEnum):
    """The machine-readable cause of a result; one value per result.

    Metrics and alert routing key on these values, so they are a fixed list:
    add a member here rather than passing free text.
    """

    OK = "ok"
    TIMEOUT = "timeout"
    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_ERROR = "dns_error"
    TCP_REFUSED = "tcp_refused"
    TCP_RESET = "tcp_reset"
    CONNECT_ERROR = "connect_error"
    TLS_ERROR = "tls_error"
    TLS_EXPIRED = "tls_expired"
    TLS_EXPIRING = "tls_expiring"
    TLS_UNTRUSTED = "tls_untrusted"
    TLS_HOSTNAME = "tls_hostname"
    TLS_WEAK = "tls_weak"
    HTTP_STATUS = "http_status"
    HTTP_PROTOCOL = "http_protocol"
    BODY_MISMATCH = "body_mismatch"
    BODY_TOO_LARGE = "body_too_large"
    BODY_DECODE = "body_decode"
    SLOW_RESPONSE = "slow_response"
    REDIRECT = "redirect"
    HEADER = "header"
    PROBE_ERROR = "probe_error"


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.FAIL: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One concrete observation: what was seen, what was expected, the fix."""

    code: str
    severity: Severity
    message: str
    subject: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            "subject": self.subject,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Finding:
        return cls(
            code=data["code"],
            severity=Severity(data["severity"]),
            message=data["message"],
            subject=data.get("subject", ""),
        )


@dataclass(slots=True)
class ProbeResult:
    status: Status
    reason: Reason
    started_at: datetime
    duration_s: float
    # Metric name -> value; the unit is part of the name (``ttfb_seconds``).
    metrics: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # Set when the result is about a thing other checks may watch too, such
    # as a TLS certificate's fingerprint, so one fault notifies once.
    dedupe_key: str | None = None

    def top_finding(self) -> Finding | None:
        """Return the most severe finding, the first one among equals."""
        if not self.findings:
            return None
        return max(self.findings, key=lambda f: _SEVERITY_RANK[f.severity])


def status_from_findings(findings: list[Finding]) -> Status:
    """Map the worst finding severity to a result status."""
    worst = max((_SEVERITY_RANK[f.severity] for f in findings), default=0)
    return {0: Status.PASS, 1: Status.WARN, 2: Status.FAIL}[worst]

"""Builders of checks and probe results for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.probes.context import Target
from launchwatch.probes.http import HttpOptions
from launchwatch.probes.result import Finding, ProbeResult, Reason, Status

# A fixed moment on an hour boundary, so rollup hours line up with test windows.
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_check(
    check_id: str = "shop/home",
    *,
    name: str | None = None,
    failure_threshold: int = 2,
    success_threshold: int = 1,
    base_url: str = "http://shop.test",
) -> CheckDefinition:
    site, _, check = check_id.partition("/")
    return CheckDefinition(
        id=check_id,
        site=site,
        name=name or check,
        kind="http",
        options=HttpOptions(),
        target=Target(site=site, base_url=base_url, resolve={"shop.test": "127.0.0.1"}),
        interval_s=60.0,
        timeout_s=10.0,
        jitter_s=0.0,
        severity="critical",
        failure_threshold=failure_threshold,
        success_threshold=success_threshold,
    )


def make_result(
    status: Status,
    started_at: datetime,
    *,
    duration_s: float = 0.1,
    findings: list[Finding] | None = None,
    metrics: dict[str, float] | None = None,
) -> ProbeResult:
    reason = Reason.OK if status in (Status.PASS, Status.WARN) else Reason.TIMEOUT
    return ProbeResult(
        status=status,
        reason=reason,
        started_at=started_at,
        duration_s=duration_s,
        metrics=metrics or {},
        findings=findings or [],
    )


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)

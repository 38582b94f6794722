"""Prometheus metrics of the daemon: check results, probe values and scheduler health.

Every metric lives on the registry passed in, never on prometheus_client's
global one, so tests and several daemons in one process stay apart. Labels
carry only the check id, site name, probe kind and status. Config validation
limits ids and site names to ``[a-z0-9_.-]``, so no URL or secret reaches a label.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.probes.result import ProbeResult, Status

CHECK_LABELS = ("check", "site", "kind")

# Scheduler lag is the actual minus the planned start of a run. A healthy loop
# stays in the low milliseconds, and an overloaded one slips by seconds, so the
# buckets span 1 ms to 30 s.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_UP_STATUSES = frozenset({Status.PASS, Status.WARN})
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]+")


def probe_metric_name(name: str) -> str:
    """Return the Prometheus name for a probe metric: ``ttfb_seconds`` -> ``launchwatch_probe_ttfb_seconds``.

    Characters outside ``[a-zA-Z0-9_]`` become one underscore, and the name is lowercased.
    """
    cleaned = _INVALID_NAME_CHARS.sub("_", name).strip("_").lower()
    return f"launchwatch_probe_{cleaned or 'unnamed'}"


@dataclass(slots=True)
class _LastResultSeries:
    """The label children that describe a check's last result."""

    up: Gauge
    status: dict[Status, Gauge]
    duration: Gauge
    last_run: Gauge
    # The status the one-hot series show; None until the first result.
    status_value: Status | None = None


@dataclass(slots=True)
class _CheckSeries:
    """The label children of one check, cached so a result costs only value updates."""

    labels: tuple[str, str, str]
    runs: dict[Status, Counter]
    # Created at the first result: a child exists from its creation with value
    # 0, and launchwatch_check_up 0 before any run would read as a failure.
    last_result: _LastResultSeries | None = None
    # Probe metric name as the probe reports it -> its label child.
    probe: dict[str, Gauge] = field(default_factory=dict)


class LaunchwatchMetrics:
    """The daemon's metrics on an injected registry.

    ``process_collector=True`` also registers prometheus_client's
    ProcessCollector (CPU seconds, memory, open file descriptors of this
    process). It is off by default because a process may hold several
    registries and the process series belong on one of them only.
    """

    def __init__(self, registry: CollectorRegistry, *, process_collector: bool = False) -> None:
        self._registry = registry
        if process_collector:
            ProcessCollector(registry=registry)

        self.check_up = Gauge(
            "launchwatch_check_up",
            "1 when the check's last result was pass or warn, 0 when it was fail or error.",
            CHECK_LABELS,
            registry=registry,
        )
        self.check_status = Gauge(
            "launchwatch_check_status",
            "1 for the status of the check's last result, 0 for the other statuses.",
            (*CHECK_LABELS, "status"),
            registry=registry,
        )
        self.check_last_duration = Gauge(
            "launchwatch_check_last_duration_seconds",
            "Duration of the check's last run in seconds.",
            CHECK_LABELS,
            registry=registry,
        )
        self.check_last_run = Gauge(
            "launchwatch_check_last_run_timestamp_seconds",
            "Start of the check's last run as a Unix timestamp.",
            CHECK_LABELS,
            registry=registry,
        )
        self.check_runs = Counter(
            "launchwatch_check_runs_total",
            "Check runs by result status.",
            (*CHECK_LABELS, "status"),
            registry=registry,
        )
        self.scheduler_lag = Histogram(
            "launchwatch_scheduler_lag_seconds",
            "Actual minus planned start of a check run in seconds.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.scheduler_last_tick = Gauge(
            "launchwatch_scheduler_last_tick_timestamp_seconds",
            "Unix timestamp of the scheduler's last tick.",
            registry=registry,
        )
        self.checks_configured = Gauge(
            "launchwatch_checks_configured",
            "Number of enabled checks in the loaded configuration.",
            registry=registry,
        )
        self.checks_running = Gauge(
            "launchwatch_checks_running",
            "Number of check runs in progress.",
            registry=registry,
        )
        self.notifications = Counter(
            "launchwatch_notifications_total",
            "Notification delivery attempts by channel and resulting state (sent, pending for a retry, failed).",
            ("channel", "outcome"),
            registry=registry,
        )
        self.outbox_depth = Gauge(
            "launchwatch_outbox_depth",
            "Notifications waiting in the outbox to be sent.",
            registry=registry,
        )
        build_info = Info("launchwatch_build", "Version of launchwatch and of the Python that runs it.", registry=registry)
        build_info.info({"version": _package_version(), "python_version": platform.python_version()})

        # Probe metric gauges, created when a probe first reports the metric
        # name. One map is keyed by the raw name, the other by the sanitised name.
        self._probe_gauges: dict[str, Gauge] = {}
        self._probe_gauges_by_metric_name: dict[str, Gauge] = {}
        self._series: dict[str, _CheckSeries] = {}

    def set_checks(self, checks: list[CheckDefinition]) -> None:
        """Set the configured checks and drop the series of checks that left or were disabled.

        A check whose site or kind changed gets fresh series under its new labels.
        Run counters of new checks start at 0 for every status, so ``rate()`` counts
        the first run.
        """
        enabled = {check.id: check for check in checks if check.enabled}
        for check_id in list(self._series):
            check = enabled.get(check_id)
            if check is None or _labels_of(check) != self._series[check_id].labels:
                self._drop(check_id)
        for check in enabled.values():
            if check.id not in self._series:
                self._series[check.id] = self._create_series(check)
        self.checks_configured.set(len(enabled))

    def observe_result(self, check: CheckDefinition, result: ProbeResult) -> None:
        """Record one finished run of ``check``.

        Probe metrics missing from this result lose their series, so a failed
        run does not leave the previous run's timings on display.
        """
        series = self._series.get(check.id)
        if series is None or series.labels != _labels_of(check):
            if series is not None:
                self._drop(check.id)
            series = self._create_series(check)
            self._series[check.id] = series

        last = series.last_result
        if last is None:
            last = series.last_result = self._create_last_result_series(series.labels)
        status = result.status
        # Most runs repeat the previous status; the one-hot series change
        # only when it does, which saves most of the gauge updates.
        if status is not last.status_value:
            last.up.set(1.0 if status in _UP_STATUSES else 0.0)
            for candidate, child in last.status.items():
                child.set(1.0 if candidate is status else 0.0)
            last.status_value = status
        last.duration.set(result.duration_s)
        last.last_run.set(result.started_at.timestamp())
        series.runs[status].inc()
        self._set_probe_metrics(series, result.metrics)

    def observe_notification(self, channel: str, outcome: str) -> None:
        self.notifications.labels(channel, outcome).inc()

    def set_outbox_depth(self, depth: int) -> None:
        self.outbox_depth.set(depth)

    def observe_lag(self, seconds: float) -> None:
        """Record how late a run started compared with its plan; early starts count as 0."""
        self.scheduler_lag.observe(max(seconds, 0.0))

    def tick(self, now_ts: float) -> None:
        """Record that the scheduler loop ran at Unix time ``now_ts``."""
        self.scheduler_last_tick.set(now_ts)

    def running(self, delta: int) -> None:
        """Add ``delta`` (+1 at a run's start, -1 at its end) to the runs in progress."""
        self.checks_running.inc(delta)

    def _create_series(self, check: CheckDefinition) -> _CheckSeries:
        labels = _labels_of(check)
        runs = {status: self.check_runs.labels(*labels, status.value) for status in Status}
        return _CheckSeries(labels=labels, runs=runs)

    def _create_last_result_series(self, labels: tuple[str, str, str]) -> _LastResultSeries:
        return _LastResultSeries(
            up=self.check_up.labels(*labels),
            status={status: self.check_status.labels(*labels, status.value) for status in Status},
            duration=self.check_last_duration.labels(*labels),
            last_run=self.check_last_run.labels(*labels),
        )

    def _set_probe_metrics(self, series: _CheckSeries, values: dict[str, float]) -> None:
        for name in [name for name in series.probe if name not in values]:
            self._probe_gauge(name).remove(*series.labels)
            del series.probe[name]
        for name, value in values.items():
            child = series.probe.get(name)
            if child is None:
                child = self._probe_gauge(name).labels(*series.labels)
                series.probe[name] = child
            child.set(value)

    def _probe_gauge(self, name: str) -> Gauge:
        gauge = self._probe_gauges.get(name)
        if gauge is None:
            metric_name = probe_metric_name(name)
            # Two raw names can sanitise to one metric name (``ttfb-seconds``
            # and ``ttfb_seconds``), and the registry accepts each name once.
            gauge = self._probe_gauges_by_metric_name.get(metric_name)
            if gauge is None:
                gauge = Gauge(
                    metric_name,
                    f"Probe metric {metric_name.removeprefix('launchwatch_probe_')} from the check's last run.",
                    CHECK_LABELS,
                    registry=self._registry,
                )
                self._probe_gauges_by_metric_name[metric_name] = gauge
            self._probe_gauges[name] = gauge
        return gauge

    def _drop(self, check_id: str) -> None:
        series = self._series.pop(check_id)
        labels = series.labels
        for metric in (self.check_up, self.check_last_duration, self.check_last_run):
            metric.remove(*labels)
        for status in Status:
            self.check_status.remove(*labels, status.value)
            self.check_runs.remove(*labels, status.value)
        for name in series.probe:
            self._probe_gauge(name).remove(*labels)


def _labels_of(check: CheckDefinition) -> tuple[str, str, str]:
    return (check.id, check.site, check.kind)


def _package_version() -> str:
    try:
        return metadata.version("launchwatch")
    except metadata.PackageNotFoundError:
        return "unknown"

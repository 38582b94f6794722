"""LaunchwatchMetrics: check series, probe gauges, scheduler metrics and series clean-up."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import timedelta
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tests.web.web_support import NOW, make_config, probe_result

from launchwatch.monitor.checks import CheckDefinition, build_checks
from launchwatch.monitor.metrics import LaunchwatchMetrics, probe_metric_name
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status

PROMTOOL = "/usr/bin/promtool"


@pytest.fixture
def checks(tmp_path: Path) -> dict[str, CheckDefinition]:
    return {check.id: check for check in build_checks(make_config(tmp_path))}


def labels(check: CheckDefinition, **extra: str) -> dict[str, str]:
    return {"check": check.id, "site": check.site, "kind": check.kind, **extra}


def failing_result() -> ProbeResult:
    return probe_result(NOW, 0.5, [Finding("http.status", Severity.FAIL, "returned 503")])


def test_metrics_pass_result_sets_check_series(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    metrics.set_checks(list(checks.values()))

    metrics.observe_result(home, probe_result(NOW, 0.25))

    assert registry.get_sample_value("launchwatch_check_up", labels(home)) == 1.0
    assert registry.get_sample_value("launchwatch_check_status", labels(home, status="pass")) == 1.0
    assert registry.get_sample_value("launchwatch_check_status", labels(home, status="fail")) == 0.0
    assert registry.get_sample_value("launchwatch_check_last_duration_seconds", labels(home)) == 0.25
    assert registry.get_sample_value("launchwatch_check_last_run_timestamp_seconds", labels(home)) == NOW.timestamp()
    assert registry.get_sample_value("launchwatch_check_runs_total", labels(home, status="pass")) == 1.0
    assert registry.get_sample_value("launchwatch_check_runs_total", labels(home, status="fail")) == 0.0


@pytest.mark.parametrize(
    ("status", "up"),
    [(Status.PASS, 1.0), (Status.WARN, 1.0), (Status.FAIL, 0.0), (Status.ERROR, 0.0)],
)
def test_metrics_up_follows_status(checks, status, up):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]

    metrics.observe_result(home, probe_result(NOW, 0.1, status=status))

    assert registry.get_sample_value("launchwatch_check_up", labels(home)) == up
    for other in Status:
        expected = 1.0 if other is status else 0.0
        assert registry.get_sample_value("launchwatch_check_status", labels(home, status=other.value)) == expected


def test_metrics_status_one_hot_moves(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]

    metrics.observe_result(home, probe_result(NOW, 0.1))
    metrics.observe_result(home, failing_result())

    assert registry.get_sample_value("launchwatch_check_status", labels(home, status="pass")) == 0.0
    assert registry.get_sample_value("launchwatch_check_status", labels(home, status="fail")) == 1.0
    assert registry.get_sample_value("launchwatch_check_runs_total", labels(home, status="pass")) == 1.0
    assert registry.get_sample_value("launchwatch_check_runs_total", labels(home, status="fail")) == 1.0


def test_metrics_probe_values_become_gauges(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    result = probe_result(NOW, 0.1)
    result.metrics = {"ttfb_seconds": 0.042, "tls.days-left": 30.0}

    metrics.observe_result(home, result)

    assert registry.get_sample_value("launchwatch_probe_ttfb_seconds", labels(home)) == 0.042
    assert registry.get_sample_value("launchwatch_probe_tls_days_left", labels(home)) == 30.0


def test_metrics_probe_value_missing_later_is_removed(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    cart = checks["shop/cart"]
    metrics.observe_result(home, probe_result(NOW, 0.1))
    metrics.observe_result(cart, probe_result(NOW, 0.1))
    without_ttfb = probe_result(NOW, 0.1)
    without_ttfb.metrics = {}

    metrics.observe_result(home, without_ttfb)

    assert registry.get_sample_value("launchwatch_probe_ttfb_seconds", labels(home)) is None
    assert registry.get_sample_value("launchwatch_probe_ttfb_seconds", labels(cart)) == 0.05


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ttfb_seconds", "launchwatch_probe_ttfb_seconds"),
        ("TLS.Days-Left", "launchwatch_probe_tls_days_left"),
        ("dns lookup  seconds", "launchwatch_probe_dns_lookup_seconds"),
        ("1xx_responses", "launchwatch_probe_1xx_responses"),
        ("--", "launchwatch_probe_unnamed"),
    ],
)
def test_probe_metric_name_sanitises(raw, expected):
    assert probe_metric_name(raw) == expected


def test_metrics_colliding_probe_names_share_gauge(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    cart = checks["shop/cart"]
    first = probe_result(NOW, 0.1)
    first.metrics = {"body-bytes": 10.0}
    second = probe_result(NOW, 0.1)
    second.metrics = {"body_bytes": 20.0}

    metrics.observe_result(home, first)
    metrics.observe_result(cart, second)

    assert registry.get_sample_value("launchwatch_probe_body_bytes", labels(home)) == 10.0
    assert registry.get_sample_value("launchwatch_probe_body_bytes", labels(cart)) == 20.0


def test_metrics_set_checks_drops_removed_check(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    cart = checks["shop/cart"]
    metrics.set_checks([home, cart])
    metrics.observe_result(home, probe_result(NOW, 0.1))
    metrics.observe_result(cart, probe_result(NOW, 0.1))

    metrics.set_checks([cart])

    for name in ("launchwatch_check_up", "launchwatch_check_last_duration_seconds", "launchwatch_probe_ttfb_seconds"):
        assert registry.get_sample_value(name, labels(home)) is None, name
    assert registry.get_sample_value("launchwatch_check_runs_total", labels(home, status="pass")) is None
    assert registry.get_sample_value("launchwatch_check_status", labels(home, status="pass")) is None
    assert registry.get_sample_value("launchwatch_check_up", labels(cart)) == 1.0
    assert registry.get_sample_value("launchwatch_checks_configured") == 1.0


def test_metrics_set_checks_ignores_disabled(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    disabled = dataclasses.replace(checks["shop/cart"], enabled=False)

    metrics.set_checks([home, disabled])

    assert registry.get_sample_value("launchwatch_checks_configured") == 1.0
    assert registry.get_sample_value("launchwatch_check_runs_total", labels(disabled, status="pass")) is None


def test_metrics_new_check_counters_start_at_zero(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]

    metrics.set_checks([home])

    for status in Status:
        assert registry.get_sample_value("launchwatch_check_runs_total", labels(home, status=status.value)) == 0.0
    assert registry.get_sample_value("launchwatch_check_up", labels(home)) is None


def test_metrics_changed_kind_relabels_series(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    metrics.set_checks([home])
    metrics.observe_result(home, probe_result(NOW, 0.1))
    renamed = dataclasses.replace(home, kind="tls")

    metrics.set_checks([renamed])
    metrics.observe_result(renamed, probe_result(NOW, 0.1))

    assert registry.get_sample_value("launchwatch_check_up", labels(home)) is None
    assert registry.get_sample_value("launchwatch_check_up", labels(renamed)) == 1.0


def test_metrics_scheduler_lag_histogram(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)

    metrics.observe_lag(0.0005)
    metrics.observe_lag(0.004)
    metrics.observe_lag(12.0)
    metrics.observe_lag(-0.2)

    bucket = "launchwatch_scheduler_lag_seconds_bucket"
    assert registry.get_sample_value(bucket, {"le": "0.001"}) == 2.0
    assert registry.get_sample_value(bucket, {"le": "0.005"}) == 3.0
    assert registry.get_sample_value(bucket, {"le": "10.0"}) == 3.0
    assert registry.get_sample_value(bucket, {"le": "30.0"}) == 4.0
    assert registry.get_sample_value("launchwatch_scheduler_lag_seconds_count") == 4.0
    assert registry.get_sample_value("launchwatch_scheduler_lag_seconds_sum") == pytest.approx(12.0045)


def test_metrics_tick_and_running():
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)

    metrics.tick(1_700_000_000.5)
    metrics.running(1)
    metrics.running(1)
    metrics.running(-1)

    assert registry.get_sample_value("launchwatch_scheduler_last_tick_timestamp_seconds") == 1_700_000_000.5
    assert registry.get_sample_value("launchwatch_checks_running") == 1.0


def test_metrics_build_info_present():
    registry = CollectorRegistry()
    LaunchwatchMetrics(registry)

    samples = [s for m in registry.collect() if m.name == "launchwatch_build" for s in m.samples]

    assert len(samples) == 1
    assert samples[0].value == 1.0
    assert set(samples[0].labels) == {"version", "python_version"}


def test_metrics_stay_off_global_registry(checks):
    first = CollectorRegistry()
    second = CollectorRegistry()
    LaunchwatchMetrics(first).observe_result(checks["shop/home"], probe_result(NOW, 0.1))
    LaunchwatchMetrics(second)

    global_text = generate_latest(prometheus_client.REGISTRY).decode()

    assert "launchwatch_" not in global_text
    assert second.get_sample_value("launchwatch_check_up", labels(checks["shop/home"])) is None


def test_metrics_process_collector_is_optional():
    without = CollectorRegistry()
    with_process = CollectorRegistry()
    LaunchwatchMetrics(without)
    LaunchwatchMetrics(with_process, process_collector=True)

    assert "process_cpu_seconds_total" not in generate_latest(without).decode()
    assert "process_cpu_seconds_total" in generate_latest(with_process).decode()


def test_metrics_labels_hold_no_url(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    home = checks["shop/home"]
    metrics.set_checks(list(checks.values()))

    metrics.observe_result(home, probe_result(NOW, 0.1))
    text = generate_latest(registry).decode()

    assert "shop.test" not in text


def test_metrics_exposition_passes_promtool(checks):
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry, process_collector=True)
    metrics.set_checks(list(checks.values()))
    for check in checks.values():
        metrics.observe_result(check, probe_result(NOW - timedelta(seconds=5), 0.1))
    metrics.observe_result(checks["shop/cart"], ProbeResult(Status.ERROR, Reason.PROBE_ERROR, NOW, 0.0))
    metrics.observe_lag(0.01)
    metrics.tick(NOW.timestamp())

    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=generate_latest(registry), capture_output=True, timeout=30, check=False
    )

    assert checked.returncode == 0, checked.stderr.decode() + checked.stdout.decode()
    assert checked.stdout == b""
    assert checked.stderr == b""

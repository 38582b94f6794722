"""The web app over HTTP on loopback: status page, check page, API, /metrics, /healthz, headers."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from tests.web.web_support import (
    HTTP_FAIL_MESSAGE,
    NOW,
    SECURITY_FAIL_MESSAGE,
    SECURITY_MESSAGE,
    XSS_NAME,
    FakeHealth,
    FixedClock,
    Scenario,
    fetch_paths,
    open_storage,
    probe_result,
)

from launchwatch.monitor.config import Config
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.storage import IncidentView, Storage
from launchwatch.probes.result import Finding, Severity, Status
from launchwatch.web.app import (
    CONTENT_SECURITY_POLICY,
    HIDDEN_SECURITY_MESSAGE,
    create_app,
    is_loopback_address,
    visible_finding,
    visible_incident_message,
)

PROMTOOL = "/usr/bin/promtool"
PROXIED = {"X-Forwarded-For": "203.0.113.7"}
API_FIELDS = {
    "id", "site", "name", "kind", "state", "last_status", "last_reason", "since", "last_run_at",
    "last_duration_s", "uptime_24h", "uptime_7d", "top_finding", "in_maintenance",
}  # fmt: skip


def check_rows(html: str) -> dict[str, str]:
    """Return the markup of each status-page row by check id."""
    rows = {}
    for chunk in html.split('<tr class="check" data-check-id="')[1:]:
        check_id, _, rest = chunk.partition('"')
        rows[check_id] = rest.split("</tr>", 1)[0]
    return rows


# Status page


def test_status_page_lists_every_check(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"]
    rows = check_rows(page.text)

    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert list(rows) == ["shop/home", "shop/cart", "shop/fresh", "blog/headers"]


def test_status_page_shows_configured_links(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"]

    assert '<a href="https://runbook.example.test/?a=1&amp;b=2">Runbook &amp; &lt;notes&gt;</a>' in page.text


def test_status_page_shows_status_and_state(scenario: Scenario):
    rows = check_rows(fetch_paths(scenario.app, "/")["/"].text)

    assert 'class="badge pass">pass<' in rows["shop/home"]
    assert 'class="state-ok">ok<' in rows["shop/home"]
    assert 'class="badge fail">fail<' in rows["shop/cart"]
    assert 'class="state-failing">failing<' in rows["shop/cart"]
    assert 'class="badge warn">warn<' in rows["blog/headers"]
    assert 'class="badge none">no results yet<' in rows["shop/fresh"]
    assert 'class="state-unknown">unknown<' in rows["shop/fresh"]


def test_status_page_shows_since_relative_and_utc(scenario: Scenario):
    rows = check_rows(fetch_paths(scenario.app, "/")["/"].text)

    assert "10 min ago" in rows["shop/cart"]
    assert "2025-03-14 11:50:00 UTC" in rows["shop/cart"]
    assert "5 min ago" in rows["shop/home"]
    assert "2025-03-14 11:55:00 UTC" in rows["shop/home"]
    assert "since" not in rows["shop/fresh"]


def test_status_page_shows_uptime(scenario: Scenario):
    rows = check_rows(fetch_paths(scenario.app, "/")["/"].text)

    assert rows["shop/home"].count(">50.00 %<") == 2
    assert rows["shop/cart"].count(">0.00 %<") == 2
    assert rows["blog/headers"].count(">33.33 %<") == 2
    assert rows["shop/fresh"].count('class="num">—<') == 2


def test_status_page_shows_top_finding(scenario: Scenario):
    rows = check_rows(fetch_paths(scenario.app, "/")["/"].text)

    assert HTTP_FAIL_MESSAGE in rows["shop/cart"]
    assert "http.status" in rows["shop/cart"]
    # The security finding outranks the info finding of the same result.
    assert "followed 1 redirect" not in rows["blog/headers"]


def test_status_page_sparkline_is_inline_svg(scenario: Scenario):
    rows = check_rows(fetch_paths(scenario.app, "/")["/"].text)
    points = re.search(r'<polyline [^>]*points="([^"]+)"', rows["shop/home"])

    assert "<svg" in rows["shop/home"]
    assert points is not None
    assert len(points.group(1).split()) == 4
    assert "<svg" in rows["shop/fresh"]
    assert "<polyline" not in rows["shop/fresh"]


def test_status_page_escapes_check_name(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text

    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in page


def test_status_page_groups_by_site(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text
    sites = re.findall(r'<section class="site" id="site-([^"]+)">', page)
    empty_site = page.split('id="site-empty-site"', 1)[1]

    assert sites == ["shop", "blog", "empty-site"]
    assert "This site has no checks." in empty_site


def test_status_page_shows_site_host_only(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text

    assert ">shop.test<" in page
    assert "https://shop.test:8443/app" not in page


def test_status_page_overall_banner(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text

    assert 'data-overall="failing"' in page
    assert "4 checks, 1 failing" in page


def test_status_page_without_checks(tmp_path: Path):
    config = Config.model_validate({"state_dir": str(tmp_path)})
    storage = open_storage(tmp_path, [])

    def app():
        return create_app(storage, CollectorRegistry(), FakeHealth(), config, clock=FixedClock())

    try:
        page = fetch_paths(app, "/")["/"]
    finally:
        storage.close()

    assert page.status == 200
    assert "No checks are configured" in page.text
    assert 'data-overall="unknown"' in page.text
    assert check_rows(page.text) == {}


def test_status_page_reads_storage_off_loop_thread(scenario: Scenario):
    fetch_paths(scenario.app, "/", "/checks/shop/home", "/api/v1/status")
    loop_thread = threading.get_ident()
    methods = {name for name, _ in scenario.storage.calls}
    outbox_methods = {name for name, _ in scenario.outbox.calls}

    assert methods == {"check_statuses", "check_status", "recent_results", "incidents"}
    assert outbox_methods == {"channel_statuses", "notifications"}
    for name, thread_id in scenario.storage.calls + scenario.outbox.calls:
        assert thread_id != loop_thread, name


# Check page


def test_check_page_lists_results_newest_first(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/home")["/checks/shop/home"]
    times = re.findall(r'<tr class="result"[^>]*>\s*<td class="nowrap">([^<]+)<', page.text)
    statuses = re.findall(r'<tr class="result" data-status="(\w+)"', page.text)

    assert page.status == 200
    assert times == ["2025-03-14 11:55:00 UTC", "2025-03-14 11:00:00 UTC", "2025-03-14 10:00:00 UTC", "2025-03-14 09:00:00 UTC"]
    assert statuses == ["pass", "fail", "fail", "pass"]


def test_check_page_shows_result_details(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/home")["/checks/shop/home"].text
    failed_row = page.split('<tr class="result" data-status="fail">', 1)[1].split("</tr>", 1)[0]

    assert "http_status" in failed_row
    assert "450 ms" in failed_row
    assert HTTP_FAIL_MESSAGE in failed_row
    assert "<h1>Home page" in page


def test_check_page_shows_resolved_incident(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/home")["/checks/shop/home"].text
    incident = page.split('<tr class="incident"', 1)[1].split("</tr>", 1)[0]

    assert "2025-03-14 11:00:00 UTC" in incident
    assert "2025-03-14 11:55:00 UTC" in incident
    assert ">55 min<" in incident
    assert HTTP_FAIL_MESSAGE in incident


def test_check_page_shows_open_incident(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/cart")["/checks/shop/cart"].text
    incident = page.split('<tr class="incident"', 1)[1].split("</tr>", 1)[0]

    assert 'class="badge fail">open<' in incident
    assert "10 min so far" in incident


def test_check_page_without_results(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/fresh")["/checks/shop/fresh"]

    assert page.status == 200
    assert "No results yet." in page.text
    assert "No incidents recorded." in page.text


def test_check_page_escapes_name(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/cart")["/checks/shop/cart"].text

    assert XSS_NAME not in page
    assert "<script>" not in page


# Not found


def test_unknown_check_is_404_page(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/missing")["/checks/shop/missing"]

    assert page.status == 404
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "No check has the id shop/missing" in page.text


def test_unknown_path_is_404_page(scenario: Scenario):
    path = "/nowhere/<b>"
    page = fetch_paths(scenario.app, path)[path]

    assert page.status == 404
    assert "Not found" in page.text
    assert "<b>" not in page.text
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_unknown_api_path_is_json_404(scenario: Scenario):
    response = fetch_paths(scenario.app, "/api/v1/nothing")["/api/v1/nothing"]

    assert response.status == 404
    assert json.loads(response.text) == {"error": "not found: /api/v1/nothing"}


# JSON API


def test_api_status_fields(scenario: Scenario):
    response = fetch_paths(scenario.app, "/api/v1/status")["/api/v1/status"]
    body = json.loads(response.text)
    checks = {check["id"]: check for check in body["checks"]}

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert body["generated_at"] == NOW.isoformat()
    assert body["status"] == "failing"
    assert list(checks) == ["shop/home", "shop/cart", "shop/fresh", "blog/headers"]
    for check in checks.values():
        assert set(check) == API_FIELDS, check["id"]


def test_api_status_values_of_checks(scenario: Scenario):
    body = json.loads(fetch_paths(scenario.app, "/api/v1/status")["/api/v1/status"].text)
    checks = {check["id"]: check for check in body["checks"]}
    home = checks["shop/home"]
    cart = checks["shop/cart"]

    assert home["state"] == "ok"
    assert home["last_status"] == "pass"
    assert home["uptime_24h"] == 50.0
    assert home["uptime_7d"] == 50.0
    assert home["last_duration_s"] == 0.15
    assert datetime.fromisoformat(home["since"]) == datetime.fromisoformat("2025-03-14T11:55:00+00:00")
    assert datetime.fromisoformat(home["last_run_at"]) == datetime.fromisoformat("2025-03-14T11:55:00+00:00")
    assert home["top_finding"] is None
    assert cart["name"] == XSS_NAME
    assert cart["state"] == "failing"
    assert cart["top_finding"] == {"code": "http.status", "severity": "fail", "message": HTTP_FAIL_MESSAGE}


def test_api_status_check_without_results(scenario: Scenario):
    body = json.loads(fetch_paths(scenario.app, "/api/v1/status")["/api/v1/status"].text)
    fresh = next(check for check in body["checks"] if check["id"] == "shop/fresh")

    assert fresh["state"] == "unknown"
    for key in ("last_status", "since", "last_run_at", "last_duration_s", "uptime_24h", "uptime_7d", "top_finding"):
        assert fresh[key] is None, key


# Headers


@pytest.mark.parametrize("path", ["/", "/checks/shop/home", "/api/v1/status", "/metrics", "/healthz", "/missing"])
def test_security_headers_on_every_response(scenario: Scenario, path: str):
    headers = fetch_paths(scenario.app, path)[path].headers

    assert headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_api_is_not_cached(scenario: Scenario):
    headers = fetch_paths(scenario.app, "/api/v1/status")["/api/v1/status"].headers

    assert headers["Cache-Control"] == "no-store"


# /healthz


def test_healthz_ok(scenario: Scenario):
    response = fetch_paths(scenario.app, "/healthz")["/healthz"]

    assert response.status == 200
    assert response.text.strip() == "ok"
    assert scenario.health.calls == [scenario.clock.monotonic()]


def test_healthz_unhealthy_is_503_with_reason(scenario: Scenario):
    scenario.health.result = (False, "scheduler has not run a job for 95 s")

    response = fetch_paths(scenario.app, "/healthz")["/healthz"]

    assert response.status == 503
    assert response.text.strip() == "scheduler has not run a job for 95 s"


# /metrics


def test_metrics_endpoint_passes_promtool(scenario: Scenario):
    metrics = LaunchwatchMetrics(scenario.registry)
    metrics.set_checks(list(scenario.checks.values()))
    for check, result in scenario.batch:
        metrics.observe_result(check, result)
    metrics.observe_lag(0.02)
    metrics.tick(NOW.timestamp())

    response = fetch_paths(scenario.app, "/metrics")["/metrics"]
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=response.text.encode(), capture_output=True, timeout=30, check=False)

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert checked.stdout.decode() + checked.stderr.decode() == ""
    assert 'launchwatch_check_up{check="shop/cart",kind="http",site="shop"} 0.0' in response.text


def test_metrics_endpoint_sample_values(scenario: Scenario):
    metrics = LaunchwatchMetrics(scenario.registry)
    metrics.set_checks(list(scenario.checks.values()))
    for check, result in scenario.batch:
        metrics.observe_result(check, result)

    fetch_paths(scenario.app, "/metrics")
    home = {"check": "shop/home", "site": "shop", "kind": "http"}

    assert scenario.registry.get_sample_value("launchwatch_check_up", home) == 1.0
    assert scenario.registry.get_sample_value("launchwatch_check_runs_total", {**home, "status": "fail"}) == 2.0
    assert scenario.registry.get_sample_value("launchwatch_check_runs_total", {**home, "status": "pass"}) == 2.0
    assert scenario.registry.get_sample_value("launchwatch_probe_ttfb_seconds", home) == 0.075
    assert scenario.registry.get_sample_value("launchwatch_checks_configured") == 4.0


# Security findings


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("127.45.6.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("192.168.1.20", False),
        ("128.0.0.1", False),
        ("2001:db8::1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
        ("not-an-address", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback_address(address, expected):
    assert is_loopback_address(address) is expected


def test_visible_finding_hides_security_from_remote():
    finding = Finding("security.hsts_missing", Severity.WARN, SECURITY_MESSAGE, subject="https://blog.test/")

    shown = visible_finding(finding, local=False)

    assert shown.message == HIDDEN_SECURITY_MESSAGE
    assert shown.code == "security.hidden"
    assert shown.subject == ""
    assert shown.severity is Severity.WARN


def test_visible_finding_shows_security_locally():
    finding = Finding("security.hsts_missing", Severity.WARN, SECURITY_MESSAGE)

    assert visible_finding(finding, local=True) is finding


def test_visible_finding_shows_other_codes_to_remote():
    finding = Finding("http.status", Severity.FAIL, HTTP_FAIL_MESSAGE)

    assert visible_finding(finding, local=False) is finding


def test_security_finding_shown_on_loopback(scenario: Scenario):
    responses = fetch_paths(scenario.app, "/", "/checks/blog/headers", "/api/v1/status")
    api = json.loads(responses["/api/v1/status"].text)
    headers_check = next(check for check in api["checks"] if check["id"] == "blog/headers")

    assert SECURITY_MESSAGE in check_rows(responses["/"].text)["blog/headers"]
    assert SECURITY_MESSAGE in responses["/checks/blog/headers"].text
    assert SECURITY_FAIL_MESSAGE in responses["/checks/blog/headers"].text
    assert headers_check["top_finding"]["code"] == "security.hsts_missing"


def test_security_finding_hidden_behind_proxy(scenario: Scenario):
    responses = fetch_paths(scenario.app, "/", "/checks/blog/headers", "/api/v1/status", headers=PROXIED)
    api = json.loads(responses["/api/v1/status"].text)
    headers_check = next(check for check in api["checks"] if check["id"] == "blog/headers")
    hidden_html = HIDDEN_SECURITY_MESSAGE.replace("'", "&#39;")

    for path, response in responses.items():
        assert SECURITY_MESSAGE not in response.text, path
        assert SECURITY_FAIL_MESSAGE not in response.text, path
        assert "security.hsts_missing" not in response.text, path
        assert "security.tls_legacy" not in response.text, path
    assert hidden_html in check_rows(responses["/"].text)["blog/headers"]
    assert hidden_html in responses["/checks/blog/headers"].text
    assert headers_check["top_finding"]["message"] == HIDDEN_SECURITY_MESSAGE
    assert "followed 1 redirect" in responses["/checks/blog/headers"].text


def first_incident(html: str) -> str:
    return html.split('<tr class="incident"', 1)[1].split("</tr>", 1)[0]


def test_other_incident_shown_behind_proxy(scenario: Scenario):
    proxied = fetch_paths(scenario.app, "/checks/shop/home", headers=PROXIED)["/checks/shop/home"].text
    incident = first_incident(proxied)

    assert HTTP_FAIL_MESSAGE in incident
    assert "http.status" in incident
    assert ">55 min<" in incident


def test_security_incident_hidden_behind_proxy(scenario: Scenario):
    proxied = fetch_paths(scenario.app, "/checks/blog/headers", headers=PROXIED)["/checks/blog/headers"].text
    incident = first_incident(proxied)

    assert SECURITY_FAIL_MESSAGE not in proxied
    assert "security.tls_legacy" not in proxied
    assert HIDDEN_SECURITY_MESSAGE.replace("'", "&#39;") in incident
    assert "security.hidden" in incident


def test_security_incident_shown_on_loopback(scenario: Scenario):
    local = fetch_paths(scenario.app, "/checks/blog/headers")["/checks/blog/headers"].text
    incident = first_incident(local)

    assert SECURITY_FAIL_MESSAGE in incident
    assert "security.tls_legacy" in incident


def test_uncoded_incident_shown_behind_proxy(scenario: Scenario):
    fresh = scenario.checks["shop/fresh"]
    errored = [probe_result(NOW - timedelta(minutes=minutes), 0.5, status=Status.ERROR) for minutes in (4, 2)]
    scenario.storage.record_results([(fresh, result) for result in errored])

    proxied = fetch_paths(scenario.app, "/checks/shop/fresh", headers=PROXIED)["/checks/shop/fresh"].text
    incident = first_incident(proxied)

    assert "2 results in a row ended with status error" in incident
    assert "security.hidden" not in incident


@pytest.mark.parametrize(
    ("code", "local", "expected_message", "expected_code"),
    [
        ("security.tls_legacy", False, HIDDEN_SECURITY_MESSAGE, "security.hidden"),
        ("security.tls_legacy", True, SECURITY_FAIL_MESSAGE, "security.tls_legacy"),
        ("http.status", False, SECURITY_FAIL_MESSAGE, "http.status"),
        ("securityish.code", False, SECURITY_FAIL_MESSAGE, "securityish.code"),
        (None, False, SECURITY_FAIL_MESSAGE, None),
    ],
)
def test_visible_incident_message(code, local, expected_message, expected_code):
    incident = IncidentView(id=1, check_id="blog/headers", opened_at=NOW, resolved_at=None, reason="header", message=SECURITY_FAIL_MESSAGE, code=code)

    message, shown_code = visible_incident_message(incident, local)

    assert message == expected_message
    assert shown_code == expected_code


# Failures


def test_missing_tables_render_503_page(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    config = Config.model_validate({"state_dir": str(tmp_path)})
    # Without upgrade() the database has no tables, so every read fails.
    storage = Storage(f"sqlite:///{tmp_path / 'empty.db'}")

    def app():
        return create_app(storage, CollectorRegistry(), FakeHealth(), config, clock=FixedClock())

    try:
        with caplog.at_level(logging.ERROR, logger="launchwatch.web"):
            responses = fetch_paths(app, "/", "/api/v1/status")
    finally:
        storage.close()

    assert responses["/"].status == 503
    assert "Storage unavailable" in responses["/"].text
    assert "empty.db" not in responses["/"].text
    assert responses["/api/v1/status"].status == 503
    assert json.loads(responses["/api/v1/status"].text) == {"error": "storage unavailable; see the daemon log"}
    assert any("GET /api/v1/status failed" in record.getMessage() for record in caplog.records)
    assert any("launchwatch db upgrade" in record.getMessage() for record in caplog.records)


class ExplodingStorage(Storage):
    def check_statuses(self, now: datetime):
        raise RuntimeError("bug in a query builder")


def test_unexpected_error_renders_500_page(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    config = Config.model_validate({"state_dir": str(tmp_path)})
    storage = ExplodingStorage(f"sqlite:///{tmp_path / 'lw.db'}")

    def app():
        return create_app(storage, CollectorRegistry(), FakeHealth(), config, clock=FixedClock())

    try:
        with caplog.at_level(logging.ERROR, logger="launchwatch.web"):
            responses = fetch_paths(app, "/", "/api/v1/status")
    finally:
        storage.close()

    assert responses["/"].status == 500
    assert "Internal error" in responses["/"].text
    assert "query builder" not in responses["/"].text
    assert responses["/api/v1/status"].status == 500
    assert json.loads(responses["/api/v1/status"].text) == {"error": "internal error; see the daemon log"}
    assert any(record.exc_info for record in caplog.records)

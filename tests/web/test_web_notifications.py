"""Notification channels, maintenance windows and incident notifications on the pages and in the API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from tests.web.web_support import (
    CHANNEL_URLS,
    LEAKY_ERROR,
    NOW,
    SMTP_ERROR,
    TOKEN_MARKER,
    FakeHealth,
    FixedClock,
    Scenario,
    fetch_paths,
    open_storage,
    probe_result,
)

from launchwatch.monitor.alerting.maintenance import MaintenanceSchedule
from launchwatch.monitor.config import Config, MaintenanceConfig
from launchwatch.probes.result import Status
from launchwatch.web.app import REDACTED, channel_url_secrets, create_app, redact

PROXIED = {"X-Forwarded-For": "203.0.113.7"}
# NOW is Friday 12:00 UTC, and the blog-reboot window runs on Sundays from 03:00 to 04:00.
SUNDAY_IN_WINDOW = datetime(2025, 3, 16, 3, 30, tzinfo=UTC)


def rows_by(html: str, row_class: str, attribute: str) -> dict[str, str]:
    """Return the markup of each ``<tr class=row_class attribute=...>`` row by that attribute's value."""
    rows = {}
    for chunk in html.split(f'<tr class="{row_class}" {attribute}="')[1:]:
        key, _, rest = chunk.partition('"')
        rows[key] = rest.split("</tr>", 1)[0]
    return rows


def cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)


def incident_rows(html: str) -> dict[str, str]:
    return rows_by(html, "incident", "data-incident-id")


def notification_items(incident_row: str) -> list[tuple[str, str, str, str]]:
    """Return (channel, kind, state, markup) of each notification listed in an incident row."""
    pattern = r'<li class="notification" data-channel="([^"]+)" data-kind="([^"]+)" data-state="([^"]+)">(.*?)</li>'
    return re.findall(pattern, incident_row, flags=re.S)


def app_with(scenario: Scenario, clock: FixedClock | None = None, **kwargs):
    def factory():
        return create_app(scenario.storage, scenario.registry, scenario.health, scenario.config, clock=clock or scenario.clock, **kwargs)

    return factory


# Notification channels on the status page


def test_channels_listed_in_config_order(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text
    channels = rows_by(page, "channel", "data-channel")

    assert list(channels) == ["ops-hook", "oncall-mail", "pager", "spare", "retired-hook"]
    assert "not in the configuration" in channels["retired-hook"]
    assert "not in the configuration" not in channels["ops-hook"]


def test_channel_last_delivery_time_and_age(scenario: Scenario):
    channels = rows_by(fetch_paths(scenario.app, "/")["/"].text, "channel", "data-channel")
    delivery = cells(channels["ops-hook"])[1]

    assert "2025-03-14 11:02:00 UTC" in delivery
    assert "58 min ago" in delivery


@pytest.mark.parametrize("channel", ["oncall-mail", "pager", "spare", "retired-hook"])
def test_channel_without_delivery(scenario: Scenario, channel: str):
    channels = rows_by(fetch_paths(scenario.app, "/")["/"].text, "channel", "data-channel")

    assert "no deliveries yet" in cells(channels[channel])[1]


def test_channel_last_error_message_and_time(scenario: Scenario):
    channels = rows_by(fetch_paths(scenario.app, "/")["/"].text, "channel", "data-channel")
    error = cells(channels["oncall-mail"])[2]

    assert SMTP_ERROR in error
    assert "2025-03-14 11:00:00 UTC" in error
    assert "1 h ago" in error
    assert "—" in cells(channels["pager"])[2]


@pytest.mark.parametrize(
    ("channel", "pending", "failed"),
    [("ops-hook", "3", "0"), ("oncall-mail", "1", '<span class="sev-fail">1</span>'), ("pager", "0", "0"), ("spare", "0", "0"), ("retired-hook", "1", "0")],
)
def test_channel_pending_and_failed_counts(scenario: Scenario, channel: str, pending: str, failed: str):
    channels = rows_by(fetch_paths(scenario.app, "/")["/"].text, "channel", "data-channel")
    row = cells(channels[channel])

    assert row[3] == pending
    assert row[4] == failed


def test_channel_error_echoing_url_is_redacted(scenario: Scenario):
    channels = rows_by(fetch_paths(scenario.app, "/")["/"].text, "channel", "data-channel")
    error = cells(channels["ops-hook"])[2]

    assert "connection refused" in error
    assert REDACTED in error
    assert TOKEN_MARKER not in error


def test_no_channels_configured(tmp_path: Path):
    config = Config.model_validate({"state_dir": str(tmp_path)})
    storage = open_storage(tmp_path, [])

    def app():
        return create_app(storage, CollectorRegistry(), FakeHealth(), config, clock=FixedClock())

    try:
        responses = fetch_paths(app, "/", "/api/v1/status")
    finally:
        storage.close()
    body = json.loads(responses["/api/v1/status"].text)

    assert "No notification channels are configured." in responses["/"].text
    assert "No maintenance windows are configured." in responses["/"].text
    assert body["channels"] == []
    assert body["maintenance"] == []


# Channel URLs stay off every response


def test_channel_urls_never_served(scenario: Scenario):
    paths = ["/", "/api/v1/status", "/metrics", "/healthz", *(f"/checks/{check_id}" for check_id in scenario.checks)]
    for headers in (None, PROXIED):
        responses = fetch_paths(scenario.app, *paths, headers=headers)
        for path, response in responses.items():
            assert response.status == 200, path
            assert TOKEN_MARKER not in response.text, path
            for url in CHANNEL_URLS.values():
                assert url not in response.text, path
            assert "json://" not in response.text, path
            assert "mailtos://" not in response.text, path


@pytest.mark.parametrize(
    ("url", "error", "secret"),
    [
        ("slack://TokenAAAA/TokenBBBB/TokenCCCC", "posting to https://hooks.slack.com/services/TokenAAAA/TokenBBBB/TokenCCCC failed", "Token"),
        ("mailtos://alerts:hunter2pass@127.0.0.1:2525/", "login as alerts with hunter2pass rejected", "hunter2pass"),
        ("mailtos://alerts:p%40ss%2Fword@127.0.0.1/", "password p@ss/word rejected", "p@ss/word"),
        ("json://127.0.0.1:9/hook?token=abcdef123", "GET /hook?token=abcdef123 returned 401", "abcdef123"),
        ("ntfy://private-topic-991", "ntfy topic private-topic-991 not found", "private-topic-991"),
    ],
)
def test_redact_removes_channel_url_parts(url: str, error: str, secret: str):
    redacted = redact(error, channel_url_secrets(url))

    assert secret not in redacted
    assert REDACTED in redacted


def test_redact_merges_adjacent_parts():
    secrets = channel_url_secrets(CHANNEL_URLS["ops-hook"])

    assert redact(LEAKY_ERROR, secrets) == "POST http://[redacted]?[redacted] failed: connection refused"


def test_redact_keeps_text_without_secrets():
    secrets = channel_url_secrets("json://127.0.0.1:9/hook?token=abcdef123")

    assert redact("connection refused", secrets) == "connection refused"
    assert redact(None, secrets) is None


# Channels in the JSON API


def test_api_channels(scenario: Scenario):
    body = json.loads(fetch_paths(scenario.app, "/api/v1/status")["/api/v1/status"].text)
    channels = {channel["name"]: channel for channel in body["channels"]}
    ops = channels["ops-hook"]
    mail = channels["oncall-mail"]

    assert list(channels) == ["ops-hook", "oncall-mail", "pager", "spare", "retired-hook"]
    assert datetime.fromisoformat(ops["last_sent_at"]) == NOW - timedelta(minutes=58)
    assert datetime.fromisoformat(ops["last_error_at"]) == NOW - timedelta(hours=1)
    assert "connection refused" in ops["last_error"]
    assert ops["pending"] == 3
    assert ops["failed"] == 0
    assert mail["last_sent_at"] is None
    assert mail["last_error"] == SMTP_ERROR
    assert mail["failed"] == 1
    assert channels["retired-hook"]["configured"] is False
    assert channels["spare"] == {
        "name": "spare", "configured": True, "last_sent_at": None, "last_error": None,
        "last_error_at": None, "pending": 0, "failed": 0,
    }  # fmt: skip


# Maintenance windows


def test_maintenance_section_lists_windows(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text
    windows = rows_by(page, "maintenance-window", "data-window")

    assert list(windows) == ["cart-migration", "blog-reboot", "last-year"]
    assert cells(windows["cart-migration"])[1] == "checks shop/cart"
    assert cells(windows["blog-reboot"])[1] == "sites blog"
    assert cells(windows["last-year"])[1] == "all checks"
    assert cells(windows["blog-reboot"])[2] == "cron 0 3 * * sun (UTC), 1 h each"
    assert cells(windows["cart-migration"])[2] == "one-off"


def test_maintenance_section_current_and_next(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text
    windows = rows_by(page, "maintenance-window", "data-window")

    assert 'data-active="yes"' in page.split('data-window="cart-migration"', 1)[1].split(">", 1)[0]
    assert "in maintenance until 2025-03-14 13:30:00 UTC (in 1 h 30 min)" in windows["cart-migration"]
    assert "next from 2025-03-16 03:00:00 UTC to 2025-03-16 04:00:00 UTC (in 1 d 15 h)" in windows["blog-reboot"]
    assert "no upcoming window" in windows["last-year"]


def test_maintenance_badge_on_covered_check_only(scenario: Scenario):
    page = fetch_paths(scenario.app, "/")["/"].text
    rows = rows_by(page, "check", "data-check-id")

    assert 'class="badge maintenance"' in rows["shop/cart"]
    assert "cart-migration" in rows["shop/cart"]
    for check_id in ("shop/home", "shop/fresh", "blog/headers"):
        assert "badge maintenance" not in rows[check_id], check_id


def test_maintenance_badge_on_check_page(scenario: Scenario):
    responses = fetch_paths(scenario.app, "/checks/shop/cart", "/checks/shop/home")

    assert 'class="badge maintenance"' in responses["/checks/shop/cart"].text
    assert "badge maintenance" not in responses["/checks/shop/home"].text


def test_maintenance_recurring_window_active(scenario: Scenario):
    clock = FixedClock(SUNDAY_IN_WINDOW)
    page = fetch_paths(app_with(scenario, clock, outbox=scenario.outbox), "/")["/"].text
    rows = rows_by(page, "check", "data-check-id")
    windows = rows_by(page, "maintenance-window", "data-window")

    assert 'class="badge maintenance"' in rows["blog/headers"]
    assert "badge maintenance" not in rows["shop/cart"]
    assert "in maintenance until 2025-03-16 04:00:00 UTC (in 30 min)" in windows["blog-reboot"]
    assert "no upcoming window" in windows["cart-migration"]


def test_maintenance_schedule_passed_in(scenario: Scenario):
    everything = MaintenanceConfig(name="datacenter-move", start=NOW - timedelta(minutes=1), end=NOW + timedelta(minutes=1))
    factory = app_with(scenario, outbox=scenario.outbox, maintenance=MaintenanceSchedule([everything]))
    responses = fetch_paths(factory, "/", "/api/v1/status")
    rows = rows_by(responses["/"].text, "check", "data-check-id")
    body = json.loads(responses["/api/v1/status"].text)

    assert list(rows_by(responses["/"].text, "maintenance-window", "data-window")) == ["datacenter-move"]
    for check_id, row in rows.items():
        assert 'class="badge maintenance"' in row, check_id
    assert all(check["in_maintenance"] for check in body["checks"])


def test_api_maintenance(scenario: Scenario):
    body = json.loads(fetch_paths(scenario.app, "/api/v1/status")["/api/v1/status"].text)
    windows = {window["name"]: window for window in body["maintenance"]}
    in_maintenance = {check["id"]: check["in_maintenance"] for check in body["checks"]}
    cart = windows["cart-migration"]
    reboot = windows["blog-reboot"]

    assert cart["active"] is True
    assert datetime.fromisoformat(cart["start"]) == NOW - timedelta(minutes=30)
    assert datetime.fromisoformat(cart["end"]) == NOW + timedelta(minutes=90)
    assert reboot["active"] is False
    assert datetime.fromisoformat(reboot["start"]) == datetime(2025, 3, 16, 3, 0, tzinfo=UTC)
    assert datetime.fromisoformat(reboot["end"]) == datetime(2025, 3, 16, 4, 0, tzinfo=UTC)
    assert windows["last-year"] == {"name": "last-year", "active": False, "start": None, "end": None}
    assert in_maintenance == {"shop/home": False, "shop/cart": True, "shop/fresh": False, "blog/headers": False}


# Defaults of create_app


def test_create_app_reads_outbox_and_maintenance_by_default(scenario: Scenario):
    responses = fetch_paths(app_with(scenario), "/", "/checks/shop/home", "/api/v1/status")
    body = json.loads(responses["/api/v1/status"].text)
    home_incident = next(iter(incident_rows(responses["/checks/shop/home"].text).values()))

    assert [channel["name"] for channel in body["channels"]] == ["ops-hook", "oncall-mail", "pager", "spare", "retired-hook"]
    assert [window["name"] for window in body["maintenance"]] == ["cart-migration", "blog-reboot", "last-year"]
    assert len(notification_items(home_incident)) == 5
    assert scenario.outbox.calls == []


# Notifications of each incident on the check page


def test_check_page_lists_incident_notifications(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/home")["/checks/shop/home"].text
    (incident,) = incident_rows(page).values()
    listed = [(channel, kind, state) for channel, kind, state, _ in notification_items(incident)]

    assert listed == [
        ("ops-hook", "opened", "sent"),
        ("oncall-mail", "opened", "failed"),
        ("ops-hook", "resolved", "pending"),
        ("oncall-mail", "resolved", "pending"),
        ("pager", "resolved", "silenced"),
    ]


def test_check_page_notification_details(scenario: Scenario):
    page = fetch_paths(scenario.app, "/checks/shop/home")["/checks/shop/home"].text
    (incident,) = incident_rows(page).values()
    items = {(channel, kind): markup for channel, kind, _, markup in notification_items(incident)}
    sent = items[("ops-hook", "opened")]
    failed = items[("oncall-mail", "opened")]
    silenced = items[("pager", "resolved")]

    assert 'class="badge pass">sent<' in sent
    assert "2 attempts" in sent
    assert "sent 2025-03-14 11:02:00 UTC" in sent
    assert 'class="badge fail">failed<' in failed
    assert "1 attempt<" in failed
    assert SMTP_ERROR in failed
    assert 'class="badge none">silenced<' in silenced
    assert "0 attempts" in silenced
    assert "sent " not in silenced


def test_check_page_notifications_of_each_incident(scenario: Scenario):
    pages = fetch_paths(scenario.app, "/checks/shop/cart", "/checks/blog/headers")
    (cart,) = incident_rows(pages["/checks/shop/cart"].text).values()
    (headers,) = incident_rows(pages["/checks/blog/headers"].text).values()

    assert [item[:3] for item in notification_items(cart)] == [("ops-hook", "opened", "pending")]
    assert [item[:3] for item in notification_items(headers)] == [("ops-hook", "opened", "pending"), ("retired-hook", "opened", "pending")]


def test_check_page_incident_without_notifications(scenario: Scenario):
    fresh = scenario.checks["shop/fresh"]
    errored = [probe_result(NOW - timedelta(minutes=minutes), 0.5, status=Status.ERROR) for minutes in (4, 2)]
    scenario.storage.record_results([(fresh, result) for result in errored])

    page = fetch_paths(scenario.app, "/checks/shop/fresh")["/checks/shop/fresh"].text
    (incident,) = incident_rows(page).values()

    assert notification_items(incident) == []
    assert '<span class="muted">none</span>' in incident

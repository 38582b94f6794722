"""Rendering notification events per channel: titles, bodies, durations, subject summaries and redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from launchwatch.monitor.alerting.events import ESCALATION, OPENED, REMINDER, RESOLVED, TEST, NotificationEvent
from launchwatch.monitor.alerting.messages import (
    channel_style,
    format_duration,
    mask_tokens,
    render,
    shorten_message,
)
from launchwatch.monitor.logs import Redactor
from launchwatch.probes.result import Finding, Severity

SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
EMAIL_URL = "mailtos://alerts:mail-password-9@smtp.example.test?to=ops@example.test"
JSON_URL = "json://127.0.0.1:8080/hook"
DISCORD_URL = "discord://1234567890/discordWebhookToken42"
CHECK_URL = "https://status.example.test/checks/app/tls"

OPENED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
EXPIRY = Finding("tls.expires_soon", Severity.FAIL, "certificate expires in 6 days; renew it before 2026-03-07")
CHAIN = Finding("tls.chain_order", Severity.WARN, "the chain sends the intermediate twice; serve each certificate once")
PROTOCOL = Finding("tls.protocol", Severity.INFO, "TLS 1.3 negotiated")
CIPHER = Finding("tls.cipher", Severity.INFO, "cipher TLS_AES_256_GCM_SHA384")

# Event time per kind: 12 min after opening, a reminder at 3 h 5 min, an
# escalation at 1 h 2 min and a recovery after 2 h 5 min.
EVENT_TIMES = {
    OPENED: OPENED_AT + timedelta(minutes=12),
    REMINDER: OPENED_AT + timedelta(hours=3, minutes=5),
    ESCALATION: OPENED_AT + timedelta(hours=1, minutes=2),
    RESOLVED: OPENED_AT + timedelta(hours=2, minutes=5),
    TEST: OPENED_AT + timedelta(minutes=12),
}


def make_event(kind: str, **changes: Any) -> NotificationEvent:
    at = EVENT_TIMES[kind]
    event = NotificationEvent(
        kind=kind,
        check_id="app/tls",
        site="app",
        check_name="Certificate expiry",
        probe_kind="tls",
        severity="critical",
        status="pass" if kind == RESOLVED else "fail",
        reason="ok" if kind == RESOLVED else "tls_expired",
        opened_at=OPENED_AT,
        at=at,
        # The chain warning comes first, so picking the top finding by
        # severity differs from taking the first one.
        findings=[] if kind == RESOLVED else [CHAIN, EXPIRY, PROTOCOL],
        resolved_at=at if kind == RESOLVED else None,
        incident_id=7,
        check_url=CHECK_URL,
    )
    if kind == TEST:
        event = event.replace(
            check_id="launchwatch/notify-test", site="launchwatch", check_name="test of channel ops", probe_kind="test",
            severity="info", status="pass", reason="ok", opened_at=None, findings=[], incident_id=None, check_url=None,
        )
    return event.replace(**changes)


def no_secrets(text: str) -> str:
    return text


# (kind, channel URL, title, body format, notify type, first body line)
RENDER_CASES = [
    (OPENED, SLACK_URL, "FAILING app/tls: certificate expires in 6 days", "markdown", "failure",
     "**Certificate expiry** (`app/tls`) on site `app` is failing since 2026-03-01 08:00 UTC (for 12 min)."),
    (OPENED, EMAIL_URL, "[launchwatch] FAILING app/tls: certificate expires in 6 days", "text", "failure",
     "Certificate expiry (app/tls) on site app is failing since 2026-03-01 08:00 UTC (for 12 min)."),
    (OPENED, JSON_URL, "FAILING app/tls: certificate expires in 6 days", "text", "failure",
     "Certificate expiry (app/tls) on site app is failing since 2026-03-01 08:00 UTC (for 12 min)."),
    (REMINDER, SLACK_URL, "REMINDER app/tls failing for 3 h 5 min: certificate expires in 6 days", "markdown", "failure",
     "**Certificate expiry** (`app/tls`) on site `app` is still failing, for 3 h 5 min now (since 2026-03-01 08:00 UTC)."),
    (REMINDER, EMAIL_URL, "[launchwatch] REMINDER app/tls failing for 3 h 5 min: certificate expires in 6 days", "text", "failure",
     "Certificate expiry (app/tls) on site app is still failing, for 3 h 5 min now (since 2026-03-01 08:00 UTC)."),
    (REMINDER, JSON_URL, "REMINDER app/tls failing for 3 h 5 min: certificate expires in 6 days", "text", "failure",
     "Certificate expiry (app/tls) on site app is still failing, for 3 h 5 min now (since 2026-03-01 08:00 UTC)."),
    (ESCALATION, SLACK_URL, "ESCALATED app/tls failing for 1 h 2 min: certificate expires in 6 days", "markdown", "failure",
     "**Certificate expiry** (`app/tls`) on site `app` has been failing for 1 h 2 min (since 2026-03-01 08:00 UTC), "
     "longer than the escalation delay."),
    (ESCALATION, EMAIL_URL, "[launchwatch] ESCALATED app/tls failing for 1 h 2 min: certificate expires in 6 days", "text", "failure",
     "Certificate expiry (app/tls) on site app has been failing for 1 h 2 min (since 2026-03-01 08:00 UTC), "
     "longer than the escalation delay."),
    (ESCALATION, JSON_URL, "ESCALATED app/tls failing for 1 h 2 min: certificate expires in 6 days", "text", "failure",
     "Certificate expiry (app/tls) on site app has been failing for 1 h 2 min (since 2026-03-01 08:00 UTC), "
     "longer than the escalation delay."),
    (RESOLVED, SLACK_URL, "RESOLVED app/tls after 2 h 5 min", "markdown", "success",
     "**Certificate expiry** (`app/tls`) on site `app` recovered after 2 h 5 min "
     "(failing from 2026-03-01 08:00 UTC to 2026-03-01 10:05 UTC)."),
    (RESOLVED, EMAIL_URL, "[launchwatch] RESOLVED app/tls after 2 h 5 min", "text", "success",
     "Certificate expiry (app/tls) on site app recovered after 2 h 5 min (failing from 2026-03-01 08:00 UTC to 2026-03-01 10:05 UTC)."),
    (RESOLVED, JSON_URL, "RESOLVED app/tls after 2 h 5 min", "text", "success",
     "Certificate expiry (app/tls) on site app recovered after 2 h 5 min (failing from 2026-03-01 08:00 UTC to 2026-03-01 10:05 UTC)."),
    (TEST, SLACK_URL, "TEST notification from launchwatch", "markdown", "info",
     "This is a test notification from launchwatch (test of channel ops), sent through Slack channel slack://T...2/A...D/T...Q. "
     "If you can read it, this channel works."),
    (TEST, EMAIL_URL, "[launchwatch] TEST notification from launchwatch", "text", "info",
     "This is a test notification from launchwatch (test of channel ops), sent through "
     "E-Mail channel mailtos://alerts:[redacted]@smtp.example.test/ops@example.test. If you can read it, this channel works."),
    (TEST, JSON_URL, "TEST notification from launchwatch", "text", "info",
     "This is a test notification from launchwatch (test of channel ops), sent through JSON channel json://127.0.0.1:8080/hook. "
     "If you can read it, this channel works."),
]


@pytest.mark.parametrize(
    ("kind", "url", "title", "body_format", "notify_type", "headline"),
    RENDER_CASES,
    ids=[f"{case[0]}-{case[1].split(':')[0]}" for case in RENDER_CASES],
)
def test_render_kind_per_channel(kind: str, url: str, title: str, body_format: str, notify_type: str, headline: str) -> None:
    message = render(make_event(kind), url, no_secrets)

    assert message.title == title
    assert message.body_format == body_format
    assert message.notify_type == notify_type
    assert message.body.splitlines()[0] == headline


def test_render_email_body_is_plain_text() -> None:
    message = render(make_event(OPENED), EMAIL_URL, no_secrets)

    assert message.body == (
        "Certificate expiry (app/tls) on site app is failing since 2026-03-01 08:00 UTC (for 12 min).\n"
        "\n"
        "Status: fail (tls_expired), severity critical\n"
        "\n"
        "Findings:\n"
        "- certificate expires in 6 days; renew it before 2026-03-07\n"
        "- the chain sends the intermediate twice; serve each certificate once\n"
        "- TLS 1.3 negotiated\n"
        "\n"
        "Check page: https://status.example.test/checks/app/tls"
    )


def test_render_slack_body_is_compact() -> None:
    message = render(make_event(REMINDER), SLACK_URL, no_secrets)

    assert message.body == (
        "**Certificate expiry** (`app/tls`) on site `app` is still failing, for 3 h 5 min now (since 2026-03-01 08:00 UTC).\n"
        "- certificate expires in 6 days; renew it before 2026-03-07\n"
        "- the chain sends the intermediate twice; serve each certificate once\n"
        "- TLS 1.3 negotiated\n"
        "[Open the check page](https://status.example.test/checks/app/tls)"
    )


def test_render_other_services_get_markdown() -> None:
    message = render(make_event(ESCALATION), DISCORD_URL, no_secrets)

    assert message.body_format == "markdown"
    assert message.title == "ESCALATED app/tls failing for 1 h 2 min: certificate expires in 6 days"
    assert message.body == (
        "**Certificate expiry** (`app/tls`) on site `app` has been failing for 1 h 2 min (since 2026-03-01 08:00 UTC), "
        "longer than the escalation delay.\n"
        "\n"
        "**Status:** fail (tls_expired), severity critical\n"
        "\n"
        "**Findings**\n"
        "\n"
        "- certificate expires in 6 days; renew it before 2026-03-07\n"
        "- the chain sends the intermediate twice; serve each certificate once\n"
        "- TLS 1.3 negotiated\n"
        "\n"
        "[Open the check page](https://status.example.test/checks/app/tls)"
    )


def test_render_test_kind_on_slack_is_one_line() -> None:
    message = render(make_event(TEST), SLACK_URL, no_secrets)

    assert len(message.body.splitlines()) == 1


def test_render_lists_three_most_severe_findings() -> None:
    event = make_event(OPENED, findings=[PROTOCOL, CHAIN, CIPHER, EXPIRY])

    message = render(event, EMAIL_URL, no_secrets)

    bullets = [line for line in message.body.splitlines() if line.startswith("- ")]
    assert bullets == [f"- {EXPIRY.message}", f"- {CHAIN.message}", f"- {PROTOCOL.message}"]


@pytest.mark.parametrize("url", [SLACK_URL, EMAIL_URL, JSON_URL, DISCORD_URL])
def test_render_without_check_url_has_no_link(url: str) -> None:
    message = render(make_event(OPENED, check_url=None), url, no_secrets)

    assert "check page" not in message.body.lower()


def test_render_without_findings_summarizes_status() -> None:
    event = make_event(OPENED, findings=[], status="error", reason="probe_error")

    message = render(event, EMAIL_URL, no_secrets)

    assert message.title == "[launchwatch] FAILING app/tls: status error (probe_error)"
    assert "Findings:" not in message.body


@pytest.mark.parametrize(
    ("kind", "title", "headline"),
    [
        (OPENED, "FAILING app/tls: certificate expires in 6 days", "Certificate expiry (app/tls) on site app is failing."),
        (REMINDER, "REMINDER app/tls: certificate expires in 6 days", "Certificate expiry (app/tls) on site app is still failing."),
        (ESCALATION, "ESCALATED app/tls: certificate expires in 6 days",
         "Certificate expiry (app/tls) on site app has been failing longer than the escalation delay."),
        (RESOLVED, "RESOLVED app/tls", "Certificate expiry (app/tls) on site app recovered at 2026-03-01 10:05 UTC."),
    ],
)
def test_render_without_opened_at_omits_durations(kind: str, title: str, headline: str) -> None:
    message = render(make_event(kind, opened_at=None), JSON_URL, no_secrets)

    assert message.title == title
    assert message.body.splitlines()[0] == headline


def test_render_naive_times_are_utc() -> None:
    event = make_event(RESOLVED, opened_at=datetime(2026, 3, 1, 8, 0), at=datetime(2026, 3, 1, 9, 30), resolved_at=datetime(2026, 3, 1, 9, 30))

    message = render(event, JSON_URL, no_secrets)

    assert message.title == "RESOLVED app/tls after 1 h 30 min"
    assert "from 2026-03-01 08:00 UTC to 2026-03-01 09:30 UTC" in message.body


def test_render_check_name_same_as_id() -> None:
    message = render(make_event(OPENED, check_name="tls"), JSON_URL, no_secrets)

    assert message.body.splitlines()[0] == "app/tls on site app is failing since 2026-03-01 08:00 UTC (for 12 min)."


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (DISCORD_URL, "- header \\<script\\> is \\*echoed\\* in \\[search\\]"),
        (SLACK_URL, "- header \\<script\\> is *echoed* in \\[search\\]"),
        (JSON_URL, "- header <script> is *echoed* in [search]"),
    ],
    ids=["markdown", "slack", "text"],
)
def test_render_escapes_finding_markup(url: str, expected: str) -> None:
    finding = Finding("http.header", Severity.FAIL, "header <script> is *echoed* in [search]")

    message = render(make_event(OPENED, findings=[finding]), url, no_secrets)

    assert expected in message.body.splitlines()


@pytest.mark.parametrize(
    ("url", "style"),
    [
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack"),
        ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack"),
        ("mailto://smtp.example.test?to=ops@example.test", "email"),
        ("MAILTOS://smtp.example.test?to=ops@example.test", "email"),
        ("json://127.0.0.1/hook", "text"),
        ("jsons://hooks.example.test/hook", "text"),
        ("xml://hooks.example.test/hook", "text"),
        ("form://hooks.example.test/hook", "text"),
        ("discord://1234567890/token", "markdown"),
        ("msteams://team/token", "markdown"),
        ("https://hooks.example.test/hook", "markdown"),
    ],
)
def test_channel_style_per_scheme(url: str, style: str) -> None:
    assert channel_style(url) == style


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 s"),
        (0, "0 s"),
        (59.9, "59 s"),
        (60, "1 min"),
        (12 * 60 + 59, "12 min"),
        (3600, "1 h"),
        (2 * 3600 + 5 * 60 + 30, "2 h 5 min"),
        (86399, "23 h 59 min"),
        (86400, "1 d"),
        (3 * 86400 + 4 * 3600 + 30 * 60, "3 d 4 h"),
        (40 * 86400, "40 d"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


LONG_OBSERVATION = (
    "response header Content-Security-Policy allows inline scripts on every page of the checkout flow and the account pages"
)


@pytest.mark.parametrize(
    ("message", "summary"),
    [
        ("certificate expires in 6 days; renew it before 2026-03-07", "certificate expires in 6 days"),
        ("HTTP status 503, expected 200. Check the upstream service.", "HTTP status 503, expected 200"),
        ("redirect chain has 4 hops", "redirect chain has 4 hops"),
        ("response took 1.5 s, above the 1 s limit", "response took 1.5 s, above the 1 s limit"),
        ("body does not contain 'Sign in'.", "body does not contain 'Sign in'"),
        ("  DNS lookup\n  returned NXDOMAIN ;  add the record", "DNS lookup returned NXDOMAIN"),
        (LONG_OBSERVATION, "response header Content-Security-Policy allows inline scripts on every page of…"),
        ("x" * 120, "x" * 79 + "…"),
    ],
    ids=["semicolon", "sentence", "short", "decimal-point", "trailing-period", "whitespace", "long-words", "long-token"],
)
def test_shorten_message(message: str, summary: str) -> None:
    shortened = shorten_message(message)

    assert shortened == summary
    assert len(shortened) <= 80


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("sent Authorization: Bearer abcdef123456 upstream", "sent Authorization: Bearer …[redacted] upstream"),
        ("sent Authorization: Basic dXNlcjpwYXNzd29yZA== upstream", "sent Authorization: Basic …[redacted] upstream"),
        ('echoed "authorization": "Token f00ba5"', '"authorization": "Token …[redacted]"'),
        ("header authorization=opaque-value-7 leaked", "header authorization=…[redacted] leaked"),
        ("request had Bearer eyJ0eXAiOiJKV1Qi in it", "request had Bearer …[redacted] in it"),
        ("request had bearer Zm9vYmFyYmF6cXV4cXV1eA in it", "request had bearer …[redacted] in it"),
        ("page shows sk_live_4eC39HqLyjWDarjtT1zdp7dc in its source", "page shows sk_live_…[redacted] in its source"),
        ("page shows sk_test_51Hx0aLkdI8abc", "page shows sk_test_…[redacted]"),
        ("page shows rk_live_51Hx0aLkdI8abcdef", "page shows rk_live_…[redacted]"),
        ("config.js contains xoxb-123456789012-1234567890123-AbCdEfGhIjKlMn", "config.js contains xoxb-…[redacted]"),
        ("config.js contains xoxp-2222-3333-abcdef", "config.js contains xoxp-…[redacted]"),
        ("env dump shows AKIAIOSFODNN7EXAMPLE.", "env dump shows AKIA…[redacted]."),
        ("redirect to /login?next=/&password=hunter2&lang=en", "redirect to /login?next=/&password=[redacted]&lang=en"),
        ("redirect to /cb?access_token=abc.def&state=1", "redirect to /cb?access_token=[redacted]&state=1"),
        ("link /reset?token=0f9e8d7c", "link /reset?token=[redacted]"),
        ("link /api?client_secret=s3cr3t", "link /api?client_secret=[redacted]"),
        (
            "cookie holds eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c now",
            "cookie holds eyJ…[redacted] now",
        ),
        ("database postgres://app:s3cr3t-pw@db.example.test/app is slow", "database postgres://app:[redacted]@db.example.test/app is slow"),
    ],
    ids=[
        "authorization-bearer", "authorization-basic", "authorization-json", "authorization-equals", "bearer", "bearer-lowercase",
        "stripe-live", "stripe-test", "stripe-restricted", "slack-bot", "slack-user", "aws-key-id",
        "password-param", "access-token-param", "token-param", "secret-param", "jwt", "url-password",
    ],
)
def test_mask_tokens(text: str, masked: str) -> None:
    assert masked in mask_tokens(text)


@pytest.mark.parametrize(
    "text",
    [
        "send a Bearer authentication header",
        "the token bucket refilled",
        "sk_live_ keys belong on the server",
        "password reset page returned 200",
        "eyJ is how a JWT starts",
        "already masked: sk_live_…[redacted], token=[redacted], Authorization: Bearer …[redacted]",
    ],
)
def test_mask_tokens_leaves_prose(text: str) -> None:
    assert mask_tokens(text) == text


def test_render_redacts_configured_secret() -> None:
    secret = "hunter2-db-password"
    finding = Finding("http.body", Severity.FAIL, f"error page prints the database password {secret}; hide debug output")
    event = make_event(OPENED, findings=[finding], check_url=f"https://status.example.test/checks/app/tls?key={secret}")

    for url in (SLACK_URL, EMAIL_URL, JSON_URL, DISCORD_URL):
        message = render(event, url, Redactor([secret]))
        assert secret not in message.title, url
        assert secret not in message.body, url
        assert "[redacted]" in message.title, url


@pytest.mark.parametrize("url", [SLACK_URL, EMAIL_URL, JSON_URL, DISCORD_URL])
def test_render_masks_tokens_in_title_and_body(url: str) -> None:
    token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    finding = Finding("http.body", Severity.FAIL, f"checkout page source contains the key {token}; move it to the server")

    message = render(make_event(OPENED, findings=[finding]), url, no_secrets)

    assert token not in message.title
    assert token not in message.body
    assert "sk_live_…[redacted]" in message.title
    # Markdown escapes the underscores and brackets of the mask.
    assert "sk_live_…[redacted]" in message.body.replace("\\", "")


def test_render_masks_token_cut_by_subject_limit() -> None:
    # The token starts before the 80-character limit and ends after it, so a
    # summary cut before masking would keep the token's first characters.
    token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    finding = Finding("http.body", Severity.FAIL, "the public checkout page at /pay embeds the secret API key " + token)

    message = render(make_event(OPENED, findings=[finding]), EMAIL_URL, no_secrets)

    assert "4eC39" not in message.title
    assert "sk_live_…[redacted]" in message.title


@pytest.mark.parametrize("url", [SLACK_URL, EMAIL_URL, DISCORD_URL])
def test_render_test_kind_hides_channel_secrets(url: str) -> None:
    message = render(make_event(TEST), url, no_secrets)

    for secret in ("TIiajkdnlazkcOXrIdevi7FQ", "A1BRTD4JD", "mail-password-9", "discordWebhookToken42"):
        assert secret not in message.body

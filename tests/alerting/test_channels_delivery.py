"""Delivering rendered notifications through apprise to real loopback servers.

Email goes to an aiosmtpd server and json:// to an aiohttp server. Slack's
servers cannot run here, so the Slack test replaces the one HTTP call that
apprise's Slack plugin makes. A guard fails every test in this file that
tries to reach a host outside loopback.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import apprise
import apprise.plugins.slack as apprise_slack
import pytest
import requests

from launchwatch.monitor.alerting.channels import Delivery, apprise_url_problem, deliver
from launchwatch.monitor.alerting.events import OPENED, RESOLVED, NotificationEvent
from launchwatch.monitor.alerting.messages import RenderedMessage, render
from launchwatch.monitor.logs import Redactor
from launchwatch.probes.result import Finding, Severity
from tests.support.smtp import SmtpServer
from tests.support.targets import serve_app
from tests.support.webhook import WebhookRecorder

pytestmark = [
    pytest.mark.timeout(60),
    # aiosmtpd 1.4 warns about its own use of Session.login_data after every AUTH.
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

DELIVERY_TIMEOUT_S = 10.0
FROM_ADDRESS = "launchwatch@example.test"
TO_ADDRESS = "ops@example.test"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pass-4471"
SLACK_TOKENS = ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ")
OPENED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def mailto_url(port: int, credentials: str = "") -> str:
    """Return the apprise URL for a plain SMTP server on loopback.

    ``mode=insecure`` keeps apprise from starting TLS, which mailto:// does
    by default (STARTTLS), and the port follows the host as in any URL.
    """
    return f"mailto://{credentials}127.0.0.1:{port}?from={FROM_ADDRESS}&to={TO_ADDRESS}&mode=insecure"


def failing_event(**changes: Any) -> NotificationEvent:
    event = NotificationEvent(
        kind=OPENED,
        check_id="app/tls",
        site="app",
        check_name="Certificate expiry",
        probe_kind="tls",
        severity="critical",
        status="fail",
        reason="tls_expired",
        opened_at=OPENED_AT,
        at=OPENED_AT + timedelta(minutes=12),
        findings=[
            Finding("tls.expires_soon", Severity.FAIL, "certificate expires in 6 days; renew it before 2026-03-07"),
            Finding("tls.chain_order", Severity.WARN, "the chain sends the intermediate twice; serve each certificate once"),
        ],
        incident_id=7,
        check_url="https://status.example.test/checks/app/tls",
    )
    return event.replace(**changes)


def send(url: str, message: RenderedMessage) -> Delivery:
    return deliver(url, message.title, message.body, message.body_format, DELIVERY_TIMEOUT_S, notify_type=message.notify_type)


# --- Loopback guard ---------------------------------------------------------------


@dataclass
class NetworkGuard:
    """Hosts and addresses that code under test tried to reach outside loopback."""

    blocked: list[str] = field(default_factory=list)

    def check(self, host: Any, operation: str) -> None:
        if _is_loopback(host):
            return
        self.blocked.append(f"{operation} {host!r}")
        raise OSError(f"the test blocked {operation} to {host!r}: tests send traffic to loopback only")


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check(host, "name lookup")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            guard.check(address[0], "connect")
        return real_connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            guard.check(address[0], "connect")
        return real_connect_ex(sock, address)

    def guarded_gethostbyaddr(host: Any) -> Any:
        guard.check(host, "address lookup")
        return ("localhost", [], [host])

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "gethostbyaddr", guarded_gethostbyaddr)
    # smtplib names the client in EHLO with socket.getfqdn(), which would ask
    # the system resolver for this machine's name.
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "localhost")
    yield guard
    assert guard.blocked == [], f"the test tried to leave loopback: {guard.blocked}"


# --- Email ----------------------------------------------------------------------


def test_deliver_email_to_smtp_server(network_guard: NetworkGuard) -> None:
    with SmtpServer() as smtp:
        url = mailto_url(smtp.port)
        message = render(failing_event(), url, Redactor())

        delivery = send(url, message)

        mails = smtp.messages
    assert delivery.ok, delivery.error
    assert len(mails) == 1
    mail = mails[0]
    assert mail.mail_from == FROM_ADDRESS
    assert mail.recipients == [TO_ADDRESS]
    assert mail.message["From"] == FROM_ADDRESS
    assert mail.message["To"] == TO_ADDRESS
    assert mail.subject == message.title
    assert mail.subject == "[launchwatch] FAILING app/tls: certificate expires in 6 days"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.body == message.body
    assert mail.login is None
    assert network_guard.blocked == []


def test_deliver_email_with_login(network_guard: NetworkGuard) -> None:
    with SmtpServer(credentials=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        url = mailto_url(smtp.port, f"{SMTP_USER}:{SMTP_PASSWORD}@")
        message = render(failing_event(kind=RESOLVED, resolved_at=OPENED_AT + timedelta(hours=2, minutes=5)), url, Redactor())

        delivery = send(url, message)

        mails = smtp.messages
    assert delivery.ok, delivery.error
    assert [mail.login for mail in mails] == [SMTP_USER]
    assert mails[0].subject == "[launchwatch] RESOLVED app/tls after 2 h 5 min"
    assert mails[0].body == message.body


def test_deliver_email_while_server_down_then_back(network_guard: NetworkGuard) -> None:
    with SmtpServer(credentials=(SMTP_USER, SMTP_PASSWORD)) as smtp:
        url = mailto_url(smtp.port, f"{SMTP_USER}:{SMTP_PASSWORD}@")
        message = render(failing_event(), url, Redactor([SMTP_PASSWORD]))
        smtp.stop()

        down = send(url, message)

        assert down.ok is False
        assert down.permanent is False
        assert down.error is not None
        assert "127.0.0.1" in down.error
        assert "connection error" in down.error.lower()
        assert SMTP_PASSWORD not in down.error
        assert f"{SMTP_USER}:" not in down.error
        assert smtp.messages == []

        smtp.start()
        back = send(url, message)

        mails = smtp.messages
    assert back.ok, back.error
    assert len(mails) == 1
    assert mails[0].subject == message.title


# --- Generic JSON webhook ---------------------------------------------------------


def test_deliver_json_webhook_payload(network_guard: NetworkGuard) -> None:
    hook = WebhookRecorder()
    with serve_app(hook.app) as server:
        url = f"json://127.0.0.1:{server.port}/hook"
        message = render(failing_event(), url, Redactor())

        delivery = send(url, message)

    assert delivery.ok, delivery.error
    assert len(hook.posts) == 1
    post = hook.posts[0]
    assert post.method == "POST"
    assert post.path == "/hook"
    assert post.headers["Content-Type"] == "application/json"
    assert post.json == {
        "version": "1.0",
        "title": message.title,
        "message": message.body,
        "type": message.notify_type,
        "attachments": [],
    }
    assert post.json["type"] == "failure"
    assert message.body_format == "text"


def test_deliver_json_webhook_server_error(network_guard: NetworkGuard) -> None:
    hook = WebhookRecorder(status=500, response_text="upstream exploded")
    with serve_app(hook.app) as server:
        url = f"json://127.0.0.1:{server.port}/hook"
        message = render(failing_event(), url, Redactor())

        delivery = send(url, message)

    assert delivery.ok is False
    assert delivery.permanent is False
    assert delivery.error is not None
    assert "500" in delivery.error
    assert len(hook.posts) == 1


# --- Slack ----------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    url: str
    kwargs: dict[str, Any]


def test_deliver_slack_webhook_payload(monkeypatch: pytest.MonkeyPatch, network_guard: NetworkGuard) -> None:
    calls: list[RecordedRequest] = []

    def slack_stand_in(method: str, url: str, **kwargs: Any) -> requests.Response:
        calls.append(RecordedRequest(method, url, kwargs))
        response = requests.Response()
        response.status_code = 200
        # Slack's incoming webhooks respond to a successful post with the text "ok".
        response._content = b"ok"
        return response

    # apprise's Slack plugin sends through requests.request (apprise 2.3).
    monkeypatch.setattr(apprise_slack.requests, "request", slack_stand_in)
    url = "slack://{}/{}/{}".format(*SLACK_TOKENS)
    message = render(failing_event(), url, Redactor())

    delivery = send(url, message)

    assert delivery.ok, delivery.error
    assert len(calls) == 1
    call = calls[0]
    assert call.method == "post"
    assert call.url == "https://hooks.slack.com/services/{}/{}/{}".format(*SLACK_TOKENS)
    assert call.kwargs["headers"]["Content-Type"] == "application/json; charset=utf-8"

    payload = json.loads(call.kwargs["data"])
    attachment = payload["attachments"][0]
    assert isinstance(attachment.pop("ts"), float)
    plugin = apprise.Apprise.instantiate(url)
    icon = plugin.image_url(apprise.NotifyType.FAILURE)
    # apprise turns the CommonMark body into Slack mrkdwn: **bold** becomes
    # *bold* and [text](url) becomes <url|text>.
    assert payload == {
        "mrkdwn": True,
        "attachments": [
            {
                "title": message.title,
                "text": (
                    "*Certificate expiry* (`app/tls`) on site `app` is failing since 2026-03-01 08:00 UTC (for 12 min).\n"
                    "- certificate expires in 6 days; renew it before 2026-03-07\n"
                    "- the chain sends the intermediate twice; serve each certificate once\n"
                    "<https://status.example.test/checks/app/tls|Open the check page>"
                ),
                "color": plugin.color(apprise.NotifyType.FAILURE),
                "footer_icon": icon,
                "footer": "Apprise",
            }
        ],
        "icon_url": icon,
    }
    assert network_guard.blocked == []


def test_network_guard_blocks_other_hosts(network_guard: NetworkGuard) -> None:
    with pytest.raises(OSError, match="loopback only"):
        socket.getaddrinfo("hooks.slack.com", 443)

    assert network_guard.blocked == ["name lookup 'hooks.slack.com'"]
    # The guard's own teardown would fail on the entry this test provoked.
    network_guard.blocked.clear()


# --- URL validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#general",
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "mailto://127.0.0.1:2525?from=launchwatch@example.test&to=ops@example.test&mode=insecure",
        "mailtos://alerts:smtp-pass-4471@smtp.example.test?to=ops@example.test",
        "json://127.0.0.1:8080/hook",
        "jsons://hooks.example.test/notify",
        "discord://1234567890/discordWebhookToken42",
    ],
)
def test_apprise_url_problem_accepts_valid(url: str) -> None:
    assert apprise_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "secret", "expected"),
    [
        ("slack://T1JJ3T3L2/slackSecretPart9", "slackSecretPart9", "is not a valid apprise URL for scheme slack://"),
        ("mailtos://alerts:smtp-pass-4471@", "smtp-pass-4471", "is not a valid apprise URL for scheme mailtos://"),
        ("mailto://alerts:smtp-pass-4471@smtp.example.test?mode=plain", "smtp-pass-4471", "is not a valid apprise URL for scheme mailto://"),
        ("discord://1234567890", "1234567890", "is not a valid apprise URL for scheme discord://"),
        ("json://", "", "is not a valid apprise URL for scheme json://"),
        ("nosuchservice://user:hookSecret77@hooks.example.test", "hookSecret77", "uses scheme nosuchservice://, which no apprise service handles"),
        ("hookSecret77@hooks.example.test", "hookSecret77", "is not a URL"),
    ],
    ids=["slack-missing-token", "mailtos-no-host", "mailto-bad-mode", "discord-no-token", "json-no-host", "unknown-scheme", "no-scheme"],
)
def test_apprise_url_problem_rejects_invalid(url: str, secret: str, expected: str) -> None:
    problem = apprise_url_problem(url)

    assert problem is not None
    assert problem.startswith(expected)
    if secret:
        assert secret not in problem

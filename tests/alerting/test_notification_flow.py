"""Incidents to notifications: thresholds, flapping, reminders, escalation, maintenance, dedupe, retries.

Time comes from the test: results carry their own start times, and the
planner and sender are called with an explicit ``now``, so nothing sleeps.
Notifications travel through apprise's json:// plugin to a loopback server.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from launchwatch.monitor.alerting.planner import NotificationPlanner
from launchwatch.monitor.alerting.sender import OutboxSender
from launchwatch.monitor.configfile import load_config
from launchwatch.monitor.logs import Redactor
from launchwatch.monitor.outbox import OutboxStore
from launchwatch.monitor.storage import Storage
from launchwatch.monitor.tables import notifications_table
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status
from tests.storage.storage_helpers import T0
from tests.support.smtp import SmtpServer
from tests.alerting.conftest import Hooks


CONFIG = """\
state_dir: {tmp}
channels:
  - name: hook
    url: json://127.0.0.1:{port}/hook
  - name: pager
    url: json://127.0.0.1:{port}/pager
  - name: errors
    url: json://127.0.0.1:{port}/errors
    statuses: [error]
  - name: mail
    url: mailto://127.0.0.1:{smtp_port}?from=launchwatch@example.test&to=ops@example.test&mode=insecure
alerts:
  channels: [hook]
{alerts}
{maintenance}
sites:
  - name: app
    base_url: http://app.example.test
    checks:
      - id: home
        kind: http
        failure_threshold: 2
      - id: api
        kind: http
        failure_threshold: 1
        channels: [hook, errors]
      - id: mailer
        kind: http
        failure_threshold: 1
        channels: [mail]
"""


class Harness:
    def __init__(
        self, storage: Storage, tmp_path: Path, port: int, alerts: str = "", maintenance: str = "", smtp_port: int = 1
    ) -> None:
        path = tmp_path / "launchwatch.yaml"
        path.write_text(
            CONFIG.format(tmp=tmp_path, port=port, smtp_port=smtp_port, alerts=textwrap.indent(alerts, "  "), maintenance=maintenance)
        )
        self.loaded = load_config(path, environ={})
        self.storage = storage
        self.port = port
        self.checks = {check.id: check for check in self.loaded.checks}
        storage.sync_checks(self.loaded.checks, T0)
        self.restart()

    def restart(self, port: int | None = None) -> None:
        """Build the planner and sender anew, as a restarted daemon would, optionally on another port."""
        config = self.loaded.config
        channels = config.channels
        if port is not None:
            channels = [channel.model_copy(update={"url": channel.url.replace(f":{self.port}/", f":{port}/")}) for channel in channels]
            self.port = port
        self.planner = NotificationPlanner(config, self.loaded.checks)
        self.outbox = OutboxStore(self.storage)
        self.sender = OutboxSender(self.outbox, self.planner, channels, redact=Redactor(), give_up_after_s=config.alerts.give_up_after)

    def record(self, check_id: str, status: Status, at: datetime, dedupe_key: str | None = None) -> None:
        finding = Finding("http.status_unexpected", Severity.FAIL, "GET / returned status 500, expected 200; check the app logs", "app")
        result = ProbeResult(
            status=status,
            reason=Reason.OK if status in (Status.PASS, Status.WARN) else Reason.HTTP_STATUS,
            started_at=at,
            duration_s=0.05,
            findings=[] if status in (Status.PASS, Status.WARN) else [finding],
            dedupe_key=dedupe_key,
        )
        self.storage.record_results([(self.checks[check_id], result)], self.planner)

    def tick(self, now: datetime) -> int:
        return asyncio.run(self.sender.tick(now))

    def send(self, now: datetime) -> int:
        """Deliver everything due at ``now``, in as many passes as it takes."""
        delivered = 0
        for _ in range(20):
            sent = asyncio.run(self.sender.process_once(now))
            delivered += sent
            if not sent:
                break
        return delivered

    def rows(self) -> list[tuple[str, str, str, int]]:
        table = notifications_table
        with self.storage.engine.connect() as conn:
            return [
                (row.channel, row.kind, row.state, row.sequence)
                for row in conn.execute(sa.select(table).order_by(table.c.id))
            ]


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)


def test_incident_opens_at_threshold_and_resolves(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)

    harness.record("app/home", Status.FAIL, T0)
    assert harness.send(T0) == 0
    harness.record("app/home", Status.FAIL, T0 + minutes(1))
    assert harness.send(T0 + minutes(1)) == 1
    harness.record("app/home", Status.PASS, T0 + minutes(7))
    assert harness.send(T0 + minutes(7)) == 1

    titles = hooks.titles()
    assert len(titles) == 2
    assert "app/home" in titles[0]
    assert "FAILING" in titles[0].upper()
    assert "RESOLVED" in titles[1].upper()
    assert harness.rows() == [("hook", "opened", "sent", 0), ("hook", "resolved", "sent", 0)]


def test_flapping_below_threshold_sends_nothing(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)

    for index in range(10):
        status = Status.FAIL if index % 2 == 0 else Status.PASS
        harness.record("app/home", status, T0 + minutes(index))
        harness.send(T0 + minutes(index))

    assert hooks.titles() == []
    assert harness.rows() == []


def test_reminders_repeat_while_failing(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port, alerts="reminder_interval: 10m\n")
    harness.record("app/api", Status.FAIL, T0)
    harness.send(T0)

    assert harness.tick(T0 + minutes(5)) == 0
    assert harness.tick(T0 + minutes(10)) == 1
    assert harness.tick(T0 + minutes(12)) == 0
    harness.send(T0 + minutes(12))
    assert harness.tick(T0 + minutes(21)) == 1
    harness.send(T0 + minutes(21))
    harness.record("app/api", Status.PASS, T0 + minutes(25))
    harness.send(T0 + minutes(25))

    assert [(kind, seq) for channel, kind, _, seq in harness.rows() if channel == "hook"] == [
        ("opened", 0),
        ("reminder", 1),
        ("reminder", 2),
        ("resolved", 0),
    ]
    assert len(hooks.titles()) == 4


def test_no_reminders_by_default(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)
    harness.record("app/api", Status.FAIL, T0)

    assert harness.tick(T0 + timedelta(days=2)) == 0


def test_escalation_after_delay(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port, alerts="escalation:\n  after: 30m\n  channels: [pager]\n")
    harness.record("app/api", Status.FAIL, T0)
    harness.send(T0)

    assert harness.tick(T0 + minutes(29)) == 0
    assert harness.tick(T0 + minutes(31)) == 1
    assert harness.tick(T0 + minutes(45)) == 0
    harness.send(T0 + minutes(45))
    harness.record("app/api", Status.PASS, T0 + minutes(50))
    harness.send(T0 + minutes(50))

    assert len(hooks.titles("pager")) == 2
    assert "RESOLVED" in hooks.titles("pager")[1].upper()
    assert len(hooks.titles("hook")) == 2


def test_error_results_routed_separately(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)

    harness.record("app/api", Status.ERROR, T0)
    harness.send(T0)

    # "hook" hears of fail and error; "errors" only of error.
    assert len(hooks.titles("hook")) == 1
    assert len(hooks.titles("errors")) == 1
    harness.record("app/api", Status.PASS, T0 + minutes(1))
    harness.record("app/api", Status.FAIL, T0 + minutes(2))
    harness.send(T0 + minutes(2))
    assert len(hooks.titles("errors")) == 2
    assert len(hooks.titles("hook")) == 3


MAINTENANCE = """\
maintenance:
  - name: deploy
    start: 2024-05-01T12:00:00Z
    end: 2024-05-01T13:00:00Z
    sites: [app]
"""


def test_maintenance_silences_then_defers_opening(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port, maintenance=MAINTENANCE)
    harness.record("app/api", Status.FAIL, T0 + minutes(10))
    harness.send(T0 + minutes(10))
    assert harness.tick(T0 + minutes(30)) == 0
    harness.send(T0 + minutes(30))
    assert hooks.titles() == []

    assert harness.tick(T0 + minutes(61)) == 1
    harness.send(T0 + minutes(61))
    harness.record("app/api", Status.PASS, T0 + minutes(70))
    harness.send(T0 + minutes(70))

    assert [(kind, state, seq) for channel, kind, state, seq in harness.rows() if channel == "hook"] == [
        ("opened", "silenced", 0),
        ("opened", "sent", 1),
        ("resolved", "sent", 0),
    ]
    assert len(hooks.titles()) == 2


def test_incident_inside_maintenance_sends_nothing(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port, maintenance=MAINTENANCE)
    harness.record("app/api", Status.FAIL, T0 + minutes(10))
    harness.record("app/api", Status.PASS, T0 + minutes(20))
    harness.tick(T0 + minutes(90))
    harness.send(T0 + minutes(90))

    assert hooks.titles() == []
    assert {state for _, _, state, _ in harness.rows()} == {"silenced"}


def test_same_certificate_notifies_once(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)
    key = "tls-cert:sha256:ab12"

    harness.record("app/api", Status.FAIL, T0, dedupe_key=key)
    harness.record("app/home", Status.FAIL, T0, dedupe_key=key)
    harness.record("app/home", Status.FAIL, T0 + minutes(1), dedupe_key=key)
    harness.send(T0 + minutes(1))

    assert len(hooks.titles()) == 1
    assert [state for channel, kind, state, _ in harness.rows() if channel == "hook"] == ["sent", "deduplicated"]


def test_restart_keeps_incident_and_sends_recovery(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)
    harness.record("app/home", Status.FAIL, T0)
    harness.record("app/home", Status.FAIL, T0 + minutes(1))
    harness.send(T0 + minutes(1))

    harness.restart()
    harness.record("app/home", Status.FAIL, T0 + minutes(2))
    harness.record("app/home", Status.FAIL, T0 + minutes(3))
    harness.send(T0 + minutes(3))
    harness.record("app/home", Status.PASS, T0 + minutes(4))
    harness.send(T0 + minutes(4))

    assert harness.rows() == [("hook", "opened", "sent", 0), ("hook", "resolved", "sent", 0)]
    assert len(hooks.titles()) == 2


def test_unreachable_channel_retries_in_order(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    closed_port = _closed_port()
    harness = Harness(storage, tmp_path, closed_port)
    harness.record("app/api", Status.FAIL, T0)
    harness.record("app/api", Status.PASS, T0 + minutes(1))

    assert harness.send(T0 + minutes(1)) == 0
    assert harness.send(T0 + minutes(1)) == 0
    # The channel comes back, here as the live server on another port.
    harness.restart(port=hooks.port)
    assert harness.send(T0 + minutes(2)) == 2

    titles = hooks.titles()
    assert len(titles) == 2
    assert "RESOLVED" not in titles[0].upper()
    assert "RESOLVED" in titles[1].upper()
    with storage.engine.connect() as conn:
        attempts = conn.execute(sa.text("SELECT ok FROM notification_attempts ORDER BY id")).scalars().all()
    assert [bool(ok) for ok in attempts] == [False, True, True]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_email_waits_for_smtp_server_then_arrives_once(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    with SmtpServer() as smtp:
        harness = Harness(storage, tmp_path, hooks.port, smtp_port=smtp.port)
        smtp.stop()
        harness.record("app/mailer", Status.FAIL, T0)
        harness.record("app/mailer", Status.PASS, T0 + minutes(3))

        assert harness.send(T0 + minutes(3)) == 0
        assert harness.send(T0 + minutes(4)) == 0
        smtp.start()
        assert harness.send(T0 + minutes(10)) == 2
        assert harness.send(T0 + minutes(20)) == 0

        subjects = [mail.subject for mail in smtp.messages]

    assert len(subjects) == 2
    assert subjects[0].startswith("[launchwatch] FAILING app/mailer")
    assert subjects[1].startswith("[launchwatch] RESOLVED app/mailer")
    assert [(kind, state) for channel, kind, state, _ in harness.rows() if channel == "mail"] == [
        ("opened", "sent"),
        ("resolved", "sent"),
    ]


def test_open_and_resolve_in_one_batch_both_sent(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)
    check = harness.checks["app/api"]
    batch = [(check, _result(Status.FAIL, T0)), (check, _result(Status.PASS, T0 + minutes(1)))]

    storage.record_results(batch, harness.planner)
    harness.send(T0 + minutes(1))

    assert [(kind, state) for channel, kind, state, _ in harness.rows() if channel == "hook"] == [
        ("opened", "sent"),
        ("resolved", "sent"),
    ]


def test_same_certificate_in_one_batch_notifies_once(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port)
    key = "tls-cert:sha256:ab12"
    harness.record("app/home", Status.FAIL, T0, dedupe_key=key)
    both = [
        (harness.checks["app/api"], _result(Status.FAIL, T0 + minutes(1), dedupe_key=key)),
        (harness.checks["app/home"], _result(Status.FAIL, T0 + minutes(1), dedupe_key=key)),
    ]

    storage.record_results(both, harness.planner)

    opened = [state for channel, kind, state, _ in harness.rows() if channel == "hook" and kind == "opened"]
    assert opened == ["pending", "deduplicated"]


def test_deduplicated_incident_gets_no_reminders(storage: Storage, tmp_path: Path, hooks: Hooks) -> None:
    harness = Harness(storage, tmp_path, hooks.port, alerts="reminder_interval: 10m\n")
    key = "tls-cert:sha256:ab12"
    harness.record("app/api", Status.FAIL, T0, dedupe_key=key)
    harness.record("app/home", Status.FAIL, T0, dedupe_key=key)
    harness.record("app/home", Status.FAIL, T0 + minutes(1), dedupe_key=key)

    harness.tick(T0 + minutes(11))

    rows = [(kind, state) for channel, kind, state, _ in harness.rows() if channel == "hook"]
    assert rows == [("opened", "pending"), ("opened", "deduplicated"), ("reminder", "pending")]


def _result(status: Status, at: datetime, dedupe_key: str | None = None) -> ProbeResult:
    finding = Finding("http.status_unexpected", Severity.FAIL, "GET / returned status 500, expected 200", "app")
    failing = status in (Status.FAIL, Status.ERROR)
    return ProbeResult(
        status=status,
        reason=Reason.HTTP_STATUS if failing else Reason.OK,
        started_at=at,
        duration_s=0.05,
        findings=[finding] if failing else [],
        dedupe_key=dedupe_key,
    )

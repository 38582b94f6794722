"""`launchwatch run` as a subprocess against a target the test controls.

The target moves from healthy to failing to hung and back; the test follows
the daemon through its JSON API, status page, metrics and database.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from launchwatch.monitor.storage import Storage
from tests.daemon.daemon_support import WAIT_LIMIT_S, Daemon, TargetControl, start_daemon, wait_for


@pytest.fixture
def daemon(tmp_path: Path, target: tuple[TargetControl, int]) -> Iterator[Daemon]:
    _, target_port = target
    running = start_daemon(tmp_path, target_port)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=10)


def stored_results(daemon: Daemon, check_id: str) -> list[Any]:
    storage = Storage(daemon.db_url)
    try:
        return list(reversed(storage.recent_results(check_id, limit=500)))
    finally:
        storage.close()


def test_daemon_follows_target_through_failure_and_recovery(daemon: Daemon, target: tuple[TargetControl, int]) -> None:
    control, _ = target

    wait_for(lambda: daemon.check("app/home")["last_status"] == "pass", "a first passing result", daemon)
    assert daemon.check("app/home")["state"] == "ok"

    control.mode = "fail"
    wait_for(lambda: daemon.check("app/home")["state"] == "failing", "the check to turn failing", daemon)
    failing = daemon.check("app/home")
    assert failing["last_status"] == "fail"
    assert failing["last_reason"] == "http_status"
    assert "500" in failing["top_finding"]["message"]

    control.mode = "hang"
    wait_for(lambda: daemon.check("app/home")["last_reason"] == "timeout", "a timeout result", daemon)

    control.mode = "ok"
    wait_for(lambda: daemon.check("app/home")["state"] == "ok", "the check to recover", daemon)

    status, page = daemon.get("/")
    assert status == 200
    assert "Home page" in page
    assert "Stylesheet" in page
    assert "<svg" in page

    status, check_page = daemon.get("/checks/app/home")
    assert status == 200
    assert "http_status" in check_page

    status, metrics = daemon.get("/metrics")
    assert status == 200
    assert 'launchwatch_check_up{check="app/home",kind="http",site="app"} 1.0' in metrics
    assert 'launchwatch_check_runs_total{check="app/home",kind="http",site="app",status="fail"}' in metrics

    status, health = daemon.get("/healthz")
    assert status == 200

    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=WAIT_LIMIT_S) == 0
    logs = daemon.logs()
    assert "stopped" in logs
    assert "tok-e2e-secret-value" not in logs
    assert "check=app/home kind=http" in logs

    results = stored_results(daemon, "app/home")
    reasons = [r.reason for r in results]
    assert reasons[0] == "ok"
    assert "http_status" in reasons
    assert "timeout" in reasons
    assert reasons[-1] == "ok"
    assert reasons.index("http_status") < reasons.index("timeout")

    storage = Storage(daemon.db_url)
    try:
        incidents = storage.incidents("app/home")
    finally:
        storage.close()
    assert len(incidents) == 1
    assert incidents[0].resolved_at is not None
    assert incidents[0].resolved_at > incidents[0].opened_at
    assert incidents[0].reason == "http_status"


def test_daemon_stores_inflight_result_on_sigterm(daemon: Daemon, target: tuple[TargetControl, int]) -> None:
    control, _ = target
    wait_for(lambda: daemon.check("app/home")["last_status"] == "pass", "a first passing result", daemon)
    before = len(stored_results(daemon, "app/home"))
    control.mode = "hang"
    # Let a run start against the hung target, then stop the daemon mid-run.
    time.sleep(1.5)

    daemon.process.send_signal(signal.SIGTERM)

    assert daemon.process.wait(timeout=WAIT_LIMIT_S) == 0
    results = stored_results(daemon, "app/home")
    assert len(results) > before
    assert results[-1].reason == "timeout"
    assert "waiting for" in daemon.logs()


def test_daemon_refuses_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("defaults:\n  interval: often\nsites: []\n")

    completed = subprocess.run(
        [sys.executable, "-m", "launchwatch.monitor.cli", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=WAIT_LIMIT_S,
    )

    assert completed.returncode == 2
    assert "invalid config, not starting (1 problem)" in completed.stderr
    assert f"{config}:2: defaults.interval: invalid duration 'often'" in completed.stderr


def test_daemon_reports_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "busy.yaml"
        config.write_text(f"state_dir: {tmp_path}\nweb:\n  listen: 127.0.0.1:{port}\nsites: []\n")

        completed = subprocess.run(
            [sys.executable, "-m", "launchwatch.monitor.cli", "run", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=WAIT_LIMIT_S,
        )

    assert completed.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr
    assert "pick a free port in web.listen" in completed.stderr

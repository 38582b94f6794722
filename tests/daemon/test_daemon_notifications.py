"""Notifications survive a kill -9 of the daemon between the state change and the delivery."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path


from tests.alerting.conftest import Hooks, hooks_app
from tests.daemon.daemon_support import (
    WAIT_LIMIT_S,
    TargetControl,
    free_port,
    start_daemon,
    wait_for,
)
from tests.support.targets import serve_app


def notification_rows(db_path: Path) -> list[tuple[str, str, int]]:
    """Return the outbox rows, or none while the daemon has not created the database yet."""
    if not db_path.exists():
        return []
    try:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT kind, state, attempts FROM notifications ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []


def test_kill_between_state_change_and_delivery(tmp_path: Path, target: tuple[TargetControl, int]) -> None:
    control, target_port = target
    hook_port = free_port()
    channels = f"""\
channels:
  - name: hook
    url: json://127.0.0.1:{hook_port}/hook
alerts:
  channels: [hook]
"""
    db_path = tmp_path / "state" / "launchwatch.db"
    control.mode = "fail"

    # The channel is down, so the opening notification waits in the outbox.
    first = start_daemon(tmp_path, target_port, extra_config=channels, failure_threshold=1)
    try:
        wait_for(lambda: any(attempts >= 1 for _, _, attempts in notification_rows(db_path)), "a failed delivery attempt", first)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=WAIT_LIMIT_S)
    finally:
        if first.process.poll() is None:
            first.process.kill()
    assert [(kind, state) for kind, state, _ in notification_rows(db_path)] == [("opened", "pending")]

    recorded = Hooks(port=hook_port)
    with serve_app(hooks_app(recorded), port=hook_port):
        second = start_daemon(tmp_path, target_port, extra_config=channels, failure_threshold=1, log_name="daemon-2.log")
        try:
            wait_for(lambda: len(recorded.titles()) == 1, "the opening notification", second)
            control.mode = "ok"
            wait_for(lambda: len(recorded.titles()) == 2, "the recovery notification", second)
            # Time for a duplicate to show up, if one were coming.
            time.sleep(2)
            second.process.send_signal(signal.SIGTERM)
            assert second.process.wait(timeout=WAIT_LIMIT_S) == 0
        finally:
            if second.process.poll() is None:
                second.process.kill()

    titles = recorded.titles()
    assert len(titles) == 2
    assert "app/home" in titles[0]
    assert "RESOLVED" in titles[1].upper()
    assert [(kind, state) for kind, state, _ in notification_rows(db_path)] == [("opened", "sent"), ("resolved", "sent")]

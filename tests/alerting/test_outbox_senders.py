"""Two senders on one PostgreSQL database, as during a rolling restart: each notification goes out once."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from launchwatch.monitor.alerting.events import OPENED, NotificationEvent
from launchwatch.monitor.alerting.planner import NotificationPlanner
from launchwatch.monitor.alerting.sender import OutboxSender
from launchwatch.monitor.config import ChannelConfig, Config
from launchwatch.monitor.logs import Redactor
from launchwatch.monitor.outbox import NotificationDraft, OutboxStore, insert_drafts
from launchwatch.monitor.storage import Storage
from tests.alerting.conftest import Hooks
from tests.storage.storage_helpers import T0

NOTIFICATIONS = 40


def draft(index: int, channel: str) -> NotificationDraft:
    event = NotificationEvent(
        kind=OPENED, check_id=f"app/check-{index:02d}", site="app", check_name=f"check {index}", probe_kind="http",
        severity="critical", status="fail", reason="http_status", opened_at=T0, at=T0, incident_id=index,
    )
    return NotificationDraft(channel=channel, kind=OPENED, payload=event.to_json(), incident_id=index, check_id=event.check_id)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_senders_deliver_each_once(database_url: str, hooks: Hooks) -> None:
    setup = Storage(database_url)
    setup.upgrade()
    with setup.transaction() as conn:
        insert_drafts(conn, [draft(i, "hook" if i % 2 else "pager") for i in range(NOTIFICATIONS)], T0)
    channels = [
        ChannelConfig(name="hook", url=f"json://127.0.0.1:{hooks.port}/hook"),
        ChannelConfig(name="pager", url=f"json://127.0.0.1:{hooks.port}/pager"),
    ]
    config = Config(channels=channels)
    errors: list[BaseException] = []
    start_together = threading.Barrier(2)

    def run_sender() -> None:
        storage = Storage(database_url)
        try:
            sender = OutboxSender(
                OutboxStore(storage), NotificationPlanner(config, []), channels, redact=Redactor(), give_up_after_s=3600
            )
            start_together.wait(timeout=30)
            # Bounded: far more passes than needed when both senders share the work.
            for _ in range(NOTIFICATIONS * 2):
                asyncio.run(sender.process_once(T0 + timedelta(seconds=1)))
                if OutboxStore(storage).depth() == 0:
                    break
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            storage.close()

    threads = [threading.Thread(target=run_sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    titles = hooks.titles("hook") + hooks.titles("pager")
    assert len(titles) == NOTIFICATIONS
    assert len(set(titles)) == NOTIFICATIONS
    # Each channel got its messages in the order they were written.
    assert hooks.titles("hook") == sorted(hooks.titles("hook"))
    assert hooks.titles("pager") == sorted(hooks.titles("pager"))
    with setup.engine.connect() as conn:
        states = conn.execute(sa.text("SELECT state, attempts FROM notifications")).all()
        attempt_count = conn.execute(sa.text("SELECT count(*) FROM notification_attempts")).scalar_one()
    setup.close()
    assert {tuple(row) for row in states} == {("sent", 1)}
    assert attempt_count == NOTIFICATIONS

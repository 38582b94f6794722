"""The sender's metrics and health, and the heartbeat ping."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry

from launchwatch.monitor.alerting import sender as sender_module
from launchwatch.monitor.alerting.channels import Delivery
from launchwatch.monitor.alerting.heartbeat import heartbeat_loop, ping_heartbeat
from launchwatch.monitor.alerting.planner import NotificationPlanner
from launchwatch.monitor.alerting.sender import OutboxSender
from launchwatch.monitor.config import ChannelConfig, Config
from launchwatch.monitor.logs import Redactor
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.outbox import OutboxStore, insert_drafts
from launchwatch.monitor.storage import Storage
from launchwatch.probes.context import make_dns_resolver
from tests.alerting.conftest import Hooks
from tests.alerting.test_outbox_senders import draft
from tests.storage.storage_helpers import T0
from tests.support.targets import serve_app


def make_sender(storage: Storage, url: str, **kwargs: object) -> tuple[OutboxSender, CollectorRegistry]:
    registry = CollectorRegistry()
    channels = [ChannelConfig(name="hook", url=url)]
    sender = OutboxSender(
        OutboxStore(storage),
        NotificationPlanner(Config(channels=channels), []),
        channels,
        redact=Redactor(),
        give_up_after_s=3600,
        metrics=LaunchwatchMetrics(registry),
        **kwargs,  # type: ignore[arg-type]
    )
    return sender, registry


def enqueue(storage: Storage, count: int) -> None:
    with storage.transaction() as conn:
        insert_drafts(conn, [draft(index, "hook") for index in range(count)], T0)


def test_sender_counts_outcomes_and_depth(storage: Storage, hooks: Hooks) -> None:
    enqueue(storage, 2)
    sender, registry = make_sender(storage, f"json://127.0.0.1:{hooks.port}/hook")

    asyncio.run(sender.process_once(T0))

    assert registry.get_sample_value("launchwatch_notifications_total", {"channel": "hook", "outcome": "sent"}) == 1
    assert registry.get_sample_value("launchwatch_outbox_depth") == 1
    asyncio.run(sender.process_once(T0))
    assert registry.get_sample_value("launchwatch_notifications_total", {"channel": "hook", "outcome": "sent"}) == 2
    assert registry.get_sample_value("launchwatch_outbox_depth") == 0


def test_sender_counts_retries(storage: Storage, tmp_path: Path) -> None:
    enqueue(storage, 1)
    sender, registry = make_sender(storage, "json://127.0.0.1:1/hook")

    asyncio.run(sender.process_once(T0))

    assert registry.get_sample_value("launchwatch_notifications_total", {"channel": "hook", "outcome": "pending"}) == 1
    assert registry.get_sample_value("launchwatch_outbox_depth") == 1


def test_stuck_sender_fails_health(storage: Storage, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sender_module, "POLL_INTERVAL_S", 0.01)
    enqueue(storage, 1)
    release = threading.Event()
    started = threading.Event()

    def hanging_delivery(*args: object, **kwargs: object) -> Delivery:
        # A channel library that ignores its timeout and never returns.
        started.set()
        release.wait(timeout=30)
        return Delivery(ok=True)

    sender, _ = make_sender(storage, "json://127.0.0.1:1/hook", deliver=hanging_delivery)

    async def scenario() -> tuple[tuple[bool, str], tuple[bool, str]]:
        sender.start()
        await asyncio.to_thread(started.wait, 10)
        fresh = sender.healthy()
        later = sender.healthy(time.monotonic() + sender_module.STUCK_AFTER_S + 1)
        release.set()
        await sender.stop()
        return fresh, later

    fresh, later = asyncio.run(scenario())

    assert fresh == (True, "ok")
    assert later[0] is False
    assert later[1].startswith("notification sender has not completed a pass for")


def heartbeat_target(hits: list[str], status: int) -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_get("/ping/{uuid}", ping)
    return app


def test_heartbeat_pings_only_when_healthy() -> None:
    hits: list[str] = []
    with serve_app(heartbeat_target(hits, 200)) as server:
        url = f"{server.url}/ping/abc"

        async def scenario() -> tuple[bool, bool]:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                healthy = await ping_heartbeat(url, lambda: (True, "ok"), session)
                unhealthy = await ping_heartbeat(url, lambda: (False, "scheduler is not running"), session)
            return healthy, unhealthy

        healthy, unhealthy = asyncio.run(scenario())

    assert healthy is True
    assert unhealthy is False
    assert hits == ["/ping/abc"]


def test_heartbeat_error_status_reported() -> None:
    hits: list[str] = []
    with serve_app(heartbeat_target(hits, 500)) as server:

        async def scenario() -> bool:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                return await ping_heartbeat(f"{server.url}/ping/abc", lambda: (True, "ok"), session)

        assert asyncio.run(scenario()) is False
    assert hits == ["/ping/abc"]


def test_heartbeat_loop_repeats() -> None:
    hits: list[str] = []
    with serve_app(heartbeat_target(hits, 200)) as server:

        async def scenario() -> None:
            loop = heartbeat_loop(f"{server.url}/ping/abc", 0.05, lambda: (True, "ok"), make_dns_resolver(["127.0.0.1:1"]))
            try:
                await asyncio.wait_for(loop, timeout=0.5)
            except TimeoutError:
                pass

        asyncio.run(scenario())

    assert len(hits) >= 3


def test_claim_reaches_channel_behind_backlog(storage: Storage) -> None:
    backlog = [draft(index, "dead") for index in range(1200)]
    with storage.transaction() as conn:
        insert_drafts(conn, backlog, T0)
        # The dead channel's rows all wait for a retry far in the future.
        conn.execute(sa.text("UPDATE notifications SET next_attempt_at = :later"), {"later": T0 + timedelta(hours=1)})
        insert_drafts(conn, [draft(5000, "hook")], T0)

    claimed = OutboxStore(storage).claim("sender-a", T0 + timedelta(seconds=2), timedelta(minutes=5))

    assert [notification.channel for notification in claimed] == ["hook"]


def test_cancelled_pass_still_records_delivery(storage: Storage, hooks: Hooks) -> None:
    enqueue(storage, 1)
    deliveries: list[str] = []

    def slow_delivery(url: str, *args: object, **kwargs: object) -> Delivery:
        time.sleep(0.3)
        deliveries.append(url)
        return Delivery(ok=True, duration_s=0.3)

    sender, _ = make_sender(storage, f"json://127.0.0.1:{hooks.port}/hook", deliver=slow_delivery)

    async def shutdown_mid_delivery() -> None:
        try:
            await asyncio.wait_for(sender.process_once(T0), timeout=0.05)
        except TimeoutError:
            pass
        await sender.stop()

    asyncio.run(shutdown_mid_delivery())

    with storage.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT state, attempts, claimed_by FROM notifications")).all()
    assert len(deliveries) == 1
    assert [tuple(row) for row in rows] == [("sent", 1, None)]

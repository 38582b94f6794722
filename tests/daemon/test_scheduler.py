"""The scheduler and runner against a real loopback target: overlap, concurrency, lag, health."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.runner import Runner
from launchwatch.monitor.scheduler import CheckScheduler, GridIntervalTrigger, on_grid
from launchwatch.probes.context import SSLContexts, Target, make_dns_resolver
from launchwatch.probes.http import HttpOptions
from tests.support.targets import serve_app


@dataclass
class Concurrency:
    current: int = 0
    peak: int = 0
    total: int = 0


def slow_target(delay_s: float, seen: Concurrency) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen.current += 1
        seen.total += 1
        seen.peak = max(seen.peak, seen.current)
        try:
            await asyncio.sleep(delay_s)
        finally:
            seen.current -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


def make_check(index: int, port: int, interval_s: float, timeout_s: float = 2.0) -> CheckDefinition:
    return CheckDefinition(
        id=f"app/check-{index}",
        site="app",
        name=f"check {index}",
        kind="http",
        options=HttpOptions(path=f"/{index}"),
        target=Target(site="app", base_url=f"http://app.example.test:{port}", resolve={"app.example.test": "127.0.0.1"}),
        interval_s=interval_s,
        timeout_s=timeout_s,
        jitter_s=0.0,
        severity="critical",
        failure_threshold=2,
        success_threshold=1,
    )


def make_scheduler(max_concurrency: int) -> tuple[CheckScheduler, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = LaunchwatchMetrics(registry)
    runner = Runner(
        metrics=metrics,
        writer=None,
        dns_resolver_factory=lambda timeout_s: make_dns_resolver(["127.0.0.1:1"], timeout_s),
        ssl_contexts=SSLContexts(),
        max_concurrency=max_concurrency,
    )
    return CheckScheduler(runner, metrics), registry


async def run_for(checks: list[CheckDefinition], seconds: float, max_concurrency: int) -> tuple[CheckScheduler, CollectorRegistry]:
    scheduler, registry = make_scheduler(max_concurrency)
    scheduler.start(checks)
    await asyncio.sleep(seconds)
    await scheduler.stop(drain_timeout_s=5.0)
    return scheduler, registry


def test_scheduler_never_overlaps_runs_of_one_check() -> None:
    seen = Concurrency()
    with serve_app(slow_target(0.8, seen)) as server:
        # The interval is shorter than a run, so each run would overlap the next.
        check = make_check(0, server.port, interval_s=0.2)
        asyncio.run(run_for([check], seconds=3.0, max_concurrency=10))

    assert seen.total >= 2
    assert seen.peak == 1


def test_scheduler_respects_global_concurrency() -> None:
    seen = Concurrency()
    with serve_app(slow_target(0.4, seen)) as server:
        checks = [make_check(i, server.port, interval_s=0.5) for i in range(12)]
        asyncio.run(run_for(checks, seconds=3.0, max_concurrency=3))

    assert seen.total >= 12
    assert seen.peak == 3


def test_scheduler_exports_lag_and_results() -> None:
    seen = Concurrency()
    with serve_app(slow_target(0.0, seen)) as server:
        checks = [make_check(i, server.port, interval_s=0.5) for i in range(3)]
        _, registry = asyncio.run(run_for(checks, seconds=2.0, max_concurrency=10))

    lag_count = registry.get_sample_value("launchwatch_scheduler_lag_seconds_count")
    assert lag_count is not None
    assert lag_count >= 3
    passes = registry.get_sample_value(
        "launchwatch_check_runs_total", {"check": "app/check-0", "site": "app", "kind": "http", "status": "pass"}
    )
    assert passes is not None
    assert passes >= 1


def test_scheduler_health_follows_running_state() -> None:
    async def scenario() -> tuple[tuple[bool, str], tuple[bool, str]]:
        scheduler, _ = make_scheduler(1)
        scheduler.start([])
        await asyncio.sleep(0.1)
        running = scheduler.healthy()
        await scheduler.stop(drain_timeout_s=1.0)
        return running, scheduler.healthy()

    running, stopped = asyncio.run(scenario())

    assert running == (True, "ok")
    assert stopped == (False, "scheduler is not running")


def test_grid_trigger_rounds_jittered_times() -> None:
    trigger = GridIntervalTrigger(seconds=10, jitter=3, timezone=UTC)
    previous = datetime(2026, 12, 4, 12, 0, 0, 300000, tzinfo=UTC)

    fire_times = [trigger.get_next_fire_time(previous, previous) for _ in range(50)]

    for moment in fire_times:
        assert moment is not None
        assert moment.microsecond % 100000 == 0
        assert previous + timedelta(seconds=10) - timedelta(milliseconds=50) <= moment
        assert moment <= previous + timedelta(seconds=13, milliseconds=50)
    assert len(set(fire_times)) > 1


def test_on_grid_rounds_to_nearest_step() -> None:
    moment = datetime(2026, 12, 4, 12, 0, 0, 149000, tzinfo=UTC)

    assert on_grid(moment) == datetime(2026, 12, 4, 12, 0, 0, 100000, tzinfo=UTC)
    assert on_grid(moment + timedelta(milliseconds=2)) == datetime(2026, 12, 4, 12, 0, 0, 200000, tzinfo=UTC)

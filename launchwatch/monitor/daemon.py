"""The daemon: storage, scheduler, writer and web app started together and drained on stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import dns.asyncresolver
from aiohttp import web
from prometheus_client import CollectorRegistry

from launchwatch.monitor.alerting.heartbeat import heartbeat_loop
from launchwatch.monitor.alerting.planner import NotificationPlanner
from launchwatch.monitor.alerting.sender import OutboxSender
from launchwatch.monitor.configfile import LoadedConfig
from launchwatch.monitor.logs import Redactor
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.outbox import OutboxStore
from launchwatch.monitor.runner import HARD_TIMEOUT_GRACE_S, Runner
from launchwatch.monitor.scheduler import CheckScheduler
from launchwatch.monitor.storage import Storage
from launchwatch.monitor.writer import ResultWriter
from launchwatch.probes.context import SSLContexts, make_dns_resolver, split_host_port
from launchwatch.web.app import create_app

log = logging.getLogger("launchwatch.daemon")

PRUNE_INTERVAL_S = 3600.0
SHUTDOWN_SEND_S = 5.0


def open_storage(loaded: LoadedConfig) -> Storage:
    """Open the configured database and bring its schema up to date."""
    config = loaded.config
    if not config.storage.url:
        config.state_dir.mkdir(parents=True, exist_ok=True)
    storage = Storage(config.storage_url())
    storage.upgrade()
    storage.sync_checks(loaded.checks, datetime.now(UTC))
    return storage


def _dns_resolver(loaded: LoadedConfig) -> dns.asyncresolver.Resolver:
    return make_dns_resolver(list(loaded.config.dns.nameservers), loaded.config.dns.timeout)


def build_runner(loaded: LoadedConfig, metrics: LaunchwatchMetrics | None, writer: ResultWriter | None) -> Runner:
    config = loaded.config
    nameservers = list(config.dns.nameservers)
    return Runner(
        metrics=metrics,
        writer=writer,
        dns_resolver_factory=lambda timeout_s: make_dns_resolver(nameservers, min(timeout_s, config.dns.timeout)),
        ssl_contexts=SSLContexts(config.ca_file),
        max_concurrency=config.scheduler.max_concurrency,
    )


async def run_daemon(
    loaded: LoadedConfig,
    stop: asyncio.Event,
    on_ready: Callable[[str | None], None] | None = None,
    redact: Redactor | None = None,
) -> None:
    """Run until ``stop`` is set, then drain in-flight checks and pending writes.

    Whatever has started is stopped again in reverse order, also when a later
    step of the start fails (a busy port, say).
    """
    config = loaded.config
    storage = await asyncio.to_thread(open_storage, loaded)
    async with contextlib.AsyncExitStack() as running:
        running.push_async_callback(asyncio.to_thread, storage.close)
        registry = CollectorRegistry()
        metrics = LaunchwatchMetrics(registry, process_collector=True)
        metrics.set_checks(loaded.checks)
        planner = NotificationPlanner(config, loaded.checks)
        writer = ResultWriter(storage, planner)
        outbox = OutboxStore(storage)
        sender = OutboxSender(
            outbox, planner, config.channels, redact=redact or Redactor(loaded.secrets), give_up_after_s=config.alerts.give_up_after, metrics=metrics
        )
        scheduler = CheckScheduler(build_runner(loaded, metrics, writer), metrics)
        health = DaemonHealth(scheduler, writer, sender)

        # The port is taken first, so a busy one stops the start before any check runs.
        url = None
        if config.web.enabled:
            app = create_app(storage, registry, health, config, outbox=outbox, maintenance=planner.maintenance)
            web_runner, url = await _start_web(app, config.web.listen)
            running.push_async_callback(web_runner.cleanup)

        sender.start()
        running.push_async_callback(_stop_sender, sender)
        writer.start()
        running.push_async_callback(writer.close)
        background = _start_background(loaded, storage, health)
        running.push_async_callback(_cancel_all, background)
        scheduler.start(loaded.checks)
        drain_s = max((check.timeout_s for check in loaded.checks), default=0.0) + HARD_TIMEOUT_GRACE_S
        running.push_async_callback(scheduler.stop, drain_s)

        # What start-up built (config, checks, jobs, imported modules) lives until
        # exit. Freezing it spares every later full collection a scan of it.
        gc.collect()
        gc.freeze()
        if url:
            log.info("status page at %s", url)
        if on_ready:
            on_ready(url)
        await stop.wait()
        log.info("stopping")
    log.info("stopped")


def _start_background(loaded: LoadedConfig, storage: Storage, health: DaemonHealth) -> list[asyncio.Task[None]]:
    config = loaded.config
    tasks = [asyncio.create_task(_prune_periodically(storage, config.storage.retention), name="launchwatch-prune")]
    if config.alerts.heartbeat_url:
        heartbeat = heartbeat_loop(config.alerts.heartbeat_url, config.alerts.heartbeat_interval, health.healthy, _dns_resolver(loaded))
        tasks.append(asyncio.create_task(heartbeat, name="launchwatch-heartbeat"))
    return tasks


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _stop_sender(sender: OutboxSender) -> None:
    # Notifications the last results caused get one chance to go out;
    # whatever is left stays in the outbox for the next start.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sender.process_once(datetime.now(UTC)), SHUTDOWN_SEND_S)
    await sender.stop()


async def _start_web(app: web.Application, listen: str) -> tuple[web.AppRunner, str]:
    host, port = split_host_port(listen, default_port=8080)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise DaemonError(f"cannot listen on {listen}: {exc.strerror}; pick a free port in web.listen") from exc
    bound_port = runner.addresses[0][1] if runner.addresses else port
    shown_host = f"[{host}]" if ":" in host else host or "127.0.0.1"
    return runner, f"http://{shown_host}:{bound_port}/"


async def _prune_periodically(storage: Storage, retention_s: float) -> None:
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_S)
        try:
            removed = await asyncio.to_thread(storage.prune, datetime.now(UTC), retention_s)
        except Exception:
            log.exception("pruning old results failed; will try again in %.0f s", PRUNE_INTERVAL_S)
            continue
        if removed:
            log.info("rolled up and removed %d results older than the retention", removed)


class DaemonHealth:
    """The daemon's own health for /healthz: jobs still run and results still get written."""

    # A database outage shorter than this does not fail /healthz, so a
    # restart of the database does not get the daemon restarted too.
    WRITER_GRACE_S = 60.0

    def __init__(self, scheduler: CheckScheduler, writer: ResultWriter, sender: OutboxSender) -> None:
        self._scheduler = scheduler
        self._writer = writer
        self._sender = sender

    def healthy(self, now: float | None = None) -> tuple[bool, str]:
        for part in (self._scheduler, self._sender):
            ok, reason = part.healthy(now)
            if not ok:
                return ok, reason
        failing_for = self._writer.failing_for(now)
        if failing_for is not None and failing_for > self.WRITER_GRACE_S:
            return False, f"results not written for {failing_for:.0f} s: {self._writer.last_error}"
        return True, "ok"


class DaemonError(Exception):
    """The daemon cannot start; the message names the cause and what to change."""

"""One APScheduler job per check: interval with jitter, no overlapping runs, lag measured."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.runner import Runner

log = logging.getLogger("launchwatch.scheduler")

HEARTBEAT_INTERVAL_S = 5.0
# /healthz fails when the heartbeat job has not run for this long, which
# means the scheduler stopped running jobs (or the event loop is blocked).
HEARTBEAT_STALE_S = 30.0
# The first runs after a start are spread over at most this many seconds, so
# a thousand checks do not all fire in the first instant.
FIRST_RUN_SPREAD_S = 10.0
# Run start times are rounded to this step; see GridIntervalTrigger.
GRID_S = 0.1


class CheckScheduler:
    def __init__(self, runner: Runner, metrics: LaunchwatchMetrics | None = None) -> None:
        self._runner = runner
        self._metrics = metrics
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_submitted, EVENT_JOB_SUBMITTED)
        self._scheduler.add_listener(self._on_skipped, EVENT_JOB_MAX_INSTANCES)
        # Job id -> planned start (epoch seconds) of the run just submitted.
        self._planned: dict[str, float] = {}
        self._checks: dict[str, CheckDefinition] = {}
        self._in_flight: set[asyncio.Task[object]] = set()
        self._last_heartbeat = time.monotonic()
        self._stopping = False

    def start(self, checks: list[CheckDefinition]) -> None:
        now = datetime.now(UTC)
        for check in checks:
            if not check.enabled:
                continue
            self._checks[check.id] = check
            self._scheduler.add_job(
                self._run_job,
                trigger=GridIntervalTrigger(seconds=check.interval_s, jitter=check.jitter_s or None, timezone=UTC),
                args=[check.id],
                id=check.id,
                name=check.id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(check.interval_s)),
                next_run_time=on_grid(now + timedelta(seconds=_first_run_offset(check))),
            )
        self._scheduler.add_job(
            self._heartbeat,
            trigger=IntervalTrigger(seconds=HEARTBEAT_INTERVAL_S, timezone=UTC),
            id="launchwatch-heartbeat",
            max_instances=1,
            coalesce=True,
            next_run_time=now,
        )
        self._scheduler.start()
        log.info("scheduler started with %d checks", len(self._checks))

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop starting runs, then wait for the runs in flight to finish."""
        self._stopping = True
        # Pause first: shutting the executor down would cancel the runs in
        # flight, and their results would be lost.
        if self._scheduler.running:
            self._scheduler.pause()
        # A run submitted just before the pause may have a task that has not
        # started yet. One turn of the loop lets it register as in flight.
        await asyncio.sleep(0)
        deadline = time.monotonic() + drain_timeout_s
        pending = [task for task in self._in_flight if not task.done()]
        if pending:
            log.info("waiting for %d checks in flight", len(pending))
        while pending and time.monotonic() < deadline:
            await asyncio.wait(pending, timeout=deadline - time.monotonic())
            pending = [task for task in self._in_flight if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelled %d checks still running after %.0f s", len(pending), drain_timeout_s)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        log.info("scheduler stopped")

    def healthy(self, now: float | None = None) -> tuple[bool, str]:
        """Tell whether jobs still run; ``now`` is a time.monotonic() reading."""
        now_s = time.monotonic() if now is None else now
        if not self._scheduler.running or self._stopping:
            return False, "scheduler is not running"
        age = now_s - self._last_heartbeat
        if age > HEARTBEAT_STALE_S:
            return False, f"scheduler has not run a job for {age:.0f} s"
        return True, "ok"

    async def run_now(self, check_id: str) -> None:
        """Run a check at once, outside its schedule."""
        await self._run_job(check_id)

    def _on_submitted(self, event: JobSubmissionEvent) -> None:
        if event.scheduled_run_times:
            self._planned[event.job_id] = event.scheduled_run_times[-1].timestamp()

    def _on_skipped(self, event: JobSubmissionEvent) -> None:
        check = self._checks.get(event.job_id)
        if check:
            log.warning(
                "skipped a run: the previous run is still in progress",
                extra={"check": check.id, "kind": check.kind, "target": check.target_label},
            )

    async def _run_job(self, check_id: str) -> None:
        planned = self._planned.pop(check_id, None)
        if planned is not None and self._metrics:
            self._metrics.observe_lag(max(0.0, time.time() - planned))
        check = self._checks[check_id]
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._runner.run(check)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _heartbeat(self) -> None:
        self._last_heartbeat = time.monotonic()
        if self._metrics:
            self._metrics.tick(time.time())


class GridIntervalTrigger(IntervalTrigger):
    """An interval trigger whose fire times, jitter included, fall on a 100 ms grid.

    Runs that share a start time are started by one scheduler wake-up and
    one event-loop pass. At 1,000 checks every 10 s this halved the CPU per
    check in bench/bench_daemon.py, because a wake-up per run cost more than
    the run's own scheduling work.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        next_time = super().get_next_fire_time(previous_fire_time, now)
        return on_grid(next_time) if next_time is not None else None


def on_grid(moment: datetime) -> datetime:
    """Round ``moment`` to the nearest multiple of GRID_S since the Unix epoch."""
    rounded = round(moment.timestamp() / GRID_S) * GRID_S
    return datetime.fromtimestamp(rounded, moment.tzinfo or UTC)


def _first_run_offset(check: CheckDefinition) -> float:
    """Spread first runs by a stable hash of the id, within the interval."""
    digest = hashlib.sha256(check.id.encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return fraction * min(check.interval_s, FIRST_RUN_SPREAD_S)

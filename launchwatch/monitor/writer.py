"""Write results to storage in batches from one task, retrying while the database is down."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.outbox import NotificationPlanner
from launchwatch.monitor.storage import Storage, StorageError, Transition
from launchwatch.probes.result import ProbeResult

log = logging.getLogger("launchwatch.writer")

# One transaction per batch keeps the cost per result low: about 0.17 ms of
# CPU per result in batches of 5 against 0.06 ms in batches of 100 (SQLite,
# bench/bench_daemon.py). Half a second of delay before a result shows on
# the status page is not noticeable.
BATCH_SIZE = 500
BATCH_WAIT_S = 0.5
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
# Results kept in memory while the database is unreachable; past this the
# oldest are dropped (and counted), so an outage cannot exhaust memory.
MAX_PENDING = 100_000


class ResultWriter:
    def __init__(self, storage: Storage, planner: NotificationPlanner | None = None) -> None:
        self._storage = storage
        self._planner = planner
        self._pending: deque[tuple[CheckDefinition, ProbeResult]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.dropped = 0
        # Results the database rejected as invalid, logged and skipped.
        self.rejected = 0
        self.healthy = True
        self.last_error: str | None = None
        # time.monotonic() of the first failed write since the last success.
        self._failing_since: float | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="launchwatch-writer")

    def submit(self, check: CheckDefinition, result: ProbeResult) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("dropped %d results because the database has been unreachable; the oldest go first", self.dropped)
        self._pending.append((check, result))
        self._wake.set()

    def failing_for(self, now: float | None = None) -> float | None:
        """Return how long writes have been failing, in seconds, or None while they succeed."""
        if self._failing_since is None:
            return None
        return (time.monotonic() if now is None else now) - self._failing_since

    @property
    def depth(self) -> int:
        return len(self._pending)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Write what is pending, then stop; give up after ``timeout_s``."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, timeout_s)
        except TimeoutError:
            log.error("stopped with %d results not written: the database did not accept them within %.0f s", len(self._pending), timeout_s)

    async def _loop(self) -> None:
        delay = RETRY_MIN_S
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if not self._closing:
                    await asyncio.sleep(BATCH_WAIT_S)
                continue

            batch = [self._pending.popleft() for _ in range(min(BATCH_SIZE, len(self._pending)))]
            try:
                await self._write(batch)
            except StorageError as exc:
                # The database is unreachable: back to the front, so results
                # stay in order when written later. close() bounds the wait.
                self._pending.extendleft(reversed(batch))
                self._mark_failing(exc)
                log.error("could not store %d results, retrying in %.1f s: %s", len(batch), delay, self.last_error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except Exception as exc:
                # Something in the batch itself is rejected, so retrying it as
                # a whole would block every later result. Write one by one.
                log.error("could not store a batch of %d results (%s); writing them one by one", len(batch), _first_line(exc))
                await self._write_one_by_one(batch)

            if not self.healthy:
                log.info("database writes recovered")
            self.healthy = True
            self.last_error = None
            self._failing_since = None
            delay = RETRY_MIN_S

    async def _write(self, batch: list[tuple[CheckDefinition, ProbeResult]]) -> None:
        transitions = await asyncio.to_thread(self._storage.record_results, batch, self._planner)
        _log_transitions(transitions, {check.id: check for check, _ in batch})

    async def _write_one_by_one(self, batch: list[tuple[CheckDefinition, ProbeResult]]) -> None:
        for index, (check, result) in enumerate(batch):
            try:
                await self._write([(check, result)])
            except StorageError:
                # The connection went away meanwhile: the rest waits its turn.
                self._pending.extendleft(reversed(batch[index:]))
                return
            except Exception as exc:
                self.rejected += 1
                log.error(
                    "dropped a result the database rejected: %s",
                    _first_line(exc),
                    extra={"check": check.id, "kind": check.kind, "target": check.target_label, "status": str(result.status)},
                )

    def _mark_failing(self, exc: Exception) -> None:
        self.healthy = False
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        # The first line only: SQLAlchemy appends the statement and its
        # parameters, which may quote a target's response.
        self.last_error = _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _log_transitions(transitions: list[Transition], checks: dict[str, CheckDefinition]) -> None:
    for transition in transitions:
        check = checks[transition.check_id]
        fields = {"check": check.id, "kind": check.kind, "target": check.target_label, "incident": transition.incident_id}
        if transition.kind == "opened":
            log.warning("incident opened", extra=fields)
        else:
            log.info("incident resolved", extra=fields)

"""The result writer: batches, and nothing lost while the database is down."""

from __future__ import annotations

import asyncio

from launchwatch.monitor import writer as writer_module
from launchwatch.monitor.storage import Storage, StorageError
from launchwatch.monitor.writer import ResultWriter
from launchwatch.probes.result import Finding, Severity, Status
from tests.storage.storage_helpers import T0, make_check, make_result, minutes


class UnreachableFor(Storage):
    """A real storage whose first ``outages`` writes fail as if the server were down."""

    def __init__(self, url: str, outages: int) -> None:
        super().__init__(url)
        self.outages = outages
        self.attempts = 0

    def record_results(self, batch, planner=None):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.attempts <= self.outages:
            raise StorageError("cannot reach the database (simulated outage)")
        return super().record_results(batch, planner)


def test_writer_keeps_results_through_outage(database_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(writer_module, "RETRY_MIN_S", 0.01)
    Storage(database_url).upgrade()
    storage = UnreachableFor(database_url, outages=3)
    check = make_check("shop/home", failure_threshold=1)
    statuses = [Status.PASS, Status.FAIL, Status.FAIL, Status.PASS]

    async def scenario() -> tuple[float | None, float | None]:
        writer = ResultWriter(storage)
        writer.start()
        for index, status in enumerate(statuses):
            writer.submit(check, make_result(status, T0 + minutes(index)))
        await asyncio.sleep(0.005)
        during = writer.failing_for()
        await writer.close(timeout_s=10)
        return during, writer.failing_for()

    during, after = asyncio.run(scenario())

    assert storage.attempts == 4
    assert during is not None
    assert after is None
    stored = list(reversed(storage.recent_results("shop/home", limit=10)))
    assert [r.status for r in stored] == statuses
    (incident,) = storage.incidents("shop/home")
    assert incident.opened_at == T0 + minutes(1)
    assert incident.resolved_at == T0 + minutes(3)
    storage.close()


def test_writer_drops_oldest_past_limit(database_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(writer_module, "MAX_PENDING", 3)
    storage = Storage(database_url)
    storage.upgrade()
    check = make_check("shop/home")

    async def scenario() -> ResultWriter:
        writer = ResultWriter(storage)
        for index in range(5):
            writer.submit(check, make_result(Status.PASS, T0 + minutes(index)))
        writer.start()
        await writer.close(timeout_s=10)
        return writer

    writer = asyncio.run(scenario())

    assert writer.dropped == 2
    stored = list(reversed(storage.recent_results("shop/home", limit=10)))
    assert [r.started_at for r in stored] == [T0 + minutes(i) for i in (2, 3, 4)]
    storage.close()


def test_writer_isolates_rejected_result(database_url: str) -> None:
    storage = Storage(database_url)
    storage.upgrade()
    good = make_check("shop/home", failure_threshold=1)
    other = make_check("shop/cart", failure_threshold=1)
    # Storage rejects a naive start time, as the database rejects a value it
    # cannot store. Such a result must not hold up the rest.
    rejected = make_result(Status.PASS, (T0 + minutes(1)).replace(tzinfo=None))

    async def scenario() -> ResultWriter:
        writer = ResultWriter(storage)
        writer.submit(good, make_result(Status.FAIL, T0))
        writer.submit(other, rejected)
        writer.submit(other, make_result(Status.PASS, T0 + minutes(2)))
        writer.start()
        await writer.close(timeout_s=10)
        return writer

    writer = asyncio.run(scenario())

    assert writer.rejected == 1
    assert writer.depth == 0
    assert len(storage.recent_results("shop/home")) == 1
    assert len(storage.recent_results("shop/cart")) == 1
    storage.close()


def test_incident_message_with_nul_stored(storage: Storage) -> None:
    check = make_check("shop/home", failure_threshold=1)
    finding = Finding("http.body_missing_text", Severity.FAIL, "body contains \x00 byte", "shop")

    storage.record_results([(check, make_result(Status.FAIL, T0, findings=[finding]))])

    (incident,) = storage.incidents("shop/home")
    assert incident.message == "body contains \\0 byte"

"""Storage.prune: hourly rollups of old results, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from launchwatch.monitor import storage as storage_module
from launchwatch.monitor.storage import Storage
from launchwatch.monitor.tables import result_rollups_table, results_table
from launchwatch.probes.result import Status
from tests.storage.storage_helpers import T0, make_check, make_result, minutes

NOW = T0 + timedelta(days=3)
RETENTION_S = 2 * 3600.0
_CYCLE = [Status.PASS, Status.PASS, Status.FAIL, Status.WARN, Status.ERROR, Status.PASS, Status.PASS]


def _fill(storage: Storage) -> list[tuple[str, object]]:
    """Store one result every 20 minutes over three days for two checks; return (check id, result) pairs."""
    home = make_check("shop/home", failure_threshold=100)
    login = make_check("shop/login", failure_threshold=100)
    storage.sync_checks([home, login], T0)
    batch = []
    for step in range(3 * 72):
        at = T0 + minutes(20 * step)
        batch.append((home, make_result(_CYCLE[step % len(_CYCLE)], at, duration_s=0.1 + (step % 5) / 10)))
        batch.append((login, make_result(Status.PASS if step % 4 else Status.FAIL, at, duration_s=0.05)))
    for start in range(0, len(batch), 50):
        storage.record_results(batch[start : start + 50])
    return [(check.id, result) for check, result in batch]


def _rollups(storage: Storage) -> dict[tuple[str, object], sa.Row]:
    with storage.engine.connect() as conn:
        return {(row.check_id, row.hour): row for row in conn.execute(sa.select(result_rollups_table))}


def _raw_count(storage: Storage) -> int:
    with storage.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(results_table)).scalar_one()


def _expected_rollups(stored, cutoff) -> dict[tuple[str, object], dict[str, float]]:
    expected: dict[tuple[str, object], dict[str, float]] = {}
    for check_id, result in stored:
        if result.started_at >= cutoff:
            continue
        hour = result.started_at.replace(minute=0, second=0, microsecond=0)
        bucket = expected.setdefault(
            (check_id, hour),
            {"pass": 0, "warn": 0, "fail": 0, "error": 0, "sum": 0.0, "min": float("inf"), "max": 0.0},
        )
        bucket[str(result.status)] += 1
        bucket["sum"] += result.duration_s
        bucket["min"] = min(bucket["min"], result.duration_s)
        bucket["max"] = max(bucket["max"], result.duration_s)
    return expected


def _assert_rollups_match(storage: Storage, expected) -> None:
    rollups = _rollups(storage)
    assert set(rollups) == set(expected)
    for key, values in expected.items():
        row = rollups[key]
        assert (row.pass_count, row.warn_count, row.fail_count, row.error_count) == (
            values["pass"],
            values["warn"],
            values["fail"],
            values["error"],
        ), f"counts of {key}"
        assert row.duration_sum_s == pytest.approx(values["sum"]), f"duration sum of {key}"
        assert row.duration_min_s == pytest.approx(values["min"]), f"duration min of {key}"
        assert row.duration_max_s == pytest.approx(values["max"]), f"duration max of {key}"


def test_prune_rolls_up_then_deletes(storage: Storage) -> None:
    stored = _fill(storage)
    cutoff = NOW - timedelta(seconds=RETENTION_S)
    old_count = sum(1 for _, result in stored if result.started_at < cutoff)

    deleted = storage.prune(NOW, RETENTION_S)

    assert deleted == old_count
    assert _raw_count(storage) == len(stored) - old_count
    _assert_rollups_match(storage, _expected_rollups(stored, cutoff))
    oldest_kept = storage.recent_results("shop/home", limit=1000)[-1]
    assert oldest_kept.started_at >= cutoff


def test_prune_keeps_uptime(storage: Storage) -> None:
    _fill(storage)
    before = {view.check_id: (view.uptime_24h, view.uptime_7d) for view in storage.check_statuses(NOW)}

    storage.prune(NOW, RETENTION_S)
    after = {view.check_id: (view.uptime_24h, view.uptime_7d) for view in storage.check_statuses(NOW)}

    assert before["shop/home"][0] is not None
    assert after["shop/home"] == pytest.approx(before["shop/home"])
    assert after["shop/login"] == pytest.approx(before["shop/login"])


def test_prune_again_is_idempotent(storage: Storage) -> None:
    _fill(storage)
    storage.prune(NOW, RETENTION_S)
    rollups_before = {key: tuple(row) for key, row in _rollups(storage).items()}

    deleted_again = storage.prune(NOW, RETENTION_S)

    assert deleted_again == 0
    assert {key: tuple(row) for key, row in _rollups(storage).items()} == rollups_before


def test_prune_small_batches_and_split_hours(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    # Batches of 7 split most hours across transactions, and the second prune
    # cuts 10 minutes into an hour the first one already started.
    monkeypatch.setattr(storage_module, "PRUNE_BATCH_SIZE", 7)
    stored = _fill(storage)
    first_now = NOW - timedelta(hours=30, minutes=30)

    storage.prune(first_now, RETENTION_S)
    storage.prune(NOW, RETENTION_S)

    _assert_rollups_match(storage, _expected_rollups(stored, NOW - timedelta(seconds=RETENTION_S)))


def test_prune_without_old_results_deletes_nothing(storage: Storage) -> None:
    check = make_check()
    storage.sync_checks([check], T0)
    storage.record_results([(check, make_result(Status.PASS, NOW - minutes(5)))])

    assert storage.prune(NOW, RETENTION_S) == 0
    assert _rollups(storage) == {}
    assert _raw_count(storage) == 1

"""Storage: checks, results, state transitions and the read views, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from launchwatch.monitor import storage as storage_module
from launchwatch.monitor.storage import MAX_FINDING_MESSAGE_CHARS, MAX_FINDINGS, Storage
from launchwatch.monitor.tables import checks_table
from launchwatch.probes.result import Finding, Severity, Status
from tests.storage.storage_helpers import T0, make_check, make_result, minutes


def _stored_checks(storage: Storage) -> dict[str, sa.Row]:
    with storage.engine.connect() as conn:
        return {row.id: row for row in conn.execute(sa.select(checks_table))}


def test_sync_checks_inserts_new_checks(storage: Storage) -> None:
    storage.sync_checks([make_check("shop/home"), make_check("shop/login")], T0)

    stored = _stored_checks(storage)
    assert set(stored) == {"shop/home", "shop/login"}
    assert stored["shop/home"].site == "shop"
    assert stored["shop/home"].kind == "http"
    assert stored["shop/home"].target == "http://shop.test"
    assert stored["shop/home"].created_at == T0
    assert stored["shop/home"].removed_at is None


def test_sync_checks_renames_keep_id_and_history(storage: Storage) -> None:
    storage.sync_checks([make_check("shop/home", name="Home")], T0)
    storage.record_results([(make_check("shop/home"), make_result(Status.PASS, T0))])

    storage.sync_checks([make_check("shop/home", name="Front page")], T0 + minutes(5))

    stored = _stored_checks(storage)["shop/home"]
    assert stored.name == "Front page"
    assert stored.created_at == T0
    assert stored.updated_at == T0 + minutes(5)
    assert len(storage.recent_results("shop/home")) == 1


def test_sync_checks_unchanged_keeps_updated_at(storage: Storage) -> None:
    storage.sync_checks([make_check("shop/home")], T0)
    storage.sync_checks([make_check("shop/home")], T0 + minutes(5))

    assert _stored_checks(storage)["shop/home"].updated_at == T0


def test_sync_checks_marks_removed_and_readds(storage: Storage) -> None:
    storage.sync_checks([make_check("shop/home"), make_check("shop/login")], T0)

    storage.sync_checks([make_check("shop/home")], T0 + minutes(1))
    removed = _stored_checks(storage)["shop/login"]
    listed = [view.check_id for view in storage.check_statuses(T0 + minutes(1))]

    assert removed.removed_at == T0 + minutes(1)
    assert listed == ["shop/home"]

    storage.sync_checks([make_check("shop/home"), make_check("shop/login")], T0 + minutes(2))
    assert _stored_checks(storage)["shop/login"].removed_at is None


def test_record_results_opens_incident_at_failure_threshold(storage: Storage) -> None:
    check = make_check(failure_threshold=2)
    storage.sync_checks([check], T0)

    first = storage.record_results([(check, make_result(Status.FAIL, T0))])
    second = storage.record_results([(check, make_result(Status.FAIL, T0 + minutes(1)))])
    view = storage.check_status(check.id, T0 + minutes(1))

    assert first == []
    assert len(second) == 1
    assert second[0].kind == "opened"
    assert second[0].at == T0 + minutes(1)
    assert view is not None
    assert view.state == "failing"
    assert view.since == T0 + minutes(1)
    assert view.open_incident_id == second[0].incident_id


def test_record_results_resolves_incident_at_success_threshold(storage: Storage) -> None:
    check = make_check(failure_threshold=1, success_threshold=2)
    storage.sync_checks([check], T0)
    opened = storage.record_results([(check, make_result(Status.ERROR, T0))])

    after_one_pass = storage.record_results([(check, make_result(Status.PASS, T0 + minutes(1)))])
    after_two_passes = storage.record_results([(check, make_result(Status.WARN, T0 + minutes(2)))])
    incident = storage.incidents(check.id)[0]
    view = storage.check_status(check.id, T0 + minutes(2))

    assert after_one_pass == []
    assert [transition.kind for transition in after_two_passes] == ["resolved"]
    assert after_two_passes[0].incident_id == opened[0].incident_id
    assert incident.resolved_at == T0 + minutes(2)
    assert view is not None
    assert view.state == "ok"
    assert view.open_incident_id is None


def test_record_results_flapping_never_opens(storage: Storage) -> None:
    check = make_check(failure_threshold=2)
    storage.sync_checks([check], T0)
    statuses = [Status.FAIL, Status.PASS, Status.ERROR, Status.WARN, Status.FAIL, Status.PASS]

    transitions = []
    for index, status in enumerate(statuses):
        transitions += storage.record_results([(check, make_result(status, T0 + minutes(index)))])

    assert transitions == []
    assert storage.incidents(check.id) == []
    assert storage.check_status(check.id, T0 + minutes(6)).state == "ok"


def test_record_results_batch_keeps_order(storage: Storage) -> None:
    flaky = make_check("shop/home", failure_threshold=2)
    steady = make_check("shop/login", failure_threshold=1)
    storage.sync_checks([flaky, steady], T0)
    batch = [
        (flaky, make_result(Status.FAIL, T0)),
        (steady, make_result(Status.PASS, T0)),
        (flaky, make_result(Status.FAIL, T0 + minutes(1))),
        (flaky, make_result(Status.PASS, T0 + minutes(2), duration_s=0.4)),
        (flaky, make_result(Status.FAIL, T0 + minutes(3))),
    ]

    transitions = storage.record_results(batch)
    flaky_view = storage.check_status(flaky.id, T0 + minutes(3))
    steady_view = storage.check_status(steady.id, T0 + minutes(3))

    assert [(t.check_id, t.kind, t.at) for t in transitions] == [
        ("shop/home", "opened", T0 + minutes(1)),
        ("shop/home", "resolved", T0 + minutes(2)),
    ]
    assert transitions[0].incident_id == transitions[1].incident_id
    assert flaky_view.state == "ok"
    assert flaky_view.last_status == Status.FAIL
    assert flaky_view.last_run_at == T0 + minutes(3)
    assert len(storage.recent_results(flaky.id)) == 4
    assert steady_view.state == "ok"
    assert steady_view.last_status == Status.PASS


def test_record_results_incident_message_names_top_finding(storage: Storage) -> None:
    check = make_check(failure_threshold=1)
    storage.sync_checks([check], T0)
    findings = [
        Finding("http.header.missing", Severity.WARN, "header X-Frame-Options missing; add it"),
        Finding("http.status", Severity.FAIL, "status 503, expected 200; check the upstream"),
    ]

    storage.record_results([(check, make_result(Status.FAIL, T0, findings=findings))])
    incident = storage.incidents(check.id)[0]

    assert incident.message == "status 503, expected 200; check the upstream"
    assert incident.reason == "timeout"
    assert incident.opened_at == T0
    assert incident.resolved_at is None


def test_record_results_caps_findings(storage: Storage) -> None:
    check = make_check()
    storage.sync_checks([check], T0)
    infos = [Finding(f"test.info.{i}", Severity.INFO, f"info {i}") for i in range(MAX_FINDINGS + 4)]
    late_failure = Finding("test.fail", Severity.FAIL, "x" * (MAX_FINDING_MESSAGE_CHARS + 500))

    storage.record_results([(check, make_result(Status.FAIL, T0, findings=[*infos, late_failure]))])
    stored = storage.recent_results(check.id)[0]
    last_findings = storage.check_status(check.id, T0).last_findings

    assert len(stored.findings) == MAX_FINDINGS
    assert stored.findings_dropped == 5
    assert stored.findings[-1].code == "test.fail"
    assert stored.findings[0].code == "test.info.0"
    assert len(stored.findings[-1].message) == MAX_FINDING_MESSAGE_CHARS
    assert stored.findings[-1].message.endswith("…")
    assert last_findings == stored.findings


def test_record_results_round_trips_metrics_and_findings(storage: Storage) -> None:
    check = make_check()
    storage.sync_checks([check], T0)
    finding = Finding("tls.expiry", Severity.WARN, "certificate expires in 9 days, expected 14 or more", subject="shop.test")

    storage.record_results([(check, make_result(Status.WARN, T0, metrics={"ttfb_seconds": 0.25}, findings=[finding]))])
    stored = storage.recent_results(check.id)[0]

    assert stored.metrics == {"ttfb_seconds": 0.25}
    assert stored.findings == [finding]
    assert stored.findings_dropped == 0
    assert stored.status == Status.WARN


def test_datetimes_round_trip_as_utc(storage: Storage) -> None:
    check = make_check(failure_threshold=1)
    plus_five = timezone(timedelta(hours=5, minutes=30))
    started_local = datetime(2024, 5, 1, 17, 30, 0, 123456, tzinfo=plus_five)
    storage.sync_checks([check], started_local)

    storage.record_results([(check, make_result(Status.FAIL, started_local))])
    result = storage.recent_results(check.id)[0]
    incident = storage.incidents(check.id)[0]
    view = storage.check_status(check.id, started_local)

    assert result.started_at == started_local
    assert result.started_at.tzinfo == UTC
    assert result.started_at.hour == 12
    assert result.started_at.microsecond == 123456
    assert incident.opened_at.tzinfo == UTC
    assert view.last_run_at.tzinfo == UTC
    assert view.since.tzinfo == UTC
    assert _stored_checks(storage)[check.id].created_at.tzinfo == UTC


def test_record_results_rejects_naive_datetime(storage: Storage) -> None:
    check = make_check()
    storage.sync_checks([check], T0)

    with pytest.raises(ValueError, match="naive datetime"):
        storage.record_results([(check, make_result(Status.PASS, datetime(2024, 5, 1, 12, 0)))])
    assert storage.recent_results(check.id) == []


def test_check_statuses_unknown_before_first_result(storage: Storage) -> None:
    storage.sync_checks([make_check()], T0)

    [view] = storage.check_statuses(T0)

    assert view.state == "unknown"
    assert view.last_status is None
    assert view.uptime_24h is None
    assert view.uptime_7d is None
    assert view.latency_series == []


def test_check_statuses_uptime_windows(storage: Storage) -> None:
    check = make_check(failure_threshold=100)
    other = make_check("shop/login")
    storage.sync_checks([check, other], T0)
    now = T0 + timedelta(days=3)
    # Two days ago: 4 failures. Last 24 hours: 3 pass, 1 warn, 1 error, 1 fail.
    old = [make_result(Status.FAIL, T0 + timedelta(days=1) + minutes(i)) for i in range(4)]
    recent_statuses = [Status.PASS, Status.PASS, Status.WARN, Status.ERROR, Status.FAIL, Status.PASS]
    recent = [make_result(status, now - timedelta(hours=2) + minutes(i)) for i, status in enumerate(recent_statuses)]
    storage.record_results([(check, result) for result in old + recent])
    storage.record_results([(other, make_result(Status.PASS, now - minutes(1)))])

    views = {view.check_id: view for view in storage.check_statuses(now)}

    assert views[check.id].uptime_24h == pytest.approx(100 * 4 / 6)
    assert views[check.id].uptime_7d == pytest.approx(100 * 4 / 10)
    assert views[other.id].uptime_24h == pytest.approx(100.0)


def test_check_statuses_latency_series_last_30(storage: Storage) -> None:
    check = make_check()
    storage.sync_checks([check], T0)
    batch = [(check, make_result(Status.PASS, T0 + minutes(i), duration_s=i / 100)) for i in range(40)]
    storage.record_results(batch)

    [view] = storage.check_statuses(T0 + minutes(40))

    assert view.latency_series == [i / 100 for i in range(10, 40)]
    assert view.last_duration_s == pytest.approx(0.39)


def test_check_statuses_latency_series_across_query_chunks(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_module, "_LATENCY_CHECKS_PER_QUERY", 2)
    checks = [make_check(f"shop/page{i}") for i in range(5)]
    storage.sync_checks(checks, T0)
    storage.record_results(
        [(check, make_result(Status.PASS, T0 + minutes(step), duration_s=i + step / 10)) for step in range(3) for i, check in enumerate(checks)]
    )

    views = storage.check_statuses(T0 + minutes(3))

    assert [view.latency_series for view in views] == [[i, i + 0.1, i + 0.2] for i in range(5)]


def test_check_status_unknown_id_returns_none(storage: Storage) -> None:
    storage.sync_checks([make_check()], T0)

    assert storage.check_status("shop/missing", T0) is None


def test_recent_results_newest_first_with_limit(storage: Storage) -> None:
    check = make_check()
    other = make_check("shop/login")
    storage.sync_checks([check, other], T0)
    # Stored out of time order, so the order below comes from started_at.
    order = [3, 0, 4, 1, 2]
    storage.record_results([(check, make_result(Status.PASS, T0 + minutes(i))) for i in order])
    storage.record_results([(other, make_result(Status.PASS, T0 + minutes(10)))])

    results = storage.recent_results(check.id, limit=3)

    assert [result.started_at for result in results] == [T0 + minutes(4), T0 + minutes(3), T0 + minutes(2)]
    assert {result.check_id for result in results} == {check.id}


def test_incidents_newest_first_filtered_and_limited(storage: Storage) -> None:
    home = make_check("shop/home", failure_threshold=1)
    login = make_check("shop/login", failure_threshold=1)
    storage.sync_checks([home, login], T0)
    storage.record_results(
        [
            (home, make_result(Status.FAIL, T0)),
            (home, make_result(Status.PASS, T0 + minutes(1))),
            (login, make_result(Status.FAIL, T0 + minutes(2))),
            (home, make_result(Status.FAIL, T0 + minutes(3))),
        ]
    )

    everything = storage.incidents()
    of_home = storage.incidents(home.id)
    latest = storage.incidents(limit=1)

    assert [(i.check_id, i.opened_at) for i in everything] == [
        (home.id, T0 + minutes(3)),
        (login.id, T0 + minutes(2)),
        (home.id, T0),
    ]
    assert [i.opened_at for i in of_home] == [T0 + minutes(3), T0]
    assert of_home[1].resolved_at == T0 + minutes(1)
    assert of_home[0].resolved_at is None
    assert [i.id for i in latest] == [everything[0].id]

"""Results, check state and incidents in SQLite or PostgreSQL.

One writer task calls `record_results` and `prune` (through asyncio.to_thread)
while the web app reads, so every method opens its own short transaction on a
pooled connection. Every datetime passed in must be timezone-aware, and every
datetime returned is UTC.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import alembic.command
import alembic.config
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine

import launchwatch
from launchwatch.monitor import outbox
from launchwatch.monitor import state as state_machine
from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.tables import (
    check_state_table,
    checks_table,
    incidents_table,
    result_rollups_table,
    results_table,
)
from launchwatch.monitor.outbox import NotificationPlanner
from launchwatch.probes.result import Finding, ProbeResult, Severity, Status

log = logging.getLogger(__name__)

# Caps on what one result stores, so a probe that reports a finding per page
# or an entire response body in a message cannot grow the database unbounded.
MAX_FINDINGS = 20
MAX_FINDING_MESSAGE_CHARS = 1000

# Durations of the most recent results in CheckStatusView.latency_series.
LATENCY_SERIES_LENGTH = 30

# Checks per latency query; SQLite allows at most 500 terms in one compound SELECT.
_LATENCY_CHECKS_PER_QUERY = 200

# Raw results that one prune transaction folds and deletes. It stays below
# the bound-parameter limit of SQLite before 3.32 (999) for the DELETE ... IN list.
PRUNE_BATCH_SIZE = 900

_SQLITE_BUSY_TIMEOUT_MS = 10_000
_PG_CONNECT_TIMEOUT_S = 10

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.FAIL: 2}
_UP_STATUSES = (str(Status.PASS), str(Status.WARN))


class StorageError(Exception):
    """The database could not be reached or used; the message names the URL without its password."""


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change that one stored result caused."""

    check_id: str
    # "opened" or "resolved"
    kind: str
    incident_id: int
    at: datetime
    # When the incident opened; equal to `at` for "opened".
    opened_at: datetime


@dataclass(slots=True)
class CheckStatusView:
    check_id: str
    site: str
    name: str
    kind: str
    # "ok", "failing", or "unknown" before the first result
    state: str
    # When the current state began (the first result, or the last flip).
    since: datetime | None
    last_status: Status | None
    last_reason: str | None
    last_run_at: datetime | None
    last_duration_s: float | None
    last_findings: list[Finding] = field(default_factory=list)
    # Share of pass and warn results, in percent; None without results.
    uptime_24h: float | None = None
    uptime_7d: float | None = None
    # Durations of the most recent results, oldest first, for the sparkline.
    latency_series: list[float] = field(default_factory=list)
    open_incident_id: int | None = None


@dataclass(slots=True)
class ResultView:
    check_id: str
    started_at: datetime
    status: Status
    reason: str
    duration_s: float
    metrics: dict[str, float]
    findings: list[Finding]
    # How many findings the storage cap left out of `findings`.
    findings_dropped: int = 0


@dataclass(slots=True)
class IncidentView:
    id: int
    check_id: str
    opened_at: datetime
    resolved_at: datetime | None
    reason: str
    message: str
    # Code of the finding `message` came from; None when no finding did.
    code: str | None = None


def cap_findings(findings: Sequence[Finding]) -> tuple[list[Finding], int]:
    """Keep the MAX_FINDINGS most severe findings in their original order and shorten long messages.

    Returns the kept findings and how many were dropped.
    """
    if len(findings) > MAX_FINDINGS:
        by_severity = sorted(range(len(findings)), key=lambda i: (-_SEVERITY_RANK[findings[i].severity], i))
        kept_indexes = sorted(by_severity[:MAX_FINDINGS])
        kept = [findings[i] for i in kept_indexes]
    else:
        kept = list(findings)
    capped = [_cap_message(finding) for finding in kept]
    return capped, len(findings) - len(capped)


def _cap_message(finding: Finding) -> Finding:
    if len(finding.message) <= MAX_FINDING_MESSAGE_CHARS:
        return finding
    message = finding.message[: MAX_FINDING_MESSAGE_CHARS - 1] + "…"
    return Finding(code=finding.code, severity=finding.severity, message=message, subject=finding.subject)


def _encode_findings(findings: Sequence[Finding]) -> str:
    return json.dumps([finding.to_dict() for finding in findings], separators=(",", ":"))


def decode_findings(text: str | None) -> list[Finding]:
    if not text:
        return []
    return [Finding.from_dict(item) for item in json.loads(text)]


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _percent(up: int, total: int) -> float | None:
    if total == 0:
        return None
    return 100.0 * up / total


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime for {name}: {moment.isoformat()}; pass a timezone-aware datetime such as datetime.now(UTC)")


def parse_storage_url(url: str) -> URL:
    """Parse a storage URL and pick the driver: psycopg 3 for PostgreSQL, sqlite3 for SQLite.

    Accepts sqlite:///path, postgresql://, postgres:// and postgresql+psycopg://.
    Raises StorageError for anything else.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StorageError(f"invalid storage URL: {exc}; use sqlite:///path/to/file.db or postgresql://user@host/db") from None
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        return parsed
    raise StorageError(
        f"unsupported storage URL {parsed.render_as_string(hide_password=True)}; use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def _create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S, "options": "-c timezone=UTC"},
    )


def _create_sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # The pool hands each connection to one thread at a time, so the
    # sqlite3 same-thread check would only reject the asyncio.to_thread workers.
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # Turn off the sqlite3 module's own implicit BEGIN, so the "begin"
        # listener below starts every transaction, reads included.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets the web app read while the writer commits. With WAL,
        # synchronous=NORMAL skips the fsync per commit and still cannot corrupt the file.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin_transaction(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


class Storage:
    """Checks, results, state and incidents in one SQLite file or PostgreSQL database.

    The constructor connects once to report an unreachable database early but
    creates no tables: run `upgrade()` (or `launchwatch db upgrade`) first.
    """

    def __init__(self, url: str) -> None:
        self._url = parse_storage_url(url)
        self._display_url = self._url.render_as_string(hide_password=True)
        self._password = self._url.password
        try:
            self._engine = _create_engine(self._url)
        except OSError as exc:
            raise StorageError(f"cannot create the directory of database {self._display_url}: {exc}; check the path and its permissions") from None
        self._is_sqlite = self._url.get_backend_name() == "sqlite"
        try:
            self.ping()
        except StorageError:
            self._engine.dispose()
            raise

    @property
    def url(self) -> str:
        """The database URL with the password hidden, for logs."""
        return self._display_url

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for tests and maintenance commands."""
        return self._engine

    def ping(self) -> None:
        """Run a trivial query; raise StorageError when the database cannot be reached."""
        with self._connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def upgrade(self) -> None:
        """Apply alembic migrations up to head."""
        config = alembic.config.Config()
        config.set_main_option("script_location", str(Path(launchwatch.__file__).parent / "alembic"))
        with self._begin() as conn:
            config.attributes["connection"] = conn
            alembic.command.upgrade(config, "head")
        log.info("database %s schema is at the latest revision", self._display_url)

    def sync_checks(self, checks: list[CheckDefinition], now: datetime) -> None:
        """Upsert the configured checks; mark checks no longer configured as removed."""
        _require_aware(now, "now")
        configured = {check.id: check for check in checks}
        with self._begin() as conn:
            stored = {row.id: row for row in conn.execute(sa.select(checks_table))}
            inserts = []
            for check in configured.values():
                values = {"site": check.site, "name": check.name, "kind": check.kind, "target": check.target_label}
                row = stored.get(check.id)
                if row is None:
                    inserts.append({"id": check.id, **values, "created_at": now, "updated_at": now, "removed_at": None})
                    continue
                unchanged = all(getattr(row, key) == value for key, value in values.items())
                if unchanged and row.removed_at is None:
                    continue
                conn.execute(
                    sa.update(checks_table)
                    .where(checks_table.c.id == check.id)
                    .values(**values, updated_at=now, removed_at=None)
                )
            if inserts:
                conn.execute(sa.insert(checks_table), inserts)
            removed_ids = [check_id for check_id, row in stored.items() if check_id not in configured and row.removed_at is None]
            if removed_ids:
                conn.execute(
                    sa.update(checks_table).where(checks_table.c.id.in_(removed_ids)).values(removed_at=now, updated_at=now)
                )

    def record_results(
        self, batch: list[tuple[CheckDefinition, ProbeResult]], planner: NotificationPlanner | None = None
    ) -> list[Transition]:
        """Store results and move state in one transaction; return the transitions.

        Several results of one check are applied in batch order, so pass them
        oldest first. `planner` turns each transition into notifications, which
        are written to the outbox in the same transaction, so a crash can lose
        neither the state change nor the message about it.
        """
        if not batch:
            return []
        result_rows = []
        for check, result in batch:
            _require_aware(result.started_at, f"started_at of a result of check {check.id}")
            findings, dropped = cap_findings(result.findings)
            result_rows.append(
                {
                    "check_id": check.id,
                    "started_at": result.started_at,
                    "status": str(result.status),
                    "reason": str(result.reason),
                    "duration_s": float(result.duration_s),
                    "metrics": json.dumps(result.metrics, separators=(",", ":")),
                    "findings": _encode_findings(findings),
                    "findings_dropped": dropped,
                }
            )
        with self._begin() as conn:
            conn.execute(sa.insert(results_table), result_rows)
            transitions = self._advance_states(conn, batch, result_rows)
            if planner is not None and transitions:
                outbox.insert_planned(conn, batch, transitions, planner)
            return transitions

    def _advance_states(
        self,
        conn: Connection,
        batch: list[tuple[CheckDefinition, ProbeResult]],
        result_rows: list[dict[str, Any]],
    ) -> list[Transition]:
        check_ids = list(dict.fromkeys(check.id for check, _ in batch))
        stored = {
            row.check_id: row._asdict()
            for row in conn.execute(sa.select(check_state_table).where(check_state_table.c.check_id.in_(check_ids)))
        }
        current: dict[str, dict[str, Any]] = {}
        transitions: list[Transition] = []
        for (check, result), result_row in zip(batch, result_rows, strict=True):
            row = current.get(check.id) or stored.get(check.id)
            previous = None
            open_incident_id = None
            if row is not None:
                previous = state_machine.StateSnapshot(
                    state=row["state"],
                    since=row["since"],
                    consecutive_failures=row["consecutive_failures"],
                    consecutive_successes=row["consecutive_successes"],
                )
                open_incident_id = row["open_incident_id"]
            step = state_machine.advance_state(
                previous, result.status, result.started_at, check.failure_threshold, check.success_threshold
            )
            if step.opens_incident:
                open_incident_id = self._open_incident(conn, check, result)
                transitions.append(Transition(check.id, "opened", open_incident_id, result.started_at, result.started_at))
            elif step.resolves_incident and open_incident_id is not None:
                conn.execute(
                    sa.update(incidents_table)
                    .where(incidents_table.c.id == open_incident_id)
                    .values(resolved_at=result.started_at)
                )
                opened_at = previous.since if previous is not None else result.started_at
                transitions.append(Transition(check.id, "resolved", open_incident_id, result.started_at, opened_at))
                open_incident_id = None
            current[check.id] = {
                "check_id": check.id,
                "state": step.snapshot.state,
                "since": step.snapshot.since,
                "consecutive_failures": step.snapshot.consecutive_failures,
                "consecutive_successes": step.snapshot.consecutive_successes,
                "last_status": result_row["status"],
                "last_reason": result_row["reason"],
                "last_run_at": result.started_at,
                "last_duration_s": result_row["duration_s"],
                "last_findings": result_row["findings"],
                "open_incident_id": open_incident_id,
            }

        inserts = [row for check_id, row in current.items() if check_id not in stored]
        updates = [{"key": check_id, **row} for check_id, row in current.items() if check_id in stored]
        if inserts:
            conn.execute(sa.insert(check_state_table), inserts)
        if updates:
            columns = [column.name for column in check_state_table.c if column.name != "check_id"]
            statement = (
                sa.update(check_state_table)
                .where(check_state_table.c.check_id == sa.bindparam("key"))
                .values({name: sa.bindparam(name) for name in columns})
            )
            conn.execute(statement, updates)
        return transitions

    def _open_incident(self, conn: Connection, check: CheckDefinition, result: ProbeResult) -> int:
        top = result.top_finding()
        code = top.code if top is not None else None
        if top is not None:
            # PostgreSQL rejects NUL in text columns; a target can put one in
            # a finding by sending it in a body.
            message = _cap_message(top).message.replace("\x00", "\\0")
        else:
            message = f"{check.failure_threshold} results in a row ended with status {result.status}, reason {result.reason}"
        inserted = conn.execute(
            sa.insert(incidents_table).values(
                check_id=check.id,
                opened_at=result.started_at,
                resolved_at=None,
                reason=str(result.reason),
                message=message,
                code=code,
            )
        )
        return int(inserted.inserted_primary_key[0])

    def check_statuses(self, now: datetime) -> list[CheckStatusView]:
        """Return the status of every configured check, ordered by check id.

        Runs four queries for up to 200 checks, plus one per further 200.
        Uptime counts raw results plus the hourly rollups of pruned ones.
        """
        return self._check_statuses(now, check_id=None)

    def check_status(self, check_id: str, now: datetime) -> CheckStatusView | None:
        """Return the status of one configured check, or None when no such check is configured."""
        views = self._check_statuses(now, check_id=check_id)
        return views[0] if views else None

    def _check_statuses(self, now: datetime, check_id: str | None) -> list[CheckStatusView]:
        _require_aware(now, "now")
        day_ago = now - timedelta(days=1)
        week_ago = now - timedelta(days=7)
        with self._connect() as conn:
            checks = conn.execute(_select_checks_with_state(check_id)).all()
            if not checks:
                return []
            counts = _read_uptime_counts(conn, check_id, day_ago, week_ago)
            series = _read_latency_series(conn, [row.id for row in checks])

        views = []
        for row in checks:
            up_24h, total_24h, up_7d, total_7d = counts.get(row.id, (0, 0, 0, 0))
            views.append(
                CheckStatusView(
                    check_id=row.id,
                    site=row.site,
                    name=row.name,
                    kind=row.kind,
                    state=row.state or "unknown",
                    since=row.since,
                    last_status=Status(row.last_status) if row.last_status else None,
                    last_reason=row.last_reason,
                    last_run_at=row.last_run_at,
                    last_duration_s=row.last_duration_s,
                    last_findings=decode_findings(row.last_findings),
                    uptime_24h=_percent(up_24h, total_24h),
                    uptime_7d=_percent(up_7d, total_7d),
                    latency_series=series.get(row.id, []),
                    open_incident_id=row.open_incident_id,
                )
            )
        return views

    def recent_results(self, check_id: str, limit: int = 50) -> list[ResultView]:
        """Return the latest results of one check, newest first."""
        statement = (
            sa.select(results_table)
            .where(results_table.c.check_id == check_id)
            .order_by(results_table.c.started_at.desc(), results_table.c.id.desc())
            .limit(limit)
        )
        with self._connect() as conn:
            rows = conn.execute(statement).all()
        return [
            ResultView(
                check_id=row.check_id,
                started_at=row.started_at,
                status=Status(row.status),
                reason=row.reason,
                duration_s=row.duration_s,
                metrics=json.loads(row.metrics),
                findings=decode_findings(row.findings),
                findings_dropped=row.findings_dropped,
            )
            for row in rows
        ]

    def incidents(self, check_id: str | None = None, limit: int = 20) -> list[IncidentView]:
        """Return incidents, newest opened first, of all checks or of `check_id` only."""
        statement = sa.select(incidents_table)
        if check_id is not None:
            statement = statement.where(incidents_table.c.check_id == check_id)
        statement = statement.order_by(incidents_table.c.opened_at.desc(), incidents_table.c.id.desc()).limit(limit)
        with self._connect() as conn:
            rows = conn.execute(statement).all()
        return [
            IncidentView(
                id=row.id,
                check_id=row.check_id,
                opened_at=row.opened_at,
                resolved_at=row.resolved_at,
                reason=row.reason,
                message=row.message,
                code=row.code,
            )
            for row in rows
        ]

    def prune(self, now: datetime, retention_s: float) -> int:
        """Roll raw results older than the retention into hourly rows, then delete them.

        Each batch of at most PRUNE_BATCH_SIZE results is added to its rollup
        rows and deleted in the same transaction, so every raw result is
        counted exactly once even when prune stops halfway or runs again.
        Returns how many raw results were deleted.
        """
        _require_aware(now, "now")
        cutoff = now - timedelta(seconds=retention_s)
        deleted = 0
        while True:
            with self._begin() as conn:
                batch = conn.execute(
                    sa.select(
                        results_table.c.id,
                        results_table.c.check_id,
                        results_table.c.started_at,
                        results_table.c.status,
                        results_table.c.duration_s,
                    )
                    .where(results_table.c.started_at < cutoff)
                    .order_by(results_table.c.started_at, results_table.c.id)
                    .limit(PRUNE_BATCH_SIZE)
                ).all()
                if not batch:
                    break
                self._add_to_rollups(conn, batch)
                conn.execute(sa.delete(results_table).where(results_table.c.id.in_([row.id for row in batch])))
            deleted += len(batch)
        if deleted:
            log.info("pruned %d results older than %s into hourly rollups", deleted, cutoff.isoformat())
        return deleted

    def _add_to_rollups(self, conn: Connection, batch: Sequence[sa.Row[Any]]) -> None:
        buckets: dict[tuple[str, datetime], dict[str, Any]] = {}
        for row in batch:
            key = (row.check_id, _hour_start(row.started_at))
            bucket = buckets.get(key)
            if bucket is None:
                bucket = {
                    "check_id": key[0],
                    "hour": key[1],
                    "pass_count": 0,
                    "warn_count": 0,
                    "fail_count": 0,
                    "error_count": 0,
                    "duration_sum_s": 0.0,
                    "duration_min_s": row.duration_s,
                    "duration_max_s": row.duration_s,
                }
                buckets[key] = bucket
            bucket[f"{row.status}_count"] += 1
            bucket["duration_sum_s"] += row.duration_s
            bucket["duration_min_s"] = min(bucket["duration_min_s"], row.duration_s)
            bucket["duration_max_s"] = max(bucket["duration_max_s"], row.duration_s)

        table = result_rollups_table
        if self._is_sqlite:
            statement = sqlite_dialect.insert(table)
            # SQLite's multi-argument min() and max() are scalar, like LEAST and GREATEST.
            least, greatest = sa.func.min, sa.func.max
        else:
            statement = pg_dialect.insert(table)
            least, greatest = sa.func.least, sa.func.greatest
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.check_id, table.c.hour],
            set_={
                "pass_count": table.c.pass_count + excluded.pass_count,
                "warn_count": table.c.warn_count + excluded.warn_count,
                "fail_count": table.c.fail_count + excluded.fail_count,
                "error_count": table.c.error_count + excluded.error_count,
                "duration_sum_s": table.c.duration_sum_s + excluded.duration_sum_s,
                "duration_min_s": least(table.c.duration_min_s, excluded.duration_min_s),
                "duration_max_s": greatest(table.c.duration_max_s, excluded.duration_max_s),
            },
        )
        conn.execute(statement, list(buckets.values()))

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Open a transaction with database errors raised as StorageError."""
        with self._begin() as conn:
            yield conn

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Open a connection for reads, with database errors raised as StorageError."""
        with self._connect() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with self._translate_errors(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self._translate_errors(), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            raise StorageError(self._describe_error(exc)) from exc
        except sa.exc.ProgrammingError as exc:
            # Other programming errors are bugs in a query, not a database problem.
            if not _is_missing_table(exc):
                raise
            raise StorageError(self._describe_error(exc)) from exc

    def _describe_error(self, exc: sa.exc.DBAPIError) -> str:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if self._password:
            detail = detail.replace(self._password, "***")
        if _is_missing_table(exc):
            return f"database {self._display_url} has no launchwatch tables ({detail}); run `launchwatch db upgrade` first"
        if self._is_sqlite:
            return (
                f"cannot use SQLite database {self._display_url}: {detail}; "
                "check that the file's directory exists and is writable and that no other program holds a lock on it"
            )
        return (
            f"cannot use PostgreSQL database {self._display_url}: {detail}; "
            "check that the server is running and reachable, that the host, port, user, password and database name are right, "
            "and that the user may connect"
        )


def _is_missing_table(exc: sa.exc.DBAPIError) -> bool:
    # SQLite reports "no such table", and psycopg raises UndefinedTable (SQLSTATE 42P01).
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "42P01" or "no such table" in str(exc.orig)


def _select_checks_with_state(check_id: str | None) -> sa.Select[Any]:
    state = check_state_table
    statement = (
        sa.select(
            checks_table.c.id,
            checks_table.c.site,
            checks_table.c.name,
            checks_table.c.kind,
            state.c.state,
            state.c.since,
            state.c.last_status,
            state.c.last_reason,
            state.c.last_run_at,
            state.c.last_duration_s,
            state.c.last_findings,
            state.c.open_incident_id,
        )
        .select_from(checks_table.outerjoin(state, state.c.check_id == checks_table.c.id))
        .where(checks_table.c.removed_at.is_(None))
        .order_by(checks_table.c.id)
    )
    if check_id is not None:
        statement = statement.where(checks_table.c.id == check_id)
    return statement


def _read_uptime_counts(
    conn: Connection, check_id: str | None, day_ago: datetime, week_ago: datetime
) -> dict[str, tuple[int, int, int, int]]:
    """Count up and total results over 24 h and 7 d, per check, from raw results and rollups.

    A rollup counts when its hour starts inside the window, so the window's
    first partial hour is left out of the rolled-up part.
    Returns check id -> (up_24h, total_24h, up_7d, total_7d).
    """
    # TODO: this scans every raw result of the last 7 days, which is about 1M
    # rows for 100 checks run every 60 s. Keep hourly counts if that gets slow.
    results = results_table
    is_up = results.c.status.in_(_UP_STATUSES)
    in_day = results.c.started_at >= day_ago
    raw = sa.select(
        results.c.check_id,
        sa.func.sum(sa.case((sa.and_(in_day, is_up), 1), else_=0)),
        sa.func.sum(sa.case((in_day, 1), else_=0)),
        sa.func.sum(sa.case((is_up, 1), else_=0)),
        sa.func.count(),
    ).where(results.c.started_at >= week_ago)
    if check_id is not None:
        raw = raw.where(results.c.check_id == check_id)
    raw = raw.group_by(results.c.check_id)

    rollups = result_rollups_table
    up = rollups.c.pass_count + rollups.c.warn_count
    total = up + rollups.c.fail_count + rollups.c.error_count
    rollup_in_day = rollups.c.hour >= day_ago
    rolled = sa.select(
        rollups.c.check_id,
        sa.func.sum(sa.case((rollup_in_day, up), else_=0)),
        sa.func.sum(sa.case((rollup_in_day, total), else_=0)),
        sa.func.sum(up),
        sa.func.sum(total),
    ).where(rollups.c.hour >= week_ago)
    if check_id is not None:
        rolled = rolled.where(rollups.c.check_id == check_id)
    rolled = rolled.group_by(rollups.c.check_id)

    counts: dict[str, tuple[int, int, int, int]] = {}
    for statement in (raw, rolled):
        for row_check_id, up_24h, total_24h, up_7d, total_7d in conn.execute(statement):
            before = counts.get(row_check_id, (0, 0, 0, 0))
            counts[row_check_id] = (
                before[0] + int(up_24h or 0),
                before[1] + int(total_24h or 0),
                before[2] + int(up_7d or 0),
                before[3] + int(total_7d or 0),
            )
    return counts


def _read_latency_series(conn: Connection, check_ids: list[str]) -> dict[str, list[float]]:
    """Return check id -> durations of its last LATENCY_SERIES_LENGTH results, oldest first."""
    series: dict[str, list[float]] = {}
    for start in range(0, len(check_ids), _LATENCY_CHECKS_PER_QUERY):
        chunk = check_ids[start : start + _LATENCY_CHECKS_PER_QUERY]
        parameters = {f"check_{index}": check_id for index, check_id in enumerate(chunk)}
        for row in conn.execute(_latency_statement(len(chunk)), parameters):
            series.setdefault(row.check_id, []).append(row.duration_s)
    return series


@functools.lru_cache(maxsize=8)
def _latency_statement(check_count: int) -> sa.Select[Any]:
    """Build a UNION ALL of per-check "ORDER BY started_at DESC LIMIT n" subqueries.

    Each subquery reads only the n newest entries of the (check_id,
    started_at) index, where one window function over all checks would scan
    every stored result. Building the statement costs more than running it,
    so it is cached per number of checks; the ids are bound as check_0, check_1, ...
    """
    results = results_table
    newest = [
        sa.select(results.c.check_id, results.c.started_at, results.c.id, results.c.duration_s)
        .where(results.c.check_id == sa.bindparam(f"check_{index}"))
        .order_by(results.c.started_at.desc(), results.c.id.desc())
        .limit(LATENCY_SERIES_LENGTH)
        .subquery()
        for index in range(check_count)
    ]
    union = sa.union_all(*(sa.select(subquery) for subquery in newest)).subquery()
    return sa.select(union.c.check_id, union.c.duration_s).order_by(union.c.check_id, union.c.started_at, union.c.id)

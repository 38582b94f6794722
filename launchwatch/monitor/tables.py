"""Database tables of launchwatch as sqlmodel classes.

The alembic migrations in launchwatch/alembic/versions create these tables;
tests/storage/test_migrations.py checks that both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is written and read back as a timezone-aware UTC datetime.

    PostgreSQL stores it as timestamptz. SQLite has no timezone type, so the
    value is stored as naive UTC text in SQLAlchemy's fixed-width format, which
    keeps comparisons and ORDER BY on the text correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; pass a timezone-aware datetime such as datetime.now(UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite makes only an INTEGER PRIMARY KEY an autoincrementing rowid alias.
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class CheckRow(SQLModel, table=True):
    """One configured check; a removed check keeps its row so its history stays readable."""

    __tablename__ = "checks"

    id: str = Field(sa_column=Column(String, primary_key=True))
    site: str = Field(sa_column=Column(String, nullable=False))
    name: str = Field(sa_column=Column(String, nullable=False))
    kind: str = Field(sa_column=Column(String, nullable=False))
    target: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    removed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class ResultRow(SQLModel, table=True):
    """One probe result."""

    __tablename__ = "results"
    __table_args__ = (
        Index("ix_results_check_id_started_at", "check_id", "started_at"),
        # Lets prune find the oldest rows of all checks without a full scan.
        Index("ix_results_started_at", "started_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    check_id: str = Field(sa_column=Column(String, nullable=False))
    started_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=Column(String, nullable=False))
    reason: str = Field(sa_column=Column(String, nullable=False))
    duration_s: float = Field(sa_column=Column(Float, nullable=False))
    # JSON object: metric name -> value.
    metrics: str = Field(sa_column=Column(Text, nullable=False))
    # JSON list of Finding.to_dict(), capped by storage.cap_findings.
    findings: str = Field(sa_column=Column(Text, nullable=False))
    # How many findings the cap left out of `findings`.
    findings_dropped: int = Field(default=0, sa_column=Column(Integer, nullable=False))


class CheckStateRow(SQLModel, table=True):
    """The current state of one check and a copy of its latest result."""

    __tablename__ = "check_state"

    check_id: str = Field(sa_column=Column(String, primary_key=True))
    # "ok" or "failing"
    state: str = Field(sa_column=Column(String, nullable=False))
    since: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    consecutive_failures: int = Field(sa_column=Column(Integer, nullable=False))
    consecutive_successes: int = Field(sa_column=Column(Integer, nullable=False))
    last_status: str = Field(sa_column=Column(String, nullable=False))
    last_reason: str = Field(sa_column=Column(String, nullable=False))
    last_run_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    last_duration_s: float = Field(sa_column=Column(Float, nullable=False))
    last_findings: str = Field(sa_column=Column(Text, nullable=False))
    open_incident_id: int | None = Field(default=None, sa_column=Column(_BIG_ID, nullable=True))


class IncidentRow(SQLModel, table=True):
    """A period during which a check was failing; open while resolved_at is NULL."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_check_id_opened_at", "check_id", "opened_at"),)

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    check_id: str = Field(sa_column=Column(String, nullable=False))
    opened_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # The result reason that opened the incident.
    reason: str = Field(sa_column=Column(String, nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))
    # Code of the finding `message` came from, so the web can hide security ones.
    code: str | None = Field(default=None, sa_column=Column(String, nullable=True))


class ResultRollupRow(SQLModel, table=True):
    """Counts and durations of one check's pruned results within one UTC hour."""

    __tablename__ = "result_rollups"

    check_id: str = Field(sa_column=Column(String, primary_key=True))
    # Start of the hour, UTC.
    hour: datetime = Field(sa_column=Column(UTCDateTime, primary_key=True))
    pass_count: int = Field(sa_column=Column(Integer, nullable=False))
    warn_count: int = Field(sa_column=Column(Integer, nullable=False))
    fail_count: int = Field(sa_column=Column(Integer, nullable=False))
    error_count: int = Field(sa_column=Column(Integer, nullable=False))
    duration_sum_s: float = Field(sa_column=Column(Float, nullable=False))
    duration_min_s: float = Field(sa_column=Column(Float, nullable=False))
    duration_max_s: float = Field(sa_column=Column(Float, nullable=False))


class NotificationRow(SQLModel, table=True):
    """One message to one channel, written in the transaction that caused it (the outbox)."""

    __tablename__ = "notifications"
    __table_args__ = (
        # Two daemons that both decide a reminder is due insert it once.
        UniqueConstraint("incident_id", "channel", "kind", "sequence", name="uq_notifications_incident_channel_kind_sequence"),
        Index("ix_notifications_state_id", "state", "id"),
        Index("ix_notifications_dedupe_key", "dedupe_key"),
    )

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    incident_id: int | None = Field(default=None, sa_column=Column(_BIG_ID, nullable=True))
    check_id: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    channel: str = Field(sa_column=Column(String, nullable=False))
    # opened, reminder, escalation, resolved or test
    kind: str = Field(sa_column=Column(String, nullable=False))
    # Tells reminders of one incident apart; 0 for the other kinds.
    sequence: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # NotificationEvent as JSON; rendered per channel when sent.
    payload: str = Field(sa_column=Column(Text, nullable=False))
    # Notifications about the same underlying fault (one certificate watched
    # by several checks) share a key, and only the first is sent.
    dedupe_key: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    # pending, sent, failed (gave up), silenced (maintenance) or deduplicated
    state: str = Field(sa_column=Column(String, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # The sender that claimed the row and until when; another may claim it after.
    claimed_by: str | None = Field(default=None, sa_column=Column(String, nullable=True))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class NotificationAttemptRow(SQLModel, table=True):
    """One delivery attempt of a notification and its outcome."""

    __tablename__ = "notification_attempts"
    __table_args__ = (Index("ix_notification_attempts_notification_id", "notification_id"),)

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True))
    notification_id: int = Field(sa_column=Column(_BIG_ID, nullable=False))
    channel: str = Field(sa_column=Column(String, nullable=False))
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    ok: bool = Field(sa_column=Column(Boolean, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_s: float = Field(sa_column=Column(Float, nullable=False))
    sender: str = Field(sa_column=Column(String, nullable=False))


checks_table = CheckRow.__table__
results_table = ResultRow.__table__
check_state_table = CheckStateRow.__table__
incidents_table = IncidentRow.__table__
result_rollups_table = ResultRollupRow.__table__
notifications_table = NotificationRow.__table__
notification_attempts_table = NotificationAttemptRow.__table__

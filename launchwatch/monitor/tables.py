"""Database tables of launchwatch as sqlmodel classes.

The alembic migrations in launchwatch/alembic/versions create these tables;
tests/storage/test_migrations.py checks that both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Integer, String, Text
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


checks_table = CheckRow.__table__
results_table = ResultRow.__table__
check_state_table = CheckStateRow.__table__
incidents_table = IncidentRow.__table__
result_rollups_table = ResultRollupRow.__table__

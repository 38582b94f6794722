"""Alembic migrations against an empty SQLite file and an empty PostgreSQL database."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import launchwatch.monitor.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from launchwatch.monitor.storage import Storage
from tests.storage.storage_helpers import T0, make_check

EXPECTED_TABLES = {"checks", "results", "check_state", "incidents", "result_rollups", "notifications", "notification_attempts"}


def _table_names(storage: Storage) -> set[str]:
    return set(sa.inspect(storage.engine).get_table_names())


def test_storage_init_creates_no_tables(database_url: str) -> None:
    storage = Storage(database_url)
    try:
        assert _table_names(storage) == set()
    finally:
        storage.close()


def test_upgrade_from_empty_creates_tables_and_indexes(database_url: str) -> None:
    storage = Storage(database_url)
    try:
        storage.upgrade()
        inspector = sa.inspect(storage.engine)
        result_indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("results")}
        incident_indexes = {index["name"]: index["column_names"] for index in inspector.get_indexes("incidents")}

        assert _table_names(storage) == EXPECTED_TABLES | {"alembic_version"}
        assert result_indexes["ix_results_check_id_started_at"] == ["check_id", "started_at"]
        assert incident_indexes["ix_incidents_check_id_opened_at"] == ["check_id", "opened_at"]
        assert inspector.get_pk_constraint("result_rollups")["constrained_columns"] == ["check_id", "hour"]
    finally:
        storage.close()


def test_upgrade_twice_keeps_schema_and_rows(storage: Storage) -> None:
    storage.sync_checks([make_check()], T0)
    with storage.engine.connect() as conn:
        version_before = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()

    storage.upgrade()

    with storage.engine.connect() as conn:
        version_after = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
        check_count = conn.execute(sa.text("SELECT count(*) FROM checks")).scalar_one()
    assert version_after == version_before
    assert len(version_after) == 1
    assert check_count == 1


def test_migration_head_matches_models(storage: Storage) -> None:
    inspector = sa.inspect(storage.engine)
    for table in SQLModel.metadata.sorted_tables:
        migrated_columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert migrated_columns == set(table.columns.keys()), f"columns of {table.name}"

    with storage.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []

"""Database fixtures: an empty SQLite file and an empty PostgreSQL database per test.

The PostgreSQL tests need a server where the user may CREATE DATABASE. Its
URL comes from LAUNCHWATCH_TEST_PG_URL and defaults to the local trust-auth
server. Without a server the PostgreSQL cases are skipped, unless CI=true,
where they fail so a broken CI database cannot pass unnoticed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from launchwatch.monitor.storage import Storage

PG_URL_VARIABLE = "LAUNCHWATCH_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq_url(url: str) -> str:
    # libpq understands postgresql:// and postgres:// but not SQLAlchemy's driver suffix.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """Create a uniquely named PostgreSQL database for the session, drop it at the end."""
    server_url = os.environ.get(PG_URL_VARIABLE, DEFAULT_PG_URL)
    display_url = sa.make_url(_libpq_url(server_url)).render_as_string(hide_password=True)
    try:
        admin = psycopg.connect(_libpq_url(server_url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL at {display_url} did not answer ({str(exc).strip().splitlines()[0]}). "
            f"Start PostgreSQL there, or set {PG_URL_VARIABLE} to a server where this user may CREATE DATABASE."
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)

    name = f"launchwatch_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield sa.make_url(_libpq_url(server_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq_url(server_url), autocommit=True, connect_timeout=5) as admin:
            # FORCE (PostgreSQL 13+) ends connections that a failed test left open.
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _drop_all_tables(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            metadata = sa.MetaData()
            metadata.reflect(conn)
            metadata.drop_all(conn)
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or the session's PostgreSQL database emptied after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'launchwatch.db'}"
        return
    url = request.getfixturevalue("postgres_database_url")
    try:
        yield url
    finally:
        _drop_all_tables(url)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    """A Storage on an empty database, migrated to head."""
    opened = Storage(database_url)
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()

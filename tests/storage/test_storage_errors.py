"""Storage URLs and the errors an unusable database raises."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from launchwatch.monitor.storage import Storage, StorageError, parse_storage_url
from launchwatch.probes.result import Status
from tests.storage.storage_helpers import T0, make_check, make_result


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def test_unreachable_postgresql_raises_storage_error_without_password() -> None:
    port = _closed_loopback_port()
    url = f"postgresql://monitor:s3cret-Passw0rd@127.0.0.1:{port}/launchwatch"

    with pytest.raises(StorageError) as raised:
        Storage(url)
    message = str(raised.value)

    assert "s3cret-Passw0rd" not in message
    assert f"postgresql+psycopg://monitor:***@127.0.0.1:{port}/launchwatch" in message
    assert "check that the server is running" in message


def test_sqlite_path_under_a_file_raises_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    with pytest.raises(StorageError, match="not-a-directory"):
        Storage(f"sqlite:///{blocker / 'launchwatch.db'}")


def test_unsupported_url_raises_storage_error() -> None:
    with pytest.raises(StorageError, match="unsupported storage URL mysql://monitor:\\*\\*\\*@"):
        Storage("mysql://monitor:hunter2@127.0.0.1/launchwatch")


@pytest.mark.parametrize(
    "url",
    [
        "postgres://monitor@127.0.0.1/launchwatch",
        "postgresql://monitor@127.0.0.1/launchwatch",
        "postgresql+psycopg://monitor@127.0.0.1/launchwatch",
    ],
)
def test_parse_storage_url_picks_psycopg(url: str) -> None:
    assert parse_storage_url(url).drivername == "postgresql+psycopg"


@pytest.mark.postgres
def test_postgres_scheme_connects(postgres_database_url: str) -> None:
    storage = Storage(postgres_database_url.replace("postgresql://", "postgres://", 1))
    try:
        storage.ping()
    finally:
        storage.close()


def test_sqlite_creates_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state" / "launchwatch.db"

    storage = Storage(f"sqlite:///{path}")
    try:
        with storage.engine.connect() as conn:
            journal_mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    finally:
        storage.close()

    assert path.parent.is_dir()
    assert journal_mode == "wal"
    assert busy_timeout > 0


def test_missing_tables_raise_storage_error_naming_upgrade(database_url: str) -> None:
    storage = Storage(database_url)
    check = make_check()
    try:
        with pytest.raises(StorageError, match="launchwatch db upgrade"):
            storage.record_results([(check, make_result(Status.PASS, T0))])
    finally:
        storage.close()


def test_record_results_rolls_back_whole_batch(storage: Storage) -> None:
    failing = make_check("shop/home", failure_threshold=1)
    # Config validation keeps thresholds at 1 or more; this one makes the
    # state step raise after the results and an incident were written.
    invalid = make_check("shop/login", failure_threshold=0)
    storage.sync_checks([failing, invalid], T0)

    with pytest.raises(ValueError, match="failure_threshold"):
        storage.record_results([(failing, make_result(Status.FAIL, T0)), (invalid, make_result(Status.PASS, T0))])

    assert storage.recent_results(failing.id) == []
    assert storage.incidents() == []
    assert storage.check_status(failing.id, T0).state == "unknown"

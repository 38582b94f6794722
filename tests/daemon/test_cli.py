"""The `launchwatch` command line: validate, check, db upgrade and demo."""

from __future__ import annotations

import json
import socket
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from launchwatch.monitor.storage import Storage
from tests.support.smtp import SmtpServer
from tests.support.targets import serve_app

COMMAND = [sys.executable, "-m", "launchwatch.monitor.cli"]
WAIT_LIMIT_S = 30.0


def launchwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=WAIT_LIMIT_S)


@pytest.fixture
def target_port() -> Iterator[int]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="Welcome")

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=502, text="bad gateway")

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/broken", broken)
    with serve_app(app) as server:
        yield server.port


def write_config(tmp_path: Path, port: int, broken_path: str = "/broken") -> Path:
    config = tmp_path / "launchwatch.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            state_dir: {tmp_path / "state"}
            dns:
              nameservers: ["127.0.0.1:1"]
            sites:
              - name: app
                base_url: http://app.example.test:{port}
                resolve: {{app.example.test: 127.0.0.1}}
                checks:
                  - id: home
                    kind: http
                    options: {{path: /, body_contains: Welcome}}
                  - id: gateway
                    kind: http
                    options: {{path: "{broken_path}"}}
            """
        )
    )
    return config


def test_validate_valid_config(tmp_path: Path, target_port: int) -> None:
    config = write_config(tmp_path, target_port)

    completed = launchwatch("validate", "-c", str(config))

    assert completed.returncode == 0
    assert completed.stdout == f"{config}: valid, 1 site and 2 checks\n"


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("web:\n  port: 8080\ndefaults:\n  timeout: never\nsites:\n  - name: App\n    base_url: x\n")

    completed = launchwatch("validate", "-c", str(config))

    assert completed.returncode == 2
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"{config}:2: web.port: unknown key 'port'")
    assert lines[1].startswith(f"{config}:4: defaults.timeout: invalid duration")
    assert lines[2].startswith(f"{config}:6: sites[0].name: invalid site name 'App'")
    assert lines[3].startswith(f"{config}:7: sites[0].base_url: invalid base_url 'x'")
    assert lines[4] == f"4 problems found in {config}"


def test_check_prints_scorecard_and_fails(tmp_path: Path, target_port: int) -> None:
    config = write_config(tmp_path, target_port)

    completed = launchwatch("check", "-c", str(config))

    assert completed.returncode == 1
    rows = completed.stdout.splitlines()
    assert re.match(r"^CHECK\s+STATUS\s+TIME\s+TOP FINDING$", rows[0])
    assert re.match(r"^app/home\s+PASS\s+\d+ ms$", rows[1])
    assert re.match(r"^app/gateway\s+FAIL\s+\d+ ms\s+.*returned status 502, expected 200", rows[2])
    assert rows[-1] == "2 checks: 1 pass, 0 warn, 1 fail, 0 error"


def test_check_exits_zero_when_all_pass(tmp_path: Path, target_port: int) -> None:
    config = write_config(tmp_path, target_port, broken_path="/")

    completed = launchwatch("check", "-c", str(config))

    assert completed.returncode == 0
    assert completed.stdout.splitlines()[-1] == "2 checks: 2 pass, 0 warn, 0 fail, 0 error"


def test_db_upgrade_creates_schema(tmp_path: Path, target_port: int) -> None:
    config = write_config(tmp_path, target_port)

    completed = launchwatch("db", "upgrade", "-c", str(config))

    assert completed.returncode == 0, completed.stderr
    assert "database schema is up to date" in completed.stderr
    storage = Storage(f"sqlite:///{tmp_path / 'state' / 'launchwatch.db'}")
    try:
        assert storage.recent_results("app/home") == []
    finally:
        storage.close()


def test_demo_serves_status_page_and_stops(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*COMMAND, "demo", "--port", "0", "--state-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        announced: dict[str, str] = {}
        for line in process.stdout:
            match = re.search(r"(status page|mailbox): +(http://127\.0\.0\.1:\d+/)", line)
            if match:
                announced[match.group(1)] = match.group(2)
            if line.startswith("Press Ctrl+C"):
                break
        url = announced["status page"]

        checks: list[dict[str, object]] = []
        deadline = time.monotonic() + WAIT_LIMIT_S
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url + "api/v1/status", timeout=5) as response:
                checks = json.loads(response.read())["checks"]
            if all(check["last_status"] is not None for check in checks):
                break
            time.sleep(0.5)
        statuses = {check["id"]: check["last_status"] for check in checks}
        assert statuses["app/home"] == "pass"
        assert statuses["app/billing-api-private"] == "fail"
        assert statuses["app/reports-api"] == "warn"
        assert statuses["app/bundle"] == "fail"
        assert statuses["secure/certificate"] == "warn"
        assert statuses["secure/https-redirect"] == "warn"
        assert statuses["secure/home-https"] == "pass"

        # The billing check fails twice in a row, which opens an incident
        # and sends an email to the demo's own SMTP server.
        mailbox = ""
        deadline = time.monotonic() + WAIT_LIMIT_S
        while time.monotonic() < deadline and "FAILING app/billing-api-private" not in mailbox:
            with urllib.request.urlopen(announced["mailbox"], timeout=5) as response:
                mailbox = response.read().decode()
            time.sleep(0.5)
        assert "[launchwatch] FAILING app/billing-api-private" in mailbox

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=WAIT_LIMIT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

def test_json_logs_carry_check_fields(tmp_path: Path, target_port: int) -> None:
    config = write_config(tmp_path, target_port)

    completed = launchwatch("check", "-c", str(config), "--log-format", "json")

    entries = [json.loads(line) for line in completed.stderr.splitlines()]
    (failure,) = [entry for entry in entries if entry.get("check") == "app/gateway"]
    assert failure["level"] == "warning"
    assert failure["kind"] == "http"
    assert failure["target"] == f"http://app.example.test:{target_port}/broken"
    assert failure["status"] == "fail"
    assert failure["reason"] == "http_status"
    assert "returned status 502" in failure["message"]


def test_notify_test_sends_email_and_reports_failure(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        config = tmp_path / "channels.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                state_dir: {tmp_path}
                channels:
                  - name: mail
                    url: mailto://127.0.0.1:{smtp.port}?from=launchwatch@example.test&to=ops@example.test&mode=insecure
                  - name: dead-hook
                    url: json://127.0.0.1:{_closed_port()}/hook
                sites: []
                """
            )
        )

        sent = launchwatch("notify-test", "-c", str(config), "mail")
        both = launchwatch("notify-test", "-c", str(config))
        unknown = launchwatch("notify-test", "-c", str(config), "pager")

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert re.match(r"^mail: sent in \d+ ms$", sent.stdout.strip())
    assert both.returncode == 1
    assert re.search(r"^dead-hook: failed: .+", both.stdout, re.MULTILINE)
    assert unknown.returncode == 2
    assert "channel 'pager' is not defined in the config (defined: mail, dead-hook)" in unknown.stderr
    assert len(smtp.messages) == 2
    assert smtp.messages[0].subject.startswith("[launchwatch] TEST")
    assert smtp.messages[0].recipients == ["ops@example.test"]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_reports_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        completed = launchwatch("demo", "--port", str(port))

    assert completed.returncode == 2
    assert f"port {port} on 127.0.0.1 is not free" in completed.stderr
    assert "pass another with --port, or --port 0 for any free port" in completed.stderr


def test_version_printed() -> None:
    completed = launchwatch("--version")

    assert completed.returncode == 0
    assert re.match(r"^launchwatch \d+\.\d+\.\d+$", completed.stdout.strip())

"""A controllable target and a `launchwatch run` subprocess, for the daemon tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

# Upper bound for each wait below; the daemon normally gets there in a few seconds.
WAIT_LIMIT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TargetControl:
    """What the target's `/` does: "ok", "fail" (500) or "hang"."""

    mode: str = "ok"


def controllable_target(control: TargetControl) -> web.Application:
    async def home(request: web.Request) -> web.Response:
        if control.mode == "hang":
            await asyncio.sleep(20)
        if control.mode == "fail":
            return web.Response(status=500, text="internal error")
        return web.Response(text="Welcome to the app")

    async def static(request: web.Request) -> web.Response:
        return web.Response(text="body {}")

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/static.css", static)
    return app


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    base_url: str
    db_url: str
    log_path: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def status_json(self) -> dict[str, Any]:
        _, body = self.get("/api/v1/status")
        return json.loads(body)

    def check(self, check_id: str) -> dict[str, Any]:
        (entry,) = [c for c in self.status_json()["checks"] if c["id"] == check_id]
        return entry

    def logs(self) -> str:
        return self.log_path.read_text()


def wait_for(condition: Callable[[], bool], what: str, daemon: Daemon) -> None:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            pytest.fail(f"daemon exited with {daemon.process.returncode} while waiting for {what}:\n{daemon.logs()}")
        try:
            if condition():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; daemon log:\n{daemon.logs()}")



def start_daemon(
    tmp_path: Path, target_port: int, *, extra_config: str = "", failure_threshold: int = 2, log_name: str = "daemon.log"
) -> Daemon:
    """Start `launchwatch run` on a config with two checks of the target; the caller stops it."""
    web_port = free_port()
    db_path = tmp_path / "state" / "launchwatch.db"
    config = tmp_path / "launchwatch.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            state_dir: {tmp_path / "state"}
            web:
              listen: 127.0.0.1:{web_port}
            dns:
              nameservers: ["127.0.0.1:1"]
            defaults:
              interval: 1s
              timeout: 1s
              failure_threshold: {failure_threshold}
              success_threshold: 1
            sites:
              - name: app
                base_url: http://app.example.test:{target_port}
                resolve:
                  app.example.test: 127.0.0.1
                headers:
                  Authorization: Bearer ${{APP_TOKEN}}
                checks:
                  - id: home
                    name: Home page
                    kind: http
                    options:
                      path: /
                      body_contains: Welcome
                  - id: styles
                    name: Stylesheet
                    kind: http
                    options:
                      path: /static.css
            """
        )
        + extra_config
    )
    log_path = tmp_path / log_name
    env = {**os.environ, "APP_TOKEN": "tok-e2e-secret-value"}
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "launchwatch.monitor.cli", "--log-level", "DEBUG", "run", "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
    return Daemon(process, f"http://127.0.0.1:{web_port}", f"sqlite:///{db_path}", log_path)

"""Run Debian's nginx on loopback with a config a test writes.

nginx runs in the foreground as a child of the test process with
``master_process off``, so the child's pid is the only nginx process and
stopping it by that pid leaves nothing behind. Every path nginx writes (pid,
error log, temp files) is inside the test's directory.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NGINX = "/usr/sbin/nginx"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

_CONFIG = """\
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 128;
}}

http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {dir}/temp/client_body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;

{servers}
}}
"""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """One nginx process serving the `server { ... }` blocks a test passes."""

    def __init__(self, directory: Path, servers: str, ports: list[int]) -> None:
        self.directory = directory
        self.ports = ports
        self.config_path = directory / "nginx.conf"
        self.error_log = directory / "error.log"
        self._servers = servers
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Write the config, start nginx and wait until every port accepts connections."""
        (self.directory / "temp").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(_CONFIG.format(dir=self.directory, servers=self._servers))
        self._process = subprocess.Popen(
            [NGINX, "-p", str(self.directory), "-c", str(self.config_path), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            self._wait_until_accepting()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop nginx by its pid: SIGTERM first, SIGKILL if it does not exit in time."""
        process = self._process
        if process is None:
            return
        self._process = None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        if process.stderr is not None:
            process.stderr.close()

    def _wait_until_accepting(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        pending = list(self.ports)
        while pending:
            if self._process.poll() is not None:
                stderr = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(
                    f"nginx exited with code {self._process.returncode} before accepting connections:\n"
                    f"{stderr}\n{self._read_error_log()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"nginx did not accept connections on 127.0.0.1 ports {pending} within {START_TIMEOUT_S} s:\n"
                    f"{self._read_error_log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5):
                    pending.pop(0)
            except OSError:
                time.sleep(0.05)

    def _read_error_log(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def running_nginx(directory: Path, servers: str, ports: list[int]) -> Iterator[Nginx]:
    """Run nginx with `servers` for the duration of the block.

    `servers` is the text of one or more `server { ... }` blocks; it must
    listen only on 127.0.0.1 at the given `ports`, which the caller took from
    `free_port` and wrote into the blocks.
    """
    nginx = Nginx(directory, servers, ports)
    nginx.start()
    try:
        yield nginx
    finally:
        nginx.stop()

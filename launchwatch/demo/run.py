"""`launchwatch demo`: the sample app and the daemon on loopback, no network needed."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import tempfile
from importlib import resources
from pathlib import Path

from aiohttp import web

from launchwatch.demo.mailsink import MailSink, create_mailbox_app, start_smtp
from launchwatch.demo.pki import write_demo_pki
from launchwatch.demo.target import create_redirector_app, create_target_app
from launchwatch.monitor import eventloop
from launchwatch.monitor.configfile import ConfigError, load_config
from launchwatch.monitor.logs import Redactor

log = logging.getLogger("launchwatch.demo")

DEMO_HOST = "app.coachly.test"


def write_demo_config(state_dir: Path, ports: dict[str, int]) -> Path:
    """Fill the bundled demo config's placeholders and write it into ``state_dir``."""
    text = resources.files("launchwatch.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    text = text.replace("{state_dir}", str(state_dir))
    for name, port in ports.items():
        text = text.replace("{" + name + "}", str(port))
    path = state_dir / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_demo(port: int, state_dir: str | None, redact: Redactor) -> int:
    from launchwatch.monitor.daemon import DaemonError
    from launchwatch.monitor.storage import StorageError

    try:
        eventloop.run(_demo(port, state_dir))
    except (DaemonError, StorageError, ConfigError) as exc:
        log.error("demo could not start: %s", exc)
        return 2
    return 0


async def _demo(port: int, state_dir_arg: str | None) -> None:
    from launchwatch.monitor.daemon import run_daemon

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if port:
        _require_free(port)
    target_runner, target_port = await _serve(create_target_app())
    sink = MailSink()
    smtp_server, smtp_port = await start_smtp(sink)
    mailbox_runner, mailbox_port = await _serve(create_mailbox_app(sink))
    runners = [target_runner, mailbox_runner]
    # The status page's own address goes into notification links, so a free
    # port is picked before the config is written.
    web_port = port or _free_port()

    with tempfile.TemporaryDirectory(prefix="launchwatch-demo-") as temp_dir:
        state_dir = Path(state_dir_arg) if state_dir_arg else Path(temp_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        _, server_tls = write_demo_pki(state_dir, DEMO_HOST)
        https_runner, https_port = await _serve(create_target_app(), ssl_context=server_tls)
        redirector_runner, http_port = await _serve(create_redirector_app(https_port))
        runners.extend([https_runner, redirector_runner])
        ports = {
            "target_port": target_port,
            "https_port": https_port,
            "http_port": http_port,
            "web_port": web_port,
            "smtp_port": smtp_port,
            "mailbox_port": mailbox_port,
        }
        config_path = write_demo_config(state_dir, ports)
        loaded = load_config(config_path)

        def announce(url: str | None) -> None:
            print(
                "launchwatch demo is running.\n"
                f"  status page: {url}\n"
                f"  sample app:  http://127.0.0.1:{target_port}/ and https://{DEMO_HOST}:{https_port}/ (resolve it to 127.0.0.1)\n"
                f"  mailbox:     http://127.0.0.1:{mailbox_port}/ (email alerts arrive here)\n"
                f"  config:      {config_path}\n"
                "Press Ctrl+C to stop.",
                flush=True,
            )

        try:
            await run_daemon(loaded, stop, on_ready=announce)
        finally:
            for runner in runners:
                await runner.cleanup()
            smtp_server.close()
            await smtp_server.wait_closed()


async def _serve(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    return runner, runner.addresses[0][1]


def _require_free(port: int) -> None:
    from launchwatch.monitor.daemon import DaemonError

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DaemonError(f"port {port} on 127.0.0.1 is not free ({exc.strerror}); pass another with --port, or --port 0 for any free port") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""`launchwatch demo`: the sample app and the daemon on loopback, no network needed."""

from __future__ import annotations

import asyncio
import logging
import signal
import tempfile
from importlib import resources
from pathlib import Path

from aiohttp import web

from launchwatch.demo.target import create_target_app
from launchwatch.monitor.configfile import ConfigError, load_config
from launchwatch.monitor.logs import Redactor

log = logging.getLogger("launchwatch.demo")


def write_demo_config(state_dir: Path, target_port: int, web_port: int) -> Path:
    """Fill the bundled demo config's placeholders and write it into ``state_dir``."""
    template = resources.files("launchwatch.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    text = (
        template.replace("{state_dir}", str(state_dir))
        .replace("{target_port}", str(target_port))
        .replace("{web_port}", str(web_port))
    )
    path = state_dir / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_demo(port: int, state_dir: str | None, redact: Redactor) -> int:
    from launchwatch.monitor.daemon import DaemonError
    from launchwatch.monitor.storage import StorageError

    try:
        asyncio.run(_demo(port, state_dir))
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

    target_runner = web.AppRunner(create_target_app(), access_log=None)
    await target_runner.setup()
    target_site = web.TCPSite(target_runner, "127.0.0.1", 0)
    await target_site.start()
    target_port = target_runner.addresses[0][1]

    with tempfile.TemporaryDirectory(prefix="launchwatch-demo-") as temp_dir:
        state_dir = Path(state_dir_arg) if state_dir_arg else Path(temp_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        config_path = write_demo_config(state_dir, target_port, port)
        loaded = load_config(config_path)

        def announce(url: str | None) -> None:
            print(f"launchwatch demo is running.\n  status page: {url}\n  sample app:  http://127.0.0.1:{target_port}/\n  config:      {config_path}\nPress Ctrl+C to stop.", flush=True)

        try:
            await run_daemon(loaded, stop, on_ready=announce)
        finally:
            await target_runner.cleanup()

"""The status page rendered by headless Chromium: a screenshot and the DOM after parsing."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

import pytest

from tests.web.web_support import Scenario, serve

CHROMIUM = Path("/usr/bin/chromium")
RUN_TIMEOUT_S = 90.0
WINDOW = (1280, 900)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium_or_skip() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing; install the chromium package on the CI image")
    pytest.skip(f"{CHROMIUM} is missing; install the chromium package to render the status page")


def chromium_command(user_data_dir: Path, *mode: str, url: str) -> list[str]:
    return [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        # Any host name other than the loopback address fails to resolve, so
        # the browser cannot reach beyond this machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *mode,
        url,
    ]


async def run_chromium(command: list[str]) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, stdout, stderr


def render_status_page(scenario: Scenario, tmp_path: Path) -> tuple[Path, str]:
    """Serve the app, take a screenshot of / and dump its DOM. Return the PNG path and the DOM."""
    screenshot = tmp_path / "page.png"

    async def render() -> str:
        async with serve(scenario.app()) as base_url:
            url = base_url + "/"
            code, _, stderr = await run_chromium(
                chromium_command(tmp_path / "profile-shot", f"--screenshot={screenshot}", url=url)
            )
            assert code == 0, stderr.decode(errors="replace")
            code, dom, stderr = await run_chromium(chromium_command(tmp_path / "profile-dom", "--dump-dom", url=url))
            assert code == 0, stderr.decode(errors="replace")
            return dom.decode()

    return screenshot, asyncio.run(render())


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_chromium_renders_status_page(scenario: Scenario, tmp_path: Path):
    chromium_or_skip()

    screenshot, dom = render_status_page(scenario, tmp_path)

    assert screenshot.exists()
    assert screenshot.read_bytes()[:8] == PNG_SIGNATURE
    assert png_size(screenshot) == WINDOW
    # A blank 1280x900 PNG compresses to a few kilobytes, while tables, text
    # and badges take far more.
    assert screenshot.stat().st_size > 20_000
    for check_id in scenario.checks:
        assert f'data-check-id="{check_id}"' in dom, check_id
    assert "<polyline" in dom
    assert "&lt;script&gt;" in dom
    assert "<script>" not in dom

"""A loopback webhook server that records what notifications deliver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.support.targets import serve_app


@dataclass
class Hooks:
    """A loopback server that records every JSON post, per path."""

    port: int = 0
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def titles(self, path: str = "hook") -> list[str]:
        with self.lock:
            return [post["title"] for post in self.received.get(path, [])]


def hooks_app(recorded: Hooks) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        payload = await request.json()
        with recorded.lock:
            recorded.received.setdefault(request.match_info["path"], []).append(payload)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{path}", receive)
    return app


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    recorded = Hooks()
    with serve_app(hooks_app(recorded)) as server:
        recorded.port = server.port
        yield recorded



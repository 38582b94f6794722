"""A webhook receiver that records every request, for notification tests.

Serve its app with ``serve_app`` from tests.support.targets:

    hook = WebhookRecorder()
    with serve_app(hook.app) as server:
        post_to(f"{server.url}/hook")
        hook.posts[0].json
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True, slots=True)
class ReceivedPost:
    method: str
    path: str
    headers: dict[str, str]
    # The parsed JSON body, or None when the body is not JSON.
    json: Any
    text: str


class WebhookRecorder:
    """An aiohttp app that stores each request on any path and responds with ``status``."""

    def __init__(self, status: int = 200, response_text: str = "ok") -> None:
        self.status = status
        self.response_text = response_text
        self._lock = threading.Lock()
        self._posts: list[ReceivedPost] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{path:.*}", self._handle)

    @property
    def posts(self) -> list[ReceivedPost]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._posts)

    async def _handle(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        post = ReceivedPost(request.method, request.path, dict(request.headers), payload, text)
        # The server runs on its own thread while the test reads posts.
        with self._lock:
            self._posts.append(post)
        return web.Response(status=self.status, text=self.response_text)


__all__ = ["ReceivedPost", "WebhookRecorder"]

"""Loopback servers for probe tests: aiohttp apps and raw TCP handlers.

Each server listens on 127.0.0.1 with a port the kernel picks. Use it as
``async with`` inside a running event loop, or as ``with`` from a sync test,
where it runs its own event loop in a background thread:

    async with serve_app(app) as server:
        server.url            # http://127.0.0.1:PORT
    with serve_raw(hold_open) as server:
        server.port
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trustme
from aiohttp import web

HOST = "127.0.0.1"
# Upper bound for starting or stopping a server; a hung start fails the test.
_START_STOP_TIMEOUT_S = 10.0

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RunningServer:
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def url_for(self, hostname: str) -> str:
        """Return the server's URL under another name, such as one mapped with ``resolve``."""
        return f"{self.scheme}://{hostname}:{self.port}"


class _LoopbackServer:
    """Runs a server either on the caller's event loop or on a private thread."""

    def __init__(self, scheme: str) -> None:
        self._scheme = scheme
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _start(self) -> int:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> RunningServer:
        port = await self._start()
        return RunningServer(HOST, port, self._scheme)

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()

    def __enter__(self) -> RunningServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-server", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        port = future.result(timeout=_START_STOP_TIMEOUT_S)
        return RunningServer(HOST, port, self._scheme)

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._thread is not None
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=_START_STOP_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_START_STOP_TIMEOUT_S)
            self._loop.close()


class serve_app(_LoopbackServer):  # noqa: N801 - used like a function: serve_app(app)
    """Serve an aiohttp application, over TLS when ``ssl_context`` is given."""

    def __init__(self, app: web.Application, *, ssl_context: ssl.SSLContext | None = None, port: int = 0) -> None:
        super().__init__("https" if ssl_context else "http")
        self._app = app
        self._ssl_context = ssl_context
        # 0 lets the kernel pick; a fixed port brings a server back where it was.
        self._port = port
        self._runner: web.AppRunner | None = None

    async def _start(self) -> int:
        # A short shutdown timeout: tests leave slow handlers running on purpose.
        self._runner = web.AppRunner(self._app, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self._port, ssl_context=self._ssl_context)
        await site.start()
        return _bound_port(self._runner.addresses)

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class serve_raw(_LoopbackServer):  # noqa: N801 - used like a function: serve_raw(handler)
    """Serve a raw TCP handler, for responses no well-behaved HTTP server sends."""

    def __init__(self, handler: RawHandler) -> None:
        super().__init__("http")
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._track, HOST, 0)
        return self._server.sockets[0].getsockname()[1]

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # The client gave up first, which is what many tests provoke.
        except asyncio.CancelledError:
            # _stop cancels handlers that are still running. Ending normally
            # keeps asyncio's stream callback from logging the cancellation.
            pass
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Python 3.11's wait_closed does not wait for handlers, so cancel them.
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=_START_STOP_TIMEOUT_S)
        if self._server is not None:
            await self._server.wait_closed()


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """Read the request line and headers, so closing later sends FIN, not RST."""
    return await reader.readuntil(b"\r\n\r\n")


async def hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the request and send nothing until the client hangs up."""
    await read_request_head(reader)
    await reader.read()


def send_then_close(data: bytes) -> RawHandler:
    """Return a handler that reads the request, sends ``data`` and closes cleanly."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    return handler


def send_then_reset(data: bytes) -> RawHandler:
    """Return a handler that reads the request, sends ``data`` and resets the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(data)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return handler


def drip(head: bytes, chunk: bytes, interval_s: float, *, max_chunks: int = 1000) -> RawHandler:
    """Return a handler that sends ``head``, then one ``chunk`` every ``interval_s`` seconds.

    ``max_chunks`` bounds the handler, so it stops by itself even if no client times out.
    """

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(head)
        await writer.drain()
        for _ in range(max_chunks):
            await asyncio.sleep(interval_s)
            writer.write(chunk)
            await writer.drain()

    return handler


def unused_port() -> int:
    """Return a loopback port that nothing listens on, for refused connections.

    The kernel may hand the port to another socket before the test uses it,
    which is unlikely within the few milliseconds between the calls.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def tls_server_context(ca: trustme.CA, *hostnames: str, **issue_options: Any) -> ssl.SSLContext:
    """Return a server SSL context with a certificate from ``ca`` for ``hostnames``.

    ``issue_options`` go to ``trustme.CA.issue_cert``, for example ``not_after``
    to serve an expired certificate.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hostnames, **issue_options).configure_cert(context)
    return context


def _bound_port(addresses: list[Any]) -> int:
    for address in addresses:
        if isinstance(address, tuple) and address[0] == HOST:
            return int(address[1])
    raise RuntimeError(f"the test server is not listening on {HOST}; it listens on {addresses!r}")


__all__ = [
    "HOST",
    "RawHandler",
    "RunningServer",
    "drip",
    "hold_open",
    "read_request_head",
    "send_then_close",
    "send_then_reset",
    "serve_app",
    "serve_raw",
    "tls_server_context",
    "unused_port",
]

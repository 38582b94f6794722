"""A loopback SMTP server (aiosmtpd) that records every message it accepts.

It runs its own event loop in a background thread, so sync tests use it as a
context manager:

    with SmtpServer() as smtp:
        send_mail_to("127.0.0.1", smtp.port)
        smtp.messages[0].subject

``stop()`` and ``start()`` take the server down and bring it back on the
same port, for tests of a mail server that is briefly unreachable.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
# Upper bound for starting or stopping the server, so a hung start fails the test.
_START_STOP_TIMEOUT_S = 10.0
# The name the server greets with. Passing it keeps aiosmtpd from looking up
# this machine's fully qualified name through the system resolver.
_SERVER_NAME = "smtp.launchwatch.test"


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message as the server received it: the SMTP envelope and the parsed message."""

    mail_from: str
    recipients: list[str]
    message: EmailMessage
    # The login of the client that sent it, or None without AUTH.
    login: str | None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        """Return the decoded text/plain part as the sender wrote it.

        SMTP's CRLF line endings become LF. The one line break that ends the
        text is dropped, because SMTP clients add it to any message that
        lacks it before the closing "." line.
        """
        part = self.message.get_body(preferencelist=("plain",))
        if part is None:
            raise AssertionError(f"the message has no text/plain part; its parts are {[p.get_content_type() for p in self.message.walk()]}")
        text = str(part.get_content()).replace("\r\n", "\n")
        return text.removesuffix("\n")


class _RecordingHandler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self._server._record(ReceivedMail(envelope.mail_from or "", list(envelope.rcpt_tos), message, login))
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on 127.0.0.1 without TLS, which also offers AUTH when given ``credentials``.

    The port is picked by the kernel on the first start and kept for every
    later ``start()``.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[SMTP] = set()
        self.port = 0

    @property
    def messages(self) -> list[ReceivedMail]:
        """A copy of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    def __enter__(self) -> SmtpServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-server", daemon=True)
        self._thread.start()
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._loop is not None and self._thread is not None
        try:
            self.stop()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_START_STOP_TIMEOUT_S)
            self._loop.close()

    def start(self) -> None:
        """Listen again, on the port of the first start."""
        self._run(self._start())

    def stop(self) -> None:
        """Close the listening socket and every open session, so new connections are refused."""
        self._run(self._stop())

    def _run(self, coroutine: Any) -> None:
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the SMTP server is not running; use it as `with SmtpServer() as smtp:`")
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=_START_STOP_TIMEOUT_S)

    async def _start(self) -> None:
        if self._server is not None:
            return
        # asyncio sets SO_REUSEADDR on POSIX, so the port can be bound again
        # while connections from the previous start sit in TIME_WAIT.
        self._server = await asyncio.get_running_loop().create_server(self._new_session, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Python 3.11's wait_closed does not close accepted connections.
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()
        await self._server.wait_closed()
        self._server = None

    def _new_session(self) -> SMTP:
        options: dict[str, Any] = {}
        if self._credentials is not None:
            # AUTH is offered without TLS because the server listens on loopback
            # only. Clients with credentials log in although AUTH is optional.
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        session = SMTP(_RecordingHandler(self), hostname=_SERVER_NAME, loop=asyncio.get_running_loop(), **options)
        self._sessions.add(session)
        return session

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        assert self._credentials is not None
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self._credentials
        accepted = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=accepted, handled=False, auth_data=auth_data if accepted else None)


__all__ = ["HOST", "ReceivedMail", "SmtpServer"]

"""An SMTP server on loopback that keeps what it receives, and a page that lists it.

The demo sends its email notifications here, so a new user sees a real
alert arrive without a mail account.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

# Messages kept in memory; older ones are dropped first.
MAX_MESSAGES = 200


@dataclass
class ReceivedMail:
    received_at: datetime
    mail_from: str
    recipients: list[str]
    subject: str
    body: str


@dataclass
class MailSink:
    messages: list[ReceivedMail] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        parsed = email.message_from_bytes(raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html")) if parsed.is_multipart() else parsed
        body = part.get_content() if part is not None else ""
        self.messages.append(
            ReceivedMail(
                received_at=datetime.now(UTC),
                mail_from=envelope.mail_from or "",
                recipients=list(envelope.rcpt_tos),
                subject=str(parsed.get("Subject", "")),
                body=str(body),
            )
        )
        del self.messages[:-MAX_MESSAGES]
        return "250 Message accepted"


async def start_smtp(sink: MailSink) -> tuple[asyncio.AbstractServer, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="mailsink.test"), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


def create_mailbox_app(sink: MailSink) -> web.Application:
    async def mailbox(request: web.Request) -> web.Response:
        rows = "".join(_render_mail(mail) for mail in reversed(sink.messages)) or "<p>No messages yet. Alerts arrive here when a check starts failing.</p>"
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Demo mailbox</title>"
            "<meta http-equiv=refresh content=10>"
            "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "article{border:1px solid #ccc;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}"
            "pre{white-space:pre-wrap}</style></head><body>"
            f"<h1>Demo mailbox</h1><p>{len(sink.messages)} messages received by the demo's SMTP server.</p>{rows}</body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", mailbox)
    return app


def _render_mail(mail: ReceivedMail) -> str:
    escape: Any = html.escape
    return (
        f"<article><h2>{escape(mail.subject)}</h2>"
        f"<p>{escape(mail.received_at.strftime('%Y-%m-%d %H:%M:%S UTC'))}, from {escape(mail.mail_from)} "
        f"to {escape(', '.join(mail.recipients))}</p><pre>{escape(mail.body)}</pre></article>"
    )

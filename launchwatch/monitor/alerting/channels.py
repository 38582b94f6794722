"""Channels are apprise URLs; this module validates them and delivers one message."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
from apprise.manager_plugins import NotificationManager

log = logging.getLogger("launchwatch.alerting")


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    # Set when retrying cannot help, such as a URL apprise no longer accepts.
    permanent: bool = False
    error: str | None = None
    duration_s: float = 0.0


def url_scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def apprise_url_problem(url: str) -> str | None:
    """Return why apprise rejects ``url``, or None when it accepts it.

    The message names only the scheme: the rest of an apprise URL usually
    contains a token or password.
    """
    scheme = url_scheme(url)
    if not scheme:
        return "is not a URL; write an apprise URL such as slack://, mailto:// or json://"
    with apprise.LogCapture(level=logging.WARNING):
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None and scheme not in NotificationManager().schemas():
        # Native service URLs such as https://hooks.slack.com/... have a
        # scheme outside this list, so the list is only consulted after
        # apprise rejected the URL.
        return f"uses scheme {scheme}://, which no apprise service handles; write an apprise URL such as slack://, mailto:// or json://"
    if plugin is None:
        return (
            f"is not a valid apprise URL for scheme {scheme}://; check its fields against apprise's documentation "
            "for that service (the URL is not shown because it may hold a token)"
        )
    return None


def deliver(url: str, title: str, body: str, body_format: str, timeout_s: float, *, notify_type: str = "info") -> Delivery:
    """Send one message through apprise; blocking, so call it from a thread.

    ``notify_type`` is apprise's "info", "success", "warning" or "failure":
    Slack colours the message by it and json:// sends it as "type".
    """
    notifier = apprise.Apprise()
    start = time.monotonic()
    if not notifier.add(url):
        return Delivery(ok=False, permanent=True, error="apprise no longer accepts this channel's URL; fix the channel's url")
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        result = notifier.notify(body=body, title=title, notify_type=notify_type, body_format=body_format, timeout=timeout_s)
    duration = time.monotonic() - start
    if result:
        return Delivery(ok=True, duration_s=duration)
    detail = _last_lines(captured.getvalue()) or "apprise reported a failure without details"
    return Delivery(ok=False, error=detail, duration_s=duration)


def _last_lines(text: str, limit: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-limit:])[:1000]

"""Render a notification event as the title and body that one channel receives.

Each channel gets the form that reads best there. Slack gets a compact
markdown message, and email a plain-text body under a subject that sorts well
in an inbox. Generic webhooks (json://, xml://, form://) get plain text, and
every other apprise service markdown, which apprise converts for it. Secrets
are removed from every piece of text before it is placed in a message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import apprise

from launchwatch.monitor.alerting.events import ESCALATION, MAX_EVENT_FINDINGS, OPENED, REMINDER, RESOLVED, TEST, NotificationEvent
from launchwatch.probes.result import Finding, Severity

# Apprise body formats.
TEXT = "text"
MARKDOWN = "markdown"

SUBJECT_PREFIX = "[launchwatch]"
# Maximum length of the finding summary in a title or email subject.
MAX_SUMMARY_CHARS = 80

_EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})
# Generic webhooks hand the message to a program, so they get plain text.
_TEXT_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
# Apprise also accepts Slack's own webhook URL in place of slack://.
_SLACK_WEBHOOK_HOST = "hooks.slack.com"

# The word that starts a title, per event kind.
_TITLE_WORDS = {OPENED: "FAILING", REMINDER: "REMINDER", ESCALATION: "ESCALATED", RESOLVED: "RESOLVED", TEST: "TEST"}
# Apprise notification types: Slack colours its message by them and
# json:// sends them as "type".
_NOTIFY_TYPES = {OPENED: "failure", REMINDER: "failure", ESCALATION: "failure", RESOLVED: "success", TEST: "info"}
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.FAIL: 2}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    title: str
    body: str
    # An apprise body format: "text", "markdown" or "html".
    body_format: str
    # An apprise notification type: "info", "success", "warning" or "failure".
    notify_type: str = "info"


def render(event: NotificationEvent, channel_url: str, redact: Callable[[str], str]) -> RenderedMessage:
    """Build the message for ``event`` in the form that suits the channel at ``channel_url``.

    ``redact`` removes the configured secrets. Token shapes that finding
    text commonly carries (bearer tokens, API keys, JWTs) are masked as well.
    """

    def clean(text: str) -> str:
        return mask_tokens(redact(text))

    facts = _Facts.from_event(event, channel_url, clean)
    style = channel_style(channel_url)
    title = _title(facts)
    if style == "email":
        message = RenderedMessage(f"{SUBJECT_PREFIX} {title}", _text_body(facts), TEXT)
    elif style == "slack":
        message = RenderedMessage(title, _slack_body(facts), MARKDOWN)
    elif style == "text":
        message = RenderedMessage(title, _text_body(facts), TEXT)
    else:
        message = RenderedMessage(title, _markdown_body(facts), MARKDOWN)

    # Each piece was cleaned already. This pass catches a configured secret
    # that only appears once the pieces are joined.
    return RenderedMessage(redact(message.title), redact(message.body), message.body_format, _NOTIFY_TYPES.get(event.kind, "info"))


def channel_style(channel_url: str) -> str:
    """Return the message form for a channel: "slack", "email", "text" or "markdown"."""
    parts = urlsplit(channel_url)
    scheme = parts.scheme.lower()
    if scheme == "slack" or (scheme == "https" and (parts.hostname or "") == _SLACK_WEBHOOK_HOST):
        return "slack"
    if scheme in _EMAIL_SCHEMES:
        return "email"
    if scheme in _TEXT_SCHEMES:
        return "text"
    return "markdown"


# --- Facts shared by every form ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    """The cleaned pieces of one event that every message form is built from."""

    kind: str
    check_id: str
    # The check's name when it differs from its id, else empty.
    name: str
    site: str
    status: str
    reason: str
    severity: str
    # The top findings' messages, most severe first.
    findings: list[str]
    summary: str
    since: str | None
    failing_for: str | None
    resolved_at: str | None
    lasted: str | None
    sent_at: str
    check_url: str | None
    channel: str

    @classmethod
    def from_event(cls, event: NotificationEvent, channel_url: str, clean: Callable[[str], str]) -> _Facts:
        findings = [clean(finding.message) for finding in top_findings(event.findings)]
        summary = shorten_message(findings[0]) if findings else f"status {event.status} ({event.reason})"
        check_part = event.check_id.rpartition("/")[2]
        name = event.check_name if event.check_name not in ("", check_part, event.check_id) else ""
        resolved_at = event.resolved_at or event.at
        return cls(
            kind=event.kind,
            check_id=clean(event.check_id),
            name=clean(name),
            site=clean(event.site),
            status=event.status,
            reason=event.reason,
            severity=event.severity,
            findings=findings,
            summary=summary,
            since=_utc_text(event.opened_at) if event.opened_at else None,
            failing_for=format_duration(_seconds(event.opened_at, event.at)) if event.opened_at else None,
            resolved_at=_utc_text(resolved_at),
            lasted=format_duration(_seconds(event.opened_at, resolved_at)) if event.opened_at else None,
            sent_at=_utc_text(event.at),
            check_url=clean(event.check_url) if event.check_url else None,
            channel=clean(describe_channel(channel_url)),
        )


def top_findings(findings: list[Finding]) -> list[Finding]:
    """Return the most severe findings first, keeping their order among equals, at most 3."""
    ranked = sorted(findings, key=lambda finding: _SEVERITY_RANK.get(finding.severity, 0), reverse=True)
    return ranked[:MAX_EVENT_FINDINGS]


def describe_channel(channel_url: str) -> str:
    """Name a channel without its secrets, such as "Slack channel slack://T...2/B...D/x...z".

    Apprise's privacy URL keeps only the first and last character of each
    token and hides passwords. The query string is dropped as noise.
    """
    scheme = urlsplit(channel_url).scheme.lower() or "unknown"
    with apprise.LogCapture(level=logging.WARNING):
        plugin = apprise.Apprise.instantiate(channel_url, suppress_exceptions=True)
    if plugin is None:
        return f"a {scheme}:// channel"
    private = urlsplit(plugin.url(privacy=True))
    visible_url = unquote(private._replace(query="", fragment="").geturl()).rstrip("/")
    return f"{plugin.service_name} channel {visible_url}"


# --- Titles -------------------------------------------------------------------


def _title(facts: _Facts) -> str:
    word = _TITLE_WORDS.get(facts.kind, facts.kind.upper())
    if facts.kind == TEST:
        return f"{word} notification from launchwatch"
    if facts.kind == RESOLVED:
        return f"{word} {facts.check_id} after {facts.lasted}" if facts.lasted else f"{word} {facts.check_id}"
    if facts.kind in (REMINDER, ESCALATION) and facts.failing_for:
        return f"{word} {facts.check_id} failing for {facts.failing_for}: {facts.summary}"
    return f"{word} {facts.check_id}: {facts.summary}"


def shorten_message(message: str, max_chars: int = MAX_SUMMARY_CHARS) -> str:
    """Cut a finding message to its first clause or sentence, at most ``max_chars`` long.

    Finding messages put the observation first and the fix after a semicolon
    or a full stop, so the first clause is what a subject line needs.
    """
    text = " ".join(message.split())
    end = re.search(r";|\.(?=\s|$)", text)
    if end:
        text = text[: end.start()]
    text = text.rstrip(" ,:;")
    if len(text) <= max_chars:
        return text

    cut = text.rfind(" ", 0, max_chars)
    # A cut far before the limit would drop most of the text, so such a
    # message is cut inside its long word instead.
    if cut < max_chars // 2:
        cut = max_chars - 1
    return text[:cut].rstrip(" ,:;") + "…"


# --- Bodies ---------------------------------------------------------------------


def _headline(facts: _Facts, check_label: str, escape: Callable[[str], str]) -> str:
    """Return the sentence about what happened to the check and since when.

    ``check_label`` names the check, already formatted. ``escape`` prepares other
    free text for the message's format.
    """
    since = f" since {facts.since} (for {facts.failing_for})" if facts.since else ""
    if facts.kind == OPENED:
        return f"{check_label} is failing{since}."
    if facts.kind == REMINDER:
        if not facts.since:
            return f"{check_label} is still failing."
        return f"{check_label} is still failing, for {facts.failing_for} now (since {facts.since})."
    if facts.kind == ESCALATION:
        if not facts.since:
            return f"{check_label} has been failing longer than the escalation delay."
        return f"{check_label} has been failing for {facts.failing_for} (since {facts.since}), longer than the escalation delay."
    if facts.kind == RESOLVED:
        if not facts.since:
            return f"{check_label} recovered at {facts.resolved_at}."
        return f"{check_label} recovered after {facts.lasted} (failing from {facts.since} to {facts.resolved_at})."
    if facts.kind == TEST:
        about = f" ({escape(facts.name)})" if facts.name else ""
        channel = escape(facts.channel)
        return f"This is a test notification from launchwatch{about}, sent through {channel}. If you can read it, this channel works."
    return f"{check_label}: {facts.kind} notification."


def _text_body(facts: _Facts) -> str:
    label = f"{facts.name} ({facts.check_id})" if facts.name else facts.check_id
    lines = [_headline(facts, f"{label} on site {facts.site}", _unchanged), ""]
    if facts.kind == TEST:
        lines.append(f"Sent at: {facts.sent_at}")
        return "\n".join(lines)

    lines.append(f"Status: {facts.status} ({facts.reason}), severity {facts.severity}")
    if facts.findings:
        lines += ["", "Findings:"]
        lines += [f"- {finding}" for finding in facts.findings]
    if facts.check_url:
        lines += ["", f"Check page: {facts.check_url}"]
    return "\n".join(lines)


def _markdown_body(facts: _Facts) -> str:
    lines = [_headline(facts, _markdown_check_label(facts, escape_markdown), escape_markdown), ""]
    if facts.kind == TEST:
        lines.append(f"Sent at: {facts.sent_at}")
        return "\n".join(lines)

    lines.append(f"**Status:** {facts.status} ({facts.reason}), severity {facts.severity}")
    if facts.findings:
        lines += ["", "**Findings**", ""]
        lines += [f"- {escape_markdown(finding)}" for finding in facts.findings]
    if facts.check_url:
        lines += ["", f"[Open the check page]({_link_target(facts.check_url)})"]
    return "\n".join(lines)


def _slack_body(facts: _Facts) -> str:
    """Return one headline, up to 3 findings as bullets and the link, in CommonMark.

    Apprise turns CommonMark into Slack's mrkdwn. Slack shows backslash
    escapes literally, so only the characters that would form links or
    tags are escaped.
    """
    lines = [_headline(facts, _markdown_check_label(facts, escape_slack), escape_slack)]
    if facts.kind == TEST:
        return "\n".join(lines)
    lines += [f"- {escape_slack(finding)}" for finding in facts.findings]
    if facts.check_url:
        lines.append(f"[Open the check page]({_link_target(facts.check_url)})")
    return "\n".join(lines)


def _markdown_check_label(facts: _Facts, escape: Callable[[str], str]) -> str:
    # Check ids and site names contain only letters, digits, '.', '_' and
    # '-', so a code span shows them as they are.
    if facts.name:
        return f"**{escape(facts.name)}** (`{facts.check_id}`) on site `{facts.site}`"
    return f"`{facts.check_id}` on site `{facts.site}`"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_SLACK_SPECIAL = re.compile(r"([\[\]<>])")


def escape_markdown(text: str) -> str:
    """Escape text so CommonMark shows it literally, raw HTML included."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _unchanged(text: str) -> str:
    return text


def escape_slack(text: str) -> str:
    return _SLACK_SPECIAL.sub(r"\\\1", text)


def _link_target(url: str) -> str:
    # Spaces and parentheses would end a markdown link target early.
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


# --- Times and durations --------------------------------------------------------


def format_duration(seconds: float) -> str:
    """Format a duration for people, rounded down: "45 s", "12 min", "2 h 5 min", "3 d 4 h"."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _seconds(start: datetime | None, end: datetime) -> float:
    if start is None:
        return 0.0
    return (_as_utc(end) - _as_utc(start)).total_seconds()


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes, as some databases return them, are taken as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_text(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


# --- Token masking --------------------------------------------------------------

_MASK = "…[redacted]"
# Scheme words of an Authorization header, kept so the reader knows the kind of credential.
_AUTH_SCHEMES = "basic|bearer|token|digest|apikey|negotiate"


def _looks_like_token(value: str) -> bool:
    # "Bearer authentication" in prose is not a token. A real token is long
    # or mixes in digits or punctuation.
    return len(value) >= 16 or any(char.isdigit() or char in "-._~+/=" for char in value)


def _mask_authorization(match: re.Match[str]) -> str:
    scheme = f"{match['scheme']} " if match["scheme"] else ""
    return f"{match['name']}{scheme}{_MASK}"


def _mask_bearer(match: re.Match[str]) -> str:
    if not _looks_like_token(match["token"]):
        return match[0]
    return f"{match['word']}{_MASK}"


# Each pattern with its replacement, applied in order. The Authorization
# pattern runs first because its value may itself be a bearer token or JWT.
_TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(
            rf"(?P<name>\b(?i:authorization)\"?\s*[:=]\s*\"?)(?:(?P<scheme>(?i:{_AUTH_SCHEMES}))\s+)?"
            rf"(?!(?i:{_AUTH_SCHEMES})\s)(?!…)[^\s,;\"'…]+"
        ),
        _mask_authorization,
    ),
    (re.compile(r"(?P<word>\b(?i:bearer)\s+)(?P<token>[A-Za-z0-9\-._~+/]{8,}=*)"), _mask_bearer),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), f"eyJ{_MASK}"),
    # Stripe secret and restricted keys.
    (re.compile(r"\b((?:sk|rk)_(?:live|test)_)[A-Za-z0-9]{8,}"), rf"\1{_MASK}"),
    # Slack bot, user, app-level and refresh tokens.
    (re.compile(r"\b(xox[abpr]-)[A-Za-z0-9-]{8,}"), rf"\1{_MASK}"),
    # AWS access key ids: long-term (AKIA) and temporary (ASIA).
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), rf"\1{_MASK}"),
    (
        re.compile(r"\b([A-Za-z0-9_-]*(?i:password|passwd|pwd|token|secret|api[_-]?key))=(?!\[redacted\])[^&\s#\"'<>]+"),
        r"\1=[redacted]",
    ),
    # The password in a URL's user info, such as https://user:pass@host.
    (re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
)


def mask_tokens(text: str) -> str:
    """Mask credentials by their shape, keeping a short prefix such as ``sk_live_…[redacted]``."""
    for pattern, replacement in _TOKEN_PATTERNS:
        text = pattern.sub(replacement, text)
    return text

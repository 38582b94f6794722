"""The ``http`` probe: one request, then checks on status, body and response time."""

from __future__ import annotations

import asyncio
import codecs
import re
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from multidict import CIMultiDictProxy
from yarl import URL

from launchwatch.probes.context import ProbeContext, Target
from launchwatch.probes.errors import translate_network_error
from launchwatch.probes.options import Duration, check_ca_file
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status

METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
MAX_REDIRECTS = 10
_READ_CHUNK_BYTES = 64 * 1024
_STATUS_CLASS = re.compile(r"^[1-5]xx$")
# Maximum length of configured or received text quoted in a finding.
_QUOTE_LIMIT = 80


class HttpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = "GET"
    # Appended to the site's base_url; set at most one of path and url.
    path: str | None = None
    # An absolute http:// or https:// URL, for a check outside the site's base_url.
    url: str | None = None
    # Exact codes such as 200 or classes such as "2xx".
    expect_status: list[int | str] = Field(default_factory=lambda: [200])
    body_contains: list[str] = Field(default_factory=list)
    body_regex: str | None = None
    body_not_contains: list[str] = Field(default_factory=list)
    # Seconds from sending the request to the end of the body; slower results warn.
    max_response_time: Duration | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = False
    # Bytes of body read before the check fails; unset means the daemon's limit.
    max_body_bytes: int | None = Field(default=None, ge=1)
    # A CA bundle (PEM) to trust for this check instead of the daemon's default.
    ca_file: str | None = None

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        method = value.upper()
        if method not in METHODS:
            raise ValueError(f"invalid method {value!r}; use one of: {', '.join(METHODS)}")
        return method

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            raise ValueError(f"path {value!r} is an absolute URL; set it as url instead, or write only the path such as /health")
        return value

    @field_validator("url")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = URL(value)
        if parts.scheme not in ("http", "https") or not parts.host:
            raise ValueError(f"invalid url {value!r}; write an absolute http:// or https:// URL such as https://app.example.com/health")
        if parts.user or parts.password:
            raise ValueError(f"url {_without_credentials(value)!r} contains credentials; send them in headers (Authorization) instead, so they stay out of logs")
        return value

    @field_validator("expect_status", mode="before")
    @classmethod
    def _status_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | str) else value

    @field_validator("expect_status")
    @classmethod
    def _status_patterns(cls, value: list[int | str]) -> list[int | str]:
        if not value:
            raise ValueError("expect_status is empty; list at least one status code such as 200 or a class such as 2xx")
        patterns: list[int | str] = []
        for item in value:
            if isinstance(item, str) and item.isdigit():
                item = int(item)
            if isinstance(item, str):
                item = item.lower()
                if not _STATUS_CLASS.match(item):
                    raise ValueError(f"invalid expect_status entry {item!r}; write a code such as 204 or a class such as 2xx")
            elif not 100 <= item <= 599:
                raise ValueError(f"invalid expect_status entry {item}; HTTP status codes range from 100 to 599")
            patterns.append(item)
        return patterns

    @field_validator("body_contains", "body_not_contains", mode="before")
    @classmethod
    def _text_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid body_regex {value!r}: {exc}; fix the pattern (Python re syntax)") from None
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        return check_ca_file(value)

    @model_validator(mode="after")
    def _consistent(self) -> HttpOptions:
        if self.path is not None and self.url is not None:
            raise ValueError(
                f"both path {self.path!r} and url {self.url!r} are set; "
                "use path for a page of the site's base_url, or url for any other address, not both"
            )
        if self.method == "HEAD" and self.has_body_checks:
            raise ValueError("body checks need a response body, but HEAD responses have none; use method GET")
        return self

    @property
    def has_body_checks(self) -> bool:
        return bool(self.body_contains or self.body_not_contains or self.body_regex is not None)

    def request_url(self, target: Target) -> str:
        """Return the URL the probe requests: ``url``, or ``path`` appended to the base URL."""
        if self.url is not None:
            return self.url
        if self.path is None:
            return target.base_url
        return target.base_url.rstrip("/") + "/" + self.path.lstrip("/")

    def describe_target(self, target: Target) -> str:
        """Return the requested URL without user:password, for logs and findings."""
        return _without_credentials(self.request_url(target))

    def expects(self, status: int) -> bool:
        return any(pattern == status or (isinstance(pattern, str) and pattern[0] == str(status)[0]) for pattern in self.expect_status)


@dataclass
class _Exchange:
    """State of one request so far, kept for a partial result after an error."""

    url: str
    started: float
    # Maximum body bytes to read, from the options or the daemon's limit.
    cap: int
    phase: str = "connecting"
    ttfb_s: float | None = None
    status: int | None = None
    body_bytes: int | None = None
    findings: list[tuple[Reason, Finding]] = field(default_factory=list)


async def probe(options: HttpOptions, ctx: ProbeContext) -> ProbeResult:
    """Send one request and check its status, body and response time."""
    started_at = ctx.clock.now()
    exchange = _Exchange(
        url=f"site {ctx.target.site}",
        started=ctx.clock.monotonic(),
        cap=options.max_body_bytes or ctx.max_body_bytes,
    )
    try:
        # Inside the try: a base_url that yarl rejects (port 99999) is a probe error.
        exchange.url = options.describe_target(ctx.target)
        # Problems here (an unreadable ca_file, a bug) are the probe's own, so
        # they stay outside the block that blames the target for errors.
        session = ctx.http_session(ca_file=options.ca_file, headers=dict(options.headers), trace_configs=[_PHASE_TRACE])
        async with session:
            response = await _send(options, ctx, session, exchange)
        if response is not None:
            exchange.findings.extend(_evaluate(options, exchange, response))
    except Exception as exc:
        ctx.logger.exception("http probe of %s failed with an unexpected error", exchange.url)
        finding = Finding(
            code="probe.internal_error",
            severity=Severity.FAIL,
            message=f"the http probe of {exchange.url} failed with an unexpected {type(exc).__name__}: {exc}; see the daemon log for the traceback",
            subject=exchange.url,
        )
        return _result(Status.ERROR, Reason.PROBE_ERROR, started_at, ctx, exchange, [finding])
    findings = [finding for _, finding in exchange.findings]
    status, reason = _verdict(exchange.findings)
    return _result(status, reason, started_at, ctx, exchange, findings)


@dataclass(frozen=True)
class _Response:
    status: int
    headers: CIMultiDictProxy[str]
    charset: str | None
    body: bytes
    too_large: bool
    elapsed_s: float


async def _send(options: HttpOptions, ctx: ProbeContext, session: aiohttp.ClientSession, exchange: _Exchange) -> _Response | None:
    """Send the request, read the body and return the response, or None after a network failure.

    A failure of the target becomes a finding in ``exchange``. Any other
    exception propagates to the caller as a probe error.
    """
    request_body = options.body.encode("utf-8") if options.body is not None else None
    try:
        # The session's total timeout already covers connect, headers and
        # body. This outer deadline keeps the limit even if a session is ever
        # built with another timeout.
        async with asyncio.timeout(ctx.timeout_s):
            async with session.request(
                options.method,
                options.request_url(ctx.target),
                data=request_body,
                allow_redirects=options.follow_redirects,
                max_redirects=MAX_REDIRECTS,
                trace_request_ctx=exchange,
            ) as response:
                # After redirects this is the time to the last response's headers.
                exchange.ttfb_s = ctx.clock.monotonic() - exchange.started
                exchange.status = response.status
                exchange.phase = "reading the response body"
                body, too_large = await _read_body(response, exchange.cap)
                exchange.body_bytes = len(body)
                elapsed = ctx.clock.monotonic() - exchange.started
                if too_large:
                    # Closing drops the connection, so the rest is never received.
                    response.close()
                return _Response(response.status, response.headers, response.charset, body, too_large, elapsed)
    except Exception as exc:
        url = URL(options.request_url(ctx.target))
        translated = translate_network_error(exc, host=url.host or "", port=url.port, timeout_s=ctx.timeout_s, phase=exchange.phase)
        if translated is None:
            raise
        exchange.findings.append(translated)
        return None


def _evaluate(options: HttpOptions, exchange: _Exchange, response: _Response) -> list[tuple[Reason, Finding]]:
    """Check a complete response against the options."""
    findings: list[tuple[Reason, Finding]] = []
    status_expected = options.expects(response.status)
    if not status_expected:
        findings.append((Reason.HTTP_STATUS, _status_unexpected(options, exchange.url, response)))
    if response.too_large:
        findings.append((Reason.BODY_TOO_LARGE, _body_too_large(exchange.url, exchange.cap, options.max_body_bytes is not None)))
    # An error page would fail every body check, which adds noise and no news.
    elif status_expected and options.has_body_checks:
        findings.extend(_check_body(options, exchange.url, response.body, response.charset))
    if options.max_response_time is not None and response.elapsed_s > options.max_response_time:
        findings.append((Reason.SLOW_RESPONSE, _slow_response(exchange.url, response.elapsed_s, options.max_response_time)))
    return findings


def _build_phase_trace() -> aiohttp.TraceConfig:
    """Record the step a request is in, so a timeout finding names the step that did not finish.

    One TraceConfig serves every run: each request passes its _Exchange as
    trace_request_ctx, which saves building the config on every probe.
    """
    trace = aiohttp.TraceConfig()

    async def resolving(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
        context.trace_request_ctx.phase = "resolving the host name (check the dns nameservers or add the host to resolve)"

    async def connecting(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
        context.trace_request_ctx.phase = "connecting"

    async def waiting(session: aiohttp.ClientSession, context: SimpleNamespace, params: Any) -> None:
        context.trace_request_ctx.phase = "waiting for the response headers"

    trace.on_dns_resolvehost_start.append(resolving)
    trace.on_dns_resolvehost_end.append(connecting)
    trace.on_connection_create_start.append(connecting)
    trace.on_connection_create_end.append(waiting)
    trace.freeze()
    return trace


_PHASE_TRACE = _build_phase_trace()


async def _read_body(response: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """Read at most ``cap`` bytes of the body and return them with a too-large flag.

    A declared length over the cap fails without reading, and a longer
    undeclared body stops at the cap, so a huge response is never buffered.
    """
    # A compressed body's declared length does not bound its decoded size.
    if response.content_length is not None and response.content_length > cap and "Content-Encoding" not in response.headers:
        return b"", True
    body = bytearray()
    while len(body) < cap:
        chunk = await response.content.read(min(_READ_CHUNK_BYTES, cap - len(body)))
        if not chunk:
            return bytes(body), False
        body += chunk
    # Reading one more byte distinguishes a body exactly at the cap from a longer one.
    extra = await response.content.read(1)
    return bytes(body), bool(extra)


def _check_body(options: HttpOptions, url: str, body: bytes, charset: str | None) -> list[tuple[Reason, Finding]]:
    encoding = charset or "utf-8"
    source = f"the charset {encoding} from the Content-Type header" if charset else "UTF-8, because the Content-Type header names no charset"
    try:
        text = body.decode(codecs.lookup(encoding).name)
    except LookupError:
        return [(Reason.BODY_DECODE, _fail("http.body_unknown_charset", url, f"the response of {url} declares charset {encoding!r}, which Python does not know; fix the charset in the Content-Type header"))]
    except UnicodeDecodeError as exc:
        bad_byte = body[exc.start : exc.start + 1].hex()
        message = (
            f"the response body of {url} is not valid text in {source}: byte 0x{bad_byte} at offset {exc.start}; "
            "serve the body in the declared charset or declare the charset it uses"
        )
        return [(Reason.BODY_DECODE, _fail("http.body_not_utf8" if encoding.lower().replace("-", "") == "utf8" else "http.body_decode_failed", url, message))]

    findings: list[tuple[Reason, Finding]] = []
    for expected in options.body_contains:
        if expected not in text:
            findings.append((Reason.BODY_MISMATCH, _fail(
                "http.body_missing_text",
                url,
                f"the response body of {url} does not contain {_quote(expected)}; check that the page renders fully, "
                "or update body_contains if the page changed on purpose",
            )))
    # TODO: re.search runs on the event loop, where the deadline cannot stop it, so a
    # catastrophically backtracking body_regex stalls every check of the daemon.
    if options.body_regex is not None and re.search(options.body_regex, text) is None:
        findings.append((Reason.BODY_MISMATCH, _fail(
            "http.body_regex_no_match",
            url,
            f"the response body of {url} does not match body_regex {_quote(options.body_regex)}; check that the page renders fully, "
            "or update the pattern if the page changed on purpose",
        )))
    for forbidden in options.body_not_contains:
        offset = text.find(forbidden)
        if offset >= 0:
            findings.append((Reason.BODY_MISMATCH, _fail(
                "http.body_forbidden_text",
                url,
                f"the response body of {url} contains {_quote(forbidden)} at character {offset}; "
                "the page shows an error or content that should not be served, so check the application logs",
            )))
    return findings


def _status_unexpected(options: HttpOptions, url: str, response: _Response) -> Finding:
    expected = ", ".join(str(pattern) for pattern in options.expect_status)
    message = f"{options.method} {url} returned status {response.status}, expected {expected}"
    location = response.headers.get("Location")
    if 300 <= response.status < 400 and location is not None:
        message += f"; it redirects to {_quote(_without_credentials(location))}, so set follow_redirects: true or add {response.status} to expect_status"
    else:
        message += f"; check the application and proxy logs, or add {response.status} to expect_status if that status is correct"
    return _fail("http.status_unexpected", url, message)


def _body_too_large(url: str, cap: int, from_options: bool) -> Finding:
    where = "the check's max_body_bytes option" if from_options else "the daemon's body limit"
    return _fail(
        "http.body_too_large",
        url,
        f"the response body of {url} is larger than {cap} bytes, the limit set by {where}; "
        "raise max_body_bytes in the check's options if the page really is that large",
    )


def _slow_response(url: str, elapsed: float, limit: float) -> Finding:
    return Finding(
        code="http.slow_response",
        severity=Severity.WARN,
        message=f"{url} took {elapsed:.3f}s to respond, more than max_response_time {limit:g}s; check server load and slow queries, or raise max_response_time",
        subject=url,
    )


def _verdict(findings: list[tuple[Reason, Finding]]) -> tuple[Status, Reason]:
    """Return the status of the worst finding and the reason of the first such finding."""
    for severity, status in ((Severity.FAIL, Status.FAIL), (Severity.WARN, Status.WARN)):
        for reason, finding in findings:
            if finding.severity == severity:
                return status, reason
    return Status.PASS, Reason.OK


def _result(status: Status, reason: Reason, started_at: datetime, ctx: ProbeContext, exchange: _Exchange, findings: list[Finding]) -> ProbeResult:
    duration = ctx.clock.monotonic() - exchange.started
    metrics = {"duration_seconds": duration}
    if exchange.ttfb_s is not None:
        metrics["ttfb_seconds"] = exchange.ttfb_s
    if exchange.status is not None:
        metrics["status_code"] = float(exchange.status)
    if exchange.body_bytes is not None:
        metrics["body_bytes"] = float(exchange.body_bytes)
    return ProbeResult(status=status, reason=reason, started_at=started_at, duration_s=duration, metrics=metrics, findings=findings)


def _without_credentials(url: str) -> str:
    parsed = URL(url)
    if parsed.user is None and parsed.password is None:
        return url
    return str(parsed.with_user(None))


def _quote(text: str) -> str:
    quoted = text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."
    return repr(quoted)


def _fail(code: str, subject: str, message: str) -> Finding:
    return Finding(code=code, severity=Severity.FAIL, message=message, subject=subject)


"""The http probe against real servers on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from pydantic import ValidationError

from launchwatch.probes.context import ProbeContext, SSLContexts, Target, make_dns_resolver
from launchwatch.probes.http import HttpOptions, probe
from launchwatch.probes.result import ProbeResult, Reason, Status
from tests.support.dns import serve_dns
from tests.support.targets import (
    RunningServer,
    drip,
    hold_open,
    send_then_close,
    send_then_reset,
    serve_app,
    serve_raw,
    tls_server_context,
    unused_port,
)

APP_HOST = "app.example.test"
# A nameserver port nothing listens on: a name that misses the resolve map
# fails the lookup at once instead of reaching a real resolver.
DEAD_NAMESERVER = "127.0.0.1:1"
# Nothing replies from the dead nameserver, so each lookup against it waits this long.
DNS_TIMEOUT_S = 0.3
BODY_CAP = 1024 * 1024
LARGE_BODY_BYTES = 50 * 1024 * 1024
# Extra time a test waits beyond the probe's own timeout before declaring it hung.
HANG_GUARD_S = 5.0
GZIPPED_ZEROS = gzip.compress(bytes(5 * 1024 * 1024))
WELCOME = "Welcome to the app. Your plan: Pro."
SECRET_TOKEN = "Bearer s3cr3t-t0ken"


def make_context(
    port: int,
    *,
    scheme: str = "http",
    host: str = APP_HOST,
    resolve: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 5.0,
    nameserver: str = DEAD_NAMESERVER,
    logger: logging.Logger | None = None,
) -> ProbeContext:
    target = Target(
        site="app",
        base_url=f"{scheme}://{host}:{port}",
        resolve={APP_HOST: "127.0.0.1"} if resolve is None else resolve,
        headers=headers or {},
    )
    return ProbeContext(
        target=target,
        timeout_s=timeout_s,
        dns_resolver=make_dns_resolver([nameserver], timeout_s=DNS_TIMEOUT_S),
        ssl_contexts=SSLContexts(),
        logger=logger or logging.getLogger("tests.probes.http"),
        max_body_bytes=BODY_CAP,
    )


async def run_probe(options: HttpOptions, ctx: ProbeContext) -> ProbeResult:
    """Run the probe, failing the test instead of hanging if it ignores its timeout."""
    return await asyncio.wait_for(probe(options, ctx), ctx.timeout_s + HANG_GUARD_S)


def finding_codes(result: ProbeResult) -> list[str]:
    return [finding.code for finding in result.findings]


# -- the application under test ------------------------------------------------


async def ok_page(request: web.Request) -> web.Response:
    return web.Response(text=WELCOME)


async def status_page(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="status page")


async def slow_page(request: web.Request) -> web.Response:
    await asyncio.sleep(0.3)
    return web.Response(text=WELCOME)


async def redirect_page(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/ok")


async def redirect_loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def error_page(request: web.Request) -> web.Response:
    return web.Response(text="Fatal error: database connection refused")


async def latin1_page(request: web.Request) -> web.Response:
    return web.Response(body="Caf\u00e9 open".encode("latin-1"), content_type="text/plain", charset="iso-8859-1")


async def binary_page(request: web.Request) -> web.Response:
    # Bytes that are not UTF-8, served without a charset.
    return web.Response(body=b"Welcome \xff\xfe\x00 garbage", headers={"Content-Type": "text/plain"})


async def unknown_charset_page(request: web.Request) -> web.Response:
    return web.Response(body=b"Welcome", headers={"Content-Type": "text/plain; charset=x-klingon"})


async def gzip_bomb_page(request: web.Request) -> web.Response:
    # A few kilobytes on the wire that decompress to several times the cap.
    return web.Response(body=GZIPPED_ZEROS, headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"})


async def echo_page(request: web.Request) -> web.Response:
    body = await request.text()
    return web.Response(text=f"{request.method} {body} X-Check={request.headers.get('X-Check', '')}")


async def stream_large_body(request: web.Request) -> web.StreamResponse:
    """Stream 50 MB in 1 MB chunks, declaring the length unless ?chunked is set."""
    response = web.StreamResponse()
    if "chunked" in request.query:
        response.enable_chunked_encoding()
    else:
        response.content_length = LARGE_BODY_BYTES
    await response.prepare(request)
    chunk = b"x" * (1024 * 1024)
    try:
        for _ in range(LARGE_BODY_BYTES // len(chunk)):
            await response.write(chunk)
    except ConnectionError:
        pass  # The probe stops reading at its cap and closes the connection.
    return response


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/ok", ok_page)
    app.router.add_get("/status/{code}", status_page)
    app.router.add_get("/slow", slow_page)
    app.router.add_get("/redirect", redirect_page)
    app.router.add_get("/loop", redirect_loop)
    app.router.add_get("/error", error_page)
    app.router.add_get("/latin1", latin1_page)
    app.router.add_get("/binary", binary_page)
    app.router.add_get("/unknown-charset", unknown_charset_page)
    app.router.add_get("/gzip-bomb", gzip_bomb_page)
    app.router.add_route("*", "/echo", echo_page)
    app.router.add_get("/large", stream_large_body)
    return app


@pytest.fixture(scope="module")
def app_server() -> Iterator[RunningServer]:
    with serve_app(build_app()) as server:
        yield server


# -- responses from a working server ---------------------------------------------

RESPONSE_CASES = [
    # (case id, options, expected status, expected reason, expected finding codes)
    ("plain_pass", {"path": "/ok"}, Status.PASS, Reason.OK, []),
    ("default_path_base_url", {}, Status.FAIL, Reason.HTTP_STATUS, ["http.status_unexpected"]),
    ("body_contains_pass", {"path": "/ok", "body_contains": ["Welcome", "Pro."]}, Status.PASS, Reason.OK, []),
    ("body_regex_pass", {"path": "/ok", "body_regex": r"plan: \w+"}, Status.PASS, Reason.OK, []),
    ("wrong_status", {"path": "/status/503"}, Status.FAIL, Reason.HTTP_STATUS, ["http.status_unexpected"]),
    ("status_class_pass", {"path": "/status/204", "expect_status": "2xx"}, Status.PASS, Reason.OK, []),
    ("listed_status_pass", {"path": "/status/404", "expect_status": [200, 404]}, Status.PASS, Reason.OK, []),
    ("redirect_not_followed", {"path": "/redirect"}, Status.FAIL, Reason.HTTP_STATUS, ["http.status_unexpected"]),
    ("redirect_followed", {"path": "/redirect", "follow_redirects": True, "body_contains": "Welcome"}, Status.PASS, Reason.OK, []),
    ("redirect_loop", {"path": "/loop", "follow_redirects": True}, Status.FAIL, Reason.REDIRECT, ["http.too_many_redirects"]),
    ("body_missing_text", {"path": "/ok", "body_contains": "Dashboard"}, Status.FAIL, Reason.BODY_MISMATCH, ["http.body_missing_text"]),
    ("body_regex_no_match", {"path": "/ok", "body_regex": r"plan: Free"}, Status.FAIL, Reason.BODY_MISMATCH, ["http.body_regex_no_match"]),
    ("body_forbidden_text", {"path": "/error", "body_not_contains": "Fatal error"}, Status.FAIL, Reason.BODY_MISMATCH, ["http.body_forbidden_text"]),
    ("declared_charset_decodes", {"path": "/latin1", "body_contains": "Caf\u00e9"}, Status.PASS, Reason.OK, []),
    ("body_not_utf8", {"path": "/binary", "body_contains": "Welcome"}, Status.FAIL, Reason.BODY_DECODE, ["http.body_not_utf8"]),
    ("unknown_charset", {"path": "/unknown-charset", "body_contains": "Welcome"}, Status.FAIL, Reason.BODY_DECODE, ["http.body_unknown_charset"]),
    ("binary_without_body_checks", {"path": "/binary"}, Status.PASS, Reason.OK, []),
    ("slow_response_warns", {"path": "/slow", "max_response_time": "100ms"}, Status.WARN, Reason.SLOW_RESPONSE, ["http.slow_response"]),
    ("fast_enough_pass", {"path": "/ok", "max_response_time": "30s"}, Status.PASS, Reason.OK, []),
    ("head_request", {"path": "/ok", "method": "HEAD"}, Status.PASS, Reason.OK, []),
    ("post_with_body", {"path": "/echo", "method": "POST", "body": "hello", "body_contains": "POST hello"}, Status.PASS, Reason.OK, []),
    ("large_declared_body", {"path": "/large"}, Status.FAIL, Reason.BODY_TOO_LARGE, ["http.body_too_large"]),
    ("large_chunked_body", {"path": "/large?chunked=1"}, Status.FAIL, Reason.BODY_TOO_LARGE, ["http.body_too_large"]),
    ("large_compressed_body", {"path": "/gzip-bomb"}, Status.FAIL, Reason.BODY_TOO_LARGE, ["http.body_too_large"]),
    ("status_before_body_checks", {"path": "/status/500", "body_contains": "Welcome"}, Status.FAIL, Reason.HTTP_STATUS, ["http.status_unexpected"]),
]


@pytest.mark.parametrize(
    ("options", "status", "reason", "codes"),
    [case[1:] for case in RESPONSE_CASES],
    ids=[case[0] for case in RESPONSE_CASES],
)
def test_http_probe_response_checks(app_server: RunningServer, options: dict[str, Any], status: Status, reason: Reason, codes: list[str]) -> None:
    result = asyncio.run(run_probe(HttpOptions.model_validate(options), make_context(app_server.port)))

    assert finding_codes(result) == codes
    assert result.reason == reason
    assert result.status == status


def test_http_probe_pass_metrics(app_server: RunningServer) -> None:
    result = asyncio.run(run_probe(HttpOptions(path="/ok"), make_context(app_server.port)))

    assert result.metrics["status_code"] == 200
    assert result.metrics["body_bytes"] == len(WELCOME.encode())
    assert 0 < result.metrics["ttfb_seconds"] <= result.metrics["duration_seconds"]
    assert result.duration_s == result.metrics["duration_seconds"]


def test_http_probe_status_finding_names_codes(app_server: RunningServer) -> None:
    options = HttpOptions(path="/status/503", expect_status=[200, "3xx"])

    result = asyncio.run(run_probe(options, make_context(app_server.port)))

    message = result.findings[0].message
    assert f"GET http://{APP_HOST}:{app_server.port}/status/503 returned status 503" in message
    assert "expected 200, 3xx" in message
    assert "add 503 to expect_status" in message


def test_http_probe_redirect_finding_names_location(app_server: RunningServer) -> None:
    result = asyncio.run(run_probe(HttpOptions(path="/redirect"), make_context(app_server.port)))

    message = result.findings[0].message
    assert "returned status 301" in message
    assert "redirects to '/ok'" in message
    assert "follow_redirects: true" in message


@pytest.mark.parametrize("path", ["/large", "/large?chunked=1", "/gzip-bomb"], ids=["declared", "chunked", "compressed"])
def test_http_probe_large_body_stops_at_cap(app_server: RunningServer, path: str) -> None:
    result = asyncio.run(run_probe(HttpOptions(path=path), make_context(app_server.port)))

    assert result.reason == Reason.BODY_TOO_LARGE
    assert result.metrics["body_bytes"] <= BODY_CAP
    assert f"larger than {BODY_CAP} bytes" in result.findings[0].message
    assert "raise max_body_bytes" in result.findings[0].message


def test_http_probe_body_cap_from_options(app_server: RunningServer) -> None:
    options = HttpOptions(path="/ok", max_body_bytes=10)

    result = asyncio.run(run_probe(options, make_context(app_server.port)))

    assert result.reason == Reason.BODY_TOO_LARGE
    # The page declares its length, so the probe fails before reading any of it.
    assert result.metrics["body_bytes"] == 0
    assert "larger than 10 bytes, the limit set by the check's max_body_bytes option" in result.findings[0].message


def test_http_probe_body_exactly_at_cap_passes(app_server: RunningServer) -> None:
    options = HttpOptions(path="/ok", max_body_bytes=len(WELCOME.encode()))

    result = asyncio.run(run_probe(options, make_context(app_server.port)))

    assert result.status == Status.PASS
    assert result.metrics["body_bytes"] == len(WELCOME.encode())


def test_http_probe_decode_finding_names_charset(app_server: RunningServer) -> None:
    options = HttpOptions(path="/binary", body_contains="Welcome")

    result = asyncio.run(run_probe(options, make_context(app_server.port)))

    message = result.findings[0].message
    assert "UTF-8, because the Content-Type header names no charset" in message
    assert "byte 0xff at offset 8" in message


def test_http_probe_keeps_header_values_secret(app_server: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    options = HttpOptions(path="/status/401", headers={"Authorization": SECRET_TOKEN})
    ctx = make_context(app_server.port, headers={"X-Api-Key": SECRET_TOKEN})

    with caplog.at_level(logging.DEBUG):
        result = asyncio.run(run_probe(options, ctx))

    assert result.reason == Reason.HTTP_STATUS
    assert all("s3cr3t" not in finding.message for finding in result.findings)
    assert "s3cr3t" not in caplog.text


def test_http_probe_sends_configured_headers(app_server: RunningServer) -> None:
    options = HttpOptions(path="/echo", method="put", body="payload", headers={"X-Check": "on"}, body_contains="PUT payload X-Check=on")

    result = asyncio.run(run_probe(options, make_context(app_server.port)))

    assert result.status == Status.PASS


# -- targets that misbehave at the network level ---------------------------------

NETWORK_CASES = [
    # (case id, raw handler, expected reason, expected finding code, text the message contains)
    ("never_answers", hold_open, Reason.TIMEOUT, "net.timeout", "while waiting for the response headers"),
    (
        "slow_drip_body",
        drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x", 0.05),
        Reason.TIMEOUT,
        "net.timeout",
        "while reading the response body",
    ),
    (
        "closed_mid_body",
        send_then_close(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10),
        Reason.HTTP_PROTOCOL,
        "http.body_incomplete",
        "was cut off or malformed",
    ),
    ("closed_before_response", send_then_close(b""), Reason.HTTP_PROTOCOL, "http.connection_closed", "closed the connection without a complete response"),
    ("reset_before_response", send_then_reset(b""), Reason.TCP_RESET, "net.reset", "reset the connection"),
    ("malformed_status_line", send_then_close(b"HELLO THERE\r\n\r\n"), Reason.HTTP_PROTOCOL, "http.protocol_error", "sent a malformed HTTP response"),
]


@pytest.mark.parametrize(
    ("handler", "reason", "code", "text"),
    [case[1:] for case in NETWORK_CASES],
    ids=[case[0] for case in NETWORK_CASES],
)
def test_http_probe_network_failures(handler: Any, reason: Reason, code: str, text: str) -> None:
    async def scenario() -> ProbeResult:
        async with serve_raw(handler) as server:
            return await run_probe(HttpOptions(path="/"), make_context(server.port, timeout_s=0.5))

    result = asyncio.run(scenario())

    assert result.status == Status.FAIL
    assert result.reason == reason
    assert finding_codes(result) == [code]
    assert text in result.findings[0].message


def test_http_probe_refused_port() -> None:
    port = unused_port()

    result = asyncio.run(run_probe(HttpOptions(path="/"), make_context(port)))

    assert result.status == Status.FAIL
    assert result.reason == Reason.TCP_REFUSED
    assert finding_codes(result) == ["net.refused"]
    assert f"{APP_HOST}:{port} refused the connection" in result.findings[0].message


def test_http_probe_partial_metrics_after_failure() -> None:
    handler = send_then_close(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)

    async def scenario() -> ProbeResult:
        async with serve_raw(handler) as server:
            return await run_probe(HttpOptions(path="/"), make_context(server.port))

    result = asyncio.run(scenario())

    assert result.metrics["status_code"] == 200
    assert "ttfb_seconds" in result.metrics
    assert "body_bytes" not in result.metrics


def test_http_probe_invalid_base_url_port() -> None:
    ctx = make_context(99999)

    result = asyncio.run(run_probe(HttpOptions(path="/"), ctx))

    assert result.status == Status.ERROR
    assert result.reason == Reason.PROBE_ERROR


def test_http_probe_propagates_cancellation() -> None:
    async def scenario() -> None:
        async with serve_raw(hold_open) as server:
            task = asyncio.create_task(probe(HttpOptions(path="/"), make_context(server.port, timeout_s=30.0)))
            await asyncio.sleep(0.2)
            task.cancel()
            await asyncio.wait_for(task, HANG_GUARD_S)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(scenario())


# -- DNS ---------------------------------------------------------------------------


def test_http_probe_nxdomain() -> None:
    with serve_dns({"other.example.test": "127.0.0.1"}) as dns_server:
        ctx = make_context(unused_port(), host="missing.example.test", resolve={}, nameserver=dns_server.nameserver)
        result = asyncio.run(run_probe(HttpOptions(path="/"), ctx))

    assert result.status == Status.FAIL
    assert result.reason == Reason.DNS_NXDOMAIN
    assert finding_codes(result) == ["net.dns_nxdomain"]
    assert "missing.example.test does not exist in DNS (NXDOMAIN)" in result.findings[0].message
    assert ("missing.example.test", "A") in dns_server.resolver.queries


def test_http_probe_dns_resolves_through_nameserver(app_server: RunningServer) -> None:
    with serve_dns({"dns.example.test": "127.0.0.1"}) as dns_server:
        ctx = make_context(app_server.port, host="dns.example.test", resolve={}, nameserver=dns_server.nameserver)
        result = asyncio.run(run_probe(HttpOptions(path="/ok"), ctx))

    assert result.status == Status.PASS


def test_http_probe_unreachable_nameserver() -> None:
    ctx = make_context(unused_port(), host="unmapped.example.test", resolve={})

    result = asyncio.run(run_probe(HttpOptions(path="/"), ctx))

    assert result.status == Status.FAIL
    assert result.reason == Reason.DNS_ERROR
    assert finding_codes(result) == ["net.dns_error"]
    assert "looking up unmapped.example.test" in result.findings[0].message


# -- TLS ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(test_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return str(path)


def _expired() -> dict[str, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return {"not_before": now - dt.timedelta(days=30), "not_after": now - dt.timedelta(days=1)}


TLS_CASES = [
    # (case id, certificate names, issue options, trust the test CA, expected reason, expected finding codes)
    ("valid_with_ca_file", [APP_HOST], {}, True, Reason.OK, []),
    ("untrusted_ca", [APP_HOST], {}, False, Reason.TLS_UNTRUSTED, ["tls.cert_untrusted"]),
    ("wrong_hostname", ["other.example.test"], {}, True, Reason.TLS_HOSTNAME, ["tls.hostname_mismatch"]),
    ("expired", [APP_HOST], _expired(), True, Reason.TLS_EXPIRED, ["tls.cert_expired"]),
]


@pytest.mark.parametrize(
    ("names", "issue_options", "trusted", "reason", "codes"),
    [case[1:] for case in TLS_CASES],
    ids=[case[0] for case in TLS_CASES],
)
def test_http_probe_tls(
    test_ca: trustme.CA,
    ca_file: str,
    names: list[str],
    issue_options: dict[str, Any],
    trusted: bool,
    reason: Reason,
    codes: list[str],
) -> None:
    server_context = tls_server_context(test_ca, *names, **issue_options)
    options = HttpOptions(path="/ok", ca_file=ca_file if trusted else None)

    with serve_app(build_app(), ssl_context=server_context) as server:
        result = asyncio.run(run_probe(options, make_context(server.port, scheme="https")))

    assert finding_codes(result) == codes
    assert result.reason == reason


def test_http_probe_https_to_plain_port(app_server: RunningServer, ca_file: str) -> None:
    options = HttpOptions(path="/ok", ca_file=ca_file)

    result = asyncio.run(run_probe(options, make_context(app_server.port, scheme="https")))

    assert result.status == Status.FAIL
    assert result.reason == Reason.TLS_ERROR
    assert finding_codes(result) == ["tls.handshake_failed"]


# -- errors of the probe itself ------------------------------------------------------


def test_http_ca_file_broken_after_load(app_server: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    options = HttpOptions(path="/ok", ca_file=str(bundle))
    # The file changes after the config loaded, as when someone edits it on disk.
    bundle.write_text("this is not a certificate\n")

    with caplog.at_level(logging.ERROR, logger="tests.probes.http"):
        result = asyncio.run(run_probe(options, make_context(app_server.port, scheme="https")))

    assert result.status == Status.ERROR
    assert result.reason == Reason.PROBE_ERROR
    assert finding_codes(result) == ["probe.internal_error"]
    assert "http probe of https://app.example.test" in caplog.text


# -- options ---------------------------------------------------------------------------

def test_http_options_reject_non_pem_ca_file(tmp_path: Path) -> None:
    not_a_bundle = tmp_path / "ca.pem"
    not_a_bundle.write_text("this is not a certificate\n")

    with pytest.raises(ValidationError) as raised:
        HttpOptions(path="/ok", ca_file=str(not_a_bundle))

    assert f"ca_file '{not_a_bundle}' is not a PEM bundle of CA certificates OpenSSL can load" in str(raised.value)


INVALID_OPTIONS = [
    # (case id, options, error location, exact pydantic message)
    (
        "path_and_url",
        {"path": "/health", "url": "http://status.example.test/health"},
        (),
        "Value error, both path '/health' and url 'http://status.example.test/health' are set; "
        "use path for a page of the site's base_url, or url for any other address, not both",
    ),
    (
        "bad_regex",
        {"body_regex": "plan: (Pro"},
        ("body_regex",),
        "Value error, invalid body_regex 'plan: (Pro': missing ), unterminated subpattern at position 6; fix the pattern (Python re syntax)",
    ),
    (
        "bad_method",
        {"method": "FETCH"},
        ("method",),
        "Value error, invalid method 'FETCH'; use one of: DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
    ),
    ("unknown_key", {"colour": "red"}, ("colour",), "Extra inputs are not permitted"),
    (
        "bad_duration",
        {"max_response_time": "fast"},
        ("max_response_time",),
        "Value error, invalid duration 'fast'; write a number of seconds or a duration like 30s, 5m or 1h",
    ),
    (
        "bad_status_class",
        {"expect_status": ["2xy"]},
        ("expect_status",),
        "Value error, invalid expect_status entry '2xy'; write a code such as 204 or a class such as 2xx",
    ),
    (
        "status_out_of_range",
        {"expect_status": [700]},
        ("expect_status",),
        "Value error, invalid expect_status entry 700; HTTP status codes range from 100 to 599",
    ),
    (
        "head_with_body_check",
        {"method": "HEAD", "body_contains": "Welcome"},
        (),
        "Value error, body checks need a response body, but HEAD responses have none; use method GET",
    ),
    (
        "url_not_http",
        {"url": "ftp://files.example.test/"},
        ("url",),
        "Value error, invalid url 'ftp://files.example.test/'; write an absolute http:// or https:// URL such as https://app.example.com/health",
    ),
    (
        "url_with_credentials",
        {"url": "https://admin:hunter2@app.example.test/"},
        ("url",),
        "Value error, url 'https://app.example.test/' contains credentials; send them in headers (Authorization) instead, so they stay out of logs",
    ),
    (
        "absolute_path",
        {"path": "https://app.example.test/health"},
        ("path",),
        "Value error, path 'https://app.example.test/health' is an absolute URL; set it as url instead, or write only the path such as /health",
    ),
    (
        "missing_ca_file",
        {"ca_file": "/nonexistent/ca.pem"},
        ("ca_file",),
        "Value error, ca_file '/nonexistent/ca.pem' not found; write the path of a PEM file with the CA certificates to trust",
    ),
    ("zero_body_cap", {"max_body_bytes": 0}, ("max_body_bytes",), "Input should be greater than or equal to 1"),
]


@pytest.mark.parametrize(
    ("options", "location", "message"),
    [case[1:] for case in INVALID_OPTIONS],
    ids=[case[0] for case in INVALID_OPTIONS],
)
def test_http_options_rejects_invalid(options: dict[str, Any], location: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpOptions.model_validate(options)

    errors = caught.value.errors()
    assert len(errors) == 1
    assert errors[0]["loc"] == location
    assert errors[0]["msg"] == message


def test_http_options_normalizes_values() -> None:
    options = HttpOptions.model_validate(
        {"method": "post", "expect_status": ["2xx", "301"], "body_contains": "Welcome", "max_response_time": "500ms"}
    )

    assert options.method == "POST"
    assert options.expect_status == ["2xx", 301]
    assert options.body_contains == ["Welcome"]
    assert options.max_response_time == 0.5


DESCRIBE_CASES = [
    # (case id, base_url, options, described URL)
    ("base_url_only", "https://app.example.test", {}, "https://app.example.test"),
    ("path_joined", "https://app.example.test/", {"path": "/health"}, "https://app.example.test/health"),
    ("path_under_prefix", "https://app.example.test/portal", {"path": "health?full=1"}, "https://app.example.test/portal/health?full=1"),
    ("absolute_url", "https://app.example.test", {"url": "http://status.example.test/up"}, "http://status.example.test/up"),
    ("credentials_hidden", "https://admin:hunter2@app.example.test", {"path": "/"}, "https://app.example.test/"),
]


@pytest.mark.parametrize(
    ("base_url", "options", "described"),
    [case[1:] for case in DESCRIBE_CASES],
    ids=[case[0] for case in DESCRIBE_CASES],
)
def test_http_options_describe_target(base_url: str, options: dict[str, Any], described: str) -> None:
    target = Target(site="app", base_url=base_url)

    assert HttpOptions.model_validate(options).describe_target(target) == described

"""The redirects probe against a real nginx on loopback: one HTTP and one HTTPS port, a host name per case."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from launchwatch.probes import redirects
from launchwatch.probes.context import ProbeContext, SSLContexts, Target, make_dns_resolver
from launchwatch.probes.result import ProbeResult, Reason, Status
from tests.support import pki
from tests.support.nginx import free_port, running_nginx

pytestmark = pytest.mark.timeout(60)

HSTS = 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;'
COOKIE_VALUE = "s3cr3t-session-value"

# name -> (server block body on the HTTP port, body on the HTTPS port). The
# fixture replaces {http} and {https} in the bodies with the two ports.
SERVERS: dict[str, tuple[str, str]] = {
    "good.example.test": (
        "return 301 https://good.example.test:{https}$request_uri;",
        f'{HSTS} return 200 "ok\\n";',
    ),
    "www.good.example.test": (
        "return 301 https://www.good.example.test:{https}$request_uri;",
        f"{HSTS} return 301 https://good.example.test:{{https}}$request_uri;",
    ),
    "temporary.example.test": (
        "return 302 https://temporary.example.test:{https}$request_uri;",
        f'{HSTS} return 200 "ok\\n";',
    ),
    "loop.example.test": (
        "return 301 https://loop.example.test:{https}/;",
        "return 301 https://www.loop.example.test:{https}/;",
    ),
    "www.loop.example.test": (
        "return 301 https://www.loop.example.test:{https}/;",
        "return 301 https://loop.example.test:{https}/;",
    ),
    "downgrade.example.test": (
        'return 200 "plain\\n";',
        "return 301 http://downgrade.example.test:{http}/landing;",
    ),
    "plain.example.test": (
        'return 200 "plain\\n";',
        f'{HSTS} return 200 "ok\\n";',
    ),
    "nohsts.example.test": (
        "return 301 https://nohsts.example.test:{https}$request_uri;",
        'return 200 "ok\\n";',
    ),
    "shorthsts.example.test": (
        "return 301 https://shorthsts.example.test:{https}$request_uri;",
        'add_header Strict-Transport-Security "max-age=300"; return 200 "ok\\n";',
    ),
    "www.hsts.example.test": (
        "return 301 https://www.hsts.example.test:{https}$request_uri;",
        f"{HSTS} return 301 https://hsts.example.test:{{https}}$request_uri;",
    ),
    "hsts.example.test": (
        "return 301 https://hsts.example.test:{https}$request_uri;",
        'return 200 "ok\\n";',
    ),
    "cookie.example.test": (
        "return 301 https://cookie.example.test:{https}$request_uri;",
        f'{HSTS} add_header Set-Cookie "session={COOKIE_VALUE}; Path=/; HttpOnly"; return 200 "ok\\n";',
    ),
    "www.split.example.test": (
        "return 301 https://www.split.example.test:{https}$request_uri;",
        f'{HSTS} add_header Set-Cookie "sid={COOKIE_VALUE}; Domain=www.split.example.test; Path=/; Secure"; '
        "return 301 https://split.example.test:{https}$request_uri;",
    ),
    "www.hostonly.example.test": (
        "return 301 https://www.hostonly.example.test:{https}$request_uri;",
        f'{HSTS} add_header Set-Cookie "sid={COOKIE_VALUE}; Path=/; Secure"; '
        "return 301 https://hostonly.example.test:{https}$request_uri;",
    ),
    "split.example.test": ("return 404;", f'{HSTS} return 200 "ok\\n";'),
    "hostonly.example.test": ("return 404;", f'{HSTS} return 200 "ok\\n";'),
    "elsewhere.example.test": (
        "return 404;",
        "return 301 https://other.example.test:{https}/;",
    ),
    "other.example.test": ("return 404;", f'{HSTS} return 200 "ok\\n";'),
    # Relative Locations, four hops: /a -> /b -> /c -> /d -> /e.
    "long.example.test": (
        "return 404;",
        f"""absolute_redirect off; {HSTS}
        location = /a {{ return 301 /b; }}
        location = /b {{ return 301 /c; }}
        location = /c {{ return 301 /d; }}
        location = /d {{ return 301 /e; }}
        location / {{ return 200 "ok\\n"; }}""",
    ),
}


@dataclass
class Site:
    http_port: int
    https_port: int
    ca_file: Path

    def http(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.http_port}{path}"

    def https(self, host: str, path: str = "/") -> str:
        return f"https://{host}:{self.https_port}{path}"


def fill_ports(body: str, http_port: int, https_port: int) -> str:
    return body.replace("{http}", str(http_port)).replace("{https}", str(https_port))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("redirects-nginx")
    root = pki.make_root("launchwatch test root")
    leaf = pki.make_leaf(root, list(SERVERS))
    ca_file = pki.write_pem(directory / "ca.pem", root)
    cert_path = pki.write_pem(directory / "site.pem", leaf)
    key_path = pki.write_key(directory / "site.key", leaf)

    http_port = free_port()
    https_port = free_port()
    blocks = []
    for name, (http_body, https_body) in SERVERS.items():
        blocks.append(
            f"""
    server {{
        listen 127.0.0.1:{http_port};
        server_name {name};
        {fill_ports(http_body, http_port, https_port)}
    }}
    server {{
        listen 127.0.0.1:{https_port} ssl;
        server_name {name};
        ssl_certificate {cert_path};
        ssl_certificate_key {key_path};
        {fill_ports(https_body, http_port, https_port)}
    }}"""
        )
    with running_nginx(directory, "\n".join(blocks), [http_port, https_port]):
        yield Site(http_port=http_port, https_port=https_port, ca_file=ca_file)


# Bounds a probe that ignores its own timeout, so the test fails instead of hanging.
HANG_GUARD_S = 5.0
# aiohttp closes TLS connections with a close_notify exchange that runs on
# after the session closes. Letting it finish before asyncio.run() closes the
# loop avoids "unclosed transport" warnings; the daemon's loop never closes early.
TLS_CLOSE_GRACE_S = 0.05


def run(options: redirects.RedirectsOptions, ctx: ProbeContext) -> ProbeResult:
    async def guarded() -> ProbeResult:
        result = await asyncio.wait_for(redirects.probe(options, ctx), ctx.timeout_s + HANG_GUARD_S)
        await asyncio.sleep(TLS_CLOSE_GRACE_S)
        return result

    return asyncio.run(guarded())


def make_context(site: Site, base_url: str, timeout_s: float = 10.0) -> ProbeContext:
    return ProbeContext(
        target=Target(site="shop", base_url=base_url, resolve={name: "127.0.0.1" for name in SERVERS}),
        timeout_s=timeout_s,
        # Nothing listens on port 1: a name missing from `resolve` fails loudly.
        dns_resolver=make_dns_resolver(["127.0.0.1:1"], timeout_s=1.0),
        ssl_contexts=SSLContexts(default_ca_file=str(site.ca_file)),
        logger=logging.getLogger("tests.redirects"),
    )


def run_probe(site: Site, entries: list[str], canonical: str, **options: object) -> ProbeResult:
    parsed = redirects.RedirectsOptions.model_validate({"entries": entries, "canonical": canonical, **options})
    return run(parsed, make_context(site, canonical))


def codes(result: ProbeResult) -> list[str]:
    return sorted(finding.code for finding in result.findings)


# name: (entries as (scheme, host, path), canonical host, options, status, codes)
CASES = {
    "http_to_https_to_canonical": (
        [("http", "good", "/"), ("https", "good", "/"), ("http", "www.good", "/"), ("https", "www.good", "/")],
        "good",
        {"require_include_subdomains": True},
        Status.PASS,
        [],
    ),
    "302_instead_of_301": ([("http", "temporary", "/")], "temporary", {}, Status.WARN, ["redirects.temporary"]),
    "302_allowed": ([("http", "temporary", "/")], "temporary", {"allow_temporary": True}, Status.PASS, []),
    "www_apex_loop": ([("https", "loop", "/")], "loop", {}, Status.FAIL, ["redirects.loop"]),
    "downgrade_on_last_hop": ([("https", "downgrade", "/")], "downgrade", {}, Status.FAIL, ["redirects.downgrade"]),
    "http_not_redirected": ([("http", "plain", "/")], "plain", {}, Status.FAIL, ["redirects.no_https"]),
    "wrong_destination": ([("https", "elsewhere", "/")], "elsewhere", {}, Status.FAIL, ["redirects.wrong_destination"]),
    "hsts_missing": ([("http", "nohsts", "/")], "nohsts", {}, Status.WARN, ["redirects.hsts_missing"]),
    "hsts_short": ([("http", "shorthsts", "/")], "shorthsts", {}, Status.WARN, ["redirects.hsts_short"]),
    "hsts_without_subdomains": (
        [("http", "shorthsts", "/")],
        "shorthsts",
        {"hsts_min_age": 300, "require_include_subdomains": True},
        Status.WARN,
        ["redirects.hsts_no_subdomains"],
    ),
    "hsts_only_on_redirect": ([("https", "www.hsts", "/")], "hsts", {}, Status.WARN, ["redirects.hsts_only_on_redirect"]),
    "insecure_cookie": ([("http", "cookie", "/")], "cookie", {}, Status.WARN, ["redirects.cookie_insecure"]),
    "cookie_domain_www": ([("https", "www.split", "/")], "split", {}, Status.WARN, ["redirects.cookie_domain_split"]),
    "cookie_host_only_www": ([("https", "www.hostonly", "/")], "hostonly", {}, Status.WARN, ["redirects.cookie_domain_split"]),
    "extra_hops": ([("https", "long", "/a")], "long", {}, Status.WARN, ["redirects.extra_hops"]),
    "too_many_hops": ([("https", "long", "/a")], "long", {"max_hops": 2}, Status.FAIL, ["redirects.too_many_hops"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_redirects_case(site: Site, case: str) -> None:
    entries, canonical_host, options, status, expected = CASES[case]
    urls = [site.http(f"{host}.example.test", path) if scheme == "http" else site.https(f"{host}.example.test", path) for scheme, host, path in entries]

    result = run_probe(site, urls, site.https(f"{canonical_host}.example.test"), **options)

    assert codes(result) == expected, [finding.message for finding in result.findings]
    assert result.status == status


def test_redirects_good_chain_metrics(site: Site) -> None:
    entries = [site.http("good.example.test"), site.http("www.good.example.test")]
    result = run_probe(site, entries, site.https("good.example.test"))

    assert result.reason == Reason.OK
    # http://www -> https://www -> https://apex
    assert result.metrics["redirects_hops"] == 2
    assert result.metrics["duration_seconds"] > 0


def test_redirects_loop_names_urls(site: Site) -> None:
    result = run_probe(site, [site.https("loop.example.test")], site.https("loop.example.test"))
    message = result.findings[0].message

    assert site.https("www.loop.example.test") in message
    assert result.reason == Reason.REDIRECT


def test_redirects_relative_location_resolved(site: Site) -> None:
    result = run_probe(site, [site.https("long.example.test", "/a")], site.https("long.example.test"))
    message = result.findings[0].message

    assert site.https("long.example.test", "/e") in message
    assert result.metrics["redirects_hops"] == 4


def test_redirects_temporary_suggests_permanent(site: Site) -> None:
    result = run_probe(site, [site.http("temporary.example.test")], site.https("temporary.example.test"))

    assert "302" in result.findings[0].message
    assert "use 301" in result.findings[0].message


def test_redirects_cookie_value_never_reported(site: Site) -> None:
    for host, canonical in (("cookie", "cookie"), ("www.split", "split"), ("www.hostonly", "hostonly")):
        result = run_probe(site, [site.https(f"{host}.example.test")], site.https(f"{canonical}.example.test"))
        assert result.findings
        for finding in result.findings:
            assert COOKIE_VALUE not in finding.message
            assert COOKIE_VALUE not in finding.subject


def test_redirects_cookie_finding_names_cookie(site: Site) -> None:
    result = run_probe(site, [site.https("cookie.example.test")], site.https("cookie.example.test"))

    assert "'session'" in result.findings[0].message
    assert result.reason == Reason.HEADER


def test_redirects_refused_port_fails(site: Site) -> None:
    closed = f"http://good.example.test:{free_port()}/"
    result = run_probe(site, [closed], site.https("good.example.test"))

    assert codes(result) == ["net.refused"]
    assert result.status == Status.FAIL
    assert result.reason == Reason.TCP_REFUSED


def test_redirects_default_entries_from_base_url() -> None:
    options = redirects.RedirectsOptions()
    target = Target(site="shop", base_url="https://app.example.test:8443/login")

    assert redirects.entry_urls(options, target) == ["http://app.example.test/", "https://app.example.test:8443/"]
    assert redirects.canonical_url(options, target) == "https://app.example.test:8443/login"


def test_redirects_options_reject_relative_entry() -> None:
    with pytest.raises(ValueError, match="absolute"):
        redirects.RedirectsOptions(entries=["/login"])


@pytest.mark.parametrize(
    ("header", "max_age", "include_subdomains"),
    [
        ("max-age=31536000; includeSubDomains", 31536000, True),
        ('max-age="600"', 600, False),
        ("includesubdomains; MAX-AGE=5", 5, True),
        ("max-age=soon", None, False),
    ],
)
def test_parse_hsts(header: str, max_age: int | None, include_subdomains: bool) -> None:
    assert redirects.parse_hsts(header) == (max_age, include_subdomains)

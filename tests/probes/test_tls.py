"""The tls probe against a real nginx on loopback serving one certificate case per host name."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography import x509

from launchwatch.probes import certs, tls
from launchwatch.probes.context import ProbeContext, SSLContexts, Target, make_dns_resolver
from launchwatch.probes.result import ProbeResult, Reason, Status
from tests.support import pki
from tests.support.nginx import free_port, running_nginx
from tests.support.targets import serve_raw

pytestmark = pytest.mark.timeout(60)

# Certificates with security flaws only load into nginx (and complete a
# handshake) at OpenSSL security level 0 on Debian's OpenSSL 3.
SECLEVEL0 = "ssl_ciphers DEFAULT:@SECLEVEL=0;"


@dataclass
class Site:
    """The shared nginx: one TLS port with a server block per case, one port that accepts TLS 1.1."""

    port: int
    legacy_port: int
    ca_file: Path
    leaves: dict[str, x509.Certificate]
    short_intermediate: x509.Certificate
    cross_chain: list[x509.Certificate]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("tls-nginx")
    root = pki.make_root("launchwatch test root")
    intermediate = pki.make_intermediate(root, "launchwatch test intermediate")
    other_root = pki.make_root("unknown root")
    other_intermediate = pki.make_intermediate(other_root, "unknown intermediate")
    short_intermediate = pki.make_intermediate(root, "short-lived intermediate", not_after=pki.days(14))
    old_root = pki.make_root("retired root", not_before=pki.days(-4000), not_after=pki.days(-400))
    expired_cross = pki.cross_sign(old_root, root, not_before=pki.days(-3000), not_after=pki.days(-500))
    ca_file = pki.write_pem(directory / "ca.pem", root)

    leaves: dict[str, pki.Issued] = {
        "valid": pki.make_leaf(intermediate, ["valid.example.test", "hop.example.test"]),
        "expired": pki.make_leaf(intermediate, ["expired.example.test"], not_before=pki.days(-100), not_after=pki.days(-10)),
        "future": pki.make_leaf(intermediate, ["future.example.test"], not_before=pki.days(10), not_after=pki.days(100)),
        "soon": pki.make_leaf(intermediate, ["soon.example.test"], not_after=pki.days(15)),
        "critical": pki.make_leaf(intermediate, ["critical.example.test"], not_after=pki.days(3)),
        "wrong": pki.make_leaf(intermediate, ["other.example.test"]),
        "wild": pki.make_leaf(intermediate, ["*.wild.example.test"]),
        "selfsigned": pki.make_self_signed_leaf(["selfsigned.example.test"]),
        "untrusted": pki.make_leaf(other_intermediate, ["untrusted.example.test"]),
        "untrustedroot": pki.make_leaf(other_intermediate, ["untrustedroot.example.test"]),
        "incomplete": pki.make_leaf(intermediate, ["incomplete.example.test"]),
        "shortint": pki.make_leaf(short_intermediate, ["shortint.example.test"], not_after=pki.days(90)),
        "weakkey": pki.make_leaf(intermediate, ["weakkey.example.test"], key=pki.rsa_key(1024)),
        "sha1": pki.make_sha1_leaf(intermediate, ["sha1.example.test"], directory / "sha1"),
        "cross": pki.make_leaf(intermediate, ["cross.example.test"]),
        "legacy": pki.make_leaf(intermediate, ["legacy.example.test"]),
    }
    chains: dict[str, list[pki.Issued | x509.Certificate]] = {
        name: [leaf, intermediate] for name, leaf in leaves.items()
    }
    chains["selfsigned"] = [leaves["selfsigned"]]
    chains["untrusted"] = [leaves["untrusted"], other_intermediate]
    chains["untrustedroot"] = [leaves["untrustedroot"], other_intermediate, other_root]
    chains["incomplete"] = [leaves["incomplete"]]
    chains["shortint"] = [leaves["shortint"], short_intermediate]
    chains["cross"] = [leaves["cross"], intermediate, expired_cross]

    port = free_port()
    legacy_port = free_port()
    blocks = []
    for name, chain in chains.items():
        cert_path = pki.write_pem(directory / f"{name}.pem", *chain)
        key_path = pki.write_key(directory / f"{name}.key", leaves[name])
        listen = f"{legacy_port} ssl" if name == "legacy" else f"{port} ssl"
        if name == "valid":
            listen += " default_server"
        server_names = {
            "valid": "valid.example.test hop.example.test",
            "wild": "wild.example.test *.wild.example.test",
        }.get(name, f"{name}.example.test")
        extra = SECLEVEL0 if name in ("weakkey", "sha1", "legacy") else ""
        # nginx 1.22 enables TLS 1.0 and 1.1 by default, and at security level 0
        # OpenSSL 3 can complete them, so every other case pins TLS 1.2 and later.
        protocols = "TLSv1.1 TLSv1.2 TLSv1.3" if name == "legacy" else "TLSv1.2 TLSv1.3"
        extra += f" ssl_protocols {protocols};"
        if name == "valid":
            # hop.example.test shares the valid certificate and redirects to the expired host.
            extra += f" if ($host = hop.example.test) {{ return 301 https://expired.example.test:{port}/; }}"
        blocks.append(
            f"""
    server {{
        listen 127.0.0.1:{listen};
        server_name {server_names};
        ssl_certificate {cert_path};
        ssl_certificate_key {key_path};
        {extra}
        return 200 "ok\\n";
    }}"""
        )
    with running_nginx(directory, "\n".join(blocks), [port, legacy_port]):
        yield Site(
            port=port,
            legacy_port=legacy_port,
            ca_file=ca_file,
            leaves={name: issued.cert for name, issued in leaves.items()},
            short_intermediate=short_intermediate.cert,
            cross_chain=[leaves["cross"].cert, intermediate.cert, root.cert],
        )


HOSTS = [
    "valid.example.test",
    "hop.example.test",
    "expired.example.test",
    "future.example.test",
    "soon.example.test",
    "critical.example.test",
    "wrong.example.test",
    "wild.example.test",
    "app.wild.example.test",
    "a.b.wild.example.test",
    "selfsigned.example.test",
    "untrusted.example.test",
    "untrustedroot.example.test",
    "incomplete.example.test",
    "shortint.example.test",
    "weakkey.example.test",
    "sha1.example.test",
    "cross.example.test",
    "legacy.example.test",
]


# Bounds a probe that ignores its own timeout, so the test fails instead of hanging.
HANG_GUARD_S = 5.0
# aiohttp closes TLS connections with a close_notify exchange that runs on
# after the session closes. Letting it finish before asyncio.run() closes the
# loop avoids "unclosed transport" warnings; the daemon's loop never closes early.
TLS_CLOSE_GRACE_S = 0.05


def run(options: tls.TlsOptions, ctx: ProbeContext) -> ProbeResult:
    async def guarded() -> ProbeResult:
        result = await asyncio.wait_for(tls.probe(options, ctx), ctx.timeout_s + HANG_GUARD_S)
        # Only following redirects opens aiohttp connections.
        if options.follow_redirects:
            await asyncio.sleep(TLS_CLOSE_GRACE_S)
        return result

    return asyncio.run(guarded())


def make_context(base_url: str, ca_file: Path | None, timeout_s: float = 10.0) -> ProbeContext:
    return ProbeContext(
        target=Target(site="shop", base_url=base_url, resolve={host: "127.0.0.1" for host in HOSTS}),
        timeout_s=timeout_s,
        # Nothing listens on port 1: a name missing from `resolve` fails loudly.
        dns_resolver=make_dns_resolver(["127.0.0.1:1"], timeout_s=1.0),
        ssl_contexts=SSLContexts(default_ca_file=str(ca_file) if ca_file else None),
        logger=logging.getLogger("tests.tls"),
    )


def run_probe(site: Site, host: str, **options: object) -> ProbeResult:
    port = site.legacy_port if host.startswith("legacy.") else site.port
    parsed = tls.TlsOptions.model_validate({"hosts": [f"{host}:{port}"], "follow_redirects": False, **options})
    return run(parsed, make_context(f"https://{host}:{port}/", site.ca_file))


def codes(result: ProbeResult) -> list[str]:
    return sorted(finding.code for finding in result.findings)


CASES = [
    # host, options, status, finding codes
    ("valid.example.test", {}, Status.PASS, []),
    ("expired.example.test", {}, Status.FAIL, ["tls.cert_expired"]),
    ("future.example.test", {}, Status.FAIL, ["tls.cert_not_yet_valid"]),
    ("soon.example.test", {}, Status.WARN, ["tls.expires_soon"]),
    ("critical.example.test", {}, Status.FAIL, ["tls.expires_soon"]),
    ("wrong.example.test", {}, Status.FAIL, ["tls.hostname_mismatch"]),
    ("app.wild.example.test", {}, Status.PASS, []),
    ("wild.example.test", {}, Status.FAIL, ["tls.hostname_mismatch"]),
    ("a.b.wild.example.test", {}, Status.FAIL, ["tls.hostname_mismatch"]),
    ("selfsigned.example.test", {}, Status.FAIL, ["tls.self_signed"]),
    ("untrusted.example.test", {}, Status.FAIL, ["tls.untrusted_root"]),
    ("untrustedroot.example.test", {}, Status.FAIL, ["tls.untrusted_root"]),
    ("incomplete.example.test", {}, Status.FAIL, ["tls.chain_incomplete"]),
    ("shortint.example.test", {}, Status.WARN, ["tls.chain_expires_soon"]),
    ("weakkey.example.test", {}, Status.FAIL, ["tls.weak_key"]),
    ("sha1.example.test", {}, Status.FAIL, ["tls.weak_signature"]),
    ("cross.example.test", {}, Status.PASS, []),
    ("legacy.example.test", {}, Status.FAIL, ["tls.protocol_too_old"]),
    ("legacy.example.test", {"min_tls_version": "1.1"}, Status.PASS, []),
    ("weakkey.example.test", {"min_rsa_bits": 1024}, Status.PASS, []),
    ("soon.example.test", {"warn_days": 10, "critical_days": 5}, Status.PASS, []),
]


@pytest.mark.parametrize(("host", "options", "status", "expected"), CASES, ids=[f"{c[0].split('.example')[0]}-{c[1]}" for c in CASES])
def test_tls_case(site: Site, host: str, options: dict[str, object], status: Status, expected: list[str]) -> None:
    result = run_probe(site, host, **options)

    assert codes(result) == expected, [finding.message for finding in result.findings]
    assert result.status == status
    for finding in result.findings:
        assert host in finding.subject


def test_tls_valid_reports_leaf_and_chain_expiry(site: Site) -> None:
    result = run_probe(site, "valid.example.test")
    leaf = site.leaves["valid"]

    assert result.reason == Reason.OK
    assert result.metrics["tls_cert_expiry_timestamp_seconds"] == leaf.not_valid_after_utc.timestamp()
    # The leaf expires before the intermediate and the root.
    assert result.metrics["tls_chain_earliest_expiry_timestamp_seconds"] == leaf.not_valid_after_utc.timestamp()
    assert 88 * 86400 < result.metrics["tls_cert_time_left_seconds"] <= 90 * 86400
    assert result.metrics["tls_version"] == 1.3


def test_tls_dedupe_key_is_leaf_fingerprint(site: Site) -> None:
    first = run_probe(site, "valid.example.test")
    again = run_probe(site, "valid.example.test")
    other = run_probe(site, "soon.example.test")
    fingerprint = site.leaves["valid"].fingerprint(hashes.SHA256()).hex()

    assert first.dedupe_key == f"tls-cert:sha256:{fingerprint}"
    assert again.dedupe_key == first.dedupe_key
    assert other.dedupe_key != first.dedupe_key


def test_tls_sni_selects_certificate_per_host(site: Site) -> None:
    # Every case shares one port, so each expiry proves nginx served that host's certificate.
    for name in ("valid", "soon", "cross"):
        result = run_probe(site, f"{name}.example.test")
        assert result.metrics["tls_cert_expiry_timestamp_seconds"] == site.leaves[name].not_valid_after_utc.timestamp()


def test_tls_short_intermediate_sets_chain_expiry(site: Site) -> None:
    result = run_probe(site, "shortint.example.test")

    assert result.metrics["tls_chain_earliest_expiry_timestamp_seconds"] == site.short_intermediate.not_valid_after_utc.timestamp()
    assert result.metrics["tls_cert_expiry_timestamp_seconds"] == site.leaves["shortint"].not_valid_after_utc.timestamp()
    assert result.findings[0].severity == "warn"
    assert "short-lived intermediate" in result.findings[0].message


def test_tls_expired_cross_sign_ignored_in_chain_expiry(site: Site) -> None:
    result = run_probe(site, "cross.example.test")
    verified_earliest = min(cert.not_valid_after_utc for cert in site.cross_chain)

    assert result.metrics["tls_chain_earliest_expiry_timestamp_seconds"] == verified_earliest.timestamp()


def test_tls_expired_finding_names_certificate_and_fix(site: Site) -> None:
    result = run_probe(site, "expired.example.test")
    leaf = site.leaves["expired"]
    message = result.findings[0].message

    assert result.reason == Reason.TLS_EXPIRED
    assert f"{leaf.serial_number:X}" in message
    assert "CN=expired.example.test" in message
    assert leaf.not_valid_after_utc.strftime("%Y-%m-%d") in message
    assert "renew" in message
    assert result.metrics["tls_cert_time_left_seconds"] < 0


def test_tls_soon_finding_says_renew_before(site: Site) -> None:
    result = run_probe(site, "soon.example.test")
    expiry = site.leaves["soon"].not_valid_after_utc.strftime("%Y-%m-%d")

    assert f"renew before {expiry}" in result.findings[0].message


def test_tls_incomplete_says_serve_intermediate(site: Site) -> None:
    result = run_probe(site, "incomplete.example.test")

    assert "serve the intermediate certificate" in result.findings[0].message
    assert "only the leaf certificate's dates were checked" in result.findings[0].message
    assert result.reason == Reason.TLS_UNTRUSTED
    assert "tls_chain_earliest_expiry_timestamp_seconds" not in result.metrics
    assert "tls_cert_expiry_timestamp_seconds" in result.metrics


def test_tls_several_hosts_findings_name_host(site: Site) -> None:
    options = tls.TlsOptions(
        hosts=[f"valid.example.test:{site.port}", f"expired.example.test:{site.port}"], follow_redirects=False
    )
    result = run(options, make_context(f"https://valid.example.test:{site.port}/", site.ca_file))

    assert codes(result) == ["tls.cert_expired"]
    assert result.findings[0].subject == f"expired.example.test:{site.port}"
    assert result.metrics["tls_cert_expiry_timestamp_seconds"] == site.leaves["expired"].not_valid_after_utc.timestamp()


def test_tls_follows_redirects_to_other_hosts(site: Site) -> None:
    # hop.example.test redirects to expired.example.test on the same port.
    options = tls.TlsOptions()
    result = run(options, make_context(f"https://hop.example.test:{site.port}/", site.ca_file))

    assert codes(result) == ["tls.cert_expired"]
    assert result.findings[0].subject == f"expired.example.test:{site.port}"


def test_tls_system_store_rejects_test_root(site: Site) -> None:
    parsed = tls.TlsOptions(hosts=[f"valid.example.test:{site.port}"], follow_redirects=False)
    result = run(parsed, make_context(f"https://valid.example.test:{site.port}/", None))

    assert codes(result) == ["tls.untrusted_root"]


# --- servers that are not TLS servers ---


async def send_junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reply to the ClientHello with bytes that are not a TLS record."""
    await reader.read(1)
    writer.write(b"SSH-2.0-OpenSSH_9.2 this is not TLS\r\n" * 4)
    await writer.drain()
    await reader.read()


async def stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept the connection and send nothing until the client hangs up."""
    await reader.read()


def probe_loopback_port(port: int, timeout_s: float) -> ProbeResult:
    options = tls.TlsOptions(hosts=[f"valid.example.test:{port}"], follow_redirects=False)
    return run(options, make_context(f"https://valid.example.test:{port}/", None, timeout_s=timeout_s))


def test_tls_junk_server_fails_handshake() -> None:
    with serve_raw(send_junk) as server:
        result = probe_loopback_port(server.port, timeout_s=5.0)

    assert result.status == Status.FAIL
    assert codes(result) == ["tls.handshake_failed"]
    assert result.reason == Reason.TLS_ERROR


def test_tls_silent_server_times_out() -> None:
    with serve_raw(stay_silent) as server:
        result = probe_loopback_port(server.port, timeout_s=0.5)

    assert result.status == Status.FAIL
    assert codes(result) == ["net.timeout"]
    assert result.reason == Reason.TIMEOUT


def test_tls_refused_port_fails() -> None:
    result = probe_loopback_port(free_port(), timeout_s=5.0)

    assert result.status == Status.FAIL
    assert codes(result) == ["net.refused"]
    assert result.reason == Reason.TCP_REFUSED


def test_tls_unmapped_host_fails_dns() -> None:
    options = tls.TlsOptions(hosts=["missing.example.test:443"], follow_redirects=False)
    result = run(options, make_context("https://missing.example.test/", None, timeout_s=5.0))

    assert result.status == Status.FAIL
    assert codes(result) == ["net.dns_error"]


# --- pure helpers ---


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("*.example.test", "app.example.test", True),
        ("*.example.test", "APP.Example.Test.", True),
        ("*.example.test", "example.test", False),
        ("*.example.test", "a.b.example.test", False),
        ("*.test", "example.test", False),
        ("a*.example.test", "ab.example.test", False),
        ("app.*.test", "app.example.test", False),
        ("app.example.test", "app.example.test", True),
        ("app.example.test", "www.example.test", False),
    ],
)
def test_matches_dns_name(pattern: str, host: str, matches: bool) -> None:
    assert certs.matches_dns_name(pattern, host) is matches


def test_options_reject_critical_above_warn() -> None:
    with pytest.raises(ValueError, match="critical_days"):
        tls.TlsOptions(warn_days=5, critical_days=10)


def test_options_describe_target_lists_hosts() -> None:
    options = tls.TlsOptions(hosts=["a.example.test", "b.example.test:8443"], follow_redirects=False)

    assert options.describe_target(Target(site="shop", base_url="https://a.example.test/")) == "TLS on a.example.test:443, b.example.test:8443"

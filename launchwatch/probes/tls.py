"""The tls probe: certificate dates, chain, host name, key strength and protocol floor.

Python 3.11's ssl module returns only the leaf certificate (the peer's chain
became public API in 3.13), so the handshake runs through pyOpenSSL over
memory BIOs fed by an asyncio stream. That keeps the probe cancellable by
the check's timeout and yields every certificate the server sent. The
handshake itself verifies nothing, so a broken certificate is still read and
judged by `certs`, which names each problem on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import datetime as dt
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from OpenSSL import SSL, crypto
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from yarl import URL

from launchwatch.probes import certs
from launchwatch.probes.context import DNSLookupError, ProbeContext, Target, split_host_port
from launchwatch.probes.errors import format_endpoint, translate_network_error
from launchwatch.probes.options import check_ca_file
from launchwatch.probes.redirects import follow_chain
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status, status_from_findings

TlsVersion = Literal["1.0", "1.1", "1.2", "1.3"]

_OPENSSL_VERSIONS = {
    "1.0": SSL.TLS1_VERSION,
    "1.1": SSL.TLS1_1_VERSION,
    "1.2": SSL.TLS1_2_VERSION,
    "1.3": SSL.TLS1_3_VERSION,
}
_VERSION_BELOW = {"1.1": "1.0", "1.2": "1.1", "1.3": "1.2"}
# pyOpenSSL's get_protocol_version_name() -> the number the metric carries.
_VERSION_NUMBERS = {"TLSv1": 1.0, "TLSv1.1": 1.1, "TLSv1.2": 1.2, "TLSv1.3": 1.3}
# Security level 0 lets OpenSSL 3 complete handshakes with TLS 1.0/1.1, SHA-1
# and short keys, which the probe must observe in order to report them.
_PERMISSIVE_CIPHERS = b"DEFAULT:@SECLEVEL=0"
_REDIRECT_HOPS = 10
_READ_SIZE = 65536


class TlsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # ``host`` or ``host:port`` (port 443 when left out); empty means the base URL's host.
    hosts: list[str] = Field(default_factory=list)
    # Also check every HTTPS host the redirects from the base URL pass through.
    follow_redirects: bool = True
    # Days before a certificate's expiry when the check warns, then fails.
    warn_days: float = Field(default=21, ge=0)
    critical_days: float = Field(default=7, ge=0)
    # The oldest TLS version the server may accept.
    min_tls_version: TlsVersion = "1.2"
    # A PEM bundle of trusted CAs; unset means the daemon's ca_file or the system store.
    ca_file: str | None = None

    _ca_file = field_validator("ca_file")(check_ca_file)
    min_rsa_bits: int = Field(default=2048, ge=512, le=16384)

    @model_validator(mode="after")
    def _critical_within_warn(self) -> TlsOptions:
        if self.critical_days > self.warn_days:
            raise ValueError(
                f"critical_days ({self.critical_days:g}) is larger than warn_days ({self.warn_days:g}); "
                "set critical_days to at most warn_days"
            )
        return self

    @model_validator(mode="after")
    def _valid_hosts(self) -> TlsOptions:
        for entry in self.hosts:
            try:
                host, port = split_host_port(entry, default_port=443)
            except ValueError:
                host, port = "", 0
            if not host or not 0 < port < 65536:
                raise ValueError(f"invalid host {entry!r}; write a host name or address, optionally with :port, such as app.example.com:443")
        return self

    def describe_target(self, target: Target) -> str:
        endpoints = [format_endpoint(host, port) for host, port in configured_endpoints(self, target)]
        suffix = " and redirect targets" if self.follow_redirects else ""
        return "TLS on " + ", ".join(endpoints) + suffix


def configured_endpoints(options: TlsOptions, target: Target) -> list[tuple[str, int]]:
    """Return the configured (host, port) pairs, or the base URL's host on its HTTPS port."""
    if options.hosts:
        return [split_host_port(entry, default_port=443) for entry in options.hosts]
    base = URL(target.base_url)
    port = base.port if base.scheme == "https" and base.port else 443
    return [(base.host or "", port)]


# --- handshake ---


@dataclass(slots=True)
class Handshake:
    address: str
    version: str
    # As sent by the server, leaf first; the order past the leaf is the server's.
    certificates: list[x509.Certificate]


class HandshakeError(Exception):
    """The TLS handshake failed after the TCP connection opened."""


async def handshake(
    address: str,
    port: int,
    server_name: str,
    *,
    min_version: int = SSL.TLS1_VERSION,
    max_version: int | None = None,
) -> Handshake:
    """Run a TLS client handshake with `address` and return what the server presented.

    SNI carries `server_name` unless it is an IP address. Raises OSError when
    the TCP connection fails and HandshakeError when the handshake does.
    """
    connection = SSL.Connection(_handshake_context(min_version, max_version), None)
    connection.set_connect_state()
    if not _is_ip_address(server_name):
        connection.set_tlsext_host_name(server_name.encode("idna"))

    reader, writer = await asyncio.open_connection(address, port)
    try:
        while True:
            try:
                connection.do_handshake()
                break
            except SSL.WantReadError:
                pass
            except SSL.Error as exc:
                raise HandshakeError(_openssl_error_text(exc)) from exc
            await _flush(connection, writer)
            incoming = await reader.read(_READ_SIZE)
            if not incoming:
                raise HandshakeError("the server closed the connection during the TLS handshake")
            connection.bio_write(incoming)
        # TLS 1.3 produces the client's Finished message in the last call.
        await _flush(connection, writer)
        chain = connection.get_peer_cert_chain(as_cryptography=True) or []
        if not chain:
            raise HandshakeError("the server sent no certificate")
        return Handshake(address=address, version=connection.get_protocol_version_name(), certificates=list(chain))
    finally:
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()


async def _flush(connection: SSL.Connection, writer: asyncio.StreamWriter) -> None:
    outgoing = b""
    while True:
        try:
            chunk = connection.bio_read(_READ_SIZE)
        except SSL.WantReadError:
            break
        if not chunk:
            break
        outgoing += chunk
    if outgoing:
        writer.write(outgoing)
        await writer.drain()


def _openssl_error_text(exc: SSL.Error) -> str:
    # pyOpenSSL puts a list of (library, function, reason) tuples in args[0].
    details = exc.args[0] if exc.args else []
    if isinstance(details, list) and details:
        return "; ".join(str(item[-1]) for item in details if isinstance(item, tuple)) or str(exc)
    return str(exc) or type(exc).__name__


def _is_ip_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# --- one endpoint ---


@dataclass(slots=True)
class EndpointReport:
    host: str
    port: int
    # Each finding with the reason a result carries when that finding is the worst.
    outcomes: list[tuple[Finding, Reason]] = field(default_factory=list)
    leaf_expiry: dt.datetime | None = None
    chain_expiry: dt.datetime | None = None
    days_left: float | None = None
    version: float | None = None
    # SHA-256 of the leaf certificate, hex.
    fingerprint: str | None = None

    @property
    def subject(self) -> str:
        return format_endpoint(self.host, self.port)

    def add(self, finding: Finding, reason: Reason) -> None:
        self.outcomes.append((finding, reason))


async def check_endpoint(
    report: EndpointReport, options: TlsOptions, ctx: ProbeContext, store: crypto.X509Store
) -> None:
    """Handshake with one host and port and fill `report` with findings and metric values."""
    try:
        addresses = await ctx.resolve_host(report.host)
    except DNSLookupError as exc:
        _add_network_error(report, exc, ctx)
        return

    result: Handshake | None = None
    last_error: OSError = OSError(f"{report.host} resolved to no address")
    for address in addresses:
        try:
            result = await handshake(address, report.port, report.host)
            break
        except HandshakeError as exc:
            report.add(
                _fail(
                    "tls.handshake_failed",
                    report.subject,
                    f"TLS handshake with {report.subject} ({address}) failed: {exc}; check that the port serves TLS "
                    "and that the server's certificate and protocol settings load without errors",
                ),
                Reason.TLS_ERROR,
            )
            return
        except OSError as exc:
            # Try the next address, as a browser would, and report the last failure.
            last_error = exc
    # TODO: check every address of a host, not only the first that accepts, so
    # one stale backend behind round-robin DNS cannot hide behind a good one.
    if result is None:
        _add_network_error(report, last_error, ctx)
        return

    report.version = _VERSION_NUMBERS.get(result.version)
    _judge_certificates(report, result.certificates, options, ctx.clock.now(), store)
    await _check_protocol_floor(report, result.address, options)


def _add_network_error(report: EndpointReport, exc: BaseException, ctx: ProbeContext) -> None:
    translated = translate_network_error(exc, host=report.host, port=report.port, timeout_s=ctx.timeout_s)
    if translated is None:
        raise exc
    reason, finding = translated
    report.add(finding, reason)


def _judge_certificates(
    report: EndpointReport,
    sent: list[x509.Certificate],
    options: TlsOptions,
    now: dt.datetime,
    store: crypto.X509Store,
) -> None:
    leaf = sent[0]
    verification = certs.verify_chain(leaf, sent, store)
    if verification.chain is not None:
        judged = verification.chain
        # The trust anchor's self-signature is never checked by clients, so its hash does not matter.
        signed = judged[:-1] if certs.is_self_issued(judged[-1]) else judged
        report.chain_expiry = certs.not_after(certs.earliest_expiry(judged))
    else:
        _add_chain_problem(report, leaf, verification)
        judged = [leaf]
        signed = [cert for cert in sent if not certs.is_self_issued(cert)]

    report.leaf_expiry = certs.not_after(leaf)
    report.fingerprint = leaf.fingerprint(hashes.SHA256()).hex()
    report.days_left = certs.days_left(leaf, now)

    if not certs.matches_host(leaf, report.host):
        _add_hostname_mismatch(report, leaf)
    for position, cert in enumerate(judged):
        _judge_dates(report, cert, position == 0, leaf, options, now)
    keyed = judged if verification.chain is not None else sent
    for cert in keyed:
        weakness = certs.weak_key(cert, options.min_rsa_bits)
        if weakness:
            report.add(
                _fail(
                    "tls.weak_key",
                    report.subject,
                    f"{report.subject} presents a certificate with a {weakness}: {certs.describe(cert)}; "
                    f"reissue it with an RSA key of at least {options.min_rsa_bits} bits or an ECDSA P-256 key",
                ),
                Reason.TLS_WEAK,
            )
    for cert in signed:
        algorithm = certs.weak_signature(cert)
        if algorithm:
            report.add(
                _fail(
                    "tls.weak_signature",
                    report.subject,
                    f"{report.subject} presents a certificate signed with {algorithm}: {certs.describe(cert)}; "
                    "reissue it with a SHA-256 signature",
                ),
                Reason.TLS_WEAK,
            )


def _add_chain_problem(report: EndpointReport, leaf: x509.Certificate, verification: certs.ChainVerification) -> None:
    leaf_only = "so only the leaf certificate's dates were checked"
    culprit = verification.culprit or leaf
    problem = verification.problem
    if problem == certs.ChainProblem.SELF_SIGNED:
        code = "tls.self_signed"
        message = (
            f"{report.subject} presents a self-signed certificate ({certs.describe(leaf)}), {leaf_only}; "
            "replace it with one from a trusted CA, or add it to ca_file if this server is meant to use it"
        )
    elif problem == certs.ChainProblem.INCOMPLETE:
        code = "tls.chain_incomplete"
        message = (
            f"{report.subject} does not send the issuer of {certs.describe(culprit)}, and that issuer is not a "
            f"trusted CA, {leaf_only}; serve the intermediate certificate (nginx: put it after the leaf in "
            "ssl_certificate), or add the issuing CA to ca_file if it is a private root"
        )
    elif problem == certs.ChainProblem.UNTRUSTED_ROOT:
        code = "tls.untrusted_root"
        message = (
            f"the chain of {report.subject} ends at {culprit.issuer.rfc4514_string()}, which is not in the trust store "
            f"({verification.detail}; last certificate: {certs.describe(culprit)}), {leaf_only}; use a certificate "
            "from a publicly trusted CA, or add that root to ca_file"
        )
    else:
        code = "tls.chain_invalid"
        message = (
            f"the chain of {report.subject} failed verification at {certs.describe(culprit)}: {verification.detail}, "
            f"{leaf_only}; reissue the certificate or fix the chain the server sends"
        )
    report.add(_fail(code, report.subject, message), Reason.TLS_UNTRUSTED)


def _add_hostname_mismatch(report: EndpointReport, leaf: x509.Certificate) -> None:
    dns_names, addresses = certs.presented_names(leaf)
    names = ", ".join([*dns_names, *(str(address) for address in addresses)]) or "no subjectAltName entries"
    report.add(
        _fail(
            "tls.hostname_mismatch",
            report.subject,
            f"the certificate of {report.subject} ({certs.describe(leaf)}) is valid for {names}, not for {report.host}; "
            f"issue a certificate that lists {report.host} (a wildcard covers exactly one label), "
            "or check that the name points at the right server",
        )
    , Reason.TLS_HOSTNAME)


def _judge_dates(
    report: EndpointReport,
    cert: x509.Certificate,
    is_leaf: bool,
    leaf: x509.Certificate,
    options: TlsOptions,
    now: dt.datetime,
) -> None:
    start = certs.not_before(cert)
    end = certs.not_after(cert)
    role = "certificate" if is_leaf else "chain certificate"
    if now < start:
        report.add(
            _fail(
                "tls.cert_not_yet_valid",
                report.subject,
                f"the {role} of {report.subject} is not valid until {_date(start)} ({certs.describe(cert)}); "
                "serve a certificate valid today, and check the server's and the issuer's clocks",
            )
        , Reason.TLS_EXPIRED)
        return
    if now >= end:
        report.add(
            _fail(
                "tls.cert_expired",
                report.subject,
                f"the {role} of {report.subject} expired on {_date(end)} ({certs.describe(cert)}); "
                "renew it now and reload the server",
            )
        , Reason.TLS_EXPIRED)
        return

    remaining = certs.days_left(cert, now)
    if remaining > options.warn_days:
        return
    severity = Severity.FAIL if remaining <= options.critical_days else Severity.WARN
    if is_leaf:
        code = "tls.expires_soon"
        message = (
            f"the certificate of {report.subject} expires on {_date(end)}, in {remaining:.1f} days "
            f"({certs.describe(cert)}); renew before {_date(end)}"
        )
    else:
        code = "tls.chain_expires_soon"
        message = (
            f"a chain certificate of {report.subject} expires on {_date(end)}, in {remaining:.1f} days, "
            f"before the leaf ({_date(certs.not_after(leaf))}) ({certs.describe(cert)}); "
            f"install the CA's current intermediate before {_date(end)}"
        )
    report.add(Finding(code=code, severity=severity, message=message, subject=report.subject), Reason.TLS_EXPIRING)


async def _check_protocol_floor(report: EndpointReport, address: str, options: TlsOptions) -> None:
    below = _VERSION_BELOW.get(options.min_tls_version)
    if below is None:
        return
    try:
        old = await handshake(
            address,
            report.port,
            report.host,
            min_version=SSL.TLS1_VERSION,
            max_version=_OPENSSL_VERSIONS[below],
        )
    except (HandshakeError, OSError):
        return
    report.add(
        _fail(
            "tls.protocol_too_old",
            report.subject,
            f"{report.subject} accepts {old.version}, older than the minimum TLS {options.min_tls_version}; "
            f"disable the old versions (nginx: ssl_protocols TLSv{options.min_tls_version}"
            f"{' TLSv1.3' if options.min_tls_version != '1.3' else ''};)",
        )
    , Reason.TLS_WEAK)


# --- the probe ---


async def probe(options: TlsOptions, ctx: ProbeContext) -> ProbeResult:
    started_at = ctx.clock.now()
    start = ctx.clock.monotonic()
    reports: list[EndpointReport] = []
    outcomes: list[tuple[Finding, Reason]] = []
    try:
        store = _trust_store(options, ctx)
    except (OSError, ssl.SSLError, crypto.Error) as exc:
        return _error_result(
            started_at,
            ctx.clock.monotonic() - start,
            "tls.ca_file_invalid",
            options.ca_file or "system trust store",
            f"loading the CA bundle {options.ca_file or '(system trust store)'} failed: {exc}; "
            "point ca_file at a readable PEM file of CA certificates",
        )

    try:
        async with asyncio.timeout(ctx.timeout_s):
            endpoints = configured_endpoints(options, ctx.target)
            if options.follow_redirects:
                endpoints = await _add_redirect_endpoints(endpoints, ctx, outcomes)
            for host, port in endpoints:
                report = EndpointReport(host, port)
                reports.append(report)
                await check_endpoint(report, options, ctx, store)
    except TimeoutError as exc:
        subject = reports[-1] if reports else EndpointReport(URL(ctx.target.base_url).host or "", 443)
        translated = translate_network_error(exc, host=subject.host, port=subject.port, timeout_s=ctx.timeout_s, phase="checking TLS")
        assert translated is not None
        reason, finding = translated
        outcomes.append((finding, reason))
    except Exception as exc:  # noqa: BLE001 - a probe reports its own bugs as an error result
        ctx.logger.exception("tls probe failed for %s", ctx.target.base_url)
        return _error_result(
            started_at,
            ctx.clock.monotonic() - start,
            "tls.probe_error",
            ctx.target.base_url,
            f"the tls probe failed with {type(exc).__name__}: {exc}; this is a bug in launchwatch, please report it",
        )

    for report in reports:
        outcomes.extend(report.outcomes)
    findings = [finding for finding, _ in outcomes]
    status = status_from_findings(findings)
    return ProbeResult(
        status=status,
        reason=_pick_reason(status, outcomes),
        started_at=started_at,
        duration_s=ctx.clock.monotonic() - start,
        metrics=_metrics(reports),
        findings=findings,
        dedupe_key=_dedupe_key(reports),
    )


def _dedupe_key(reports: Sequence[EndpointReport]) -> str | None:
    # Checks that watch the same certificates share the key, so an expiring
    # certificate behind several checks notifies once.
    fingerprints = sorted({report.fingerprint for report in reports if report.fingerprint})
    return "tls-cert:sha256:" + ",".join(fingerprints) if fingerprints else None


@functools.lru_cache(maxsize=16)
def _handshake_context(min_version: int, max_version: int | None) -> SSL.Context:
    # Building an SSL.Context costs about as much as OpenSSL's part of a
    # handshake, and a configured context is safe to share between connections.
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    context.set_cipher_list(_PERMISSIVE_CIPHERS)
    context.set_min_proto_version(min_version)
    if max_version is not None:
        context.set_max_proto_version(max_version)
    return context


# Trust stores by the id of the ssl.SSLContext they were read from; the
# context is kept in the value so its id cannot be reused.
_TRUST_STORES: dict[int, tuple[ssl.SSLContext, crypto.X509Store]] = {}


def _trust_store(options: TlsOptions, ctx: ProbeContext) -> crypto.X509Store:
    # The same CA certificates the HTTP probes trust: options.ca_file, else the
    # daemon's ca_file, else the system store. Reading the system bundle costs
    # about 4 ms, so each store is built once per SSLContext.
    context = ctx.ssl_contexts.get(options.ca_file)
    cached = _TRUST_STORES.get(id(context))
    if cached is not None and cached[0] is context:
        return cached[1]
    store = _build_trust_store(context)
    _TRUST_STORES[id(context)] = (context, store)
    return store


def _build_trust_store(context: ssl.SSLContext) -> crypto.X509Store:
    anchors = context.get_ca_certs(binary_form=True)
    if anchors:
        return certs.build_trust_store(anchors)
    # A system store kept only as a hashed directory lists no certificates
    # until they are used, so load the directory itself.
    paths = ssl.get_default_verify_paths()
    return certs.build_trust_store([], cafile=paths.cafile, capath=paths.capath)


async def _add_redirect_endpoints(
    endpoints: list[tuple[str, int]], ctx: ProbeContext, outcomes: list[tuple[Finding, Reason]]
) -> list[tuple[str, int]]:
    """Append the HTTPS hosts that the redirects from the base URL pass through."""
    result = list(endpoints)
    async with ctx.http_session() as session:
        # Certificates are not verified here: a broken certificate must not hide
        # the hosts behind it, and each host gets its own full check below.
        chain = await follow_chain(session, ctx.target.base_url, max_hops=_REDIRECT_HOPS, timeout_s=ctx.timeout_s, verify_tls=False)
    if chain.error is not None:
        reason, error = chain.error
        finding = Finding(
            code="tls.redirects_not_followed",
            severity=Severity.INFO,
            message=(
                f"the redirects from {ctx.target.base_url} could not be followed, so only the configured hosts "
                f"were checked: {error.message}"
            ),
            subject=ctx.target.base_url,
        )
        outcomes.append((finding, reason))
    for hop in chain.hops:
        urls = [hop.url] if hop.location is None else [hop.url, hop.location]
        for url in urls:
            endpoint = ((url.host or "").lower(), url.port or 443)
            if url.scheme == "https" and endpoint not in result:
                result.append(endpoint)
    return result


def _metrics(reports: Sequence[EndpointReport]) -> dict[str, float]:
    # With several hosts each metric is the worst host's value. The names stay
    # the same however many hosts a redirect chain passes through, and the
    # findings name the host.
    metrics: dict[str, float] = {}
    leaf_expiries = [report.leaf_expiry for report in reports if report.leaf_expiry is not None]
    chain_expiries = [report.chain_expiry for report in reports if report.chain_expiry is not None]
    days = [report.days_left for report in reports if report.days_left is not None]
    versions = [report.version for report in reports if report.version is not None]
    if leaf_expiries:
        metrics["tls_cert_expiry_timestamp_seconds"] = min(leaf_expiries).timestamp()
    if chain_expiries:
        metrics["tls_chain_earliest_expiry_timestamp_seconds"] = min(chain_expiries).timestamp()
    if days:
        metrics["tls_cert_time_left_seconds"] = min(days) * 86400.0
    if versions:
        metrics["tls_version"] = min(versions)
    return metrics


def _pick_reason(status: Status, outcomes: list[tuple[Finding, Reason]]) -> Reason:
    if status == Status.PASS:
        return Reason.OK
    worst_severity = Severity.FAIL if status == Status.FAIL else Severity.WARN
    return next(reason for finding, reason in outcomes if finding.severity == worst_severity)


def _error_result(started_at: dt.datetime, duration: float, code: str, subject: str, message: str) -> ProbeResult:
    return ProbeResult(
        status=Status.ERROR,
        reason=Reason.PROBE_ERROR,
        started_at=started_at,
        duration_s=duration,
        findings=[Finding(code=code, severity=Severity.FAIL, message=message, subject=subject)],
    )


def _date(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _fail(code: str, subject: str, message: str) -> Finding:
    return Finding(code=code, severity=Severity.FAIL, message=message, subject=subject)

"""Translate network, TLS and HTTP client exceptions into a reason and a finding.

A refused port, an unknown name or a bad certificate is the target's fault,
so probes report these as failed results instead of raising. Every probe
that opens connections (http, tls, redirects) uses the same wording here.
"""

from __future__ import annotations

import asyncio
import errno
import ssl

import aiohttp

from launchwatch.probes.context import DNSLookupError
from launchwatch.probes.result import Finding, Reason, Severity

# OpenSSL X509_V_ERR_* verify codes (include/openssl/x509_vfy.h).
_X509_NOT_YET_VALID = 9
_X509_EXPIRED = 10
_X509_UNTRUSTED = {
    2,  # unable to get issuer certificate
    18,  # self-signed certificate
    19,  # self-signed certificate in chain
    20,  # unable to get local issuer certificate
    21,  # unable to verify the first certificate
    27,  # certificate not trusted
}
_X509_HOSTNAME_MISMATCH = 62

_REFUSED_ERRNOS = {errno.ECONNREFUSED}
_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}
_DETAIL_LIMIT = 200


def format_endpoint(host: str, port: int | None) -> str:
    """Return ``host:port``, with brackets around an IPv6 address."""
    display_host = f"[{host}]" if ":" in host else host
    return display_host if port is None else f"{display_host}:{port}"


def translate_network_error(
    exc: BaseException,
    *,
    host: str,
    port: int | None,
    timeout_s: float,
    phase: str = "",
) -> tuple[Reason, Finding] | None:
    """Return the reason and finding for an exception caused by the target.

    ``host`` and ``port`` name the endpoint the probe talked to. Exceptions
    that carry their own connection key (aiohttp's connector errors) override
    them. ``phase`` is a gerund phrase such as "reading the response body".
    Returns None for an exception that does not come from the network, which
    the caller reports as a probe error.
    """
    endpoint = format_endpoint(getattr(exc, "host", None) or host, getattr(exc, "port", None) or port)
    while_phase = f" while {phase}" if phase else ""

    # TimeoutError comes first because it subclasses OSError in Python 3.
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Reason.TIMEOUT, _fail(
            "net.timeout",
            endpoint,
            f"{endpoint} did not finish within the {timeout_s:g}s timeout{while_phase}; "
            "check that the server is up and not overloaded, or raise the check's timeout",
        )

    dns_error = _find_dns_error(exc)
    if dns_error is not None:
        return _translate_dns(dns_error, endpoint)

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return _translate_certificate(exc.certificate_error, endpoint)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _translate_certificate(exc, endpoint)
    if isinstance(exc, aiohttp.ClientConnectorSSLError | ssl.SSLError):
        return Reason.TLS_ERROR, _fail(
            "tls.handshake_failed",
            endpoint,
            f"TLS handshake with {endpoint} failed: {_detail(exc)}; check that the port serves TLS "
            "(an https:// URL pointing at a plain HTTP port fails this way) and that the server's TLS configuration is valid",
        )

    if isinstance(exc, aiohttp.TooManyRedirects):
        return Reason.REDIRECT, _fail(
            "http.too_many_redirects",
            endpoint,
            f"{endpoint} redirected more than {len(exc.history)} times; look for a redirect loop "
            "(for example between http:// and https:// or with and without a trailing slash)",
        )
    if isinstance(exc, aiohttp.RedirectClientError):
        return Reason.REDIRECT, _fail(
            "http.redirect_invalid",
            endpoint,
            f"{endpoint} sent a redirect to an unusable location: {_detail(exc)}; "
            "fix the Location header so it points at an http:// or https:// URL",
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Reason.HTTP_PROTOCOL, _fail(
            "http.body_incomplete",
            endpoint,
            f"the response body from {endpoint} was cut off or malformed{while_phase}: {_detail(exc)}; "
            "check the server and proxy logs for crashes, restarts or upstream timeouts",
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        return Reason.HTTP_PROTOCOL, _fail(
            "http.protocol_error",
            endpoint,
            f"{endpoint} sent a malformed HTTP response: {_detail(exc.message)}; "
            "check that the port serves HTTP and that no proxy in between rewrites the response",
        )

    os_errno = _find_errno(exc)
    if os_errno in _REFUSED_ERRNOS:
        return Reason.TCP_REFUSED, _fail(
            "net.refused",
            endpoint,
            f"{endpoint} refused the connection; check that the server is running and listening on that port "
            "and that no firewall rejects the probe",
        )
    if os_errno in _RESET_ERRNOS:
        return Reason.TCP_RESET, _fail(
            "net.reset",
            endpoint,
            f"{endpoint} reset the connection{while_phase}; check the server and proxy logs for crashes, "
            "connection limits or a load balancer dropping the request",
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Reason.HTTP_PROTOCOL, _fail(
            "http.connection_closed",
            endpoint,
            f"{endpoint} closed the connection without a complete response{while_phase}; "
            "check the server and proxy logs for crashes or restarts",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Reason.CONNECT_ERROR, _fail(
            "net.connect_failed",
            endpoint,
            f"connecting to {endpoint} failed: {_detail(exc.os_error)}; check the address, the route and firewalls",
        )
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return Reason.CONNECT_ERROR, _fail(
            "net.connection_failed",
            endpoint,
            f"the connection to {endpoint} failed{while_phase}: {_detail(exc)}; check the server and proxy logs",
        )
    return None


def _translate_dns(error: DNSLookupError | aiohttp.ClientConnectorDNSError, endpoint: str) -> tuple[Reason, Finding]:
    if isinstance(error, DNSLookupError) and error.nxdomain:
        return Reason.DNS_NXDOMAIN, _fail(
            "net.dns_nxdomain",
            error.host,
            f"{error.host} does not exist in DNS (NXDOMAIN); check the spelling and the DNS zone, "
            "or map the name to an address in the site's resolve setting",
        )
    host = error.host
    return Reason.DNS_ERROR, _fail(
        "net.dns_error",
        host,
        f"looking up {host} for {endpoint} failed: {_detail(error)}; check the configured nameservers and the DNS zone",
    )


def _translate_certificate(error: BaseException, endpoint: str) -> tuple[Reason, Finding]:
    code = getattr(error, "verify_code", None)
    detail = getattr(error, "verify_message", None) or _detail(error)
    if code == _X509_EXPIRED:
        return Reason.TLS_EXPIRED, _fail(
            "tls.cert_expired",
            endpoint,
            f"the TLS certificate of {endpoint} has expired; renew it and reload the server",
        )
    if code == _X509_HOSTNAME_MISMATCH:
        return Reason.TLS_HOSTNAME, _fail(
            "tls.hostname_mismatch",
            endpoint,
            f"the TLS certificate of {endpoint} is not valid for that name ({detail}); "
            "issue a certificate that lists the name, or check that the name points at the right server",
        )
    if code in _X509_UNTRUSTED:
        return Reason.TLS_UNTRUSTED, _fail(
            "tls.cert_untrusted",
            endpoint,
            f"the TLS certificate of {endpoint} is not trusted ({detail}); serve the full chain up to a trusted CA, "
            "or set ca_file to the CA bundle that issued it",
        )
    if code == _X509_NOT_YET_VALID:
        return Reason.TLS_ERROR, _fail(
            "tls.cert_not_yet_valid",
            endpoint,
            f"the TLS certificate of {endpoint} is not valid yet; check the server's clock and the certificate's start date",
        )
    return Reason.TLS_ERROR, _fail(
        "tls.cert_invalid",
        endpoint,
        f"the TLS certificate of {endpoint} failed verification ({detail}); check the certificate and its chain",
    )


def _find_dns_error(exc: BaseException) -> DNSLookupError | aiohttp.ClientConnectorDNSError | None:
    # aiohttp wraps resolver errors in ClientConnectorDNSError and keeps the
    # original as ``os_error``; other probes call the resolver directly.
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        if isinstance(exc.os_error, DNSLookupError):
            return exc.os_error
        return exc
    if isinstance(exc, DNSLookupError):
        return exc
    return None


def _find_errno(exc: BaseException) -> int | None:
    """Return the first errno along the exception, its ``os_error`` and its causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return errno.ECONNREFUSED
        if isinstance(current, ConnectionResetError):
            return errno.ECONNRESET
        if isinstance(current, OSError) and current.errno is not None:
            return current.errno
        os_error = getattr(current, "os_error", None)
        if isinstance(os_error, OSError) and os_error is not current:
            current = os_error
            continue
        current = current.__cause__ or current.__context__
    return None


def _detail(value: object) -> str:
    # Parser errors span several lines with a caret under the bad byte.
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def _fail(code: str, subject: str, message: str) -> Finding:
    return Finding(code=code, severity=Severity.FAIL, message=message, subject=subject)

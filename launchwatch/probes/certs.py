"""Certificate checks without network access: chain verification, names, dates and strength.

Chain building uses OpenSSL's verifier through pyOpenSSL, not
`cryptography.x509.verification`. cryptography's verifier (checked with
cryptography 50) applies the CA/Browser Forum profile: it rejects SHA-1
signatures, RSA keys below 2048 bits and expired certificates with one
generic error, and it has no switch to skip the date check. The probe must
instead name each of those problems on its own, so it lets OpenSSL build
and check the path with the date check switched off, then judges dates,
names and strength here against the path OpenSSL chose.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from OpenSSL import crypto

# X509_V_FLAG_NO_CHECK_TIME from OpenSSL's x509_vfy.h (OpenSSL 1.1.0 and later).
# pyOpenSSL's X509StoreFlags does not list it, but X509Store.set_flags passes
# the integer straight to X509_STORE_set_flags.
_X509_V_FLAG_NO_CHECK_TIME = 0x200000

# OpenSSL X509_V_ERR_* verify codes (include/openssl/x509_vfy.h).
_ERR_UNABLE_TO_GET_ISSUER_CERT = 2
_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19
_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20
_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21

# Elliptic curves below this size give less than 112 bits of security.
_MIN_EC_BITS = 224
_WEAK_SIGNATURE_HASHES = {"md2", "md4", "md5", "sha1"}


class ChainProblem(enum.StrEnum):
    """The reason no path from the leaf to a trust anchor verified."""

    SELF_SIGNED = "self_signed"
    UNTRUSTED_ROOT = "untrusted_root"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """The outcome of building a path from the leaf to a trust anchor.

    `chain` runs from the leaf to the trust anchor and is set only when a
    path verified. Otherwise `problem` is the reason, and `culprit` is the
    certificate where the path stopped.
    """

    chain: list[x509.Certificate] | None
    problem: ChainProblem | None = None
    detail: str = ""
    culprit: x509.Certificate | None = None


def build_trust_store(
    anchors_der: Iterable[bytes],
    *,
    cafile: str | None = None,
    capath: str | None = None,
) -> crypto.X509Store:
    """Build an OpenSSL store that trusts DER `anchors_der` plus a CA file or directory, ignoring validity dates."""
    store = crypto.X509Store()
    for der in anchors_der:
        # OpenSSL parses the anchors itself: cryptography warns about, and will
        # later reject, a few CA certificates that system stores still ship.
        store.add_cert(crypto.load_certificate(crypto.FILETYPE_ASN1, der))
    if cafile or capath:
        store.load_locations(cafile, capath)
    store.set_flags(_X509_V_FLAG_NO_CHECK_TIME)
    return store


def verify_chain(
    leaf: x509.Certificate,
    sent: Sequence[x509.Certificate],
    store: crypto.X509Store,
) -> ChainVerification:
    """Build and verify a path from `leaf` using only `sent` and the trust anchors in `store`.

    Validity dates are not checked here, so an expired certificate still
    yields its path and the caller can report the date itself. The store is
    only read, so one store can serve several verifications.
    """
    untrusted = [crypto.X509.from_cryptography(cert) for cert in sent if cert != leaf]
    context = crypto.X509StoreContext(store, crypto.X509.from_cryptography(leaf), untrusted)
    try:
        verified = context.get_verified_chain()
    except crypto.X509StoreContextError as exc:
        code, depth, message = exc.errors[0], exc.errors[1], str(exc.errors[2])
        culprit = exc.certificate.to_cryptography() if exc.certificate is not None else None
        return ChainVerification(
            chain=None,
            problem=_classify_failure(code, depth, culprit, leaf),
            detail=message,
            culprit=culprit,
        )
    return ChainVerification(chain=[cert.to_cryptography() for cert in verified])


def _classify_failure(code: int, depth: int, culprit: x509.Certificate | None, leaf: x509.Certificate) -> ChainProblem:
    if code == _ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return ChainProblem.SELF_SIGNED
    if code == _ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return ChainProblem.UNTRUSTED_ROOT
    if code in (_ERR_UNABLE_TO_GET_ISSUER_CERT, _ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, _ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE):
        # The leaf's own issuer is neither sent nor trusted: the server left out
        # the intermediate. When the path stops above the leaf, the server did
        # send an intermediate, and that intermediate's issuer is a CA the store
        # does not know.
        if depth == 0 or (culprit is not None and culprit == leaf):
            return ChainProblem.INCOMPLETE
        return ChainProblem.UNTRUSTED_ROOT
    return ChainProblem.INVALID


def is_self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def describe(cert: x509.Certificate) -> str:
    """Name a certificate the way a person can find it: subject, issuer and serial."""
    return f"subject {cert.subject.rfc4514_string()}, issuer {cert.issuer.rfc4514_string()}, serial {cert.serial_number:X}"


def not_before(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_after_utc


def days_left(cert: x509.Certificate, now: dt.datetime) -> float:
    """Return the days until `cert` expires; negative once it has expired."""
    return (not_after(cert) - now).total_seconds() / 86400.0


def earliest_expiry(chain: Sequence[x509.Certificate]) -> x509.Certificate:
    """Return the certificate of `chain` that expires first (the first among equals)."""
    return min(chain, key=not_after)


# --- host names (RFC 6125) ---


def presented_names(cert: x509.Certificate) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """Return the DNS names and IP addresses in the subjectAltName extension."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)


def matches_host(cert: x509.Certificate, host: str) -> bool:
    """Check `host` against the certificate's subjectAltName entries (RFC 6125).

    The subject common name is not consulted: browsers and most TLS
    libraries stopped reading it (Chrome 58, Go 1.15), so a certificate
    without a matching subjectAltName fails in them.
    """
    dns_names, addresses = presented_names(cert)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return any(matches_dns_name(pattern, host) for pattern in dns_names)
    return address in addresses


def matches_dns_name(pattern: str, host: str) -> bool:
    """Match one presented DNS name against a reference host name (RFC 6125 section 6.4).

    A wildcard is honoured only as the whole leftmost label, stands for
    exactly one non-empty label, and needs at least two labels after it: so
    ``*.example.test`` covers ``app.example.test`` but neither
    ``example.test`` nor ``a.b.example.test``. Partial-label wildcards such
    as ``a*.example.test`` never match, as in current browsers.
    """
    pattern_labels = pattern.lower().rstrip(".").split(".")
    host_labels = host.lower().rstrip(".").split(".")
    if not all(host_labels):
        return False
    if pattern_labels[0] != "*":
        return "*" not in pattern and pattern_labels == host_labels
    rest = pattern_labels[1:]
    if len(rest) < 2 or any("*" in label for label in rest):
        return False
    return len(host_labels) == len(pattern_labels) and host_labels[1:] == rest


# --- key and signature strength ---


def weak_key(cert: x509.Certificate, min_rsa_bits: int) -> str | None:
    """Describe the certificate's public key if it is too weak, else return None."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < min_rsa_bits:
        return f"RSA {key.key_size}-bit key (minimum {min_rsa_bits})"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}-bit key (DSA keys are no longer accepted by browsers)"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.key_size < _MIN_EC_BITS:
        return f"EC {key.curve.name} {key.key_size}-bit key (minimum {_MIN_EC_BITS})"
    return None


def weak_signature(cert: x509.Certificate) -> str | None:
    """Return the signature hash name if the certificate is signed with a broken hash, else None."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        # cryptography has no class for MD2/MD4 and some legacy schemes.
        return cert.signature_algorithm_oid.dotted_string
    if algorithm is not None and algorithm.name.lower() in _WEAK_SIGNATURE_HASHES:
        return algorithm.name.upper().replace("SHA1", "SHA-1")
    return None

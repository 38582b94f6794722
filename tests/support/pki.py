"""Certificates made per test: roots, intermediates and leaves with chosen flaws.

Everything is generated with `cryptography`, except SHA-1 signatures:
cryptography 42 and later raise UnsupportedAlgorithm when asked to sign with
SHA-1, so `sha1_leaf` signs with Debian's `openssl x509 -req -sha1` instead.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# Validity windows are relative to the real clock because nginx and the
# probe's handshake run on it; the probe's own date checks read ctx.clock.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def days(count: float) -> dt.datetime:
    """Return the moment `count` days from now (negative for the past)."""
    return NOW + dt.timedelta(days=count)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "launchwatch tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _serial() -> int:
    return x509.random_serial_number()


def make_root(
    common_name: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> Issued:
    """Make a self-signed CA certificate."""
    key = key or ec_key()
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before or days(-30))
        .not_valid_after(not_after or days(3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_intermediate(
    issuer: Issued,
    common_name: str,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> Issued:
    """Make a CA certificate signed by `issuer`."""
    key = key or ec_key()
    cert = (
        _issued_builder(issuer, _name(common_name), key, not_before or days(-30), not_after or days(1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(cert, key)


def cross_sign(issuer: Issued, subject: Issued, *, not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    """Re-issue `subject`'s CA name and key under `issuer`, like a cross-signed root."""
    return (
        _issued_builder(issuer, subject.cert.subject, subject.key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )


def make_leaf(
    issuer: Issued,
    hosts: list[str],
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> Issued:
    """Make a server certificate for `hosts` (DNS names or IP addresses) signed by `issuer`."""
    key = key or ec_key()
    cert = (
        _issued_builder(issuer, _name(hosts[0]), key, not_before or days(-1), not_after or days(90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_self_signed_leaf(hosts: list[str]) -> Issued:
    """Make a server certificate that signs itself, as `openssl req -x509` does."""
    key = ec_key()
    name = _name(hosts[0])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(days(-1))
        .not_valid_after(days(90))
        .add_extension(x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_sha1_leaf(issuer: Issued, hosts: list[str], workdir: Path) -> Issued:
    """Make a server certificate signed with SHA-1 by `issuer`, through the openssl CLI."""
    workdir.mkdir(parents=True, exist_ok=True)
    key = rsa_key()

    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(hosts[0]))
        .sign(key, hashes.SHA256())
    )
    csr_path = workdir / "sha1.csr"
    issuer_cert_path = workdir / "sha1-issuer.pem"
    issuer_key_path = workdir / "sha1-issuer.key"
    extensions_path = workdir / "sha1.ext"
    cert_path = workdir / "sha1.pem"

    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    issuer_cert_path.write_bytes(issuer.cert_pem())
    issuer_key_path.write_bytes(issuer.key_pem())
    san = ", ".join(f"DNS:{host}" for host in hosts)
    extensions_path.write_text(f"basicConstraints=critical,CA:FALSE\nsubjectAltName={san}\nextendedKeyUsage=serverAuth\n")

    subprocess.run(
        [
            "openssl", "x509", "-req", "-sha1", "-days", "30",
            "-in", str(csr_path),
            "-CA", str(issuer_cert_path),
            "-CAkey", str(issuer_key_path),
            "-set_serial", str(_serial()),
            "-extfile", str(extensions_path),
            "-out", str(cert_path),
        ],
        check=True,
        capture_output=True,
    )
    return Issued(x509.load_pem_x509_certificate(cert_path.read_bytes()), key)


def write_pem(path: Path, *items: Issued | x509.Certificate) -> Path:
    """Write certificates to one PEM file in the given order and return its path."""
    chunks = []
    for item in items:
        cert = item.cert if isinstance(item, Issued) else item
        chunks.append(cert.public_bytes(serialization.Encoding.PEM))
    path.write_bytes(b"".join(chunks))
    return path


def write_key(path: Path, issued: Issued) -> Path:
    path.write_bytes(issued.key_pem())
    path.chmod(0o600)
    return path


def _issued_builder(
    issuer: Issued, subject: x509.Name, key: PrivateKey, not_before: dt.datetime, not_after: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)

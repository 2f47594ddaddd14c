"""Per-run certificates for mTLS between the sidecars, generated with `cryptography`.

One throw-away CA signs a server certificate (for the server-side sidecar, valid for 127.0.0.1 and
localhost) and a client certificate (for the client-side sidecar). Everything lives in the run's
working directory and dies with it; nothing touches a system trust store.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "localhost"
_VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class MtlsFiles:
    """PEM files of one run's mTLS material."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def all(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.server_cert, self.server_key, self.client_cert, self.client_key)


def mtls_files(directory: Path) -> MtlsFiles:
    return MtlsFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
        client_cert=directory / "client.pem",
        client_key=directory / "client-key.pem",
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshmark testbed"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key() -> ec.EllipticCurvePrivateKey:
    # P-256: what meshes use by default (Istio, Linkerd), and cheap to generate per run.
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _leaf(
    common_name: str,
    usage: x509.ObjectIdentifier,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime.datetime,
    san: list[x509.GeneralName] | None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def generate_mtls_files(directory: Path) -> MtlsFiles:
    """Write a fresh CA, server and client certificate into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    files = mtls_files(directory)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("meshmark testbed CA"))
        .issuer_name(_name("meshmark testbed CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_san: list[x509.GeneralName] = [
        x509.DNSName(SERVER_NAME),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server_key, server_cert = _leaf(
        "server-sidecar", ExtendedKeyUsageOID.SERVER_AUTH, ca_key, ca_cert, now, server_san
    )
    client_key, client_cert = _leaf(
        "client-sidecar",
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ca_key,
        ca_cert,
        now,
        [x509.DNSName("client-sidecar")],
    )
    _write_cert(files.ca_cert, ca_cert)
    _write_cert(files.server_cert, server_cert)
    _write_key(files.server_key, server_key)
    _write_cert(files.client_cert, client_cert)
    _write_key(files.client_key, client_key)
    return files


def ensure_mtls_files(directory: Path) -> MtlsFiles:
    """The run's mTLS files, generated once (idempotent: a second call reuses them)."""
    files = mtls_files(directory)
    if all(p.is_file() for p in files.all()):
        return files
    return generate_mtls_files(directory)

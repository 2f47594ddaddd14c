"""Per-run mTLS material: a CA that really signs server and client certificates fit for their role."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshmark_tasks.backends.local.certs import SERVER_NAME, ensure_mtls_files, generate_mtls_files


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    try:
        public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except Exception:
        return False
    return True


def test_ca_signs_server_and_client_certificates(tmp_path: Path) -> None:
    files = generate_mtls_files(tmp_path / "certs")
    ca, server, client = _load(files.ca_cert), _load(files.server_cert), _load(files.client_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _signed_by(server, ca) and _signed_by(client, ca)
    assert not _signed_by(ca, server)
    other = _load(generate_mtls_files(tmp_path / "other").ca_cert)
    assert not _signed_by(server, other), "each run must have its own CA"


def test_certificates_are_fit_for_their_role(tmp_path: Path) -> None:
    files = generate_mtls_files(tmp_path)
    server, client = _load(files.server_cert), _load(files.client_cert)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert SERVER_NAME in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert (
        ExtendedKeyUsageOID.CLIENT_AUTH
        in client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )


def test_keys_are_private_and_match_their_certificates(tmp_path: Path) -> None:
    files = generate_mtls_files(tmp_path)
    for key in (files.server_key, files.client_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # ssl refuses a certificate whose key does not match.
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.server_cert, files.server_key)
    ssl.create_default_context().load_cert_chain(files.client_cert, files.client_key)


def test_ensure_reuses_existing_material(tmp_path: Path) -> None:
    first = ensure_mtls_files(tmp_path)
    ca_bytes = first.ca_cert.read_bytes()
    second = ensure_mtls_files(tmp_path)
    assert second == first and second.ca_cert.read_bytes() == ca_bytes
    first.client_key.unlink()
    third = ensure_mtls_files(tmp_path)
    assert third.client_key.is_file() and third.ca_cert.read_bytes() != ca_bytes

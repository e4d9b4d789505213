"""The demo PKI made on first start: a root CA and an agency certificate, clearly marked DEMO."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

DEMO_MARK = "DEMO - không có giá trị pháp lý"


@dataclass(frozen=True)
class DemoPki:
    root_cert: Path
    agency_p12: Path
    agency_password_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"sohoa ({DEMO_MARK})"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


DEMO_ROOT = "demo-root.pem"  # the demo root CA's certificate, in the PKI folder


def ensure_demo_pki(directory: Path, agency_name: str) -> DemoPki:
    """Create the demo root CA and agency PKCS#12 once; later calls reuse them."""
    pki = DemoPki(directory / DEMO_ROOT, directory / "demo-agency.p12", directory / "demo-agency.password")
    if pki.root_cert.exists() and pki.agency_p12.exists() and pki.agency_password_file.exists():
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = _name("sohoa DEMO Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{agency_name} ({DEMO_MARK})" if "DEMO" not in agency_name else agency_name))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(18)
    p12 = pkcs12.serialize_key_and_certificates(
        b"demo-agency", key, cert, [root], serialization.BestAvailableEncryption(password.encode())
    )
    _write_private(pki.agency_password_file, password.encode())
    _write_private(pki.agency_p12, p12)
    _write_private(
        directory / "demo-root.key",
        root_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    (directory / "README.txt").write_text(
        "Chứng thư số DEMO do sohoa tự tạo: chỉ để thử, không có giá trị pháp lý.\n"
        "DEMO certificates made by sohoa: for trying it out only, no legal value.\n",
        encoding="utf-8",
    )
    # Root last: its presence marks the set as complete.
    pki.root_cert.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return pki

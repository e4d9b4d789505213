"""The demo PKI made on first start: a root CA, an agency certificate, a time-stamping
authority and the root's CRL, all clearly marked DEMO. With it a fresh install signs at PAdES
B-LT (time stamp, revocation data embedded) without any server: the demo TSA answers inside the
sohoa process, and the CRL is made by the demo root itself."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import crl, keys, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


ROOT_KEY = "demo-root.key"  # the demo root's key, beside its certificate (0600: demo only)


def demo_pki_at(directory: Path) -> DemoPki:
    """The demo PKI's files in ``directory``, made or not."""
    return DemoPki(directory / "demo-root.pem", directory / "demo-agency.p12", directory / "demo-agency.password")


def ensure_demo_pki(directory: Path, agency_name: str) -> DemoPki:
    """Create the demo root CA and agency PKCS#12 once; later calls reuse them."""
    pki = demo_pki_at(directory)
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
        directory / ROOT_KEY,
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


def _root(pki: DemoPki) -> tuple[x509.Certificate, rsa.RSAPrivateKey] | None:
    """The demo root and its key (kept in the PKI folder, 0600: demo only)."""
    key_path = pki.root_cert.parent / ROOT_KEY
    if not key_path.exists():
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return x509.load_pem_x509_certificate(pki.root_cert.read_bytes()), key


def _leaf(
    root: tuple[x509.Certificate, rsa.RSAPrivateKey],
    common_name: str,
    key: rsa.RSAPrivateKey,
    *extensions: x509.ExtensionType,
) -> x509.Certificate:
    """A certificate the demo root issues, valid until the day before the root ends; every
    extension critical (they say what the certificate may be used for)."""
    root_cert, root_key = root
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
        .not_valid_after(root_cert.not_valid_after_utc - dt.timedelta(days=1))
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=True)
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key())
    return builder.add_extension(authority, critical=False).sign(root_key, hashes.SHA256())


def demo_tsa(pki: DemoPki) -> tuple[asn1_x509.Certificate, keys.PrivateKeyInfo] | None:
    """The demo time-stamping authority's certificate and key, made by the demo root on first
    use (None for a demo PKI made before it kept its root's key)."""
    cert_path, key_path = pki.root_cert.parent / "demo-tsa.pem", pki.root_cert.parent / "demo-tsa.key"
    if not cert_path.exists():
        root = _root(pki)
        if root is None:
            return None
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _leaf(
            root,
            f"sohoa DEMO TSA ({DEMO_MARK})",
            key,
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
        )
        pem_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(key_path, pem_key)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # last: marks the pair complete
    [(_, _, der)] = pem.unarmor(cert_path.read_bytes(), multiple=True)
    _, _, key_der = pem.unarmor(key_path.read_bytes())
    return asn1_x509.Certificate.load(der), keys.PrivateKeyInfo.load(key_der)


CRL_DAYS = 30  # how long a demo CRL is valid; a new one is made when less than half is left


def demo_crl(pki: DemoPki) -> crl.CertificateList | None:
    """The demo root's CRL (nothing revoked), remade when half its validity is gone: what a B-LT
    signature embeds to show its certificates were not revoked when it was made."""
    path = pki.root_cert.parent / "demo-root.crl"
    now = dt.datetime.now(dt.UTC)
    if path.exists():
        current = crl.CertificateList.load(path.read_bytes())
        if current["tbs_cert_list"]["next_update"].native - now > dt.timedelta(days=CRL_DAYS / 2):
            return current
    root = _root(pki)
    if root is None:
        return None
    root_cert, root_key = root
    made = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + dt.timedelta(days=CRL_DAYS))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(made.public_bytes(serialization.Encoding.DER))
    os.replace(tmp, path)
    return crl.CertificateList.load(path.read_bytes())


def _signing_p12(pki: DemoPki, name: str, password: str, label: bytes) -> bytes:
    """A DEMO signing certificate for ``name`` from the demo root, as PKCS#12 under ``password``."""
    root = _root(pki)
    if root is None:
        raise FileNotFoundError(pki.root_cert.parent / ROOT_KEY)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _leaf(
        root,
        f"{name[: 64 - len(' (DEMO)')]} (DEMO)",  # a common name holds 64 characters; agencies' names run long
        key,
        x509.BasicConstraints(ca=False, path_length=None),
        x509.KeyUsage(True, True, False, False, False, False, False, False, False),
    )
    return pkcs12.serialize_key_and_certificates(
        label, key, cert, [root[0]], serialization.BestAvailableEncryption(password.encode())
    )


def demo_person(pki: DemoPki, name: str, password: str) -> bytes:
    """A person's DEMO signing certificate, as PKCS#12 under ``password``: what a fresh install's
    officers and leaders sign with before they have real ones."""
    return _signing_p12(pki, name, password, b"demo-person")


def demo_agency(pki: DemoPki, code: str, name: str) -> tuple[Path, Path]:
    """A registered agency's own DEMO certificate from the demo root (PKCS#12 and its password
    file in ``agencies/<code>/``), made once: each agency of a demo deployment signs as itself."""
    folder = pki.root_cert.parent / "agencies" / code
    p12, password_file = folder / "agency.p12", folder / "agency.password"
    if p12.exists() and password_file.exists():
        return p12, password_file
    password = secrets.token_urlsafe(18)
    made = _signing_p12(pki, name, password, b"demo-agency")
    # Made in a folder of its own, then renamed into place: two processes making it at once keep
    # one pair (the loser's rename fails and it takes the winner's).
    tmp = folder.with_name(f".{code}.{os.getpid()}.{secrets.token_hex(4)}")
    tmp.mkdir(parents=True)
    _write_private(tmp / password_file.name, password.encode())
    _write_private(tmp / p12.name, made)
    try:
        tmp.rename(folder)
    except OSError:
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()
    return p12, password_file


def demo_seal(pki: DemoPki) -> Path:
    """A red round seal image marked DEMO (transparent PNG), for results the demo PKI seals:
    a real agency configures the image of its own seal (SOHOA_SEAL_IMAGE)."""
    from PIL import Image, ImageDraw, ImageFont

    path = pki.root_cert.parent / "demo-seal.png"
    if path.exists():
        return path
    size, red = 600, (210, 20, 30, 235)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse([8, 8, size - 8, size - 8], outline=red, width=22)
    draw.ellipse([70, 70, size - 70, size - 70], outline=red, width=8)
    font = ImageFont.truetype("/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf", 110)
    draw.text((size / 2, size / 2), "DEMO", fill=red, font=font, anchor="mm")
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path

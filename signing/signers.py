"""Who signs: the agency certificate held by the server as a PKCS#12 file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign import signers
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.demo_pki import ensure_demo_pki
from signing.errors import CertificateUnusable, WrongPassword


class KeyedSigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner loads (and checks) the private key again for every signature,
    twice counting the size estimate: about 30 ms each for RSA. This one keeps it loaded."""

    def __init__(self, *, key: PrivateKeyTypes, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)["algorithm"].native
        if isinstance(self._key, RSAPrivateKey) and mechanism in ("rsassa_pkcs1v15", "sha256_rsa"):
            if dry_run:
                return bytes(self._key.key_size // 8)  # only its size matters
            return self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        return await super().async_sign_raw(data, digest_algorithm, dry_run)


@dataclass(frozen=True)
class AgencySigner:
    signer: signers.SimpleSigner
    subject: str
    demo: bool

    @property
    def name(self) -> str:
        """The certificate's common name, for messages."""
        return str(self.signer.signing_cert.subject.native.get("common_name", self.subject))


def _der(cert: object) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)  # type: ignore[attr-defined]


def load_pkcs12(path: Path, password: bytes, *, demo: bool = False) -> AgencySigner:
    """Load a PKCS#12 file; a wrong password or a file without a key is a clear error."""
    label = path.name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CertificateUnusable(
            f"Không đọc được tệp chứng thư {label}: {e.strerror}.",
            f"Cannot read certificate file {label}: {e.strerror}.",
            field="pkcs12",
        ) from e
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password or None)
    except ValueError as e:
        raise WrongPassword(
            f"Sai mật khẩu hoặc tệp {label} không phải PKCS#12.",
            f"Wrong password, or {label} is not a PKCS#12 file.",
            field="password",
        ) from e
    if key is None or cert is None:
        raise CertificateUnusable(
            f"Tệp {label} không chứa khóa bí mật và chứng thư ký.",
            f"{label} holds no private key and signing certificate.",
            field="pkcs12",
        )
    key_der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signing_cert = asn1_x509.Certificate.load(_der(cert))
    chain = [asn1_x509.Certificate.load(_der(c)) for c in extra]
    simple = KeyedSigner(
        key=key,
        signing_cert=signing_cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([signing_cert, *chain]),
    )
    return AgencySigner(simple, signing_cert.subject.human_friendly, demo)


def agency_signer(
    pkcs12_path: Path | None, password_file: Path | None, *, pki_dir: Path, agency_name: str
) -> AgencySigner:
    """The configured agency certificate, or the demo one when none is configured."""
    if pkcs12_path is None:
        pki = ensure_demo_pki(pki_dir, agency_name)
        return load_pkcs12(pki.agency_p12, pki.agency_password_file.read_bytes().strip(), demo=True)
    password = b""
    if password_file is not None:
        try:
            password = password_file.read_bytes().rstrip(b"\r\n")
        except OSError as e:
            raise CertificateUnusable(
                f"Không đọc được tệp mật khẩu {password_file.name}.",
                f"Cannot read password file {password_file.name}.",
                field="password_file",
            ) from e
    return load_pkcs12(pkcs12_path, password)

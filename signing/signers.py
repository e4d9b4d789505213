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
    signer: signers.Signer
    subject: str
    demo: bool

    @property
    def name(self) -> str:
        """The certificate's common name, for messages."""
        cert = self.signer.signing_cert
        return common_name(cert) if cert is not None else self.subject


def common_name(cert: asn1_x509.Certificate) -> str:
    """The name a person reads for a certificate: its common name, else its whole subject."""
    return str(cert.subject.native.get("common_name", cert.subject.human_friendly))


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


@dataclass(frozen=True)
class Pkcs11Config:
    module: Path  # the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    token: str  # token label
    key: str  # label of the key and its certificate on the token
    pin_file: Path | None = None
    # Typed by a person for this signature (instead of a file): checked every time, so the
    # session must be closed (logged out) after it (``close``).
    pin: str | None = None


def read_secret(path: Path | None, what: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as e:
        raise CertificateUnusable(
            f"Không đọc được tệp {path.name} ({what}).", f"Cannot read {path.name} ({what}).", field=what
        ) from e


def load_pkcs11(config: Pkcs11Config) -> AgencySigner:
    """The agency key on a PKCS#11 token or HSM; the key never leaves it."""
    import pkcs11.exceptions as p11
    from pyhanko.sign.pkcs11 import PKCS11Signer, TokenCriteria, open_pkcs11_session

    pin = config.pin if config.pin is not None else read_secret(config.pin_file, "pin_file")
    criteria = TokenCriteria(label=config.token)
    try:
        try:
            session = open_pkcs11_session(str(config.module), token_criteria=criteria, user_pin=pin or None)
        except p11.UserAlreadyLoggedIn as e:  # PKCS#11 logs in the application, not the session
            if config.pin is not None:  # a person's typed PIN is always checked: never signed without it
                raise CertificateUnusable(
                    f"Thiết bị ký «{config.token}» đang được dùng bởi phiên khác: khóa cá nhân phải ở thiết bị riêng.",
                    f"Signing token “{config.token}” is logged in by another session: a personal key needs a "
                    "token of its own.",
                    field="pkcs11",
                ) from e
            session = open_pkcs11_session(str(config.module), token_criteria=criteria, user_pin=None)
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as e:
        raise WrongPassword(
            f"Sai mã PIN của thiết bị ký «{config.token}».",
            f"Wrong PIN for signing token “{config.token}”.",
            field="pin",
        ) from e
    except (OSError, p11.PKCS11Error, ValueError, RuntimeError) as e:
        raise CertificateUnusable(
            f"Không mở được thiết bị ký «{config.token}» qua {config.module.name}: {e}",
            f"Cannot open signing token “{config.token}” through {config.module.name}: {e}",
            field="pkcs11",
        ) from e
    # Every certificate on the token goes into the signature: tokens carry their CA chain.
    signer = PKCS11Signer(session, key_label=config.key, cert_label=config.key, other_certs_to_pull=None)
    try:
        cert = signer.signing_cert
    except Exception as e:  # pyHanko reports a missing object with several exception types
        session.close()  # leaves nobody logged in to the token
        raise CertificateUnusable(
            f"Thiết bị ký «{config.token}» không có khóa và chứng thư «{config.key}».",
            f"Token “{config.token}” holds no key and certificate labelled “{config.key}”.",
            field="pkcs11",
        ) from e
    return AgencySigner(signer, cert.subject.human_friendly, demo=False)


def close(signer: AgencySigner) -> None:
    """Log a token's session out (a PKCS#12 key has none): the next signature needs the PIN again."""
    session = getattr(signer.signer, "pkcs11_session", None)
    if session is not None:
        session.close()


def agency_signer(
    pkcs12_path: Path | None,
    password_file: Path | None,
    *,
    pki_dir: Path,
    agency_name: str,
    pkcs11: Pkcs11Config | None = None,
) -> AgencySigner:
    """The configured agency key (token, or PKCS#12 file), or the demo one when none is configured."""
    if pkcs11 is not None:
        return load_pkcs11(pkcs11)
    if pkcs12_path is None:
        pki = ensure_demo_pki(pki_dir, agency_name)
        return load_pkcs12(pki.agency_p12, pki.agency_password_file.read_bytes().strip(), demo=True)
    password = read_secret(password_file, "password_file").encode()
    return load_pkcs12(pkcs12_path, password)

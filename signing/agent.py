"""The signing agent on the clerk's machine (``sohoa sign-agent``): it asks the service to
prepare a document, signs the returned bytes with the clerk's PKCS#11 token (the key never
leaves it) and sends the signature back."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pkcs11
from asn1crypto import pem
from pkcs11 import Attribute, Mechanism, ObjectClass

from signing.errors import CertificateUnusable, WrongPassword
from signing.signers import Pkcs11Config, read_secret

Post = Callable[[str, dict[str, Any]], dict[str, Any]]  # (path, JSON body) -> JSON answer


def _session(config: Pkcs11Config) -> Any:
    try:
        token = pkcs11.lib(str(config.module)).get_token(token_label=config.token)
        try:
            pin = config.pin if config.pin is not None else read_secret(config.pin_file, "pin_file")
            return token.open(user_pin=pin or None)
        except pkcs11.exceptions.UserAlreadyLoggedIn:  # PKCS#11 logs in the application, not the session
            return token.open()
    except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinLenRange) as e:
        raise WrongPassword(
            f"Sai mã PIN của thiết bị ký «{config.token}».",
            f"Wrong PIN for signing token “{config.token}”.",
            field="pin",
        ) from e
    except (pkcs11.exceptions.PKCS11Error, RuntimeError) as e:
        raise CertificateUnusable(
            f"Không mở được thiết bị ký «{config.token}»: {e}",
            f"Cannot open signing token “{config.token}”: {e}",
            field="pkcs11",
        ) from e


def token_chain(config: Pkcs11Config) -> str:
    """Every certificate on the token, the key's own first, as PEM."""
    with _session(config) as session:
        certs = [
            (c[Attribute.LABEL], c[Attribute.VALUE])
            for c in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})
        ]
    certs.sort(key=lambda item: item[0] != config.key)
    if not certs or certs[0][0] != config.key:
        raise CertificateUnusable(
            f"Thiết bị ký không có chứng thư «{config.key}».",
            f"The token holds no certificate “{config.key}”.",
            field="pkcs11",
        )
    return "".join(pem.armor("CERTIFICATE", der).decode() for _, der in certs)


def sign_bytes(config: Pkcs11Config, data: bytes) -> bytes:
    """SHA-256 with RSA over ``data``, computed by the token."""
    with _session(config) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=config.key)
        return bytes(key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS))


def run(post: Post, document_path: str, config: Pkcs11Config, *, page_count: int | None = None) -> dict[str, Any]:
    """Prepare, sign on the token, complete; returns the service's final answer. An officer
    vouching for a digitized copy gives the paper's ``page_count`` (and so confirms every page
    is readable)."""
    body: dict[str, Any] = {"certificates": token_chain(config)}
    if page_count is not None:
        body |= {"page_count": page_count, "pages_readable": True}
    prepared = post(f"{document_path}/remote-signatures", body)
    signature = sign_bytes(config, base64.b64decode(prepared["to_be_signed"]))
    return post(prepared["complete_url"], {"signature": base64.b64encode(signature).decode()})

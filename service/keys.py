"""A person's own signing key held by the server (a PKCS#12 file, or a key on the server's
PKCS#11 token or HSM) and their signature image: bound to their account by an administrator,
unlocked by the person's PIN at each signature, never by the server alone."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

import storage.manifest
from errors import SohoaError
from service.access import Principal, token_row
from service.context import Context, audit
from signing.errors import WrongPassword

if TYPE_CHECKING:
    from signing.signers import AgencySigner

PEOPLE = "people"  # the object store's folder of personal keys and signature images


class NoPersonalKey(SohoaError):
    status = 409
    code = "no-personal-key"


def _put(ctx: Context, token_id: int, name: str, path: Path, kind: str, actor: str) -> str:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    info = ctx.store.put_file(f"{PEOPLE}/{token_id}/{name}-{sha[:16]}{path.suffix}", path, write_once=True)
    with ctx.sessions.begin() as session:
        storage.manifest.record(session, info, kind=kind, code=None, actor=actor)
    return info.key


def bind_pkcs12(ctx: Context, token_id: int, p12: Path, password: str, *, actor: str) -> str:
    """Keep a person's PKCS#12 for them; the password is checked now (the person is there) and
    not stored: they give it with each signature. Returns the certificate's name."""
    from signing.signers import load_pkcs12

    signer = load_pkcs12(p12, password.encode())
    _check_usable(ctx, signer)
    key = _put(ctx, token_id, "key", p12, "key", actor)
    _bind(ctx, token_id, {"pkcs12": key}, actor)
    return signer.name


def bind_pkcs11(ctx: Context, token_id: int, module: Path, token: str, label: str, pin: str, *, actor: str) -> str:
    """Bind a person's key on the server's PKCS#11 token or HSM (checked now with their PIN)."""
    from signing.signers import Pkcs11Config, close, load_pkcs11

    if ctx.settings.signing_pkcs11_module is not None and token == ctx.settings.signing_pkcs11_token:
        raise SohoaError(  # logged in for the agency, the token would sign without the person's PIN
            f"Token «{token}» giữ khóa của cơ quan: khóa cá nhân phải ở token khác.",
            f"Token “{token}” holds the agency's key: a personal key must be on another token.",
            field="token",
        )
    signer = load_pkcs11(Pkcs11Config(module, token, label, pin=pin))
    try:
        _check_usable(ctx, signer)
    finally:
        close(signer)
    _bind(ctx, token_id, {"pkcs11": {"module": str(module), "token": token, "key": label}}, actor)
    return signer.name


def make_demo_key(ctx: Context, token_id: int, *, actor: str) -> tuple[str, str]:
    """A DEMO personal certificate from the demo PKI, bound to the person; returns its name and
    the PIN that unlocks it (shown once)."""
    from service.options import uses_demo_pki
    from signing.demo_pki import demo_person, ensure_demo_pki

    if not uses_demo_pki(ctx.settings):
        raise SohoaError(
            "Chỉ tạo được khóa DEMO khi dịch vụ dùng PKI DEMO.",
            "A DEMO key can only be made while the service uses the demo PKI.",
            field="demo",
        )
    with ctx.sessions() as session:
        name = token_row(session, token_id).name
    pin = secrets.token_urlsafe(9)
    pki = ensure_demo_pki(ctx.settings.pki_dir, ctx.settings.demo_agency)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        p12 = Path(tmp) / "demo.p12"
        p12.write_bytes(demo_person(pki, name, pin))
        return bind_pkcs12(ctx, token_id, p12, pin, actor=actor), pin


def _check_usable(ctx: Context, signer: AgencySigner) -> None:
    """A personal key must be a real signer's, as in the two-step flow: chains to a trust root,
    valid, made for signing, not revoked."""
    import datetime as dt

    from signing.remote import check_signer

    cert = signer.signer.signing_cert
    assert cert is not None
    others = list(signer.signer.cert_registry) if signer.signer.cert_registry is not None else []
    check_signer([cert, *[c for c in others if c.dump() != cert.dump()]], ctx.trust_roots(), dt.datetime.now(dt.UTC))


def _bind(ctx: Context, token_id: int, key: dict[str, Any], actor: str) -> None:
    with ctx.sessions.begin() as session:
        row = token_row(session, token_id)
        row.signing_key = key
        audit(session, actor, "token.key_bound", None, token=row.id, name=row.name, signing_key=key)


def set_signature_image(ctx: Context, token_id: int, png: Path, *, actor: str) -> str:
    """A person's signature image (a PNG, best on a transparent background), shown on the results
    they sign."""
    try:
        with Image.open(png) as image:
            image.verify()
            ok = image.format == "PNG"
    except (OSError, UnidentifiedImageError):
        ok = False
    if not ok:
        raise SohoaError(f"{png.name} không phải ảnh PNG.", f"{png.name} is not a PNG image.", field=png.name)
    key = _put(ctx, token_id, "signature", png, "image", actor)
    with ctx.sessions.begin() as session:
        row = token_row(session, token_id)
        row.signature_image = key
        audit(session, actor, "token.signature_image", None, token=row.id, name=row.name, signature_image=key)
    return key


@contextlib.contextmanager
def personal_signer(ctx: Context, by: Principal, pin: str) -> Iterator[AgencySigner]:
    """The key the server holds for ``by``, unlocked with their PIN (a wrong PIN: 422), and
    locked again afterwards."""
    from signing.signers import close

    signer = _unlock(ctx, by, pin)
    try:
        yield signer
    finally:
        close(signer)


def _unlock(ctx: Context, by: Principal, pin: str) -> AgencySigner:
    from signing.signers import Pkcs11Config, load_pkcs11, load_pkcs12

    with ctx.sessions() as session:
        key = token_row(session, by.id).signing_key
    if not key:
        raise NoPersonalKey(
            "Máy chủ không giữ khóa ký cá nhân của bạn: ký hai bước bằng USB token, hoặc nhờ quản trị gắn khóa "
            "(`sohoa users key`).",
            "The server holds no personal signing key for you: sign in two steps with your USB token, or ask an "
            "administrator to bind one (`sohoa users key`).",
            field="pin",
        )
    if "pkcs11" in key:
        token = key["pkcs11"]
        return load_pkcs11(Pkcs11Config(Path(token["module"]), token["token"], token["key"], pin=pin))
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        p12 = Path(tmp) / "key.p12"
        ctx.store.get_file(key["pkcs12"], p12)
        try:
            return load_pkcs12(p12, pin.encode())
        except WrongPassword as e:
            raise WrongPassword("Sai mã PIN khóa ký của bạn.", "Wrong PIN for your signing key.", field="pin") from e


def signature_image(ctx: Context, by: Principal, folder: Path) -> Path | None:
    """The person's signature image, copied into ``folder``; None if they have none."""
    with ctx.sessions() as session:
        key = token_row(session, by.id).signature_image
    if not key:
        return None
    path = folder / "signature.png"
    ctx.store.get_file(key, path)
    return path

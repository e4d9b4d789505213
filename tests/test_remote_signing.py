"""Two-step signing accepts only real signers: a certificate that chains to a configured root,
valid now, made for signing, not revoked, the caller's own; a session only its starter ends."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem
from certomancer.registry import CertLabel, KeyLabel
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

import api
import pki_server
from conftest import _clear_caches
from service import access
from service.context import context
from service.run import run_job
from service.scans import accept_scan
from storage import Document

CODE = "000.00.12.H12-250527-0001"
DOCUMENT = f"/api/v1/dossiers/{CODE}/documents/1"
PAPER = {"page_count": 1, "pages_readable": True}  # the officer vouches the copy matches the paper


@pytest.fixture
def service(
    data_dir: Path, pki: pki_server.TestPki, page_png: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, TestClient]]:
    """A dossier with one digitized document; clients for two clerks and a leader. The test PKI's
    root is trusted (SOHOA_TRUST_ROOTS)."""
    monkeypatch.setenv("SOHOA_TRUST_ROOTS", str(pki.root_pem))
    _clear_caches()
    ctx = context()
    job, _ = accept_scan(ctx, CODE, page_png, page_png.name)
    run_job(ctx, job.id)
    clients = {}
    for name, role in (("Nguyễn Văn An", "clerk"), ("Trần Thị Bình", "clerk"), ("Lê Văn Cường", "leader")):
        _, token = access.issue(ctx.sessions, name, role)
        clients[name] = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    yield clients


def _chain(pki: pki_server.TestPki, label: str) -> str:
    return "".join(
        pem.armor("CERTIFICATE", pki.arch.get_cert(CertLabel(name)).dump()).decode() for name in (label, "interm")
    )


def _sign(pki: pki_server.TestPki, label: str, to_be_signed: str) -> str:
    key = pki.arch.key_set.get_private_key(KeyLabel(label))
    private = serialization.load_der_private_key(key.dump(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    value = private.sign(base64.b64decode(to_be_signed), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(value).decode()


def _self_signed(common_name: str) -> tuple[str, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key


def _signed_version() -> str | None:
    with context().sessions() as session:
        document = session.get(Document, 1)
        assert document is not None
        return document.signed_sha256


@pytest.mark.parametrize(
    ("label", "said"),
    [
        ("revoked", "đã bị thu hồi"),
        ("expired", "đã hết hạn"),
        ("future", "chưa có hiệu lực"),
        ("no-signing", "không được dùng để ký"),
    ],
)
def test_an_unusable_certificate_is_refused(
    service: dict[str, TestClient], pki: pki_server.TestPki, data_dir: Path, label: str, said: str
) -> None:
    before = _signed_version()
    answer = service["Nguyễn Văn An"].post(
        f"{DOCUMENT}/remote-signatures", json={**PAPER, "certificates": _chain(pki, label)}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "certificate" and said in answer.json()["detail_vi"]
    assert _signed_version() == before and not list((data_dir / "pending-signatures").glob("*.pdf"))


def test_a_self_signed_certificate_never_becomes_a_signature(service: dict[str, TestClient], data_dir: Path) -> None:
    """The forgery the issue names: a self-signed "Chủ tịch UBND tỉnh (giả)" signed the document
    and the audit log recorded it. Now it is refused before anything is prepared."""
    chain, _key = _self_signed("Chủ tịch UBND tỉnh (giả)")
    before = _signed_version()
    answer = service["Nguyễn Văn An"].post(f"{DOCUMENT}/remote-signatures", json={**PAPER, "certificates": chain})
    assert answer.status_code == 422 and "chứng thư gốc tin cậy" in answer.json()["detail_vi"], answer.text
    assert _signed_version() == before
    events = service["Lê Văn Cường"].get(f"/api/v1/dossiers/{CODE}")  # the dossier is unchanged
    assert events.status_code == 200
    with context().sessions() as session:
        from storage import AuditEvent

        actions = [e.action for e in session.query(AuditEvent).filter(AuditEvent.dossier_code == CODE)]
    assert "signature.prepared" not in actions and "signature.added" not in actions


def test_only_the_starter_completes_a_session(service: dict[str, TestClient], pki: pki_server.TestPki) -> None:
    prepared = (
        service["Nguyễn Văn An"]
        .post(f"{DOCUMENT}/remote-signatures", json={**PAPER, "certificates": _chain(pki, "agency")})
        .json()
    )
    value = _sign(pki, "agency", prepared["to_be_signed"])
    before = _signed_version()
    for other in ("Trần Thị Bình", "Lê Văn Cường"):  # another clerk, a leader
        taken = service[other].post(prepared["complete_url"], json={"signature": value})
        assert taken.status_code == 403 and taken.json()["field"] == "id", taken.text
        assert "người khác bắt đầu" in taken.json()["detail_vi"]
    assert _signed_version() == before
    done = service["Nguyễn Văn An"].post(prepared["complete_url"], json={"signature": value})
    assert done.status_code == 200, done.text
    assert done.json()["signer"] == "UBND xã Hòa Bình" and _signed_version() != before


def test_a_bound_certificate_is_its_holder_s_alone(service: dict[str, TestClient], pki: pki_server.TestPki) -> None:
    ctx = context()
    an = next(t for t in access.tokens(ctx.sessions) if t.name == "Nguyễn Văn An")
    access.bind_certificate(ctx.sessions, an.id, pki.arch.get_cert(CertLabel("agency")).dump(), actor="admin")
    borrowed = service["Trần Thị Bình"].post(
        f"{DOCUMENT}/remote-signatures", json={**PAPER, "certificates": _chain(pki, "agency")}
    )
    assert borrowed.status_code == 403 and "người khác" in borrowed.json()["detail_vi"], borrowed.text
    other_cert, _ = _self_signed("Nguyễn Văn An")
    own_account = service["Nguyễn Văn An"].post(
        f"{DOCUMENT}/remote-signatures", json={**PAPER, "certificates": other_cert}
    )
    assert own_account.status_code == 403 and "chứng thư ký khác" in own_account.json()["detail_vi"]
    mine = service["Nguyễn Văn An"].post(
        f"{DOCUMENT}/remote-signatures", json={**PAPER, "certificates": _chain(pki, "agency")}
    )
    assert mine.status_code == 201, mine.text

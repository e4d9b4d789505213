"""Two-step signing, for a clerk's USB token or a remote signing service ("ký số từ xa"):
the server prepares the document and the bytes to be signed, the clerk's side signs them
with its key, and the server finishes the PDF. The server never holds the clerk's key.

Between the two steps the prepared document waits in ``pending_dir`` (files, so a restart
loses nothing); it expires after ``minutes``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.appearance import VIETNAM, Stamp, digitized_copy_lines, vietnam_time
from signing.errors import CertificateUnusable, SigningError
from signing.sign import (
    atomic_write,
    check_chain,
    check_may_sign,
    check_signing_certificate,
    next_field_name,
    open_writer,
    placed_stamp,
    signer_context,
)
from signing.signers import common_name

PENDING_MINUTES = 15


@dataclass(frozen=True)
class Prepared:
    id: str
    to_be_signed: bytes  # DER of the CMS signed attributes: sign it with SHA-256 and the key
    sha256: str  # its SHA-256, hex: what a service that signs hashes signs
    expires_at: dt.datetime


def load_chain(data: bytes) -> list[asn1_x509.Certificate]:
    """The signer's certificate first, then its CA chain; PEM (one or more) or one DER."""
    try:
        if pem.detect(data):
            return [asn1_x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]
        return [asn1_x509.Certificate.load(data)]
    except ValueError as e:
        raise CertificateUnusable(
            "Chứng thư gửi lên không đọc được (cần PEM hoặc DER).",
            "The certificate sent cannot be read (PEM or DER).",
            field="certificates",
        ) from e


def _pending(pending_dir: Path, pending_id: str) -> tuple[Path, Path]:
    if not pending_id.isalnum() or len(pending_id) != 32:
        raise SigningError("Mã phiên ký không hợp lệ.", "Invalid signing session id.", field="id")
    return pending_dir / f"{pending_id}.pdf", pending_dir / f"{pending_id}.json"


def purge_expired(pending_dir: Path, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(VIETNAM)
    for state in pending_dir.glob("*.json"):
        if dt.datetime.fromisoformat(json.loads(state.read_text())["expires_at"]) < now:
            state.with_suffix(".pdf").unlink(missing_ok=True)
            state.unlink(missing_ok=True)


def check_signer(chain: list[asn1_x509.Certificate], trust_roots: Sequence[Path], moment: dt.datetime) -> None:
    """Only a real signer's certificate is accepted: valid now, made for signing, chaining to a
    configured trust root, not revoked where the CA says so."""
    name = common_name(chain[0])
    check_signing_certificate(chain[0], name, moment)
    check_chain(chain[0], chain[1:], signer_context(trust_roots), name)


def prepare(
    src: Path,
    pending_dir: Path,
    chain_data: bytes,
    *,
    trust_roots: Sequence[Path],
    reason: str = "Ký duyệt",
    minutes: int = PENDING_MINUTES,
    context: dict[str, object] | None = None,
    heading: str = "",
    stamp: Stamp | None = None,
    page: int = 0,
) -> Prepared:
    """Add the clerk's signature field and appearance to ``src`` and return what to sign; the
    clerk's certificate must pass ``check_signer`` against ``trust_roots`` first. The stamp is
    a digitized copy's (``heading`` first: what an officer vouches for) unless another is given
    for ``page`` (from 0): an issued result's."""
    chain = load_chain(chain_data)
    signer_cert, moment = chain[0], dt.datetime.now(VIETNAM).replace(microsecond=0)
    name = common_name(signer_cert)
    check_signer(chain, trust_roots, moment)
    external = signers.ExternalSigner(
        signing_cert=signer_cert, cert_registry=SimpleCertificateStore.from_certs(chain), signature_value=1024
    )
    writer = open_writer(io.BytesIO(src.read_bytes()))
    check_may_sign(writer, src.name, None)
    field = next_field_name(writer)
    note = ""
    if stamp is None:  # below the stamps already there
        stamp, note = placed_stamp(writer, src, digitized_copy_lines(name, moment, heading))
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES, reason=reason, location="Việt Nam"
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=external,
        stamp_style=stamp.style,
        new_field_spec=fields.SigFieldSpec(sig_field_name=field, on_page=page, box=stamp.box),
    )
    output = io.BytesIO()
    digest, _tbs, _ = asyncio.run(
        pdf_signer.async_digest_doc_for_signing(
            writer, bytes_reserved=32768, appearance_text_params=stamp.text_params, output=output
        )
    )
    settings = PdfCMSSignedAttributes(signing_time=moment)  # the time the stamp shows
    attrs = asyncio.run(external.signed_attrs(digest.document_digest, "sha256", settings, use_pades=True))
    pending_dir.mkdir(parents=True, exist_ok=True)
    purge_expired(pending_dir, moment)
    pending_id = uuid.uuid4().hex
    pdf_path, state_path = _pending(pending_dir, pending_id)
    pdf_path.write_bytes(output.getvalue())
    expires = moment + dt.timedelta(minutes=minutes)
    state_path.write_text(
        json.dumps(
            {
                "field": field,
                "signer": name,
                "signed_at": vietnam_time(moment),
                "note": note,
                "document_digest": digest.document_digest.hex(),
                "start": digest.reserved_region_start,
                "end": digest.reserved_region_end,
                "signed_attrs": base64.b64encode(attrs.dump()).decode(),
                "chain": [base64.b64encode(c.dump()).decode() for c in chain],
                "expires_at": expires.isoformat(),
                "context": context or {},
            }
        )
    )
    return Prepared(pending_id, attrs.dump(), hashlib.sha256(attrs.dump()).hexdigest(), expires)


def context_of(pending_dir: Path, pending_id: str) -> dict[str, object]:
    """What the caller recorded with the prepared signature (which document it is for)."""
    _, state_path = _pending(pending_dir, pending_id)
    if not state_path.exists():
        raise SigningError(
            "Không có phiên ký này (đã xong, đã hết hạn hoặc chưa từng có).",
            "No such signing session (finished, expired or never started).",
            field="id",
        )
    return json.loads(state_path.read_text())["context"]


def _check_signature(cert: asn1_x509.Certificate, data: bytes, signature: bytes) -> None:
    key = x509.load_der_x509_certificate(cert.dump()).public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise InvalidSignature
    except InvalidSignature as e:
        raise SigningError(
            "Chữ ký gửi về không khớp với chứng thư và dữ liệu cần ký; tài liệu không thay đổi.",
            "The signature sent does not match the certificate and the data to be signed; nothing was changed.",
            field="signature",
        ) from e


def complete(
    pending_dir: Path, pending_id: str, signature: bytes, dst: Path, *, timestamper: TimeStamper | None = None
) -> dict[str, str]:
    """Embed the clerk's signature value (RSA or ECDSA over the signed attributes) and write ``dst``."""
    pdf_path, state_path = _pending(pending_dir, pending_id)
    context_of(pending_dir, pending_id)  # exists, or a clear error
    state = json.loads(state_path.read_text())
    if dt.datetime.fromisoformat(state["expires_at"]) < dt.datetime.now(VIETNAM):
        pdf_path.unlink(missing_ok=True)
        state_path.unlink(missing_ok=True)
        raise SigningError(
            "Phiên ký đã hết hạn; hãy chuẩn bị ký lại.",
            "The signing session has expired; prepare it again.",
            field="id",
        )
    chain = [asn1_x509.Certificate.load(base64.b64decode(c)) for c in state["chain"]]
    attrs = cms.CMSAttributes.load(base64.b64decode(state["signed_attrs"]))
    _check_signature(chain[0], attrs.dump(), signature)
    external = signers.ExternalSigner(
        signing_cert=chain[0], cert_registry=SimpleCertificateStore.from_certs(chain), signature_value=signature
    )
    signed_cms = asyncio.run(
        external.async_sign_prescribed_attributes("sha256", signed_attrs=attrs, timestamper=timestamper)
    )
    output = io.BytesIO(pdf_path.read_bytes())
    digest = PreparedByteRangeDigest(bytes.fromhex(state["document_digest"]), state["start"], state["end"])
    PdfTBSDocument.finish_signing(output, digest, signed_cms)
    with atomic_write(dst) as out:
        out.write(output.getvalue())
    pdf_path.unlink(missing_ok=True)
    state_path.unlink(missing_ok=True)
    info = {
        "field": state["field"],
        "signer": state["signer"],
        "time": state["signed_at"],
        "level": "PAdES B-T" if timestamper else "PAdES B-B",
    }
    return {**info, "note": state["note"]} if state.get("note") else info

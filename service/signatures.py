"""Signatures on stored documents: the agency's (the server's key), a clerk's in two steps
(prepare on the server, sign on the token, complete on the server), and verification."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from sqlalchemy import func, select, update

import storage.manifest
from checksums import sha256_file
from errors import SohoaError
from service import access
from service.access import Principal
from service.context import Context, audit, audit_read
from service.dossiers import write_manifest
from service.views import DocumentSigned, PreparedSignature, StoredVerification, Verification
from storage import Document, Signature, dossier_prefix, lifecycle, parse_code
from storage.catalog import StoredObject, changed, iso
from storage.errors import NotFound


def _signable(ctx: Context, code: str, document_id: int) -> str:
    """The key of a document's latest version (signed, else the PDF/A)."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        lifecycle.check_open(session, code, "ký thêm", "a new signature")
        document = session.scalars(
            select(Document).where(Document.id == document_id, Document.dossier_code == code)
        ).first()
        key = (document.signed_key or document.pdfa_key) if document else None
    if not key:
        raise NotFound(
            f"Hồ sơ {code} chưa có tài liệu {document_id} đã số hóa.",
            f"Dossier {code} has no digitized document {document_id}.",
            field="document_id",
        )
    return key


def _store_signed_version(
    ctx: Context, code: str, document_id: int, base: str, signed: Path, info: dict[str, str], actor: str
) -> DocumentSigned:
    """Keep a newly signed version (retained) and make it the document's latest, unless another
    signature was added to the same base version meanwhile: then this one would drop it."""
    sha = sha256_file(signed)
    stored = ctx.store.put_file(
        f"{dossier_prefix(code)}/documents/{document_id}/signed-{sha[:16]}.pdf", signed, write_once=True, retain=True
    )
    with ctx.sessions.begin() as session:
        lifecycle.check_open(session, code, "ký thêm", "a new signature")  # closed meanwhile
        moved = changed(
            session,
            update(Document)
            .where(Document.id == document_id, func.coalesce(Document.signed_key, Document.pdfa_key) == base)
            .values(signed_key=stored.key, signed_sha256=stored.sha256),
        )
        if not moved:
            raise lifecycle.TransitionRefused(
                f"Tài liệu {document_id} vừa được ký bởi người khác; hãy ký lại trên bản mới.",
                f"Document {document_id} was just signed by someone else; sign the new version again.",
                field="document_id",
            )
        storage.manifest.record(session, stored, kind="signed", code=code, actor=actor)
        session.add(
            Signature(
                document_id=document_id,
                field=info["field"],
                signer=info["signer"],
                signed_at=info["time"],
                level=info["level"],
                object_key=stored.key,
            )
        )
        audit(session, actor, "signature.added", code, document=document_id, signer=info["signer"])
    write_manifest(ctx, code)
    return DocumentSigned(**info, dossier=code, document_id=document_id, sha256=stored.sha256)


def sign_agency(ctx: Context, code: str, document_id: int, *, actor: str, reason: str = "") -> DocumentSigned:
    """Add the agency's signature (the server's certificate) to a document's latest version,
    its stamp below the earlier ones."""
    from signing.sign import sign_pdf  # pyHanko loads when first needed

    base = _signable(ctx, code, document_id)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src, out = Path(tmp) / "current.pdf", Path(tmp) / "signed.pdf"
        ctx.store.get_file(base, src)
        kwargs = ctx.signing().sign_kwargs()
        info = sign_pdf(src, out, ctx.signer(), **kwargs, reason=reason or "Xác nhận")
        return _store_signed_version(ctx, code, document_id, base, out, info, actor)


def prepare_remote(ctx: Context, code: str, document_id: int, chain: bytes, *, by: Principal) -> PreparedSignature:
    """Step 1 of a clerk's signature: the document's latest signed version, ready for the clerk's
    key. The certificate must be a real signer's (a configured root, valid, for signing, not
    revoked) and the caller's own, if one is bound to them; the session is theirs alone."""
    from signing import remote

    base = _signable(ctx, code, document_id)
    certificates = remote.load_chain(chain)
    access.check_certificate_holder(ctx.sessions, by, certificates[0].dump())
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src = Path(tmp) / "current.pdf"
        ctx.store.get_file(base, src)
        context = {"code": code, "document_id": document_id, "base": base, "actor": by.actor}
        prepared = remote.prepare(src, ctx.pending, chain, trust_roots=ctx.trust_roots(), context=context)
    with ctx.sessions.begin() as session:
        audit(session, by.actor, "signature.prepared", code, document=document_id, pending=prepared.id)
    return PreparedSignature(
        id=prepared.id,
        to_be_signed=base64.b64encode(prepared.to_be_signed).decode(),
        sha256=prepared.sha256,
        expires_at=iso(prepared.expires_at) or "",
    )


class NotYourSession(SohoaError):
    status = 403
    code = "not-your-session"


def complete_remote(ctx: Context, pending_id: str, signature: bytes, *, by: Principal) -> DocumentSigned:
    """Step 2: embed the clerk's signature and store the result as the document's new signed
    version; only the person who prepared the session may complete it."""
    from signing import remote

    context = remote.context_of(ctx.pending, pending_id)
    if context.get("actor") != by.actor:
        raise NotYourSession(
            "Phiên ký này do người khác bắt đầu; chỉ người đó hoàn tất được.",
            "Someone else started this signing session; only they may complete it.",
            field="id",
        )
    code, document_id, base = str(context["code"]), int(str(context["document_id"])), str(context["base"])
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        out = Path(tmp) / "signed.pdf"
        info = remote.complete(ctx.pending, pending_id, signature, out, timestamper=ctx.signing().timestamper())
        return _store_signed_version(ctx, code, document_id, base, out, info, by.actor)


def verify_file(ctx: Context, path: Path, *, name: str | None = None, actor: str | None = None) -> Verification:
    """What a PDF's signatures prove, every change made after them, its PDF/A conformance; a
    verification asked by a person is in the audit log (``actor``), with the file's ``name``."""
    from signing import verify_pdf  # pyHanko loads on the first verification

    report = Verification.model_validate(verify_pdf(path, ctx.trust_roots()).to_dict())
    if actor is not None:
        audit_read(ctx, actor, "file.verified", None, file=name or path.name, sha256=sha256_file(path), ok=report.ok)
    return report


def verify_document(ctx: Context, code: str, document_id: int, *, actor: str) -> StoredVerification:
    """Verify a document's latest version as stored: its signatures, every change made after
    them, its PDF/A conformance, and that the stored bytes are the ones the catalog recorded."""
    key = _signable(ctx, code, document_id)
    with ctx.sessions() as session:
        recorded = session.scalar(select(StoredObject.sha256).where(StoredObject.key == key))
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        path = Path(tmp) / f"{code}-{document_id}.pdf"
        ctx.store.get_file(key, path)
        sha256 = sha256_file(path)
        report = verify_file(ctx, path)
    intact = recorded is None or recorded == sha256
    audit_read(ctx, actor, "document.verified", code, document=document_id, ok=report.ok and intact)
    return StoredVerification(
        **{**report.model_dump(), "ok": report.ok and intact},
        dossier=code,
        document_id=document_id,
        version=key,
        sha256=sha256,
        stored_intact=intact,  # False: the object store holds other bytes than were stored
    )

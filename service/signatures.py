"""Signatures on stored documents, in the order service.signing_rules sets: a person's own (the
officer's vouching, a result's signer), with the key the server holds for them or in two steps
(prepare on the server, sign on their token, complete on the server); the agency's seal (the
server's key); and verification."""

from __future__ import annotations

import base64
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import storage.manifest
from checksums import sha256_file
from errors import SohoaError
from service import access, agencies, keys, signing_rules
from service.access import Principal
from service.context import Context, audit, audit_read
from service.dossiers import write_manifest
from service.options import uses_demo_pki
from service.views import DocumentSigned, PreparedSignature, StoredVerification, Verification
from storage import Document, Signature, dossier_prefix, lifecycle, outbox, parse_code
from storage.catalog import StoredObject, changed, find_document, iso
from storage.codes import agency_of
from storage.errors import NotFound


@dataclass(frozen=True)
class Target:
    """A document about to be signed: its latest version (signed, else the PDF/A), what the
    signature will be (``kind``) and the content version it covers."""

    code: str
    document_id: int  # the catalog's
    key: str
    document_kind: str
    version: str | None
    pages: int
    kind: str = ""
    number: int = 0  # in its dossier, as people and URLs name it


def _target(
    ctx: Context,
    code: str,
    number: int,
    *,
    as_: str = "",
    by: Principal | None = None,
    page_count: int | None = None,
    readable: bool = False,
) -> Target:
    """The document's latest version; with ``as_`` (agency, or personal: the officer's vouching on
    a component, the signer's on a result) the signing rules checked for ``by`` first."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        if as_:  # a closed dossier is still read and verified, never signed
            lifecycle.check_open(session, code, "ký thêm", "a new signature")
        document = find_document(session, code, number)
        key = (document.signed_key or document.pdfa_key) if document else None
        if document is None or not key:
            raise NotFound(
                f"Hồ sơ {code} chưa có tài liệu {number} đã số hóa.",
                f"Dossier {code} has no digitized document {number}.",
                field="document_id",
            )
        kind = signing_rules.personal_kind(document) if as_ == "personal" else as_
        if kind:
            assert by is not None
            signing_rules.check_may_sign(
                session, document, kind, by, ctx.settings.seal_roles, page_count=page_count, readable=readable
            )
        return Target(code, document.id, key, document.kind, document.pdfa_sha256, document.page_count, kind, number)


def _vouched(pages: int) -> str:
    """What an officer's stamp says they vouch for (decree 107/2021)."""
    return f"Đã đối chiếu, khớp bản giấy ({pages} trang)"


def _store_signed_version(
    ctx: Context, target: Target, signed: Path, info: dict[str, str], actor: str
) -> DocumentSigned:
    """Keep a newly signed version (retained) and make it the document's latest, unless another
    signature was added to the same base version meanwhile: then this one would drop it."""
    from signing.renew import last_timestamp_expiry  # pyHanko loads when first needed

    code, document_id = target.code, target.document_id
    sha, expires = sha256_file(signed), last_timestamp_expiry(signed)  # the renewal selects by the expiry
    stored = ctx.store.put_file(
        f"{dossier_prefix(code)}/documents/{document_id}/signed-{sha[:16]}.pdf", signed, write_once=True, retain=True
    )
    with ctx.sessions.begin() as session:
        lifecycle.check_open(session, code, "ký thêm", "a new signature")  # closed meanwhile
        moved = changed(
            session,
            update(Document)
            .where(Document.id == document_id, func.coalesce(Document.signed_key, Document.pdfa_key) == target.key)
            .values(
                signed_key=stored.key, signed_sha256=stored.sha256, stamp_expires=expires, stamp_sha256=stored.sha256
            ),
        )
        if not moved:
            raise lifecycle.TransitionRefused(
                f"Tài liệu {target.number} vừa được ký hoặc thay bởi người khác; hãy ký lại trên bản mới.",
                f"Document {target.number} was just signed or replaced by someone else; sign the new version again.",
                field="document_id",
            )
        storage.manifest.record(session, stored, kind="signed", code=code, actor=actor)
        session.add(
            Signature(
                document_id=document_id,
                kind=target.kind,
                version=target.version,
                actor=actor,
                field=info["field"],
                signer=info["signer"],
                signed_at=info["time"],
                level=info["level"],
                object_key=stored.key,
            )
        )
        detail = {"document": document_id, "number": target.number, "kind": target.kind, "signer": info["signer"]}
        audit(session, actor, "signature.added", code, **detail)
        signed_event(session, code, target.number, target.kind, info, stored.sha256)
    write_manifest(ctx, code)
    return DocumentSigned(
        **info,
        kind=target.kind,
        dossier=code,
        document_id=target.number,
        sha256=stored.sha256,
    )


def seal(ctx: Context, code: str, document_id: int, *, by: Principal, reason: str = "") -> DocumentSigned:
    """The agency's seal (the server's certificate) on a document's latest version, after the
    officer's vouching (a component: its stamp below the earlier ones) or the signer's signature
    (a result: the seal image over the left third of the signer's)."""
    from signing import results
    from signing.sign import sign_pdf  # pyHanko loads when first needed

    target = _target(ctx, code, document_id, as_=signing_rules.AGENCY, by=by)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src, out = Path(tmp) / "current.pdf", Path(tmp) / "signed.pdf"
        ctx.store.get_file(target.key, src)
        profile = agencies.signing(ctx, code)  # read once: it opens the demo PKI's files
        kwargs, signer = profile.sign_kwargs(), agencies.signer(ctx, code)  # the dossier's agency's key
        if target.document_kind == signing_rules.RESULT:
            organization = kwargs["agency_name"] or signer.name
            field = _signer_field(ctx, target)
            stamp, page = results.seal_stamp(src, field, organization, seal_image(ctx, code))
            info = sign_pdf(src, out, signer, **kwargs, stamp=stamp, page=page, reason=reason or "Đóng dấu")
        else:
            info = sign_pdf(src, out, signer, **kwargs, reason=reason or "Xác nhận của cơ quan")
        return _store_signed_version(ctx, target, out, noted(info, profile.note), by.actor)


def _signer_field(ctx: Context, target: Target) -> str:
    """The field of the result's signer's signature, which the seal goes over."""
    with ctx.sessions() as session:
        field = session.scalar(
            select(Signature.field)
            .where(
                Signature.document_id == target.document_id,
                Signature.kind == signing_rules.SIGNER,
                Signature.version == target.version,
            )
            .order_by(Signature.id.desc())
        )
    assert field is not None  # the rules let the seal through only after the signer's signature
    return field


def seal_image(ctx: Context, code: str) -> Path:
    """The seal image of dossier ``code``'s agency: its own (registry), else the deployment's, else
    the demo PKI's (marked DEMO). An agency with a key of its own has a seal of its own too."""
    from signing.demo_pki import demo_pki_at, demo_seal

    agency = agencies.profile(ctx, agency_of(code))
    if agency is not None and agency.seal_image is not None:
        return agency.seal_image
    if agency is not None and agency.own_key:
        raise SohoaError(
            f"Chưa có ảnh con dấu của cơ quan {agency.code} (sohoa agencies update --seal-image): chưa đóng dấu được.",
            f"Agency {agency.code} has no seal image (sohoa agencies update --seal-image): results cannot be sealed.",
            field="seal_image",
        )
    if ctx.settings.seal_image is not None:
        return ctx.settings.seal_image
    if not uses_demo_pki(ctx.settings):  # a real agency's result never shows a DEMO seal
        raise SohoaError(
            "Chưa cấu hình ảnh con dấu của cơ quan (SOHOA_SEAL_IMAGE): chưa đóng dấu kết quả được.",
            "The agency's seal image is not configured (SOHOA_SEAL_IMAGE): results cannot be sealed yet.",
            field="SOHOA_SEAL_IMAGE",
        )
    return demo_seal(demo_pki_at(ctx.settings.pki_dir))


def sign_personal(
    ctx: Context,
    code: str,
    document_id: int,
    *,
    by: Principal,
    pin: str,
    page_count: int | None = None,
    readable: bool = False,
    reason: str = "",
) -> DocumentSigned:
    """A person's own signature with the key the server holds for them (unlocked by their PIN):
    the officer's vouching on a component (the paper's page count and every page readable,
    confirmed), the signer's on a result (their signature image and name)."""
    from signing import results
    from signing.sign import sign_pdf

    target = _target(ctx, code, document_id, as_="personal", by=by, page_count=page_count, readable=readable)
    with keys.personal_signer(ctx, by, pin) as signer, tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src, out = Path(tmp) / "current.pdf", Path(tmp) / "signed.pdf"
        ctx.store.get_file(target.key, src)
        profile = agencies.signing(ctx, code)  # read once: it opens the demo PKI's files
        kwargs = {**profile.sign_kwargs(), "agency_name": None}  # the name in their certificate
        if target.kind == signing_rules.SIGNER:
            image = keys.signature_image(ctx, by, Path(tmp))
            stamp, page, note = results.signer_stamp(src, signer.name, image)
            info = noted(
                sign_pdf(src, out, signer, **kwargs, stamp=stamp, page=page, reason=reason or "Ký ban hành"), note
            )
        else:
            heading = _vouched(target.pages)
            info = sign_pdf(src, out, signer, **kwargs, heading=heading, reason=reason or "Xác nhận bản số hóa")
        return _store_signed_version(ctx, target, out, noted(info, profile.note), by.actor)


def signed_event(session: Session, code: str, number: int, kind: str, info: dict[str, str], sha256: str) -> None:
    """A signature just recorded, for the webhook subscribers (in the transaction that records it)."""
    made = {"document": number, "kind": kind, "signer": info["signer"], "time": info["time"], "level": info["level"]}
    outbox.record(session, outbox.DOCUMENT_SIGNED, code, **made, sha256=sha256)


def noted(info: dict[str, str], note: str) -> dict[str, str]:
    """A signature's answer with one more thing a person should know (a stamp over text, a
    DEMO time stamp), after what signing said."""
    said = " ".join(filter(None, [info.get("note"), note]))
    return {**info, "note": said} if said else info


def prepare_remote(
    ctx: Context,
    code: str,
    document_id: int,
    chain: bytes,
    *,
    by: Principal,
    page_count: int | None = None,
    readable: bool = False,
) -> PreparedSignature:
    """Step 1 of a person's signature with their own token: the officer's vouching on a
    component, the signer's on a result (the rules checked now, and again when it is stored).
    The certificate must be a real signer's (a configured root, valid, for signing, not
    revoked) and the caller's own, if one is bound to them; the session is theirs alone."""
    from signing import remote, results
    from signing.signers import common_name

    target = _target(ctx, code, document_id, as_="personal", by=by, page_count=page_count, readable=readable)
    certificates = remote.load_chain(chain)
    access.check_certificate_holder(ctx.sessions, by, certificates[0].dump())
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src = Path(tmp) / "current.pdf"
        ctx.store.get_file(target.key, src)
        context = {**asdict(target), "actor": by.actor}
        look: dict[str, Any] = {"heading": _vouched(target.pages)}
        if target.kind == signing_rules.SIGNER:
            image = keys.signature_image(ctx, by, Path(tmp))
            stamp, page, _ = results.signer_stamp(src, common_name(certificates[0]), image)
            look = {"stamp": stamp, "page": page}
        prepared = remote.prepare(src, ctx.pending, chain, trust_roots=ctx.trust_roots(), context=context, **look)
    with ctx.sessions.begin() as session:
        detail = {"document": target.document_id, "number": document_id, "kind": target.kind, "pending": prepared.id}
        audit(session, by.actor, "signature.prepared", code, **detail)
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
    """Step 2: embed the person's signature and store the result as the document's new signed
    version; only the person who prepared the session may complete it."""
    from signing import remote

    context = remote.context_of(ctx.pending, pending_id)
    if context.get("actor") != by.actor:
        raise NotYourSession(
            "Phiên ký này do người khác bắt đầu; chỉ người đó hoàn tất được.",
            "Someone else started this signing session; only they may complete it.",
            field="id",
        )
    target = Target(**{k: v for k, v in context.items() if k != "actor"})  # type: ignore[arg-type]
    by.require_dossier(target.code)  # their agencies may have changed since they prepared it
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        out = Path(tmp) / "signed.pdf"
        timestamper = agencies.signing(ctx, target.code).timestamper()
        info = remote.complete(ctx.pending, pending_id, signature, out, timestamper=timestamper)
        return _store_signed_version(ctx, target, out, info, by.actor)


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
    target = _target(ctx, code, document_id)
    key = target.key
    with ctx.sessions() as session:
        recorded = session.scalar(select(StoredObject.sha256).where(StoredObject.key == key))
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        path = Path(tmp) / f"{code}-{document_id}.pdf"
        ctx.store.get_file(key, path)
        sha256 = sha256_file(path)
        report = verify_file(ctx, path)
    intact = recorded is None or recorded == sha256
    detail = {"document": target.document_id, "number": document_id, "ok": report.ok and intact}
    audit_read(ctx, actor, "document.verified", code, **detail)
    return StoredVerification(
        **{**report.model_dump(), "ok": report.ok and intact},
        dossier=code,
        document_id=document_id,
        version=key,
        sha256=sha256,
        stored_intact=intact,  # False: the object store holds other bytes than were stored
    )

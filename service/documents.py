"""A dossier's documents as the desk sees them: each one's number in the dossier, its latest
job's status and error, its signatures and quality notices; and the rule for fixing one that went
wrong (a new scan in its place, or removal): only before any signature is on it, and not while
a job of its waits or runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, exists, select, update
from sqlalchemy.orm import Session

import storage.search
from errors import SohoaError
from service import failures
from service.fields import document_fields
from service.views import DocumentNotice, DocumentView, JobError, Kind, Notice, SignatureView
from storage import Document, Dossier, Job, Signature
from storage.catalog import JobStatus, changed, find_document
from storage.errors import NotFound
from storage.lifecycle import PENDING


def versions(document: Document) -> dict[Kind, str | None]:
    """What can be downloaded of a document, by kind: object keys, None if not made yet."""
    return {
        "original": document.original_key,
        "pdfa": document.pdfa_key,
        "signed": document.signed_key,
        "alto": document.alto_key,  # words with their boxes, ALTO v4 XML
    }


def _signature(s: Signature, document: Document) -> SignatureView:
    return SignatureView(
        kind=s.kind,
        signer=s.signer,
        time=s.signed_at,
        level=s.level,
        actor=s.actor,
        current=s.version in (None, document.pdfa_sha256),
    )


def _view(document: Document, job: Row[Any] | None, signatures: list[Signature]) -> DocumentView:
    """A document as the desk sees it; ``job``: its latest job's id, status and error."""
    error = failures.shown(job.error, job.id) if job is not None else None
    return DocumentView(
        id=document.number,
        kind=document.kind,
        file=document.original_name,
        pages=document.page_count,
        original_sha256=document.original_sha256,
        status=JobStatus(job.status) if job is not None else JobStatus.DONE,  # a batch's: made done
        job_id=job.id if job is not None else None,
        error=JobError(**error) if error else None,
        notices=[Notice(**n) for n in document.notices or []],
        versions=[kind for kind, key in versions(document).items() if key],
        signatures=[_signature(s, document) for s in signatures],
        fields=document_fields(document),
        read=document.read,
    )


def document_views(session: Session, dossier: Dossier) -> tuple[list[DocumentView], list[DocumentNotice]]:
    """The dossier's documents (not those removed), and every notice of theirs with its number."""
    documents = [d for d in dossier.documents if d.removed_at is None]
    ids = [d.id for d in documents]
    signed = session.scalars(select(Signature).where(Signature.document_id.in_(ids)).order_by(Signature.id)).all()
    jobs = select(Job.id, Job.document_id, Job.status, Job.error).where(Job.document_id.in_(ids))
    latest = {job.document_id: job for job in session.execute(jobs.order_by(Job.created_at))}  # the last one wins
    views = [_view(d, latest.get(d.id), [s for s in signed if s.document_id == d.id]) for d in documents]
    notices = [DocumentNotice(**n.model_dump(), document=v.id) for v in views for n in v.notices]
    return views, notices


class DocumentSigned(SohoaError):
    status = 409
    code = "document-signed"


class DocumentBusy(SohoaError):
    status = 409
    code = "document-busy"


def no_document(code: str, number: int) -> NotFound:
    return NotFound(f"Hồ sơ {code} không có tài liệu số {number}.", f"Dossier {code} has no document {number}.",
                    field="document_id")  # fmt: skip


def locked(session: Session, code: str, number: int) -> Document:
    """Document ``number`` of the dossier, locked for a change (PostgreSQL; SQLite has one writer)."""
    document = find_document(session, code, number, lock=True)
    if document is None:
        raise no_document(code, number)
    return document


def change(session: Session, document: Document, what: tuple[str, str], **values: Any) -> None:
    """Set ``values`` on a document (a new original, or its removal) only if no signature is on
    it and no job of its waits or runs: the database checks both in the statement that writes,
    so a signature or an upload at the same moment is either seen or comes after. ``what`` says
    the change, in Vietnamese and English, for the refusal."""
    signed = exists().where(Signature.document_id == document.id)
    busy = exists().where(Job.document_id == document.id, Job.status.in_(PENDING))
    where = (Document.id == document.id, Document.removed_at.is_(None), ~signed, ~busy)
    if changed(session, update(Document).where(*where).values(**values).execution_options(synchronize_session=False)):
        session.refresh(document)
        return
    number, (vi, en) = document.number, what
    if session.scalar(select(exists().where(Signature.document_id == document.id))):
        raise DocumentSigned(
            f"Tài liệu {number} đã được ký: không {vi} được nữa (bản đã ký là hồ sơ lưu).",
            f"Document {number} is signed: it can no longer be {en} (a signed copy is part of the record).",
            field="document_id",
        )
    raise DocumentBusy(
        f"Tài liệu {number} đang chờ hoặc đang được số hóa: đợi công việc xong (hoặc hủy nó) rồi {vi}.",
        f"Document {number} is waiting for or being digitized: let its job end (or cancel it), then it can be {en}.",
        field="document_id",
    )


def clear_versions(session: Session, document: Document) -> dict[str, Any]:
    """Forget what was made from a document's original (pages, index, PDF/A, ALTO, notices); the
    objects stay in the store, listed in the manifest. What it had, for the audit entry."""
    had = {"file": document.original_name, "sha256": document.original_sha256, "pages": document.page_count}
    storage.search.forget_pages(session, document)
    document.pdfa_key = document.pdfa_sha256 = document.signed_key = document.signed_sha256 = None
    document.alto_key, document.notices, document.page_count = None, None, 0
    return had

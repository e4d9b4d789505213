"""Dossiers: create, read, list, edit, move along the lifecycle, legal hold; the versions of their
documents and the manifest kept beside their objects."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import storage.manifest
import storage.search
from errors import SohoaError
from records import DOCUMENT_FIELDS, DOSSIER_FIELDS, Field
from service import fields, retention, signing_rules
from service.access import Scope
from service.agencies import retention_for, within
from service.context import Context, audit, audit_read
from service.documents import change, clear_versions, document_views, locked, versions
from service.settings import Settings
from service.views import (
    DossierPage,
    DossierSummary,
    DossierView,
    FieldInfo,
    FieldTable,
    HistoryEntry,
    Kind,
    LegalHoldView,
)
from storage import Dossier, lifecycle, parse_code
from storage.catalog import StoredObject, find_document, insert_new, iso, now
from storage.errors import NotFound, StorageError, no_dossier

log = logging.getLogger("sohoa")
RETENTION_CODES = ("", retention.PERMANENT, *retention.YEARS)  # 01 = permanent, else years


def write_manifest(ctx: Context, code: str) -> None:
    """Bring the dossier's manifest up to date, and its objects' locks to its retention code. The
    catalog is the record: a manifest that cannot be written now (store down) is rewritten whole,
    and the locks set, at the dossier's next change."""
    retention.bind(ctx, code)
    try:
        with ctx.sessions() as session:
            storage.manifest.write(ctx.store, session, code, ctx.tmp)
    except StorageError as e:
        log.warning("manifest of %s not written: %s", code, e.en)


def check_meta(meta: dict[str, Any]) -> dict[str, Any]:
    meta = {k: unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v for k, v in meta.items()}
    if meta.get("retention", "") not in RETENTION_CODES:
        raise SohoaError(
            "Mã thời hạn bảo quản phải là 01 (vĩnh viễn), 70, 50, 30, 20 hoặc 10 (năm).",
            "The retention code must be 01 (permanent), 70, 50, 30, 20 or 10 (years).",
            field="retention",
        )
    return meta


def text_of(value: Any) -> str | None:
    return None if value is None else value.isoformat() if isinstance(value, dt.date) else str(value)


class DossierExists(SohoaError):
    status = 409
    code = "dossier-exists"


class UnknownDossier(SohoaError):
    status = 404
    code = "dossier-unknown"


def may_create(settings: Settings, role: str) -> bool:
    """Whether scans posted by ``role`` may create the dossier they name. Reception (a clerk, an
    administrator) may; a scanner station only if SOHOA_SCANNER_CREATES_DOSSIERS says so: a
    mistyped code would make a dossier nobody received, and the scans would be lost to it."""
    return role != "scanner" or settings.scanner_creates_dossiers


def require_received(session: Session, code: str) -> None:
    """Refuse a scanner's scan for a dossier reception has not created."""
    if session.get(Dossier, code) is None:
        raise UnknownDossier(
            f"Hồ sơ {code} chưa được tiếp nhận: trạm quét không tạo hồ sơ mới. Kiểm tra lại mã hồ sơ, "
            "hoặc nhờ bộ phận tiếp nhận tạo hồ sơ trước.",
            f"Dossier {code} has not been received: a scanner station does not create dossiers. Check the "
            "code, or have reception create the dossier first.",
            field="code",
        )


def create_dossier(ctx: Context, code: str, meta: dict[str, Any], *, actor: str) -> DossierView:
    parsed = parse_code(code, ctx.settings.dossier_code_pattern)
    meta = check_meta(meta)
    with ctx.sessions.begin() as session:
        if not meta.get("retention"):  # the agency's retention table, by the procedure
            meta["retention"] = retention_for(session, parsed.agency, meta.get("procedure_code") or "")
        if not insert_new(session, Dossier, code=code, agency=parsed.agency, received_on=parsed.received_on, **meta):
            raise DossierExists(f"Hồ sơ {code} đã có.", f"Dossier {code} exists already.", field="code")
        audit(session, actor, "dossier.created", code, **{k: str(v) for k, v in meta.items()})
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def update_dossier(ctx: Context, code: str, meta: dict[str, Any], *, actor: str) -> DossierView:
    parse_code(code, ctx.settings.dossier_code_pattern)
    meta = check_meta(meta)
    with ctx.sessions.begin() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise no_dossier(code)
        lifecycle.check_open(session, code, "sửa thông tin", "changing its details")
        changes = {k: {"old": text_of(getattr(dossier, k)), "new": text_of(v)} for k, v in meta.items()}
        for key, value in meta.items():
            setattr(dossier, key, value)
        session.flush()
        storage.search.reindex_dossier(session, code)  # title, procedure and applicant are searchable
        # Every change with the value it replaced: the log alone tells what the record said when.
        changed = {k: c for k, c in changes.items() if c["old"] != c["new"]}
        audit(session, actor, "dossier.updated", code, changes=changed)
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def update_fields(ctx: Context, code: str, values: dict[str, Any], *, actor: str) -> DossierView:
    """The circular's fields of a dossier (records.DOSSIER_FIELDS), checked, each change audited."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    fields.update_dossier(ctx, code, values, actor=actor)
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def update_document_fields(ctx: Context, code: str, number: int, values: dict[str, Any], *, actor: str) -> DossierView:
    """A clerk confirms or corrects a document's fields (pre-filled from its page)."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions.begin() as session:
        fields.update_document(session, code, number, values, actor=actor)
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def reread_fields(ctx: Context, code: str) -> int:
    """The fields of the dossier's documents digitized before they were read from the page, read
    from their stored ALTO; how many."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as work:
        count = fields.reread(ctx, code, Path(work))
    if count:
        write_manifest(ctx, code)
    return count


def field_table() -> FieldTable:
    def info(f: Field) -> FieldInfo:
        return FieldInfo(key=f.key, vi=f.vi, en=f.en, kind=f.kind, choices=list(f.choices), dublin_core=f.dc)

    return FieldTable(dossier=[info(f) for f in DOSSIER_FIELDS], document=[info(f) for f in DOCUMENT_FIELDS])


def transition(
    ctx: Context, code: str, to: str, *, actor: str, reason: str = "", due_on: dt.date | None = None
) -> DossierView:
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions.begin() as session:
        if to == lifecycle.DossierStatus.RESULT_SIGNED and not signing_rules.result_fully_signed(session, code):
            raise lifecycle.TransitionRefused(
                f"Hồ sơ {code} chưa có kết quả mang cả chữ ký người có thẩm quyền và con dấu cơ quan.",
                f"Dossier {code} has no result carrying both the signature of the person with authority "
                "and the agency's seal.",
                field="to",
            )
        lifecycle.move(session, code, to, actor=actor, reason=reason, due_on=due_on)
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def _summary(dossier: Dossier) -> dict[str, Any]:
    return {
        "code": dossier.code,
        "agency": dossier.agency,
        "title": dossier.title,
        "procedure": dossier.procedure,
        "procedure_code": dossier.procedure_code,
        "applicant": dossier.applicant,
        "retention": dossier.retention,
        "status": dossier.status,
        "received_on": iso(dossier.received_on),
        "due_on": iso(dossier.due_on),
        "returned_on": iso(dossier.returned_on),
        "next": sorted(lifecycle.NEXT[dossier.status]),
    }


def dossier_view(ctx: Context, code: str) -> DossierView:
    """A dossier with its documents (each one's number, job status and error, versions,
    signatures, notices), every notice of theirs, and its lifecycle history."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise no_dossier(code)
        documents, notices = document_views(session, dossier)
        history = [HistoryEntry.model_validate(h) for h in lifecycle.history(session, code)]
        values = fields.dossier_fields(session, dossier)
        return DossierView(**_summary(dossier), fields=values, documents=documents, notices=notices, history=history)


def read_dossier(ctx: Context, code: str, *, actor: str) -> DossierView:
    """A dossier as a person reads it: the view, and the read in the audit log."""
    view = dossier_view(ctx, code)
    audit_read(ctx, actor, "dossier.read", code)
    return view


def list_dossiers(
    ctx: Context,
    *,
    agency: str | None = None,
    procedure: str | None = None,
    status: str | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    limit: int = 20,
    offset: int = 0,
    scope: Scope = None,
) -> DossierPage:
    query = select(Dossier).where(within(Dossier.agency, scope))
    for column, value in ((Dossier.agency, agency), (Dossier.procedure, procedure), (Dossier.status, status)):
        if value:
            query = query.where(column == value)
    if received_from:
        query = query.where(Dossier.received_on >= received_from)
    if received_to:
        query = query.where(Dossier.received_on <= received_to)
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(Dossier.received_on.desc(), Dossier.code.desc()).limit(limit).offset(offset)
        )
        summaries = [DossierSummary(**_summary(d)) for d in rows]
    return DossierPage(total=total, limit=limit, offset=offset, dossiers=summaries)


# The statuses a dossier waits in for someone at the office (not yet returned or closed).
WAITING = tuple(s for s in lifecycle.STATUSES if s not in ("RETURNED", "REJECTED", "WITHDRAWN", "ARCHIVED"))


def work_queue(
    ctx: Context, *, status: str | None = None, limit: int = 50, offset: int = 0, scope: Scope = None
) -> DossierPage:
    """Dossiers waiting for the office (in ``status``, or in any status before their return), the
    earliest due first (overdue ones at the top), then those without a due date, oldest first."""
    wanted = [status] if status else list(WAITING)
    query = select(Dossier).where(Dossier.status.in_(wanted), within(Dossier.agency, scope))
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        order = (Dossier.due_on.is_(None), Dossier.due_on, Dossier.received_on, Dossier.code)
        rows = session.scalars(query.order_by(*order).limit(limit).offset(offset))
        summaries = [DossierSummary(**_summary(d)) for d in rows]
    return DossierPage(total=total, limit=limit, offset=offset, dossiers=summaries)


@dataclass(frozen=True)
class Version:
    """One stored version of a document, as a download names it."""

    key: str
    name: str  # the file name to save it as
    sha256: str | None
    media_type: str


def document_version(ctx: Context, code: str, document_id: int, kind: Kind, *, actor: str | None) -> Version:
    """What a download streams; the download is in the audit log with who asked (``actor``; None
    for a HEAD, which reads nothing of the document)."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        document = find_document(session, code, document_id)
        key = versions(document)[kind] if document else None
        if document is None or not key:
            raise NotFound(
                f"Hồ sơ {code} chưa có bản {kind} của tài liệu {document_id}.",
                f"Dossier {code} has no {kind} version of document {document_id}.",
                field="kind",
            )
        suffix = ".xml" if kind == "alto" else ".pdf"
        name = document.original_name if kind == "original" else f"{code}-{document_id}-{kind}{suffix}"
        sha256 = session.scalar(select(StoredObject.sha256).where(StoredObject.key == key))
        read = {"document": document.id, "number": document_id, "kind": kind, "key": key}
    media = {"alto": "application/xml", "original": "application/octet-stream"}.get(kind, "application/pdf")
    if kind == "original" and key.endswith(".pdf"):
        media = "application/pdf"
    if actor is not None:
        audit_read(ctx, actor, "document.downloaded", code, **read)
    return Version(key, name, sha256, media)


def remove_document(ctx: Context, code: str, number: int, *, actor: str, reason: str = "") -> DossierView:
    """Take a wrong or unreadable scan out of the dossier, before anyone signs it: its pages
    leave the index and its versions the dossier; the row, its number and the stored objects
    stay for the record, and the log says who removed what and why. The dossier is then what
    its other documents make it (DIGITIZED when they all are)."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions.begin() as session:
        lifecycle.check_open(session, code, "gỡ tài liệu", "removing a document")
        document = locked(session, code, number)
        change(session, document, ("gỡ khỏi hồ sơ", "removed"), removed_at=now())
        had = clear_versions(session, document)
        dossier = session.get(Dossier, code)
        assert dossier is not None
        lifecycle.settle(session, dossier, actor=actor)
        audit(session, actor, "document.removed", code, document=document.id, number=number, reason=reason, **had)
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def legal_hold(ctx: Context, code: str, on: bool, *, actor: str, reason: str = "") -> LegalHoldView:
    """Put every stored object of a dossier under legal hold (or lift it): on S3 with object lock,
    held objects cannot be deleted by anyone, whatever their retention."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        if session.get(Dossier, code) is None:
            raise no_dossier(code)
        keys = list(session.scalars(select(StoredObject.key).where(StoredObject.dossier_code == code)))
    for key in keys:
        ctx.store.legal_hold(key, on)
    with ctx.sessions.begin() as session:
        audit(session, actor, "legal_hold.set" if on else "legal_hold.lifted", code, objects=len(keys), reason=reason)
    return LegalHoldView(dossier=code, legal_hold=on, objects=keys)

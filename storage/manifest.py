"""What a dossier holds in the object store: each object recorded in the catalog when it is
written, and a JSON manifest beside the objects so the store can be read without the catalog."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.catalog import AuditEvent, Document, Dossier, StoredObject, insert_new, iso
from storage.objects import ObjectInfo, ObjectStore, dossier_prefix

FORMAT = "sohoa-dossier-manifest/1"


def manifest_key(code: str) -> str:
    return f"{dossier_prefix(code)}/manifest.json"


def record(session: Session, info: ObjectInfo, *, kind: str, code: str | None, actor: str) -> None:
    """Note a written object; writing the same content-addressed object again changes nothing
    (also when two requests write it at once)."""
    values = {"dossier_code": code, "kind": kind, "sha256": info.sha256, "size": info.size, "created_by": actor}
    insert_new(session, StoredObject, key=info.key, **values)


def build(session: Session, code: str) -> dict[str, Any]:
    dossier = session.get(Dossier, code)
    if dossier is None:
        raise KeyError(code)
    objects = session.scalars(select(StoredObject).where(StoredObject.dossier_code == code).order_by(StoredObject.key))
    head = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()
    documents = session.scalars(select(Document).where(Document.dossier_code == code).order_by(Document.id))
    return {
        "format": FORMAT,
        "dossier": {
            "code": dossier.code,
            "agency": dossier.agency,
            "title": dossier.title,
            "procedure": dossier.procedure,
            "procedure_code": dossier.procedure_code,
            "applicant": dossier.applicant,
            "status": dossier.status,
            "retention": dossier.retention,
            "received_on": iso(dossier.received_on),
            "due_on": iso(dossier.due_on),
            "returned_on": iso(dossier.returned_on),
            "fields": dossier.record or {},  # the circular's other fields (records.DOSSIER_FIELDS)
        },
        "documents": [
            {
                "id": d.id,
                "number": d.number,  # in the dossier, as URLs name it
                "removed_at": iso(d.removed_at),  # removed by the desk: its objects stay, listed below
                "name": d.original_name,
                "part": d.part,
                "pages": d.page_count,
                "original": d.original_key,
                "pdfa": d.pdfa_key,
                "signed": d.signed_key,
                "alto": d.alto_key,
                "fields": _document_fields(d),
            }
            for d in documents
        ],
        "objects": [
            {
                "key": o.key,
                "kind": o.kind,
                "sha256": o.sha256,
                "size": o.size,
                "created_by": o.created_by,
                "created_at": iso(o.created_at),
            }
            for o in objects
        ],
        # The audit log's head when this was written: a later cut-off of the log shows here.
        "audit_head": {"id": head.id, "hash": head.hash} if head else None,
    }


def _document_fields(d: Document) -> dict[str, Any]:
    """The circular's fields set on a document (records.DOCUMENT_FIELDS), its columns and record."""
    columns = {"type": d.doc_type, "number": d.doc_number, "issued_on": iso(d.issued_on), "issuer": d.issuer}
    return {**(d.record or {}), **{k: v for k, v in columns.items() if v}}


def write(store: ObjectStore, session: Session, code: str, workdir: Path) -> ObjectInfo:
    """Rewrite the dossier's manifest from the catalog (versioned on S3, replaced on disk)."""
    body = json.dumps(build(session, code), ensure_ascii=False, indent=2, sort_keys=False)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=workdir, suffix=".json", delete=False) as f:
        f.write(body + "\n")
    path = Path(f.name)
    try:
        return store.put_file(manifest_key(code), path)
    finally:
        path.unlink(missing_ok=True)

"""The circular's fields of a document and a dossier (records.DOCUMENT_FIELDS, DOSSIER_FIELDS):
shown with them, pre-filled from what was read on the page, and edited by a clerk, every change
in the audit log with the value it replaced."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digitize.metadata import Found, as_json
from errors import SohoaError
from records import DOCUMENT_FIELDS, DOSSIER_FIELDS, DOSSIER_IN_DOCUMENT, READ_FROM_PAGE, InvalidField, clean, clean_all
from service.context import Context, audit
from storage import Document, Dossier, lifecycle
from storage.catalog import find_document, iso
from storage.errors import NotFound
from storage.search import fold

COLUMNS = {"type": "doc_type", "number": "doc_number", "issued_on": "issued_on", "issuer": "issuer"}
DERIVED = ("dossier_code", "order", "page_count")  # the catalog knows these: shown, never edited
DOSSIER_COLUMNS = ("code", "title", "retention")  # changed through the dossier's own PATCH
DOSSIER_COUNTED = ("document_count", "page_count")  # counted from its documents when not set


class InvalidMetadata(SohoaError):
    status = 422
    code = "invalid-metadata"


def _checked(fields: Any, values: dict[str, Any], fixed: tuple[str, ...]) -> dict[str, Any]:
    """``values`` cleaned by their fields, or the error naming the first one at fault."""
    for key in values:
        if key in fixed:
            raise InvalidMetadata(f"Trường {key} không sửa ở đây.", f"The field {key} is not changed here.", field=key)
    try:
        return clean_all(fields, values)
    except InvalidField as e:
        raise InvalidMetadata(e.vi, e.en, field=e.key) from e


def document_fields(document: Document) -> dict[str, Any]:
    """Every field of the circular for a document: what is set, None where nothing is."""
    values: dict[str, Any] = dict.fromkeys(f.key for f in DOCUMENT_FIELDS)
    values.update(document.record or {})
    values.update({key: getattr(document, column) for key, column in COLUMNS.items()})
    values["issued_on"] = iso(document.issued_on)
    values.update(dossier_code=document.dossier_code, order=document.number, page_count=document.page_count)
    return values


def _set(document: Document, values: dict[str, Any]) -> None:
    """Cleaned ``values`` on the document: columns, their folded keys, the rest in its record."""
    record = dict(document.record or {})
    for key, value in values.items():
        if key == "issued_on":
            document.issued_on = dt.date.fromisoformat(value) if value else None
        elif key in COLUMNS:
            setattr(document, COLUMNS[key], value)
        elif value is None:
            record.pop(key, None)
        else:
            record[key] = value
    document.number_key = fold(document.doc_number) if document.doc_number else None
    document.issuer_key = fold(document.issuer) if document.issuer else None
    document.record = record or None


def prefill(document: Document, read: dict[str, Found | None]) -> None:
    """What was read on the page fills each field no one has set otherwise: empty, or still
    what the last reading said (a clerk's correction stays); the reading itself is kept."""
    before = {k: v["value"] for k, v in (document.read or {}).items() if v}
    current = document_fields(document)
    fill: dict[str, Any] = {}
    for key in READ_FROM_PAGE:
        found = read.get(key)
        if found is not None and found.value and current.get(key) in (None, "", before.get(key)):
            fill[key] = found.value
    if "number" in fill and current.get("symbol") in (None, "", before.get("number", "").partition("/")[2]):
        fill["symbol"] = fill["number"].partition("/")[2]
    by_key = {f.key: f for f in DOCUMENT_FIELDS}
    for key, value in list(fill.items()):
        try:
            fill[key] = clean(by_key[key], value)
        except InvalidField:
            del fill[key]  # a reading the field does not take (a number without its symbol): left for a clerk
    _set(document, fill)
    document.read = as_json(read)


def record_values(session: Session, document: Document) -> dict[str, Any]:
    """What the document's new PDF/A's XMP takes from the catalog when it is digitized (again):
    the fields a clerk set (those still as the last reading left them follow the new reading, as
    ``prefill`` does), its order and dossier code, and the dossier's fields that place it in its
    record (records.DOSSIER_IN_DOCUMENT, as dossier_<key>)."""
    read = {k: v["value"] for k, v in (document.read or {}).items() if v}
    if "/" in read.get("number", ""):
        read["symbol"] = read["number"].partition("/")[2]
    values = {
        k: v
        for k, v in document_fields(document).items()
        if v not in (None, "", []) and k != "page_count" and read.get(k) != v
    }
    dossier = session.get(Dossier, document.dossier_code)
    if dossier is not None:
        of_dossier = dossier_fields(session, dossier)
        values.update({f"dossier_{k}": of_dossier[k] for k in DOSSIER_IN_DOCUMENT if of_dossier[k] not in (None, "")})
    return values


def update_document(session: Session, code: str, number: int, values: dict[str, Any], *, actor: str) -> None:
    """A clerk confirms or corrects a document's fields; the log keeps each old value."""
    cleaned = _checked(DOCUMENT_FIELDS, values, DERIVED)
    lifecycle.check_open(session, code, "sửa thông tin văn bản", "changing a document's fields")
    document = find_document(session, code, number, lock=True)
    if document is None:
        raise NotFound(f"Hồ sơ {code} không có tài liệu số {number}.", f"Dossier {code} has no document {number}.",
                       field="document_id")  # fmt: skip
    old = document_fields(document)
    _set(document, cleaned)
    new = document_fields(document)
    changes = {k: {"old": old[k], "new": new[k]} for k in cleaned if old[k] != new[k]}
    audit(session, actor, "document.fields.updated", code, document=document.id, number=number, changes=changes)


def dossier_fields(session: Session, dossier: Dossier) -> dict[str, Any]:
    """Every field of the circular for a dossier; the counts, when not set, as the catalog has them."""
    values: dict[str, Any] = dict.fromkeys(f.key for f in DOSSIER_FIELDS)
    values.update(dossier.record or {})
    values.update(code=dossier.code, title=dossier.title, retention=dossier.retention or None)
    kept = (Document.dossier_code == dossier.code, Document.removed_at.is_(None))
    documents, pages = session.execute(select(func.count(), func.coalesce(func.sum(Document.page_count), 0))
                                       .where(*kept)).one()  # fmt: skip
    for key, counted in zip(DOSSIER_COUNTED, (documents, pages), strict=True):
        if values[key] is None:
            values[key] = counted
    return values


def update_dossier(ctx: Context, code: str, values: dict[str, Any], *, actor: str) -> None:
    cleaned = _checked(DOSSIER_FIELDS, values, DOSSIER_COLUMNS)
    start, end = cleaned.get("start_date"), cleaned.get("end_date")
    with ctx.sessions.begin() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
        lifecycle.check_open(session, code, "sửa thông tin hồ sơ", "changing its details")
        record = dict(dossier.record or {})
        start, end = start or record.get("start_date"), end or record.get("end_date")
        if start and end and start > end:
            raise InvalidMetadata(
                "Thời gian kết thúc trước thời gian bắt đầu.",
                "The end date is before the start date.",
                field="end_date",
            )
        changes = {k: {"old": record.get(k), "new": v} for k, v in cleaned.items() if record.get(k) != v}
        record.update({k: v for k, v in cleaned.items() if v is not None})
        for key in (k for k, v in cleaned.items() if v is None):
            record.pop(key, None)
        dossier.record = record or None
        audit(session, actor, "dossier.fields.updated", code, changes=changes)


def reread(ctx: Context, code: str, work: Path) -> int:
    """Read the fields of the dossier's documents digitized before they were read from the page
    (none read yet), from their stored ALTO; returns how many were read."""
    from digitize.export import from_alto
    from digitize.metadata import read

    with ctx.sessions() as session:
        kept = (Document.dossier_code == code, Document.removed_at.is_(None), Document.alto_key.is_not(None))
        # JSON null and SQL NULL both load as None: told apart here, not in SQL.
        todo = [(d.id, d.alto_key or "") for d in session.scalars(select(Document).where(*kept)) if d.read is None]
    for document_id, key in todo:
        alto = work / "alto.xml"
        ctx.store.get_file(key, alto)
        found = read(from_alto(alto.read_bytes()))
        with ctx.sessions.begin() as session:
            document = session.get(Document, document_id)
            assert document is not None
            prefill(document, found)
            audit(session, "worker", "document.fields.read", code, document=document_id, source=key)
    return len(todo)

"""E-ARK packages out of the archive: one CSIP/SIP package (a zip) per dossier, streamed from the
object store a chunk at a time: the original scans, the PDF/As and the signed PDFs as three
representations, EAD and PREMIS metadata, and the catalog rows that restore the dossier
(``service.restore`` reads them back)."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from stream_zip import ZIP_64, stream_zip

from checksums import sha256_bytes
from errors import SohoaError
from service import fields
from service.context import Context, audit, audit_read
from service.dossiers import write_manifest
from storage import Dossier, eark, lifecycle, parse_code
from storage.catalog import AuditEvent, Document, Job, Page, Signature, StoredObject, iso, now
from storage.errors import NotFound

CATALOG = "metadata/other/sohoa-catalog.json"  # the rows a restore needs, in the package
FORMAT = "sohoa-package/1"
CHUNK = 1 << 20
RENEWED = "signature.timestamp_renewed"  # service.renewal's audit action
REPRESENTATIONS = ("originals", "pdfa", "signed")
SCHEMAS = Path(__file__).resolve().parent.parent / "storage" / "eark_schemas"
README = """Gói E-ARK (CSIP/SIP) của một hồ sơ, do sohoa xuất.
An E-ARK (CSIP/SIP) package of one dossier, exported by sohoa.

METS.xml                        mục lục, tổng kiểm SHA-256 của mọi tệp / the index, SHA-256 of every file
metadata/descriptive/ead.xml    mô tả hồ sơ và tài liệu (EAD 2002) / the dossier and its documents described
metadata/preservation/premis.xml  tổng kiểm, sự kiện: số hóa, ký số, chuyển trạng thái / fixity and events
metadata/other/sohoa-catalog.json  dữ liệu danh mục để nhập lại (sohoa import) / the catalog rows to import it back
representations/originals/data  bản quét gốc / the original scans
representations/pdfa/data       bản PDF/A hai lớp (ảnh và chữ OCR) / the two-layer PDF/As
representations/signed/data     bản PDF/A đã ký số / the signed PDF/As
"""


class NothingToExport(SohoaError):
    status = 409
    code = "nothing-to-export"


@dataclass(frozen=True)
class Member:
    """A file of the package: bytes made here, or an object streamed from the store."""

    path: str
    data: bytes | None = None
    key: str | None = None


def row(obj: Any) -> dict[str, Any]:
    """A catalog row as JSON-ready values (dates ISO 8601, moments in UTC)."""
    values = {}
    for column in obj.__table__.columns:
        value = getattr(obj, column.key)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat()
        elif isinstance(value, dt.date):
            value = value.isoformat()
        values[column.key] = value
    return values


def _mimetype(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def _file(path: str, obj: StoredObject) -> eark.PackageFile:
    return eark.PackageFile(path, obj.sha256, obj.size, _mimetype(path), iso(obj.created_at) or "")


def _made(path: str, data: bytes, created: str) -> tuple[eark.PackageFile, Member]:
    return eark.PackageFile(path, sha256_bytes(data), len(data), _mimetype(path), created), Member(path, data)


@dataclass
class _Plan:
    """Which stored object goes where in the package, by representation."""

    reps: dict[str, eark.Representation]
    members: list[Member]
    paths: dict[str, str]  # object key → package path
    rep_metadata: dict[str, list[eark.PackageFile]]


def _place(session: Session, documents: list[Document]) -> _Plan:
    objects = {
        o.key: o for o in session.scalars(select(StoredObject).where(StoredObject.key.in_(_keys(session, documents))))
    }
    plan = _Plan(
        {name: eark.Representation(name) for name in REPRESENTATIONS}, [], {}, {n: [] for n in REPRESENTATIONS}
    )

    def put(rep: str, path: str, key: str | None, *, data: bool = True) -> None:
        if key is None or key in plan.paths or key not in objects:
            return
        full = f"representations/{rep}/{'data' if data else 'metadata/other'}/{path}"
        plan.paths[key] = full
        plan.members.append(Member(full, key=key))
        (plan.reps[rep].files if data else plan.rep_metadata[rep]).append(_file(full, objects[key]))

    for d in documents:
        put("originals", f"document-{d.number}{PurePosixPath(d.original_key).suffix.lower()}", d.original_key)
        put("pdfa", f"document-{d.number}.pdf", d.pdfa_key)
        put("pdfa", f"document-{d.number}.alto.xml", d.alto_key, data=False)
        put("signed", f"document-{d.number}.pdf", d.signed_key)
        for key in session.scalars(select(Signature.object_key).where(Signature.document_id == d.id)):
            put("signed", f"document-{d.number}-{objects[key].sha256[:16]}.pdf" if key in objects else "", key)
    return plan


def _keys(session: Session, documents: list[Document]) -> list[str]:
    keys = []
    for d in documents:
        keys += [k for k in (d.original_key, d.pdfa_key, d.signed_key, d.alto_key) if k]
        keys += session.scalars(select(Signature.object_key).where(Signature.document_id == d.id))
    return keys


def _events(session: Session, code: str, documents: list[Document], paths: Mapping[str, str]) -> list[eark.Event]:
    """What happened to the dossier: each document's digitization, each signature, each transition."""
    events = []
    for d in documents:
        jobs = select(Job).where(Job.document_id == d.id, Job.status == "done").order_by(Job.finished_at)
        made = (paths[d.pdfa_key],) if d.pdfa_key and d.pdfa_key in paths else ()
        detail = f"document {d.number} ({d.original_name}): {d.page_count} pages to PDF/A"
        done = [(iso(job.finished_at) or "", job.posted_by or "worker") for job in session.scalars(jobs)]
        if not done and made:  # digitized as part of a batch scan: its job is the batch's
            done = [(iso(d.created_at) or "", "worker")]
        events += [eark.Event("digitization", at, detail, agent, objects=made) for at, agent in done]
        for s in session.scalars(select(Signature).where(Signature.document_id == d.id).order_by(Signature.id)):
            detail = f"{s.kind} signature of document {d.number} by {s.signer}, {s.level}, field {s.field}"
            made = (paths[s.object_key],) if s.object_key in paths else ()
            events.append(
                eark.Event("digital signature generation", s.signed_at, detail, s.actor or s.signer, objects=made)
            )
    renewals = select(AuditEvent).where(AuditEvent.dossier_code == code, AuditEvent.action == RENEWED)
    for e in session.scalars(renewals.order_by(AuditEvent.id)):
        key = (e.detail or {}).get("key", "")
        detail = f"document {(e.detail or {}).get('number')}: new document time stamp (PAdES B-LTA)"
        events.append(
            eark.Event(
                "timestamping",
                iso(e.at) or "",
                detail,
                e.actor,
                objects=tuple(paths.get(k) or "" for k in [key] if k in paths),
            )
        )
    for h in lifecycle.history(session, code):
        detail = f"{h.get('from')} → {h.get('to')}" + (f": {h['reason']}" if h.get("reason") else "")
        events.append(eark.Event("dossier transition", h["at"], detail, h["actor"]))
    return events


def _catalog(session: Session, dossier: Dossier, documents: list[Document], paths: Mapping[str, str]) -> bytes:
    ids = [d.id for d in documents]
    body = {
        "format": FORMAT,
        "dossier": row(dossier),
        "documents": [row(d) for d in documents],
        "pages": [row(p) for p in session.scalars(select(Page).where(Page.document_id.in_(ids)).order_by(Page.id))],
        "signatures": [row(s) for s in session.scalars(select(Signature).where(Signature.document_id.in_(ids)))],
        "objects": [
            {**row(o), "path": paths[o.key]}
            for o in session.scalars(
                select(StoredObject).where(StoredObject.key.in_(list(paths))).order_by(StoredObject.key)
            )
        ],
        "history": lifecycle.history(session, dossier.code),
    }
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


# Catalog columns the description leaves out: keys and hashes (in METS and PREMIS), internals.
_HIDDEN = frozenset(
    {"original_key", "pdfa_key", "signed_key", "alto_key", "stamp_sha256", "notices", "removed_at", "record", "id"}
)


def descriptive_fields(
    session: Session, dossier: Dossier, documents: list[Document]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The fields the package describes: the dossier's and each document's catalog fields and the
    circular's (05/2025/TT-BNV, records.py: type, number, issuer, access mode…), keys and hashes
    left out (they are in METS and PREMIS)."""
    described = {**{k: v for k, v in row(dossier).items() if k != "record"}, **fields.dossier_fields(session, dossier)}
    items = [{**{k: v for k, v in row(d).items() if k not in _HIDDEN}, **fields.document_fields(d)} for d in documents]
    return described, items


def plan_package(ctx: Context, code: str) -> tuple[str, list[Member]]:
    """The package's folder name and its files, METS first; the stored files are read only when
    the package is streamed."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    created = iso(now()) or ""
    with ctx.sessions() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
        documents = [d for d in dossier.documents if d.removed_at is None]
        if not documents:
            raise NothingToExport(
                f"Hồ sơ {code} chưa có tài liệu nào: không có gì để xuất.",
                f"Dossier {code} has no documents: there is nothing to export.",
                field="code",
            )
        plan = _place(session, documents)
        events = _events(session, code, documents, plan.paths)
        catalog = _catalog(session, dossier, documents, plan.paths)
        described = descriptive_fields(session, dossier, documents)
    members: list[Member] = []
    reps: list[tuple[str, eark.PackageFile]] = []
    for name, rep in plan.reps.items():
        if not rep.files:
            continue
        rep_premis, member = _made(
            f"representations/{name}/metadata/preservation/premis.xml",
            eark.premis([*rep.files, *plan.rep_metadata[name]], [], [eark.SOFTWARE]),
            created,
        )
        members.append(member)
        mets = eark.representation_mets(code, rep, created, dossier.agency, rep_premis, plan.rep_metadata[name])
        rep_mets, member = _made(f"representations/{name}/METS.xml", mets, created)
        members.append(member)
        reps.append((name, rep_mets))
    files = [f for rep in plan.reps.values() for f in rep.files] + [f for fs in plan.rep_metadata.values() for f in fs]
    agents = [e.agent for e in events] + [eark.SOFTWARE]
    desc, member_desc = _made("metadata/descriptive/ead.xml", eark.descriptive(*described), created)
    pres, member_pres = _made("metadata/preservation/premis.xml", eark.premis(files, events, agents), created)
    other, member_other = _made(CATALOG, catalog, created)
    readme, member_readme = _made("documentation/README.txt", README.encode(), created)
    schemas = [_made(f"schemas/{p.name}", p.read_bytes(), created) for p in sorted(SCHEMAS.glob("*.xsd"))]
    parts = eark.RootParts(desc, pres, other, [readme], [f for f, _ in schemas], reps)
    mets = eark.root_mets(code, dossier.title or code, created, dossier.agency, parts)
    made = [member_desc, member_pres, member_other, member_readme, *(m for _, m in schemas), *members]
    return code, [Member("METS.xml", mets), *made, *plan.members]


def _chunks(ctx: Context, member: Member) -> Iterator[bytes]:
    if member.data is not None:
        yield member.data
        return
    assert member.key is not None
    with ctx.store.open(member.key) as f:
        while chunk := f.read(CHUNK):
            yield chunk


def stream_package(ctx: Context, folder: str, members: Iterable[Member]) -> Iterator[bytes]:
    """The package as zip bytes, a chunk at a time: one folder at the root with METS.xml in it.
    Deflate at level 0 (stored blocks): scans and PDFs are compressed already, and level 1 ran at
    a third of the speed (26 against 82 MiB/s, bench/export_bench.py) for about nothing."""
    modified = dt.datetime.now()

    def entries() -> Iterator[tuple[str, dt.datetime, int, Any, Iterable[bytes]]]:
        for member in members:
            yield f"{folder}/{member.path}", modified, 0o644, ZIP_64, _chunks(ctx, member)

    def deflate() -> Any:
        return zlib.compressobj(level=0, wbits=-zlib.MAX_WBITS)

    yield from stream_zip(entries(), chunk_size=CHUNK, get_compressobj=deflate)


def export(ctx: Context, code: str, *, actor: str) -> Iterator[bytes]:
    """One dossier's package, streamed; the export is in the audit log with who asked."""
    folder, members = plan_package(ctx, code)
    audit_read(ctx, actor, "dossier.exported", code, files=len(members))
    return stream_package(ctx, folder, members)


def dossiers_received(ctx: Context, start: dt.date | None, end: dt.date | None) -> list[str]:
    """Codes of the dossiers received between two dates (both included), for an export by period."""
    query = select(Dossier.code)
    if start:
        query = query.where(Dossier.received_on >= start)
    if end:
        query = query.where(Dossier.received_on <= end)
    with ctx.sessions() as session:
        return list(session.scalars(query.order_by(Dossier.code)))


def keep(ctx: Context, code: str, package: Path, *, actor: str) -> str:
    """Store an exported package beside the dossier's objects (``sohoa export --keep``): write-once,
    and locked by the dossier's retention code like its other objects."""
    from checksums import sha256_file
    from storage.manifest import record
    from storage.objects import dossier_prefix

    sha = sha256_file(package)
    stored = ctx.store.put_file(f"{dossier_prefix(code)}/packages/{sha[:16]}.zip", package, write_once=True, sha256=sha)
    with ctx.sessions.begin() as session:
        record(session, stored, kind="package", code=code, actor=actor)
        audit(session, actor, "dossier.package_kept", code, key=stored.key, sha256=sha)
    write_manifest(ctx, code)
    return stored.key

"""The service's operations: accept a scan, run its job, search. Used by the API, the CLI and the worker."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
import unicodedata
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import storage.search
from digitize import Source, digitize
from digitize.errors import UnsupportedInput
from digitize.export import to_alto
from digitize.ingest import sniff
from digitize.pipeline import sha256_file
from errors import SohoaError
from settings import Settings, get_settings
from signing import AgencySigner, agency_signer, sign_pdf
from signing.demo_pki import ensure_demo_pki
from storage import (
    AuditEvent,
    Document,
    Dossier,
    Job,
    ObjectStore,
    Page,
    Signature,
    dossier_prefix,
    open_catalog,
    open_store,
    parse_code,
)
from storage.catalog import now

log = logging.getLogger("sohoa")
PAGE_DETAILS = (
    "source",
    "number",
    "part",
    "paper",
    "dpi",
    "rotate",
    "skew",
    "tiles",
    "blank",
    "dropped",
    "words",
    "confidence",
)
_EXT = {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png", "tiff": ".tif", "jp2": ".jp2", "unknown": ".bin"}


@dataclass
class Context:
    settings: Settings
    store: ObjectStore
    sessions: sessionmaker[Session]

    @property
    def tmp(self) -> Path:
        path = self.settings.data_dir / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def signer(self) -> AgencySigner:
        return _signer(self.settings)

    def trust_roots(self) -> list[Path]:
        roots = list(self.settings.trust_roots)
        if self.settings.signing_pkcs12 is None:
            roots.append(ensure_demo_pki(self.settings.pki_dir, self.settings.agency_name).root_cert)
        return roots


@lru_cache(maxsize=4)
def _signer(settings: Settings) -> AgencySigner:
    return agency_signer(
        settings.signing_pkcs12,
        settings.signing_pkcs12_password_file,
        pki_dir=settings.pki_dir,
        agency_name=settings.agency_name,
    )


@lru_cache(maxsize=4)
def _context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Context(settings, open_store(settings.objects_url), open_catalog(settings.db_url))


def context(settings: Settings | None = None) -> Context:
    return _context(settings or get_settings())


def _audit(session: Session, actor: str, action: str, code: str | None, **detail: Any) -> None:
    session.add(AuditEvent(actor=actor, action=action, dossier_code=code, detail=detail or None))


def clean_filename(name: str | None) -> str:
    base = unicodedata.normalize("NFC", Path(name or "scan").name).strip() or "scan"
    return "".join(c for c in base if c.isprintable())[:200]


def accept_scan(
    ctx: Context,
    code: str,
    upload: Path,
    filename: str,
    *,
    actor: str = "anonymous",
    options: dict[str, str] | None = None,
) -> tuple[Job, bool]:
    """Store the exact uploaded bytes under the dossier and queue a digitization job.

    Posting the same bytes to the same dossier again returns the existing job (False)."""
    dossier_code = parse_code(code, ctx.settings.dossier_code_pattern)
    with upload.open("rb") as f:
        kind = sniff(f.read(1024))
    if kind == "unknown":
        raise UnsupportedInput(
            f"Tệp {filename} không phải PDF, TIFF, JPEG, JPEG 2000 hay PNG.",
            f"{filename} is not a PDF, TIFF, JPEG, JPEG 2000 or PNG file.",
            field="file",
        )
    sha256 = sha256_file(upload)
    key = f"{dossier_prefix(code)}/originals/{sha256}{_EXT[kind]}"
    info = ctx.store.put_file(key, upload, write_once=True)  # content-addressed: same bytes, same object
    with ctx.sessions.begin() as session:
        existing = session.scalars(
            select(Document).where(Document.dossier_code == code, Document.original_sha256 == sha256)
        ).first()
        if existing is not None:
            job = session.scalars(
                select(Job).where(Job.document_id == existing.id).order_by(Job.created_at.desc())
            ).first()
            if job is not None and job.status != "failed":
                return job, False  # a failed job is retried by posting the scan again
        dossier = session.get(Dossier, code)
        if dossier is None:
            dossier = Dossier(code=code, agency=dossier_code.agency, received_on=dossier_code.received_on)
            session.add(dossier)
            _audit(session, actor, "dossier.created", code)
        document = existing or Document(
            dossier_code=code,
            original_name=clean_filename(filename),
            original_key=key,
            original_sha256=sha256,
            original_size=info.size,
        )
        session.add(document)
        session.flush()
        job = Job(id=uuid.uuid4().hex, dossier_code=code, document_id=document.id, status="queued", options=options)
        session.add(job)
        _audit(session, actor, "scan.accepted", code, document=document.id, sha256=sha256, file=document.original_name)
    return job, True


def _set_progress(ctx: Context, job_id: str, done: int, total: int | None) -> None:
    with ctx.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(pages_done=done, pages_total=total))


def run_job(ctx: Context, job_id: str) -> None:
    """Digitize, sign, store and index one uploaded scan. Safe to run again after a crash:
    objects are content-addressed and the catalog is updated in one transaction at the end."""
    with ctx.sessions.begin() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", started_at=now(), attempts=Job.attempts + 1)
        ).rowcount
        if not claimed:
            return  # done already, or another worker has it
        job = session.get(Job, job_id)
        assert job is not None and job.document_id is not None
        document = session.get(Document, job.document_id)
        assert document is not None
        code, doc_id, options = job.dossier_code, document.id, job.options or {}
        original_key, original_name = document.original_key, document.original_name
        dossier = session.get(Dossier, code)
        assert dossier is not None
        dossier.status = "DIGITIZING"
    settings = ctx.settings
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="job-", dir=ctx.tmp) as tmp:
            work = Path(tmp)
            original = work / ("original" + Path(original_key).suffix)
            ctx.store.get_file(original_key, original)
            pdfa_path = work / "pdfa.pdf"
            last = [0.0]

            def progress(done: int, total: int | None) -> None:
                if total is not None or time.monotonic() - last[0] > 1:
                    last[0] = time.monotonic()
                    _set_progress(ctx, job_id, done, total)

            result = digitize(
                [Source(original, original_name)],
                pdfa_path,
                title=f"Hồ sơ {code} - {original_name}",
                identifier=code,
                languages=settings.ocr_languages,
                tessdata=settings.tessdata_dir,
                jobs=settings.ocr_jobs,
                flavour=settings.pdfa_flavour,
                max_pixels=settings.max_image_pixels,
                render_dpi=settings.render_dpi,
                spreads=options.get("spreads", settings.spreads),
                blanks=options.get("blank_pages", settings.blank_pages),
                progress=progress,
                workdir=work,
            )
            signed_path = work / "signed.pdf"
            signature = sign_pdf(pdfa_path, signed_path, ctx.signer(), agency_name=settings.agency_name)
            prefix = f"{dossier_prefix(code)}/documents/{doc_id}"
            pdfa_info = ctx.store.put_file(f"{prefix}/pdfa-{result.sha256[:16]}.pdf", pdfa_path, write_once=True)
            alto_path = work / "alto.xml"
            alto_path.write_text(to_alto(result.pages), encoding="utf-8")
            alto_info = ctx.store.put_file(
                f"{prefix}/alto-{sha256_file(alto_path)[:16]}.xml", alto_path, write_once=True
            )
            signed_sha = sha256_file(signed_path)
            signed_info = ctx.store.put_file(f"{prefix}/signed-{signed_sha[:16]}.pdf", signed_path, write_once=True)
        with ctx.sessions.begin() as session:
            document = session.get(Document, doc_id)
            assert document is not None
            for old in list(document.pages):
                session.delete(old)
            session.flush()
            document.pdfa_key, document.pdfa_sha256 = pdfa_info.key, pdfa_info.sha256
            document.signed_key, document.signed_sha256 = signed_info.key, signed_info.sha256
            document.alto_key = alto_info.key
            kept = [p for p in result.pages if not p.dropped]
            document.page_count = len(kept)
            for number, page in enumerate(kept, start=1):
                row = Page(
                    document_id=doc_id,
                    number=number,
                    text=page.text,
                    words=page.words,
                    confidence=page.confidence,
                    dpi=min(page.dpi),
                )
                session.add(row)
                session.flush()
                storage.search.index_page(session, row)
            session.add(
                Signature(
                    document_id=doc_id,
                    field=signature["field"],
                    signer=signature["signer"],
                    signed_at=signature["time"],
                    level=signature["level"],
                    object_key=signed_info.key,
                )
            )
            dossier = session.get(Dossier, code)
            assert dossier is not None
            dossier.status = "DIGITIZED"
            job = session.get(Job, job_id)
            assert job is not None
            job.status, job.finished_at = "done", now()
            job.pages_done = job.pages_total = len(kept)
            job.result = {
                "document_id": doc_id,
                "pages": len(kept),
                "page_details": [{k: getattr(p, k) for k in PAGE_DETAILS} for p in result.pages],
                "pdfa": {"flavour": result.flavour, "sha256": pdfa_info.sha256, "size": pdfa_info.size},
                "signed": {"sha256": signed_info.sha256, "size": signed_info.size, **signature},
                "notices": result.notices,
                "seconds": round(time.monotonic() - started, 2),
            }
            _audit(session, "worker", "scan.digitized", code, document=doc_id, job=job_id, pages=len(kept))
    except Exception as e:
        if isinstance(e, SohoaError):
            error = {"code": e.code, "vi": e.vi, "en": e.en, "field": e.field}
        else:
            log.exception("job %s failed", job_id)
            error = {
                "code": "internal",
                "vi": f"Lỗi hệ thống: {type(e).__name__}.",
                "en": f"Internal error: {type(e).__name__}.",
                "field": None,
            }
        with ctx.sessions.begin() as session:
            job = session.get(Job, job_id)
            assert job is not None
            job.status, job.finished_at, job.error = "failed", now(), error
            dossier = session.get(Dossier, code)
            if dossier is not None and dossier.status == "DIGITIZING":
                # Back to what the dossier's other documents make it.
                digitized = any(d.signed_key for d in dossier.documents)
                dossier.status = "DIGITIZED" if digitized else "RECEIVED"
            _audit(session, "worker", "scan.failed", code, document=doc_id, job=job_id, error=error["code"])


def job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "dossier": job.dossier_code,
        "document_id": job.document_id,
        "progress": {"pages_done": job.pages_done, "pages_total": job.pages_total},
        "attempts": job.attempts,
        "error": job.error,
        "result": job.result,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def search(ctx: Context, query: str, *, limit: int = 20, offset: int = 0) -> dict[str, Any]:
    with ctx.sessions() as session:
        total, hits = storage.search.search(session, query, limit=limit, offset=offset)
    return {
        "query": unicodedata.normalize("NFC", query),
        "total": total,
        "limit": limit,
        "offset": offset,
        "hits": [h.__dict__ for h in hits],
    }

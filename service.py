"""The service's operations: accept a scan, run its job, search. Used by the API, the CLI and the worker."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

import logs
import scratch
import storage.auditlog
import storage.manifest
import storage.search
from digitize import Result, Source, digitize, digitize_batch
from digitize.export import to_alto
from digitize.ingest import check_type
from digitize.pipeline import PageResult, sha256_file
from errors import SohoaError
from settings import Settings, get_settings
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
    lifecycle,
    open_catalog,
    open_store,
    parse_code,
)
from storage.catalog import StoredObject, iso, now
from storage.errors import NotFound, StorageError
from storage.objects import ObjectInfo

if TYPE_CHECKING:
    from signing.signers import AgencySigner

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
    def pending(self) -> Path:
        """Prepared two-step signatures waiting for the clerk's signature value."""
        return self.settings.data_dir / "pending-signatures"

    @property
    def tmp(self) -> Path:
        """This process's scratch folder (swept by ``scratch.sweep`` once the process has ended)."""
        return scratch.folder(self.settings.data_dir)

    def signer(self) -> AgencySigner:
        return _signer(self.settings)

    def trust_roots(self) -> list[Path]:
        roots = list(self.settings.trust_roots)
        if self.settings.signing_pkcs12 is None and self.settings.signing_pkcs11_module is None:
            roots.append(ensure_demo_pki(self.settings.pki_dir, self.settings.agency_name).root_cert)
        return roots


@lru_cache(maxsize=4)
def _signer(settings: Settings) -> AgencySigner:
    from signing.signers import Pkcs11Config, agency_signer  # pyHanko loads when first needed

    token = None
    if settings.signing_pkcs11_module is not None:
        token = Pkcs11Config(
            settings.signing_pkcs11_module,
            settings.signing_pkcs11_token,
            settings.signing_pkcs11_key,
            settings.signing_pkcs11_pin_file,
        )
    return agency_signer(
        settings.signing_pkcs12,
        settings.signing_pkcs12_password_file,
        pki_dir=settings.pki_dir,
        agency_name=settings.agency_name,
        pkcs11=token,
    )


@lru_cache(maxsize=4)
def _context(settings: Settings) -> Context:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Context(
        settings,
        open_store(settings.objects_url, retention_days=settings.retention_days),
        open_catalog(settings.db_url),
    )


def context(settings: Settings | None = None) -> Context:
    return _context(settings or get_settings())


def _audit(session: Session, actor: str, action: str, code: str | None, **detail: Any) -> None:
    storage.auditlog.append(session, actor, action, code, **detail)


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
    sha256: str | None = None,
    take: bool = False,
) -> tuple[Job, bool]:
    """Store the exact uploaded bytes under the dossier and queue a digitization job.

    Posting the same bytes to the same dossier again returns the existing job (False).
    ``take``: the upload is a temporary file the store may move rather than copy."""
    dossier_code = parse_code(code, ctx.settings.dossier_code_pattern)
    kind = check_type(upload, filename)
    sha256 = sha256 or sha256_file(upload)  # the API hashed it while it streamed in
    key = f"{dossier_prefix(code)}/originals/{sha256}{_EXT[kind]}"
    # Content-addressed: the same bytes make the same object.
    info = ctx.store.put_file(key, upload, write_once=True, sha256=sha256, move=take)
    with ctx.sessions.begin() as session:
        existing = session.scalars(
            select(Document).where(
                Document.dossier_code == code, Document.original_sha256 == sha256, Document.part == ""
            )
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
        storage.manifest.record(session, info, kind="original", code=code, actor=actor)
        job = Job(id=uuid.uuid4().hex, dossier_code=code, document_id=document.id, status="queued", options=options)
        session.add(job)
        _audit(session, actor, "scan.accepted", code, document=document.id, sha256=sha256, file=document.original_name)
    # The catalog now records the original; the dossier's manifest is rewritten when this job
    # ends, done or failed, which keeps that work off the upload's answer.
    return job, True


def write_manifest(ctx: Context, code: str) -> None:
    """Bring the dossier's manifest up to date. The catalog is the record: a manifest that cannot be
    written now (store down) is rewritten whole at the dossier's next change."""
    try:
        with ctx.sessions() as session:
            storage.manifest.write(ctx.store, session, code, ctx.tmp)
    except StorageError as e:
        log.warning("manifest of %s not written: %s", code, e.en)


RETENTION_CODES = ("", "01", "70", "50", "30", "20", "10")  # 01 = permanent, else years


def _check_meta(meta: dict[str, Any]) -> dict[str, Any]:
    meta = {k: unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v for k, v in meta.items()}
    if meta.get("retention", "") not in RETENTION_CODES:
        raise SohoaError(
            "Mã thời hạn bảo quản phải là 01 (vĩnh viễn), 70, 50, 30, 20 hoặc 10 (năm).",
            "The retention code must be 01 (permanent), 70, 50, 30, 20 or 10 (years).",
            field="retention",
        )
    return meta


def create_dossier(ctx: Context, code: str, meta: dict[str, Any], *, actor: str) -> dict[str, Any]:
    parsed = parse_code(code, ctx.settings.dossier_code_pattern)
    meta = _check_meta(meta)
    with ctx.sessions.begin() as session:
        if session.get(Dossier, code) is not None:
            raise lifecycle.TransitionRefused(f"Hồ sơ {code} đã có.", f"Dossier {code} exists already.", field="code")
        session.add(Dossier(code=code, agency=parsed.agency, received_on=parsed.received_on, **meta))
        session.flush()
        _audit(session, actor, "dossier.created", code, **{k: str(v) for k, v in meta.items()})
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def update_dossier(ctx: Context, code: str, meta: dict[str, Any], *, actor: str) -> dict[str, Any]:
    parse_code(code, ctx.settings.dossier_code_pattern)
    meta = _check_meta(meta)
    with ctx.sessions.begin() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
        for key, value in meta.items():
            setattr(dossier, key, value)
        session.flush()
        storage.search.reindex_dossier(session, code)  # title, procedure and applicant are searchable
        _audit(session, actor, "dossier.updated", code, **{k: str(v) for k, v in meta.items()})
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def transition(
    ctx: Context, code: str, to: str, *, actor: str, reason: str = "", due_on: dt.date | None = None
) -> dict[str, Any]:
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions.begin() as session:
        lifecycle.move(session, code, to, actor=actor, reason=reason, due_on=due_on)
    write_manifest(ctx, code)
    return dossier_view(ctx, code)


def _dossier_dict(dossier: Dossier) -> dict[str, Any]:
    return {
        "code": dossier.code,
        "agency": dossier.agency,
        "title": dossier.title,
        "procedure": dossier.procedure,
        "applicant": dossier.applicant,
        "retention": dossier.retention,
        "status": dossier.status,
        "received_on": iso(dossier.received_on),
        "due_on": iso(dossier.due_on),
        "next": sorted(lifecycle.NEXT[dossier.status]),
    }


def dossier_view(ctx: Context, code: str) -> dict[str, Any]:
    """A dossier with its documents, download links and lifecycle history."""
    with ctx.sessions() as session:
        dossier = session.get(Dossier, code)
        if dossier is None:
            raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
        base = f"/api/v1/dossiers/{code}/documents"
        return {
            **_dossier_dict(dossier),
            "documents": [
                {
                    "id": d.id,
                    "file": d.original_name,
                    "pages": d.page_count,
                    "original_sha256": d.original_sha256,
                    "downloads": {k: f"{base}/{d.id}/{k}" for k, key in versions(d).items() if key},
                }
                for d in dossier.documents
            ],
            "history": lifecycle.history(session, code),
        }


def versions(document: Document) -> dict[str, str | None]:
    """What can be downloaded of a document, by kind: object keys, None if not made yet."""
    return {
        "original": document.original_key,
        "pdfa": document.pdfa_key,
        "signed": document.signed_key,
        "alto": document.alto_key,  # words with their boxes, ALTO v4 XML
    }


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
) -> dict[str, Any]:
    query = select(Dossier)
    for column, value in ((Dossier.agency, agency), (Dossier.procedure, procedure), (Dossier.status, status)):
        if value:
            query = query.where(column == value)
    if received_from:
        query = query.where(Dossier.received_on >= received_from)
    if received_to:
        query = query.where(Dossier.received_on <= received_to)
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(
            query.order_by(Dossier.received_on.desc(), Dossier.code.desc()).limit(limit).offset(offset)
        )
        return {"total": total, "limit": limit, "offset": offset, "dossiers": [_dossier_dict(d) for d in rows]}


def _set_progress(ctx: Context, job_id: str, done: int, total: int | None) -> None:
    with ctx.sessions.begin() as session:
        session.execute(update(Job).where(Job.id == job_id).values(pages_done=done, pages_total=total))


class TooManyPages(SohoaError):
    status = 413
    code = "too-many-pages"


def _progress(ctx: Context, job_id: str, room: int, name: str) -> Callable[[int, int | None], None]:
    """Progress in the job row, and the dossier's page limit checked page by page as pages are read."""
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        if done > room:
            limit = ctx.settings.max_pages_per_dossier
            raise TooManyPages(
                f"{name}: hồ sơ vượt quá {limit} trang (SOHOA_MAX_PAGES_PER_DOSSIER).",
                f"{name}: the dossier would exceed {limit} pages (SOHOA_MAX_PAGES_PER_DOSSIER).",
                field=name,
            )
        if total is not None or time.monotonic() - last[0] > 1:  # at most one write a second
            last[0] = time.monotonic()
            _set_progress(ctx, job_id, done, total)

    return report


@dataclass
class Made:
    """One digitized document, signed and stored, waiting for its catalog rows."""

    code: str
    result: Result
    pdfa: ObjectInfo
    signed: ObjectInfo
    alto: ObjectInfo
    signature: dict[str, str]

    @property
    def kept(self) -> list[PageResult]:
        return [p for p in self.result.pages if not p.dropped]


def _sign_and_store(ctx: Context, work: Path, code: str, prefix: str, result: Result) -> Made:
    """Sign the PDF/A as the agency and store PDF/A, signed copy and ALTO (content-addressed)."""
    from signing.sign import effective_level, sign_pdf

    signed_path = work / f"{result.output.stem}-signed.pdf"
    s = ctx.settings
    signature = sign_pdf(
        result.output,
        signed_path,
        ctx.signer(),
        agency_name=s.agency_name,
        level=effective_level(s.signing_level, s.tsa_url),
        tsa_url=s.tsa_url,
        trust_roots=ctx.trust_roots(),
    )
    if not s.tsa_url:
        signature["note"] = "Không có máy chủ dấu thời gian: chữ ký không có dấu thời gian tin cậy (B-B)."
    alto_path = work / f"{result.output.stem}-alto.xml"
    alto_path.write_text(to_alto(result.pages), encoding="utf-8")
    put = ctx.store.put_file
    pdfa = put(f"{prefix}/pdfa-{result.sha256[:16]}.pdf", result.output, write_once=True)
    alto = put(f"{prefix}/alto-{sha256_file(alto_path)[:16]}.xml", alto_path, write_once=True)
    # Signed results are kept under COMPLIANCE retention on S3 (read-only files on disk).
    signed = put(f"{prefix}/signed-{sha256_file(signed_path)[:16]}.pdf", signed_path, write_once=True, retain=True)
    return Made(code, result, pdfa, signed, alto, signature)


def _record(session: Session, document: Document, made: Made) -> None:
    """The catalog rows of a stored document: its versions, pages (indexed) and signature."""
    storage.search.unindex_pages(session, [old.id for old in document.pages])  # FTS5 rows do not cascade
    for old in list(document.pages):
        session.delete(old)
    session.flush()
    document.pdfa_key, document.pdfa_sha256 = made.pdfa.key, made.pdfa.sha256
    document.signed_key, document.signed_sha256 = made.signed.key, made.signed.sha256
    document.alto_key = made.alto.key
    document.page_count = len(made.kept)
    for kind, info in (("pdfa", made.pdfa), ("alto", made.alto), ("signed", made.signed)):
        storage.manifest.record(session, info, kind=kind, code=made.code, actor="worker")
    for number, page in enumerate(made.kept, start=1):
        row = Page(
            document_id=document.id,
            number=number,
            text=page.text,
            words=page.words,
            confidence=page.confidence,
            dpi=min(page.dpi),
        )
        session.add(row)
    storage.search.index_document(session, document)  # flushes; page 1 also carries the dossier's metadata
    sig = made.signature
    session.add(
        Signature(
            document_id=document.id,
            field=sig["field"],
            signer=sig["signer"],
            signed_at=sig["time"],
            level=sig["level"],
            object_key=made.signed.key,
        )
    )
    dossier = session.get(Dossier, made.code)
    assert dossier is not None
    if dossier.status in lifecycle.DIGITIZABLE:  # a dossier further on keeps its status
        dossier.status = "DIGITIZED"


def _summary(made: Made, document_id: int) -> dict[str, Any]:
    return {
        "dossier": made.code,
        "document_id": document_id,
        "pages": len(made.kept),
        "page_details": [{k: getattr(p, k) for k in PAGE_DETAILS} for p in made.result.pages],
        "pdfa": {"flavour": made.result.flavour, "sha256": made.pdfa.sha256, "size": made.pdfa.size},
        "signed": {"sha256": made.signed.sha256, "size": made.signed.size, **made.signature},
        "notices": made.result.notices,
    }


def _digitize_options(ctx: Context, options: dict[str, Any]) -> dict[str, Any]:
    s = ctx.settings
    return {
        "languages": s.ocr_languages,
        "tessdata": s.tessdata_dir,
        "jobs": s.ocr_jobs,
        "flavour": s.pdfa_flavour,
        "max_pixels": s.max_image_pixels,
        "render_dpi": s.render_dpi,
        "deskew_archive": s.deskew_archive,
        "jpeg_quality": s.jpeg_quality_for(options.get("profile")),
        "spreads": options.get("spreads", s.spreads),
        "blanks": options.get("blank_pages", s.blank_pages),
        "idle_cpu": True,  # OCR gives way to requests, and to the job's own catalog writes
    }


class JobLost(Exception):
    """Another worker took this job over after its lease ran out; this run's work is dropped."""


@dataclass
class Run:
    """One attempt at a job, by one worker: only the holder of the latest attempt may finish it."""

    job_id: str
    attempt: int
    started: float


def _lease_end(ctx: Context) -> dt.datetime:
    return now() + dt.timedelta(seconds=ctx.settings.job_lease_seconds)


@contextlib.contextmanager
def _heartbeat(ctx: Context, run: Run) -> Iterator[None]:
    """Keep the job's lease while it runs; a worker that dies stops renewing it, and the
    reaper (jobs.reap) queues the job again once the lease has run out."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ctx.settings.job_lease_seconds / 3):
            with ctx.sessions.begin() as session:
                session.execute(
                    update(Job)
                    .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == "running")
                    .values(lease_until=_lease_end(ctx))
                )

    thread = threading.Thread(target=renew, name=f"lease-{run.job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _finish(session: Session, run: Run, result: dict[str, Any]) -> None:
    """Mark the job done in the transaction that records its work, if this run still holds it."""
    total = result.pop("pages_total")
    done = session.execute(
        update(Job)
        .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == "running")
        .values(
            status="done",
            finished_at=now(),
            pages_done=total,
            pages_total=total,
            result={**result, "seconds": round(time.monotonic() - run.started, 2)},
        )
    ).rowcount
    if not done:
        raise JobLost(run.job_id)


def run_job(ctx: Context, job_id: str) -> None:
    """Run one queued job. Safe to run again after a crash: objects are content-addressed, and
    the catalog rows and the job's "done" are written in one transaction at the end, or not at all."""
    with ctx.sessions.begin() as session:
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", started_at=now(), attempts=Job.attempts + 1, lease_until=_lease_end(ctx))
        ).rowcount
        if not claimed:
            return  # done already, or another worker has it
        job = session.get(Job, job_id)
        assert job is not None
        kind, code, doc_id, options = job.kind, job.dossier_code, job.document_id, dict(job.options or {})
        run = Run(job_id, job.attempts, time.monotonic())
        dossier = session.get(Dossier, code) if code else None
        if dossier is not None and dossier.status in lifecycle.DIGITIZABLE:
            dossier.status = "DIGITIZING"
    token = logs.request_id.set(f"job:{job_id}")
    where = {"job": job_id, "dossier": code}
    log.info("job started (attempt %d)", run.attempt, extra=where)
    try:
        with _heartbeat(ctx, run), tempfile.TemporaryDirectory(prefix="job-", dir=ctx.tmp) as tmp:
            if kind == "batch":
                _run_batch(ctx, run, Path(tmp), options)
            else:
                assert code is not None and doc_id is not None
                _run_scan(ctx, run, Path(tmp), code, doc_id, options)
        log.info("job done", extra=where)
    except JobLost:
        log.warning("job %s was taken over by another worker; this attempt's result is dropped", job_id)
    except Exception as e:
        _fail(ctx, run, code, doc_id, e)
    finally:
        logs.request_id.reset(token)


def _run_scan(ctx: Context, run: Run, work: Path, code: str, doc_id: int, options: dict[str, Any]) -> None:
    with ctx.sessions() as session:
        document = session.get(Document, doc_id)
        assert document is not None
        original_key, original_name = document.original_key, document.original_name
        others = session.scalar(
            select(func.coalesce(func.sum(Document.page_count), 0)).where(
                Document.dossier_code == code, Document.id != doc_id
            )
        )
    room = ctx.settings.max_pages_per_dossier - int(others or 0)
    original = work / ("original" + Path(original_key).suffix)
    ctx.store.get_file(original_key, original)
    result = digitize(
        [Source(original, original_name)],
        work / "pdfa.pdf",
        title=f"Hồ sơ {code} - {original_name}",
        identifier=code,
        progress=_progress(ctx, run.job_id, room, original_name),
        workdir=work,
        **_digitize_options(ctx, options),
    )
    made = _sign_and_store(ctx, work, code, f"{dossier_prefix(code)}/documents/{doc_id}", result)
    with ctx.sessions.begin() as session:
        document = session.get(Document, doc_id)
        assert document is not None
        _record(session, document, made)
        _audit(session, "worker", "scan.digitized", code, document=doc_id, job=run.job_id, pages=len(made.kept))
        _finish(session, run, {**_summary(made, doc_id), "pages_total": len(made.kept)})
    write_manifest(ctx, code)


def _run_batch(ctx: Context, run: Run, work: Path, options: dict[str, Any]) -> None:
    """A batch scan split at its separator sheets: one document per segment, in the dossier
    its separator names. Every segment needs a dossier code, or nothing is recorded."""
    original = work / ("batch" + Path(options["original_key"]).suffix)
    ctx.store.get_file(options["original_key"], original)
    segments = digitize_batch(
        [Source(original, options["original_name"])],
        work / "out",
        code_pattern=ctx.settings.dossier_code_pattern,
        default_code=options.get("default_code", ""),
        progress=_progress(ctx, run.job_id, ctx.settings.max_pages_per_dossier, options["original_name"]),
        **_digitize_options(ctx, options),
    )
    if any(not s.code for s in segments):
        raise SohoaError(
            "Lô quét có trang trước tờ phân cách đầu tiên mà không có mã hồ sơ; gửi kèm mã mặc định (?code=…).",
            "The batch has pages before its first separator sheet and no dossier code; send a default (?code=…).",
            field="code",
        )
    sha = options["sha256"]
    made = [
        _sign_and_store(ctx, work, s.code, f"{dossier_prefix(s.code)}/batches/{sha[:16]}-{n}", s.result)
        for n, s in enumerate(segments, start=1)
    ]
    documents = []
    with ctx.sessions.begin() as session:
        for n, (segment, item) in enumerate(zip(segments, made, strict=True), start=1):
            parsed = parse_code(segment.code, ctx.settings.dossier_code_pattern)
            if session.get(Dossier, segment.code) is None:
                session.add(Dossier(code=segment.code, agency=parsed.agency, received_on=parsed.received_on))
                session.flush()
                _audit(session, "worker", "dossier.created", segment.code, batch=sha)
            document = session.scalars(
                select(Document).where(
                    Document.dossier_code == segment.code, Document.original_sha256 == sha, Document.part == str(n)
                )
            ).first() or Document(
                dossier_code=segment.code,
                part=str(n),
                original_key=options["original_key"],
                original_sha256=sha,
                original_size=options["size"],
                original_name=f"{options['original_name']} (tài liệu {n})",
            )
            session.add(document)
            session.flush()
            _record(session, document, item)
            _audit(
                session,
                "worker",
                "batch.document",
                segment.code,
                document=document.id,
                job=run.job_id,
                pages=len(item.kept),
            )
            documents.append(_summary(item, document.id))
        _finish(session, run, {"documents": documents, "pages_total": sum(d["pages"] for d in documents)})
    for code in dict.fromkeys(s.code for s in segments):
        write_manifest(ctx, code)


def _fail(ctx: Context, run: Run, code: str | None, doc_id: int | None, e: Exception) -> None:
    if isinstance(e, SohoaError):
        error = {"code": e.code, "vi": e.vi, "en": e.en, "field": e.field}
    else:
        log.exception("job %s failed", run.job_id)
        error = {
            "code": "internal",
            "vi": f"Lỗi hệ thống: {type(e).__name__}.",
            "en": f"Internal error: {type(e).__name__}.",
            "field": None,
        }
    with ctx.sessions.begin() as session:
        failed = session.execute(
            update(Job)
            .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == "running")
            .values(status="failed", finished_at=now(), error=error)
        ).rowcount
        if not failed:
            return  # another worker holds the job now
        dossier = session.get(Dossier, code) if code else None
        if dossier is not None and dossier.status == "DIGITIZING":
            # Back to what the dossier's other documents make it.
            dossier.status = "DIGITIZED" if any(d.signed_key for d in dossier.documents) else "RECEIVED"
        _audit(session, "worker", "scan.failed", code, document=doc_id, job=run.job_id, error=error["code"])
    if code:
        write_manifest(ctx, code)  # it lists the original the failed job was given


def _signable(ctx: Context, code: str, document_id: int) -> tuple[str, int]:
    """The key of a document's latest version (signed, else the PDF/A) and its signature count."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        document = session.scalars(
            select(Document).where(Document.id == document_id, Document.dossier_code == code)
        ).first()
        key = (document.signed_key or document.pdfa_key) if document else None
        count = session.scalar(select(func.count()).where(Signature.document_id == document_id)) or 0
    if not key:
        raise NotFound(
            f"Hồ sơ {code} chưa có tài liệu {document_id} đã số hóa.",
            f"Dossier {code} has no digitized document {document_id}.",
            field="document_id",
        )
    return key, count


def _store_signed_version(
    ctx: Context, code: str, document_id: int, base: str, signed: Path, info: dict[str, str], actor: str
) -> dict[str, Any]:
    """Keep a newly signed version (retained) and make it the document's latest, unless another
    signature was added to the same base version meanwhile: then this one would drop it."""
    sha = sha256_file(signed)
    stored = ctx.store.put_file(
        f"{dossier_prefix(code)}/documents/{document_id}/signed-{sha[:16]}.pdf", signed, write_once=True, retain=True
    )
    with ctx.sessions.begin() as session:
        moved = session.execute(
            update(Document)
            .where(Document.id == document_id, func.coalesce(Document.signed_key, Document.pdfa_key) == base)
            .values(signed_key=stored.key, signed_sha256=stored.sha256)
        ).rowcount
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
        _audit(session, actor, "signature.added", code, document=document_id, signer=info["signer"])
    write_manifest(ctx, code)
    return {**info, "dossier": code, "document_id": document_id, "sha256": stored.sha256}


def verify_document(ctx: Context, code: str, document_id: int) -> dict[str, Any]:
    """Verify a document's latest version as stored: its signatures, every change made after
    them, its PDF/A conformance, and that the stored bytes are the ones the catalog recorded."""
    from signing import verify_pdf

    key, _count = _signable(ctx, code, document_id)
    with ctx.sessions() as session:
        recorded = session.scalar(select(StoredObject.sha256).where(StoredObject.key == key))
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        path = Path(tmp) / f"{code}-{document_id}.pdf"
        ctx.store.get_file(key, path)
        sha256 = sha256_file(path)
        report = verify_pdf(path, ctx.trust_roots()).to_dict()
    intact = recorded is None or recorded == sha256
    return {
        **report,
        "ok": bool(report["ok"]) and intact,
        "dossier": code,
        "document_id": document_id,
        "version": key,
        "sha256": sha256,
        "stored_intact": intact,  # False: the object store holds other bytes than were stored
    }


def sign_agency(ctx: Context, code: str, document_id: int, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Add the agency's signature (the server's certificate) to a document's latest version,
    its stamp below the earlier ones."""
    from signing.sign import effective_level, sign_pdf

    base, count = _signable(ctx, code, document_id)
    s = ctx.settings
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src, out = Path(tmp) / "current.pdf", Path(tmp) / "signed.pdf"
        ctx.store.get_file(base, src)
        info = sign_pdf(
            src,
            out,
            ctx.signer(),
            agency_name=s.agency_name,
            level=effective_level(s.signing_level, s.tsa_url),
            tsa_url=s.tsa_url,
            trust_roots=ctx.trust_roots(),
            reason=reason or "Xác nhận",
            slot=count,
        )
        return _store_signed_version(ctx, code, document_id, base, out, info, actor)


def prepare_remote(
    ctx: Context, code: str, document_id: int, chain: bytes, *, actor: str = "anonymous"
) -> dict[str, Any]:
    """Step 1 of a clerk's signature: the document's latest signed version, ready for the clerk's key."""
    from signing import remote

    base, _count = _signable(ctx, code, document_id)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        src = Path(tmp) / "current.pdf"
        ctx.store.get_file(base, src)
        context = {"code": code, "document_id": document_id, "base": base}
        prepared = remote.prepare(src, ctx.pending, chain, context=context)
    with ctx.sessions.begin() as session:
        _audit(session, actor, "signature.prepared", code, document=document_id, pending=prepared.id)
    return {
        "id": prepared.id,
        "to_be_signed": base64.b64encode(prepared.to_be_signed).decode(),
        "sha256": prepared.sha256,
        "expires_at": prepared.expires_at.isoformat(),
        "complete_url": f"/api/v1/remote-signatures/{prepared.id}",
    }


def complete_remote(ctx: Context, pending_id: str, signature: bytes, *, actor: str = "anonymous") -> dict[str, Any]:
    """Step 2: embed the clerk's signature and store the result as the document's new signed version."""
    from signing import remote

    context = remote.context_of(ctx.pending, pending_id)
    code, document_id, base = str(context["code"]), int(context["document_id"]), str(context["base"])  # type: ignore[call-overload]
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        out = Path(tmp) / "signed.pdf"
        info = remote.complete(ctx.pending, pending_id, signature, out, tsa_url=ctx.settings.tsa_url)
        return _store_signed_version(ctx, code, document_id, base, out, info, actor)


def accept_batch(ctx: Context, upload: Path, filename: str, *, default_code: str = "", actor: str = "anonymous") -> Job:
    """Store a batch scan as uploaded and queue its split into documents and dossiers."""
    if default_code:
        parse_code(default_code, ctx.settings.dossier_code_pattern)
    kind = check_type(upload, filename)
    sha256 = sha256_file(upload)
    info = ctx.store.put_file(f"batches/{sha256}{_EXT[kind]}", upload, write_once=True)
    options = {
        "original_key": info.key,
        "original_name": clean_filename(filename),
        "sha256": sha256,
        "size": info.size,
        "default_code": default_code,
    }
    with ctx.sessions.begin() as session:
        job = Job(id=uuid.uuid4().hex, kind="batch", dossier_code=None, status="queued", options=options)
        session.add(job)
        storage.manifest.record(session, info, kind="original", code=None, actor=actor)
        _audit(session, actor, "batch.accepted", default_code or None, sha256=sha256, file=options["original_name"])
    return job


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
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def search(
    ctx: Context,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    agency: str | None = None,
    procedure: str | None = None,
    status: str | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
) -> dict[str, Any]:
    """Pages matching ``query`` (OCR text and dossier metadata), exact matches first, then newest first."""
    filters = {
        "agency": agency or None,
        "procedure": procedure or None,
        "status": status or None,
        "received_from": received_from,
        "received_to": received_to,
    }
    limit, offset = max(1, min(limit, storage.search.MAX_LIMIT)), max(0, offset)
    with ctx.sessions() as session:
        total, hits = storage.search.search(session, query, limit=limit, offset=offset, **filters)
    return {
        "query": unicodedata.normalize("NFC", query),
        "filters": {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in filters.items() if v is not None},
        "total": total,
        "limit": limit,
        "offset": offset,
        "hits": [h.__dict__ for h in hits],
    }


def audit_events(ctx: Context, *, dossier: str | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Audit log entries, oldest first, each with the hashes that chain it to the one before."""
    query = select(AuditEvent)
    if dossier:
        query = query.where(AuditEvent.dossier_code == dossier)
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        events = session.scalars(query.order_by(AuditEvent.id).limit(limit).offset(offset))
        return {
            "total": total,
            "limit": limit,
            "offset": offset,
            "events": [
                {
                    "id": e.id,
                    "at": iso(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "dossier": e.dossier_code,
                    "detail": e.detail,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in events
            ],
        }


def legal_hold(ctx: Context, code: str, on: bool, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Put every stored object of a dossier under legal hold (or lift it): on S3 with object lock,
    held objects cannot be deleted by anyone, whatever their retention."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        if session.get(Dossier, code) is None:
            raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
        keys = list(session.scalars(select(StoredObject.key).where(StoredObject.dossier_code == code)))
    for key in keys:
        ctx.store.legal_hold(key, on)
    with ctx.sessions.begin() as session:
        _audit(session, actor, "legal_hold.set" if on else "legal_hold.lifted", code, objects=len(keys), reason=reason)
    return {"dossier": code, "legal_hold": on, "objects": keys}

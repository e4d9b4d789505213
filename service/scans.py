"""Scans in: the exact uploaded bytes stored under their dossier and a job queued for them, the
same way from the API and the CLI; and the jobs they made, as their callers see them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import storage.manifest
from checksums import sha256_file
from digitize.ingest import check_type, count_pages
from errors import SohoaError
from service import access, documents, dossiers, failures, lease, limits, queue
from service.access import Principal, Scope
from service.agencies import codes_within
from service.context import Context, audit
from service.uploads import clean_filename
from service.views import AcceptedJob, JobView
from storage import Document, Dossier, Job, dossier_prefix, lifecycle, parse_code
from storage.catalog import JobStatus, changed, document_for, find_document, insert_new, iso, now
from storage.errors import NotFound
from storage.objects import ObjectInfo

_EXT = {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png", "tiff": ".tif", "jp2": ".jp2", "unknown": ".bin"}


def submit_scan(ctx: Context, code: str, upload: Path, filename: str, *, actor: str, **choices: Any) -> AcceptedJob:
    """Accept a scan and queue its job (a scan accepted before keeps its job: ``created`` false);
    ``choices``: accept_scan's."""
    job, created = accept_scan(ctx, code, upload, filename, actor=actor, **choices)
    if created:
        queue.enqueue(job.id, job.pages_total, settings=ctx.settings)
    return AcceptedJob(**job_view(job).model_dump(), created=created)


def check_dossier(ctx: Context, code: str, *, create_dossier: bool) -> None:
    """What can be told of a scan for ``code`` before its bytes are read or stored: a code that
    is well formed, a dossier that is open and, unless the caller may create it, received."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        if not create_dossier:
            dossiers.require_received(session, code)
        lifecycle.check_open(session, code, "nhận thêm bản quét", "a new scan")


def check_document(ctx: Context, code: str, number: int) -> int:
    """Before a new scan for document ``number`` is read or stored: the document exists, in a
    dossier that is open. Its id in the catalog."""
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        lifecycle.check_open(session, code, "nhận thêm bản quét", "a new scan")
        if (document := find_document(session, code, number)) is None:
            raise documents.no_document(code, number)
        return document.id


def _counted(ctx: Context, code: str, upload: Path, kind: str, name: str, *, besides: int | None = None) -> int | None:
    """The file's pages, counted from its structure, refused before anything is stored when the
    dossier has no room for them (``besides``: a document whose pages the new scan replaces)."""
    pages, limit = count_pages(upload, kind), ctx.settings.max_pages_per_dossier
    with ctx.sessions() as session:
        limits.check(pages or 0, limits.room(session, code, limit, besides=besides), limit, name)
    return pages


def _store_original(ctx: Context, code: str, upload: Path, kind: str, sha256: str | None, take: bool) -> ObjectInfo:
    """The exact uploaded bytes in the store, content-addressed: the same bytes, the same object.
    ``take``: the upload is a temporary file the store may move rather than copy."""
    sha256 = sha256 or sha256_file(upload)  # the API hashed it while it streamed in
    key = f"{dossier_prefix(code)}/originals/{sha256}{_EXT[kind]}"
    return ctx.store.put_file(key, upload, write_once=True, sha256=sha256, move=take)


def _queue_job(
    session: Session,
    code: str,
    document: Document,
    info: ObjectInfo,
    options: dict[str, str] | None,
    actor: str,
    pages: int | None,
) -> Job:
    """A queued digitization job for ``document``, whose original ``info`` is (``pages``: its
    page count when the file tells it)."""
    storage.manifest.record(session, info, kind="original", code=code, actor=actor)
    choices = {**(options or {}), "posted_by": actor}  # the dossier's history names the station
    job = Job(
        id=uuid.uuid4().hex,
        dossier_code=code,
        document=document,
        status=JobStatus.QUEUED,
        options=choices,
        posted_by=actor,
        pages_total=pages,  # known before any OCR: progress shows it, a large job gets its lane
    )
    session.add(job)
    session.flush()
    return job


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
    document_kind: str = "component",
    create_dossier: bool = True,
) -> tuple[Job, bool]:
    """Store the exact uploaded bytes under the dossier and record a queued digitization job.

    Posting the same bytes to the same dossier again returns the existing job (False); a failed
    job is retried, a removed document comes back. ``create_dossier``: a dossier not received
    yet is made (else refused: dossiers.may_create). ``document_kind``: a component of the
    dossier, or an issued result (signed differently)."""
    check_dossier(ctx, code, create_dossier=create_dossier)  # before storing anything
    dossier_code = parse_code(code, ctx.settings.dossier_code_pattern)
    kind = check_type(upload, filename)
    pages = _counted(ctx, code, upload, kind, clean_filename(filename))
    info = _store_original(ctx, code, upload, kind, sha256, take)
    with ctx.sessions.begin() as session:
        # Insert-or-get, the database deciding, so stations posting at once never collide; rows
        # first, audit entries last (on PostgreSQL the log's lock is then never held while
        # waiting for another upload's row).
        new_dossier = create_dossier and insert_new(
            session, Dossier, code=code, agency=dossier_code.agency, received_on=dossier_code.received_on
        )
        lifecycle.check_open(session, code, "nhận thêm bản quét", "a new scan")  # closed meanwhile
        name = clean_filename(filename)
        document = document_for(
            session, code, info.sha256, original_name=name, original_key=info.key, original_size=info.size,
            kind=document_kind,
        )  # fmt: skip
        job = session.scalars(select(Job).where(Job.document_id == document.id).order_by(Job.created_at.desc())).first()
        if job is not None and job.status != JobStatus.FAILED and document.removed_at is None:
            return job, False  # a failed job is retried by posting the scan again
        restored, document.removed_at = document.removed_at is not None, None
        job = _queue_job(session, code, document, info, options, actor, pages)
        if new_dossier:
            audit(session, actor, "dossier.created", code)
        detail = {"document": document.id, "number": document.number, "sha256": info.sha256,
                  "file": document.original_name, "kind": document.kind}  # fmt: skip
        audit(session, actor, "scan.accepted", code, **detail, **({"restored": True} if restored else {}))
    # The catalog now records the original; the dossier's manifest is rewritten when this job
    # ends, done or failed, which keeps that work off the upload's answer.
    return job, True


class DuplicateScan(SohoaError):
    status = 409
    code = "duplicate-scan"


def replace_scan(
    ctx: Context,
    code: str,
    number: int,
    upload: Path,
    filename: str,
    *,
    actor: str,
    options: dict[str, str] | None = None,
    sha256: str | None = None,
    take: bool = False,
) -> AcceptedJob:
    """A new scan for document ``number`` (its job failed, or the copy is poor), before anyone
    signs it: the document keeps its number and kind, takes the new original, forgets what was
    made from the old one (which stays in the store) and is digitized again."""
    replaced = check_document(ctx, code, number)
    kind = check_type(upload, filename)
    pages = _counted(ctx, code, upload, kind, clean_filename(filename), besides=replaced)
    info = _store_original(ctx, code, upload, kind, sha256, take)
    new = {"file": clean_filename(filename), "sha256": info.sha256}
    try:
        with ctx.sessions.begin() as session:
            lifecycle.check_open(session, code, "nhận thêm bản quét", "a new scan")  # closed meanwhile
            document = documents.locked(session, code, number)
            old = documents.clear_versions(session, document)  # undone with the rest if the change is refused
            documents.change(
                session, document, ("thay bản quét", "replaced"), original_name=new["file"], original_key=info.key,
                original_sha256=info.sha256, original_size=info.size, part="",
            )  # fmt: skip
            job = _queue_job(session, code, document, info, options, actor, pages)
            audit(session, actor, "document.replaced", code, document=document.id, number=number, old=old, new=new)
            view = job_view(job)
    except IntegrityError as e:  # the one key a new original can take: another document's bytes
        raise DuplicateScan(
            f"Tệp {new['file']} đã là một tài liệu khác của hồ sơ {code}; gửi tệp khác.",
            f"{new['file']} is another document of dossier {code} already; send another file.",
            field="file",
        ) from e
    queue.enqueue(view.id, pages, settings=ctx.settings)
    return AcceptedJob(**view.model_dump(), created=True)


def submit_batch(
    ctx: Context,
    upload: Path,
    filename: str,
    *,
    default_code: str = "",
    actor: str = "anonymous",
    create_dossier: bool = True,
    agencies: Scope = None,
) -> JobView:
    """Store a batch scan as uploaded and queue its split into documents and dossiers (dossiers
    not received yet are made only with ``create_dossier``; else the job fails naming one)."""
    if default_code:
        check_dossier(ctx, default_code, create_dossier=create_dossier)
    kind = check_type(upload, filename)
    pages, limit = count_pages(upload, kind), ctx.settings.max_pages_per_dossier
    limits.check(pages or 0, limit, limit, clean_filename(filename))  # a batch's dossiers are known later
    sha256 = sha256_file(upload)
    info = ctx.store.put_file(f"batches/{sha256}{_EXT[kind]}", upload, write_once=True)
    options: dict[str, Any] = {
        "original_key": info.key,
        "original_name": clean_filename(filename),
        "sha256": sha256,
        "size": info.size,
        "default_code": default_code,
        "posted_by": actor,
        "creates_dossiers": create_dossier,
        "agencies": None if agencies is None else sorted(agencies),  # its dossiers must be of these
    }
    with ctx.sessions.begin() as session:
        job = Job(
            id=uuid.uuid4().hex,
            kind="batch",
            dossier_code=None,
            status=JobStatus.QUEUED,
            options=options,
            posted_by=actor,
            pages_total=pages,
        )
        session.add(job)
        storage.manifest.record(session, info, kind="original", code=None, actor=actor)
        audit(session, actor, "batch.accepted", default_code or None, sha256=sha256, file=options["original_name"])
        view = job_view(job)
    queue.enqueue(view.id, pages, settings=ctx.settings)
    return view


def job_view(job: Job) -> JobView:
    return JobView.model_validate(
        {
            "id": job.id,
            "status": job.status,
            "dossier": job.dossier_code,
            "document_id": job.document.number if job.document_id is not None and job.document else None,
            "posted_by": job.posted_by,
            "progress": {"pages_done": job.pages_done, "pages_total": job.pages_total},
            "attempts": job.attempts,
            "error": failures.shown(job.error, job.id),  # errors stored before they were cleaned too
            "result": job.result,
            "created_at": iso(job.created_at),
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
        }
    )


def seen_by(who: Principal) -> ColumnElement[bool]:
    """The jobs ``who`` sees: a station, those it posted; a user of some agencies, those of their
    dossiers and those they posted; anyone else, all."""
    return Job.posted_by == who.actor if who.role == "scanner" else _of_agencies(who)


def _of_agencies(who: Principal) -> ColumnElement[bool]:
    """The jobs of the dossiers of ``who``'s agencies and those they posted (every job: no agencies)."""
    if who.agencies is None:
        return true()
    return or_(Job.posted_by == who.actor, codes_within(Job.dossier_code, who.agencies))


def _no_job(job_id: str) -> NotFound:
    return NotFound(f"Không có công việc {job_id[:40]}.", f"No job {job_id[:40]}.", field="job_id")


def get_job(ctx: Context, job_id: str, *, who: Principal | None = None) -> JobView:
    """A job; with ``who``, only one they may see (another's is not found)."""
    with ctx.sessions() as session:
        job = session.scalars(select(Job).where(Job.id == job_id, true() if who is None else seen_by(who))).first()
        if job is None:
            raise _no_job(job_id)
        return job_view(job)


class JobFinished(SohoaError):
    status = 409
    code = "job-finished"


def cancel_job(ctx: Context, job_id: str, by: Principal) -> JobView:
    """Cancel a queued or running job (a running one stops at its next page; nothing of it is
    recorded). A scanner station may cancel only the jobs of the scans it posted."""
    with ctx.sessions.begin() as session:
        job = session.scalars(select(Job).where(Job.id == job_id, _of_agencies(by))).first()
        if job is None:
            raise _no_job(job_id)
        if by.role == "scanner" and job.posted_by != by.actor:
            raise access.Forbidden(
                "Trạm quét chỉ hủy được công việc của bản quét do chính trạm gửi.",
                "A scanner station may cancel only the jobs of scans it posted.",
                field="job_id",
            )
        error = {"code": "cancelled", "vi": f"Đã hủy bởi {by.name}.", "en": f"Cancelled by {by.name}.", "field": None}
        open_states = (JobStatus.QUEUED, JobStatus.RUNNING)
        stopped = changed(
            session,
            update(Job)
            .where(Job.id == job_id, Job.status.in_(open_states))
            .values(status=JobStatus.CANCELLED, finished_at=now(), lease_until=None, error=error),
        )
        if not stopped:
            raise JobFinished(
                f"Công việc {job_id[:40]} đã kết thúc ({job.status}); không hủy được.",
                f"Job {job_id[:40]} has ended ({job.status}); it cannot be cancelled.",
                field="job_id",
            )
        lease.settle_dossier(session, job.dossier_code, by.actor)  # what its documents make it now
        number = job.document.number if job.document else None
        audit(session, by.actor, "job.cancelled", job.dossier_code, job=job_id, document=job.document_id, number=number)
        session.refresh(job)
        return job_view(job)

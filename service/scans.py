"""Scans in: the exact uploaded bytes stored under their dossier and a job queued for them, the
same way from the API and the CLI; and the jobs they made, as their callers see them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

import storage.manifest
from checksums import sha256_file
from digitize.ingest import check_type, count_pages
from errors import SohoaError
from service import access, lease, limits, queue
from service.access import Principal
from service.context import Context, audit
from service.uploads import clean_filename
from service.views import AcceptedJob, JobView
from storage import Dossier, Job, dossier_prefix, lifecycle, parse_code
from storage.catalog import JobStatus, changed, document_for, insert_new, iso, now
from storage.errors import NotFound

_EXT = {"pdf": ".pdf", "jpeg": ".jpg", "png": ".png", "tiff": ".tif", "jp2": ".jp2", "unknown": ".bin"}


def submit_scan(
    ctx: Context,
    code: str,
    upload: Path,
    filename: str,
    *,
    actor: str,
    options: dict[str, str] | None = None,
    sha256: str | None = None,
    take: bool = False,
    document_kind: str = "component",
) -> AcceptedJob:
    """Accept a scan and queue its job (a scan accepted before keeps its job: ``created`` false)."""
    job, created = accept_scan(
        ctx, code, upload, filename, actor=actor, options=options, sha256=sha256, take=take, document_kind=document_kind
    )
    if created:
        queue.enqueue(job.id, job.pages_total, settings=ctx.settings)
    return AcceptedJob(**job_view(job).model_dump(), created=created)


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
) -> tuple[Job, bool]:
    """Store the exact uploaded bytes under the dossier and record a queued digitization job.

    Posting the same bytes to the same dossier again returns the existing job (False).
    ``take``: the upload is a temporary file the store may move rather than copy.
    ``document_kind``: a component of the dossier, or an issued result (signed differently)."""
    dossier_code = parse_code(code, ctx.settings.dossier_code_pattern)
    kind = check_type(upload, filename)
    pages, limit = count_pages(upload, kind), ctx.settings.max_pages_per_dossier
    with ctx.sessions() as session:  # before storing anything: a closed dossier takes no scan
        lifecycle.check_open(session, code, "nhận thêm bản quét", "a new scan")
        limits.check(pages or 0, limits.room(session, code, limit), limit, clean_filename(filename))
    sha256 = sha256 or sha256_file(upload)  # the API hashed it while it streamed in
    key = f"{dossier_prefix(code)}/originals/{sha256}{_EXT[kind]}"
    # Content-addressed: the same bytes make the same object.
    info = ctx.store.put_file(key, upload, write_once=True, sha256=sha256, move=take)
    with ctx.sessions.begin() as session:
        # Insert-or-get, the database deciding, so stations posting at once never collide; rows
        # first, audit entries last (on PostgreSQL the log's lock is then never held while
        # waiting for another upload's row).
        new_dossier = insert_new(
            session, Dossier, code=code, agency=dossier_code.agency, received_on=dossier_code.received_on
        )
        lifecycle.check_open(session, code, "nhận thêm bản quét", "a new scan")  # closed meanwhile
        name = clean_filename(filename)
        document = document_for(
            session, code, sha256, original_name=name, original_key=key, original_size=info.size, kind=document_kind
        )
        job = session.scalars(select(Job).where(Job.document_id == document.id).order_by(Job.created_at.desc())).first()
        if job is not None and job.status != JobStatus.FAILED:
            return job, False  # a failed job is retried by posting the scan again
        storage.manifest.record(session, info, kind="original", code=code, actor=actor)
        choices = {**(options or {}), "posted_by": actor}  # the dossier's history names the station
        job = Job(
            id=uuid.uuid4().hex,
            dossier_code=code,
            document_id=document.id,
            status=JobStatus.QUEUED,
            options=choices,
            pages_total=pages,  # known before any OCR: progress shows it, a large job gets its lane
        )
        session.add(job)
        session.flush()
        if new_dossier:
            audit(session, actor, "dossier.created", code)
        detail = {"document": document.id, "sha256": sha256, "file": document.original_name, "kind": document.kind}
        audit(session, actor, "scan.accepted", code, **detail)
    # The catalog now records the original; the dossier's manifest is rewritten when this job
    # ends, done or failed, which keeps that work off the upload's answer.
    return job, True


def submit_batch(
    ctx: Context, upload: Path, filename: str, *, default_code: str = "", actor: str = "anonymous"
) -> JobView:
    """Store a batch scan as uploaded and queue its split into documents and dossiers."""
    if default_code:
        parse_code(default_code, ctx.settings.dossier_code_pattern)
        with ctx.sessions() as session:
            lifecycle.check_open(session, default_code, "nhận thêm bản quét", "a new scan")
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
    }
    with ctx.sessions.begin() as session:
        job = Job(
            id=uuid.uuid4().hex,
            kind="batch",
            dossier_code=None,
            status=JobStatus.QUEUED,
            options=options,
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
            "document_id": job.document_id,
            "progress": {"pages_done": job.pages_done, "pages_total": job.pages_total},
            "attempts": job.attempts,
            "error": job.error,
            "result": job.result,
            "created_at": iso(job.created_at),
            "started_at": iso(job.started_at),
            "finished_at": iso(job.finished_at),
        }
    )


def get_job(ctx: Context, job_id: str) -> JobView:
    with ctx.sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound(f"Không có công việc {job_id[:40]}.", f"No job {job_id[:40]}.", field="job_id")
        return job_view(job)


class JobFinished(SohoaError):
    status = 409
    code = "job-finished"


def cancel_job(ctx: Context, job_id: str, by: Principal) -> JobView:
    """Cancel a queued or running job (a running one stops at its next page; nothing of it is
    recorded). A scanner station may cancel only the jobs of the scans it posted."""
    with ctx.sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound(f"Không có công việc {job_id[:40]}.", f"No job {job_id[:40]}.", field="job_id")
        if by.role == "scanner" and (job.options or {}).get("posted_by") != by.actor:
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
        lease.settle_dossier(session, job.dossier_code, by.actor, "hủy số hóa")
        audit(session, by.actor, "job.cancelled", job.dossier_code, job=job_id, document=job.document_id)
        session.refresh(job)
        return job_view(job)

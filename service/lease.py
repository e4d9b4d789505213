"""Job leases: a worker claims a queued job, renews its lease while it runs, and finishes or
fails it only while it still holds it; a dead worker's job is reaped once its lease runs out,
and at start a worker recovers from the catalog what the queue lost."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service import scratch
from service.context import Context
from storage import Document, Dossier, Job, lifecycle, outbox
from storage.catalog import JobStatus, changed, now

log = logging.getLogger("sohoa.jobs")
Enqueue = Callable[[str, int | None], None]  # a job's id and its pages (its lane)


class JobLost(Exception):
    """Another worker took this job over after its lease ran out, or a person cancelled it; this
    run's work is dropped."""


@dataclass
class Run:
    """One attempt at a job, by one worker: only the holder of the latest attempt may finish it."""

    job_id: str
    attempt: int
    started: float
    kind: str
    code: str | None
    document_id: int | None
    options: dict[str, Any]
    pages: int | None = None  # counted at upload: a large job gives way to small ones

    @property
    def station(self) -> str:
        """Who posted the scan this job digitizes (the scanner station or the person)."""
        return str(self.options.get("posted_by", ""))


def job_actor(run: Run) -> str:
    """How the audit log names a job: its id (the station that posted the scan rides along)."""
    return f"job:{run.job_id}"


def _lease_end(ctx: Context) -> dt.datetime:
    return now() + dt.timedelta(seconds=ctx.settings.job_lease_seconds)


def claim(ctx: Context, job_id: str) -> Run | None:
    """Take a queued job (None: done already, or another worker has it); its dossier, if still
    being received or digitized, is DIGITIZING from now."""
    with ctx.sessions.begin() as session:
        claimed = changed(
            session,
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(status=JobStatus.RUNNING, started_at=now(), attempts=Job.attempts + 1, lease_until=_lease_end(ctx)),
        )
        if not claimed:
            return None
        job = session.get(Job, job_id)
        assert job is not None
        run = Run(
            job_id,
            job.attempts,
            time.monotonic(),
            job.kind,
            job.dossier_code,
            job.document_id,
            dict(job.options or {}),
            job.pages_total,
        )
        dossier = session.get(Dossier, run.code) if run.code else None
        if dossier is not None and dossier.status in lifecycle.DIGITIZABLE:
            lifecycle.move_automatically(
                session, dossier, "DIGITIZING", actor=job_actor(run), reason="đang số hóa", station=run.station
            )
    return run


@contextlib.contextmanager
def heartbeat(ctx: Context, run: Run) -> Iterator[None]:
    """Keep the job's lease while it runs; a worker that dies stops renewing it, and ``reap``
    queues the job again once the lease has run out."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ctx.settings.job_lease_seconds / 3):
            with ctx.sessions.begin() as session:
                changed(
                    session,
                    update(Job)
                    .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == JobStatus.RUNNING)
                    .values(lease_until=_lease_end(ctx)),
                )

    thread = threading.Thread(target=renew, name=f"lease-{run.job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def progress(ctx: Context, run: Run, done: int, total: int | None) -> None:
    """Pages done so far in the job row, if this run still holds the job: a job cancelled or
    taken over meanwhile stops here (JobLost)."""
    values = {"pages_done": done} | ({"pages_total": total} if total is not None else {})
    with ctx.sessions.begin() as session:
        held = changed(
            session,
            update(Job)
            .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == JobStatus.RUNNING)
            .values(**values),
        )
    if not held:
        raise JobLost(run.job_id)


def finish(session: Session, run: Run, result: dict[str, Any], pages: int) -> None:
    """Mark the job done in the transaction that records its work, if this run still holds it."""
    done = session.execute(
        update(Job)
        .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == JobStatus.RUNNING)
        .values(
            status=JobStatus.DONE,
            finished_at=now(),
            pages_done=pages,
            pages_total=pages,
            result={**result, "seconds": round(time.monotonic() - run.started, 2)},
        ),
    )
    if not done:
        raise JobLost(run.job_id)
    summaries = result.get("documents", [result])
    made = [{"dossier": d.get("dossier", run.code), "document": d["document_id"]} for d in summaries]
    outbox.record(session, outbox.JOB_DONE, run.code, job=run.job_id, kind=run.kind, pages=pages, documents=made)


def fail(session: Session, run: Run, error: dict[str, Any]) -> bool:
    """Mark the job failed with ``error``, if this run still holds it (False: another does)."""
    failed = changed(
        session,
        update(Job)
        .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == JobStatus.RUNNING)
        .values(status=JobStatus.FAILED, finished_at=now(), error=error),
    )
    if failed:
        document = session.get(Document, run.document_id) if run.document_id else None
        number = document.number if document else None
        outbox.record(session, outbox.JOB_FAILED, run.code, job=run.job_id, kind=run.kind, document=number, error=error)
    return bool(failed)


def release(ctx: Context, run: Run) -> bool:
    """Put a job this worker stops (SIGTERM) back in the queue's state, if this run still holds
    it: another worker, or this one restarted, takes it from the start."""
    with ctx.sessions.begin() as session:
        return bool(
            changed(
                session,
                update(Job)
                .where(Job.id == run.job_id, Job.attempts == run.attempt, Job.status == JobStatus.RUNNING)
                .values(status=JobStatus.QUEUED, lease_until=None, pages_done=0),
            )
        )


def settle_dossier(session: Session, code: str | None, actor: str, station: str = "") -> None:
    """A dossier whose job failed or was cancelled goes to what its documents make it
    (lifecycle.settle: not DIGITIZED while one of them failed or waits)."""
    dossier = session.get(Dossier, code) if code else None
    if dossier is not None:
        lifecycle.settle(session, dossier, actor=actor, station=station)


def digitized(session: Session, code: str, run: Run | None) -> None:
    """A dossier still being received or digitized once a job has recorded a document: DIGITIZED
    when every document is (lifecycle.settle; a dossier further on keeps its status); its history
    names the job and the station."""
    dossier = session.get(Dossier, code)
    assert dossier is not None
    actor, station = (job_actor(run), run.station) if run else ("worker", "")
    lifecycle.settle(session, dossier, actor=actor, finishing=run.job_id if run else None, station=station)


def reap(ctx: Context, enqueue: Enqueue) -> list[str]:
    """Queue again the jobs whose worker stopped renewing their lease (it died, even by SIGKILL),
    and delete the scratch folders that ended processes of this host left (half-received uploads,
    a killed job's page images). Safe from every worker at once: each job is taken back by one
    UPDATE that checks the lease."""
    for name in scratch.sweep(ctx.settings.data_dir):
        log.info("removed scratch folder %s of an ended process", name)
    expired = or_(Job.lease_until.is_(None), Job.lease_until < now())
    reaped: list[tuple[str, int | None]] = []
    with ctx.sessions.begin() as session:
        running = session.execute(select(Job.id, Job.pages_total).where(Job.status == JobStatus.RUNNING, expired))
        for job_id, pages in running.all():
            taken = changed(
                session,
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING, expired)
                .values(status=JobStatus.QUEUED),
            )
            if taken:
                reaped.append((job_id, pages))
    for job_id, pages in reaped:
        enqueue(job_id, pages)
        log.warning("job %s lost its worker; queued again", job_id)
    return [job_id for job_id, _ in reaped]


def start_reaper(ctx: Context, enqueue: Enqueue) -> threading.Event:
    """Reap every half lease in a background thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(ctx.settings.job_lease_seconds / 2):
            try:
                reap(ctx, enqueue)
            except Exception:  # a database hiccup must not end the loop
                log.exception("reaping failed")

    threading.Thread(target=loop, name="sohoa-reaper", daemon=True).start()
    return stop


def recover(ctx: Context, enqueue: Enqueue) -> int:
    """At a worker's start: the catalog is the source of truth, so jobs it calls queued are put
    in the queue again (the queue file or Redis may have lost them; a duplicate is a no-op since
    a job is claimed once), and jobs whose worker died are reaped."""
    with ctx.sessions() as session:
        queued = select(Job.id, Job.pages_total).where(Job.status == JobStatus.QUEUED).order_by(Job.created_at)
        pending = session.execute(queued).all()
    for job_id, pages in pending:
        enqueue(job_id, pages)
    reaped = reap(ctx, enqueue)
    if pending:
        log.info("requeued %d queued jobs", len(pending))
    return len(pending) + len(reaped)

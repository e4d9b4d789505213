"""The job queue (Huey): SQLite on local disk by default, Redis by setting. Tasks are thin:
they hand the job to service.run_job, so the same code runs from the worker and the CLI."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from huey.consumer import Consumer
from huey.storage import SqliteStorage
from sqlalchemy import or_, select, update

import scratch
import service
from errors import SohoaError
from settings import Settings, get_settings
from storage import Job
from storage.catalog import now

log = logging.getLogger("sohoa.jobs")


@dataclass(frozen=True)
class Queue:
    huey: Huey
    digitize: TaskWrapper


class _QueueFile(SqliteStorage):
    """Huey's SQLite queue without an fsync at each commit (WAL, synchronous=NORMAL): it survives a
    crash of the process, and what a power cut takes from it, ``recover`` puts back from the
    catalog, which is the record. Each upload's answer waited on that fsync."""

    def _create_connection(self) -> sqlite3.Connection:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn


class _SqliteQueue(SqliteHuey):
    storage_class = _QueueFile


def make_huey(url: str) -> Huey:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return _SqliteQueue(name="sohoa", filename=str(path), results=False)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey(name="sohoa", url=url, results=False)
    raise SohoaError(
        f"Không hỗ trợ hàng đợi {url.split(':', 1)[0]}.",
        f"Unsupported queue URL scheme: {url.split(':', 1)[0]}.",
        field="SOHOA_QUEUE_URL",
    )


@lru_cache(maxsize=4)
def queue(settings: Settings | None = None) -> Queue:
    settings = settings or get_settings()
    huey = make_huey(settings.queue)

    def digitize(job_id: str) -> None:
        yield_cpu()
        service.run_job(service.context(settings), job_id)

    return Queue(huey, huey.task(name="digitize")(digitize))


def enqueue(job_id: str, settings: Settings | None = None) -> None:
    queue(settings).digitize(job_id)


def reap(settings: Settings | None = None) -> list[str]:
    """Queue again the jobs whose worker stopped renewing their lease (it died, even by SIGKILL),
    and delete the scratch folders that ended processes of this host left (half-received uploads,
    a killed job's page images). Safe from every worker at once: each job is taken back by one
    UPDATE that checks the lease."""
    settings = settings or get_settings()
    ctx = service.context(settings)
    for name in scratch.sweep(settings.data_dir):
        log.info("removed scratch folder %s of an ended process", name)
    expired = or_(Job.lease_until.is_(None), Job.lease_until < now())
    reaped = []
    with ctx.sessions.begin() as session:
        for job_id in session.scalars(select(Job.id).where(Job.status == "running", expired)).all():
            taken = session.execute(
                update(Job).where(Job.id == job_id, Job.status == "running", expired).values(status="queued")
            ).rowcount
            if taken:
                reaped.append(job_id)
    for job_id in reaped:
        enqueue(job_id, settings)
        log.warning("job %s lost its worker; queued again", job_id)
    return reaped


def start_reaper(settings: Settings) -> threading.Event:
    """Reap every half lease in a background thread; set the returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(settings.job_lease_seconds / 2):
            try:
                reap(settings)
            except Exception:  # a database hiccup must not end the loop
                log.exception("reaping failed")

    threading.Thread(target=loop, name="sohoa-reaper", daemon=True).start()
    return stop


def recover(settings: Settings | None = None) -> int:
    """At a worker's start: the catalog is the source of truth, so jobs it calls queued are put
    in the queue again (the queue file or Redis may have lost them; a duplicate is a no-op since
    a job is claimed once), and jobs whose worker died are reaped."""
    settings = settings or get_settings()
    ctx = service.context(settings)
    with ctx.sessions() as session:
        pending = list(session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.created_at)))
    for job_id in pending:
        enqueue(job_id, settings)
    reaped = reap(settings)
    if pending:
        log.info("requeued %d queued jobs", len(pending))
    return len(pending) + len(reaped)


class EmbeddedConsumer(Consumer):
    """A consumer that runs beside the web server: the server owns the signals."""

    reaper: threading.Event | None = None

    def _set_signal_handlers(self) -> None:
        pass

    def stop(self, graceful: bool = False) -> None:
        if self.reaper is not None:
            self.reaper.set()
        super().stop(graceful)


JOB_NICE = 10  # a job's threads give way to the API's (an upload's 202 waits on the CPU)


def yield_cpu() -> None:
    """Lower this worker thread's CPU priority, and so that of the page threads it starts (Linux
    threads inherit it): OCR fills every core, and requests must still be answered at once."""
    tid = threading.get_native_id()
    current = os.getpriority(os.PRIO_PROCESS, tid)
    if current < JOB_NICE:
        os.setpriority(os.PRIO_PROCESS, tid, JOB_NICE)


def worker_lock(settings: Settings) -> int | None:
    """The open lock file in the one server process that is to run the embedded worker, None in
    the others. It is held until closed or the process exits (even by SIGKILL: the kernel lets go)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.data_dir / "worker.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def start_embedded_worker(settings: Settings | None = None) -> Consumer:
    settings = settings or get_settings()
    recover(settings)
    consumer = EmbeddedConsumer(
        queue(settings).huey,
        workers=settings.worker_threads,
        worker_type="thread",
        periodic=False,
        initial_delay=0.1,
        max_delay=1.0,
    )
    consumer.start()
    consumer.reaper = start_reaper(settings)
    return consumer


def run_worker(settings: Settings | None = None) -> None:
    """A standalone worker process (``sohoa worker``) with the usual signal handling."""
    settings = settings or get_settings()
    recover(settings)
    start_reaper(settings)
    Consumer(
        queue(settings).huey, workers=settings.worker_threads, worker_type="thread", periodic=False, max_delay=1.0
    ).run()

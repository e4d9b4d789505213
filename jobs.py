"""The job queue (Huey): SQLite on local disk by default, Redis by setting. Tasks are thin:
they hand the job to service.run_job, so the same code runs from the worker and the CLI."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from huey.consumer import Consumer
from sqlalchemy import select, update

import service
from errors import SohoaError
from settings import Settings, get_settings
from storage import Job

log = logging.getLogger("sohoa.jobs")


@dataclass(frozen=True)
class Queue:
    huey: Huey
    digitize: TaskWrapper


def make_huey(url: str) -> Huey:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name="sohoa", filename=str(path), results=False)
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
        service.run_job(service.context(settings), job_id)

    return Queue(huey, huey.task(name="digitize")(digitize))


def enqueue(job_id: str, settings: Settings | None = None) -> None:
    queue(settings).digitize(job_id)


def recover(settings: Settings | None = None) -> int:
    """At start of the embedded worker: jobs interrupted by a crash or left in the queue
    file are queued again from the catalog, which is the source of truth."""
    settings = settings or get_settings()
    ctx = service.context(settings)
    q = queue(settings)
    with ctx.sessions.begin() as session:
        session.execute(update(Job).where(Job.status == "running").values(status="queued"))
        pending = list(session.scalars(select(Job.id).where(Job.status == "queued").order_by(Job.created_at)))
    q.huey.flush()
    for job_id in pending:
        q.digitize(job_id)
    if pending:
        log.info("requeued %d unfinished jobs", len(pending))
    return len(pending)


class EmbeddedConsumer(Consumer):
    """A consumer that runs beside the web server: the server owns the signals."""

    def _set_signal_handlers(self) -> None:
        pass


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
    return consumer


def run_worker(settings: Settings | None = None) -> None:
    """A standalone worker process (``sohoa worker``) with the usual signal handling."""
    settings = settings or get_settings()
    Consumer(
        queue(settings).huey, workers=settings.worker_threads, worker_type="thread", periodic=False, max_delay=1.0
    ).run()

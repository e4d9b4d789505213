"""The job queue (Huey): SQLite on local disk by default, Redis by setting, and the workers that
take from it (inside a server process, or on their own). Tasks are thin: they hand the job to
``run.run_job``, so the same code runs from the worker and the CLI."""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from huey.consumer import Consumer
from huey.storage import SqliteStorage

from errors import SohoaError
from service import lease
from service.audit import start_anchorer
from service.context import context
from service.run import run_job
from service.settings import Settings, get_settings

log = logging.getLogger("sohoa.jobs")


@dataclass(frozen=True)
class Queue:
    huey: Huey
    digitize: TaskWrapper


class _QueueFile(SqliteStorage):
    """Huey's SQLite queue without an fsync at each commit (WAL, synchronous=NORMAL): it survives a
    crash of the process, and what a power cut takes from it, ``lease.recover`` puts back from the
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
        run_job(context(settings), job_id)

    return Queue(huey, huey.task(name="digitize")(digitize))


def enqueue(job_id: str, settings: Settings | None = None) -> None:
    queue(settings).digitize(job_id)


def recover(settings: Settings) -> int:
    """Put back in the queue what the catalog calls queued, and reap dead workers' jobs."""
    return lease.recover(context(settings), partial(enqueue, settings=settings))


class EmbeddedConsumer(Consumer):
    """A consumer that runs beside the web server: the server owns the signals."""

    loops: tuple[threading.Event, ...] = ()  # the reaper's and the audit anchorer's

    def _set_signal_handlers(self) -> None:
        pass

    def stop(self, graceful: bool = False) -> None:
        for loop in self.loops:
            loop.set()
        super().stop(graceful)


def _start_loops(settings: Settings) -> tuple[threading.Event, ...]:
    """What every worker runs beside its jobs: the reaper of dead workers' jobs and the audit
    log's anchorer."""
    ctx = context(settings)
    return lease.start_reaper(ctx, partial(enqueue, settings=settings)), start_anchorer(ctx)


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
    consumer.loops = _start_loops(settings)
    return consumer


def run_worker(settings: Settings | None = None) -> None:
    """A standalone worker process (``sohoa worker``) with the usual signal handling."""
    settings = settings or get_settings()
    recover(settings)
    _start_loops(settings)
    Consumer(
        queue(settings).huey, workers=settings.worker_threads, worker_type="thread", periodic=False, max_delay=1.0
    ).run()

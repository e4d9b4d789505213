"""The job queue (Huey): SQLite on local disk by default, Redis by setting, and the workers that
take from it (inside a server process, or on their own). Tasks are thin: they hand the job to
``run.run_job``, so the same code runs from the worker and the CLI."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import signal
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from zoneinfo import ZoneInfo

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.api import TaskWrapper
from huey.consumer import Consumer
from huey.storage import SqliteStorage
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from errors import SohoaError
from service import lanes, lease, renewal, webhooks
from service.audit import start_anchorer
from service.context import context
from service.run import run_job
from service.settings import Settings, get_settings
from storage import Job, outbox

log = logging.getLogger("sohoa.jobs")


@dataclass(frozen=True)
class Queue:
    """Three lanes, each with its own consumer: small jobs, large ones (service.lanes), and
    webhook deliveries, which never wait behind a digitization. The small lane also runs the
    daily renewal of time stamps (``renew``, None when switched off)."""

    huey: Huey
    digitize: TaskWrapper
    large: Huey
    digitize_large: TaskWrapper
    hooks: Huey
    deliver: TaskWrapper
    renew: TaskWrapper | None = None


def renewal_schedule(settings: Settings) -> crontab | None:
    """Daily at SOHOA_RENEWAL_HOUR in the office's time zone (Huey's schedule runs in UTC)."""
    if settings.renewal_hour < 0:
        return None
    local = dt.datetime.combine(dt.date.today(), dt.time(settings.renewal_hour), ZoneInfo(settings.timezone))
    return crontab(minute="0", hour=str(local.astimezone(dt.UTC).hour))


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


def make_huey(url: str, name: str = "sohoa") -> Huey:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return _SqliteQueue(name=name, filename=str(path), results=False)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey(name=name, url=url, results=False)
    raise SohoaError(
        f"Không hỗ trợ hàng đợi {url.split(':', 1)[0]}.",
        f"Unsupported queue URL scheme: {url.split(':', 1)[0]}.",
        field="SOHOA_QUEUE_URL",
    )


@lru_cache(maxsize=4)
def queue(settings: Settings | None = None) -> Queue:
    settings = settings or get_settings()
    huey, large = make_huey(settings.queue), make_huey(settings.queue, "sohoa-large")
    hooks = make_huey(settings.queue, "sohoa-webhooks")

    def digitize(job_id: str) -> None:
        yield_cpu()
        if run_job(context(settings), job_id):  # stopped with its worker: for the next one
            with context(settings).sessions() as session:
                enqueue(job_id, session.scalar(select(Job.pages_total).where(Job.id == job_id)), settings=settings)

    def deliver(delivery_id: int) -> None:
        webhooks.deliver(context(settings), delivery_id, partial(send_later, settings=settings))

    def renew() -> None:
        yield_cpu()
        renewal.renew(context(settings))

    schedule = renewal_schedule(settings)
    renewer = huey.periodic_task(schedule, name="renew")(renew) if schedule is not None else None
    return Queue(
        huey,
        huey.task(name="digitize")(digitize),
        large,
        large.task(name="digitize")(digitize),
        hooks,
        hooks.task(name="deliver")(deliver),
        renewer,
    )


def send_later(delivery_id: int, delay: float, *, settings: Settings | None = None) -> None:
    """Queue a webhook delivery to be sent in ``delay`` seconds (Huey keeps the schedule: its file
    or Redis)."""
    task = queue(settings or get_settings()).deliver
    if delay > 0:
        task.schedule(args=(delivery_id,), delay=delay)
    else:
        task(delivery_id)


@event.listens_for(Session, "after_commit")
def _send_new(session: Session) -> None:
    """Queue the webhook deliveries a transaction recorded, once it has committed. Only for the
    process's own catalog (its settings name the queue); one left out, or lost by a crash before
    this, is found by the worker's sweep."""
    new = outbox.take_new(session)
    if not new:
        return
    try:
        settings = get_settings()
        if session.get_bind() is not context(settings).sessions.kw["bind"]:
            return
        for delivery_id in new:
            send_later(delivery_id, 0, settings=settings)
    except Exception:  # the change is committed; the sweep sends it
        log.exception("webhook deliveries %s not queued now", new)


def enqueue(job_id: str, pages: int | None = None, *, settings: Settings | None = None) -> None:
    """Queue a job in its lane: a large one (more pages than SOHOA_LARGE_JOB_PAGES) apart."""
    settings = settings or get_settings()
    lanes_of = queue(settings)
    large = lanes.is_large(pages, settings.large_job_pages)
    (lanes_of.digitize_large if large else lanes_of.digitize)(job_id)


def recover(settings: Settings) -> int:
    """Put back in the queue what the catalog calls queued, and reap dead workers' jobs."""
    return lease.recover(context(settings), partial(enqueue, settings=settings))


WEBHOOK_THREADS = 2  # deliveries at once: a subscriber slow to answer does not hold up the others
STOP_SECONDS = 10  # how long a stopping worker waits for its jobs to put themselves back


class LaneConsumer(Consumer):
    """A consumer whose owner (the web server, or ``Workers``) handles the signals."""

    def _set_signal_handlers(self) -> None:
        pass


@dataclass
class Workers:
    """A worker's consumers (small lane, large lane) and its loops (reaper, anchorer)."""

    consumers: tuple[Consumer, ...]
    loops: tuple[threading.Event, ...]

    def stop(self) -> None:
        """Each job stops at its next page and goes back to the queue (lanes.STOPPING); then
        the consumers end. A restart of the server or of ``sohoa worker`` takes seconds, not
        the rest of a thousand-page job."""
        lanes.STOPPING.set()
        for loop in self.loops:
            loop.set()
        try:
            for consumer in self.consumers:
                consumer.stop(graceful=True)
        finally:
            lanes.STOPPING.clear()  # this process may start workers again (tests do)


def _consumers(settings: Settings) -> tuple[Consumer, Consumer, Consumer]:
    lanes_of = queue(settings)
    options = {"worker_type": "thread", "max_delay": 1.0, "shutdown_timeout": STOP_SECONDS}
    periodic = lanes_of.renew is not None  # the small lane's scheduler queues the daily renewal
    small = LaneConsumer(
        lanes_of.huey, workers=settings.worker_threads, initial_delay=0.1, periodic=periodic, **options
    )
    large = LaneConsumer(lanes_of.large, workers=1, initial_delay=0.1, periodic=False, **options)
    hooks = LaneConsumer(lanes_of.hooks, workers=WEBHOOK_THREADS, initial_delay=0.1, periodic=False, **options)
    return small, large, hooks


def _start_loops(settings: Settings) -> tuple[threading.Event, ...]:
    """What every worker runs beside its jobs: the reaper of dead workers' jobs, the audit log's
    anchorer and the sweep of webhook deliveries nobody queued."""
    ctx = context(settings)
    return (
        lease.start_reaper(ctx, partial(enqueue, settings=settings)),
        start_anchorer(ctx),
        webhooks.start_sweeper(ctx, partial(send_later, settings=settings)),
    )


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


def start_workers(settings: Settings | None = None) -> Workers:
    """The worker inside a server process (or a ``sohoa worker``): both lanes' consumers, the
    reaper and the anchorer, after putting back what the catalog says is queued."""
    settings = settings or get_settings()
    lanes.STOPPING.clear()
    recover(settings)
    consumers = _consumers(settings)
    for consumer in consumers:
        consumer.start()
    return Workers(consumers, _start_loops(settings))


def run_worker(settings: Settings | None = None) -> None:
    """A standalone worker process (``sohoa worker``): SIGTERM or SIGINT stops it within
    ``STOP_SECONDS``, its jobs put back for another worker."""
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    workers = start_workers(settings)
    stopped.wait()
    log.info("worker stopping: its jobs go back to the queue")
    workers.stop()

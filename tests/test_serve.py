"""`sohoa serve` with several server processes: one embedded worker among them, handed on when
its process dies; catalog writers of different processes take turns; jobs yield the CPU."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from conftest import cli_token, serve
from service import queue, scans
from service.context import context
from service.settings import get_settings
from storage.catalog import _WriterLock

STARTED = re.compile(r"embedded worker started in server process (\d+)")


def _worker_pids(log: Path) -> list[int]:
    return [int(m.group(1)) for m in STARTED.finditer(log.read_text(errors="replace"))]


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_for(predicate, seconds: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def _post_and_wait(base: str, token: str, code: str, scan: Path) -> dict:  # type: ignore[type-arg]
    auth = {"Authorization": f"Bearer {token}"}
    post = urllib.request.Request(
        f"{base}/api/v1/dossiers/{code}/scans",
        data=scan.read_bytes(),
        method="POST",
        headers={"Content-Type": "image/png", "X-Filename": scan.name, **auth},
    )
    [job] = json.loads(urllib.request.urlopen(post, timeout=30).read())["jobs"]

    def finished() -> dict | None:  # type: ignore[type-arg]
        poll = urllib.request.Request(f"{base}/api/v1/jobs/{job['id']}", headers=auth)
        status = json.loads(urllib.request.urlopen(poll, timeout=10).read())
        return status if status["status"] in ("done", "failed") else None

    return _wait_for(finished, 120)


def test_one_server_process_runs_the_worker_and_another_takes_it_over(tmp_path: Path, page_png: Path) -> None:
    env = {**os.environ, "SOHOA_DATA_DIR": str(tmp_path / "var"), "SOHOA_API_PROCESSES": "2", "SOHOA_OCR_JOBS": "1"}
    env["SOHOA_SCANNER_CREATES_DOSSIERS"] = "true"  # the station's scans make their dossiers
    scanner = cli_token(env, "Trạm quét", "scanner")
    log = tmp_path / "server.log"
    server, base = serve(env, stderr=log.open("wb"))
    try:
        [first] = _wait_for(lambda: _worker_pids(log))
        assert first in _children(server.pid)
        started = "Application startup complete."  # logged by each server process once its lifespan ran
        _wait_for(lambda: log.read_text(errors="replace").count(started) == 2)
        assert _worker_pids(log) == [first]  # both processes are up: still only one worker
        assert _post_and_wait(base, scanner, "000.00.12.H12-250601-0001", page_png)["status"] == "done"

        os.kill(first, signal.SIGKILL)  # the kernel lets go of its lock; uvicorn starts a new process
        pids = _wait_for(lambda: p if len(p := _worker_pids(log)) == 2 else None)
        assert pids[1] != first and pids[1] in _children(server.pid)
        done = _post_and_wait(base, scanner, "000.00.12.H12-250601-0002", page_png)
        assert done["status"] == "done" and done["progress"]["pages_done"] == 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_queue_entries_lost_from_the_queue_file_are_queued_again_from_the_catalog(
    data_dir: Path, page_png: Path
) -> None:
    """The SQLite queue does not fsync each commit: what a power cut takes from it, the catalog
    still holds as queued, and a worker starting up (recover) puts it back."""
    settings = get_settings()
    job, created = scans.accept_scan(context(), "000.00.12.H12-250601-0003", page_png, page_png.name)
    assert created
    queue.enqueue(job.id, settings=settings)
    huey = queue.queue(settings).huey
    assert huey.storage.conn.execute("pragma synchronous").fetchone() == (1,)  # NORMAL: no fsync per commit
    assert huey.pending_count() == 1
    huey.storage.flush_queue()  # the entry is lost
    assert queue.recover(settings) == 1
    assert [task.args for task in huey.pending()] == [(job.id,)]


def test_catalog_writers_in_two_processes_take_turns(tmp_path: Path) -> None:
    """Another process holding the catalog's writer lock makes this one wait until it lets go."""
    lock_file = tmp_path / "sohoa.db.writer"
    # The holder keeps the lock 1 s (the wait measured below), then lives on without it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path[:0] = sys.argv[1:2]\n"
            "from storage.catalog import _WriterLock\n"
            "from pathlib import Path\n"
            "lock = _WriterLock(Path(sys.argv[2])); lock.acquire(); print('held', flush=True)\n"
            "time.sleep(1.0); lock.release(); time.sleep(5)",
            str(Path(__file__).resolve().parent.parent),
            str(lock_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = _WriterLock(lock_file)
        t0 = time.monotonic()
        lock.acquire()
        waited = time.monotonic() - t0
        lock.release()
        assert 0.5 < waited < 4.0, waited  # it waited for the other process, and not for long after
        # Nested takes by one thread (two sessions) neither deadlock nor let go too early.
        lock.acquire()
        lock.acquire()
        lock.release()
        assert lock.depth == 1
        lock.release()
        assert lock.depth == 0
    finally:
        holder.kill()
        holder.wait()


def test_a_job_thread_and_the_page_threads_it_starts_yield_the_cpu() -> None:
    seen: dict[str, int] = {}

    def page_thread() -> None:
        seen["page"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def job_thread() -> None:
        queue.yield_cpu()
        seen["job"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        child = threading.Thread(target=page_thread)
        child.start()
        child.join()

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=job_thread)
    thread.start()
    thread.join()
    assert seen == {"job": queue.JOB_NICE, "page": queue.JOB_NICE}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the caller is untouched

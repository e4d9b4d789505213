"""A huge job neither starves the queue nor hangs a restart: pages counted at upload, large jobs
in a lane of their own that gives way to small ones, cancelling, and a worker that stops at the
next page on SIGTERM with its job put back for another, its pages never counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api
from conftest import SOHOA, _clear_caches
from pages import render_page
from service import access, scans
from service.context import context
from storage import Dossier, Job, Page

CODE, OTHER = "000.00.12.H12-250527-0001", "000.00.12.H12-250527-0002"
pytestmark = pytest.mark.slow  # OCR


def _pdf(path: Path, pages: int) -> Path:
    images = [render_page([f"TRANG SO {n}", "Đơn đề nghị cấp giấy phép"], dpi=100, mode="L") for n in range(pages)]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=100)
    return path


def _job(job_id: str) -> Job:
    with context().sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _until(check, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.1)


@pytest.fixture
def desk(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, TestClient]]:
    """The service with its embedded worker; large jobs from 4 pages on; a clerk and two stations."""
    monkeypatch.setenv("SOHOA_LARGE_JOB_PAGES", "3")
    monkeypatch.setenv("SOHOA_SCANNER_CREATES_DOSSIERS", "true")  # the stations' scans make their dossiers
    _clear_caches()
    with TestClient(api.app):
        clients = {}
        for name, role in (("Cán bộ An", "clerk"), ("Trạm quét 1", "scanner"), ("Trạm quét 2", "scanner")):
            _, token = access.issue(context().sessions, name, role)
            clients[name] = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
        yield clients


def _post(client: TestClient, code: str, path: Path) -> dict:  # type: ignore[type-arg]
    answer = client.post(f"/api/v1/dossiers/{code}/scans", files={"file": (path.name, path.read_bytes())})
    assert answer.status_code == 202, answer.text
    return answer.json()["jobs"][0]


def test_a_small_dossier_does_not_wait_behind_a_large_one(desk: dict[str, TestClient], tmp_path: Path) -> None:
    station = desk["Trạm quét 1"]
    large = _post(station, CODE, _pdf(tmp_path / "so-dia-chinh.pdf", 16))
    assert large["progress"]["pages_total"] == 16  # known at once, before any OCR
    _until(lambda: _job(large["id"]).pages_done >= 1)  # the large job is under way
    small = _post(station, OTHER, _pdf(tmp_path / "don.pdf", 2))
    _until(lambda: _job(small["id"]).status == "done")
    assert _job(large["id"]).status == "running"  # the small one went first
    _until(lambda: _job(large["id"]).status == "done", timeout=300)
    assert _job(large["id"]).pages_done == 16


def test_a_job_is_cancelled_queued_or_running(desk: dict[str, TestClient], tmp_path: Path) -> None:
    clerk, station, other = desk["Cán bộ An"], desk["Trạm quét 1"], desk["Trạm quét 2"]
    running = _post(station, CODE, _pdf(tmp_path / "dai.pdf", 30))
    _until(lambda: _job(running["id"]).pages_done >= 1)
    queued = _post(station, CODE, _pdf(tmp_path / "sau.pdf", 20))  # waits in the large lane behind it
    assert other.post(f"/api/v1/jobs/{running['id']}/cancel").status_code == 403  # another station's
    stopped = station.post(f"/api/v1/jobs/{running['id']}/cancel")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled", stopped.text
    assert "Trạm quét 1" in stopped.json()["error"]["vi"]
    assert clerk.post(f"/api/v1/jobs/{queued['id']}/cancel").json()["status"] == "cancelled"
    assert clerk.post(f"/api/v1/jobs/{queued['id']}/cancel").status_code == 409  # ended already
    assert clerk.post("/api/v1/jobs/khong-co/cancel").status_code == 404
    time.sleep(3)  # the running job stops at its next page, records nothing
    for job_id in (running["id"], queued["id"]):
        assert _job(job_id).status == "cancelled"
    with context().sessions() as session:
        assert session.query(Page).count() == 0
        dossier = session.get(Dossier, CODE)
        assert dossier is not None and dossier.status == "RECEIVED"  # back from DIGITIZING
    log = clerk.get(f"/api/v1/dossiers/{CODE}").json()["history"]
    assert [h["to"] for h in log][-1] == "RECEIVED"


def test_a_stopped_worker_puts_its_job_back(data_dir: Path, tmp_path: Path) -> None:
    """SIGTERM to `sohoa worker` in the middle of a job: it exits within seconds, the job is
    queued again with nothing recorded, and the next worker digitizes every page once."""
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir), "SOHOA_OCR_JOBS": "1"}
    ctx = context()
    job = scans.submit_scan(ctx, CODE, _pdf(tmp_path / "ho-so.pdf", 24), "ho-so.pdf", actor="trạm quét")
    worker = subprocess.Popen([SOHOA, "worker"], env=env, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _job(job.id).pages_done >= 2)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0  # not the rest of the job: seconds
    finally:
        worker.kill()
    stopped = _job(job.id)
    assert stopped.status == "queued" and stopped.attempts == 1 and stopped.pages_done == 0
    with ctx.sessions() as session:
        assert session.query(Page).count() == 0
    again = subprocess.Popen([SOHOA, "worker"], env=env, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: _job(job.id).status == "done", timeout=300)
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=20)
    with ctx.sessions() as session:
        assert session.query(Page).count() == 24 and _job(job.id).attempts == 2

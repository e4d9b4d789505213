"""Scale-out for real: the API and two `sohoa worker` processes on PostgreSQL, Redis and S3
(SeaweedFS) on loopback. 30 dossiers go in; one worker is killed with SIGKILL in the middle of
a job; every dossier still comes out digitized once, with nothing lost and nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import redis

from conftest import SOHOA, cli_token, serve
from service import scratch
from storage import Document, Job, Page, open_catalog, open_store
from storage.audit import audit

REDIS = "redis://127.0.0.1:6379/14"
DOSSIERS = 30


def _running_job(log: Path) -> str | None:
    """The job a worker is in the middle of, read from its JSON log."""
    current = None
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry["message"].startswith("job started"):
            current = entry["job"]
        elif entry["message"] == "job done":
            current = None
    return current


def test_two_workers_one_killed_all_dossiers_complete(pg_url: str, s3_url: str, page_png: Path, tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS).flushdb()
    env = {
        **os.environ,
        "SOHOA_DATA_DIR": str(tmp_path / "var"),  # the demo PKI and temporary files only
        "SOHOA_DATABASE_URL": pg_url,
        "SOHOA_QUEUE_URL": REDIS,
        "SOHOA_OBJECT_STORE_URL": s3_url,
        "SOHOA_EMBEDDED_WORKER": "false",
        "SOHOA_JOB_LEASE_SECONDS": "3",
        "SOHOA_OCR_JOBS": "1",
        "SOHOA_AUTO_AGENCY_SIGNATURE": "true",  # each job signs: a retried one must not sign twice
    }
    token = cli_token(env, "Trạm quét", "admin")
    processes: list[subprocess.Popen[str]] = []
    logs = [tmp_path / "api.log", tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    try:
        api_server, base = serve(env, stderr=logs[0].open("wb"))
        processes.append(api_server)
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        for log in logs[1:]:  # after the API's start-up, which made the demo PKI the workers sign with
            processes.append(subprocess.Popen([SOHOA, "worker"], env=env, stderr=log.open("wb"), text=True))

        codes = [f"000.00.12.H12-250527-{n:04d}" for n in range(1, DOSSIERS + 1)]
        data = page_png.read_bytes()
        for code in codes:
            r = client.post(f"/api/v1/dossiers/{code}/scans", files={"file": ("don.png", data)})
            assert r.status_code == 202, r.text

        killed = None  # SIGKILL worker 1 while it is in the middle of a job
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            killed = _running_job(logs[1])
            if killed is not None:
                processes[1].send_signal(signal.SIGKILL)
                processes[1].wait()
            time.sleep(0.05)
        assert killed is not None, "worker 1 never started a job"

        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            metrics = client.get("/metrics").text
            if f'sohoa_jobs_total{{status="done"}} {float(DOSSIERS)}' in metrics:
                break
            time.sleep(0.5)
        assert client.get(f"/api/v1/jobs/{killed}").json()["status"] == "done"
        # The killed worker's scratch folder (its job's page images) was swept by the other's reaper.
        left = [p.name for p in (tmp_path / "var" / "tmp").iterdir()]
        assert not [n for n in left if n.startswith(f"{scratch.HOST}-{processes[1].pid}-")], left
        hits = client.get("/api/v1/search", params={"q": "dang ky khai sinh", "limit": 100}).json()
        assert {h["dossier_code"] for h in hits["hits"]} == set(codes)
    finally:
        for p in processes:
            p.send_signal(signal.SIGTERM)
        for p in processes:
            p.wait(timeout=30)

    sessions = open_catalog(pg_url)
    with sessions() as s:
        jobs = s.query(Job).all()
        assert len(jobs) == DOSSIERS and all(j.status == "done" for j in jobs), [(j.status, j.error) for j in jobs]
        assert s.get(Job, killed).attempts == 2  # type: ignore[union-attr]
        for code in codes:  # one document, one page each: no duplicates from the retried job
            [document] = s.query(Document).filter_by(dossier_code=code).all()
            assert document.page_count == 1 and document.signed_key
            assert s.query(Page).filter_by(document_id=document.id).count() == 1
    report = audit(open_store(s3_url), sessions)
    assert report.ok and report.checked >= DOSSIERS * 4, report  # every original and result is in S3, intact
    sessions.kw["bind"].dispose()

"""The integrity audit finds missing, corrupt and orphan objects; a clean store passes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from service import scans
from service.context import context
from service.run import run_job
from storage import Document, Job
from storage.audit import audit
from storage.auditlog import verify_chain

SOHOA = str(Path(sys.executable).parent / "sohoa")


@pytest.fixture(autouse=True)
def signed_by_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each digitized copy signed by its job: the audit checks every version, the signed one too."""
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")


def test_audit_reports_what_was_lost_or_altered(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    job, _ = scans.accept_scan(ctx, "000.00.12.H12-250527-0001", page_png, page_png.name)
    run_job(ctx, job.id)
    clean = audit(ctx.store, ctx.sessions)
    assert clean.ok and clean.checked == 4 and clean.orphans == []  # original, PDF/A, signed, ALTO

    with ctx.sessions() as session:
        document = session.get(Document, 1)
        assert document is not None
        pdfa_key, signed_key = document.pdfa_key, document.signed_key
    root = data_dir / "objects"
    damaged = bytearray((root / pdfa_key).read_bytes())  # type: ignore[operator]
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte
    (root / pdfa_key).write_bytes(bytes(damaged))  # type: ignore[operator]
    (root / signed_key).unlink()  # type: ignore[operator]
    stray = root / "dossiers" / "000.00.12.H12-250527-0001" / "la.pdf"
    stray.write_bytes(b"%PDF-1.7 not ours")

    report = audit(ctx.store, ctx.sessions)
    assert not report.ok
    assert report.missing == [signed_key]
    assert [c["key"] for c in report.corrupt] == [pdfa_key]
    assert report.orphans == ["dossiers/000.00.12.H12-250527-0001/la.pdf"]

    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}
    out = subprocess.run([SOHOA, "audit", "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["missing"] == [signed_key]


def test_each_dossier_has_a_manifest_of_its_objects(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    code = "000.00.12.H12-250527-0002"
    job, _ = scans.accept_scan(ctx, code, page_png, page_png.name, actor="trạm quét 1")
    key = f"dossiers/{code}/manifest.json"
    assert not ctx.store.exists(key)  # written when the job ends, off the upload's answer

    run_job(ctx, job.id)
    with ctx.store.open(key) as f:
        manifest = json.load(f)
    assert manifest["dossier"]["code"] == code and manifest["dossier"]["status"] == "DIGITIZED"
    kinds = sorted(o["kind"] for o in manifest["objects"])
    assert kinds == ["alto", "original", "pdfa", "signed"]
    for item in manifest["objects"]:  # each entry's hash and size are the stored bytes'
        data = (data_dir / "objects" / item["key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["size"]
        assert item["created_at"].endswith("+07:00")  # the office's time zone
    assert manifest["documents"][0]["pages"] == 1
    assert [o["created_by"] for o in manifest["objects"] if o["kind"] == "original"] == ["trạm quét 1"]
    with ctx.sessions() as session:
        assert manifest["audit_head"]["hash"] == verify_chain(session).head
    assert audit(ctx.store, ctx.sessions).orphans == []  # the manifest is the service's own


def test_audit_detects_an_edited_audit_log(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    scans.accept_scan(ctx, "000.00.12.H12-250527-0003", page_png, page_png.name, actor="trạm quét 2")
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}
    out = subprocess.run([SOHOA, "audit"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "hash chain intact" in out.stdout, out.stdout + out.stderr
    with ctx.sessions.begin() as session:
        session.execute(text("DROP TRIGGER audit_events_no_update"))
        session.execute(text("UPDATE audit_events SET actor = 'ai đó' WHERE action = 'scan.accepted'"))
    out = subprocess.run([SOHOA, "audit"], capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "AUDIT LOG ALTERED at entry 2" in out.stdout, out.stdout


def test_a_failed_job_still_writes_the_manifest_of_its_original(data_dir: Path, page_png: Path, tmp_path: Path) -> None:
    ctx = context()
    code = "000.00.12.H12-250527-0003"
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(page_png.read_bytes()[:2000])
    job, _ = scans.accept_scan(ctx, code, truncated, truncated.name, actor="trạm quét 2")
    run_job(ctx, job.id)
    with ctx.sessions() as session:
        assert session.get(Job, job.id).status == "failed"  # type: ignore[union-attr]
    with ctx.store.open(f"dossiers/{code}/manifest.json") as f:
        manifest = json.load(f)
    assert [(o["kind"], o["created_by"]) for o in manifest["objects"]] == [("original", "trạm quét 2")]

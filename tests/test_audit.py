"""The integrity audit finds missing, corrupt and orphan objects; a clean store passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import service
from storage import Document
from storage.audit import audit

SOHOA = str(Path(sys.executable).parent / "sohoa")


def test_audit_reports_what_was_lost_or_altered(data_dir: Path, page_png: Path) -> None:
    ctx = service.context()
    job, _ = service.accept_scan(ctx, "000.00.12.H12-250527-0001", page_png, page_png.name)
    service.run_job(ctx, job.id)
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

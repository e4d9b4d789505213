"""Retention that binds: a dossier's retention code locks its originals, PDF/As, signed files,
ALTO and the packages kept (S3 object lock, COMPLIANCE; permanent: legal hold too), a changed
code only extends the locks, the filesystem store keeps objects read-only and the audit reports
one that is not, and the retention report lists the dossiers whose period ends within a window."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error

import api
from conftest import SOHOA, _clear_caches
from service import access, dossiers, packages, retention
from service.context import context
from service.run import run_job
from service.scans import accept_scan
from storage.audit import audit
from storage.s3 import S3Store

CODE = "000.00.12.H12-250527-0001"  # received 27 May 2025
KINDS = ("original", "pdfa", "signed", "alto", "package")


def _scan_and_digitize(page_png: Path, code: str = CODE, retention_code: str = "10") -> None:
    ctx = context()
    dossiers.create_dossier(ctx, code, {"title": "Cấp phép xây dựng", "retention": retention_code}, actor="Hà")
    job, _ = accept_scan(ctx, code, page_png, page_png.name)
    run_job(ctx, job.id)


def _keys(code: str = CODE) -> dict[str, str]:
    manifest = json.loads(b"".join(context().store.open(f"dossiers/{code}/manifest.json")))
    return {o["kind"]: o["key"] for o in manifest["objects"]}


@pytest.fixture
def on_s3(data_dir: Path, s3_url: str, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    monkeypatch.setenv("SOHOA_OBJECT_STORE_URL", s3_url)
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    store = context().store
    assert isinstance(store, S3Store)
    return store


@pytest.mark.slow  # OCR and SeaweedFS
def test_the_retention_code_locks_every_object_and_a_change_only_extends(
    on_s3: S3Store, page_png: Path, tmp_path: Path
) -> None:
    _scan_and_digitize(page_png, retention_code="10")
    package = tmp_path / "goi.zip"
    package.write_bytes(b"".join(packages.export(context(), CODE, actor="Lưu trữ Lan")))
    packages.keep(context(), CODE, package, actor="Lưu trữ Lan")  # `sohoa export --keep`: locked like the rest
    keys = _keys()
    assert set(KINDS) <= set(keys)
    ten_years = dt.datetime(2035, 5, 27, tzinfo=dt.UTC)
    for kind in KINDS:
        lock = on_s3.client.get_object_retention(on_s3.bucket, keys[kind])
        assert lock is not None and lock.mode == COMPLIANCE, kind
        # A signed file is locked for SOHOA_RETENTION_DAYS as it is stored; a lock only ever grows.
        assert lock.retain_until_date == ten_years or (kind == "signed" and lock.retain_until_date > ten_years)
    [version] = on_s3.versions(keys["original"])
    with pytest.raises(S3Error) as refused:  # nobody deletes an original before its period ends
        on_s3.client.remove_object(on_s3.bucket, keys["original"], version_id=version)
    assert refused.value.code == "AccessDenied"

    ctx = context()
    dossiers.update_dossier(ctx, CODE, {"retention": "30"}, actor="Lưu trữ Lan")
    assert {on_s3.retained_until(keys[k]) for k in KINDS} == {dt.datetime(2055, 5, 27, tzinfo=dt.UTC)}
    dossiers.update_dossier(ctx, CODE, {"retention": "10"}, actor="Lưu trữ Lan")  # shorter: the lock stays
    assert {on_s3.retained_until(keys[k]) for k in KINDS} == {dt.datetime(2055, 5, 27, tzinfo=dt.UTC)}

    dossiers.update_dossier(ctx, CODE, {"retention": "01"}, actor="Lưu trữ Lan")  # permanent
    for kind in KINDS:
        assert on_s3.retained_until(keys[kind]) == dt.datetime(2095, 5, 27, tzinfo=dt.UTC)  # the longest, 70 years
        assert on_s3.client.is_object_legal_hold_enabled(on_s3.bucket, keys[kind]), kind


@pytest.mark.slow  # OCR
def test_filesystem_objects_are_read_only_and_the_audit_reports_one_that_is_not(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, page_png: Path
) -> None:
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    _scan_and_digitize(page_png, retention_code="")  # without a code too: stored objects are read-only files
    ctx = context()
    paths = {kind: data_dir / "objects" / key for kind, key in _keys().items() if kind in KINDS}
    assert all(os.stat(p).st_mode & 0o222 == 0 for p in paths.values()), {
        k: oct(os.stat(p).st_mode) for k, p in paths.items()
    }
    assert audit(ctx.store, ctx.sessions).ok
    paths["pdfa"].chmod(0o644)
    report = audit(ctx.store, ctx.sessions)
    assert not report.ok and report.writable == [_keys()["pdfa"]]
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}
    cli = subprocess.run([SOHOA, "audit"], env=env, capture_output=True, text=True)
    assert cli.returncode == 1 and f"WRITABLE {_keys()['pdfa']}" in cli.stdout
    dossiers.update_dossier(ctx, CODE, {"retention": "20"}, actor="Lưu trữ Lan")  # binding makes it read-only again
    assert audit(ctx.store, ctx.sessions).ok


def _code(received: dt.date, n: int) -> str:
    return f"000.00.12.H12-{received:%y%m%d}-{n:04d}"


def test_the_retention_report_lists_what_ends_within_the_window(data_dir: Path) -> None:
    ctx = context()
    today = dt.datetime.now(dt.UTC).date()

    def received(years: int, days: int) -> dt.date:
        return today.replace(year=today.year - years, day=min(today.day, 28)) + dt.timedelta(days=days)

    cases = {  # code: (retention, received on)
        _code(received(10, -400), 1): ("10", "ended a year ago"),
        _code(received(10, 30), 2): ("10", "ends in a month"),
        _code(received(20, 200), 3): ("20", "ends in half a year"),
        _code(received(10, 30), 4): ("01", "permanent: never due"),
        _code(received(10, 30), 5): ("", "no code: never due"),
    }
    for code, (kept, title) in cases.items():
        dossiers.create_dossier(ctx, code, {"title": title, "retention": kept}, actor="Hà")
    report = retention.due(ctx, retention.parse_window("90d"))
    assert [(d.code, d.ended) for d in report.dossiers] == [
        (_code(received(10, -400), 1), True),
        (_code(received(10, 30), 2), False),
    ]
    assert report.within_days == 90
    assert [d.code for d in retention.due(ctx, retention.parse_window("1y")).dossiers][-1] == _code(
        received(20, 200), 3
    )

    _, token = access.issue(ctx.sessions, "Lưu trữ Lan", "archivist")
    client = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    answer = client.get("/api/v1/retention", params={"due_within": "90d"})
    assert answer.status_code == 200 and [d["code"] for d in answer.json()["dossiers"]] == [
        d.code for d in report.dossiers
    ]
    bad = client.get("/api/v1/retention", params={"due_within": "soon"})
    assert bad.status_code == 400 and bad.json()["field"] == "due_within"

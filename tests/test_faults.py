"""When the object store is down, requests fail with 503 and the catalog holds nothing half-written;
once it is back, the same upload goes through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api
from conftest import _clear_caches, free_port  # nothing listens on a free port
from service import access, dossiers, scans
from service.context import context
from service.run import run_job
from storage import AuditEvent, Document, Dossier, Job, Page
from storage.errors import NotSupported

CODE = "000.00.12.H12-250527-0001"


def _rows() -> dict[str, int]:
    with context().sessions() as s:
        return {m.__name__: s.query(m).count() for m in (Dossier, Document, Job, Page)}


@pytest.fixture
def dead_s3(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SOHOA_OBJECT_STORE_URL", f"s3://sohoa:bi-mat@127.0.0.1:{free_port()}/ho-so")
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")
    _clear_caches()
    _, token = access.issue(context().sessions, "Trạm quét", "admin")
    with TestClient(api.app, headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def test_upload_to_a_dead_s3_store_is_503_and_writes_nothing(dead_s3: TestClient, page_png: Path) -> None:
    r = dead_s3.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": (page_png.name, page_png.read_bytes())})
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:sohoa:error:storage-unavailable" and r.json()["detail_en"]
    assert _rows() == {"Dossier": 0, "Document": 0, "Job": 0, "Page": 0}
    ready = dead_s3.get("/readyz")
    assert ready.status_code == 503 and ready.json()["field"] == "storage"


@pytest.mark.slow  # OCR
def test_store_failing_during_a_job_records_nothing_and_a_retry_completes(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    job, _ = scans.accept_scan(ctx, CODE, page_png, page_png.name)
    # The disk under the dossier's results is blocked (a file where a folder must go).
    blocked = data_dir / "objects" / "dossiers" / CODE / "documents"
    blocked.write_text("không phải thư mục")
    run_job(ctx, job.id)
    with ctx.sessions() as s:
        failed = s.get(Job, job.id)
        assert failed is not None and failed.status == "failed"
        assert failed.error["code"] == "storage-unavailable"  # type: ignore[index]
        document = s.get(Document, job.document_id)
        assert document is not None and document.pdfa_key is None and document.signed_key is None
    assert _rows()["Page"] == 0
    blocked.unlink()
    retry, created = scans.accept_scan(ctx, CODE, page_png, page_png.name)  # posting again retries
    assert created and retry.document_id == job.document_id
    run_job(ctx, retry.id)
    with ctx.sessions() as s:
        assert s.get(Job, retry.id).status == "done"  # type: ignore[union-attr]
    assert _rows() == {"Dossier": 1, "Document": 1, "Job": 2, "Page": 1}


def test_legal_hold_on_a_dossier_in_s3(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, s3_url: str, page_png: Path
) -> None:
    from minio.error import S3Error

    monkeypatch.setenv("SOHOA_OBJECT_STORE_URL", s3_url)
    _clear_caches()
    ctx = context()
    job, _ = scans.accept_scan(ctx, CODE, page_png, page_png.name)
    assert job.status == "queued"
    held = dossiers.legal_hold(ctx, CODE, True, actor="lưu trữ viên", reason="Quyết định 12/QĐ")
    [key] = held.objects
    store = ctx.store
    assert store.client.is_object_legal_hold_enabled(store.bucket, key) is True  # type: ignore[attr-defined]
    version = store.versions(key)[0]
    with pytest.raises(S3Error):  # held: not even its owner can delete it
        store.client.remove_object(store.bucket, key, version_id=version)  # type: ignore[attr-defined]
    dossiers.legal_hold(ctx, CODE, False, actor="lưu trữ viên")
    assert store.client.is_object_legal_hold_enabled(store.bucket, key) is False  # type: ignore[attr-defined]
    with ctx.sessions() as s:
        actions = [e.action for e in s.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions[-2:] == ["legal_hold.set", "legal_hold.lifted"]


def test_legal_hold_needs_an_s3_store(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    scans.accept_scan(ctx, CODE, page_png, page_png.name)
    with pytest.raises(NotSupported) as e:
        dossiers.legal_hold(ctx, CODE, True, actor="lưu trữ viên")
    assert e.value.status == 501 and "S3" in e.value.en

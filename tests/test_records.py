"""Records that cannot change once closed, and a history that cannot be rewritten: a closed
dossier refuses every change but the archive's own; every metadata change keeps the old value;
the audit log is checked against heads kept outside the catalog and covers the tokens; reads
are in the log with their reader."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

import api
from conftest import SOHOA, _clear_caches
from service import access, dossiers
from service import audit as audit_log
from service.context import context
from service.run import run_job
from service.scans import accept_scan
from storage.audit import audit

CODE = "000.00.12.H12-250527-0001"


@pytest.fixture
def people(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, TestClient]]:
    # The records need a signed copy to read, not the signing order (test_signing_workflow).
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    ctx = context()
    clients = {}
    for name, role in (("Văn thư Hà", "clerk"), ("Lãnh đạo Minh", "leader"), ("Lưu trữ Lan", "archivist")):
        _, token = access.issue(ctx.sessions, name, role)
        clients[role] = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    yield clients


def _events(action: str | None = None) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    events = audit_log.audit_events(context(), limit=500).events
    return [(e.action, e.actor, e.detail or {}) for e in events if action is None or e.action == action]


@pytest.mark.slow  # runs OCR
@pytest.mark.parametrize("closing", [["REJECTED"], ["WITHDRAWN"], ["REJECTED", "ARCHIVED"]])
def test_a_closed_dossier_refuses_every_change_but_the_archive_s(
    people: dict[str, TestClient], page_png: Path, closing: list[str]
) -> None:
    ctx = context()
    job, _ = accept_scan(ctx, CODE, page_png, page_png.name)
    run_job(ctx, job.id)
    clerk, archivist = people["clerk"], people["archivist"]
    for status in closing:
        moved = clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": status, "reason": "Thiếu giấy tờ"})
        assert moved.status_code == 200, moved.text
    document = f"/api/v1/dossiers/{CODE}/documents/1"
    refused = {
        "scan": clerk.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": ("moi.png", page_png.read_bytes())}),
        "edit": clerk.patch(f"/api/v1/dossiers/{CODE}", json={"title": "Tiêu đề mới"}),
        "seal": clerk.post(f"{document}/signatures", json={}),
        "two-step": clerk.post(f"{document}/remote-signatures", json={"certificates": "x"}),
    }
    for what, answer in refused.items():
        assert answer.status_code == 409, (what, answer.text)
        assert answer.json()["type"] == "urn:sohoa:error:dossier-closed" and closing[-1] in answer.json()["detail_en"]
    assert dossiers.dossier_view(ctx, CODE).title == ""  # nothing changed
    # The archive's own operations still act on it: a legal hold (the filesystem store says it
    # cannot hold: refused for that reason, not because the dossier is closed), a read, a download.
    assert archivist.get(f"{document}/signed").status_code == 200
    hold = archivist.post(f"/api/v1/dossiers/{CODE}/legal-hold", json={"on": True})
    assert hold.json()["type"] != "urn:sohoa:error:dossier-closed"


@pytest.mark.slow  # runs OCR
def test_a_batch_routed_to_a_closed_dossier_records_nothing(people: dict[str, TestClient], tmp_path: Path) -> None:
    import numpy as np
    import zxingcpp
    from PIL import Image

    from pages import render_page
    from service.scans import get_job, submit_batch

    closed = "000.00.12.H12-250527-0002"
    clerk = people["clerk"]
    assert clerk.post("/api/v1/dossiers", json={"code": closed}).is_success
    assert clerk.post(f"/api/v1/dossiers/{closed}/transitions", json={"to": "WITHDRAWN", "reason": "Rút"}).is_success
    sheet = Image.new("L", (1654, 2339), 255)
    qr = zxingcpp.create_barcode(closed, zxingcpp.BarcodeFormat.QRCode).to_image(scale=10)
    sheet.paste(Image.fromarray(np.asarray(qr)), (500, 600))
    pages = [render_page(["HỒ SƠ MỞ"], dpi=200, mode="L"), sheet, render_page(["HỒ SƠ ĐÃ RÚT"], dpi=200, mode="L")]
    batch = tmp_path / "lo.pdf"
    pages[0].save(batch, save_all=True, append_images=pages[1:], resolution=200)
    ctx = context()
    job = submit_batch(ctx, batch, batch.name, default_code=CODE, actor="trạm quét")
    run_job(ctx, job.id)
    failed = get_job(ctx, job.id)
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "dossier-closed"
    assert closed in failed.error.vi
    assert dossiers.dossier_view(ctx, closed).documents == []
    with pytest.raises(Exception, match="No dossier"):
        dossiers.dossier_view(ctx, CODE)  # the open dossier's segment was not recorded either


def test_every_metadata_change_keeps_the_value_it_replaced(people: dict[str, TestClient]) -> None:
    clerk = people["clerk"]
    assert clerk.post("/api/v1/dossiers", json={"code": CODE, "title": "Đăng ký khai sinh"}).status_code == 201
    assert clerk.patch(f"/api/v1/dossiers/{CODE}", json={"title": "Đăng ký khai tử", "retention": "20"}).is_success
    [(_action, actor, detail)] = _events("dossier.updated")
    assert actor.startswith("Văn thư Hà #")
    assert detail["changes"] == {
        "title": {"old": "Đăng ký khai sinh", "new": "Đăng ký khai tử"},
        "retention": {"old": "", "new": "20"},
    }


@pytest.mark.slow  # runs OCR
def test_reads_downloads_searches_and_verifications_are_in_the_log(
    people: dict[str, TestClient], page_png: Path
) -> None:
    ctx = context()
    job, _ = accept_scan(ctx, CODE, page_png, page_png.name)
    run_job(ctx, job.id)
    archivist = people["archivist"]
    document = f"/api/v1/dossiers/{CODE}/documents/1"
    assert archivist.get(f"/api/v1/dossiers/{CODE}").is_success
    signed = archivist.get(f"{document}/signed")
    assert archivist.get("/api/v1/search", params={"q": "khai sinh"}).json()["total"] == 1
    assert archivist.get(f"{document}/verification").json()["ok"]
    assert archivist.post("/api/v1/verify", files={"file": ("ban-sao.pdf", signed.content)}).json()["ok"]
    logged = {action: (actor, detail) for action, actor, detail in _events()}
    for action in ("dossier.read", "document.downloaded", "search", "document.verified", "file.verified"):
        assert logged[action][0].startswith("Lưu trữ Lan #"), action
    assert logged["document.downloaded"][1]["kind"] == "signed"
    assert logged["search"][1]["query"] == "khai sinh" and logged["search"][1]["total"] == 1
    assert logged["file.verified"][1]["file"] == "ban-sao.pdf"


def _run_audit(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}
    return subprocess.run([SOHOA, "audit"], capture_output=True, text=True, env=env)


def _history(ctx_sessions: object, n: int) -> None:
    ctx = context()
    for i in range(n):
        access.issue(ctx.sessions, f"Trạm quét {i}", "scanner")


def _drop_append_only(session: object) -> None:
    """What an intruder with the database's password does first: drop the append-only triggers."""
    for trigger in ("audit_events_no_delete", "audit_events_no_update"):
        session.execute(text(f"DROP TRIGGER {trigger}"))  # type: ignore[attr-defined]


def test_a_cut_log_is_found_against_its_anchor(data_dir: Path) -> None:
    ctx = context()
    _history(ctx.sessions, 6)
    key = audit_log.anchor(ctx)
    assert key is not None and audit_log.anchor(ctx) is None  # the same head is anchored once
    assert _run_audit(data_dir).returncode == 0
    with ctx.sessions.begin() as session:  # the last three entries deleted, as an intruder would
        _drop_append_only(session)
        session.execute(text("DELETE FROM audit_events WHERE id > (SELECT MAX(id) - 3 FROM audit_events)"))
    report = audit(ctx.store, ctx.sessions)
    assert report.log is not None and report.log.ok  # the chain alone still looks whole
    assert not report.ok and any("the log was cut" in p for p in report.anchors), report.anchors
    out = _run_audit(data_dir)
    assert out.returncode == 1 and "NHẬT KÝ KHÁC MỐC NEO" in out.stdout


def test_a_log_recomputed_from_an_edited_row_is_found(data_dir: Path) -> None:
    from storage.auditlog import GENESIS, _hash_of
    from storage.catalog import AuditEvent

    ctx = context()
    _history(ctx.sessions, 4)
    audit_log.anchor(ctx)
    with ctx.sessions.begin() as session:  # a role rewritten, then every hash after it recomputed
        _drop_append_only(session)
        prev = GENESIS
        for event in session.query(AuditEvent).order_by(AuditEvent.id):
            if event.action == "token.issued" and event.detail["name"] == "Trạm quét 1":
                event.detail = {**event.detail, "role": "admin"}
            event.prev_hash, event.hash = prev, _hash_of(event, prev)
            prev = event.hash
    report = audit(ctx.store, ctx.sessions)
    assert report.log is not None and report.log.ok
    assert any("rewritten" in p for p in report.anchors), report.anchors


def test_a_token_changed_in_the_database_is_found(data_dir: Path) -> None:
    ctx = context()
    _history(ctx.sessions, 2)
    assert audit(ctx.store, ctx.sessions).ok
    with ctx.sessions.begin() as session:
        session.execute(text("UPDATE api_tokens SET role = 'admin' WHERE name = 'Trạm quét 1'"))
    report = audit(ctx.store, ctx.sessions)
    assert not report.ok and report.tokens == ["token 2: role is 'admin', the log says 'scanner'"]
    out = _run_audit(data_dir)
    assert out.returncode == 1 and "MÃ TRUY CẬP BỊ SỬA" in out.stdout

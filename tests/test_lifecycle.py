"""Dossiers through the API: created with their details, listed with filters, moved along the
lifecycle by the roles allowed to, every move recorded with actor, time and reason."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import api
from service import access, dossiers, scans
from service.context import context
from service.run import run_job

CODE = "000.00.12.H12-250527-0001"


@pytest.fixture
def as_role(service_on_each_catalog: str) -> Iterator[dict[str, TestClient]]:
    with TestClient(api.app):  # runs the app's lifespan (its worker) while the role clients talk to it
        clients = {}
        for role in access.ROLES:
            _, token = access.issue(context().sessions, f"Người thử {role}", role)
            clients[role] = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
        yield clients


def test_create_and_list_dossiers(as_role: dict[str, TestClient]) -> None:
    clerk = as_role["clerk"]
    details = {
        "code": CODE,
        "title": "Đăng ký khai sinh cho con",
        "procedure": "1.001193",
        "applicant": "Nguyễn Thị Hương",
        "retention": "01",
        "due_on": "2025-06-03",
    }
    r = clerk.post("/api/v1/dossiers", json=details)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "RECEIVED" and body["received_on"] == "2025-05-27" and body["agency"] == "000.00.12.H12"
    assert body["applicant"] == "Nguyễn Thị Hương" and body["next"] == ["IN_PROCESSING", "REJECTED", "WITHDRAWN"]
    assert clerk.post("/api/v1/dossiers", json=details).status_code == 409
    bad = clerk.post("/api/v1/dossiers", json={**details, "code": "../../etc/passwd"})
    assert bad.status_code == 422 and bad.json()["field"] == "code"
    assert clerk.post("/api/v1/dossiers", json={**details, "retention": "99"}).status_code == 422
    other = {**details, "code": "000.00.12.H12-250601-0002", "procedure": "1.004227"}
    assert clerk.post("/api/v1/dossiers", json=other).status_code == 201

    listed = clerk.get("/api/v1/dossiers").json()
    assert listed["total"] == 2 and [d["code"] for d in listed["dossiers"]] == [other["code"], CODE]
    assert clerk.get("/api/v1/dossiers", params={"procedure": "1.001193"}).json()["total"] == 1
    june = clerk.get("/api/v1/dossiers", params={"received_from": "2025-06-01"}).json()
    assert [d["code"] for d in june["dossiers"]] == [other["code"]]
    assert clerk.get("/api/v1/dossiers", params={"status": "ARCHIVED"}).json()["total"] == 0
    assert clerk.get("/api/v1/dossiers", params={"received_to": "ngày mai"}).status_code == 422

    changed = clerk.patch(f"/api/v1/dossiers/{CODE}", json={"title": "Khai sinh (bổ sung)"})
    assert changed.status_code == 200 and changed.json()["title"] == "Khai sinh (bổ sung)"
    assert changed.json()["applicant"] == "Nguyễn Thị Hương"  # untouched fields stay


def test_lifecycle_from_receipt_to_archive(as_role: dict[str, TestClient]) -> None:
    clerk, leader, archivist = as_role["clerk"], as_role["leader"], as_role["archivist"]
    assert clerk.post("/api/v1/dossiers", json={"code": CODE, "due_on": "2025-06-03"}).status_code == 201

    def move(client: TestClient, to: str, **extra: str) -> dict:
        r = client.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": to, **extra})
        assert r.status_code == 200, (to, r.text)
        return r.json()

    move(clerk, "IN_PROCESSING")
    r = clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "EXTENDED", "reason": "chờ xác minh"})
    assert r.status_code == 400 and r.json()["field"] == "due_on"
    assert move(clerk, "EXTENDED", reason="chờ xác minh", due_on="2025-06-10")["due_on"] == "2025-06-10"
    move(clerk, "PENDING_APPROVAL")
    refused = clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "APPROVED"})
    assert refused.status_code == 403 and "lãnh đạo" in refused.json()["detail_vi"]
    move(leader, "RETURNED_FOR_REWORK", reason="thiếu bản sao CCCD")
    move(clerk, "PENDING_APPROVAL")
    move(leader, "APPROVED")
    unsigned = leader.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "RESULT_SIGNED"})
    assert unsigned.status_code == 409 and "con dấu" in unsigned.json()["detail_vi"]
    _signed_result(CODE, kinds=("signer",))  # the signer's signature alone is not enough
    unsealed = leader.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "RESULT_SIGNED"})
    assert unsealed.status_code == 409
    _signed_result(CODE, kinds=("signer", "agency"))  # signing itself: tests/test_signing_workflow.py
    move(leader, "RESULT_SIGNED")
    move(clerk, "RETURNED")
    done = move(archivist, "ARCHIVED")
    assert done["status"] == "ARCHIVED" and done["next"] == []

    late = clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "IN_PROCESSING"})
    assert late.status_code == 409 and "ARCHIVED" in late.json()["detail_vi"]
    steps = done["history"]
    assert [(s["from"], s["to"]) for s in steps][:3] == [
        ("RECEIVED", "IN_PROCESSING"),
        ("IN_PROCESSING", "EXTENDED"),
        ("EXTENDED", "PENDING_APPROVAL"),
    ]
    rework = steps[3]
    assert rework["reason"] == "thiếu bản sao CCCD" and rework["actor"].startswith("Người thử leader #")
    assert rework["at"].endswith("+07:00")  # the office's time zone (SOHOA_TIMEZONE)
    assert len(steps) == 9

    log = archivist.get("/api/v1/audit-events", params={"dossier": CODE}).json()
    assert [e["action"] for e in log["events"]].count("dossier.transition") == 9
    everything = archivist.get("/api/v1/audit-events").json()["events"]
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(everything))
    assert len(everything[-1]["hash"]) == 64


def _signed_result(code: str, kinds: tuple[str, ...]) -> None:
    """A result document whose current version carries signatures of ``kinds`` (catalog rows)."""
    from storage import Document, Signature

    with context().sessions.begin() as s:
        sha = f"{len(kinds):064d}"
        document = Document(
            dossier_code=code,
            number=len(kinds),
            kind="result",
            original_name="quyet-dinh.pdf",
            original_key=f"k/{sha}",
            original_sha256=sha,
            original_size=1,
            pdfa_key=f"p/{sha}",
            pdfa_sha256=sha,
        )
        s.add(document)
        s.flush()
        for n, kind in enumerate(kinds):
            s.add(Signature(document_id=document.id, kind=kind, version=sha, field=f"Sig{n}", signer="X",
                            signed_at="", level="", object_key=f"s/{n}"))  # fmt: skip


def test_rejection_needs_a_reason(as_role: dict[str, TestClient]) -> None:
    clerk = as_role["clerk"]
    clerk.post("/api/v1/dossiers", json={"code": CODE})
    r = clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "REJECTED"})
    assert r.status_code == 400 and r.json()["field"] == "reason"
    r = clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "DIGITIZED"})
    assert r.status_code == 409  # set by the digitization jobs only
    assert clerk.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "NOPE"}).status_code == 422


@pytest.mark.slow  # OCR
def test_a_new_scan_does_not_move_a_dossier_back(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    dossiers.create_dossier(ctx, CODE, {}, actor="test")
    dossiers.transition(ctx, CODE, "IN_PROCESSING", actor="test")
    job, _ = scans.accept_scan(ctx, CODE, page_png, page_png.name)
    run_job(ctx, job.id)
    view = dossiers.dossier_view(ctx, CODE)
    assert view.status == "IN_PROCESSING" and view.documents[0].pages == 1


def test_numbers_past_the_catalogs_range_are_refused_cleanly(as_role: dict[str, TestClient]) -> None:
    archivist = as_role["archivist"]
    for path, query in (("/api/v1/dossiers", {}), ("/api/v1/audit-events", {}), ("/api/v1/search", {"q": "ho"})):
        r = archivist.get(path, params={**query, "offset": 2**63})  # found by schemathesis: was a 500
        assert r.status_code == 422 and r.json()["field"] == "offset", path
    huge = f"/api/v1/dossiers/{CODE}/documents/{2**63}/signed"
    r = archivist.get(huge)
    assert r.status_code == 422 and r.json()["field"] == "document_id"


@pytest.mark.slow  # runs OCR
def test_a_job_s_moves_are_in_the_history_with_the_job_and_the_station(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    job, _ = scans.accept_scan(ctx, CODE, page_png, page_png.name, actor="Trạm quét 3 #7")
    run_job(ctx, job.id)
    moves = [(h.from_, h.to, h.actor, h.model_extra) for h in dossiers.dossier_view(ctx, CODE).history]
    assert moves == [
        ("RECEIVED", "DIGITIZING", f"job:{job.id}", {"automatic": True, "station": "Trạm quét 3 #7"}),
        ("DIGITIZING", "DIGITIZED", f"job:{job.id}", {"automatic": True, "station": "Trạm quét 3 #7"}),
    ]
    assert all(h.at.endswith("+07:00") for h in dossiers.dossier_view(ctx, CODE).history)
    # A job that fails puts the dossier back, and says so.
    broken = data_dir / "hong.png"
    broken.write_bytes(page_png.read_bytes()[:2000])
    failed, _ = scans.accept_scan(ctx, "000.00.12.H12-250527-0002", broken, broken.name, actor="Trạm quét 3 #7")
    run_job(ctx, failed.id)
    back = dossiers.dossier_view(ctx, "000.00.12.H12-250527-0002").history[-1]
    assert (back.from_, back.to, back.reason) == ("DIGITIZING", "RECEIVED", "số hóa lỗi")

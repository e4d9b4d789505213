"""Dossiers fed by the one-stop software: idempotent PUT, a day's dossiers at once, statuses
reached along the lifecycle and recorded with their actor, results fetched back with its token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import api
from conftest import _clear_caches
from service import access, onestop
from service.context import context
from storage import lifecycle
from storage.catalog import AuditEvent, Dossier

CODE = "000.00.12.H12-250527-0001"
BODY = {
    "procedure_code": "1.001612",
    "procedure": "Đăng ky\u0301 khai sinh",  # decomposed: stored NFC
    "applicant": "Nguyễn Văn An",
    "due_on": "2025-05-30",
    "status": "RECEIVED",
}


@pytest.fixture
def client(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")  # answers, not OCR
    _clear_caches()
    with TestClient(api.app) as c:
        yield c


def _as(role: str, name: str = "Hệ thống một cửa tỉnh") -> dict[str, str]:
    return {"Authorization": f"Bearer {access.issue(context().sessions, name, role)[1]}"}


def _entries() -> int:
    with context().sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_put_creates_then_the_same_body_changes_nothing(client: TestClient) -> None:
    onestop_token = _as("onestop")
    first = client.put(f"/api/v1/dossiers/{CODE}", json=BODY, headers=onestop_token)
    assert first.status_code == 201, first.text
    assert first.json()["procedure"] == "Đăng ký khai sinh" and first.json()["procedure_code"] == "1.001612"
    assert first.json()["received_on"] == "2025-05-27" and first.json()["due_on"] == "2025-05-30"
    entries = _entries()
    again = client.put(f"/api/v1/dossiers/{CODE}", json=BODY, headers=onestop_token)
    assert again.status_code == 200 and again.json() == first.json()
    assert _entries() == entries  # nothing written the second time

    changed = client.put(f"/api/v1/dossiers/{CODE}", json={"applicant": "Nguyễn Văn Bình"}, headers=onestop_token)
    assert changed.status_code == 200 and changed.json()["applicant"] == "Nguyễn Văn Bình"
    assert changed.json()["procedure"] == "Đăng ký khai sinh"  # a field left out is left as it is
    with context().sessions() as s:
        update = s.scalars(select(AuditEvent).where(AuditEvent.action == "dossier.updated")).one()
    assert update.detail["changes"] == {"applicant": {"old": "Nguyễn Văn An", "new": "Nguyễn Văn Bình"}}
    assert update.actor.startswith("Hệ thống một cửa tỉnh #") and update.detail["source"] == "onestop"

    late_entry = client.put(f"/api/v1/dossiers/{CODE}", json={"received_on": "2025-05-26"}, headers=onestop_token)
    assert late_entry.json()["received_on"] == "2025-05-26"  # the one-stop system knows best
    kept = client.put(f"/api/v1/dossiers/{CODE}", json={"title": "Khai sinh"}, headers=onestop_token)
    assert kept.json()["received_on"] == "2025-05-26" and kept.json()["title"] == "Khai sinh"

    clerk = client.put(f"/api/v1/dossiers/{CODE}", json=BODY, headers=_as("clerk"))
    assert clerk.status_code == 403  # the integration's route


def test_statuses_follow_the_lifecycle_and_are_recorded(client: TestClient) -> None:
    onestop_token = _as("onestop")
    r = client.put(f"/api/v1/dossiers/{CODE}", json={**BODY, "status": "PENDING_APPROVAL"}, headers=onestop_token)
    assert r.status_code == 201, r.text
    moves = [(h["from"], h["to"], h.get("source")) for h in r.json()["history"]]
    assert moves == [("RECEIVED", "IN_PROCESSING", "onestop"), ("IN_PROCESSING", "PENDING_APPROVAL", "onestop")]
    assert all(h["actor"].startswith("Hệ thống một cửa tỉnh #") for h in r.json()["history"])

    no_reason = client.put(f"/api/v1/dossiers/{CODE}", json={"status": "REJECTED"}, headers=onestop_token)
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    unsigned = client.put(f"/api/v1/dossiers/{CODE}", json={"status": "RETURNED"}, headers=onestop_token)
    assert unsigned.status_code == 409 and unsigned.json()["field"] == "status"
    assert "chưa có kết quả" in unsigned.json()["detail_vi"]
    backwards = client.put(f"/api/v1/dossiers/{CODE}", json={"status": "RECEIVED"}, headers=onestop_token)
    assert backwards.status_code == 409 and "RECEIVED" in backwards.json()["detail_en"]
    assert client.get(f"/api/v1/dossiers/{CODE}", headers=onestop_token).json()["status"] == "PENDING_APPROVAL"

    later = {"status": "EXTENDED", "due_on": "2025-06-15", "reason": "Chờ xác minh"}
    client.put(
        f"/api/v1/dossiers/{CODE}", json={"status": "RETURNED_FOR_REWORK", "reason": "Sửa"}, headers=onestop_token
    )
    extended = client.put(f"/api/v1/dossiers/{CODE}", json=later, headers=onestop_token)
    assert extended.status_code == 200, extended.text
    assert extended.json()["status"] == "EXTENDED" and extended.json()["due_on"] == "2025-06-15"
    assert extended.json()["history"][-1]["due_on"] == "2025-06-15"
    assert client.put(f"/api/v1/dossiers/{CODE}", json=later, headers=onestop_token).status_code == 200


def test_a_days_dossiers_are_answered_one_by_one(client: TestClient) -> None:
    onestop_token = _as("onestop")
    day = {
        "dossiers": [
            {"code": "000.05.12.H12-250527-0001", **BODY},
            {"code": "000.05.12.H12-250527-0002", **BODY, "status": "IN_PROCESSING"},
            {"code": "000.05.12.H12-250532-0003", **BODY},  # 32 May
            {"code": "000.05.12.H12-250527-0004", **BODY, "status": "APPROVED"},  # needs a signed result first
        ]
    }
    first = client.put("/api/v1/dossiers", json=day, headers=onestop_token)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert [i["status"] for i in answer["results"]] == [201, 201, 422, 201]
    assert (answer["created"], answer["updated"], answer["refused"]) == (3, 0, 1)
    assert answer["results"][2]["error"]["field"] == "code" and "250532" in answer["results"][2]["error"]["detail_vi"]
    assert answer["results"][3]["dossier"]["status"] == "APPROVED"
    again = client.put("/api/v1/dossiers", json=day, headers=onestop_token).json()
    assert [i["status"] for i in again["results"]] == [200, 200, 422, 200]
    with context().sessions() as s:
        assert s.scalar(select(func.count()).select_from(Dossier)) == 3


def test_the_onestop_token_fetches_results_back(client: TestClient, page_png: Path) -> None:
    onestop_token = _as("onestop")
    assert client.put(f"/api/v1/dossiers/{CODE}", json=BODY, headers=onestop_token).status_code == 201
    with page_png.open("rb") as f:
        posted = client.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": (page_png.name, f)}, headers=_as("clerk"))
    assert posted.status_code == 202, posted.text
    dossier = client.get(f"/api/v1/dossiers/{CODE}", headers=onestop_token)
    assert dossier.status_code == 200
    original = client.get(dossier.json()["documents"][0]["downloads"]["original"], headers=onestop_token)
    assert original.status_code == 200 and original.content == page_png.read_bytes()
    signed = client.get(f"/api/v1/dossiers/{CODE}/documents/1/signed", headers=onestop_token)
    assert signed.status_code == 404  # not digitized yet (no worker here): nothing to hand back
    assert client.post(f"/api/v1/dossiers/{CODE}/scans", headers=onestop_token).status_code == 403
    assert client.get("/api/v1/search", params={"q": "x"}, headers=onestop_token).status_code == 403


def test_returned_day_is_kept_for_the_figures(data_dir: Path) -> None:
    ctx = context()
    onestop.put_dossier(ctx, CODE, {"due_on": dt.date(2025, 5, 30), "status": "IN_PROCESSING"}, actor="một cửa")
    with ctx.sessions.begin() as s:
        for step in ("PENDING_APPROVAL", "APPROVED", "RESULT_SIGNED"):
            lifecycle.move(s, CODE, step, actor="lãnh đạo")
        moved = lifecycle.move(s, CODE, "RETURNED", actor="một cửa", returned_on=dt.date(2025, 5, 29))
        assert moved.returned_on == dt.date(2025, 5, 29)
    with ctx.sessions() as s:
        assert lifecycle.history(s, CODE)[-1]["returned_on"] == "2025-05-29"


def test_path_to_avoids_invented_reasons() -> None:
    assert onestop.path_to("RECEIVED", "APPROVED") == ["IN_PROCESSING", "PENDING_APPROVAL", "APPROVED"]
    assert onestop.path_to("RECEIVED", "RETURNED")[-2:] == ["RESULT_SIGNED", "RETURNED"]
    assert "REJECTED" not in onestop.path_to("RECEIVED", "ARCHIVED")
    assert onestop.path_to("ARCHIVED", "RECEIVED") == [] and onestop.path_to("DIGITIZING", "IN_PROCESSING") == []

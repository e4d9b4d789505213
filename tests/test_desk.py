"""The desk sees what went wrong and fixes it (issue 16, item 5): each document's job status and
reason in the dossier view, a failed document replaced or removed before anyone signs it, a
dossier DIGITIZED only when every document is, documents numbered within their dossier, a
station's own jobs listed, no dossier made by a mistyped code, job errors without server
internals, quality notices on the document and the dossier."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from test_failures import BROKEN_TIFF, no_internals

import api
from conftest import _clear_caches
from pages import save_page
from service import access, scans, statistics
from service.context import Context, context
from service.run import run_job

CODE = "000.00.12.H12-250527-0001"
OTHER = "000.00.12.H12-250527-0002"


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (16, 16), shade).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def desk(service_on_each_catalog: str) -> Iterator[dict[str, TestClient]]:
    """A client per person at the desk; no worker runs: a test runs the jobs it wants run."""
    people = {"scanner": "Trạm quét 1", "scanner2": "Trạm quét 2", "clerk": "Cán bộ một cửa", "admin": "Quản trị"}
    clients = {}
    for key, name in people.items():
        _, token = access.issue(context().sessions, name, key.rstrip("2"))
        clients[key] = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    yield clients


def post(client: TestClient, code: str, name: str, data: bytes, url: str = "") -> dict:  # type: ignore[type-arg]
    r = client.post(url or f"/api/v1/dossiers/{code}/scans", files={"file": (name, data)})
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]  # type: ignore[no-any-return]


def test_documents_are_numbered_within_their_dossier(desk: dict[str, TestClient]) -> None:
    clerk = desk["clerk"]
    numbers = [post(clerk, code, name, png(shade))["document_id"] for code, name, shade in
               ((CODE, "a.png", 10), (OTHER, "b.png", 20), (CODE, "c.png", 30))]  # fmt: skip
    assert numbers == [1, 1, 2]
    assert [d["id"] for d in clerk.get(f"/api/v1/dossiers/{CODE}").json()["documents"]] == [1, 2]
    [b] = clerk.get(f"/api/v1/dossiers/{OTHER}").json()["documents"]
    assert (b["id"], b["file"]) == (1, "b.png")
    assert clerk.get(b["downloads"]["original"]).content == png(20)
    assert clerk.get(f"/api/v1/dossiers/{CODE}/documents/2/original").content == png(30)
    assert clerk.get(f"/api/v1/dossiers/{OTHER}/documents/2/original").status_code == 404


def test_a_scanner_cannot_create_a_dossier_by_mistyping_its_code(
    desk: dict[str, TestClient], monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    scanner, clerk = desk["scanner"], desk["clerk"]
    r = scanner.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": ("a.png", png(10))})
    assert r.status_code == 404 and r.json()["type"] == "urn:sohoa:error:dossier-unknown", r.text
    body = r.json()
    assert body["field"] == "code" and body["detail"] == body["detail_vi"]
    assert CODE in body["detail_vi"] and CODE in body["detail_en"] and "trạm quét" in body["detail_vi"]
    english = scanner.post(
        f"/api/v1/dossiers/{CODE}/scans", files={"file": ("a.png", png(10))}, headers={"Accept-Language": "en"}
    )
    assert english.json()["detail"].startswith(f"Dossier {CODE}")
    batch = scanner.post("/api/v1/batches", params={"code": CODE}, files={"file": ("lo.png", png(11))})
    assert batch.status_code == 404 and CODE in batch.json()["detail_vi"]
    assert clerk.get(f"/api/v1/dossiers/{CODE}").status_code == 404  # nothing made, nothing kept
    assert not (data_dir / "objects" / "dossiers").exists()
    assert not [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]

    assert clerk.post("/api/v1/dossiers", json={"code": CODE}).status_code == 201  # reception receives it
    assert post(scanner, CODE, "a.png", png(10))["document_id"] == 1
    assert post(clerk, OTHER, "b.png", png(20))["document_id"] == 1  # a clerk's scan creates it, as before
    monkeypatch.setenv("SOHOA_SCANNER_CREATES_DOSSIERS", "true")
    _clear_caches()
    assert post(scanner, "000.00.12.H12-250527-0003", "c.png", png(30))["created"]


def test_a_station_finds_its_jobs(desk: dict[str, TestClient], data_dir: Path) -> None:
    scanner, other, clerk = desk["scanner"], desk["scanner2"], desk["clerk"]
    clerk.post("/api/v1/dossiers", json={"code": CODE})
    before = dt.datetime.now(dt.UTC)
    mine = [post(scanner, CODE, f"{n}.png", png(n))["id"] for n in range(3)]
    theirs = post(other, CODE, "x.png", png(99))["id"]
    post(clerk, OTHER, "y.tif", BROKEN_TIFF)

    listed = scanner.get("/api/v1/jobs").json()
    assert listed["total"] == 3 and [j["id"] for j in listed["jobs"]] == mine[::-1]  # newest first
    assert {j["posted_by"] for j in listed["jobs"]} == {"Trạm quét 1 #1"}
    assert all(j["job_url"] == f"/api/v1/jobs/{j['id']}" for j in listed["jobs"])
    page = scanner.get("/api/v1/jobs", params={"limit": 2, "offset": 2}).json()
    assert (page["total"], page["limit"], page["offset"], [j["id"] for j in page["jobs"]]) == (3, 2, 2, mine[:1])
    assert scanner.get(f"/api/v1/jobs/{theirs}").status_code == 404  # another station's job is not shown
    assert other.get(f"/api/v1/jobs/{theirs}").status_code == 200

    everyone = clerk.get("/api/v1/jobs").json()
    assert everyone["total"] == 5
    assert clerk.get("/api/v1/jobs", params={"dossier": OTHER}).json()["total"] == 1
    [failing] = clerk.get("/api/v1/jobs", params={"dossier": OTHER}).json()["jobs"]
    run_job(context(), failing["id"])
    assert [j["id"] for j in clerk.get("/api/v1/jobs", params={"status": "failed"}).json()["jobs"]] == [failing["id"]]
    assert clerk.get("/api/v1/jobs", params={"status": "queued"}).json()["total"] == 4
    since = {"since": before.isoformat()}
    assert clerk.get("/api/v1/jobs", params=since).json()["total"] == 5
    later = {"since": (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()}
    assert clerk.get("/api/v1/jobs", params=later).json()["total"] == 0
    assert scanner.get("/api/v1/jobs", params={"status": "nope"}).status_code == 422


def test_a_failed_document_is_shown_then_replaced_or_removed(desk: dict[str, TestClient], data_dir: Path) -> None:
    clerk, scanner = desk["clerk"], desk["scanner"]
    job = post(clerk, CODE, "hong.tif", BROKEN_TIFF)
    run_job(context(), job["id"])
    dossier = clerk.get(f"/api/v1/dossiers/{CODE}").json()
    [document] = dossier["documents"]
    assert (document["id"], document["status"], document["job_id"]) == (1, "failed", job["id"])
    assert document["job_url"] == f"/api/v1/jobs/{job['id']}"
    error = document["error"]
    assert error["code"] == "corrupt-file" and "hong.tif" in error["vi"] and "hong.tif" in error["en"]
    shown = clerk.get(document["job_url"]).json()["error"]
    for text in (error["vi"], error["en"], shown["vi"], shown["en"]):
        no_internals(text, data_dir)
    assert dossier["status"] == "RECEIVED"

    # Replaced by a new scan: the same document, its new job queued; not removable while queued.
    replaced = post(clerk, CODE, "hong-lan-2.tif", BROKEN_TIFF + b"2", url=f"/api/v1/dossiers/{CODE}/documents/1/scans")
    assert replaced["document_id"] == 1 and replaced["status"] == "queued"
    [document] = clerk.get(f"/api/v1/dossiers/{CODE}").json()["documents"]
    assert (document["file"], document["status"], document["error"]) == ("hong-lan-2.tif", "queued", None)
    busy = clerk.delete(f"/api/v1/dossiers/{CODE}/documents/1")
    assert busy.status_code == 409 and busy.json()["type"] == "urn:sohoa:error:document-busy", busy.text
    run_job(context(), replaced["id"])

    # Removed, with the reason in the log; a scanner may not; the number is not given again.
    assert scanner.delete(f"/api/v1/dossiers/{CODE}/documents/1").status_code == 403
    removed = clerk.delete(f"/api/v1/dossiers/{CODE}/documents/1", params={"reason": "Quét nhầm hồ sơ"})
    assert removed.status_code == 200 and removed.json()["documents"] == [], removed.text
    assert clerk.get(f"/api/v1/dossiers/{CODE}/documents/1/original").status_code == 404
    assert clerk.delete(f"/api/v1/dossiers/{CODE}/documents/1").status_code == 404
    events = desk["admin"].get("/api/v1/audit-events", params={"dossier": CODE}).json()["events"]
    [(actor, detail)] = [(e["actor"], e["detail"]) for e in events if e["action"] == "document.removed"]
    assert actor == "Cán bộ một cửa #3" and detail["number"] == 1 and detail["reason"] == "Quét nhầm hồ sơ"
    [replacing] = [e["detail"] for e in events if e["action"] == "document.replaced"]
    assert (replacing["old"]["file"], replacing["new"]["file"]) == ("hong.tif", "hong-lan-2.tif")
    assert post(clerk, CODE, "moi.png", png(50))["document_id"] == 2


def test_a_cancelled_document_is_shown_and_can_be_removed(desk: dict[str, TestClient]) -> None:
    clerk = desk["clerk"]
    job = post(clerk, CODE, "nham.png", png(70))
    assert clerk.delete(f"/api/v1/dossiers/{CODE}/documents/1").status_code == 409  # its job waits
    assert clerk.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    [document] = clerk.get(f"/api/v1/dossiers/{CODE}").json()["documents"]
    assert (document["status"], document["error"]["code"]) == ("cancelled", "cancelled")
    removed = clerk.delete(f"/api/v1/dossiers/{CODE}/documents/1", params={"reason": "Quét nhầm"})
    assert removed.status_code == 200 and removed.json()["status"] == "RECEIVED"


def counts(ctx: Context) -> tuple[int, int, int]:
    """The dossier's components, digitized and sealed, as its row keeps them for the statistics
    (once checked against a count of its documents and seals)."""
    with ctx.sessions() as s:
        kept = statistics.kept(s)
        assert kept == statistics.recounted(s)
    return kept[CODE]


@pytest.mark.slow  # OCR
def test_a_dossier_is_digitized_once_every_document_is(
    desk: dict[str, TestClient], page_png: Path, tmp_path: Path, data_dir: Path
) -> None:
    from test_api import vouch_and_seal

    clerk, ctx = desk["clerk"], context()
    good = post(clerk, CODE, page_png.name, page_png.read_bytes())
    broken = post(clerk, CODE, "hong.tif", BROKEN_TIFF)
    run_job(ctx, good["id"])
    assert clerk.get(f"/api/v1/dossiers/{CODE}").json()["status"] == "DIGITIZING"  # one still waits
    run_job(ctx, broken["id"])
    dossier = clerk.get(f"/api/v1/dossiers/{CODE}").json()
    assert dossier["status"] == "RECEIVED"  # one failed: not digitized
    assert [d["status"] for d in dossier["documents"]] == ["done", "failed"]

    # The failed one scanned again, at 150 dpi: done, and the low resolution is said where the desk looks.
    low = save_page(tmp_path / "don-150dpi.png", dpi=150)
    again = post(clerk, CODE, low.name, low.read_bytes(), url=f"/api/v1/dossiers/{CODE}/documents/2/scans")
    run_job(ctx, again["id"])
    dossier = clerk.get(f"/api/v1/dossiers/{CODE}").json()
    assert dossier["status"] == "DIGITIZED"
    assert [d["status"] for d in dossier["documents"]] == ["done", "done"]
    assert "low-dpi" in [n["code"] for n in dossier["documents"][1]["notices"]]
    assert not [n for n in dossier["documents"][0]["notices"] if n["code"] == "low-dpi"]
    assert {(n["document"], n["code"]) for n in dossier["notices"]} >= {(2, "low-dpi")}
    assert all(n["document"] == 2 for n in dossier["notices"] if n["code"] == "low-dpi")

    # Once vouched for, a document is neither removed nor replaced.
    assert counts(ctx) == (2, 2, 0)
    vouch_and_seal(desk["admin"], CODE, 1, pages=1)
    assert counts(ctx) == (2, 2, 1)
    refused = clerk.delete(f"/api/v1/dossiers/{CODE}/documents/1")
    assert refused.status_code == 409 and refused.json()["type"] == "urn:sohoa:error:document-signed", refused.text
    r = clerk.post(f"/api/v1/dossiers/{CODE}/documents/1/scans", files={"file": ("x.png", png(5))})
    assert r.status_code == 409 and r.json()["type"] == "urn:sohoa:error:document-signed"
    # Removing the other one leaves a dossier whose every document is digitized.
    assert clerk.delete(f"/api/v1/dossiers/{CODE}/documents/2").status_code == 200
    assert clerk.get(f"/api/v1/dossiers/{CODE}").json()["status"] == "DIGITIZED"
    assert counts(ctx) == (1, 1, 1)
    assert scans.get_job(ctx, good["id"]).document_id == 1


@pytest.mark.slow  # OCR
def test_a_scanner_s_batch_goes_only_to_dossiers_received(desk: dict[str, TestClient], tmp_path: Path) -> None:
    import numpy as np
    import zxingcpp

    from pages import render_page

    scanner, clerk = desk["scanner"], desk["clerk"]
    sheet = Image.new("L", (1654, 2339), 255)  # a separator sheet naming a dossier nobody received
    sheet.paste(
        Image.fromarray(np.asarray(zxingcpp.create_barcode(OTHER, zxingcpp.BarcodeFormat.QRCode).to_image(scale=10))),
        (500, 600),
    )
    batch = tmp_path / "lo.pdf"
    sheet.save(batch, save_all=True, append_images=[render_page(["HỒ SƠ THỨ HAI"], dpi=200, mode="L")], resolution=200)
    job = scanner.post("/api/v1/batches", files={"file": ("lo.pdf", batch.read_bytes())}).json()
    run_job(context(), job["id"])
    failed = scanner.get(f"/api/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and failed["error"]["code"] == "dossier-unknown", failed
    assert OTHER in failed["error"]["vi"] and OTHER in failed["error"]["en"]
    assert clerk.get(f"/api/v1/dossiers/{OTHER}").status_code == 404

    assert clerk.post("/api/v1/dossiers", json={"code": OTHER}).status_code == 201
    again = scanner.post("/api/v1/batches", files={"file": ("lo.pdf", batch.read_bytes())}).json()
    run_job(context(), again["id"])
    assert scanner.get(f"/api/v1/jobs/{again['id']}").json()["status"] == "done"
    assert [d["id"] for d in clerk.get(f"/api/v1/dossiers/{OTHER}").json()["documents"]] == [1]

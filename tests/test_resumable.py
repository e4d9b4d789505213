"""Uploads in pieces (service.resumable): byte ranges at the server's offset, wrong offsets and
pieces past the end refused with the offset to resume from, digests of pieces and of the whole
file, the caller and the session's owner checked on every piece, completion through the scan
path (de-duplication, one job, the same job when asked again), abandoned sessions swept."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.requests import ClientDisconnect
from test_failures import BROKEN_TIFF

import api
from service import access, agencies, dossiers, resumable, scratch
from service import settings as settings_module
from service.agencies import AgencyFields
from service.context import context
from service.run import run_job
from storage.catalog import AuditEvent, Document, Job, UploadSession

CODE = "000.00.12.H12-250527-0001"


@pytest.fixture
def client(service_on_each_catalog: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The API on SQLite, then on PostgreSQL (the scaled setup's catalog, which every server process shares)."""
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")  # the jobs wait in the queue: no OCR here
    monkeypatch.setenv("SOHOA_MAX_UPLOAD_BYTES", str(4 << 20))
    settings_module.get_settings.cache_clear()
    with TestClient(api.app) as c:
        dossiers.create_dossier(context(), CODE, {}, actor="Cán bộ tiếp nhận")
        yield c


def _auth(role: str = "scanner", name: str = "Trạm quét 1") -> dict[str, str]:
    return {"Authorization": f"Bearer {access.issue(context().sessions, name, role)[1]}"}


def _digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def _open(client: TestClient, auth: dict[str, str], data: bytes, name: str = "don.png", **extra: object) -> str:
    body = {"code": CODE, "name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}
    r = client.post("/api/v1/uploads", json=body, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["offset"] == 0 and r.json()["state"] == "open"
    assert r.json()["upload_url"] == f"/api/v1/uploads/{r.json()['id']}"
    return str(r.json()["id"])


def _piece(client: TestClient, auth: dict[str, str], upload_id: str, offset: int, data: bytes, **headers: str):  # type: ignore[no-untyped-def]
    return client.patch(
        f"/api/v1/uploads/{upload_id}",
        content=data,
        headers={**auth, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream", **headers},
    )


def test_a_file_in_pieces_becomes_one_scan_and_its_job(client: TestClient, page_png: Path) -> None:
    data, auth = page_png.read_bytes(), _auth()
    upload_id, half = _open(client, auth, data), len(page_png.read_bytes()) // 2

    first = _piece(client, auth, upload_id, 0, data[:half], **{"Content-Digest": _digest(data[:half])})
    assert first.status_code == 200, first.text
    assert first.json()["offset"] == half and first.headers["Upload-Offset"] == str(half)
    for wrong in (0, half + 10):  # a piece sent again, a piece after a gap: 409 with where to go on
        r = _piece(client, auth, upload_id, wrong, data[wrong : wrong + 10])
        assert r.status_code == 409 and r.headers["Upload-Offset"] == str(half), r.text
        assert r.json()["field"] == "Upload-Offset" and f"{half:,}" in r.json()["detail_vi"]
    past = _piece(client, auth, upload_id, half, data[half:] + b"extra")
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}", past.text
    early = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth)
    assert early.status_code == 409 and early.headers["Upload-Offset"] == str(half)
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=auth).json()["offset"] == half

    assert _piece(client, auth, upload_id, half, data[half:]).json()["offset"] == len(data)
    done = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth)
    assert done.status_code == 202, done.text
    [job] = done.json()["jobs"]
    assert job["created"] and job["status"] == "queued" and job["dossier"] == CODE
    again = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth)  # the answer was lost: ask again
    assert again.status_code == 200 and again.json()["jobs"][0]["id"] == job["id"]
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=auth).json()["job_id"] == job["id"]

    second = _open(client, auth, data, name="lai-lan-nua.png")  # the same bytes in a new session
    _piece(client, auth, second, 0, data)
    repeated = client.post(f"/api/v1/uploads/{second}/complete", headers=auth)
    assert repeated.status_code == 200 and repeated.json()["jobs"][0]["id"] == job["id"]
    with context().sessions() as s:
        [document] = s.scalars(select(Document)).all()
        assert document.original_sha256 == hashlib.sha256(data).hexdigest() and document.original_name == "don.png"
        assert len(s.scalars(select(Job)).all()) == 1
    assert list(resumable.folder(context()).iterdir()) == []  # the store took the bytes


def test_digests_of_pieces_and_of_the_file_are_checked(client: TestClient, page_png: Path) -> None:
    data, auth = page_png.read_bytes(), _auth()
    upload_id = _open(client, auth, data)
    damaged = _piece(client, auth, upload_id, 0, data, **{"Content-Digest": _digest(data[:-1])})
    assert damaged.status_code == 422 and damaged.json()["field"] == "Content-Digest"
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=auth).json()["offset"] == 0  # nothing counted

    lying = client.post(
        "/api/v1/uploads",
        json={"code": CODE, "name": "khac.png", "size": len(data), "sha256": "0" * 64},
        headers=auth,
    ).json()["id"]
    assert _piece(client, auth, lying, 0, data).status_code == 200
    r = client.post(f"/api/v1/uploads/{lying}/complete", headers=auth)
    assert r.status_code == 422 and "SHA-256" in r.json()["detail_vi"], r.text
    assert client.get(f"/api/v1/uploads/{lying}", headers=auth).status_code == 404  # dropped: send it again
    with context().sessions() as s:
        assert s.scalars(select(Document)).all() == []


def test_every_piece_checks_the_caller_and_the_limits(client: TestClient, page_png: Path) -> None:
    data, auth = page_png.read_bytes(), _auth()
    upload_id = _open(client, auth, data)
    url = f"/api/v1/uploads/{upload_id}"
    other = _auth(name="Trạm quét 2")  # another station: not its session
    assert client.get(url, headers=other).status_code == 404
    assert _piece(client, other, upload_id, 0, data).status_code == 404
    assert client.post(f"{url}/complete", headers=other).status_code == 404
    assert _piece(client, {}, upload_id, 0, data).status_code == 401
    archivist = _auth("archivist", "Lưu trữ")
    assert _piece(client, archivist, upload_id, 0, data).status_code == 403
    assert _piece(client, _auth("admin", "Quản trị"), upload_id, 0, data[:10]).status_code == 200  # an admin may

    token_id = access.tokens(context().sessions)[0].id  # the station's token revoked half-way
    access.revoke(context().sessions, token_id)
    assert _piece(client, auth, upload_id, 10, data[10:]).status_code == 401

    auth = _auth()
    too_big = {"code": CODE, "name": "lon.tif", "size": (4 << 20) + 1, "sha256": "a" * 64}
    r = client.post("/api/v1/uploads", json=too_big, headers=auth)
    assert r.status_code == 413 and r.json()["field"] == "size"
    unknown = {"code": "000.00.12.H12-250527-0999", "name": "x.png", "size": 10, "sha256": "a" * 64}
    r = client.post("/api/v1/uploads", json=unknown, headers=auth)  # a station posts only to dossiers received
    assert r.status_code == 404 and "000.00.12.H12-250527-0999" in r.json()["detail_vi"]
    r = client.post("/api/v1/uploads", json={**unknown, "code": "sai-ma"}, headers=auth)
    assert r.status_code == 422 and r.json()["field"] == "code"


def test_a_piece_cut_short_counts_what_arrived_unless_it_had_a_digest(client: TestClient, page_png: Path) -> None:
    data, auth = page_png.read_bytes(), _auth()
    upload_id = _open(client, auth, data)
    ctx = context()
    who = access.authenticate(ctx.sessions, auth["Authorization"].split()[1])

    async def cut(after: bytes) -> AsyncIterator[bytes]:
        yield after
        raise ClientDisconnect()

    piece = resumable.begin_piece(ctx, upload_id, who, 0, len(data), None)
    assert asyncio.run(resumable.receive(ctx, piece, cut(data[:100]), who)).offset == 100
    piece = resumable.begin_piece(ctx, upload_id, who, 100, len(data) - 100, _digest(data[100:]))
    assert asyncio.run(resumable.receive(ctx, piece, cut(data[100:200]), who)).offset == 100
    assert resumable.get_session(ctx, upload_id, who).offset == 100


def test_abandoned_sessions_are_swept_with_their_bytes(client: TestClient, page_png: Path) -> None:
    data, auth = page_png.read_bytes(), _auth()
    old, fresh = _open(client, auth, data), _open(client, auth, data, name="moi.png")
    _piece(client, auth, old, 0, data[:50])
    stray = resumable.folder(context()) / "khong-co-phien"
    stray.write_bytes(b"x")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=25)
    with context().sessions.begin() as s:
        s.execute(update(UploadSession).where(UploadSession.id == old).values(updated_at=long_ago))
    import os

    os.utime(stray, (long_ago.timestamp(), long_ago.timestamp()))
    assert resumable.sweep(context()) == [old]
    assert sorted(p.name for p in resumable.folder(context()).iterdir()) == [fresh]
    assert client.get(f"/api/v1/uploads/{old}", headers=auth).status_code == 404
    assert client.get(f"/api/v1/uploads/{fresh}", headers=auth).status_code == 200


def test_a_completion_cut_short_by_its_process_dying_is_taken_over(client: TestClient, page_png: Path) -> None:
    data, auth = page_png.read_bytes(), _auth()
    upload_id = _open(client, auth, data)
    _piece(client, auth, upload_id, 0, data)
    url = f"/api/v1/uploads/{upload_id}/complete"

    def completing(by: str) -> None:
        with context().sessions.begin() as s:
            s.execute(
                update(UploadSession).where(UploadSession.id == upload_id).values(state="completing", completing_by=by)
            )

    completing(scratch.me())  # a live process is completing it: ask again later
    busy = client.post(url, headers=auth)
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "5", busy.text
    completing(f"{scratch.HOST}-999999999-1")  # that process was killed: its completion is taken over
    done = client.post(url, headers=auth)
    assert done.status_code == 202 and done.json()["jobs"][0]["created"], done.text


def test_a_caller_holds_a_bounded_number_of_open_sessions(
    client: TestClient, page_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resumable, "OPEN_PER_CALLER", 2)  # each session may hold SOHOA_MAX_UPLOAD_BYTES of disk
    data, auth = page_png.read_bytes(), _auth()
    first = _open(client, auth, data)
    _open(client, auth, data, name="hai.png")
    body = {"code": CODE, "name": "ba.png", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    refused = client.post("/api/v1/uploads", json=body, headers=auth)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60", refused.text
    assert client.post("/api/v1/uploads", json=body, headers=_auth(name="Trạm quét 2")).status_code == 201
    _piece(client, auth, first, 0, data)
    assert client.post(f"/api/v1/uploads/{first}/complete", headers=auth).status_code == 202
    assert client.post("/api/v1/uploads", json=body, headers=auth).status_code == 201  # a completed one is not held


# A new scan for a document, in pieces (``replaces``): what the one-request replace route does.
OTHER = "000.00.12.H12-250527-0002"


def _failed_document(client: TestClient, auth: dict[str, str], code: str, data: bytes) -> None:
    """Document 1 of ``code``, whose job failed (a scan that cannot be read)."""
    r = client.post(f"/api/v1/dossiers/{code}/scans", files={"file": ("hong.tif", data)}, headers=auth)
    assert r.status_code == 202, r.text
    run_job(context(), r.json()["jobs"][0]["id"])
    assert client.get(f"/api/v1/dossiers/{code}", headers=auth).json()["documents"][0]["status"] == "failed"


def _replace_in_pieces(client: TestClient, auth: dict[str, str], code: str, data: bytes, name: str):  # type: ignore[no-untyped-def]
    body = {"code": code, "name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "replaces": 1}
    opened = client.post("/api/v1/uploads", json=body, headers=auth)
    assert opened.status_code == 201 and opened.json()["replaces"] == 1, opened.text
    upload_id, half = opened.json()["id"], len(data) // 2
    assert _piece(client, auth, upload_id, 0, data[:half]).status_code == 200
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=auth).json()["replaces"] == 1  # after a reload too
    assert _piece(client, auth, upload_id, half, data[half:]).json()["offset"] == len(data)
    return upload_id, client.post(f"/api/v1/uploads/{upload_id}/complete", headers=auth)


def test_a_document_is_scanned_again_in_pieces_as_in_one_request(client: TestClient, page_png: Path) -> None:
    clerk = _auth("clerk", "Cán bộ một cửa")
    dossiers.create_dossier(context(), OTHER, {}, actor="Cán bộ tiếp nhận")
    for code in (CODE, OTHER):
        _failed_document(client, clerk, code, BROKEN_TIFF)
    data = page_png.read_bytes()

    upload_id, done = _replace_in_pieces(client, clerk, CODE, data, "don-quet-lai.png")
    one = client.post(f"/api/v1/dossiers/{OTHER}/documents/1/scans", files={"file": ("don-quet-lai.png", data)},
                      headers=clerk)  # fmt: skip
    assert done.status_code == one.status_code == 202, done.text
    [in_pieces], [at_once] = done.json()["jobs"], one.json()["jobs"]
    different = {"id", "dossier", "created_at", "job_url"}
    assert {k: v for k, v in in_pieces.items() if k not in different} == {
        k: v for k, v in at_once.items() if k not in different
    }
    assert (in_pieces["document_id"], in_pieces["status"], in_pieces["created"]) == (1, "queued", True)
    again = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=clerk)  # the answer was lost: the same job
    assert again.status_code == 200 and again.json()["jobs"][0]["id"] == in_pieces["id"], again.text

    def kept(code: str) -> tuple[object, ...]:
        with context().sessions() as s:
            [document] = s.scalars(select(Document).where(Document.dossier_code == code)).all()
            [job] = s.scalars(select(Job).where(Job.document_id == document.id, Job.status == "queued")).all()
            [event] = s.scalars(
                select(AuditEvent).where(AuditEvent.action == "document.replaced", AuditEvent.dossier_code == code)
            ).all()
            detail = {k: v for k, v in (event.detail or {}).items() if k != "document"}  # the catalog's row id
            return document.number, document.original_name, document.original_sha256, job.options, event.actor, detail

    assert kept(CODE) == kept(OTHER)
    clerk_id = access.tokens(context().sessions)[0].id
    assert kept(CODE)[4] == f"Cán bộ một cửa #{clerk_id}" and kept(CODE)[2] == hashlib.sha256(data).hexdigest()
    assert list(resumable.folder(context()).iterdir()) == []


def test_a_new_scan_in_pieces_is_checked_when_its_session_opens(client: TestClient, page_png: Path) -> None:
    clerk, data = _auth("clerk", "Cán bộ một cửa"), page_png.read_bytes()
    dossiers.create_dossier(context(), OTHER, {}, actor="Cán bộ tiếp nhận")
    _failed_document(client, clerk, CODE, BROKEN_TIFF)
    _failed_document(client, clerk, OTHER, BROKEN_TIFF + b"2")
    client.post(f"/api/v1/dossiers/{OTHER}/scans", files={"file": ("hai.png", data)}, headers=clerk)  # OTHER's 2
    agencies.add(context(), "000.00.34.H12", AgencyFields(name="UBND huyện khác"), actor="t")
    elsewhere = _auth("clerk", "Cán bộ huyện khác")
    agencies.assign(context(), access.tokens(context().sessions)[-1].id, ["000.00.34.H12"], actor="t")

    def both(auth: dict[str, str], code: str, number: int, **extra: object) -> tuple[dict, dict]:  # type: ignore[type-arg]
        body = {"code": code, "name": "x.png", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        opened = client.post("/api/v1/uploads", json={**body, "replaces": number, **extra}, headers=auth)
        url = f"/api/v1/dossiers/{code}/documents/{number}/scans"
        at_once = client.post(url, files={"file": ("x.png", data)}, headers=auth)
        assert opened.status_code == at_once.status_code, (opened.text, at_once.text)
        return opened.json(), at_once.json()

    for who, code, number in ((clerk, CODE, 9), (clerk, CODE, 2), (elsewhere, CODE, 1)):  # none, OTHER's, not seen
        opened, at_once = both(who, code, number)
        assert opened["status"] == 404 and opened["field"] == at_once["field"], (opened, at_once)
        assert opened["detail_vi"] == at_once["detail_vi"] and code in opened["detail_vi"]
    opened, at_once = both(_auth("archivist", "Lưu trữ"), CODE, 1)  # a role that may not upload
    assert opened["status"] == 403
    batch = {"code": CODE, "name": "lo.pdf", "size": 10, "sha256": "a" * 64, "replaces": 1, "kind": "batch"}
    refused = client.post("/api/v1/uploads", json=batch, headers=clerk)
    assert refused.status_code == 400 and refused.json()["field"] == "kind", refused.text

    # Bytes that are another document of the dossier already (its 2): refused at completion, as at once.
    body = {"code": OTHER, "name": "trung.png", "size": len(data), "replaces": 1}
    upload_id = client.post(
        "/api/v1/uploads", json={**body, "sha256": hashlib.sha256(data).hexdigest()}, headers=clerk
    ).json()["id"]
    _piece(client, clerk, upload_id, 0, data)
    refused = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=clerk)
    at_once = client.post(f"/api/v1/dossiers/{OTHER}/documents/1/scans", files={"file": ("trung.png", data)},
                          headers=clerk)  # fmt: skip
    assert refused.status_code == at_once.status_code == 409, refused.text
    assert refused.json()["type"] == at_once.json()["type"] == "urn:sohoa:error:duplicate-scan"
    assert client.get(f"/api/v1/uploads/{upload_id}", headers=clerk).json()["state"] == "open"  # its bytes stay

"""Upload bodies: several files per request, raw streamed bodies, checksums, limits; nothing
is stored from a refused upload."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

import api
from conftest import _clear_caches
from service import access, scans
from service.context import context
from service.limits import TooManyPages
from service.run import run_job
from storage import Document, Dossier, Job, dossier_prefix

CODE = "000.00.12.H12-250527-0001"


@pytest.fixture
def client(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")  # acceptance only: no OCR here
    monkeypatch.setenv("SOHOA_MAX_UPLOAD_BYTES", "3000000")
    _clear_caches()
    _, token = access.issue(context().sessions, "Cán bộ một cửa 3", "clerk")  # a clerk's scan creates the dossier
    with TestClient(api.app, headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def nothing_stored(data_dir: Path) -> bool:
    with context().sessions() as s:
        no_rows = s.get(Dossier, CODE) is None
    return no_rows and not list((data_dir / "objects").rglob("*.*")) and not files_in(data_dir / "tmp")


def test_several_files_in_one_request(client: TestClient, page_png: Path, page_jpeg: Path, data_dir: Path) -> None:
    files = [("file", ("trang-1.png", page_png.read_bytes())), ("file", ("trang-2.jpg", page_jpeg.read_bytes()))]
    r = client.post(f"/api/v1/dossiers/{CODE}/scans", files=files)
    assert r.status_code == 202, r.text
    jobs = r.json()["jobs"]
    assert len(jobs) == 2 and len({j["document_id"] for j in jobs}) == 2 and all(j["created"] for j in jobs)
    again = client.post(f"/api/v1/dossiers/{CODE}/scans", files=files[:1])
    assert again.status_code == 200 and again.json()["jobs"][0]["id"] == jobs[0]["id"]  # idempotent
    assert not files_in(data_dir / "tmp")  # the second copy, not taken into the store, is gone


def test_raw_body_with_its_checksum(client: TestClient, page_jpeg: Path, data_dir: Path) -> None:
    data = page_jpeg.read_bytes()
    name = "Giấy khai sinh.jpg"
    headers = {"Content-Type": "image/jpeg", "X-Filename": quote(name), "Content-Digest": digest(data)}
    r = client.post(f"/api/v1/dossiers/{CODE}/scans", content=data, headers=headers)
    assert r.status_code == 202, r.text
    with context().sessions() as s:
        [document] = s.get(Dossier, CODE).documents  # type: ignore[union-attr]
        assert document.original_name == name and document.original_sha256 == hashlib.sha256(data).hexdigest()
    assert (data_dir / "objects" / document.original_key).read_bytes() == data


def test_a_damaged_upload_is_refused_and_nothing_is_kept(client: TestClient, page_jpeg: Path, data_dir: Path) -> None:
    data = page_jpeg.read_bytes()
    damaged = data[:-1] + b"\x00"
    r = client.post(
        f"/api/v1/dossiers/{CODE}/scans",
        content=damaged,
        headers={"Content-Type": "image/jpeg", "X-Filename": "a.jpg", "Content-Digest": digest(data)},
    )
    assert r.status_code == 422 and r.json()["type"] == "urn:sohoa:error:checksum-mismatch"
    assert "a.jpg" in r.json()["detail_vi"] and r.json()["field"] == "Content-Digest"
    # On a multipart part too, and a good file in the same request is not kept either.
    r = client.post(
        f"/api/v1/dossiers/{CODE}/scans",
        files=[
            ("file", ("tot.jpg", data, "image/jpeg")),
            ("file", ("hong.jpg", damaged, "image/jpeg", {"Content-Digest": digest(data)})),
        ],
    )
    assert r.status_code == 422 and "hong.jpg" in r.json()["detail_vi"]
    bad = client.post(
        f"/api/v1/dossiers/{CODE}/scans",
        content=data,
        headers={"Content-Type": "image/jpeg", "Content-Digest": "md5=:abc:"},
    )
    assert bad.status_code == 400 and bad.json()["field"] == "Content-Digest"
    assert nothing_stored(data_dir)


def test_limits_and_types_are_enforced(client: TestClient, data_dir: Path) -> None:
    big = b"%PDF-1.7\n" + b"0" * 3_000_000
    raw = client.post(f"/api/v1/dossiers/{CODE}/scans", content=big, headers={"Content-Type": "application/pdf"})
    assert raw.status_code == 413 and raw.json()["field"] == "file"
    multi = client.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": ("lon.pdf", big)})
    assert multi.status_code == 413
    text = client.post(f"/api/v1/dossiers/{CODE}/scans", content=b"hello", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415 and text.json()["field"] == "Content-Type"
    empty = client.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": ("rong.png", b"")})
    assert empty.status_code == 400 and "rong.png" in empty.json()["detail_vi"]
    none = client.post(f"/api/v1/dossiers/{CODE}/scans", files={"other": ("x.png", b"x")})
    assert none.status_code == 400 and none.json()["field"] == "file"
    assert nothing_stored(data_dir)


@pytest.mark.slow  # the embedded worker OCRs the accepted scan meanwhile
def test_downloads_resume_with_http_range(data_dir: Path, page_jpeg: Path) -> None:
    _, token = access.issue(context().sessions, "Lưu trữ viên", "archivist")
    data = page_jpeg.read_bytes()
    scans.accept_scan(context(), CODE, page_jpeg, page_jpeg.name)
    url = f"/api/v1/dossiers/{CODE}/documents/1/original"
    with TestClient(api.app, headers={"Authorization": f"Bearer {token}"}) as client:
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
        etag = whole.headers["etag"]
        assert etag == f'"{hashlib.sha256(data).hexdigest()}"'
        n = len(data)
        for header, first, last in (
            ("bytes=0-99", 0, 99),
            ("bytes=1000-", 1000, n - 1),
            ("bytes=-500", n - 500, n - 1),
            (f"bytes=100-{n + 50}", 100, n - 1),
        ):
            part = client.get(url, headers={"Range": header})
            assert part.status_code == 206 and part.content == data[first : last + 1], header
            assert part.headers["content-range"] == f"bytes {first}-{last}/{n}"
        refused = client.get(url, headers={"Range": f"bytes={len(data)}-"})
        assert refused.status_code == 416 and refused.json()["field"] == "Range"
        stale = client.get(url, headers={"Range": "bytes=0-99", "If-Range": '"another-version"'})
        assert stale.status_code == 200 and stale.content == data
        current = client.get(url, headers={"Range": "bytes=0-99", "If-Range": etag})
        assert current.status_code == 206
        several = client.get(url, headers={"Range": "bytes=0-1,5-6"})
        assert several.status_code == 200 and several.content == data


@pytest.mark.slow  # OCR
def test_page_limit_per_dossier_refuses_a_scan_before_any_ocr(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pages import render_page

    monkeypatch.setenv("SOHOA_MAX_PAGES_PER_DOSSIER", "3")
    _clear_caches()
    ctx = context()
    pages = [render_page([f"TRANG {n}", "Đơn đề nghị"], dpi=100, mode="L") for n in range(1, 4)]
    two, three = tmp_path / "hai-trang.pdf", tmp_path / "ba-trang.pdf"
    pages[0].save(two, save_all=True, append_images=pages[1:2], resolution=100)
    pages[0].save(three, save_all=True, append_images=pages[1:], resolution=100)
    first, _ = scans.accept_scan(ctx, CODE, two, two.name)
    assert first.pages_total == 2  # counted at upload, before any OCR
    second, _ = scans.accept_scan(ctx, CODE, three, three.name)  # both fit while neither is digitized
    run_job(ctx, first.id)
    run_job(ctx, second.id)  # now it does not: refused at its start, before any OCR
    with ctx.sessions() as s:
        jobs = {j.id: j for j in s.query(Job)}
        assert jobs[first.id].status == "done"
        failed = jobs[second.id]
        assert failed.status == "failed" and failed.error["code"] == "too-many-pages"  # type: ignore[index]
        assert failed.error["field"] == "ba-trang.pdf" and "3 trang" in failed.error["vi"]  # type: ignore[index]
        assert failed.pages_done == 0  # not a page read
        assert sum(d.page_count for d in s.get(Dossier, CODE).documents) == 2  # type: ignore[union-attr]
    # Posted once the dossier is full, a file is refused at once, by name, and nothing is stored.
    four = tmp_path / "bon-trang.pdf"
    pages[0].save(four, save_all=True, append_images=pages[1:2], resolution=100)
    with pytest.raises(TooManyPages) as e:
        scans.accept_scan(ctx, CODE, four, four.name)
    assert e.value.status == 413 and e.value.field == "bon-trang.pdf"
    assert len(list(ctx.store.list(f"{dossier_prefix(CODE)}/originals/"))) == 2


def test_multipart_is_parsed_as_it_streams(client: TestClient, page_jpeg: Path, data_dir: Path) -> None:
    """Vietnamese file names in UTF-8, other form fields skipped, a broken body refused by name."""
    data = page_jpeg.read_bytes()
    boundary = "ranh-gioi-123"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="ghi_chu"\r\n\r\nbỏ qua\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="Tờ khai.jpg"\r\n'
        f"Content-Type: image/jpeg\r\nContent-Digest: {digest(data)}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    r = client.post(f"/api/v1/dossiers/{CODE}/scans", content=body, headers=headers)
    assert r.status_code == 202, r.text
    [job] = r.json()["jobs"]
    with context().sessions() as s:
        document = s.get(Document, job["document_id"])
        assert document is not None and document.original_name == "Tờ khai.jpg"
        assert document.original_sha256 == hashlib.sha256(data).hexdigest()

    broken = head + data[:1000]  # the body ends inside the file part
    other = CODE.replace("0001", "0002")
    r = client.post(f"/api/v1/dossiers/{other}/scans", content=broken, headers=headers)
    assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json", r.text
    r = client.post(f"/api/v1/dossiers/{other}/scans", content=body, headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 415 and "boundary" in r.json()["detail"]
    with context().sessions() as s:
        assert s.get(Dossier, other) is None
    assert not files_in(data_dir / "tmp")


def test_a_multipart_body_cut_before_its_closing_boundary_stores_nothing(
    client: TestClient, page_png: Path, page_jpeg: Path, data_dir: Path
) -> None:
    """Two whole parts and no closing boundary: the request is refused whole (it was accepted
    with the parts it had, and the client never knew one was missing)."""
    boundary = "ranh-gioi-456"

    def parts(*files: tuple[str, Path]) -> bytes:
        return b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode()
            + path.read_bytes()
            + b"\r\n"
            for name, path in files
        )

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    two, one = parts(("trang-1.png", page_png), ("trang-2.jpg", page_jpeg)), parts(("ban-sao.pdf", page_png))
    for path, body in ((f"/api/v1/dossiers/{CODE}/scans", two), ("/api/v1/verify", one)):
        for cut in (body, body + f"--{boundary}\r\n".encode(), body[:-2]):
            r = client.post(path, content=cut, headers=headers)
            assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", r.text
            assert r.json()["field"] == "file" and "boundary" in r.json()["detail_en"], r.text
    assert nothing_stored(data_dir)


def _as(role: str) -> TestClient:
    _, token = access.issue(context().sessions, f"Thử {role}", role)
    return TestClient(api.app, headers={"Authorization": f"Bearer {token}"})


def test_a_json_body_is_read_only_once_the_caller_may_send_it(client: TestClient) -> None:
    """Malformed JSON from no one is 401, from a role that may not call the route 403; only a
    caller who may is told the JSON is wrong (it was 422 for anyone, before the token)."""
    broken = {"content": b'{"code": ', "headers": {"Content-Type": "application/json"}}
    anonymous = TestClient(api.app).post("/api/v1/dossiers", **broken)  # type: ignore[arg-type]
    assert anonymous.status_code == 401 and anonymous.json()["field"] == "Authorization"
    scanner = _as("scanner").post("/api/v1/dossiers", **broken)  # type: ignore[arg-type]
    assert scanner.status_code == 403 and scanner.json()["field"] == "role"
    clerk = client.post("/api/v1/dossiers", **broken)  # type: ignore[arg-type]
    assert clerk.status_code == 422 and clerk.json()["type"] == "urn:sohoa:error:invalid-request"


def test_limits_hold_while_a_body_streams_without_its_length(client: TestClient, data_dir: Path) -> None:
    """Chunked bodies (no Content-Length) are cut off at the limit: a JSON body at 1 MiB, a file
    to verify at SOHOA_MAX_UPLOAD_BYTES; nothing of them is kept."""

    def chunked(head: bytes, size: int) -> Iterator[bytes]:
        yield head
        for _ in range(size // 65536 + 1):
            yield b"0" * 65536

    json_body = chunked(b'{"code": "', 2 << 20)
    big = _as("clerk").post("/api/v1/dossiers", content=json_body, headers={"Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["type"] == "urn:sohoa:error:too-large", big.text
    form = chunked(b'--b\r\nContent-Disposition: form-data; name="file"; filename="lon.pdf"\r\n\r\n%PDF-', 3_000_000)
    big = client.post("/api/v1/verify", content=form, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert big.status_code == 413 and big.json()["type"] == "urn:sohoa:error:too-large", big.text
    assert not files_in(data_dir / "tmp")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("filename*=UTF-8''Gi%E1%BA%A5y%20khai%20sinh.jpg", "Giấy khai sinh.jpg"),  # RFC 5987
        ("utf-8'vi'Gi%E1%BA%A5y%20khai%20sinh.jpg", "Giấy khai sinh.jpg"),  # its value alone
        ("Giấy khai sinh.jpg".encode(), "Giấy khai sinh.jpg"),  # UTF-8 as it is
        ("Gi%E1%BA%A5y%20khai%20sinh.jpg", "Giấy khai sinh.jpg"),  # percent-encoded
        ("Bản sao của An's.jpg".encode(), "Bản sao của An's.jpg"),
        ("C:\\Users\\An\\Giấy khai sinh.jpg".encode(), "Giấy khai sinh.jpg"),  # a Windows path
        ("../../etc/passwd", "passwd"),
        ("..", "scan"),
        (".", "scan"),
        ("..\\..\\", "scan"),
    ],
)
def test_x_filename_in_every_form_and_never_a_path(client: TestClient, sent: str | bytes, kept: str) -> None:
    data = b"\xff\xd8\xff\xe0" + sent.encode() if isinstance(sent, str) else b"\xff\xd8\xff\xe0" + sent  # a JPEG each
    r = client.post(
        f"/api/v1/dossiers/{CODE}/scans", content=data, headers={"Content-Type": "image/jpeg", "X-Filename": sent}
    )
    assert r.status_code == 202, r.text
    with context().sessions() as s:
        assert s.get(Document, r.json()["jobs"][0]["document_id"]).original_name == kept  # type: ignore[union-attr]


def test_multipart_file_names_are_cleaned_too(client: TestClient) -> None:
    parts = [
        ('filename="C:\\\\fakepath\\\\T\xe1\xbb\x9d khai.jpg"', "Tờ khai.jpg"),
        (
            "filename*=UTF-8''Gi%E1%BA%A5y%20t%E1%BB%9D.jpg",
            "Giấy tờ.jpg",
        ),  # RFC 5987 in a part, which python-multipart drops
        ('filename=".."', "scan-3"),
    ]
    body = (
        b"".join(
            f'--b\r\nContent-Disposition: form-data; name="file"; {disposition}\r\n\r\n'.encode("latin-1")
            + b"\xff\xd8\xff\xe0"
            + bytes([n])
            + b"\r\n"
            for n, (disposition, _) in enumerate(parts)
        )
        + b"--b--\r\n"
    )
    r = client.post(
        f"/api/v1/dossiers/{CODE}/scans", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 202, r.text
    with context().sessions() as s:
        names = [s.get(Document, j["document_id"]).original_name for j in r.json()["jobs"]]  # type: ignore[union-attr]
    assert names == [kept for _, kept in parts]


def test_downloads_answer_head_and_say_the_size_when_a_range_is_outside(client: TestClient, page_jpeg: Path) -> None:
    data = page_jpeg.read_bytes()
    assert client.post(f"/api/v1/dossiers/{CODE}/scans", files={"file": ("Giấy.jpg", data)}).status_code == 202
    archivist = _as("archivist")
    url = f"/api/v1/dossiers/{CODE}/documents/1/original"
    whole = archivist.get(url)
    head = archivist.head(url)
    assert head.status_code == 200 and head.content == b""
    for name in ("content-length", "etag", "accept-ranges", "content-disposition", "content-type"):
        assert head.headers[name] == whole.headers[name], name
    assert head.headers["content-length"] == str(len(data))
    assert archivist.head(url, headers={"Range": "bytes=0-99"}).headers["content-length"] == str(len(data))  # GET only
    refused = archivist.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{len(data)}"
    assert refused.headers["content-type"] == "application/problem+json" and refused.json()["field"] == "Range"

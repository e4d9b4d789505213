"""End to end through the HTTP API: scan → job → OCR → PDF/A → signature → storage → search."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

import api
from conftest import _clear_caches
from digitize.validate import check_pdfa
from forgeries import forge, white_box
from service import access, scans
from service.context import context
from storage import Job

CODE = "000.00.12.H12-250527-0001"


def bearer(role: str = "admin", name: str = "Quản trị viên thử") -> dict[str, str]:
    _, token = access.issue(context().sessions, name, role)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(service_on_each_catalog: str) -> Iterator[TestClient]:
    with TestClient(api.app, headers=bearer()) as c:  # the lifespan starts the embedded worker
        yield c


def vouch_and_seal(client: TestClient, code: str, document_id: int, pages: int) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """An officer (a clerk with a DEMO key the server holds) vouches for a digitized copy, then
    ``client`` (an administrator) applies the agency's seal; both answers."""
    from service import keys

    row, token = access.issue(context().sessions, "Cán bộ một cửa thử", "clerk")
    _, pin = keys.make_demo_key(context(), row.id, actor="admin")
    officer = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    url = f"/api/v1/dossiers/{code}/documents/{document_id}/signatures"
    vouched = officer.post(url, json={"kind": "personal", "pin": pin, "page_count": pages, "pages_readable": True})
    assert vouched.status_code == 201, vouched.text
    sealed = client.post(url, json={})
    assert sealed.status_code == 201, sealed.text
    return vouched.json(), sealed.json()


def wait(client: TestClient, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']}")


def post(client: TestClient, path: Path, code: str = CODE, name: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as f:
        return client.post(f"/api/v1/dossiers/{code}/scans", files={"file": (name or path.name, f)})


def test_scan_to_signed_searchable_pdfa(client: TestClient, page_png: Path, tmp_path: Path) -> None:
    r = post(client, page_png)
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["jobs"][0]["id"])
    assert job["status"] == "done", job["error"]
    assert job["progress"] == {"pages_done": 1, "pages_total": 1}
    assert job["result"]["signed"] is None  # the officer vouches first, then the agency seals
    vouched, sealed = vouch_and_seal(client, CODE, job["document_id"], pages=1)
    # No TSA configured: the demo PKI's own time stamp and CRL make it B-LT.
    assert vouched["level"] == sealed["level"] == "PAdES B-LT" and "DEMO" in sealed["signer"]

    for query in ("dang ky khai sinh", "đăng ký khai sinh", "NGUYEN THI HUONG"):
        found = client.get("/api/v1/search", params={"q": query}).json()
        assert found["total"] == 1, query
        assert found["hits"][0]["dossier_code"] == CODE
    assert client.get("/api/v1/search", params={"q": "giấy phép xây dựng"}).json()["total"] == 0

    dossier = client.get(f"/api/v1/dossiers/{CODE}").json()
    assert dossier["status"] == "DIGITIZED" and dossier["received_on"] == "2025-05-27"
    [doc] = dossier["documents"]
    original = client.get(doc["downloads"]["original"])
    assert original.content == page_png.read_bytes()
    signed = client.get(doc["downloads"]["signed"])
    assert signed.headers["content-type"] == "application/pdf"
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed.content)
    assert (
        "ĐƠN ĐĂNG KÝ KHAI SINH" in subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    )
    assert "Signature is Valid" in subprocess.run(["pdfsig", str(path)], capture_output=True, text=True).stdout
    status = check_pdfa(path)
    assert status.passed, status.findings

    alto = client.get(doc["downloads"]["alto"])
    assert alto.headers["content-type"].startswith("application/xml")
    assert 'CONTENT="KHAI"' in alto.text

    report = client.post("/api/v1/verify", files={"file": ("signed.pdf", signed.content)}).json()
    assert report["ok"] and report["signatures"][0]["trusted"]
    stored = client.get(f"/api/v1/dossiers/{CODE}/documents/{doc['id']}/verification").json()
    assert stored["ok"] and stored["stored_intact"] and stored["sha256"] == signed.headers["etag"].strip('"')
    assert not stored["changed_after_signing"] and stored["verdict_vi"].startswith("Cả 2 chữ ký hợp lệ")
    forged = forge(path, tmp_path / "forged.pdf", white_box)  # a white box over the text, appended
    report = client.post("/api/v1/verify", files={"file": ("forged.pdf", forged.read_bytes())}).json()
    assert report["ok"] is False and report["changed_after_signing"] is True
    assert "nội dung trang 1 bị thay đổi" in report["verdict_vi"]
    assert client.get(f"/api/v1/dossiers/{CODE}/documents/99/verification").status_code == 404

    again = post(client, page_png)
    [same] = again.json()["jobs"]
    assert again.status_code == 200 and same["id"] == job["id"] and not same["created"]


def test_bad_input_gets_problem_json_and_loses_nothing(client: TestClient, page_png: Path, tmp_path: Path) -> None:
    r = post(client, page_png, code="000.00.12.H12-250527-01")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == "code" and r.json()["detail"].startswith("Mã hồ sơ")
    r = client.post("/api/v1/dossiers/BAD/scans", files={"file": ("a.png", b"x")}, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and r.json()["detail"].startswith("Dossier code")

    notes = tmp_path / "ghi-chu.pdf"
    notes.write_text("không phải ảnh quét")
    r = post(client, notes)
    assert r.status_code == 415 and "ghi-chu.pdf" in r.json()["detail"]

    ok = wait(client, post(client, page_png).json()["jobs"][0]["id"])
    assert ok["status"] == "done"
    cut = tmp_path / "bi-cat.png"
    cut.write_bytes(page_png.read_bytes()[:4000])
    failed = wait(client, post(client, cut).json()["jobs"][0]["id"])
    assert failed["status"] == "failed"
    assert "bi-cat.png" in failed["error"]["vi"] and failed["error"]["code"] == "corrupt-file"
    dossier = client.get(f"/api/v1/dossiers/{CODE}").json()
    assert dossier["status"] == "RECEIVED"  # not digitized while one of its documents failed
    assert [(d["file"], d["status"]) for d in dossier["documents"]] == [
        ("don-khai-sinh.png", "done"),
        ("bi-cat.png", "failed"),
    ]
    assert client.get(dossier["documents"][0]["downloads"]["pdfa"]).status_code == 200
    assert client.get(f"/api/v1/dossiers/{CODE}/documents/2/pdfa").status_code == 404
    # The uploaded bytes are kept even though they could not be digitized.
    assert client.get(dossier["documents"][1]["downloads"]["original"]).content == cut.read_bytes()

    assert client.get("/api/v1/jobs/nope").status_code == 404
    assert client.get("/api/v1/search", params={"q": ""}).status_code == 422


def test_job_interrupted_by_a_crash_completes_after_restart(data_dir: Path, page_png: Path) -> None:
    ctx = context()
    job, created = scans.accept_scan(ctx, CODE, page_png, page_png.name)
    assert created
    with ctx.sessions.begin() as s:  # as if the server died while the job ran
        s.execute(update(Job).where(Job.id == job.id).values(status="running"))
    with TestClient(api.app, headers=bearer()) as c:
        done = wait(c, job.id)
    assert done["status"] == "done" and done["attempts"] == 1
    assert done["result"]["pages"] == 1


def test_openapi_documents_every_answer(data_dir: Path) -> None:
    """Every route declares its answer's fields (a response model), statuses as enums; only the
    downloads (bytes; their HEAD, headers only; a dossier's E-ARK package, a zip) and /metrics
    (Prometheus text) answer otherwise."""
    schema = api.app.openapi()
    components = schema["components"]["schemas"]

    def fields(ref: dict) -> dict:  # type: ignore[type-arg]
        return components[ref["$ref"].rsplit("/", 1)[1]]["properties"]

    download = "/api/v1/dossiers/{code}/documents/{document_id}/{kind}"
    package = "/api/v1/dossiers/{code}/package"
    untyped = {(download, "get"), (download, "head"), (package, "get"), ("/metrics", "get")}
    checked = 0
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            [ok] = [v for k, v in operation["responses"].items() if k.startswith("2")][:1]
            if (path, method) == (package, "get"):
                assert ok["content"]["application/zip"]["schema"]["format"] == "binary"
            if (path, method) in untyped:
                continue
            body = ok["content"]["application/json"]["schema"]
            assert "$ref" in body and fields(body), (method, path)
            checked += 1
    assert checked == sum(len(methods) for methods in schema["paths"].values()) - len(untyped) >= 18
    job = components["JobView"]["properties"]
    statuses = components[job["status"]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert statuses == ["queued", "running", "done", "failed", "cancelled"]
    dossier = components["Dossier"]["properties"]
    assert "RESULT_SIGNED" in components[dossier["status"]["$ref"].rsplit("/", 1)[1]]["enum"]
    assert {"downloads", "verification_url", "versions"} <= set(fields(dossier["documents"]["items"]))


def test_batch_scan_goes_to_the_dossiers_its_separators_name(client: TestClient, tmp_path: Path) -> None:
    import numpy as np
    import zxingcpp
    from PIL import Image

    from pages import render_page

    def qr_sheet(code: str) -> Image.Image:
        sheet = Image.new("L", (1654, 2339), 255)
        qr = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.QRCode).to_image(scale=10)
        sheet.paste(Image.fromarray(np.asarray(qr)), (500, 600))
        return sheet

    other = "000.00.12.H12-250527-0002"
    pages = [
        render_page(["HỒ SƠ THỨ NHẤT", "Đơn đề nghị cấp bản sao"], dpi=200, mode="L"),
        qr_sheet(other),
        render_page(["HỒ SƠ THỨ HAI", "Giấy chứng nhận quyền sử dụng đất"], dpi=200, mode="L"),
    ]
    batch = tmp_path / "lo.pdf"
    pages[0].save(batch, save_all=True, append_images=pages[1:], resolution=200)
    r = client.post("/api/v1/batches", params={"code": CODE}, files={"file": ("lo.pdf", batch.read_bytes())})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["id"])
    assert job["status"] == "done", job["error"]
    assert [(d["dossier"], d["pages"]) for d in job["result"]["documents"]] == [(CODE, 1), (other, 1)]
    for code, words in ((CODE, "ho so thu nhat"), (other, "quyen su dung dat")):
        dossier = client.get(f"/api/v1/dossiers/{code}").json()
        [doc] = dossier["documents"]
        assert doc["file"].startswith("lo.pdf (tài liệu")
        assert client.get(doc["downloads"]["original"]).content == batch.read_bytes()
        hits = client.get("/api/v1/search", params={"q": words}).json()["hits"]
        assert [h["dossier_code"] for h in hits] == [code]
    # Pages before the first separator, and no default code: nothing is recorded.
    failed = wait(client, client.post("/api/v1/batches", files={"file": ("lo2.pdf", batch.read_bytes())}).json()["id"])
    assert failed["status"] == "failed" and failed["error"]["field"] == "code"


def test_clerk_signs_with_a_usb_token_in_two_steps(  # type: ignore[no-untyped-def]
    client: TestClient, token, page_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from conftest import MODULE
    from signing import agent, verify_pdf
    from signing.signers import Pkcs11Config
    from storage import Document

    test_pki, pin_file = token
    monkeypatch.setenv("SOHOA_TRUST_ROOTS", str(test_pki.root_pem))  # the clerk's CA, beside the demo root
    _clear_caches()
    assert wait(client, post(client, page_png).json()["jobs"][0]["id"])["status"] == "done"
    document = f"/api/v1/dossiers/{CODE}/documents/1"

    def call(path: str, body: dict) -> dict:  # type: ignore[type-arg]
        answer = client.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    config = Pkcs11Config(MODULE, "sohoa", "agency", pin_file)
    # The officer vouches for the copy: without the paper's page count, nothing is prepared.
    unchecked = client.post(f"{document}/remote-signatures", json={"certificates": agent.token_chain(config)})
    assert unchecked.status_code == 422 and unchecked.json()["field"] == "page_count"
    late = call(f"{document}/remote-signatures", {"certificates": agent.token_chain(config), "page_count": 1,
                                                   "pages_readable": True})  # fmt: skip
    done = agent.run(call, document, config, page_count=1)
    assert done["signer"] == "UBND xã Hòa Bình" and done["document_id"] == 1 and done["kind"] == "officer"
    signed = tmp_path / "two.pdf"
    signed.write_bytes(client.get(f"{document}/signed").content)
    report = verify_pdf(signed, [*context().trust_roots(), test_pki.root_pem])
    assert [s.field for s in report.signatures] == ["Sig1"] and report.ok

    # A signature made with another key is refused, and the document keeps its version.
    with context().sessions() as s:
        before = s.get(Document, 1).signed_sha256  # type: ignore[union-attr]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = other.sign(base64.b64decode(late["to_be_signed"]), padding.PKCS1v15(), hashes.SHA256())
    refused = client.post(late["complete_url"], json={"signature": base64.b64encode(forged).decode()})
    assert refused.status_code == 400 and refused.json()["field"] == "signature"
    with context().sessions() as s:
        assert s.get(Document, 1).signed_sha256 == before  # type: ignore[union-attr]
    assert client.post("/api/v1/remote-signatures/" + "0" * 32, json={"signature": "AAAA"}).json()["field"] == "id"

    # Then the organization seals with the server's certificate; its stamp goes below the first.
    organization = client.post(f"{document}/signatures", json={"reason": "Xác nhận của cơ quan"})
    assert organization.status_code == 201, organization.text
    signed.write_bytes(client.get(f"{document}/signed").content)
    report = verify_pdf(signed, [*context().trust_roots(), test_pki.root_pem])
    assert [s.field for s in report.signatures] == ["Sig1", "Sig2"]
    assert all(s.intact and s.valid and s.trusted for s in report.signatures) and report.pdfa_valid
    assert (
        subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True).stdout.count("Signature is Valid") == 2
    )
    # A vouching prepared on the version before the others would drop them: refused.
    value = agent.sign_bytes(config, base64.b64decode(late["to_be_signed"]))
    stale = client.post(late["complete_url"], json={"signature": base64.b64encode(value).decode()})
    assert stale.status_code == 409 and "người khác" in stale.json()["detail_vi"], stale.text


def test_a_prepared_signature_expires(token, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from asn1crypto import pem
    from certomancer.registry import CertLabel

    from signing import remote
    from signing.errors import SigningError

    test_pki, _ = token
    chain = pem.armor("CERTIFICATE", test_pki.arch.get_cert(CertLabel("agency")).dump())
    prepared = remote.prepare(digitized_pdf, tmp_path, chain, trust_roots=[test_pki.root_pem], minutes=-1)
    with pytest.raises(SigningError) as e:
        remote.complete(tmp_path, prepared.id, b"x" * 256, tmp_path / "o.pdf")
    assert "hết hạn" in e.value.vi and not (tmp_path / "o.pdf").exists()
    assert not list(tmp_path.glob(f"{prepared.id}*"))  # the expired session is gone


def test_readiness_names_the_part_that_is_down(client: TestClient, data_dir: Path) -> None:
    import shutil

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "storage": "ok", "queue": "ok"}
    shutil.rmtree(data_dir / "objects")  # the object store's disk is gone
    down = client.get("/readyz")
    assert down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
    assert down.json()["field"] == "storage"
    # Which part, never what the exception said (an open endpoint: no paths, hosts or class names).
    assert down.json()["checks"] == {"database": "ok", "storage": "unavailable", "queue": "ok"}
    assert "Error" not in down.text and "Unavailable" not in down.text and str(data_dir) not in down.text
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_metrics_count_jobs_and_pages(client: TestClient, page_png: Path, tmp_path: Path) -> None:
    def value(text: str, name: str) -> float:
        line = next(x for x in text.splitlines() if x.startswith(name + " ") or x.startswith(name + "{"))
        return float(line.rsplit(" ", 1)[1])

    before = client.get("/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    assert value(before.text, "sohoa_pages_total") == 0
    assert wait(client, post(client, page_png).json()["jobs"][0]["id"])["status"] == "done"
    cut = tmp_path / "hong.png"
    cut.write_bytes(page_png.read_bytes()[:3000])
    assert wait(client, post(client, cut).json()["jobs"][0]["id"])["status"] == "failed"
    after = client.get("/metrics").text
    assert value(after, "sohoa_pages_total") == 1
    assert 'sohoa_jobs_total{status="done"} 1.0' in after and 'sohoa_jobs_total{status="failed"} 1.0' in after
    assert value(after, "sohoa_job_seconds_total") > 0 and value(after, "sohoa_queue_depth") == 0


def test_compact_profile_per_upload(client: TestClient, tmp_path: Path) -> None:
    import pikepdf

    from pages import scanned_page

    code = "000.00.12.H12-250527-0042"
    page_png = tmp_path / "mau.png"
    scanned_page().save(page_png, dpi=(300, 300))
    with page_png.open("rb") as f:
        r = client.post(f"/api/v1/dossiers/{code}/scans?profile=compact", files={"file": (page_png.name, f)})
    assert r.status_code == 202, r.text
    job = wait(client, r.json()["jobs"][0]["id"])
    assert job["status"] == "done", job["error"]
    [doc] = client.get(f"/api/v1/dossiers/{code}").json()["documents"]
    path = tmp_path / "compact.pdf"
    path.write_bytes(client.get(doc["downloads"]["pdfa"]).content)
    with pikepdf.open(path) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.Filter == "/DCTDecode"
    assert path.stat().st_size < page_png.stat().st_size / 2
    wrong = client.post(f"/api/v1/dossiers/{code}/scans?profile=tiny", files={"file": ("a.png", b"x")})
    assert wrong.status_code == 422 and "profile" in wrong.text

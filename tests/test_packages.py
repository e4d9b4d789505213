"""E-ARK packages: what `sohoa export` and the API stream passes the E-ARK validator; `sohoa import`
refuses a package with a tampered file, a wrong checksum or a broken signature, writing nothing,
and restores a good one into an empty archive: objects, rows, signatures, search."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import eark_check
import pytest
from fastapi.testclient import TestClient
from lxml import etree

import api
from conftest import SOHOA, _clear_caches
from service import access, dossiers, fields, packages
from service import search as searching
from service.context import context
from service.restore import PackageRefused, import_package
from service.run import run_job
from service.scans import accept_scan
from storage import eark
from storage.audit import audit

pytestmark = pytest.mark.slow  # runs OCR

CODE = "000.00.12.H12-250527-0001"
FOLDER = CODE


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test on the filesystem store, then on S3 (SeaweedFS with object lock)."""
    if request.param == "s3":
        monkeypatch.setenv("SOHOA_OBJECT_STORE_URL", request.getfixturevalue("s3_url"))
    return str(request.param)


@pytest.fixture
def dossier(data_dir: Path, monkeypatch: pytest.MonkeyPatch, page_png: Path) -> Iterator[str]:
    """A dossier with one digitized, signed document, moved on once."""
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    ctx = context()
    dossiers.create_dossier(ctx, CODE, {"title": "Đăng ký khai sinh", "retention": "20"}, actor="Văn thư Hà")
    job, _ = accept_scan(ctx, CODE, page_png, page_png.name)
    run_job(ctx, job.id)
    fields.update_dossier(ctx, CODE, {"access_mode": "restricted", "keywords": ["khai sinh", "hộ tịch"]}, actor="Hà")
    with ctx.sessions.begin() as session:
        fields.update_document(session, CODE, 1, {"number": "125/QĐ-UBND", "type": "Quyết định"}, actor="Hà")
    dossiers.transition(ctx, CODE, "IN_PROCESSING", actor="Văn thư Hà", reason="Đủ giấy tờ")
    yield CODE


def _export(tmp_path: Path) -> Path:
    out = tmp_path / "goi.zip"
    with out.open("wb") as f:
        for chunk in packages.export(context(), CODE, actor="test"):
            f.write(chunk)
    return out


def _assert_valid(package: Path) -> None:
    report = eark_check.validate(package)
    assert report.structure.status.name == "WELLFORMED", eark_check.problems(report)
    assert report.metadata.schema_results.status.name == "VALID", eark_check.problems(report)
    errors = [m for m in report.metadata.schematron_results.messages if m.severity.name == "ERROR"]
    # eark-validator 1.1.3's SIP14 wants an unqualified NOTETYPE="IDENTIFICATIONCODE" on the software
    # agent's note, which CSIP16 (csip:NOTETYPE="SOFTWARE VERSION") and the METS schema it also checks
    # forbid: no package passes both. Every other rule must pass.
    assert [m.rule_id for m in errors] == ["SIP14"], eark_check.problems(report)


def test_export_is_a_valid_e_ark_package_with_fixity_and_events(dossier: str, tmp_path: Path) -> None:
    package = _export(tmp_path)
    _assert_valid(package)
    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
        premis = etree.fromstring(z.read(f"{FOLDER}/metadata/preservation/premis.xml"))
        ead = z.read(f"{FOLDER}/metadata/descriptive/ead.xml").decode()
        signed = z.read(f"{FOLDER}/representations/signed/data/document-1.pdf")
    for rep in ("originals/data/document-1.png", "pdfa/data/document-1.pdf", "signed/data/document-1.pdf"):
        assert f"{FOLDER}/representations/{rep}" in names
    ns = {"p": eark.PREMIS}
    digests = premis.xpath("//p:object[.//p:objectIdentifierValue='representations/signed/data/document-1.pdf']"
                           "//p:messageDigest/text()", namespaces=ns)  # fmt: skip
    assert digests == [hashlib.sha256(signed).hexdigest()]
    types = premis.xpath("//p:eventType/text()", namespaces=ns)
    assert {"digitization", "digital signature generation", "dossier transition"} <= set(types)
    assert "Đăng ký khai sinh" in ead and "retention 20" in ead
    # the circular's fields (records.py), the dossier's and the document's
    assert "125/QĐ-UBND" in ead and "Quyết định" in ead and "khai sinh; hộ tịch" in ead and "restricted" in ead


def test_the_api_streams_the_same_package(dossier: str, tmp_path: Path) -> None:
    _, token = access.issue(context().sessions, "Lưu trữ Lan", "archivist")
    client = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    answer = client.get(f"/api/v1/dossiers/{CODE}/package")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    package = tmp_path / "api.zip"
    package.write_bytes(answer.content)
    _assert_valid(package)
    assert client.get("/api/v1/dossiers/000.00.12.H12-250527-0009/package").status_code == 404


def _rewrite(package: Path, out: Path, changed: dict[str, bytes], *, fix_checksums: bool) -> None:
    """A copy of the package with some files' bytes replaced; with ``fix_checksums`` every METS and
    the catalog are brought in line, as a forger would, so only a signature can tell."""
    with zipfile.ZipFile(package) as z:
        files = {n[len(FOLDER) + 1 :]: z.read(n) for n in z.namelist()}
    files.update(changed)
    if fix_checksums:
        sha = {p: hashlib.sha256(files[p]).hexdigest() for p in changed}
        catalog = json.loads(files[packages.CATALOG])
        for obj in catalog["objects"]:
            obj["sha256"] = sha.get(obj["path"], obj["sha256"])
        files[packages.CATALOG] = json.dumps(catalog).encode()
        mets = [p for p in files if p.endswith("METS.xml")]
        for path in sorted(mets, key=len, reverse=True):  # representations first, then the root
            base = path.rsplit("METS.xml", 1)[0]
            root = etree.fromstring(files[path])
            for element in root.iter(f"{{{eark.METS}}}file", f"{{{eark.METS}}}mdRef"):
                href = element.get(f"{{{eark.XLINK}}}href") or element[0].get(f"{{{eark.XLINK}}}href")
                data = files[base + href]
                element.set("CHECKSUM", hashlib.sha256(data).hexdigest().upper())
                element.set("SIZE", str(len(data)))
            files[path] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(f"{FOLDER}/{name}", data)


def _nothing_written(data_dir: Path) -> None:
    ctx = context()
    assert dossiers.list_dossiers(ctx).total == 0
    assert list(ctx.store.list("dossiers/")) == []


def _fresh_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """A new data folder (empty catalog) and, on S3, a new bucket."""
    import uuid

    fresh = tmp_path / name
    monkeypatch.setenv("SOHOA_DATA_DIR", str(fresh))
    if url := os.environ.get("SOHOA_OBJECT_STORE_URL"):
        monkeypatch.setenv("SOHOA_OBJECT_STORE_URL", f"{url.rsplit('/', 1)[0]}/sohoa-fresh-{uuid.uuid4().hex[:12]}")
    _clear_caches()
    return fresh


@pytest.mark.parametrize("fault", ["tampered file", "wrong checksum", "broken signature"])
def test_import_refuses_a_package_that_fails_and_writes_nothing(
    dossier: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    package = _export(tmp_path)
    with zipfile.ZipFile(package) as z:
        signed = z.read(f"{FOLDER}/representations/signed/data/document-1.pdf")
        rep_mets = z.read(f"{FOLDER}/representations/pdfa/METS.xml")
    bad = tmp_path / "bad.zip"
    if fault == "tampered file":  # one page of the PDF/A altered after export
        pdfa_path = "representations/pdfa/data/document-1.pdf"
        with zipfile.ZipFile(package) as z:
            pdfa = bytearray(z.read(f"{FOLDER}/{pdfa_path}"))
        pdfa[len(pdfa) // 2] ^= 0xFF
        _rewrite(package, bad, {pdfa_path: bytes(pdfa)}, fix_checksums=False)
        reason = "representations/pdfa/data/document-1.pdf does not match its SHA-256"
    elif fault == "wrong checksum":  # the METS itself says another checksum
        root = etree.fromstring(rep_mets)
        root.find(f".//{{{eark.METS}}}file").set("CHECKSUM", "0" * 64)
        _rewrite(package, bad, {"representations/pdfa/METS.xml": etree.tostring(root)}, fix_checksums=False)
        reason = "does not match its SHA-256"
    else:  # the signed bytes changed and every checksum recomputed: only the signature tells
        forged = signed.replace(b"sohoa", b"SOHOA", 1)
        assert forged != signed
        _rewrite(package, bad, {"representations/signed/data/document-1.pdf": forged}, fix_checksums=True)
        reason = "the signature in representations/signed/data/document-1.pdf is broken"
    fresh = _fresh_archive(tmp_path, monkeypatch, "fresh")
    with pytest.raises(PackageRefused) as refused:
        import_package(context(), bad, actor="test")
    assert reason in refused.value.en and refused.value.field == "bad.zip"
    assert "bị từ chối" in refused.value.vi
    _nothing_written(fresh)


def test_round_trip_export_wipe_import(
    store: str, dossier: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from signing import verify_pdf

    before = searching.search(context(), "khai sinh", actor="test")
    view = dossiers.dossier_view(context(), CODE)
    package = _export(tmp_path)
    _fresh_archive(tmp_path, monkeypatch, "fresh")  # a new data folder: empty catalog and store
    ctx = context()
    assert import_package(ctx, package, actor="test") == CODE
    restored = dossiers.dossier_view(ctx, CODE)
    assert (restored.title, restored.retention, restored.status) == (view.title, view.retention, view.status)
    assert [(d.file, d.original_sha256, d.pages) for d in restored.documents] == [
        (d.file, d.original_sha256, d.pages) for d in view.documents
    ]
    assert [h.to for h in restored.history] == [h.to for h in view.history]
    report = audit(ctx.store, ctx.sessions)  # every object re-hashed against the catalog
    assert report.ok and report.checked == 4 and not report.orphans, report
    signed = tmp_path / "signed.pdf"
    version = dossiers.document_version(ctx, CODE, 1, "signed", actor=None)
    with ctx.store.open(version.key) as f:
        signed.write_bytes(f.read())
    checked = verify_pdf(signed, [])
    assert checked.signatures and all(s.intact and s.valid for s in checked.signatures)
    after = searching.search(ctx, "khai sinh", actor="test")
    assert [(h.dossier_code, h.page, h.snippet) for h in after.hits] == [
        (h.dossier_code, h.page, h.snippet) for h in before.hits
    ]
    assert after.total == before.total == 1
    with pytest.raises(Exception, match="exists already"):
        import_package(ctx, package, actor="test")  # twice: the dossier is there


def test_the_cli_exports_a_period_one_package_a_dossier_and_keeps_them(dossier: str, tmp_path: Path) -> None:
    empty = "000.00.12.H12-250601-0002"  # received in the period, no document yet: skipped
    dossiers.create_dossier(context(), empty, {"title": "Chưa quét"}, actor="Văn thư Hà")
    folder = tmp_path / "goi"
    period = ["--received-from", "2025-05-01", "--received-to", "2025-06-30"]
    run = subprocess.run([SOHOA, "export", *period, "--keep", "-o", str(folder)], env=os.environ.copy(),
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in folder.iterdir()) == [f"{CODE}.zip"] and f"{empty}: bỏ qua / skipped" in run.stderr
    _assert_valid(folder / f"{CODE}.zip")
    [kept] = context().store.list(f"dossiers/{CODE}/packages/")  # kept in the store, write-once and read-only
    assert context().store.read_only(kept) is True
    one = subprocess.run([SOHOA, "export", CODE, "-o", str(tmp_path / "mot.zip")], env=os.environ.copy(),
                         capture_output=True, text=True)  # fmt: skip
    assert one.returncode == 0 and (tmp_path / "mot.zip").is_file()
    refused = subprocess.run([SOHOA, "export", empty, "-o", str(tmp_path / "trong.zip")], env=os.environ.copy(),
                             capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 2 and "there is nothing to export" in refused.stderr
    assert not (tmp_path / "trong.zip").exists()


def test_a_large_original_streams_through_the_package_in_constant_memory(data_dir: Path, tmp_path: Path) -> None:
    import tracemalloc

    from checksums import sha256_file
    from storage.catalog import Document, StoredObject

    ctx = context()
    dossiers.create_dossier(ctx, CODE, {"title": "Bản vẽ A0"}, actor="Văn thư Hà")
    big = tmp_path / "ban-ve.tif"
    with big.open("wb") as f:
        for _ in range(48):
            f.write(os.urandom(1 << 20))  # 48 MiB that do not compress
    sha, key = sha256_file(big), f"dossiers/{CODE}/originals/ban-ve.tif"
    info = ctx.store.put_file(key, big, write_once=True, sha256=sha)
    with ctx.sessions.begin() as session:
        values = {"original_name": big.name, "original_key": key, "original_sha256": sha, "original_size": info.size}
        session.add(Document(dossier_code=CODE, number=1, **values))
        session.add(
            StoredObject(key=key, dossier_code=CODE, kind="original", sha256=sha, size=info.size, created_by="t")
        )
    tracemalloc.start()
    size = sum(len(chunk) for chunk in packages.export(ctx, CODE, actor="test"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert size > 48 << 20 and peak < 12 << 20, (size, peak)  # a few chunks of 1 MiB, never the file

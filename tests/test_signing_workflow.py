"""Who signs what, in which order (decree 107/2021, decree 30/2020): a digitized copy is vouched
for by the one-stop officer with their own key, then sealed by the agency, once per version; an
issued result is signed by the leader (signature image and name), then sealed (seal image over
the signer's left third); RESULT_SIGNED needs both. Through the HTTP API, with the demo PKI."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pikepdf
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw, ImageFont

import api
from conftest import _clear_caches
from pages import FONT
from service import access, keys
from service.context import context
from service.run import run_job
from service.scans import accept_scan
from signing import verify_pdf
from storage.audit import tokens_against_log

CODE = "000.00.12.H12-250527-0001"
DOCUMENT = f"/api/v1/dossiers/{CODE}/documents/1"
pytestmark = pytest.mark.slow  # every test here digitizes a page


@dataclass
class Person:
    client: TestClient
    pin: str  # of the DEMO key the server holds for them ("" if none)
    id: int


@pytest.fixture
def people(data_dir: Path) -> dict[str, Person]:
    """Two clerks (one with a key held by the server), a leader, the keeper of the seal and a
    scanner station."""
    ctx = context()
    found = {}
    for label, name, role, with_key in (
        ("officer", "Nguyễn Văn An", "clerk", True),
        ("other clerk", "Trần Thị Bình", "clerk", False),
        ("leader", "Lê Văn Cường", "leader", True),
        ("keeper", "Phạm Thị Dung", "seal_keeper", False),
        ("scanner", "Trạm quét 1", "scanner", False),
    ):
        row, token = access.issue(ctx.sessions, name, role)
        pin = keys.make_demo_key(ctx, row.id, actor="admin")[1] if with_key else ""
        found[label] = Person(TestClient(api.app, headers={"Authorization": f"Bearer {token}"}), pin, row.id)
    return found


def _digitize(path: Path, kind: str = "component") -> None:
    ctx = context()
    job, _ = accept_scan(ctx, CODE, path, path.name, document_kind=kind)
    run_job(ctx, job.id)


def _sign(client: TestClient, **body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    answer = client.post(f"{DOCUMENT}/signatures", json=body)
    return answer.status_code, answer.json()


def _signed_copy(client: TestClient, tmp_path: Path) -> Path:
    path = tmp_path / "signed.pdf"
    path.write_bytes(client.get(f"{DOCUMENT}/signed").content)
    return path


def _widgets(path: Path) -> list[tuple[int, str, tuple[float, ...]]]:
    """(page, field name, box) of every signature widget."""
    found = []
    with pikepdf.open(path) as pdf:
        for number, page in enumerate(pdf.pages):
            for annot in page.get("/Annots", []):
                if annot.get("/FT") == "/Sig" or annot.get("/Parent", {}).get("/FT") == "/Sig":
                    found.append((number, str(annot.get("/T", "")), tuple(float(v) for v in annot.Rect)))
    return found


def _apart(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_the_officer_vouches_then_the_agency_seals_once(
    people: dict[str, Person], page_png: Path, tmp_path: Path
) -> None:
    _digitize(page_png)
    officer, other, keeper = people["officer"].client, people["other clerk"].client, people["keeper"].client
    pin, leader, leader_pin = people["officer"].pin, people["leader"].client, people["leader"].pin
    dossier = keeper.get(f"/api/v1/dossiers/{CODE}").json()
    assert dossier["status"] == "DIGITIZED" and dossier["documents"][0]["signatures"] == []
    assert "signed" not in dossier["documents"][0]["versions"]  # nobody signed by themselves

    # The seal comes only after the officer's vouching, and only from the seal's roles.
    status, said = _sign(keeper)
    assert status == 409 and "cán bộ một cửa" in said["detail_vi"], said
    assert _sign(officer)[0] == 403  # a clerk does not hold the seal
    assert _sign(people["scanner"].client)[0] == 403

    # The officer vouches with their own key: the paper's page count, every page readable, their PIN.
    status, said = _sign(other, kind="personal", pin="x", page_count=1, pages_readable=True)
    assert status == 409 and said["field"] == "pin"  # no key held for them: two-step instead
    status, said = _sign(officer, kind="personal", pin="sai-pin", page_count=1, pages_readable=True)
    assert status == 422 and said["field"] == "pin" and "PIN" in said["detail_vi"]
    status, said = _sign(officer, kind="personal", pin=pin, page_count=2, pages_readable=True)
    assert status == 422 and said["field"] == "page_count" and "2 trang" in said["detail_vi"]
    status, said = _sign(officer, kind="personal", pin=pin, page_count=1)
    assert status == 422 and said["field"] == "pages_readable"
    assert _sign(leader, kind="personal", pin=leader_pin, page_count=1, pages_readable=True)[0] == 403
    status, vouched = _sign(officer, kind="personal", pin=pin, page_count=1, pages_readable=True)
    assert status == 201 and vouched["kind"] == "officer" and "Nguyễn Văn An (DEMO)" in vouched["signer"], vouched
    assert _sign(officer, kind="personal", pin=pin, page_count=1, pages_readable=True)[0] == 409  # once

    status, sealed = _sign(keeper, reason="Xác nhận của cơ quan")
    assert status == 201 and sealed["kind"] == "agency" and "DEMO" in sealed["signer"], sealed
    status, said = _sign(leader)  # a leader may seal too, but not a second time on this version
    assert status == 409 and "không ký lần hai" in said["detail_vi"]

    signed = _signed_copy(keeper, tmp_path)
    report = verify_pdf(signed, context().trust_roots())
    assert report.ok and [s.field for s in report.signatures] == ["Sig1", "Sig2"], report.to_dict()
    text = subprocess.run(["pdftotext", str(signed), "-"], capture_output=True, text=True).stdout
    assert "Đã đối chiếu, khớp bản giấy (1 trang)" in text and "Nguyễn Văn An (DEMO)" in text
    # Both stamps on page 1, one below the other, never overlapping.
    [(p1, _, first), (p2, _, second)] = _widgets(signed)
    assert p1 == p2 == 0 and _apart(first, second) and second[3] <= first[1]
    subprocess.run(["pdftoppm", "-r", "72", "-f", "1", "-l", "1", "-png", str(signed), str(tmp_path / "p")], check=True)
    page = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    gap = page.crop((round(first[0]), page.height - round(first[1]), round(first[2]), page.height - round(second[3])))
    assert min(gap.get_flattened_data()) > 200  # nothing drawn between the two stamps: their texts do not mix

    listed = keeper.get(f"/api/v1/dossiers/{CODE}").json()["documents"][0]["signatures"]
    assert [(s["kind"], s["current"]) for s in listed] == [("officer", True), ("agency", True)]
    assert listed[0]["actor"].startswith("Nguyễn Văn An #") and listed[1]["time"].endswith("+07:00")
    with context().sessions() as session:
        assert tokens_against_log(session) == []  # the bound keys are in the log


def _decision(path: Path) -> Path:
    """An issued decision at 300 dpi: its body at the left, the signer's title at the right, a
    gap for the signature, then the signer's printed name."""
    image = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), 50)
    lines = ["QUYẾT ĐỊNH", "Về việc cấp giấy khai sinh", "Điều 1. Cấp giấy khai sinh cho cháu Nguyễn Thị Mai."]
    for n, line in enumerate(lines):
        draw.text((300, 400 + 90 * n), line, font=font, fill=0)
    for y, line in ((1100, "TM. ỦY BAN NHÂN DÂN"), (1180, "CHỦ TỊCH"), (1700, "Lê Văn Cường")):
        draw.text((1500, y), line, font=font, fill=0)
    image.save(path, dpi=(300, 300))
    return path


def test_a_result_is_signed_by_the_leader_then_sealed_over_the_signature(
    people: dict[str, Person], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")  # never for results
    _clear_caches()
    leader, pin, keeper = people["leader"].client, people["leader"].pin, people["keeper"].client
    clerk, clerk_pin = people["officer"].client, people["officer"].pin
    signature_png = tmp_path / "chu-ky.png"
    ink = Image.new("RGBA", (600, 240), (0, 0, 0, 0))
    ImageDraw.Draw(ink).line([(20, 180), (200, 40), (320, 200), (580, 60)], fill=(20, 40, 200, 255), width=14)
    ink.save(signature_png)
    keys.set_signature_image(context(), people["leader"].id, signature_png, actor="admin")
    _digitize(_decision(tmp_path / "quyet-dinh.png"), kind="result")
    document = keeper.get(f"/api/v1/dossiers/{CODE}").json()["documents"][0]
    assert document["kind"] == "result" and document["signatures"] == []

    for to in ("IN_PROCESSING", "PENDING_APPROVAL", "APPROVED"):
        assert leader.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": to}).status_code == 200
    refused = leader.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "RESULT_SIGNED"})
    assert refused.status_code == 409 and refused.json()["field"] == "to"

    assert _sign(keeper)[0] == 409  # the seal only after the signer
    assert _sign(clerk, kind="personal", pin=clerk_pin)[0] == 403  # a result is signed by a leader
    status, signed_by = _sign(leader, kind="personal", pin=pin)
    assert status == 201 and signed_by["kind"] == "signer", signed_by
    assert "che một phần chữ" not in signed_by["note"] and "DEMO" in signed_by["note"]  # in free space; demo said
    status, sealed = _sign(keeper)
    assert status == 201 and sealed["kind"] == "agency"
    assert _sign(keeper)[0] == 409

    path = _signed_copy(keeper, tmp_path)
    report = verify_pdf(path, context().trust_roots())
    assert report.ok and len(report.signatures) == 2, report.to_dict()
    [(_, _, signer), (_, _, seal)] = _widgets(path)
    # The signer's stamp in the gap under the title (y from the bottom: 3508 px at 300 dpi = 842 pt).
    title_bottom, name_top = 842 - (1180 + 60) * 72 / 300, 842 - 1700 * 72 / 300
    assert signer[1] >= name_top and signer[3] <= title_bottom, signer
    assert signer[0] > 595 / 2  # in the right half
    width = signer[2] - signer[0]
    seal_mm = 36 * 72 / 25.4  # the round seal at real size, its text to its right
    assert abs((seal[3] - seal[1]) - seal_mm) < 1.5 and seal[0] < signer[0] + width / 3 < seal[0] + seal_mm
    subprocess.run(["pdftoppm", "-r", "72", "-png", str(path), str(tmp_path / "r")], check=True)
    page = Image.open(next(tmp_path.glob("r*.png"))).convert("RGB")

    def colour(x: float, y: float) -> tuple[int, int, int]:
        return page.getpixel((round(x), round(page.height - y)))  # type: ignore[return-value]

    ring = colour(seal[0] + seal_mm / 2, seal[3] - 3)
    assert ring[0] > 150 and ring[2] < 120, ring  # the red seal, drawn over the signature
    blue = [
        colour(x, y)
        for x in range(round(signer[0]), round(signer[2]))
        for y in range(round(signer[1]), round(signer[3]))
    ]
    assert any(b > 150 and r < 100 for r, _, b in blue)  # the signature image shows
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert "UBND xã Mẫu (DEMO)" in text and "Lê Văn Cường (DEMO)" in text

    moved = leader.post(f"/api/v1/dossiers/{CODE}/transitions", json={"to": "RESULT_SIGNED"})
    assert moved.status_code == 200, moved.text


def test_automatic_agency_signing_is_a_setting(
    people: dict[str, Person], page_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    _digitize(page_png)
    keeper, officer, pin = people["keeper"].client, people["officer"].client, people["officer"].pin
    [document] = keeper.get(f"/api/v1/dossiers/{CODE}").json()["documents"]
    [signature] = document["signatures"]
    assert signature["kind"] == "agency" and signature["actor"] == "worker" and "signed" in document["versions"]
    assert _sign(keeper)[0] == 409  # sealed once already
    status, vouched = _sign(officer, kind="personal", pin=pin, page_count=1, pages_readable=True)
    assert status == 201 and vouched["kind"] == "officer"


def test_a_personal_key_on_the_server_s_token(  # type: ignore[no-untyped-def]
    people: dict[str, Person], token, page_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An officer's key on the server's PKCS#11 token (SoftHSM here), unlocked by their PIN;
    the binding is in the audit log, and one changed in the database alone is reported."""
    from sqlalchemy import update

    from conftest import MODULE
    from storage.catalog import ApiToken

    test_pki, pin_file = token
    monkeypatch.setenv("SOHOA_TRUST_ROOTS", str(test_pki.root_pem))
    _clear_caches()
    _digitize(page_png)
    clerk = people["other clerk"]
    pin = pin_file.read_text().strip()
    name = keys.bind_pkcs11(context(), clerk.id, MODULE, "ca-nhan", "agency", pin, actor="admin")
    assert name == "UBND xã Hòa Bình"
    status, said = _sign(clerk.client, kind="personal", pin="000000", page_count=1, pages_readable=True)
    assert status == 422 and said["field"] == "pin"
    status, vouched = _sign(clerk.client, kind="personal", pin=pin, page_count=1, pages_readable=True)
    assert status == 201 and vouched["kind"] == "officer" and "UBND xã Hòa Bình" in vouched["signer"], vouched
    with context().sessions.begin() as session:
        assert tokens_against_log(session) == []
        session.execute(update(ApiToken).where(ApiToken.id == clerk.id).values(signing_key={"pkcs12": "x.p12"}))
    with context().sessions() as session:
        assert any("signing_key" in problem for problem in tokens_against_log(session))

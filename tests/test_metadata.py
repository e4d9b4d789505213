"""Metadata read from the page (digitize.metadata): word lists laid out by hand (fast), and
rendered pages through real Tesseract (slow)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pikepdf
import pytest
from officialdocs import make_document, render

from digitize import Source, digitize, metadata
from digitize.ocr import Line, Word
from digitize.validate import check_pdfa
from preflight import preflight
from records import XMP_NAMESPACE

W, H = 2480, 3508  # A4 at 300 dpi
ROOT = Path(__file__).resolve().parent.parent


def line(text: str, x: int, y: int, *, centre: bool = False, size: int = 50, conf: float = 95.0) -> Line:
    """One OCR line: words 0.5 × size wide per character, a space of 0.3 × size between them."""
    width = sum(len(w) for w in text.split()) * size // 2 + (len(text.split()) - 1) * size * 3 // 10
    x = x - width // 2 if centre else x
    words, at = [], x
    for word in text.split():
        words.append(Word(word, at, y, len(word) * size // 2, size, conf))
        at += len(word) * size // 2 + size * 3 // 10
    return Line(x, y, at - x, size, tuple(words))


def joined(*lines: Line) -> Line:
    """Lines Tesseract gave as one (the agency's and the motto beside it)."""
    words = tuple(w for li in lines for w in li.words)
    return Line(lines[0].left, lines[0].top, lines[-1].left + lines[-1].width - lines[0].left, 50, words)


def values(lines: list[Line]) -> dict[str, str | None]:
    found = metadata.read([metadata.PageWords(W, H, lines)])
    return {k: (v.value if v is not None else None) for k, v in found.items()}


LEFT, RIGHT, MID = 640, 1730, 1340
MOTTO_2 = "Độc lập - Tự do - Hạnh phúc"


def decision() -> list[Line]:
    return [
        line("UBND TỈNH BẮC NINH", LEFT, 200, centre=True),
        joined(
            line("SỞ TÀI NGUYÊN", LEFT, 262, centre=True), line("Độc lập - Tự do - Hạnh phúc", RIGHT, 262, centre=True)
        ),
        line("VÀ MÔI TRƯỜNG", LEFT, 324, centre=True),
        line("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", RIGHT, 200, centre=True),
        line("Sô: 125/QD-STNMT", LEFT, 420, centre=True, conf=70),  # OCR's "Sô", the Đ lost
        line("Bắc Ninh, ngày 05 tháng 02 năm 2025", RIGHT, 420, centre=True),
        line("QUYẾT ĐỊNH", MID, 560, centre=True),
        line("Về việc phê duyệt kế hoạch sử dụng đất", MID, 625, centre=True),
        line("năm 2025 của huyện", MID, 690, centre=True),
        line("Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;", 350, 820),
        line("Nơi nhận:", 350, 1400),
        line("- Như trên;", 350, 1460),
        line("TM. ỦY BAN NHÂN DÂN", RIGHT, 1400, centre=True),
        line("KT. CHỦ TỊCH", RIGHT, 1465, centre=True),
        line("PHÓ CHỦ TỊCH", RIGHT, 1530, centre=True),
        line("Ệ—~ ,..", RIGHT - 200, 1650, conf=20),  # what a seal and a signature make
        line("Nguyễn Văn An", RIGHT, 1800, centre=True),
    ]


def test_a_decision_with_a_parent_agency() -> None:
    assert values(decision()) == {
        "number": "125/QĐ-STNMT",
        "issued_on": "2025-02-05",
        "type": "Quyết định",
        "subject": "Về việc phê duyệt kế hoạch sử dụng đất năm 2025 của huyện",
        "issuer": "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG",
        "signer": "Nguyễn Văn An",
        "signer_title": "PHÓ CHỦ TỊCH",
        "authority": "TM. ỦY BAN NHÂN DÂN KT. CHỦ TỊCH",
    }


def test_confidence_and_boxes() -> None:
    found = metadata.read([metadata.PageWords(W, H, decision())])
    number = found["number"]
    assert number is not None and 0.6 < number.confidence < 0.8  # read at 70 %
    words = decision()[4].words
    right = words[-1].left + words[-1].width
    assert number.boxes == [
        {"page": 1, "left": words[0].left, "top": 420, "width": right - words[0].left, "height": 50}
    ]
    issuer = found["issuer"]
    assert issuer is not None and [b["top"] for b in issuer.boxes] == [262, 324]  # not the parent's line
    assert json.loads(json.dumps(metadata.as_json(found)))["type"]["value"] == "Quyết định"


def test_a_letter_without_a_type_name() -> None:
    lines = [
        line("ỦY BAN NHÂN DÂN", LEFT, 200, centre=True),
        line("HUYỆN BA BỂ", LEFT, 262, centre=True),  # one agency over two lines: no parent
        line("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", RIGHT, 200, centre=True),
        line("Độc lập - Tự do - Hạnh phúc", RIGHT, 262, centre=True),
        line("So: 07/UBND-VP", LEFT, 380, centre=True),
        line("Ba Bể, ngày 09 tháng 12", RIGHT, 380, centre=True),  # the date split over two lines
        line("năm 2024", RIGHT, 440, centre=True),
        line("V/v đề nghị cung cấp hồ sơ", LEFT, 440, centre=True),
        line("địa chính thửa đất số 125", LEFT, 500, centre=True),
        line("Kính gửi: Các phòng, ban chuyên môn", MID, 640, centre=True),
        line("Nơi nhận:", 350, 1200),
        line("CHỦ TỊCH", RIGHT, 1200, centre=True),
        line("Trần Thị Hương", RIGHT, 1500, centre=True),
    ]
    assert values(lines) == {
        "number": "07/UBND-VP",
        "issued_on": "2024-12-09",
        "type": "Công văn",
        "subject": "V/v đề nghị cung cấp hồ sơ địa chính thửa đất số 125",
        "issuer": "ỦY BAN NHÂN DÂN HUYỆN BA BỂ",
        "signer": "Trần Thị Hương",
        "signer_title": "CHỦ TỊCH",
        "authority": "",
    }


def test_ocr_slips_are_put_back() -> None:
    lines = decision()
    lines[4] = line("Số: 125/QĐĐ-STNMT", LEFT, 420, centre=True)  # a letter read twice
    lines[6] = line("QUYET DINH", MID, 560, centre=True)  # the type name without its marks
    lines[13] = line("KT, CHU TICH", RIGHT, 1465, centre=True)
    lines[14] = line("PHÓ CHỦ TỊCH", RIGHT, 1530, centre=True)
    got = values(lines)
    assert got["number"] == "125/QĐ-STNMT"
    assert got["type"] == "Quyết định"
    assert got["authority"] == "TM. ỦY BAN NHÂN DÂN KT. CHỦ TỊCH"


def test_what_a_seal_leaves_of_the_print() -> None:
    lines = decision()
    lines[5] = line("Bắc Ninh, ngày 05 tháng Z2 năm 2025", RIGHT, 420, centre=True)  # a speck before the 2
    lines[7] = line("'Về việc phê duyệt kế hoạch sử dụng đất", MID, 625, centre=True)
    # A second reading of the seal's area: "KT." and "ĐỐC" apart, the word between them misread.
    lines[12:15] = [line("TM. ỦY BAN NHÂN DÂN", RIGHT, 1400, centre=True), line("ĐỐC", RIGHT + 150, 1462),
                    line("KT. GLIÁM", RIGHT - 200, 1468), line("PHÓ GIÁM ĐỐC", RIGHT, 1530, centre=True)]  # fmt: skip
    got = values(lines)
    assert got["issued_on"] == "2025-02-05"
    assert got["subject"] == "Về việc phê duyệt kế hoạch sử dụng đất năm 2025 của huyện"
    assert got["authority"] == "TM. ỦY BAN NHÂN DÂN KT. GIÁM ĐỐC" and got["signer_title"] == "PHÓ GIÁM ĐỐC"


def test_the_type_from_the_symbol_when_its_name_is_unread() -> None:
    lines = [li for li in decision() if li.words[0].text != "QUYẾT"]
    got = values(lines)
    assert got["type"] == "Quyết định" and got["number"] == "125/QĐ-STNMT"


def test_pieces_of_a_line_read_apart_are_joined() -> None:
    lines = decision()
    lines[13:14] = [line("KT. CHỦ", RIGHT - 60, 1465), line("TỊCH", RIGHT + 150, 1465)]
    assert values(lines)["authority"] == "TM. ỦY BAN NHÂN DÂN KT. CHỦ TỊCH"


def test_the_signature_on_the_last_page() -> None:
    first = decision()[:10]
    last = [line("Điều 3. Các cơ quan chịu trách nhiệm thi hành.", 350, 300), *decision()[10:]]
    found = metadata.read([metadata.PageWords(W, H, first), metadata.PageWords(W, H, last)])
    signer = found["signer"]
    assert signer is not None and signer.value == "Nguyễn Văn An" and signer.boxes[0]["page"] == 2


def test_a_page_without_the_layout() -> None:
    got = values([line("Đơn đăng ký khai sinh", 350, 300), line("Họ và tên: Nguyễn Thị Hương", 350, 400)])
    assert got["number"] is None and got["issued_on"] is None and got["signer"] is None
    assert metadata.read([]) == dict.fromkeys(got)


def test_an_impossible_date_is_not_a_date() -> None:
    lines = decision()
    lines[5] = line("Bắc Ninh, ngày 31 tháng 02 năm 2025", RIGHT, 420, centre=True)
    assert values(lines)["issued_on"] is None


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "dpi", "colour", "skew"), [(3, 300, True, 2.5), (8, 200, False, -3.0)])
def test_rendered_pages_through_tesseract(tmp_path: Path, seed: int, dpi: int, colour: bool, skew: float) -> None:
    """A page with a red seal over the signer's title, skewed: Tesseract takes the seal for a
    picture and leaves its words out; they are read again, and every field is found."""
    doc = make_document(random.Random(seed), 380)
    scan = tmp_path / "scan.png"
    render(doc, dpi=dpi, colour=colour, seal=True, skew=skew, seed=seed).save(scan, dpi=(dpi, dpi))
    result = digitize([Source(scan, scan.name)], tmp_path / "out.pdf", title="", tessdata=ROOT / "ocr-models")
    assert result.metadata is not None
    got = {k: (v.value if v else "") for k, v in result.metadata.items()}
    assert got == doc.truth


@pytest.mark.slow
def test_the_cli_writes_the_fields_and_the_xmp_carries_them(tmp_path: Path) -> None:
    """`sohoa digitize … --metadata OUT.json`; the PDF/A (1b here, for Preflight too) has the
    type, date, issuer and subject as Dublin Core and stays valid."""
    from typer.testing import CliRunner

    from cli import app

    doc = make_document(random.Random(5), 380)
    scan = tmp_path / "scan.png"
    render(doc, dpi=300, colour=False, seal=False).save(scan, dpi=(300, 300))
    out, meta = tmp_path / "out.pdf", tmp_path / "out.json"
    result = CliRunner().invoke(
        app, ["digitize", str(scan), "-o", str(out), "--metadata", str(meta), "--flavour", "1b"]
    )
    assert result.exit_code == 0, result.output
    written = json.loads(meta.read_text(encoding="utf-8"))
    assert set(written) == set(doc.truth) and written["number"]["value"] == doc.truth["number"]
    assert 0 < written["number"]["confidence"] <= 1 and written["number"]["boxes"][0]["page"] == 1
    with pikepdf.open(out) as pdf, pdf.open_metadata() as xmp:
        assert xmp["dc:type"] == {doc.truth["type"]} and xmp["dc:date"] == [doc.truth["issued_on"]]
        assert xmp["dc:creator"] == [doc.truth["issuer"]] and xmp["dc:description"] == doc.truth["subject"]
        # the rest in sohoa's namespace, declared by the packet's extension schema (tests/test_xmp.py)
        own = {key: xmp.get(f"{{{XMP_NAMESPACE}}}{key}") for key in ("number", "signer", "signer_title", "page_count")}
        assert own == {**{k: doc.truth[k] for k in ("number", "signer", "signer_title")}, "page_count": "1"}
    assert check_pdfa(out).passed
    assert preflight(out).passed


@pytest.mark.slow
def test_a_job_fills_the_documents_fields(data_dir: Path, tmp_path: Path) -> None:
    """A scan through the service's job (submit and run, as `sohoa process` does): the catalog has
    the fields read from its page, and the PDF/A stored carries them."""
    from service import dossiers, fields, scans
    from service.context import context
    from service.run import run_job

    doc = make_document(random.Random(11), 380)
    scan = tmp_path / "qd.jpg"
    render(doc, dpi=200, colour=True, seal=True, skew=1.5, seed=11).save(scan, dpi=(200, 200), quality=88)
    ctx, code = context(), "000.00.12.H12-250527-0001"
    accepted = scans.submit_scan(ctx, code, scan, scan.name, actor="test")
    fields.update_dossier(ctx, code, {"paper_code": "HS-GIẤY-0125"}, actor="test")  # the dossier's, in the XMP too
    with ctx.sessions.begin() as session:
        fields.update_document(session, code, 1, {"handwriting": "Bút phê ở lề"}, actor="test")  # a clerk's, before
    run_job(ctx, accepted.id)
    [document] = dossiers.dossier_view(ctx, code).documents
    assert document.read is not None
    assert {k: document.fields[k] or "" for k in doc.truth} == doc.truth
    assert {k: v.value if v else "" for k, v in document.read.items()} == doc.truth
    stored = tmp_path / "stored.pdf"
    ctx.store.get_file(dossiers.document_version(ctx, code, 1, "pdfa", actor=None).key, stored)
    with pikepdf.open(stored) as pdf, pdf.open_metadata() as xmp:
        assert xmp["dc:type"] == {doc.truth["type"]} and xmp["dc:identifier"] == code
        own = {key: xmp.get(f"{{{XMP_NAMESPACE}}}{key}") for key in ("number", "signer", "order", "handwriting")}
        assert own == {"number": doc.truth["number"], "signer": doc.truth["signer"], "order": "1",
                       "handwriting": "Bút phê ở lề"}  # fmt: skip
        assert xmp.get(f"{{{XMP_NAMESPACE}}}dossier_paper_code") == "HS-GIẤY-0125"
    assert check_pdfa(stored).passed

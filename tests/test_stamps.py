"""Visible signatures: 10 pt text that wraps instead of shrinking, the certificate's name and the
signature's own time, and stamps that never overlap and keep off the page's text where they can."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import ROOT
from signing import agency_signer, sign_pdf, verify_pdf
from signing.appearance import SERIF, text_width, wrap
from signing.demo_pki import ensure_demo_pki
from signing.placement import Ink, place

AGENCY = "UBND xã Hòa Bình"
LONG = "Ủy ban nhân dân xã Hòa Bình, huyện Ba Bể, tỉnh Thái Nguyên - Bộ phận tiếp nhận và trả kết quả"


def _stamp_boxes(path: Path) -> list[tuple[float, float, float, float]]:
    with pikepdf.open(path) as pdf:
        return [
            tuple(float(v) for v in annot.Rect)  # type: ignore[misc]
            for annot in pdf.pages[0].obj.get("/Annots", [])
            if annot.get("/Subtype") == "/Widget" and float(annot.Rect[2]) - float(annot.Rect[0]) > 1
        ]


def _font_sizes(path: Path) -> set[float]:
    """The size every stamp's text is drawn at: its Tf size times the scale of the matrices
    (cm, and the form XObjects' /Matrix) it is drawn under."""
    sizes: set[float] = set()

    def walk(stream: pikepdf.Object, scale: float) -> None:
        stack = [scale]
        for operands, operator in pikepdf.parse_content_stream(stream):
            op = str(operator)
            if op == "q":
                stack.append(stack[-1])
            elif op == "Q":
                stack.pop()
            elif op == "cm":
                stack[-1] *= float(operands[0])
            elif op == "Tf":
                sizes.add(round(float(operands[1]) * stack[-1], 2))
            elif op == "Do":
                xobject = stream.get("/Resources", {}).get("/XObject", {}).get(str(operands[0]))
                if xobject is not None and xobject.get("/Subtype") == "/Form":
                    matrix = xobject.get("/Matrix", [1, 0, 0, 1, 0, 0])
                    walk(xobject, stack[-1] * float(matrix[0]))

    with pikepdf.open(path) as pdf:
        for annot in pdf.pages[0].obj.get("/Annots", []):
            if annot.get("/Subtype") == "/Widget" and "/AP" in annot:
                walk(annot.AP.N, 1.0)
        return sizes


def _text_in(path: Path, box: tuple[float, float, float, float]) -> str:
    with pikepdf.open(path) as pdf:
        height = float(pdf.pages[0].mediabox[3])
    x0, y0, x1, y1 = box
    crop = ["-x", str(int(x0)), "-y", str(int(height - y1)), "-W", str(int(x1 - x0) + 1), "-H", str(int(y1 - y0) + 1)]
    return subprocess.run(["pdftotext", "-r", "72", *crop, str(path), "-"], capture_output=True, text=True).stdout


def test_lines_wrap_at_ten_points() -> None:
    lines = wrap(f"Ký bởi: {LONG}")
    assert len(lines) == 2 and " ".join(lines) == f"Ký bởi: {LONG}"
    assert all(text_width(line) <= 236 for line in lines)
    assert wrap("x" * 80)[0] == "x" * len(wrap("x" * 80)[0]) and len(wrap("x" * 80)) == 2  # a word cut in two


def test_the_stamp_is_ten_points_with_a_long_name_and_shows_the_signature_s_time(
    digitized_pdf: Path, pki_dir: Path, tmp_path: Path
) -> None:
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    out = tmp_path / "long.pdf"
    sign_pdf(digitized_pdf, out, signer, agency_name=LONG)
    assert _font_sizes(out) == {10.0}
    [box] = _stamp_boxes(out)
    text = " ".join(_text_in(out, box).split())
    assert "Thái Nguyên - Bộ phận tiếp nhận và trả kết quả" in text, text
    report = verify_pdf(out, [ensure_demo_pki(pki_dir, AGENCY).root_cert])
    [signature] = report.signatures
    when = re.search(r"Thời gian ký: (\S+)", text)
    assert when is not None and when.group(1) == signature.signing_time  # the signature's own time
    assert signature.signing_time.endswith("+07:00")  # type: ignore[union-attr]


def test_the_name_comes_from_the_certificate(digitized_pdf: Path, pki_dir: Path, tmp_path: Path) -> None:
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    out = tmp_path / "cert-name.pdf"
    sign_pdf(digitized_pdf, out, signer)  # no name given: the certificate's
    [box] = _stamp_boxes(out)
    assert f"Ký bởi: {signer.name}" in " ".join(_text_in(out, box).split())


def test_two_stamps_never_overlap_and_both_read_whole(digitized_pdf: Path, pki_dir: Path, tmp_path: Path) -> None:
    """Page 1 rendered to PNG: each stamp's text in its own box, one under the other."""
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    first, second = tmp_path / "1.pdf", tmp_path / "2.pdf"
    sign_pdf(digitized_pdf, first, signer, agency_name="UBND xã Hòa Bình")
    sign_pdf(first, second, signer, agency_name="Văn thư UBND xã Hòa Bình")
    upper, lower = sorted(_stamp_boxes(second), key=lambda b: -b[3])
    assert lower[3] <= upper[1]  # below, not across
    assert "Ký bởi: UBND xã Hòa Bình" in _text_in(second, upper)
    assert "Ký bởi: Văn thư UBND xã Hòa Bình" in _text_in(second, lower)
    subprocess.run(["pdftoppm", "-r", "72", "-f", "1", "-l", "1", "-png", str(second), str(tmp_path / "p")], check=True)
    page = np.asarray(Image.open(next(tmp_path.glob("p*.png"))).convert("L"))
    height = page.shape[0]
    for x0, y0, x1, y1 in (upper, lower):  # ink inside each stamp: its text was drawn
        assert (page[int(height - y1) : int(height - y0), int(x0) : int(x1)] < 128).any()
    assert verify_pdf(second, [ensure_demo_pki(pki_dir, AGENCY).root_cert]).ok


def _page_with_header(path: Path, *, full: bool = False) -> Path:
    """An A4 page at 100 dpi with the national motto at the top right (or ink all over the top)."""
    page = Image.new("L", (827, 1169), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(SERIF), 18)
    if full:
        draw.rectangle((0, 0, 827, 500), fill=0)
    else:
        draw.text((450, 60), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", font=font, fill=0)
        draw.text((500, 90), "Độc lập - Tự do - Hạnh phúc", font=font, fill=0)
    for n in range(20):
        draw.text((100, 300 + n * 30), "Nội dung văn bản hành chính " * 2, font=font, fill=0)
    page.save(path, dpi=(100, 100))
    return path


@pytest.mark.slow  # runs OCR
@pytest.mark.parametrize("full", [False, True])
def test_the_stamp_keeps_off_the_text_or_says_it_cannot(pki_dir: Path, tmp_path: Path, full: bool) -> None:
    from digitize import Source, digitize

    scan = _page_with_header(tmp_path / "trang.png", full=full)
    pdf = tmp_path / "trang.pdf"
    digitize([Source(scan, scan.name)], pdf, title="t", tessdata=ROOT / "ocr-models", jobs=1)
    out = tmp_path / "ky.pdf"
    info = sign_pdf(pdf, out, agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY))
    [box] = _stamp_boxes(out)
    from signing.placement import INK_DPI, page_ink

    ink = page_ink(pdf, (0, 0, 595.44, 841.68))
    assert ink.mask.shape[0] == pytest.approx(841.68 * INK_DPI / 72, abs=2)
    if full:
        assert ink.covers(box) and "che một phần chữ" in info["note"]
    else:
        assert not ink.covers(box) and "note" not in info
        assert box[1] > 841.68 * 2 / 3  # still in the top third, at the right margin
        assert box[2] == pytest.approx(595.44 - 28, abs=1)


def test_placement_stacks_below_earlier_stamps_and_reports_a_full_page() -> None:
    page = (0.0, 0.0, 595.0, 842.0)
    first = place((200, 40), page, [], None)
    second = place((200, 40), page, [first.box], None)
    assert second.box[3] <= first.box[1] - 4
    no_ink = Ink(np.zeros((421, 298), bool), page)
    assert place((200, 40), page, [], no_ink) == first
    from signing.errors import SigningError

    with pytest.raises(SigningError) as e:
        place((200, 40), page, [(0, 0, 595, 842)], None)
    assert e.value.field == "page" and "không còn chỗ trống" in e.value.vi

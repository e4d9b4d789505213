"""Large format: paper sizes, two-page spreads, blank pages and tiled OCR of sheets above A3."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import CORPUS, ROOT
from digitize import Source, digitize, largeformat
from digitize.validate import check_pdfa
from pages import FONT, render_page

MODELS = ROOT / "ocr-models"
CORPUS_PAGE = CORPUS / "linn.png"
LEFT = ["TRANG TRÁI", "Giấy chứng nhận quyền sử dụng đất", "Thửa đất số 125, tờ bản đồ số 7"]
RIGHT = ["TRANG PHẢI", "Sơ đồ thửa đất và tài sản gắn liền", "Những thay đổi sau khi cấp giấy"]


@pytest.fixture(autouse=True)
def pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's limit as digitize sets it: an ingest test may have left a small one, and without a
    digitizing test in between (the fast tier) the sheets here would pass for decompression bombs."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250_000_000)


def text_of(pdf: Path, page: int) -> str:
    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True)
    return out.stdout


@pytest.mark.parametrize(
    ("mm", "paper"),
    [((210, 297), "A4"), ((297, 210), "A4"), ((300, 425), "A3"), ((841, 1189), "A0"), ((1000, 1500), "lớn hơn A0")],
)
def test_paper_size_by_physical_size(mm: tuple[int, int], paper: str) -> None:
    dpi = (300.0, 300.0)
    px = [round(v / 25.4 * 300) for v in mm]
    assert largeformat.paper_size(px[0], px[1], dpi) == paper


def test_tile_cores_cover_the_page_exactly_once() -> None:
    width, height = 9933, 14043  # A0 at 300 dpi
    layout = largeformat.tiles(width, height)
    assert len(layout) > 1
    covered = np.zeros((height // 50 + 1, width // 50 + 1), dtype=int)
    for tile in layout:
        x0, y0, x1, y1 = tile.box
        assert x1 - x0 <= largeformat.TILE_PX + 1 and y1 - y0 <= largeformat.TILE_PX + 1
        cx0, cy0, cx1, cy1 = tile.core
        assert x0 <= cx0 < cx1 <= x1 and y0 <= cy0 < cy1 <= y1
        covered[-(-cy0 // 50) : -(-cy1 // 50), -(-cx0 // 50) : -(-cx1 // 50)] += 1
    assert (covered == 1).all()


@pytest.mark.slow  # OCR
def test_spread_is_split_in_reading_order_sharing_the_scan(tmp_path: Path) -> None:
    left, right = render_page(LEFT), render_page(RIGHT)
    spread = Image.new("RGB", (left.width * 2, left.height), "white")
    spread.paste(left, (0, 0))
    spread.paste(right, (left.width, 0))
    path = tmp_path / "trang-doi.jpg"
    spread.save(path, quality=90, dpi=(300, 300))
    out = tmp_path / "out.pdf"
    result = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=2)
    assert [(p.part, p.paper) for p in result.pages] == [("trái", "A4"), ("phải", "A4")]
    assert "TRANG TRÁI" in text_of(out, 1) and "TRANG PHẢI" not in text_of(out, 1)
    assert "TRANG PHẢI" in text_of(out, 2)
    assert check_pdfa(out).passed
    with pikepdf.open(out) as pdf:
        images = {page.get_images()["/Scan"].objgen for page in pdf.pages}
        assert len(images) == 1  # both pages show the one JPEG, stored once, byte for byte
        assert pdf.pages[0].get_images()["/Scan"].read_raw_bytes() == path.read_bytes()
        widths = [round(float(p.mediabox[2])) for p in pdf.pages]
        assert widths == [595, 595]
    never = digitize([Source(path, path.name)], tmp_path / "n.pdf", title="t", tessdata=MODELS, jobs=2, spreads="never")
    assert [p.part for p in never.pages] == [""] and never.pages[0].paper == "A3"


def test_a_landscape_page_with_lines_across_the_middle_is_not_split(tmp_path: Path) -> None:
    wide = ["BẢNG TỔNG HỢP HỒ SƠ TIẾP NHẬN TRONG THÁNG NĂM TẠI BỘ PHẬN MỘT CỬA CẤP XÃ VÀ CẤP HUYỆN"] * 8
    img = render_page(wide, size_mm=(297, 210))
    ink = largeformat.analysis_copy(img, 300)
    assert largeformat.find_gutter(ink) is None
    half_empty = render_page(LEFT, size_mm=(297, 210))  # text on the left only: one page with a margin
    assert largeformat.find_gutter(largeformat.analysis_copy(half_empty, 300)) is None


@pytest.mark.slow  # OCR
def test_blank_pages_are_flagged_or_dropped(page_png: Path, tmp_path: Path) -> None:
    blank = tmp_path / "trang-trang.png"
    img = Image.new("L", (2480, 3508), 255)
    ImageDraw.Draw(img).rectangle([0, 0, 30, 3508], fill=0)  # a scanner's edge shadow is not content
    img.save(blank, dpi=(300, 300))
    sources = [Source(page_png, page_png.name), Source(blank, blank.name)]
    flagged = digitize(sources, tmp_path / "f.pdf", title="t", tessdata=MODELS, jobs=2)
    assert [p.blank for p in flagged.pages] == [False, True]
    assert flagged.pages[1].notices[0]["code"] == "blank-page"
    with pikepdf.open(tmp_path / "f.pdf") as pdf:
        assert len(pdf.pages) == 2
    dropped = digitize(sources, tmp_path / "d.pdf", title="t", tessdata=MODELS, jobs=2, blanks="drop")
    assert [p.dropped for p in dropped.pages] == [False, True]
    assert "đã bỏ" in dropped.pages[1].notices[0]["vi"]
    with pikepdf.open(tmp_path / "d.pdf") as pdf:
        assert len(pdf.pages) == 1


@pytest.mark.slow  # OCR
def test_large_sheet_is_read_in_tiles_without_duplicates(tmp_path: Path) -> None:
    """An A2 drawing at 300 dpi: its title block and a label on a tile seam, each read once."""
    width, height = round(420 / 25.4 * 300), round(594 / 25.4 * 300)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 60)
    for y in range(300, height - 300, 900):
        draw.line([(150, y), (width - 150, y)], fill=0, width=4)
    draw.rectangle([width - 2200, height - 900, width - 150, height - 150], outline=0, width=6)
    draw.text((width - 2150, height - 850), "BẢN VẼ MẶT BẰNG TẦNG MỘT", font=font, fill=0)
    draw.text((width - 2150, height - 730), "Công trình: nhà ở riêng lẻ", font=font, fill=0)
    layout = largeformat.tiles(width, height)
    seam = layout[0].core[2]  # where the first tile's core ends: a label straddles it
    draw.text((seam - 300, 1500), "Phòng khách", font=font, fill=0)
    path = tmp_path / "ban-ve.png"
    img.save(path, dpi=(300, 300))
    out = tmp_path / "ban-ve.pdf"
    [page] = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=2).pages
    assert page.paper == "A2" and page.tiles == len(layout) > 1
    text = text_of(out, 1)
    assert text.count("BẢN VẼ MẶT BẰNG TẦNG MỘT") == 1
    assert text.count("Phòng khách") == 1
    assert check_pdfa(out).passed
    with pikepdf.open(out) as pdf:
        assert [round(float(v)) for v in pdf.pages[0].mediabox] == [0, 0, 1191, 1684]  # true A2 size


@pytest.mark.slow  # OCR
def test_colour_jpeg_sheet_is_read_from_a_grey_decode_and_kept_as_scanned(tmp_path: Path) -> None:
    """A colour map scanned to JPEG at A2: decoded for OCR straight to grey (one byte a pixel,
    not four), while the PDF keeps the JPEG byte for byte."""
    from digitize.ingest import iter_pages
    from digitize.pipeline import _decode

    width, height = round(420 / 25.4 * 200), round(594 / 25.4 * 200)
    img = Image.new("RGB", (width, height), (250, 240, 210))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 40)
    draw.text((200, 200), "BẢN ĐỒ HIỆN TRẠNG SỬ DỤNG ĐẤT", font=font, fill=(120, 20, 20))
    path = tmp_path / "ban-do.jpg"
    img.save(path, quality=90, dpi=(200, 200))
    [scan] = iter_pages(path, path.name, tmp_path, max_pixels=10**8, render_dpi=300)
    ink, sheet = _decode(scan, large=True)
    assert sheet is not None and sheet.mode == "L" and sheet.size == (width, height) and ink.any()
    out = tmp_path / "ban-do.pdf"
    [page] = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=2).pages
    assert page.paper == "A2" and "BẢN ĐỒ HIỆN TRẠNG SỬ DỤNG ĐẤT" in text_of(out, 1)
    with pikepdf.open(out) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.read_raw_bytes() == path.read_bytes()


@pytest.mark.slow  # OCR: a blank sheet is read too, to confirm it is blank
def test_drawing_below_300_dpi_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "ban-do.png"
    Image.new("L", (round(594 / 25.4 * 150), round(420 / 25.4 * 150)), 255).save(path, dpi=(150, 150))
    [page] = digitize([Source(path, path.name)], tmp_path / "o.pdf", title="t", tessdata=MODELS, jobs=1).pages
    assert page.paper == "A2"
    assert "low-dpi-drawing" in [n["code"] for n in page.notices]


@pytest.mark.slow  # OCR
def test_a_portrait_page_turned_sideways_is_not_taken_for_a_spread(tmp_path: Path) -> None:
    path = tmp_path / "nghieng.png"
    render_page().convert("L").rotate(90, expand=True).save(path, dpi=(300, 300))  # landscape-shaped now
    out = tmp_path / "o.pdf"
    [page] = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=2).pages
    assert page.part == "" and page.rotate == 90
    assert "ĐƠN ĐĂNG KÝ KHAI SINH" in text_of(out, 1)


@pytest.mark.slow  # OCR
def test_print_set_tiles_a_large_sheet_with_labelled_overlapping_parts(tmp_path: Path) -> None:
    from digitize.printset import print_set

    width, height = round(420 / 25.4 * 150), round(594 / 25.4 * 150)  # A2 at 150 dpi
    img = Image.new("L", (width, height), 255)
    ImageDraw.Draw(img).text(
        (width - 900, height - 300), "KHUNG TÊN BẢN VẼ", fill=0, font=ImageFont.truetype(str(FONT), 40)
    )
    sheet_png = tmp_path / "a2.png"
    img.save(sheet_png, dpi=(150, 150))
    src = tmp_path / "src.pdf"
    digitize([Source(sheet_png, "a2.png"), Source(CORPUS_PAGE, "a4.png")], src, title="t", tessdata=MODELS, jobs=2)
    out = tmp_path / "in.pdf"
    sheets = print_set(src, out, sheet="A4", overlap_mm=10)
    drawing = [s for s in sheets if s.page == 1]
    assert len(drawing) == 6 and {(s.rows, s.cols) for s in drawing} == {(3, 2)}  # A4 landscape: 6, not 9
    assert [s for s in sheets if s.page == 2] == [type(sheets[0])(2, 1, 1, 1, 1)]  # an A4 page stays whole
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 7
        assert [round(float(v)) for v in pdf.pages[0].mediabox] == [0, 0, 842, 595]
    # The title block, bottom right, is on the last sheet of the drawing and only partly on its neighbour.
    assert "KHUNG TÊN BẢN VẼ" in text_of(out, 6)


def test_one_line_on_a_large_sheet_is_not_blank() -> None:
    width, height = round(841 / 25.4 * 200), round(1189 / 25.4 * 200)  # A0 at 200 dpi
    sheet = Image.new("L", (width, height), 255)
    assert largeformat.is_blank(largeformat.analysis_copy(sheet, 200))
    ImageDraw.Draw(sheet).text((3000, 5000), "Ghi chú", fill=0, font=ImageFont.truetype(str(FONT), 50))
    assert not largeformat.is_blank(largeformat.analysis_copy(sheet, 200))

"""Faded, low-contrast and low-resolution pages (issue 16, item 1): the ink mask every layout
decision uses measures the page's own paper and ink, a page is blank only when the mask and OCR
agree, and a page whose file gives no usable resolution is measured by its text and read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont
from test_reading import cer

from conftest import ROOT
from digitize import Source, digitize, largeformat, orientation
from digitize.ingest import iter_pages
from pages import FONT, TEXT, faded, render_page

MODELS = ROOT / "ocr-models"
PAGE = TEXT * 2  # 20 lines of a form at 14 pt

# The class, corner to corner: grey text 60-150 on paper 170-235, JPEG quality 30-50, blur, low
# toner, light falling off across the page, yellowed and blue paper, and a dark card (paper
# darker than the old fixed threshold of 128).
WORN: dict[str, dict[str, Any]] = {
    "faintest": {"text": 150, "paper": 170, "quality": 30, "blur": 1.2, "toner": 0.5, "shade": 0.1},
    "grey-on-white": {"text": 150, "paper": 235, "quality": 40, "blur": 1.0, "toner": 0.6},
    "dark-on-grey": {"text": 60, "paper": 170, "quality": 50, "blur": 0.6, "shade": 0.25},
    "black-on-white-q30": {"text": 60, "paper": 235, "quality": 30},
    "low-toner": {"text": 105, "paper": 200, "quality": 35, "blur": 1.0, "toner": 0.4},
    "yellowed": {"text": (40, 35, 60), "paper": (222, 200, 140), "quality": 40, "shade": 0.15},
    "blue": {"text": (30, 30, 70), "paper": (150, 185, 225), "quality": 35},
    "dark-card": {"text": (15, 15, 25), "paper": (95, 115, 160), "quality": 45, "blur": 0.6},
}


@pytest.fixture(autouse=True)
def pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's limit as digitize sets it (an ingest test may have left a small one)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250_000_000)


@pytest.fixture(scope="module")
def clean() -> Image.Image:
    return render_page(PAGE, mode="L")


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ink masks."""
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize("case", WORN)
def test_the_mask_of_a_worn_page_is_the_mask_of_the_clean_page(case: str, clean: Image.Image) -> None:
    """With the fixed threshold these masks were empty (the page called blank) or, on dark paper,
    solid (no line, no margin, no gutter to find)."""
    expected = largeformat.analysis_copy(clean, 300)
    ink = largeformat.analysis_copy(faded(clean, **WORN[case]), 300)
    assert not largeformat.is_blank(ink)
    assert ink.shape == expected.shape and overlap(ink, expected) > 0.6


@pytest.mark.parametrize(("case", "turn"), [("faintest", 180), ("low-toner", 90), ("dark-card", 270), ("blue", 180)])
def test_a_worn_page_fed_turned_shows_its_turn_in_the_ink(case: str, turn: int, clean: Image.Image) -> None:
    turned = clean.rotate(turn, expand=True)  # PIL turns counter-clockwise: the page needs `turn` clockwise
    assert orientation.from_ink(largeformat.analysis_copy(faded(turned, **WORN[case]), 300)) == (turn,)


@pytest.mark.parametrize("case", ["faintest", "yellowed", "dark-card"])
def test_a_worn_two_page_spread_is_split_at_its_gutter(case: str) -> None:
    half = render_page(TEXT, mode="L", dpi=200)
    spread = Image.new("L", (half.width * 2, half.height), 255)
    spread.paste(half, (0, 0))
    spread.paste(half, (half.width, 0))
    ink = largeformat.analysis_copy(faded(spread, **WORN[case], dpi=200), 200)
    assert largeformat.find_gutter(ink) == 0.5


@pytest.mark.parametrize(
    ("paper", "mark"),
    [(170, "nothing"), (235, "dust"), (200, "edge shadow"), ((222, 200, 140), "dust"), ((95, 115, 160), "nothing")],
)
def test_blank_paper_stays_blank_in_the_mask(paper: Any, mark: str) -> None:
    """Paper of any shade, JPEG noise, light falling off, dust and a scanner's edge shadow are no ink."""
    sheet = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(sheet)
    rng = np.random.default_rng(3)
    if mark == "dust":
        for x, y in zip(rng.integers(100, 2380, 40), rng.integers(100, 3400, 40), strict=True):
            draw.ellipse([int(x), int(y), int(x) + 3, int(y) + 3], fill=0)
    elif mark == "edge shadow":
        draw.rectangle([0, 0, 40, 3508], fill=0)
    worn = faded(sheet, text=40, paper=paper, quality=30, shade=0.2)
    assert largeformat.is_blank(largeformat.analysis_copy(worn, 300))


def letter_photo(path: Path) -> Path:
    """A clear photo or screen capture of a letter: 576x960 pixels (about 70 dpi over A4), no dpi."""
    a4 = render_page(PAGE, mode="L").resize((579, 819), Image.Resampling.LANCZOS)
    photo = Image.new("L", (576, 960), 255)
    photo.paste(a4, (-2, 40))
    photo.save(path, quality=85)  # no dpi=: the file records no resolution
    return path


def test_a_letter_without_a_resolution_is_measured_by_its_text(tmp_path: Path) -> None:
    """576x960 fits no paper at a scanner's setting: it was taken as 300 dpi (a page 5 cm wide).
    The height of its lines says about 70 dpi; under 200 dpi, said so."""
    path = letter_photo(tmp_path / "thu.jpg")
    [page] = iter_pages(path, path.name, tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi[0] == page.dpi[1] == pytest.approx(70, rel=0.15)
    assert [n["code"] for n in page.notices] == ["dpi-estimated", "low-dpi"]
    assert "thu.jpg" in page.notices[0]["vi"] and "dpi" in page.notices[0]["en"]


def test_a_phone_photo_tagged_72_dpi_is_measured_by_its_text(tmp_path: Path) -> None:
    """72 dpi is what a camera or a screen capture writes when it knows none: an A4 page at 300 dpi
    tagged so would be a sheet 34 inches wide, tiled as a drawing."""
    path = tmp_path / "anh.jpg"
    render_page(PAGE, mode="L").save(path, quality=85, dpi=(72, 72))
    [page] = iter_pages(path, path.name, tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi[0] == pytest.approx(300, rel=0.15)
    assert [n["code"] for n in page.notices] == ["dpi-estimated"]
    plain = tmp_path / "may-quet.png"  # a scanner's own 150 dpi is believed, whatever the text says
    render_page(PAGE, mode="L").save(plain, dpi=(150, 150))
    [page] = iter_pages(plain, plain.name, tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi == pytest.approx((150, 150), abs=0.1) and [n["code"] for n in page.notices] == ["low-dpi"]


@pytest.mark.parametrize("points", [72, 96])
def test_a_photo_made_into_a_pdf_at_a_point_a_pixel_is_measured_by_its_text(tmp_path: Path, points: int) -> None:
    """A phone photo or capture made into a PDF at one point (or 1/96 inch) a pixel: its page says
    72 (96) dpi, a sheet 34 inches wide, which would be tiled as a drawing and called under 200 dpi.
    Its text says 300 dpi. A PDF page whose text agrees keeps its own, as does a scanner's 150 dpi."""
    path = tmp_path / "anh.pdf"
    render_page(PAGE, mode="L").save(path, "PDF", resolution=points, quality=85)
    [page] = iter_pages(path, path.name, tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi[0] == pytest.approx(300, rel=0.15)
    assert [n["code"] for n in page.notices] == ["dpi-estimated"] and "anh.pdf, trang 1" in page.notices[0]["vi"]
    screen = tmp_path / "man-hinh.pdf"  # a capture whose text is at screen size: 72 dpi is right
    render_page(PAGE, mode="L", dpi=points).save(screen, "PDF", resolution=points)
    [page] = iter_pages(screen, screen.name, tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi == pytest.approx((points, points), abs=0.5) and [n["code"] for n in page.notices] == ["low-dpi"]
    scanner = tmp_path / "may-quet.pdf"
    render_page(PAGE, mode="L").save(scanner, "PDF", resolution=150)
    [page] = iter_pages(scanner, scanner.name, tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi == pytest.approx((150, 150), abs=0.1) and [n["code"] for n in page.notices] == ["low-dpi"]


@pytest.mark.slow  # OCR
def test_faded_pages_are_read_and_only_the_blank_one_is_flagged(tmp_path: Path) -> None:
    """A batch where some pages are worn copies: every one is read; only the empty sheet is blank."""
    sources = []
    for case in ("faintest", "dark-card"):
        path = tmp_path / f"{case}.jpg"
        faded(render_page(TEXT, mode="L"), **WORN[case]).save(path, quality=95, dpi=(300, 300))
        sources.append(Source(path, path.name))
    blank = tmp_path / "trang-trang.jpg"
    faded(Image.new("L", (2480, 3508), 255), text=40, paper=200, quality=30, shade=0.2).save(blank, dpi=(300, 300))
    sources.append(Source(blank, blank.name))
    result = digitize(sources, tmp_path / "f.pdf", title="t", tessdata=MODELS, jobs=2)
    assert [p.blank for p in result.pages] == [False, False, True]
    for page in result.pages[:2]:
        assert cer(page.text, "\n".join(TEXT)) < 0.02, page.text
    assert [n["code"] for n in result.notices] == ["blank-page"]


@pytest.mark.slow  # OCR
def test_drop_leaves_out_only_what_ocr_also_finds_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even where the mask sees no ink at all, a page OCR reads words on is kept, not dropped."""
    monkeypatch.setattr(largeformat, "is_blank", lambda ink: True)
    page, blank = tmp_path / "don.png", tmp_path / "trang-trang.png"
    render_page(TEXT, mode="L").save(page, dpi=(300, 300))
    Image.new("L", (2480, 3508), 255).save(blank, dpi=(300, 300))
    sources = [Source(page, page.name), Source(blank, blank.name)]
    result = digitize(sources, tmp_path / "d.pdf", title="t", tessdata=MODELS, jobs=2, blanks="drop")
    assert [(p.blank, p.dropped) for p in result.pages] == [(False, False), (True, True)]
    assert "ĐƠN ĐĂNG KÝ KHAI SINH" in result.pages[0].text
    with pikepdf.open(tmp_path / "d.pdf") as pdf:
        assert len(pdf.pages) == 1


@pytest.mark.slow  # OCR
def test_a_letter_photo_without_a_resolution_is_read(tmp_path: Path) -> None:
    """Called blank before (OCRmyPDF reads such a page at 8-14 % CER): now read, enlarged for the
    engine, on a page of about A4 width, with the under-200-dpi notice."""
    path = letter_photo(tmp_path / "thu.jpg")
    out = tmp_path / "thu.pdf"
    [page] = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=2).pages
    assert not page.blank
    assert cer(page.text, "\n".join(PAGE)) < 0.03, page.text
    assert {"dpi-estimated", "low-dpi"} <= {n["code"] for n in page.notices}
    with pikepdf.open(out) as pdf:
        width_mm = float(pdf.pages[0].mediabox[2]) / 72 * 25.4
    assert width_mm == pytest.approx(210, rel=0.15)


def test_only_a_coarse_scan_is_enlarged_for_the_engine() -> None:
    """Under 150 dpi a page is enlarged to 200 dpi for OCR; a file that says 1 dpi (G4 TIFFs written
    without a resolution do) says nothing, and is not blown up 200 times."""
    from digitize import ocr

    page = Image.new("L", (576, 960), 255)
    enlarged = ocr._enlarged(page, 72)
    assert enlarged is not None and enlarged[0].size == (1600, 2667) and enlarged[1] == pytest.approx(200 / 72)
    page.info["dpi"] = (1, 1)
    assert ocr._enlarged(page, None) is None and ocr._enlarged(page, 150) is None and ocr._enlarged(page, 300) is None
    line = ocr.Line(144, 72, 288, 36, (ocr.Word("Kính", 144, 72, 100, 36, 96.0),))
    assert ocr._shrunk([line], 2.0) == [ocr.Line(72, 36, 144, 18, (ocr.Word("Kính", 72, 36, 50, 18, 96.0),))]


@pytest.mark.slow  # OCR
@pytest.mark.parametrize(("size", "x"), [(90, 1581), (150, 1386), (200, 1201), (200, 1301)])
def test_a_label_across_a_tile_seam_is_read_whole(size: int, x: int) -> None:
    """Issue 16: on an A0 drawing a label on a tile seam lost a letter or a word. A word the
    tile's edge cuts is read from the tile that holds it whole, wherever its centre lies; a line
    across the seam is read again whole: at 200-px lettering "trước" is wider than the tiles'
    overlap (no tile holds it whole), or held by the right tile 15 px from its edge ("tƯỚC")."""
    from concurrent.futures import ThreadPoolExecutor

    from digitize import ocr

    sheet = Image.new("L", (3600, 1500), 255)  # two tiles side by side, their cores meeting at x = 1800
    ImageDraw.Draw(sheet).text((x, 700), "Sân trước", font=ImageFont.truetype(str(FONT), size), fill=0)
    assert [(t.box[0], t.core[0]) for t in largeformat.tiles(*sheet.size)] == [(0, 0), (1600, 1800)]

    def recognize(image: Image.Image) -> list[ocr.Line]:
        return ocr.recognize(image, languages="vie", tessdata=MODELS, label="bản vẽ", dpi=300)

    with ThreadPoolExecutor(2) as pool:
        lines = largeformat.recognize_tiled(sheet, recognize, pool)
    assert [line.text for line in lines] == ["Sân trước"]


@pytest.mark.parametrize("right", [["Phụ lục"], ["Ghi chú:", "Trang 2", "Ký tên"]])
def test_a_spread_whose_right_page_holds_a_few_short_lines_is_split(right: list[str]) -> None:
    """Issue 16: such a spread was taken for one page (the outer two fifths of its right half
    hold no ink); the white band through the middle, a margin wide on each side, says two pages."""
    left = render_page(PAGE, mode="L")
    spread = Image.new("L", (left.width * 2, left.height), 255)
    spread.paste(left, (0, 0))
    spread.paste(render_page(right, mode="L"), (left.width, 0))
    assert largeformat.find_gutter(largeformat.analysis_copy(spread, 300)) == 0.5
    one = render_page(TEXT[:3], mode="L", size_mm=(297, 210))  # one landscape page: text at the left,
    ImageDraw.Draw(one).text(
        (3200, 2300), "2", fill=0, font=ImageFont.truetype(str(FONT), 58)
    )  # its number at the right
    assert largeformat.find_gutter(largeformat.analysis_copy(one, 300)) is None

"""Reading a page: its orientation from the ink alone when that is plain (OSD only when it is
not), straightening before the first pass, and what the engine is given. Real Tesseract, on
rendered Vietnamese pages and on real scans of the corpus."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CORPUS, ROOT
from digitize import Source, deskew, digitize, ocr, orientation
from digitize.ingest import iter_pages
from digitize.largeformat import analysis_copy
from digitize.reading import Reading, read_page
from pages import TEXT, render_page

MODELS = ROOT / "ocr-models"


@pytest.fixture(autouse=True)
def pixel_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's limit as digitize sets it (ingest sets it per call; an ingest test may have left a small one)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 250_000_000)


def cer(text: str, truth: str) -> float:
    """Character error rate after NFC and whitespace normalisation (plain edit distance)."""
    a, b = (" ".join(unicodedata.normalize("NFC", s).split()) for s in (truth, text))
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1] / max(1, len(a))


def text_of(reading: Reading) -> str:
    return "\n".join(line.text for line in reading.lines)


@pytest.fixture
def osd_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every call of Tesseract's orientation detection, counted."""
    calls: list[object] = []
    real = ocr.detect_orientation

    def counted(image: Path | Image.Image, *, tessdata: Path) -> ocr.Osd | None:
        calls.append(image)
        return real(image, tessdata=tessdata)

    monkeypatch.setattr(ocr, "detect_orientation", counted)
    return calls


def reader(languages: str, passes: list[int]) -> Callable[[Path | Image.Image], list[ocr.Line]]:
    def recognize(image: Path | Image.Image) -> list[ocr.Line]:
        passes.append(1)
        return ocr.recognize(image, languages=languages, tessdata=MODELS, label="trang")

    return recognize


def read(image: Image.Image, dpi: float, passes: list[int], languages: str = "vie") -> Reading:
    ink = analysis_copy(image, dpi)
    return read_page(image, dpi, ink, recognize=reader(languages, passes), tessdata=MODELS)


@pytest.mark.parametrize("dpi", [300, 200])
@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_turned_vietnamese_page_is_read_upright_in_one_pass_without_osd(
    dpi: int, turn: int, osd_calls: list[object]
) -> None:
    page = render_page(dpi=dpi).convert("L").rotate(turn, expand=True)  # PIL turns counter-clockwise
    passes: list[int] = []
    reading = read(page, dpi, passes)
    assert reading.rotate == turn
    assert cer(text_of(reading), "\n".join(TEXT)) < 0.01
    assert len(passes) == 1 and not osd_calls  # the ink told the turn: no OSD, no second pass


def test_turned_and_skewed_vietnamese_pages_through_the_pipeline(
    tmp_path: Path, osd_calls: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the benchmark makes them: 300-dpi grey PNG, turned a quarter or a half, or skewed;
    one OCR pass each and no OSD."""
    upright = render_page(dpi=300).convert("L")
    cases = {
        "quay-90.png": upright.rotate(90, expand=True),
        "quay-180.png": upright.rotate(180, expand=True),
        "quay-270.png": upright.rotate(270, expand=True),
        "nghieng.png": upright.rotate(4.5, resample=Image.Resampling.BICUBIC, fillcolor=255),
        "nghieng-nguoc.png": upright.rotate(180 - 3, resample=Image.Resampling.BICUBIC, fillcolor=255),
    }
    sources = []
    for name, image in cases.items():
        image.save(tmp_path / name, dpi=(300, 300))
        sources.append(Source(tmp_path / name, name))
    passes: list[object] = []
    real = ocr.recognize

    def counted(image: Path | Image.Image, **kw: str | Path) -> list[ocr.Line]:
        passes.append(image)
        return real(image, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ocr, "recognize", counted)
    result = digitize(sources, tmp_path / "out.pdf", title="t", tessdata=MODELS, jobs=2)
    assert [p.rotate for p in result.pages] == [90, 180, 270, 0, 180]
    assert [p.skew for p in result.pages][3:] == [pytest.approx(-4.5, abs=0.3), pytest.approx(3, abs=0.3)]
    for page in result.pages:
        assert cer(page.text, "\n".join(TEXT)) < 0.01, page.source
    assert len(passes) == len(sources) and not osd_calls


@pytest.mark.parametrize("name", ["linn.png", "typewriter.png"])
def test_real_scans_tell_every_turn_from_their_ink(name: str) -> None:
    scan = Image.open(CORPUS / name)
    for turn in (0, 90, 180, 270):
        ink = analysis_copy(scan.rotate(turn, expand=True), 300)
        assert orientation.from_ink(ink) == (turn,), turn


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_real_scan_turned_is_read_upright_without_osd(turn: int, osd_calls: list[object]) -> None:
    """linn.png, a 300-dpi bilevel brochure scan, fed sideways or upside down."""
    passes: list[int] = []
    reading = read(Image.open(CORPUS / "linn.png").rotate(turn, expand=True), 300, passes, languages="eng")
    assert reading.rotate == turn and len(passes) == 1 and not osd_calls
    expected = set((CORPUS / "linn.txt").read_text(encoding="utf-8").split())
    assert len(expected & set(text_of(reading).split())) / len(expected) > 0.9


def test_ambiguous_ink_still_asks_osd(tmp_path: Path, osd_calls: list[object]) -> None:
    """epson.pdf, a real scan of a printed web page, turned a quarter: its lines run vertically, but carry
    about as much ink above as below their core, so only OSD can tell 90 from 270."""
    [page] = iter_pages(CORPUS / "epson.pdf", "epson.pdf", tmp_path, max_pixels=10**8, render_dpi=300)
    scan = Image.open(page.path).rotate(90, expand=True)
    ink = analysis_copy(scan, min(page.dpi))
    assert orientation.looks_sideways(ink) and orientation.from_ink(ink) == (90, 270)
    passes: list[int] = []
    reading = read(scan, min(page.dpi), passes, languages="eng")
    assert len(osd_calls) == 1 and reading.rotate == 90 and len(passes) == 1
    assert "Optical character recognition" in text_of(reading)


def test_a_wrong_guess_is_caught_after_ocr(monkeypatch: pytest.MonkeyPatch, osd_calls: list[object]) -> None:
    """The safety net stays: a page read upside down reads badly, OSD is asked, the page is read again."""
    monkeypatch.setattr(orientation, "from_ink", lambda ink, slope=None: (180,))
    passes: list[int] = []
    reading = read(render_page(dpi=300).convert("L"), 300, passes)
    assert reading.rotate == 0 and len(passes) == 2 and len(osd_calls) == 1
    assert cer(text_of(reading), "\n".join(TEXT)) < 0.01


def test_ink_evidence_levels_skewed_lines_first() -> None:
    """Skewed lines blur into one another in the row profile; levelled, they tell up from down."""
    upright = render_page(dpi=300).convert("L")
    for angle in (4.0, -6.0):
        skewed = upright.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
        assert orientation.from_ink(analysis_copy(skewed, 300)) == (0,)
        assert orientation.from_ink(analysis_copy(skewed.rotate(180), 300)) == (180,)


@pytest.mark.parametrize("turn", [90, 270])
def test_sideways_and_skewed_page_is_read_in_one_pass_without_osd(turn: int, osd_calls: list[object]) -> None:
    """Fed sideways and 3° askew, a full page leaves no empty column: levelled as if sideways, it does."""
    page = render_page(TEXT * 3, dpi=300).convert("L").rotate(3, resample=Image.Resampling.BICUBIC, fillcolor=255)
    turned = page.rotate(turn, expand=True)
    assert not orientation.looks_sideways(analysis_copy(turned, 300))
    passes: list[int] = []
    reading = read(turned, 300, passes)
    assert reading.rotate == turn and reading.skew == pytest.approx(-3, abs=0.3)
    assert len(passes) == 1 and not osd_calls
    assert cer(text_of(reading), "\n".join(TEXT * 3)) < 0.01


def test_too_little_text_says_nothing() -> None:
    assert orientation.upright_ratio(np.zeros((100, 80), dtype=bool)) == 1.0
    one_line = analysis_copy(render_page(TEXT[:2], dpi=300), 300)
    assert orientation.upright_ratio(one_line) == 1.0  # two lines: not enough to tell


def test_small_plain_slope_is_straightened_before_the_first_pass(osd_calls: list[object]) -> None:
    """Read as scanned, a page sloping 0.6° took a second pass; its rows show the slope plainly."""
    level = render_page(dpi=300).convert("L")
    skewed = level.rotate(0.6, resample=Image.Resampling.BICUBIC, fillcolor=255)
    slope = deskew.measure(analysis_copy(skewed, 300))
    assert slope.angle == pytest.approx(-0.6, abs=0.25) and slope.first == slope.angle
    passes: list[int] = []
    reading = read(skewed, 300, passes)
    assert reading.skew == slope.angle and len(passes) == 1
    assert cer(text_of(reading), "\n".join(TEXT)) < 0.01
    flat = deskew.measure(analysis_copy(level, 300))
    assert flat.first == 0.0  # a level page is not turned by a hair
    assert deskew.Slope(0.6, gain=1.05).first == 0.0  # a slope the rows do not show waits for the reading
    assert deskew.Slope(-1.5, gain=1.0).first == -1.5


@pytest.mark.slow  # OCR
@pytest.mark.parametrize("mode", ["1", "L", "RGB"])
def test_an_image_in_memory_reads_as_its_file_does(mode: str, tmp_path: Path) -> None:
    """Copies go to the engine as raw pixels (1 bit packed, grey, RGB) with the scan's resolution:
    the same words in the same boxes as from the file, odd widths included."""
    page = render_page(TEXT[:4], dpi=200).crop((0, 0, 1651, 900))  # width not a multiple of 8
    image = page.convert("L").point(lambda v: 255 if v > 128 else 0, "1") if mode == "1" else page.convert(mode)
    path = tmp_path / "trang.png"
    image.save(path, dpi=(200, 200))
    with Image.open(path) as stored:
        stored.load()
        from_memory = ocr.recognize(stored, languages="vie", tessdata=MODELS, label="trang")
    from_file = ocr.recognize(path, languages="vie", tessdata=MODELS, label="trang")
    assert from_memory == from_file
    assert "ĐƠN ĐĂNG KÝ KHAI SINH" in [line.text for line in from_memory]


@pytest.mark.slow  # OCR (orientation detection)
@pytest.mark.parametrize("turn", [90, 180, 270])
def test_osd_on_a_small_copy_of_jpeg_png_and_memory(turn: int, tmp_path: Path) -> None:
    turned = render_page(dpi=300).convert("L").rotate(turn, expand=True)
    jpeg, png = tmp_path / "trang.jpg", tmp_path / "trang.png"
    turned.save(jpeg, quality=90, dpi=(300, 300))
    turned.save(png, dpi=(300, 300))
    for image in (jpeg, png, turned):
        assert orientation.detect(image, 300, tessdata=MODELS) == turn, image


@pytest.mark.slow  # OCR
def test_grey_and_colour_scans_are_smoothed_for_reading_from_250_dpi(tmp_path: Path) -> None:
    from pages import scanned_page

    page = scanned_page(dpi=300)
    page.info["dpi"] = (300, 300)
    smoothed = ocr._smoothed(page, None)
    assert isinstance(smoothed, Image.Image) and smoothed.mode == "L" and smoothed.info["dpi"] == (300, 300)
    grey = np.asarray(page.convert("L"), dtype=float)
    assert np.asarray(smoothed, dtype=float).std() < 0.9 * grey.std()  # the sensor noise is damped
    path = tmp_path / "mau.jpg"
    page.save(path, quality=90, dpi=(300, 300))
    assert isinstance(ocr._smoothed(path, None), Image.Image)  # a file is read and smoothed the same way
    low = scanned_page(dpi=200)
    low.info["dpi"] = (200, 200)
    bilevel = page.convert("1")
    bilevel.info["dpi"] = (300, 300)
    assert ocr._smoothed(low, None) is low and ocr._smoothed(bilevel, None) is bilevel
    assert ocr._smoothed(low, 300) is not low  # the scan's resolution as the pipeline knows it wins
    assert "ĐƠN ĐĂNG KÝ KHAI SINH" in [
        line.text for line in ocr.recognize(path, languages="vie", tessdata=MODELS, label="t")
    ]


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
@pytest.mark.parametrize("skew", [0.0, 3.2, -6.5])
def test_upright_sheet_cuts_the_tiles_a_whole_upright_copy_would_give(rotate: int, skew: float) -> None:
    """A large sheet is turned and straightened tile by tile: pixel for pixel what cropping the
    whole turned and straightened copy gives, boxes at the edges and in the filled corners included."""
    from digitize.reading import Upright

    sheet = Image.fromarray(np.random.default_rng(1).integers(0, 255, (523, 700), dtype=np.uint8))
    whole = sheet.transpose(orientation.TURN[rotate]) if rotate else sheet
    whole = deskew.straightened(whole, skew) if skew else whole
    view = Upright(sheet, rotate, skew)
    assert (view.width, view.height) == whole.size
    w, h = whole.size
    for box in [(0, 0, w, h), (0, 0, 40, 30), (w - 90, h - 70, w, h), (200, 150, 420, 390), (0, h - 3, 5, h)]:
        assert np.array_equal(np.asarray(view.crop(box)), np.asarray(whole.crop(box))), box


def test_a_turned_and_skewed_large_sheet_is_read_in_tiles_without_an_upright_copy(
    osd_calls: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tiled reader gets the sheet as an Upright view, turned and straightened tile by tile;
    and the sheet's copy for orientation detection, larger than A4 at 300 dpi, goes to OSD in
    black and white (in grey it cost an A0 125 MB more), and still tells the turn."""
    from concurrent.futures import ThreadPoolExecutor

    from digitize import largeformat
    from digitize.reading import Upright

    monkeypatch.setattr(largeformat, "TILE_PX", 1500)
    page = render_page(dpi=300).convert("L")
    sheet = Image.new("L", (page.width * 2, page.height * 2), 255)  # A2: text in one quarter, as on a drawing
    sheet.paste(page, (page.width, page.height))
    sheet = sheet.rotate(-3, resample=Image.Resampling.BICUBIC, fillcolor=255).rotate(90, expand=True)
    given: list[object] = []
    passes: list[int] = []
    with ThreadPoolExecutor(2) as pool:

        def tiled(image: Path | Image.Image) -> list[ocr.Line]:
            given.append(image)
            return largeformat.recognize_tiled(image, reader("vie", passes), pool)

        reading = read_page(sheet, 300, analysis_copy(sheet, 300), recognize=tiled, tessdata=MODELS, tiled=True)
    assert reading.rotate == 90 and reading.skew == pytest.approx(3, abs=0.3)
    assert given and all(isinstance(image, Upright) for image in given)
    assert cer(text_of(reading), "\n".join(TEXT)) < 0.02
    assert orientation.detect(sheet, 300, tessdata=MODELS) == 90
    assert [image.mode for image in osd_calls][-1:] == ["1"]  # type: ignore[attr-defined]

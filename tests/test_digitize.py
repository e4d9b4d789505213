"""Digitization: real Tesseract vie, a two-layer PDF/A that validators and poppler accept."""

from __future__ import annotations

import io
import os
import re
import subprocess
import threading
import unicodedata
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageChops

from conftest import CORPUS, ROOT, TEXT
from digitize import Source, digitize, pipeline
from digitize.errors import CorruptInput
from digitize.ocr import parse_tsv
from digitize.textlayer import content_stream
from digitize.validate import check_pdfa
from preflight import preflight

MODELS = ROOT / "ocr-models"


def pdftotext(path: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_vietnamese_page_becomes_valid_pdfa_with_its_text(digitized_pdf: Path) -> None:
    status = check_pdfa(digitized_pdf)
    assert status.passed, status.findings
    assert status.flavour == "2b"
    text = pdftotext(digitized_pdf)
    assert unicodedata.is_normalized("NFC", text)
    for line in ("ĐƠN ĐĂNG KÝ KHAI SINH", "Nguyễn Thị Hương", "Ủy ban nhân dân xã Hòa Bình"):
        assert line in text, line
    # Most words of the page come back exactly, diacritics and all.
    expected = set(" ".join(TEXT).split())
    found = set(text.split())
    assert len(expected & found) / len(expected) > 0.9


def test_page_keeps_true_size_and_metadata(digitized_pdf: Path) -> None:
    with pikepdf.open(digitized_pdf) as pdf:
        box = [float(v) for v in pdf.pages[0].mediabox]
        assert box[2] == pytest.approx(595.3, abs=0.5) and box[3] == pytest.approx(841.9, abs=0.5)  # A4
        meta = pdf.open_metadata()
        assert meta["dc:title"] == "Đơn đăng ký khai sinh"
        assert meta["pdfaid:part"] == "2"
        assert "000.00.12.H12-250527-0001" in str(meta["dc:identifier"])


def test_text_layer_is_aligned_with_the_words(digitized_pdf: Path) -> None:
    """pdftotext -bbox places 'KHAI' where the renderer drew it (25 mm from the left edge, third line)."""
    html = pdftotext(digitized_pdf, "-bbox")
    boxes = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">ĐƠN</word>', html)
    assert boxes, html[:500]
    x_min, y_min, _, y_max = (float(v) for v in boxes[0])
    assert x_min == pytest.approx(25 / 25.4 * 72, abs=3)
    line_top = (25 / 25.4 + 2 * 24 / 72) * 72  # third line of text in pages.render_page
    assert line_top - 2 <= y_min <= line_top + 14 and y_max > y_min


def test_jpeg_scan_is_embedded_without_recompression(page_jpeg: Path, tmp_path: Path) -> None:
    out = tmp_path / "jpeg.pdf"
    digitize([Source(page_jpeg, page_jpeg.name)], out, title="t", tessdata=MODELS, jobs=1)
    with pikepdf.open(out) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.Filter == "/DCTDecode"
        assert image.read_raw_bytes() == page_jpeg.read_bytes()


def test_several_inputs_make_one_document_in_order(page_png: Path, tmp_path: Path) -> None:
    sources = [Source(CORPUS / "ccitt.pdf", "ccitt.pdf"), Source(page_png, page_png.name)]
    progress: list[tuple[int, int | None]] = []
    result = digitize(
        sources, tmp_path / "two.pdf", title="t", tessdata=MODELS, jobs=2, progress=lambda d, t: progress.append((d, t))
    )
    assert [(p.source, p.number) for p in result.pages] == [("ccitt.pdf", 1), (page_png.name, 1)]
    assert progress[-1] == (2, 2)
    assert check_pdfa(result.output).passed
    pages = pdftotext(result.output).split("\f")
    assert "Hòa Bình" in pages[1] and "Hòa Bình" not in pages[0]
    assert len(pages[0].split()) > 50  # the English brochure page was read too


def test_a_servers_job_reads_pages_in_idle_threads_and_reports_from_its_own(
    page_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With idle_cpu, page threads are in the idle CPU class; progress (catalog writes, the page
    limit) comes from the calling thread, and a limit raised there stops the reading of pages."""
    policies: list[int] = []
    process = pipeline._process_page

    def spied(*args: object, **kwargs: object) -> object:
        policies.append(os.sched_getscheduler(0))
        return process(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "_process_page", spied)
    callers: set[int] = set()

    class Limit(Exception):
        pass

    def progress(done: int, _total: int | None) -> None:
        callers.add(threading.get_ident())
        if done >= 2:
            raise Limit

    sources = [Source(page_png, f"{n}.png") for n in range(8)]
    with pytest.raises(Limit):
        digitize(sources, tmp_path / "out.pdf", title="t", tessdata=MODELS, jobs=1, progress=progress, idle_cpu=True)
    assert callers == {threading.get_ident()}
    assert policies and set(policies) == {os.SCHED_IDLE}
    assert len(policies) < len(sources)  # stopped while reading, not after every page


def test_a_bad_file_among_good_ones_fails_naming_it_and_writes_nothing(page_png: Path, tmp_path: Path) -> None:
    bad = tmp_path / "hong.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    out = tmp_path / "out.pdf"
    with pytest.raises(CorruptInput, match=r"hong\.jpg"):
        digitize([Source(page_png, "a.png"), Source(bad, "hong.jpg")], out, title="t", tessdata=MODELS, jobs=2)
    assert not out.exists()


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_scan_fails_naming_the_file(page_png: Path, page_jpeg: Path, suffix: str, tmp_path: Path) -> None:
    whole = page_png if suffix == ".png" else page_jpeg
    cut = tmp_path / f"bi-cat{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CorruptInput) as e:
        digitize([Source(cut, cut.name)], tmp_path / "o.pdf", title="t", tessdata=MODELS, jobs=1)
    assert cut.name in e.value.vi and cut.name in e.value.en
    assert not (tmp_path / "o.pdf").exists()


def test_tsv_parsing_groups_words_into_lines_and_normalises_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Hồ")
    tsv = (
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
        "4\t1\t1\t1\t1\t0\t10\t20\t200\t30\t-1\t\n"
        f"5\t1\t1\t1\t1\t1\t10\t20\t50\t30\t91.5\t{decomposed}\n"
        "5\t1\t1\t1\t1\t2\t70\t20\t50\t30\t88\tsơ\n"
        "4\t1\t1\t1\t2\t0\t10\t60\t200\t30\t-1\t\n"
        "5\t1\t1\t1\t2\t1\t10\t60\t50\t30\t95\tsố\n"
    )
    lines = parse_tsv(tsv)
    assert [line.text for line in lines] == ["Hồ sơ", "số"]
    assert lines[0].words[0].text == "Hồ" and unicodedata.is_normalized("NFC", lines[0].words[0].text)
    ops = content_stream(lines, dpi=(300, 300), page_height_px=3508).decode()
    assert ops.startswith("BT\n3 Tr") and ops.count(" Tj") == 3
    assert "<0048_1ED3_0020>".replace("_", "") in ops  # "Hồ " as UTF-16 code units


def test_turned_pages_come_out_upright_without_touching_the_image(tmp_path: Path) -> None:
    from pages import render_page

    upright = render_page(dpi=200).convert("L")
    sources = []
    for angle in (0, 90, 180, 270):
        path = tmp_path / f"turned-{angle}.jpg"
        upright.rotate(angle, expand=True).save(path, quality=90, dpi=(200, 200))  # PIL turns counter-clockwise
        sources.append(Source(path, path.name))
    out = tmp_path / "turned.pdf"
    result = digitize(sources, out, title="t", tessdata=MODELS, jobs=2)
    assert [p.rotate for p in result.pages] == [0, 90, 180, 270]
    assert check_pdfa(out).passed
    with pikepdf.open(out) as pdf:
        for page, src in zip(pdf.pages, sources, strict=True):
            assert int(page.obj.get("/Rotate", 0)) == int(src.label.split("-")[1].split(".")[0])
            [image] = page.get_images().values()
            assert image.read_raw_bytes() == src.path.read_bytes()  # the scan itself is untouched
    positions = set()
    for number in range(1, 5):
        html = pdftotext(out, "-bbox", "-f", str(number), "-l", str(number))
        assert "ĐĂNG KÝ KHAI SINH" in pdftotext(out, "-f", str(number), "-l", str(number))
        x, y = re.search(r'xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>ĐƠN<', html).groups()  # type: ignore[union-attr]
        positions.add((round(float(x)), round(float(y))))
    assert len(positions) == 1  # the text sits in the same place on every page as shown


def _pixels_of_page(pdf_path: Path, number: int = 0) -> Image.Image:
    with pikepdf.open(pdf_path) as pdf:
        [image] = pdf.pages[number].get_images().values()
        return pikepdf.PdfImage(image).as_pil_image()


def test_upside_down_hint_from_the_ink_alone() -> None:
    """Lines heavier below their core hint at 180° before any OCR: on rendered Vietnamese pages
    and on real scans of the corpus."""
    from PIL import Image

    from digitize.largeformat import analysis_copy
    from digitize.orientation import UPSIDE_DOWN, upright_ratio
    from pages import render_page

    def looks_upside_down(ink: object) -> bool:
        return upright_ratio(ink) < UPSIDE_DOWN  # type: ignore[arg-type]

    pages = [(render_page(dpi=300), 300.0), (Image.open(CORPUS / "linn.png"), 300.0)]
    pages.append((Image.open(CORPUS / "typewriter.png"), 300.0))
    for image, dpi in pages:
        assert not looks_upside_down(analysis_copy(image, dpi))
        assert looks_upside_down(analysis_copy(image.rotate(180, expand=True), dpi))
    assert not looks_upside_down(analysis_copy(Image.new("L", (800, 1000), 255), 100))  # blank: no hint


def test_skewed_pages_are_read_straight_and_kept_as_scanned(tmp_path: Path) -> None:
    from pages import render_page

    level = render_page(dpi=300).convert("L")
    sources = []
    for angle in (3.0, -5.5, 8.0):  # at 5.5° and more Tesseract alone finds an "Empty page"
        path = tmp_path / f"skew{angle}.png"
        level.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255).save(path, dpi=(300, 300))
        sources.append(Source(path, path.name))
    out = tmp_path / "skewed.pdf"
    result = digitize(sources, out, title="t", tessdata=MODELS, jobs=2)
    for page, angle in zip(result.pages, (3.0, -5.5, 8.0), strict=True):
        assert page.skew == pytest.approx(-angle, abs=0.3)
        assert page.confidence > 90
    assert check_pdfa(out).passed
    for number, src in enumerate(sources):
        # Lines come out whole, not broken into tilted pieces.
        assert "ĐƠN ĐĂNG KÝ KHAI SINH" in pdftotext(out, "-f", str(number + 1), "-l", str(number + 1))
        kept = _pixels_of_page(out, number)
        assert ImageChops.difference(kept, Image.open(src.path)).getbbox() is None  # archived image not deskewed


def test_text_of_a_skewed_page_comes_out_in_order(tmp_path: Path) -> None:
    """Short lines beside long ones on a page skewed 8°: copy/paste and pdftotext give the
    lines in reading order, not a short line woven into the long one after it."""
    from pages import render_page

    lines = [
        "Kính gửi:",
        "Ủy ban nhân dân xã Hòa Bình, huyện Thanh Trì, thành phố Hà Nội, Việt Nam",
        "Trân trọng!",
        "Đề nghị cơ quan đăng ký khai sinh cho người dưới đây theo đúng trình tự",
        "Người làm đơn",
        "Tôi cam đoan nội dung đề nghị đăng ký là đúng sự thật và chịu trách nhiệm",
    ]
    path = tmp_path / "nghieng.png"
    page = render_page(lines, dpi=300).convert("L")
    page.rotate(8, resample=Image.Resampling.BICUBIC, fillcolor=255).save(path, dpi=(300, 300))
    out = tmp_path / "nghieng.pdf"
    [result] = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=2).pages
    assert result.skew == pytest.approx(-8, abs=0.3)
    assert result.text.splitlines() == lines  # read right; the question is how it comes out
    extracted = [line.strip() for line in pdftotext(out).splitlines() if line.strip()]
    assert extracted == lines


def test_bilevel_pages_are_stored_as_ccitt_g4_losslessly(tmp_path: Path) -> None:
    from pages import render_page

    bilevel = render_page(dpi=300).convert("1")
    path = tmp_path / "den-trang.png"
    bilevel.save(path, dpi=(300, 300))
    out = tmp_path / "g4.pdf"
    digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=1)
    with pikepdf.open(out) as pdf:
        [image] = pdf.pages[0].get_images().values()
        assert image.Filter == "/CCITTFaxDecode"
        assert len(image.read_raw_bytes()) < path.stat().st_size
    assert ImageChops.difference(_pixels_of_page(out).convert("1"), bilevel).getbbox() is None
    assert "Nguyễn Thị Hương" in pdftotext(out)


def test_png_data_goes_into_the_pdf_as_is(page_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "png.pdf"
    digitize([Source(page_png, page_png.name)], out, title="t", tessdata=MODELS, jobs=1)
    assert ImageChops.difference(_pixels_of_page(out), Image.open(page_png)).getbbox() is None
    assert out.stat().st_size < page_png.stat().st_size * 1.1


def test_quarter_turned_image_pages_keep_their_image_and_true_size(tmp_path: Path) -> None:
    """cardinal.pdf draws one portrait scan on portrait and landscape pages, turned each way."""
    out = tmp_path / "cardinal.pdf"
    result = digitize(
        [Source(CORPUS / "cardinal.pdf", "cardinal.pdf")], out, title="t", languages="eng", tessdata=MODELS, jobs=2
    )
    assert [p.dpi for p in result.pages] == [(300.0, 300.0)] * 4
    for number in range(1, 5):
        assert "The LinnSequencer" in pdftotext(out, "-f", str(number), "-l", str(number))
    with pikepdf.open(out) as pdf:
        for page in pdf.pages:
            assert [round(float(v)) for v in page.mediabox] == [0, 0, 612, 792]


def test_long_dossier_beyond_the_open_file_limit(tmp_path: Path) -> None:
    """300 pages under a soft limit of 128 open files: assembly raises the limit it needs."""
    import resource

    page = tmp_path / "trang.png"
    Image.new("L", (413, 585), 255).save(page, dpi=(50, 50))  # A4 at 50 dpi, blank: no OCR needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
    try:
        result = digitize(
            [Source(page, f"p{n}.png") for n in range(300)], tmp_path / "dai.pdf", title="t", tessdata=MODELS, jobs=2
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(result.pages) == 300 and all(p.blank for p in result.pages)
    with pikepdf.open(result.output) as pdf:
        assert len(pdf.pages) == 300


@pytest.mark.parametrize("flavour", ["1b", "3b"])
def test_other_pdfa_flavours_on_request(page_jpeg: Path, flavour: str, tmp_path: Path) -> None:
    out = tmp_path / f"{flavour}.pdf"
    digitize(
        [Source(page_jpeg, page_jpeg.name), Source(CORPUS / "ccitt.pdf", "ccitt.pdf")],
        out,
        title="t",
        tessdata=MODELS,
        jobs=2,
        flavour=flavour,
    )
    status = check_pdfa(out)
    assert status.passed and status.flavour == flavour, status.findings
    with pikepdf.open(out) as pdf:
        if flavour == "1b":
            assert pdf.pdf_version <= "1.4"
    if flavour == "1b":  # and Apache PDFBox Preflight agrees
        report = preflight(out)
        assert report.passed and report.flavour == "PDF/A1-b", [str(e) for e in report.errors]


def test_preflight_rejects_a_1b_file_without_its_output_intent(tmp_path: Path) -> None:
    """The Preflight check can fail: the same 1b file less its OutputIntent (DeviceRGB scan, no ICC profile)."""
    page = tmp_path / "trang.png"
    Image.new("RGB", (413, 585), "white").save(page, dpi=(50, 50))  # blank: no OCR needed
    good, bad = tmp_path / "1b.pdf", tmp_path / "no-intent.pdf"
    digitize([Source(page, page.name)], good, title="t", tessdata=MODELS, jobs=1, flavour="1b")
    with pikepdf.open(good) as pdf:
        del pdf.Root["/OutputIntents"]
        pdf.save(bad)
    assert preflight(good).passed
    report = preflight(bad)
    assert not report.passed and report.codes == ["2.4.3"], [str(e) for e in report.errors]
    assert "DestOutputProfile is missing" in report.errors[0].details
    assert not check_pdfa(bad).passed  # pikepdf's validator rejects it too


def test_jpeg2000_scan(tmp_path: Path) -> None:
    from pages import render_page

    path = tmp_path / "scan.jp2"
    render_page(dpi=300).save(path, format="JPEG2000", irreversible=False)  # lossless JPEG 2000
    out = tmp_path / "jp2.pdf"
    [page] = digitize([Source(path, path.name)], out, title="t", tessdata=MODELS, jobs=1).pages
    assert "ĐĂNG KÝ KHAI SINH" in pdftotext(out)
    assert check_pdfa(out).passed
    assert [n["code"] for n in page.notices] == ["dpi-inferred"]  # Pillow's JPEG 2000 records no resolution
    assert page.dpi == (300.0, 300.0)


def test_the_same_file_twice_gives_two_pages(page_png: Path, tmp_path: Path) -> None:
    result = digitize(
        [Source(page_png, "a.png"), Source(page_png, "a.png")], tmp_path / "o.pdf", title="t", tessdata=MODELS, jobs=2
    )
    assert [p.source for p in result.pages] == ["a.png", "a.png"]


def test_archived_image_is_straightened_only_when_configured(tmp_path: Path) -> None:
    from pages import render_page

    skewed = tmp_path / "nghieng.png"
    render_page(dpi=300).convert("L").rotate(4, resample=Image.Resampling.BICUBIC, fillcolor=255).save(
        skewed, dpi=(300, 300)
    )
    out = tmp_path / "thang.pdf"
    [page] = digitize([Source(skewed, skewed.name)], out, title="t", tessdata=MODELS, jobs=1, deskew_archive=True).pages
    assert page.skew == pytest.approx(-4, abs=0.3)
    assert "deskewed" in [n["code"] for n in page.notices]
    assert ImageChops.difference(_pixels_of_page(out), Image.open(skewed)).getbbox() is not None  # re-drawn
    assert check_pdfa(out).passed
    html = pdftotext(out, "-bbox")
    x = float(re.search(r'xMin="([\d.]+)"[^>]*>ĐƠN<', html).group(1))  # type: ignore[union-attr]
    assert x == pytest.approx(25 / 25.4 * 72, abs=4)  # where it stands on the level page


def test_compact_profile_stores_colour_and_grey_as_jpeg_and_keeps_bilevel_g4(
    page_png: Path, page_jpeg: Path, tmp_path: Path
) -> None:
    """Scanned colour and grey pages (sensor noise) become JPEG; a page already smaller as it
    is (a clean PNG, a JPEG below the set quality) stays as it is; bilevel stays CCITT G4."""
    from pages import scanned_page

    colour, grey = tmp_path / "mau.png", tmp_path / "xam.png"
    scanned_page().save(colour, dpi=(300, 300))
    Image.open(colour).convert("L").save(grey, dpi=(300, 300))
    light_jpeg = tmp_path / "nhe.jpg"
    Image.open(page_png).save(light_jpeg, quality=40, dpi=(300, 300))
    bilevel = tmp_path / "den-trang.png"
    Image.open(page_png).convert("1").save(bilevel, dpi=(300, 300))
    sources = [Source(p, p.name) for p in (colour, grey, page_jpeg, light_jpeg, page_png, bilevel)]
    archive, compact = tmp_path / "archive.pdf", tmp_path / "compact.pdf"
    digitize(sources, archive, title="t", tessdata=MODELS, jobs=2)
    digitize(sources, compact, title="t", tessdata=MODELS, jobs=2, jpeg_quality=75)
    assert compact.stat().st_size < 0.5 * archive.stat().st_size
    with pikepdf.open(archive) as pdf:
        kept = [next(iter(p.get_images().values())).read_raw_bytes() for p in pdf.pages]
    with pikepdf.open(compact) as pdf:
        images = [next(iter(p.get_images().values())) for p in pdf.pages]
        filters = [str(i.Filter) for i in images]
        assert filters == ["/DCTDecode"] * 4 + ["/FlateDecode", "/CCITTFaxDecode"]
        assert [i.ColorSpace for i in images[:2]] == ["/DeviceRGB", "/DeviceGray"]
        raw = [i.read_raw_bytes() for i in images]
    assert len(raw[2]) < len(kept[2])  # quality 90 encoded at 75
    assert raw[3:] == kept[3:]  # never encoded again into something larger
    status = check_pdfa(compact)
    assert status.passed, status.findings
    assert pdftotext(compact).count("Nguyễn Thị Hương") == 6


def test_compact_profile_encodes_a_large_sheet_in_strips_and_keeps_a_large_jpeg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the large-sheet size a PNG is encoded strip by strip (never decoded whole) and a
    JPEG is kept as it came: a whole decode would be needed to encode it again."""
    from digitize import ingest
    from pages import scanned_page

    monkeypatch.setattr(ingest, "LARGE_PIXELS", 1_000_000)
    colour, fine_jpeg = tmp_path / "ban-do.png", tmp_path / "ban-do.jpg"
    scanned_page().save(colour, dpi=(300, 300))
    scanned_page().save(fine_jpeg, quality=95, dpi=(300, 300))
    out = tmp_path / "compact.pdf"
    digitize(
        [Source(colour, colour.name), Source(fine_jpeg, fine_jpeg.name)],
        out,
        title="t",
        tessdata=MODELS,
        jobs=2,
        jpeg_quality=75,
    )
    with pikepdf.open(out) as pdf:
        first, second = (next(iter(p.get_images().values())) for p in pdf.pages)
        strips, kept = first.read_raw_bytes(), second.read_raw_bytes()
    whole = io.BytesIO()  # what the encoder makes of the whole page, one restart interval a row
    Image.open(colour).save(whole, "JPEG", quality=75, restart_marker_rows=1)
    assert str(first.Filter) == "/DCTDecode" and strips == whole.getvalue()
    assert len(strips) < colour.stat().st_size / 2 and kept == fine_jpeg.read_bytes()
    status = check_pdfa(out)
    assert status.passed, status.findings


def test_a_large_sheet_is_straightened_in_bands_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the large-sheet size a PNG is turned a band of rows at a time, to the same pixels
    as a whole turn; a JPEG sheet is kept as scanned, and the job says so."""
    from digitize import ingest
    from pages import render_page

    monkeypatch.setattr(ingest, "LARGE_PIXELS", 1_000_000)
    skewed = render_page(dpi=300).rotate(4, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    png, jpeg = tmp_path / "nghieng.png", tmp_path / "nghieng.jpg"
    skewed.save(png, dpi=(300, 300))
    skewed.save(jpeg, dpi=(300, 300), quality=85)
    out = tmp_path / "thang.pdf"
    sources = [Source(png, png.name), Source(jpeg, jpeg.name)]
    turned, kept = digitize(sources, out, title="t", tessdata=MODELS, jobs=2, deskew_archive=True).pages
    assert turned.skew == pytest.approx(-4, abs=0.3) and "deskewed" in [n["code"] for n in turned.notices]
    assert "not-deskewed" in [n["code"] for n in kept.notices]
    level = Image.open(png).rotate(turned.skew, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    with pikepdf.open(out) as pdf:
        first, second = (next(iter(p.get_images().values())) for p in pdf.pages)
        assert pikepdf.PdfImage(first).as_pil_image().tobytes() == level.tobytes()
        assert second.read_raw_bytes() == jpeg.read_bytes()
    assert pdftotext(out).count("Nguyễn Thị Hương") == 2


@pytest.fixture
def stray_warnings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A warning from elsewhere (a connection another thread left open, say) arrives while
    pikepdf's validator parses a content stream, as many times as the list says."""
    import warnings

    import pikepdf.pdfa._content as content

    left = [1]
    real = content.content_checker

    class Checker:
        def __init__(self, limits: object) -> None:
            self.inner = real(limits)  # type: ignore[arg-type]

        def check(self, stream: object) -> object:
            if left[0] > 0:
                left[0] -= 1
                warnings.warn("<Connection> was deleted while still open", ResourceWarning, stacklevel=1)
            return self.inner.check(stream)

    monkeypatch.setattr(content, "content_checker", Checker)
    return left


def test_a_stray_warning_does_not_fail_pdfa_validation(
    page_png: Path, tmp_path: Path, stray_warnings: list[int]
) -> None:
    """pikepdf's validator counts any warning raised while it parses a content stream, from
    any thread: once, it is run again; every time, it is a fault."""
    out = tmp_path / "o.pdf"
    digitize([Source(page_png, "a.png")], out, title="t", tessdata=MODELS, jobs=1)
    assert stray_warnings == [0]
    stray_warnings[0] = 1
    assert check_pdfa(out).passed and stray_warnings == [0]
    stray_warnings[0] = 10
    status = check_pdfa(out)
    assert not status.passed and "deleted while still open" in status.findings[0]

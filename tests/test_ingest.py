"""Ingest: every supported type becomes pages; bad input is a clear error naming the file."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from conftest import CORPUS
from digitize.errors import CorruptInput, EncryptedInput, ImageTooLarge, UnsupportedInput
from digitize.ingest import iter_pages, sniff
from pages import render_page

LIMIT = 250_000_000


def pages(path: Path, tmp_path: Path, max_pixels: int = LIMIT) -> list:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return list(iter_pages(path, path.name, work, max_pixels=max_pixels, render_dpi=150))


def test_sniff_by_content_not_extension() -> None:
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n") == "png"
    assert sniff(b"II*\x00") == "tiff"
    assert sniff(b"hello") == "unknown"


def test_jpeg_is_kept_byte_for_byte(page_jpeg: Path, tmp_path: Path) -> None:
    [page] = pages(page_jpeg, tmp_path)
    assert page.is_jpeg
    assert page.path.read_bytes() == page_jpeg.read_bytes()
    assert page.dpi == (300, 300)
    assert page.notices == []


def test_multipage_tiff_group4_and_lzw_grey(tmp_path: Path) -> None:
    bilevel = render_page(dpi=200).convert("1")
    path = tmp_path / "batch.tif"
    bilevel.save(path, compression="group4", dpi=(200, 200), save_all=True, append_images=[bilevel.rotate(180)])
    result = pages(path, tmp_path)
    assert [p.number for p in result] == [1, 2]
    with Image.open(result[0].path) as first:
        assert first.mode == "1"
    assert result[0].dpi == (200, 200)
    grey = tmp_path / "grey.tif"
    render_page(dpi=300).convert("L").save(grey, compression="tiff_lzw", dpi=(300, 300))
    [page] = pages(grey, tmp_path)
    with Image.open(page.path) as kept:
        assert kept.mode == "L"


def test_missing_and_low_resolution_are_flagged(tmp_path: Path) -> None:
    img = render_page(dpi=150)
    no_dpi = tmp_path / "no-dpi.png"
    img.save(no_dpi)
    low = tmp_path / "low.png"
    img.save(low, dpi=(150, 150))
    [p] = pages(no_dpi, tmp_path)
    assert [n["code"] for n in p.notices] == ["dpi-inferred", "low-dpi"]  # A4-shaped: A4 at 150 dpi, said so
    assert p.dpi == (150.0, 150.0) and "A4" in p.notices[0]["en"]
    odd = tmp_path / "odd.png"
    Image.new("L", (1000, 1000), 255).save(odd)  # no paper is square: assumed, and it says so
    [q] = pages(odd, tmp_path)
    assert [n["code"] for n in q.notices] == ["dpi-assumed"] and q.dpi == (300, 300)
    [p] = pages(low, tmp_path)
    assert [n["code"] for n in p.notices] == ["low-dpi"]
    assert "low.png" in p.notices[0]["vi"] and "200 dpi" in p.notices[0]["en"]


def test_image_only_pdf_page_is_extracted_at_its_resolution(tmp_path: Path) -> None:
    [page] = pages(CORPUS / "ccitt.pdf", tmp_path)
    assert round(page.dpi[0]) == 300
    with Image.open(page.path) as kept:
        assert kept.mode == "1"


def test_scanned_pdf_page_is_rendered_no_finer_than_its_image(tmp_path: Path) -> None:
    """poster.pdf: a 102-ppi scan placed on a 25×50-inch page. Rendered at 150 dpi (the floor
    for OCR), not 300: 28 million pixels rather than 112 million, and flagged as coarse."""
    [page] = iter_pages(CORPUS / "poster.pdf", "poster.pdf", tmp_path, max_pixels=10**9, render_dpi=300)
    assert (page.width, page.height, page.dpi) == (3750, 7500, (150.0, 150.0))
    assert [n["code"] for n in page.notices] == ["low-dpi"]
    [typed] = iter_pages(CORPUS / "cmyk.pdf", "cmyk.pdf", tmp_path, max_pixels=10**8, render_dpi=300)
    assert typed.dpi == (300.0, 300.0)  # a page with fonts: rendered as asked


def _pdf_with_raw_image(path: Path, img: Image.Image, *, flate: bool, cut: int = 0) -> Path:
    """A one-page PDF whose page is ``img`` as raw rows, Flate-compressed or not, at 300 dpi."""
    import zlib

    pdf = pikepdf.new()
    rows = img.tobytes()
    data = zlib.compress(rows) if flate else rows
    stream = pikepdf.Stream(pdf, data[: len(data) - cut])
    stream.Type, stream.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    stream.Width, stream.Height, stream.BitsPerComponent = img.width, img.height, 8
    stream.ColorSpace = pikepdf.Name.DeviceRGB if img.mode == "RGB" else pikepdf.Name.DeviceGray
    if flate:
        stream.Filter = pikepdf.Name.FlateDecode
    w, h = img.width * 72 / 300, img.height * 72 / 300
    page = pdf.add_blank_page(page_size=(w, h))
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=stream))
    page.Contents = pdf.make_stream(f"q {w} 0 0 {h} 0 0 cm /Im0 Do Q".encode())
    pdf.save(path)
    return path


@pytest.mark.parametrize(("mode", "flate"), [("RGB", True), ("L", True), ("RGB", False)])
def test_raw_pdf_image_is_taken_out_row_by_row_without_loss(mode: str, flate: bool, tmp_path: Path) -> None:
    """Raw or Flate rows become a PNG a few rows at a time (a 9000x9000 colour sheet took 607 MB
    decoded whole); every pixel is kept."""
    img = render_page(["Bản đồ địa chính"], dpi=100).convert(mode)
    img.putpixel((7, 11), (200, 30, 40) if mode == "RGB" else 90)
    src = _pdf_with_raw_image(tmp_path / "tho.pdf", img, flate=flate)
    [page] = iter_pages(src, "tho.pdf", tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.path.suffix == ".png" and page.dpi == pytest.approx((300, 300), abs=0.01)
    with Image.open(page.path) as kept:
        assert kept.mode == mode and kept.tobytes() == img.tobytes()


def test_large_colour_pdf_image_also_gets_a_grey_copy_for_ocr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written from the same rows; the pipeline decodes it for a sheet above A3 at one byte a
    pixel instead of the colour page at four (enormous.pdf: 641 MB peak to 352 MB)."""
    import numpy as np

    from digitize import ingest
    from digitize.pipeline import _decode

    monkeypatch.setattr(ingest, "LARGE_PIXELS", 10_000)
    img = render_page(["Bản đồ địa chính"], dpi=100)
    img.putpixel((7, 11), (200, 30, 40))
    src = _pdf_with_raw_image(tmp_path / "mau.pdf", img, flate=True)
    [page] = iter_pages(src, "mau.pdf", tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.grey is not None
    expected = np.asarray(img.convert("L"), dtype=int)
    _ink, sheet = _decode(page, large=True)
    assert sheet is not None and sheet.mode == "L" and sheet.info["dpi"] == page.dpi
    assert np.abs(np.asarray(sheet, dtype=int) - expected).max() <= 1


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jp2"])
def test_large_colour_sheet_files_get_a_grey_copy_written_band_by_band(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PNG is kept byte for byte and a TIFF page becomes a lossless PNG; either way OCR gets a
    grey copy made a band of rows at a time (tests/test_rows.py checks the memory this saves)."""
    import numpy as np

    from digitize import ingest, rows

    monkeypatch.setattr(ingest, "LARGE_PIXELS", 10_000)
    monkeypatch.setattr(rows, "BAND_BYTES", 100_000)
    img = render_page(["Bản đồ địa chính"], dpi=100)
    img.putpixel((7, 11), (200, 30, 40))
    src = tmp_path / f"ban-do{suffix}"
    extra = (
        {"compression": "tiff_lzw", "save_all": True, "append_images": [img.rotate(180)]} if suffix == ".tif" else {}
    )
    img.save(src, dpi=(300, 300), **extra)
    found = pages(src, tmp_path)
    assert len(found) == (2 if suffix == ".tif" else 1)
    page = found[-1]
    expected = img.rotate(180) if suffix == ".tif" else img
    assert page.grey is not None and page.path.suffix == ".png" and page.dpi == pytest.approx((300, 300), abs=0.01)
    if suffix == ".png":
        assert page.path.read_bytes() == src.read_bytes()
    with Image.open(page.path) as kept, Image.open(page.grey) as grey:
        assert kept.tobytes() == expected.tobytes()
        assert np.array_equal(np.asarray(grey), np.asarray(expected.convert("L")))


def test_corrupt_tiff_strip_names_the_file_and_page(tmp_path: Path) -> None:
    path = tmp_path / "hong.tif"
    render_page(["Bản đồ"], dpi=100).save(path, compression="tiff_lzw", dpi=(300, 300))
    data = bytearray(path.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 2000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptInput) as err:
        pages(path, tmp_path)
    assert "hong.tif" in err.value.vi and "hong.tif" in err.value.en


def test_short_raw_pdf_image_is_rendered_instead(tmp_path: Path) -> None:
    img = render_page(["Bản đồ"], dpi=100)
    src = _pdf_with_raw_image(tmp_path / "cut.pdf", img, flate=False, cut=5000)
    [page] = iter_pages(src, "cut.pdf", tmp_path, max_pixels=10**8, render_dpi=300)
    assert page.dpi == (300.0, 300.0)  # rendered by poppler, not taken out


def test_corrupt_pdf_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CorruptInput, match=r"invalid\.pdf"):
        pages(CORPUS / "invalid.pdf", tmp_path)


def test_encrypted_pdf_is_refused(page_png: Path, tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(path, encryption=pikepdf.Encryption(owner="o", user="secret"))
    with pytest.raises(EncryptedInput, match=r"locked\.pdf"):
        pages(path, tmp_path)


def test_zero_page_pdf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    with pikepdf.new() as pdf:
        pdf.save(path)
    with pytest.raises(CorruptInput, match=r"empty\.pdf"):
        pages(path, tmp_path)


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "notes.pdf"
    path.write_text("not a scan at all")
    with pytest.raises(UnsupportedInput, match=r"notes\.pdf"):
        pages(path, tmp_path)


def test_pixel_limit_guards_against_decompression_bombs(page_png: Path, tmp_path: Path) -> None:
    with pytest.raises(ImageTooLarge, match=r"don-khai-sinh\.png"):
        pages(page_png, tmp_path, max_pixels=1_000_000)
    with pytest.raises(ImageTooLarge):
        pages(CORPUS / "hugemono.pdf", tmp_path)


def _with_scanner_text(path: Path, text: str, mode: int, out: Path) -> Path:
    """The PDF at ``path`` with a text layer on page 1 in render mode ``mode`` (3: invisible, as
    a scanner's own OCR writes it; 0: visible, as a typed note)."""
    with pikepdf.open(path) as pdf:
        page = pdf.pages[0]
        font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                    BaseFont=pikepdf.Name.Helvetica))  # fmt: skip
        page.obj.Resources.Font = pikepdf.Dictionary(F1=font)
        layer = f"BT /F1 12 Tf {mode} Tr 72 760 Td ({text}) Tj ET".encode()
        page.contents_add(pdf.make_stream(layer), prepend=False)
        pdf.save(out)
    return out


@pytest.mark.parametrize("bilevel", [True, False])
def test_a_scanner_s_invisible_text_layer_keeps_the_scan_as_it_is(tmp_path: Path, bilevel: bool) -> None:
    """A page a scanner OCR'd itself (its image, plus invisible text without Vietnamese marks)
    is taken out as the scan it is, at its resolution (G4 stays 1-bit at 200 dpi), not rendered
    at 300 dpi; a page with visible text is still rendered, so that text is kept."""
    scan = render_page(dpi=200, mode="L")
    scan = scan.point(lambda v: 255 if v > 128 else 0).convert("1") if bilevel else scan
    plain = tmp_path / "quet.pdf"
    scan.save(plain, resolution=200)
    ocred = _with_scanner_text(plain, "CONG Hcok xA HQI CHiJ NGHiA", 3, tmp_path / "quet-ocr.pdf")
    [page] = pages(ocred, tmp_path)
    assert round(page.dpi[0]) == 200 and (page.width, page.height) == scan.size
    with Image.open(page.path) as kept:
        assert kept.mode == ("1" if bilevel else "L")
    # Circular 05/2025/TT-BNV asks for colour as the original: a 1-bit scan says it lost it.
    assert ("bilevel" in [n["code"] for n in page.notices]) == bilevel
    noted = _with_scanner_text(plain, "Da ky so", 0, tmp_path / "ghi-chu.pdf")
    [rendered] = pages(noted, tmp_path)
    assert round(rendered.dpi[0]) == 150  # render_dpi of these tests: the visible note is drawn in


def test_an_owner_password_pdf_is_read(tmp_path: Path) -> None:
    """Editing restricted, no password to open (how agencies issue their documents): read."""
    plain = tmp_path / "quet.pdf"
    render_page(dpi=200, mode="L").save(plain, resolution=200)
    locked = tmp_path / "han-che.pdf"
    with pikepdf.open(plain) as pdf:
        rights = pikepdf.Permissions(extract=False, modify_other=False, modify_annotation=False)
        pdf.save(locked, encryption=pikepdf.Encryption(owner="chu-so-huu", user="", allow=rights))
    [page] = pages(locked, tmp_path)
    assert round(page.dpi[0]) == 200

"""Rows a band at a time: PNG and TIFF pages read without decoding them whole, pixel for pixel."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from digitize import rows
from digitize.errors import ProgramFailed
from pages import render_page


def _scan(mode: str, size: tuple[int, int] = (700, 523)) -> Image.Image:
    """Text, noise and a colour stamp: every PNG filter type turns up in Pillow's choice."""
    page = render_page(["Sở Tài nguyên và Môi trường", "Giấy chứng nhận quyền sử dụng đất"], dpi=100)
    page = page.crop((0, 0, *size)).convert("RGB")
    noise = np.random.default_rng(7).integers(-12, 12, (size[1], size[0], 3))
    pixels = np.clip(np.asarray(page, dtype=int) + noise, 0, 255).astype(np.uint8)
    pixels[40:90, 300:380] = (200, 30, 40)
    return Image.fromarray(pixels).convert(mode)


def _stacked(blocks: list[np.ndarray]) -> np.ndarray:
    return np.vstack(blocks).squeeze()


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_png_rows_match_pillow_in_blocks(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "BAND_BYTES", 50_000)  # many blocks, the last one short
    img = _scan(mode)
    path = tmp_path / "trang.png"
    img.save(path)
    assert rows.png_bands(path) == (3 if mode == "RGB" else 1)
    blocks = list(rows.png_rows(path))
    assert len(blocks) > 5 and max(b.shape[0] for b in blocks) <= 50_000 // img.width
    assert np.array_equal(_stacked(blocks), np.asarray(img))


def test_png_in_one_chunk_is_still_inflated_a_block_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One small IDAT chunk may inflate to the whole sheet: it is inflated a block at most at once."""
    monkeypatch.setattr(rows, "BAND_BYTES", 100_000)
    width, height = 2000, 3000
    raw = b"".join(b"\x00" + bytes([255]) * width for _ in range(height))
    body = zlib.compress(raw, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    path = tmp_path / "trang.png"
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    assert len(body) < 20_000
    sizes = [b.shape[0] for b in rows.png_rows(path)]
    assert sum(sizes) == height and max(sizes) <= 100_000 // width


def test_cut_png_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    _scan("RGB").save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.png"):
        list(rows.png_rows(path))


def test_16_bit_or_interlaced_png_is_not_streamed(tmp_path: Path) -> None:
    interlaced = tmp_path / "interlaced.png"
    _scan("RGB").save(interlaced)
    data = bytearray(interlaced.read_bytes())
    data[28] = 1  # IHDR's interlace method: Adam7 (Pillow does not write it)
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    interlaced.write_bytes(bytes(data))
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((40, 50), 4000, np.uint16)).save(deep)
    assert rows.png_bands(interlaced) is None and rows.png_bands(deep) is None


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate", "packbits", "raw"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_tiff_rows_match_pillow(mode: str, compression: str, tmp_path: Path) -> None:
    img = _scan(mode)
    path = tmp_path / "trang.tif"
    img.save(path, compression=compression)
    assert rows.tiff_streams(path, 0)
    assert np.array_equal(_stacked(list(rows.tiff_rows(path, 0))), np.asarray(img))


def test_jpeg_tiff_page_two_and_tiled_tiff(tmp_path: Path) -> None:
    first, second = _scan("RGB"), _scan("RGB").transpose(Image.Transpose.ROTATE_180)
    path = tmp_path / "lo.tif"
    first.save(path, compression="jpeg", quality=90, save_all=True, append_images=[second])
    with Image.open(path) as tif:
        tif.seek(1)
        expected = np.asarray(tif.convert("RGB"), dtype=int)
    got = _stacked(list(rows.tiff_rows(path, 1))).astype(int)
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 2
    tiled = tmp_path / "tiled.tif"
    tifffile.imwrite(tiled, np.asarray(first), tile=(128, 256), compression="zlib")
    blocks = list(rows.tiff_rows(tiled, 0))
    assert [b.shape[0] for b in blocks][:-1] == [128] * (len(blocks) - 1)  # one row of tiles at a time
    assert np.array_equal(_stacked(blocks), np.asarray(first))


def test_corrupt_tiff_strip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hong.tif"
    _scan("RGB").save(path, compression="tiff_lzw")
    data = bytearray(path.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 2000] = b"\xff" * 2000
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"hong\.tif"):
        list(rows.tiff_rows(path, 0))


def test_unusual_tiffs_are_left_to_pillow(tmp_path: Path) -> None:
    rgba, planar, deep = tmp_path / "rgba.tif", tmp_path / "planar.tif", tmp_path / "deep.tif"
    Image.new("RGBA", (40, 30), (1, 2, 3, 4)).save(rgba)
    tifffile.imwrite(planar, np.zeros((3, 30, 40), np.uint8), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(deep, np.zeros((30, 40), np.float32))
    assert not any(rows.tiff_streams(p, 0) for p in (rgba, planar, deep))


PEAK = """
import resource, sys, tempfile
from collections.abc import Iterator
from pathlib import Path
from digitize.ingest import iter_pages
with tempfile.TemporaryDirectory() as work:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [page] = iter_pages(Path(sys.argv[1]), "a1", Path(work), max_pixels=10**9, render_dpi=300)
    assert page.grey is not None
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow  # a child process per sheet: 35 s in all
@pytest.mark.parametrize("kind", ["png", "tif", "tif-one-strip", "jp2"])
def test_large_colour_sheet_is_ingested_in_bounded_memory(kind: str, tmp_path: Path) -> None:
    """A 48-million-pixel colour sheet (Pillow holds it whole in 192 MB; a JPEG 2000 one takes
    OpenJPEG four times that besides; a TIFF in one LZW strip is 144 MB to any decoder of the
    strip) adds a few tens of MB."""
    sheet = np.full((8000, 6000, 3), 250, np.uint8)
    sheet[::50] = (20, 30, 160)  # ink lines
    path = tmp_path / f"a1.{kind.split('-')[0]}"
    if kind == "tif-one-strip":
        tifffile.imwrite(path, sheet, compression="lzw", rowsperstrip=8000, resolution=(300, 300), resolutionunit=2)
    else:
        options = {"tif": {"compression": "tiff_lzw"}, "jp2": {"irreversible": False}}.get(kind, {})
        Image.fromarray(sheet).save(path, dpi=(300, 300), **options)
    del sheet
    grown = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, check=True)
    assert int(grown.stdout) < 80, grown.stdout


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jpeg_in_strips_is_the_whole_sheets_jpeg_byte_for_byte(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips of 16 rows joined into one scan, restart markers numbered on across more than
    256 MCU rows (so their count wraps), from blocks of an odd number of rows."""
    monkeypatch.setattr(rows, "BAND_BYTES", 16 * 64 * 3)
    rng = np.random.default_rng(5)
    img = Image.fromarray(rng.integers(0, 255, (4100, 64, 3), dtype=np.uint8)).convert(mode)
    pixels = np.asarray(img).reshape(img.height, img.width, -1)
    whole = io.BytesIO()
    img.save(whole, "JPEG", quality=75, restart_marker_rows=1)
    blocks = (pixels[y : y + 37] for y in range(0, img.height, 37))
    joined = rows.jpeg(blocks, img.width, img.height, pixels.shape[2], 75, limit=10**9)
    assert joined == whole.getvalue()
    with Image.open(io.BytesIO(joined)) as back:
        assert back.size == img.size and back.mode == mode


def test_jpeg_in_strips_gives_up_once_larger_than_the_limit() -> None:
    pixels = np.random.default_rng(5).integers(0, 255, (640, 200, 3), dtype=np.uint8)
    assert rows.jpeg(iter([pixels]), 200, 640, 3, 75, limit=10_000) is None


def test_png_writer_filters_a_clean_page_and_leaves_a_noisy_one(tmp_path: Path) -> None:
    """Both decode to the same pixels; the clean drawing is written with filter Up (type 2) on
    every row, block boundaries included, the noisy scan without a filter."""
    noisy = np.random.default_rng(9).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    clean = np.full((300, 200, 3), 255, np.uint8)
    clean[::20, 10:190] = (0, 0, 120)
    for pixels, kind in ((noisy, 0), (clean, 2)):
        path = tmp_path / f"p{kind}.png"
        rows.write_png((pixels[y : y + 70] for y in range(0, 300, 70)), 200, 300, 3, path, None)
        assert np.array_equal(np.asarray(Image.open(path)), pixels)
        data = zlib.decompress(b"".join(body for k, body in rows.png_chunks(path) if k == b"IDAT"))
        assert {data[i * (1 + 600)] for i in range(300)} == {kind}


@pytest.mark.parametrize(("mode", "angle"), [("RGB", 4.0), ("RGB", -7.3), ("L", 10.0), ("L", 0.4)])
def test_rotated_in_bands_is_pillows_rotate(mode: str, angle: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pixel for pixel, while the source is pulled only as far as the band being made needs."""
    monkeypatch.setattr(rows, "BAND_BYTES", 30_000)
    img = _scan(mode)
    pixels = np.asarray(img).reshape(img.height, img.width, -1)
    pulled: list[int] = []

    def source() -> Iterator[np.ndarray]:
        for y in range(0, img.height, 41):
            pulled.append(y)
            yield pixels[y : y + 41]

    bands = rows.rotated(source(), img.width, img.height, pixels.shape[2], angle)
    first = next(bands)
    assert len(pulled) < img.height // 41  # not the whole source for the first band
    turned = _stacked([first, *bands])
    expected = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor="white")
    assert np.array_equal(turned, np.asarray(expected))


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_jp2_rows_match_pillow(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows, "JP2_BAND_PIXELS", 700 * 40)  # bands of 40 rows, the last one short
    img = _scan(mode)
    path = tmp_path / "trang.jp2"
    img.save(path, irreversible=False)  # lossless
    assert rows.jp2_streams(path)
    blocks = list(rows.jp2_rows(path))
    assert len(blocks) == -(-img.height // 40)
    assert np.array_equal(_stacked(blocks), np.asarray(img))


def test_cut_jp2_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.jp2"
    _scan("RGB").save(path, irreversible=False)
    path.write_bytes(path.read_bytes()[:20_000])
    with pytest.raises(ValueError, match=r"cut\.jp2"):
        list(rows.jp2_rows(path))


def test_a_tiff_in_one_huge_strip_is_copied_into_band_strips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """By libtiff's tiffcp, which decodes the strip row by row; pixels unchanged. Page two of
    the file; a TIFF in small strips is read as it is."""
    monkeypatch.setattr(rows, "BAND_BYTES", 50_000)  # "huge": above 200 KB
    pixels = np.asarray(_scan("RGB"))
    path = tmp_path / "mot-dai.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(pixels[:100], compression="lzw")
        tif.write(pixels, compression="lzw", rowsperstrip=pixels.shape[0])
    source, index = rows.restripped(path, 1, tmp_path / "strips.tif")
    assert (source, index) == (tmp_path / "strips.tif", 0)
    with tifffile.TiffFile(source) as tif:
        assert tif.pages[0].rowsperstrip == 50_000 // (700 * 3)
    assert np.array_equal(_stacked(list(rows.tiff_rows(source, index))), pixels)
    small = tmp_path / "nho.tif"
    Image.fromarray(pixels).save(small, compression="tiff_lzw")
    assert rows.restripped(small, 0, tmp_path / "unused.tif") == (small, 0)


def test_a_broken_huge_strip_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiffcp stops at the broken strip: the error names the program and the file."""
    monkeypatch.setattr(rows, "BAND_BYTES", 50_000)
    path = tmp_path / "hong.tif"
    tifffile.imwrite(path, np.asarray(_scan("RGB")), compression="lzw", rowsperstrip=523)
    data = bytearray(path.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 3000] = b"\xff" * 3000
    path.write_bytes(bytes(data))
    with pytest.raises(ProgramFailed, match=r"hong\.tif.*tiffcp"):
        rows.restripped(path, 0, tmp_path / "strips.tif")


@pytest.mark.parametrize("samples", [3, 1])
def test_16_bit_tiff_pages_become_8_bit_band_by_band(samples: int, tmp_path: Path) -> None:
    """An archival master at 16 bits a sample: the high byte of each, as Pillow reads it."""
    from digitize.ingest import iter_pages

    shape = (523, 700, samples) if samples == 3 else (523, 700)
    deep = np.random.default_rng(4).integers(0, 65535, shape).astype(np.uint16)
    path = tmp_path / "goc.tif"
    tifffile.imwrite(path, deep, compression="lzw", rowsperstrip=16, resolution=(300, 300), resolutionunit=2)
    assert rows.tiff_streams(path, 0)
    expected = (deep >> 8).astype(np.uint8)
    assert np.array_equal(_stacked(list(rows.tiff_rows(path, 0))), expected)
    [page] = iter_pages(path, "goc.tif", tmp_path, max_pixels=10**8, render_dpi=300)
    with Image.open(page.path) as kept:
        assert kept.format == "PNG" and np.array_equal(np.asarray(kept), expected)

"""Image rows a band at a time: read out of PNG, TIFF and PDF data, written as PNG or JPEG.

A colour A0 sheet is 140 million pixels: decoded whole by Pillow (four bytes a pixel) it alone
takes 560 MB. Ingest passes such sheets through here instead, so that what is held at once is
a band of rows, whatever the sheet's size."""

from __future__ import annotations

import io
import math
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image

from digitize import programs

if TYPE_CHECKING:
    import tifffile

BAND_BYTES = 8 << 20  # rows are handed on in blocks of about this size


def png_chunks(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each chunk of a PNG file, read one at a time."""
    with path.open("rb") as f:
        f.seek(8)
        while head := f.read(8):
            length, kind = struct.unpack(">I4s", head)
            body = f.read(length)
            f.seek(4, 1)  # the CRC
            if len(body) < length:
                raise ValueError(f"{path.name}: PNG chunk {kind!r} cut short")
            yield kind, body
            if kind == b"IEND":
                return


def png_header(path: Path) -> tuple[int, int, int, int, int]:
    """Width, height, bit depth, colour type and interlace method of a PNG file."""
    for kind, body in png_chunks(path):
        if kind == b"IHDR":
            width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", body)
            return width, height, depth, colour, interlace
    raise ValueError(f"{path.name}: no PNG header")


def png_bands(path: Path) -> int | None:
    """The bands of a PNG that ``png_rows`` reads (8-bit grey: 1, RGB: 3, not interlaced), else None."""
    _width, _height, depth, colour, interlace = png_header(path)
    return {0: 1, 2: 3}.get(colour) if depth == 8 and not interlace else None


def png_rows(path: Path) -> Iterator[np.ndarray]:
    """The rows of an 8-bit grey or RGB, non-interlaced PNG, as blocks of shape (rows, width,
    bands). Each block's filtered rows are undone by Pillow's own PNG decoder, given the row
    before them unfiltered, so nothing larger than a block is ever decoded."""
    width, height, _depth, colour, _interlace = png_header(path)
    bands = 3 if colour == 2 else 1
    mode, row = ("RGB" if bands == 3 else "L"), 1 + width * bands
    per_block = max(1, BAND_BYTES // row) * row
    inflate, pending, rows = zlib.decompressobj(), bytearray(), 0
    previous = b"\0" + bytes(width * bands)  # the row above the first: zeros, as PNG says

    def unfiltered(chunk: bytes | bytearray) -> np.ndarray:
        nonlocal previous, rows
        count = min(len(chunk) // row, height - rows)
        data = zlib.compress(previous + chunk[: count * row], 0)  # stored: only framed for the decoder
        block = np.asarray(Image.frombytes(mode, (width, count + 1), data, "zip", mode))[1:]
        previous, rows = b"\0" + block[-1].tobytes(), rows + count
        return block.reshape(count, width, bands)

    for kind, body in png_chunks(path):
        data = body if kind == b"IDAT" else b""
        while data:  # inflated a block at most at a time: one small chunk may hold a whole sheet
            pending += inflate.decompress(data, per_block)
            data = inflate.unconsumed_tail
            while len(pending) >= per_block and rows < height:
                yield unfiltered(pending[:per_block])
                del pending[:per_block]
    if len(pending) >= row and rows < height:
        yield unfiltered(pending)
    if rows < height:
        raise ValueError(f"{path.name}: {rows} of {height} rows")


def _tiff_page(tif: tifffile.TiffFile, index: int) -> tifffile.TiffPage:
    """Page ``index`` of an open TIFF file as a whole page (tifffile's type also allows the
    lighter TiffFrame, which it gives only when asked to)."""
    import tifffile

    page = tif.pages.get(index, aspage=True)
    if not isinstance(page, tifffile.TiffPage):
        raise TypeError(f"page {index}: {type(page).__name__}")
    return page


def tiff_streams(path: Path, index: int) -> bool:
    """Whether ``tiff_rows`` reads this TIFF page: 8- or 16-bit grey or RGB, samples
    interleaved (anything else is decoded whole by Pillow, which also reports a broken file)."""
    import tifffile  # only for TIFF files: it brings its codecs along

    try:
        with tifffile.TiffFile(path) as tif:
            page = _tiff_page(tif, index)
            return bool(
                page.bitspersample in (8, 16)  # 16 bits: the high byte of each sample, as Pillow reads them
                and (page.samplesperpixel, page.photometric) in ((1, 1), (3, 2), (3, 6))
                and (page.photometric != 6 or page.compression == 7)  # YCbCr only inside JPEG
                and (page.samplesperpixel == 1 or page.planarconfig == 1)
                and not page.extrasamples
            )
    except (ValueError, IndexError, KeyError, OSError):
        return False


def restripped(path: Path, index: int, scratch: Path, label: str | None = None) -> tuple[Path, int]:
    """The TIFF file and page to read a page from: as it is, or, when it is stored in a few
    huge compressed strips (some scanners write a whole sheet as one LZW strip, which any
    decoder of the strip holds whole: 420 MB for a colour A0), copied by libtiff's tiffcp
    into ``scratch`` in strips of a band each. tiffcp decodes a strip row by row: 6 MB.
    A failing tiffcp raises ``ProgramFailed`` naming ``label`` (the file's name by default)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = _tiff_page(tif, index)
        row = page.imagewidth * page.samplesperpixel
        huge = not page.is_tiled and min(page.rowsperstrip, page.imagelength) * row > 4 * BAND_BYTES
        if not huge or page.compression not in (5, 8, 32946, 32773):  # LZW, Deflate, PackBits
            return path, index
    programs.restrip_tiff(path, index, max(1, BAND_BYTES // row), scratch, label=label or path.name)
    return scratch, 0


def _eight_bits(block: np.ndarray) -> np.ndarray:
    return block if block.dtype == np.uint8 else (block >> 8).astype(np.uint8)


def tiff_rows(path: Path, index: int) -> Iterator[np.ndarray]:
    """The rows of page ``index`` of a TIFF file in blocks of shape (rows, width, bands):
    uncompressed rows straight from the file, compressed ones a strip or a row of tiles at a
    time (each is compressed on its own; see ``restripped`` for pages in a few huge strips)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = _tiff_page(tif, index)
            width, height, bands = page.imagewidth, page.imagelength, page.samplesperpixel
            if page.compression == 1 and page.is_contiguous and page.dtype is not None:
                offset, size = page.dataoffsets[0], width * height * bands
                pixels = np.memmap(path, page.dtype, "r", offset, (size,)).reshape(height, width, bands)
                step = max(1, BAND_BYTES // (width * bands))
                for top in range(0, height, step):
                    yield _eight_bits(np.array(pixels[top : top + step]))
                return
            band: np.ndarray | None = None
            top = 0
            for segment, (_s, _d, y, x, _b), _shape in page.segments(sort=True):
                if segment is None:  # tifffile's answer for a strip or tile the file lacks
                    raise ValueError(f"{path.name}: the strip or tile at row {y} is missing")
                strip_rows, columns, samples = segment.shape[-3:]
                tile = segment.reshape(strip_rows, columns, samples)
                if not page.is_tiled:  # a strip: its rows as they are
                    yield _eight_bits(tile[: height - y])
                    continue
                if band is not None and y != top:
                    yield _eight_bits(band)
                    band = None
                if band is None:
                    top = y
                    band = np.empty((min(tile.shape[0], height - y), width, bands), tile.dtype)
                span = band[:, x : x + tile.shape[1]]
                span[...] = tile[: span.shape[0], : span.shape[1]]
            if band is not None:
                yield _eight_bits(band)
    except (RuntimeError, IndexError, KeyError, AttributeError) as e:  # the codecs' errors, a strip missing
        raise ValueError(f"{path.name}: {e}") from e


JP2_BAND_PIXELS = 2_500_000  # a JPEG 2000 band: OpenJPEG holds 4 bytes a sample of what it decodes


def jp2_streams(path: Path) -> bool:
    """Whether ``jp2_rows`` reads this JPEG 2000 file: 8-bit grey or RGB."""
    import glymur  # the system's OpenJPEG, which decodes an area of a codestream

    try:
        jp2 = glymur.Jp2k(path)
        return jp2.dtype == np.uint8 and (len(jp2.shape) == 2 or jp2.shape[2] in (1, 3))
    except (OSError, ValueError, RuntimeError):
        return False


def jp2_rows(path: Path) -> Iterator[np.ndarray]:
    """The rows of a JPEG 2000 file in bands of shape (rows, width, bands), each band decoded
    on its own (OpenJPEG decodes only the code-blocks it needs): decoded whole, an A0 colour
    sheet took 2.3 GB, and a band at a time 0.2 GB."""
    import glymur

    try:
        jp2 = glymur.Jp2k(path)
        height, width = jp2.shape[:2]
        step = max(16, JP2_BAND_PIXELS // width)
        for top in range(0, height, step):
            band = jp2[top : min(height, top + step), :]
            yield band.reshape(band.shape[0], width, -1)
    except (OSError, RuntimeError) as e:  # glymur's OpenJPEGLibraryError is an OSError
        raise ValueError(f"{path.name}: {e}") from e


def grey(block: np.ndarray) -> np.ndarray:
    """A block of rows in grey, as Pillow's convert("L") makes it (six times numpy's speed)."""
    return block[..., 0] if block.shape[-1] == 1 else np.asarray(Image.fromarray(block).convert("L"))


class PngWriter:
    """A PNG written a block of rows at a time; a no-op without a path.

    How it compresses is chosen on the first block. A clean page (a drawing: paper and lines)
    gets filter Up and zlib level 6, three to five times smaller for little more time; a
    noisy scan gets no filter and level 1, since level 6 takes it eight times as long to
    save a tenth."""

    def __init__(self, path: Path | None, width: int, height: int, bands: int) -> None:
        self.path, self.header = path, struct.pack(">IIBBBBB", width, height, 8, 2 if bands == 3 else 0, 0, 0, 0)
        self.deflate: zlib._Compress | None = None
        self.above = np.zeros((1, width * bands), np.uint8)  # the row before the block: zeros at the top

    def __enter__(self) -> PngWriter:
        if self.path is not None:
            self.f: BinaryIO = self.path.open("wb")
            self.f.write(b"\x89PNG\r\n\x1a\n")
            self._chunk(b"IHDR", self.header)
        return self

    def rows(self, block: np.ndarray) -> None:
        if self.path is None:
            return
        flat = block.reshape(block.shape[0], -1)
        if self.deflate is None:
            self.up = len(zlib.compress(flat.tobytes(), 1)) * 20 < flat.nbytes
            self.deflate = zlib.compressobj(6 if self.up else 1)
        if self.up:
            rows = flat - np.vstack([self.above, flat[:-1]])  # wraps around mod 256, as PNG's Up
            self.above = flat[-1:]
        else:
            rows = flat
        kind = np.full((flat.shape[0], 1), 2 if self.up else 0, np.uint8)
        self._chunk(b"IDAT", self.deflate.compress(np.hstack([kind, rows]).tobytes()))

    def _chunk(self, kind: bytes, body: bytes) -> None:
        self.f.write(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))

    def __exit__(self, *exc: object) -> None:
        if self.path is None:
            return
        if exc[0] is None:
            self._chunk(b"IDAT", (self.deflate or zlib.compressobj(1)).flush())
            self._chunk(b"IEND", b"")
        self.f.close()


def write_png(
    blocks: Iterable[np.ndarray], width: int, height: int, bands: int, target: Path | None, grey_copy: Path | None
) -> None:
    """Blocks of rows written as the page's PNG (``target``) and, for OCR, as a grey PNG
    (``grey_copy``); either may be None."""
    rows = 0
    with PngWriter(target, width, height, bands) as page_png, PngWriter(grey_copy, width, height, 1) as grey_png:
        for block in blocks:
            page_png.rows(block)
            if grey_copy is not None:
                grey_png.rows(grey(block))
            rows += block.shape[0]
        if rows != height:
            raise ValueError(f"{rows} of {height} rows")


def rotation(width: int, height: int, angle: float) -> tuple[float, float, float, float, float, float]:
    """Pillow's own affine matrix for ``rotate(angle)`` about the centre of a width×height image:
    from a point of the result back to the source. Cutting a turned image in pieces with it
    gives the same pixels as turning the whole."""
    theta = -math.radians(angle)
    a, b, d, e = (round(v, 15) for v in (math.cos(theta), math.sin(theta), -math.sin(theta), math.cos(theta)))
    cx, cy = width / 2, height / 2
    return a, b, cx - a * cx - b * cy, d, e, cy - d * cx - e * cy


def rotated(blocks: Iterable[np.ndarray], width: int, height: int, bands: int, angle: float) -> Iterator[np.ndarray]:
    """The rows of the image turned ``angle`` degrees counter-clockwise about its centre, as
    Pillow's ``rotate(angle, BICUBIC, fillcolor=white)`` makes them, a band at a time: a band of
    the result needs only the rows its corners come from (and a few more for the bicubic
    kernel), so what is held is a band and, at 10 degrees, a sixth of the sheet's width above
    and below it."""
    a, b, c, d, e, f = rotation(width, height, angle)
    source = iter(blocks)
    window, top = np.empty((0, width, bands), np.uint8), 0  # source rows top … top + len(window)
    step = max(16, BAND_BYTES // 4 // (width * bands))  # small bands: each also holds the rows the slope spans
    for y0 in range(0, height, step):
        y1 = min(height, y0 + step)
        ys = [d * (x + 0.5) + e * (y + 0.5) + f for x in (0, width) for y in (y0, y1)]
        first, last = max(0, math.floor(min(ys)) - 3), min(height, math.ceil(max(ys)) + 3)
        if first > top:
            window, top = window[first - top :], first
        while top + len(window) < last:
            window = np.concatenate([window, next(source)])
        part = Image.fromarray(window[: last - top, :, 0] if bands == 1 else window[: last - top])
        matrix = (a, b, c + b * y0, d, e, f + e * y0 - top)
        turned = part.transform(
            (width, y1 - y0), Image.Transform.AFFINE, matrix, Image.Resampling.BICUBIC, fillcolor="white"
        )
        yield np.asarray(turned).reshape(y1 - y0, width, bands)


def _strips(blocks: Iterable[np.ndarray], rows: int) -> Iterator[np.ndarray]:
    """The same rows cut again into strips of ``rows`` (the last one shorter)."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += block.shape[0]
        while held >= rows:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield joined[:rows]
            pending, held = [joined[rows:]], held - rows
    if held:
        yield np.concatenate(pending)


def _scan_start(jpeg: bytes) -> int:
    """Where the entropy-coded data of a baseline JPEG starts: after its SOS segment."""
    pos = 2
    while jpeg[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return pos + 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")


def jpeg(blocks: Iterable[np.ndarray], width: int, height: int, bands: int, quality: int, limit: int) -> bytes | None:
    """One baseline JPEG made of strips encoded one at a time, or None once it would be larger
    than ``limit`` bytes. Each strip is a whole number of MCU rows with a restart marker after
    every MCU row, and every strip uses the standard Huffman tables: so the strips' scans join
    into one scan, byte for byte the file the encoder makes of the whole sheet, but never
    more than a strip is decoded at once (Pillow encodes only from a whole image)."""
    parts: list[bytes] = []
    size = restarts = 0
    for strip in _strips(blocks, max(16, BAND_BYTES // (width * bands) // 16 * 16)):  # 16: 4:2:0's MCU
        out = io.BytesIO()
        Image.fromarray(strip[..., 0] if bands == 1 else strip).save(
            out, "JPEG", quality=quality, restart_marker_rows=1
        )
        data = out.getvalue()
        start = _scan_start(data)
        scan = np.frombuffer(data, np.uint8, len(data) - start - 2, start).copy()  # without its EOI
        markers = np.flatnonzero((scan[:-1] == 0xFF) & (scan[1:] >= 0xD0) & (scan[1:] <= 0xD7)) + 1
        if parts:
            parts.append(bytes([0xFF, 0xD0 + restarts % 8]))  # the MCU row before it ended its strip
            restarts += 1
            scan[markers] = 0xD0 + (scan[markers] - 0xD0 + restarts % 8) % 8
        else:
            head = bytearray(data[:start])
            sof = head.find(b"\xff\xc0")
            head[sof + 5 : sof + 7] = height.to_bytes(2, "big")  # the whole sheet's height
            parts.append(bytes(head))
        restarts += len(markers)
        parts.append(scan.tobytes())
        size += len(parts[-1])
        if size > limit:
            return None
    return b"".join([*parts, b"\xff\xd9"])

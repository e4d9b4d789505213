"""Large format: paper sizes, blank pages, two-page spreads and tiled OCR of sheets above A3."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from digitize import ink
from digitize.ocr import Line, Word, opened

# ISO 216, millimetres, portrait
A_SIZES = {"A5": (148, 210), "A4": (210, 297), "A3": (297, 420), "A2": (420, 594), "A1": (594, 841), "A0": (841, 1189)}
FIT = 1.06  # a scan is a little larger than its paper
TILE_PX = 2000  # about A5 at 300 dpi: Tesseract's working memory grows with the tile
TILE_OVERLAP_PX = 400  # wider than a word of large lettering, so every word is whole in some tile


def paper_size(width_px: int, height_px: int, dpi: tuple[float, float]) -> str:
    """The smallest A size the page fits on ("A4", "A0"…), or "lớn hơn A0"."""
    short, long = sorted((width_px / dpi[0] * 25.4, height_px / dpi[1] * 25.4))
    for name, (w, h) in A_SIZES.items():
        if short <= w * FIT and long <= h * FIT:
            return name
    return "lớn hơn A0"


def is_large(paper: str) -> bool:
    """Above A3: drawings and maps, OCR'd in tiles (and due 300 dpi)."""
    return paper in ("A2", "A1", "A0", "lớn hơn A0")


def analysis_copy(image: Image.Image, dpi: float) -> np.ndarray:
    """Ink mask (True where ink) of a small grey copy, for layout decisions only: cut at the
    page's own paper and ink levels (see digitize.ink)."""
    return ink.analysis(image, dpi)[0]


BLANK_INK_PX = 20  # about 5 mm² of ink at the analysis resolution: less than a short word


def is_blank(ink: np.ndarray) -> bool:
    """No ink inside a 3 % margin (where scanner edges cast shadows). Counted in absolute
    area, not as a share of the page, so one line on an A0 sheet is not blank; specks of
    dust vanish in the box-averaged mask."""
    h, w = ink.shape
    my, mx = max(1, h * 3 // 100), max(1, w * 3 // 100)
    return bool(ink[my : h - my, mx : w - mx].sum() < BLANK_INK_PX)


def is_spread_shape(width_px: int, height_px: int, dpi: tuple[float, float]) -> bool:
    """Landscape with two portrait halves: an open booklet, or two A4 pages on A3."""
    aspect = (width_px / dpi[0]) / (height_px / dpi[1])
    return 1.2 <= aspect <= 1.65


PAGE_MARGIN = 0.1  # a right-hand page's text starts this share of the spread's width past the middle, at most


def find_gutter(ink: np.ndarray) -> float | None:
    """Where a two-page spread divides, as a fraction of the width, or None.

    A gutter is a white band in the middle fifth with ink on both sides, or the dark
    shadow of a booklet's fold; text lines running across the middle mean one page."""
    w = ink.shape[1]
    if w < 20:
        return None
    columns = ink.mean(axis=0)
    lo, hi = int(w * 0.4), int(w * 0.6)
    inked = columns > 0.003
    if inked[:lo].mean() < 0.05 or inked[hi:].mean() < 0.05:
        # One side (nearly) empty: a single page with a wide margin; unless it is a right-hand
        # page with a few short lines, white at the middle and its ink starting a margin past it.
        mid, least = w // 2, max(2, w // 100)
        right = np.flatnonzero(inked[mid:])
        two = right.size >= least and right[0] <= PAGE_MARGIN * w and inked[:mid].sum() >= least
        return 0.5 if two and not inked[mid - least : mid].any() else None
    best: tuple[int, int] | None = None
    start = None
    for x in range(lo, hi + 1):
        white = x < hi and columns[x] < 0.003
        if white and start is None:
            start = x
        elif not white and start is not None:
            if best is None or x - start > best[1] - best[0]:
                best = (start, x)
            start = None
    if best is not None and best[1] - best[0] >= max(2, w // 100):
        if best[0] <= w / 2 <= best[1]:
            return 0.5  # two sheets side by side meet in the middle
        return (best[0] + best[1]) / 2 / w
    dark = np.flatnonzero(columns[lo:hi] > 0.85)
    if dark.size and dark.size <= w * 0.05:
        return (lo + float(dark.mean())) / w  # the fold's shadow
    return None


@dataclass(frozen=True)
class Tile:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the page image
    core: tuple[int, int, int, int]  # the part whose words this tile keeps


def tiles(width: int, height: int, size: int = TILE_PX, overlap: int = TILE_OVERLAP_PX) -> list[Tile]:
    """Overlapping tiles covering the page; their cores cover it exactly once."""

    def spans(length: int) -> list[tuple[int, int, int, int]]:
        count = max(1, math.ceil((length - overlap) / (size - overlap)))
        step = (length - overlap) / count
        out = []
        for i in range(count):
            a, b = round(i * step), round(i * step + step + overlap) if i < count - 1 else length
            core_a = 0 if i == 0 else a + overlap // 2
            core_b = length if i == count - 1 else round((i + 1) * step) + overlap // 2
            out.append((a, min(b, length), core_a, core_b))
        return out

    return [
        Tile((x0, y0, x1, y1), (cx0, cy0, cx1, cy1))
        for (y0, y1, cy0, cy1) in spans(height)
        for (x0, x1, cx0, cx1) in spans(width)
    ]


EDGE_PX = 2  # a word this close to a tile's edge inside the sheet may be cut by it
SAME_WORD = 0.3  # two readings sharing this much of the smaller box are one word
BUCKET_PX = 512  # words are compared with those in the same squares of this size only


def _overlap(a: Word, b: Word) -> bool:
    w = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    h = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    return w > 0 and h > 0 and w * h > SAME_WORD * min(a.width * a.height, b.width * b.height)


def _buckets(word: Word) -> list[tuple[int, int]]:
    xs = range(word.left // BUCKET_PX, (word.left + word.width) // BUCKET_PX + 1)
    return [(x, y) for x in xs for y in range(word.top // BUCKET_PX, (word.top + word.height) // BUCKET_PX + 1)]


def _merged(layout: list[Tile], results: list[list[Line]], width: int, height: int) -> list[Line]:
    """The tiles' words in page coordinates, each word once. A word is taken from the tile whose
    core holds its centre, as long as that tile holds it whole; a word the tile's edge cuts
    (the engine reads "ân" for "Sân", or nothing) is taken from a tile that holds it whole.
    Only a word no tile holds whole (wider than the overlap) is taken cut (and read again with
    its line: see _reread_seams)."""
    readings = []  # (preference, tile, line, word): 0 whole in its own tile, 1 whole in another, 2 cut in its own
    for t, (tile, lines) in enumerate(zip(layout, results, strict=True)):
        x0, y0, x1, y1 = tile.box
        cx0, cy0, cx1, cy1 = tile.core
        for n, line in enumerate(lines):
            for w in line.words:
                word = Word(w.text, w.left + x0, w.top + y0, w.width, w.height, w.conf)
                cut = (
                    (x0 > 0 and word.left - x0 <= EDGE_PX)
                    or (y0 > 0 and word.top - y0 <= EDGE_PX)
                    or (x1 < width and x1 - word.left - word.width <= EDGE_PX)
                    or (y1 < height and y1 - word.top - word.height <= EDGE_PX)
                )
                own = cx0 <= word.left + word.width / 2 < cx1 and cy0 <= word.top + word.height / 2 < cy1
                if own or not cut:
                    readings.append((2 if cut else 0 if own else 1, t, n, word))
    taken: dict[tuple[int, int], list[Word]] = {}
    pieces: dict[tuple[int, int], list[Word]] = {}
    for _, t, n, word in sorted(readings, key=lambda r: r[0]):
        near = _buckets(word)
        if not any(_overlap(word, other) for b in near for other in taken.get(b, ())):
            for b in near:
                taken.setdefault(b, []).append(word)
            pieces.setdefault((t, n), []).append(word)
    return [_line_of(words) for words in pieces.values()]


def _seam_windows(layout: list[Tile], lines: list[Line], width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Windows around the lines that cross a seam (where two tiles' cores meet), with a margin
    of their height: no tile may hold such a line whole, or one holds it by its very edge, where
    the engine misreads ("tƯỚC" for "trước"); the window holds it whole. Overlapping ones united."""
    xs = {t.core[2] for t in layout if t.core[2] < width}
    ys = {t.core[3] for t in layout if t.core[3] < height}
    boxes = []
    for ln in lines:
        if any(ln.left < x < ln.left + ln.width for x in xs) or any(ln.top < y < ln.top + ln.height for y in ys):
            m = ln.height
            boxes.append(
                [
                    max(0, ln.left - 2 * m),
                    max(0, ln.top - m // 2),
                    min(width, ln.left + ln.width + 2 * m),
                    min(height, ln.top + ln.height + m // 2),
                ]
            )
    merged: list[list[int]] = []
    for box in sorted(boxes):
        for other in merged:
            if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                other[:] = [min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3])]
                break
        else:
            merged.append(box)
    return [(a, b, c, d) for a, b, c, d in merged]


def _line_of(words: list[Word]) -> Line:
    words = sorted(words, key=lambda w: w.left)
    left, top = min(w.left for w in words), min(w.top for w in words)
    right, bottom = max(w.left + w.width for w in words), max(w.top + w.height for w in words)
    return Line(left, top, right - left, bottom - top, tuple(words))


def _same_row(line: Line, word: Word) -> bool:
    overlap = min(line.top + line.height, word.top + word.height) - max(line.top, word.top)
    reach = 2 * word.height
    return (
        overlap > 0.6 * min(line.height, word.height)
        and word.left < line.left + line.width + reach
        and line.left < word.left + word.width + reach
    )


def _reread_seams(
    img: Image.Image, layout: list[Tile], lines: list[Line], recognize: Callable[[Image.Image], list[Line]]
) -> list[Line]:
    """Lines across a seam, read again from a window that holds them whole: the window's whole
    words replace the readings they cover, in their line."""
    for x0, y0, x1, y1 in _seam_windows(layout, lines, img.width, img.height):
        piece = img.crop((x0, y0, x1, y1))
        found = [
            Word(w.text, w.left + x0, w.top + y0, w.width, w.height, w.conf)
            for line in recognize(piece if piece.mode in ("1", "L") else piece.convert("L"))
            for w in line.words
            if min(w.left, w.top, x1 - x0 - w.left - w.width, y1 - y0 - w.top - w.height) > EDGE_PX
        ]
        if not found:
            continue  # the engine read nothing whole there: keep the pieces
        rows = [[w for w in ln.words if not any(_overlap(w, f) for f in found)] for ln in lines]
        for f in found:
            row = next((r for r, ln in zip(rows, lines, strict=True) if _same_row(ln, f)), None)
            if row is None:
                rows.append([f])
                lines.append(Line(f.left, f.top, f.width, f.height, (f,)))
            else:
                row.append(f)
        lines = [_line_of(row) for row in rows if row]
    return lines


def join_pieces(lines: list[Line]) -> list[Line]:
    """Lines cut at a tile seam, joined again: pieces side by side at the same height."""
    joined: list[Line] = []
    for line in sorted(lines, key=lambda item: item.left):
        for n, prev in enumerate(joined):
            overlap = min(prev.top + prev.height, line.top + line.height) - max(prev.top, line.top)
            gap = line.left - (prev.left + prev.width)
            if overlap > 0.6 * min(prev.height, line.height) and -prev.height < gap < 2 * prev.height:
                top, bottom = min(prev.top, line.top), max(prev.top + prev.height, line.top + line.height)
                joined[n] = Line(
                    prev.left, top, line.left + line.width - prev.left, bottom - top, prev.words + line.words
                )
                break
        else:
            joined.append(line)
    return sorted(joined, key=lambda item: (item.top, item.left))


def recognize_tiled(
    image: Path | Image.Image, recognize: Callable[[Image.Image], list[Line]], pool: ThreadPoolExecutor
) -> list[Line]:
    """OCR a large sheet as overlapping tiles run in parallel, merged without duplicates."""
    with opened(image) as img:
        img.load()  # one decode; the tiles are cut from it

        def read(tile: Tile) -> list[Line]:
            piece = img.crop(tile.box)
            return recognize(piece if piece.mode in ("1", "L") else piece.convert("L"))

        layout = tiles(img.width, img.height)
        results = list(pool.map(read, layout))
        lines = join_pieces(_merged(layout, results, img.width, img.height))
        return join_pieces(_reread_seams(img, layout, lines, recognize))

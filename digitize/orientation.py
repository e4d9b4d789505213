"""Orientation signals: is a page turned, and which way? The archived image is never rotated.

Before OCR, the small ink mask says whether text runs vertically (a page turned 90° or
270°), and which way up its lines stand (more ink above their core than below). Only when
that evidence is weak does Tesseract's orientation detection run. After OCR, low confidence
or words boxed upright (Tesseract reads a page turned 270° as vertical text) say the page is
turned after all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from digitize import deskew, ocr

LOW_CONFIDENCE = 70.0
MIN_OSD_CONFIDENCE = 2.0
OSD_DPI = 150  # enough for orientation; a smaller image keeps detection cheap
# A copy for OSD larger than this (a sheet above A3) goes to the engine in black and white: in
# grey, Tesseract took 125 MB more for an A0 drawing, and found the same turns (confidence 9-12
# against 11-14; at a lower resolution instead it found none).
OSD_GREY_PIXELS = 8_000_000
TURN = {  # clockwise turns, as PIL transposes
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def looks_sideways(ink: np.ndarray) -> bool:
    """Text lines run vertically: inside the inked area, many empty columns and no empty rows."""
    rows, cols = ink.any(axis=1), ink.any(axis=0)
    if not rows.any():
        return False
    (r0, r1), (c0, c1) = np.flatnonzero(rows)[[0, -1]], np.flatnonzero(cols)[[0, -1]]
    box = ink[r0 : r1 + 1, c0 : c1 + 1]
    empty_rows, empty_cols = (~box.any(axis=1)).mean(), (~box.any(axis=0)).mean()
    return bool(empty_cols > 0.2 and empty_cols > 3 * empty_rows)


UPSIDE_DOWN = 0.75  # upright_ratio under this hints at a page turned 180°
SURE = 1.5  # upright_ratio from this on (or under its inverse) decides without OSD
MIN_LINES = 3  # fewer measured lines say nothing either way


def upright_ratio(ink: np.ndarray) -> float:
    """Ink above the lines' core over ink below it. Latin script, Vietnamese most of all, carries
    more above (capitals, ascenders, tone marks) than below (descenders): upright Vietnamese pages
    measured 2.3-11, English scans 1.5-3.7, book pages and printouts 0.8-1.4; the same pages
    turned 180° the inverse. 1.0 when too few lines to tell."""
    profile = ink.mean(axis=1)
    rows = np.flatnonzero(profile > 0)
    above = below = 0.0
    lines = 0
    for line in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1) if len(rows) else []:
        p = profile[line]
        if len(p) < 3:
            continue
        core = np.flatnonzero(p >= 0.5 * p.max())
        above += float(p[: core[0]].sum())
        below += float(p[core[-1] + 1 :].sum())
        lines += 1
    if lines < MIN_LINES or not above + below:
        return 1.0
    return above / below if below else math.inf


def turned(ink: np.ndarray, rotate: int) -> np.ndarray:
    """The mask turned ``rotate`` degrees clockwise (np.rot90 turns counter-clockwise)."""
    return np.rot90(ink, k=-rotate // 90)


def from_ink(ink: np.ndarray, slope: Callable[[int], float] | None = None) -> tuple[int, ...]:
    """Clockwise turns that may make the page upright, by its ink: one when the ink says so
    plainly, else the two for OSD to choose from (90 or 270, 0 or 180). Lines running vertically
    say 90 or 270; their ink above and below the core, once levelled (sloping lines blur into
    one another), says which. ``slope(rotate)`` is the skew of the mask so turned, if measured."""

    def angle(rotate: int) -> float:
        return slope(rotate) if slope else deskew.measure_skew(turned(ink, rotate))

    def ratio(base: int) -> float:
        return upright_ratio(deskew.levelled(turned(ink, base), angle(base)))

    def sideways_once_levelled() -> bool:  # a sideways page that is also skewed leaves no empty column
        return looks_sideways(turned(deskew.levelled(turned(ink, 90), angle(90)), 270))

    base = 90 if looks_sideways(ink) else 0
    evidence = ratio(base)
    if not base and 1 / SURE < evidence < SURE and sideways_once_levelled():
        base, evidence = 90, ratio(90)
    if evidence >= SURE:
        return (base,)
    if evidence <= 1 / SURE:
        return (base + 180,)
    if not base and evidence >= UPSIDE_DOWN:
        return (0,)  # no hint of a turn: most pages come upright, and OSD would cost more than it saves
    return (base, base + 180)


def looks_wrong(lines: list[ocr.Line]) -> bool:
    words = [w for line in lines for w in line.words]
    if not words:
        return False  # blank or a drawing: detection has nothing to go on either
    mean = sum(w.conf for w in words) / len(words)
    long_words = [w for w in words if len(w.text) >= 3]
    vertical = sum(w.height > w.width for w in long_words)
    return mean < LOW_CONFIDENCE or (bool(long_words) and vertical > len(long_words) / 2)


def _black_and_white(img: Image.Image) -> Image.Image:
    """A grey image thresholded where Otsu's method puts it (as the engine would binarize it)."""
    counts = np.array(img.histogram(), dtype=np.float64)
    levels = np.arange(256)
    below = np.cumsum(counts)
    mass = np.cumsum(counts * levels)
    above = below[-1] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * below - mass * below[-1]) ** 2 / (below * above)
    threshold = int(np.nanargmax(np.where(above > 0, between, np.nan)))
    return img.point([255 if v > threshold else 0 for v in range(256)], "1")


def detect(image: Path | Image.Image, dpi: float, *, tessdata: Path) -> int:
    """Clockwise degrees that make the page upright, by Tesseract's detection on a small copy; 0 if unsure."""
    with ocr.opened(image) as img:
        factor, width = max(1, round(dpi / OSD_DPI)), img.width
        if img.format == "JPEG":  # the decoder scales down by itself, far cheaper than a full decode
            img.draft("L", (width // factor, img.height // factor))
            factor = max(1, round(img.width / (width / factor)))
        grey = img if img.mode in ("L", "RGB") else img.convert("L")
        # Box averaging by a whole factor: as good for OSD as resampling, and ten times cheaper.
        small = grey.reduce(factor)
        small = small if small.mode == "L" else small.convert("L")
        if small.width * small.height > OSD_GREY_PIXELS:
            small = _black_and_white(small)
        small.info["dpi"] = (dpi * small.width / width,) * 2
    osd = ocr.detect_orientation(small, tessdata=tessdata)
    if osd is None or osd.confidence < MIN_OSD_CONFIDENCE:
        return 0
    return osd.rotate

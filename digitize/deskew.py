"""Deskew: straighten the OCR input of a skewed page; the archived image stays as scanned.

Tesseract boxes lines axis-aligned, so on a skewed page a long line's box grows taller
than its words: that costs nothing to notice. Past a few degrees Tesseract may find no
text at all ("Empty page!!"), so an empty reading is measured too. Only then is the angle
measured (projection profile on a small copy) and the page read again straightened.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from statistics import median

import numpy as np
from PIL import Image

from digitize import ocr
from digitize.orientation import TURN, Reading, Recognize

MAX_SKEW = 10.0  # degrees
MIN_SKEW = 0.3  # below this, straightening changes nothing Tesseract would notice
TALL_LINES = 1.15  # line box height / word height that says the lines slope
PROFILE_DPI = 75


def looks_skewed(lines: list[ocr.Line]) -> bool:
    if not lines:
        return True
    ratios = []
    for line in lines:
        if len(line.words) >= 3:
            word_height = median(w.height for w in line.words)
            if line.width > 10 * word_height:
                ratios.append(line.height / word_height)
    return len(ratios) >= 3 and median(ratios) > TALL_LINES


def _sharpness(ink: Image.Image, angle: float) -> float:
    rows = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float32).sum(axis=1)
    return float(np.square(np.diff(rows)).sum())


def measure_skew(image: Image.Image, dpi: float) -> float:
    """The counter-clockwise angle, in degrees, that makes the text lines level."""
    scale = min(1.0, PROFILE_DPI / dpi)
    small = image.convert("L").resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
    ink = small.point(lambda v: 255 if v < 160 else 0)  # text white on black, so rotation fills with "no ink"
    coarse = max(np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 1.0), key=lambda a: _sharpness(ink, float(a)))
    fine = max(np.arange(coarse - 1.0, coarse + 1.01, 0.1), key=lambda a: _sharpness(ink, float(a)))
    return round(float(fine), 2)


def straighten(image: Path, reading: Reading, dpi: float, *, recognize: Recognize) -> Reading:
    """Read a skewed page again from a straightened copy, if that reads at least as well."""
    if not looks_skewed(reading.lines):
        return reading
    with Image.open(image) as img:
        upright = img.transpose(TURN[reading.rotate]) if reading.rotate else img.convert(img.mode)
        angle = measure_skew(upright, dpi)
        if abs(angle) < MIN_SKEW:
            return reading
        fill = 255 if upright.mode in ("1", "L") else (255, 255, 255)
        straight = upright.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=fill)
        copy = image.with_name(image.stem + "-deskew.png")
        straight.save(copy, format="PNG", compress_level=1)
    lines = recognize(copy)
    copy.unlink()
    second = replace(reading, lines=lines, skew=angle)
    return second if second.score >= reading.score else reading


def unskew(angle: float, width_pt: float, height_pt: float) -> Callable[[float, float], tuple[float, float]]:
    """Maps a point of the straightened page back onto the skewed scan: a turn of ``angle``
    degrees clockwise about the page centre (the copy was turned counter-clockwise)."""
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cx, cy = width_pt / 2, height_pt / 2

    def place(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        return cx + cos * dx + sin * dy, cy - sin * dx + cos * dy

    return place

"""Deskew: measure how far a page's text lines slope; the archived image stays as scanned.

The angle is measured on the small ink mask by projection profile (the rotation that
makes rows of ink sharpest). After OCR, long lines boxed taller than their words show a
slope too small to have been corrected beforehand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import median

import numpy as np
from PIL import Image

from digitize import ocr

MAX_SKEW = 10.0  # degrees
MIN_SKEW = 0.3  # below this, straightening changes nothing Tesseract would notice
PRE_SKEW = 1.0  # from this slope on, straighten before the first OCR pass
TALL_LINES = 1.15  # line box height / word height that says the lines slope


def looks_skewed(lines: list[ocr.Line]) -> bool:
    if not lines:
        return True  # past a few degrees Tesseract may find no text at all ("Empty page!!")
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


def measure_skew(ink: np.ndarray) -> float:
    """The counter-clockwise angle, in degrees, that makes the text lines of an ink mask level."""
    if not ink.any():
        return 0.0
    mask = Image.fromarray(ink.astype(np.uint8) * 255)  # rotation fills with "no ink"
    coarse = max(np.arange(-MAX_SKEW, MAX_SKEW + 0.01, 1.0), key=lambda a: _sharpness(mask, float(a)))
    fine = max(np.arange(coarse - 1.0, coarse + 1.01, 0.1), key=lambda a: _sharpness(mask, float(a)))
    return round(float(fine), 2)


def unskew(angle: float, width_pt: float, height_pt: float) -> Callable[[float, float], tuple[float, float]]:
    """Maps a point of the straightened page back onto the skewed scan: a turn of ``angle``
    degrees clockwise about the page centre (the copy was turned counter-clockwise)."""
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    cx, cy = width_pt / 2, height_pt / 2

    def place(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - cx, y - cy
        return cx + cos * dx + sin * dy, cy - sin * dx + cos * dy

    return place

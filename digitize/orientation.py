"""Orientation signals: is a page turned, and which way? The archived image is never rotated.

Before OCR, the small ink mask says whether text runs vertically (a page turned 90° or
270°); only then does Tesseract's orientation detection run. After OCR, low confidence or
words boxed upright (Tesseract reads a page turned 270° as vertical text) say the page is
turned after all, for instance upside down.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from digitize import ocr

LOW_CONFIDENCE = 70.0
MIN_OSD_CONFIDENCE = 2.0
OSD_DPI = 150  # enough for orientation; a smaller image keeps detection cheap
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


def looks_wrong(lines: list[ocr.Line]) -> bool:
    words = [w for line in lines for w in line.words]
    if not words:
        return False  # blank or a drawing: detection has nothing to go on either
    mean = sum(w.conf for w in words) / len(words)
    long_words = [w for w in words if len(w.text) >= 3]
    vertical = sum(w.height > w.width for w in long_words)
    return mean < LOW_CONFIDENCE or (bool(long_words) and vertical > len(long_words) / 2)


def detect(image: Path | Image.Image, dpi: float, *, tessdata: Path) -> int:
    """Clockwise degrees that make the page upright, by Tesseract's detection on a small copy; 0 if unsure."""
    with ocr.opened(image) as img:
        scale = min(1.0, OSD_DPI / dpi)
        small = img.convert("L").resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    osd = ocr.detect_orientation(small, tessdata=tessdata)
    if osd is None or osd.confidence < MIN_OSD_CONFIDENCE:
        return 0
    return osd.rotate

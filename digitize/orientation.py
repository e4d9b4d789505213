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


UPSIDE_DOWN = 0.75  # ink above/below the lines' core: upright pages measured 0.88-17, turned 0.04-0.66


def looks_upside_down(ink: np.ndarray) -> bool:
    """Latin script, Vietnamese most of all, carries more ink above its lines' core (capitals,
    ascenders, tone marks) than below it (descenders): lines heavier below hint at a page
    turned 180°. Only a hint, so OSD can be asked before a wasted OCR pass; OSD decides."""
    profile = ink.mean(axis=1)
    rows = np.flatnonzero(profile > 0)
    if not len(rows):
        return False
    above = below = 0.0
    for line in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1):
        p = profile[line]
        if len(p) < 3:
            continue
        core = np.flatnonzero(p >= 0.5 * p.max())
        above += float(p[: core[0]].sum())
        below += float(p[core[-1] + 1 :].sum())
    return below > 0 and above / below < UPSIDE_DOWN


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

"""Orientation: find pages scanned sideways or upside down; the archived image is never rotated.

Tesseract's orientation detection costs about as much as OCR itself, so it runs only when
the first OCR pass looks wrong: low confidence, or words boxed vertically (Tesseract
reads a page turned 270° as vertical text, with good confidence but sideways boxes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Reading:
    lines: list[ocr.Line]
    rotate: int  # clockwise degrees applied to the scan before this reading
    skew: float = 0.0  # then counter-clockwise degrees that levelled its lines

    @property
    def score(self) -> float:
        words = [w for line in self.lines for w in line.words]
        return sum(max(w.conf, 0) * len(w.text) for w in words)


def looks_wrong(lines: list[ocr.Line]) -> bool:
    words = [w for line in lines for w in line.words]
    if not words:
        return False  # blank or a drawing: detection has nothing to go on either
    mean = sum(w.conf for w in words) / len(words)
    long_words = [w for w in words if len(w.text) >= 3]
    vertical = sum(w.height > w.width for w in long_words)
    return mean < LOW_CONFIDENCE or (bool(long_words) and vertical > len(long_words) / 2)


def _copy_for_ocr(image: Path, out: Path, *, rotate: int = 0, scale: float = 1.0) -> Path:
    with Image.open(image) as img:
        turned = img.transpose(TURN[rotate]) if rotate else img
        if scale < 1:
            size = (round(turned.width * scale), round(turned.height * scale))
            turned = turned.convert("L").resize(size)
        turned.save(out, format="PNG", compress_level=1)
    return out


Recognize = Callable[[Path], list[ocr.Line]]


def read_upright(image: Path, source_dpi: float, *, recognize: Recognize, tessdata: Path) -> Reading:
    """OCR the page; if it looks turned, detect how, and read it again upright."""
    first = Reading(recognize(image), 0)
    if not looks_wrong(first.lines):
        return first
    small = _copy_for_ocr(image, image.with_name(image.stem + "-osd.png"), scale=OSD_DPI / source_dpi)
    osd = ocr.detect_orientation(small, tessdata=tessdata)
    small.unlink()
    if osd is None or osd.rotate == 0 or osd.confidence < MIN_OSD_CONFIDENCE:
        return first
    turned = _copy_for_ocr(image, image.with_name(image.stem + f"-r{osd.rotate}.png"), rotate=osd.rotate)
    second = Reading(recognize(turned), osd.rotate)
    turned.unlink()
    # A sideways page can read well as vertical text; upright wins unless clearly worse.
    return second if second.score >= 0.8 * first.score else first

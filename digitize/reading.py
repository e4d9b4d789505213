"""Reading a page: decide how to turn and straighten it, OCR it once, and fall back when the
reading shows the decision was wrong. Only OCR copies are turned or straightened."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from digitize import deskew, ocr, orientation

Recognize = Callable[[Path | Image.Image], list[ocr.Line]]


@dataclass(frozen=True)
class Reading:
    lines: list[ocr.Line]
    rotate: int = 0  # clockwise degrees the scan was turned before this reading
    skew: float = 0.0  # then counter-clockwise degrees that levelled its lines

    @property
    def score(self) -> float:
        return sum(max(w.conf, 0) * len(w.text) for line in self.lines for w in line.words)


def _turned(ink: np.ndarray, rotate: int) -> np.ndarray:
    return np.rot90(ink, k=-rotate // 90)  # np.rot90 turns counter-clockwise


def _attempt(image: Path | Image.Image, rotate: int, skew: float, recognize: Recognize) -> Reading:
    if not rotate and not skew:
        return Reading(recognize(image))
    with ocr.opened(image) as img:
        upright = img.transpose(orientation.TURN[rotate]) if rotate else img
        if skew:
            fill = 255 if upright.mode in ("1", "L") else (255, 255, 255)
            upright = upright.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=fill)
        if upright.mode not in ("1", "L"):
            upright = upright.convert("L")  # the engine takes grey in memory fastest; it reads grey anyway
        return Reading(recognize(upright), rotate, skew)


def read_page(
    image: Path | Image.Image, dpi: float, ink: np.ndarray, *, recognize: Recognize, tessdata: Path
) -> Reading:
    """OCR ``image`` upright and level. ``ink`` is its small ink mask (see largeformat.analysis_copy)."""
    slopes: dict[int, float] = {}

    def slope(rotate: int) -> float:
        if rotate not in slopes:
            slopes[rotate] = deskew.measure_skew(_turned(ink, rotate))
        return slopes[rotate]

    rotate = 0
    if orientation.looks_sideways(ink):
        detected = orientation.detect(image, dpi, tessdata=tessdata)
        rotate = detected if detected in (90, 270) else 0
    elif orientation.looks_upside_down(ink):  # OSD now costs less than a wasted OCR pass
        rotate = 180 if orientation.detect(image, dpi, tessdata=tessdata) == 180 else 0
    pre = slope(rotate) if abs(slope(rotate)) >= deskew.PRE_SKEW else 0.0
    best = _attempt(image, rotate, pre, recognize)

    if orientation.looks_wrong(best.lines):  # upside down, or turned after all
        detected = orientation.detect(image, dpi, tessdata=tessdata)  # on the scan as stored
        if detected != best.rotate:
            level = slope(detected) if abs(slope(detected)) >= deskew.PRE_SKEW else 0.0
            again = _attempt(image, detected, level, recognize)
            # A sideways page can read well as vertical text: upright wins unless clearly worse.
            if again.score >= 0.8 * best.score:
                best = again
    if not best.skew and abs(slope(best.rotate)) >= deskew.MIN_SKEW and deskew.looks_skewed(best.lines):
        again = _attempt(image, best.rotate, slope(best.rotate), recognize)
        if again.score >= best.score:
            best = again
    return best

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


def _attempt(image: Path | Image.Image, rotate: int, skew: float, recognize: Recognize) -> Reading:
    if not rotate and not skew:
        return Reading(recognize(image))
    with ocr.opened(image) as img:
        # Grey first: the engine reads grey anyway, and turning one channel costs a third of three.
        upright = img if img.mode in ("1", "L") else img.convert("L")
        if rotate:
            upright = upright.transpose(orientation.TURN[rotate])
        if skew:
            upright = deskew.straightened(upright, skew)
        return Reading(recognize(upright), rotate, skew)


def read_page(
    image: Path | Image.Image, dpi: float, ink: np.ndarray, *, recognize: Recognize, tessdata: Path
) -> Reading:
    """OCR ``image`` upright and level. ``ink`` is its small ink mask (see largeformat.analysis_copy)."""
    slopes: dict[int, deskew.Slope] = {}

    def measured(rotate: int) -> deskew.Slope:
        key = rotate % 180  # a half turn leaves the slope as it was
        if key not in slopes:
            slopes[key] = deskew.measure(orientation.turned(ink, key))
        return slopes[key]

    def slope(rotate: int) -> float:
        return measured(rotate).angle

    def level(rotate: int) -> float:
        return measured(rotate).first

    turns = orientation.from_ink(ink, slope)
    rotate = turns[0]
    if len(turns) > 1:  # the ink is not plain enough: OSD (0.3 s) chooses, believed only where the ink points
        detected = orientation.detect(image, dpi, tessdata=tessdata)
        rotate = detected if detected in turns else 0
    best = _attempt(image, rotate, level(rotate), recognize)

    if orientation.looks_wrong(best.lines):  # upside down, or turned after all
        detected = orientation.detect(image, dpi, tessdata=tessdata)  # on the scan as stored
        if detected != best.rotate:
            again = _attempt(image, detected, level(detected), recognize)
            # A sideways page can read well as vertical text: upright wins unless clearly worse.
            if again.score >= 0.8 * best.score:
                best = again
    if not best.skew and abs(slope(best.rotate)) >= deskew.MIN_SKEW and deskew.looks_skewed(best.lines):
        again = _attempt(image, best.rotate, slope(best.rotate), recognize)
        if again.score >= best.score:
            best = again
    return best

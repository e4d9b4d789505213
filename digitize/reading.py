"""Reading a page: decide how to turn and straighten it, OCR it once, and fall back when the
reading shows the decision was wrong. Only OCR copies are turned or straightened."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from digitize import deskew, ocr, orientation, rows

Recognize = Callable[[Path | Image.Image], list[ocr.Line]]


@dataclass(frozen=True)
class Reading:
    lines: list[ocr.Line]
    rotate: int = 0  # clockwise degrees the scan was turned before this reading
    skew: float = 0.0  # then counter-clockwise degrees that levelled its lines

    @property
    def score(self) -> float:
        return sum(max(w.conf, 0) * len(w.text) for line in self.lines for w in line.words)


class Upright:
    """A large sheet turned and straightened tile by tile, as its tiles are cut: the same pixels
    as cutting them from a whole upright copy, which would hold a second sheet in memory (an A0
    drawing is 140 MB in grey) beside the scan."""

    def __init__(self, img: Image.Image, rotate: int, skew: float) -> None:
        self.img, self.rotate = img, rotate
        self.width, self.height = (img.height, img.width) if rotate in (90, 270) else img.size
        # From the level copy back to the turned one, as Pillow's rotate() maps it.
        self.a, self.b, self.c, self.d, self.e, self.f = rows.rotation(self.width, self.height, skew)
        self.skew = skew

    def load(self) -> None:
        pass

    def _turned(self, box: tuple[int, int, int, int]) -> Image.Image:
        """``box`` of the turned sheet, cut from the scan and then turned."""
        x0, y0, x1, y1 = box
        w, h = self.img.size
        source = {  # where the box's corners lie on the scan as stored
            0: (x0, y0, x1, y1),
            90: (y0, h - x1, y1, h - x0),
            180: (w - x1, h - y1, w - x0, h - y0),
            270: (w - y1, x0, w - y0, x1),
        }[self.rotate]
        piece = self.img.crop(source)
        return piece.transpose(orientation.TURN[self.rotate]) if self.rotate else piece

    def crop(self, box: tuple[int, int, int, int]) -> Image.Image:
        if not self.skew:
            return self._turned(box)
        x0, y0, x1, y1 = box
        xs = [self.a * x + self.b * y + self.c for x in (x0, x1) for y in (y0, y1)]
        ys = [self.d * x + self.e * y + self.f for x in (x0, x1) for y in (y0, y1)]
        px0, py0 = max(0, math.floor(min(xs)) - 2), max(0, math.floor(min(ys)) - 2)
        px1, py1 = min(self.width, math.ceil(max(xs)) + 2), min(self.height, math.ceil(max(ys)) + 2)
        if px0 >= px1 or py0 >= py1:  # the box lies wholly in the corners the turn fills with white
            return Image.new(self.img.mode, (x1 - x0, y1 - y0), "white")
        piece = self._turned((px0, py0, px1, py1))
        a, b, d, e = self.a, self.b, self.d, self.e
        matrix = (a, b, self.c + a * x0 + b * y0 - px0, d, e, self.f + d * x0 + e * y0 - py0)
        return piece.transform(
            (x1 - x0, y1 - y0), Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR, fillcolor="white"
        )


def _attempt(image: Path | Image.Image, rotate: int, skew: float, recognize: Recognize, tiled: bool) -> Reading:
    if not rotate and not skew:
        return Reading(recognize(image))
    with ocr.opened(image) as img:
        if tiled:  # the tiles are turned and straightened one by one
            return Reading(recognize(Upright(img, rotate, skew)), rotate, skew)  # type: ignore[arg-type]
        # Grey first: the engine reads grey anyway, and turning one channel costs a third of three.
        upright = img if img.mode in ("1", "L") else img.convert("L")
        if rotate:
            upright = upright.transpose(orientation.TURN[rotate])
        if skew:
            upright = deskew.straightened(upright, skew)
        return Reading(recognize(upright), rotate, skew)


def read_page(
    image: Path | Image.Image, dpi: float, ink: np.ndarray, *, recognize: Recognize, tessdata: Path, tiled: bool = False
) -> Reading:
    """OCR ``image`` upright and level. ``ink`` is its small ink mask (see largeformat.analysis_copy).
    ``tiled``: ``recognize`` reads the sheet in tiles, which it cuts with ``crop`` (an ``Upright``
    sheet when it is to be turned or straightened)."""
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
    best = _attempt(image, rotate, level(rotate), recognize, tiled)

    if orientation.looks_wrong(best.lines):  # upside down, or turned after all
        detected = orientation.detect(image, dpi, tessdata=tessdata)  # on the scan as stored
        if detected != best.rotate:
            again = _attempt(image, detected, level(detected), recognize, tiled)
            # A sideways page can read well as vertical text: upright wins unless clearly worse.
            if again.score >= 0.8 * best.score:
                best = again
    if not best.skew and abs(slope(best.rotate)) >= deskew.MIN_SKEW and deskew.looks_skewed(best.lines):
        again = _attempt(image, best.rotate, slope(best.rotate), recognize, tiled)
        if again.score >= best.score:
            best = again
    return best

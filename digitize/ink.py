"""The page's ink, measured on the page itself: its paper's grey level (cell by cell, so light
falling off across a photocopy or a yellowed edge is still paper), how much darker its strokes
are, and from those the small ink mask every layout decision uses (blank pages, orientation,
skew, spreads, separator sheets).

A fixed threshold (darker than 128 on a box-reduced copy) lost faded photocopies, grey text
on grey paper and low toner altogether (the page was called blank and never read), and took
dark paper for solid ink. Here a cell is ink where it is darker than its paper by half the
strokes' own contrast, which is the old threshold on black text on white paper, and pages
whose paper is uneven or whose strokes are faint get an OCR copy with the paper flattened
to white and the strokes stretched to black (`Levels.flatten`), since Tesseract binarizes a
page with one global threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops

from digitize import deskew, orientation

ANALYSIS_DPI = 50  # the mask's resolution: blank pages and gutters are found on a small copy
FINE_DPI = 150  # a cell's darkest spot is taken at about this resolution: a stroke's own grey
PAPER_CELLS = 24  # the paper's level is measured over squares of this many cells (12 mm at 50 dpi)
PAPER_SHARE = 0.75  # a stretch of paper darker than this share of the page's own is content
MIN_CONTRAST = 10  # grey levels: fainter than this is paper grain or JPEG noise, never ink
NOISE_SPREAD = 6  # ink stands this many median deviations above the page's noise
INK_SHARE = 0.5  # ink: a cell darker than its paper by half the strokes' contrast (black on white: < 128)
MIN_INK_CELLS = 20  # about 5 mm² at 50 dpi: fewer inked cells are dust, not a page's strokes
# An OCR copy is flattened where strokes are fainter than this, or the paper varies by more
# than this share of their contrast: the engine's one threshold then cuts through paper or ink.
PLAIN_CONTRAST = 160
PLAIN_PAPER_SPREAD = 0.15
FLATTEN_ROWS = 512


@dataclass(frozen=True)
class Levels:
    """Paper and ink as measured on one page."""

    paper: np.ndarray  # the paper's grey level in each cell of the mask (float32)
    contrast: float  # how much darker than their paper the strokes are; inf when nothing is
    cell: float  # pixels of the page image per cell

    @property
    def plain(self) -> bool:
        """Dark strokes on even paper: the engine's own threshold serves."""
        if math.isinf(self.contrast):
            return True
        spread = float(np.percentile(self.paper, 98) - np.percentile(self.paper, 2))
        return self.contrast >= PLAIN_CONTRAST and spread <= PLAIN_PAPER_SPREAD * self.contrast

    def flatten(self, image: Image.Image) -> Image.Image:
        """A grey copy of ``image`` (the page measured) with its paper white and its strokes black,
        made a band of rows at a time into ``image`` itself when it is grey (a sheet is not held twice)."""
        target = image if image.mode == "L" else Image.new("L", image.size)
        gain = 255 / self.contrast
        lut = [255 - min(255, round(v * gain)) for v in range(256)]
        # One cell more each way: the image's last rows and columns lie past the mask's last whole cell.
        paper = Image.fromarray(np.pad(self.paper, ((0, 1), (0, 1)), mode="edge"), mode="F")
        for y in range(0, image.height, FLATTEN_ROWS):
            y1 = min(image.height, y + FLATTEN_ROWS)
            box = (0.0, y / self.cell, image.width / self.cell, y1 / self.cell)
            level = paper.resize((image.width, y1 - y), Image.Resampling.BILINEAR, box=box).convert("L")
            band = image.crop((0, y, image.width, y1))
            band = band if band.mode == "L" else band.convert("L")
            target.paste(ImageChops.subtract(level, band).point(lut), (0, y))
        return target


def _divisor_near(n: int, target: float) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: abs(d - target))


def _copies(image: Image.Image, dpi: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Two small grey copies, built band by band (no full-size grey copy of a large colour or
    bilevel sheet is ever made): each cell's mean, and its darkest spot at about FINE_DPI (the
    mean of a few pixels, so a noisy pixel is not taken for ink); and pixels of ``image`` per cell."""
    factor = max(1, round(dpi / ANALYSIS_DPI))
    cell = float(factor)
    fine = _divisor_near(factor, dpi / FINE_DPI)
    if image.format == "JPEG" and fine > 1:
        width = image.width
        image.draft("L", (image.width // fine, image.height // fine))  # the decoder scales down: cheaper
        scale = width / image.width
        factor, fine = max(1, round(factor / scale)), max(1, round(fine / scale))
        fine = _divisor_near(factor, fine)
    step = factor // fine
    band = factor * 256
    usable_w, usable_h = image.width - image.width % factor, image.height - image.height % factor
    if not usable_w or not usable_h:
        return np.full((1, 1), 255, np.uint8), np.full((1, 1), 255, np.uint8), cell
    means, darkest = [], []
    for y in range(0, usable_h, band):
        grey = image.crop((0, y, usable_w, min(y + band, usable_h))).convert("L")
        means.append(np.asarray(grey.reduce(factor)))
        spots = np.asarray(grey.reduce(fine) if fine > 1 else grey)
        low = spots[::step, ::step].copy()
        for dy in range(step):
            for dx in range(step):
                np.minimum(low, spots[dy::step, dx::step], out=low)
        darkest.append(low)
    return np.vstack(means), np.vstack(darkest), cell


def _paper(mean: np.ndarray) -> np.ndarray:
    """The paper's grey level in each cell: the light end of each square of PAPER_CELLS cells,
    blended from square to square; never darker than PAPER_SHARE of the page's paper, so a
    photo or a black box stays ink."""
    h, w = mean.shape
    page = float(np.percentile(mean, 75))
    rows, cols = -(-h // PAPER_CELLS), -(-w // PAPER_CELLS)
    padded = np.pad(mean, ((0, rows * PAPER_CELLS - h), (0, cols * PAPER_CELLS - w)), mode="edge")
    squares = padded.reshape(rows, PAPER_CELLS, cols, PAPER_CELLS).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    light = np.percentile(squares, 90, axis=2).astype(np.float32)
    paper = np.asarray(Image.fromarray(light, mode="F").resize((w, h), Image.Resampling.BILINEAR))
    return np.maximum(paper, PAPER_SHARE * page)


def _noise(darkness: np.ndarray) -> float:
    """How dark paper alone gets: the median darkness plus NOISE_SPREAD median deviations."""
    middle = float(np.median(darkness))
    return middle + NOISE_SPREAD * (float(np.median(np.abs(darkness - middle))) + 0.5)


def analysis(image: Image.Image, dpi: float) -> tuple[np.ndarray, Levels]:
    """The page's ink mask (True where ink) at about ANALYSIS_DPI, and the levels it was cut at."""
    mean, darkest, cell = _copies(image, dpi)
    if image.mode == "1":  # black and white: the levels are known
        paper = np.full(mean.shape, 255, np.float32)
        contrast = 255.0
    else:
        paper = _paper(mean)
        spots = np.clip(paper - darkest, 0, None)
        inked = spots[spots > max(MIN_CONTRAST, _noise(spots))]
        contrast = float(np.percentile(inked, 75)) if inked.size >= MIN_INK_CELLS else math.inf
    darkness = np.clip(paper - mean, 0, None)
    threshold = max(INK_SHARE * contrast, _noise(darkness), MIN_CONTRAST / 2)
    return darkness > threshold, Levels(paper, contrast, cell)


# Body text of Vietnamese administrative documents is 13-14 pt (decree 30/2020). A line of it in
# the mask, counting the rows that hold a tenth of the page's usual ink a row or more (so a
# row of tone marks or descenders alone, or the gap between single-spaced lines, does not
# count), stands 0.72 of the type size: Liberation Serif at 12 and 14 pt, single to 1.5-spaced,
# rendered at 70, 150 and 300 dpi, measured 0.64-0.86.
BODY_PT = 13
LINE_EM = 0.72
LINE_ROW_SHARE = 0.1
MIN_LINES = 3  # fewer lines say too little about the type
FINE_CELLS = 1200  # the mask for measuring text is at most this many cells on its long side


def text_dpi(image: Image.Image) -> float | None:
    """The resolution at which ``image``'s text lines measure as body text, or None when the
    page has too few lines to tell. For scans whose file records no usable resolution."""
    factor = max(1, max(image.size) // FINE_CELLS)
    ink, _ = analysis(image, ANALYSIS_DPI * factor)  # a cell a pixel, or a few on a large image
    if orientation.looks_sideways(ink):
        ink = orientation.turned(ink, 90)
    profile = deskew.levelled(ink, deskew.measure_skew(ink)).mean(axis=1)
    if not profile.any():
        return None
    rows = np.flatnonzero(profile > LINE_ROW_SHARE * np.percentile(profile[profile > 0], 90))
    lines = [run for run in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1) if len(run) >= 2]
    if len(lines) < MIN_LINES:
        return None
    # The median height by ink: a heading's few big letters or a stray mark weigh little.
    heights = np.array([len(run) for run in lines], dtype=np.float64)
    weights = np.cumsum(np.array([profile[run].sum() for run in lines])[np.argsort(heights)])
    height = np.sort(heights)[np.searchsorted(weights, weights[-1] / 2)]
    return float(height) * factor / (LINE_EM * BODY_PT / 72)

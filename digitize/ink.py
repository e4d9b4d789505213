"""The page's ink, measured on the page itself: its paper's grey level (square by square, so light
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
# A square's paper is its cells' 75th percentile: lighter than its text, and as light as most of
# its paper. The 90th, above most of the paper (JPEG at quality 30 moves a block's mean in steps
# of 3 levels), left the paper of a faint copy in grey stripes once stretched, and the engine read
# it as noise (300 errors on a page, 3 with the 75th).
PAPER_RANK = 0.75
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

    paper: np.ndarray  # the paper's grey level in each cell of the mask (uint8)
    contrast: float  # how much darker than their paper the strokes are; inf when nothing is
    cell: float  # pixels of the page image per cell

    @property
    def plain(self) -> bool:
        """Dark strokes on even paper: the engine's own threshold serves."""
        if math.isinf(self.contrast):
            return True
        low, high = np.percentile(_sample(self.paper), [2, 98])
        spread = float(high - low)
        return self.contrast >= PLAIN_CONTRAST and spread <= PLAIN_PAPER_SPREAD * self.contrast

    def flatten(self, image: Image.Image) -> Image.Image:
        """A grey copy of ``image`` (the page measured) with its paper white and its strokes black,
        made a band of rows at a time into ``image`` itself when it is grey (a sheet is not held twice)."""
        target = image if image.mode == "L" else Image.new("L", image.size)
        gain = 255 / self.contrast
        lut = [255 - min(255, round(v * gain)) for v in range(256)]
        # One cell more each way: the image's last rows and columns lie past the mask's last whole cell.
        paper = Image.fromarray(np.pad(self.paper, ((0, 1), (0, 1)), mode="edge"))
        for y in range(0, image.height, FLATTEN_ROWS):
            y1 = min(image.height, y + FLATTEN_ROWS)
            box = (0.0, y / self.cell, image.width / self.cell, y1 / self.cell)
            level = paper.resize((image.width, y1 - y), Image.Resampling.BILINEAR, box=box)
            band = image.crop((0, y, image.width, y1))
            band = band if band.mode == "L" else band.convert("L")
            target.paste(ImageChops.subtract(level, band).point(lut), (0, y))
        return target


def _divisor_near(n: int, target: float) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: abs(d - target))


@dataclass(frozen=True)
class _Grid:
    """How a page image is cut into cells."""

    factor: int  # pixels of the decoded image a cell, each way
    fine: int  # pixels of it a spot (the darkest spot of a cell is the darkest of its spots' means)
    cell: float  # pixels of the page image a cell (a JPEG may be decoded reduced)
    rows: int
    cols: int


def _grid(image: Image.Image, dpi: float) -> _Grid:
    """The cells of ``image`` at about ANALYSIS_DPI; a JPEG is set to decode reduced to about FINE_DPI."""
    factor = max(1, round(dpi / ANALYSIS_DPI))
    cell = float(factor)
    fine = _divisor_near(factor, dpi / FINE_DPI)
    if image.format == "JPEG" and fine > 1:
        width = image.width
        image.draft("L", (image.width // fine, image.height // fine))  # the decoder scales down: cheaper
        scale = width / image.width
        factor, fine = max(1, round(factor / scale)), max(1, round(fine / scale))
        fine = _divisor_near(factor, fine)
    return _Grid(factor, fine, cell, max(1, image.height // factor), max(1, image.width // factor))


def _copies(image: Image.Image, grid: _Grid, means: np.ndarray, darkest: np.ndarray) -> None:
    """Two small grey copies, built band by band (no full-size grey copy of a large colour or
    bilevel sheet is ever made): each cell's mean into ``means``, and its darkest spot (the mean of
    a few pixels, so a noisy pixel is not taken for ink) into ``darkest``."""
    factor, step = grid.factor, grid.factor // grid.fine
    usable_w, usable_h = grid.cols * factor, grid.rows * factor
    if usable_w > image.width or usable_h > image.height:  # smaller than a cell
        means[:], darkest[:] = 255, 255
        return
    for y in range(0, usable_h, factor * 128):  # 128 rows of cells a band: 7.6 MB of an A0 at 300 dpi
        grey = image.crop((0, y, usable_w, min(y + factor * 128, usable_h)))
        grey = grey if grey.mode == "L" else grey.convert("L")
        row = y // factor
        mean = np.asarray(grey.reduce(factor))
        means[row : row + mean.shape[0]] = mean
        spots = np.asarray(grey.reduce(grid.fine) if grid.fine > 1 else grey)
        low = darkest[row : row + mean.shape[0]]
        low[:] = spots[::step, ::step]
        for dy in range(step):
            for dx in range(step):
                np.minimum(low, spots[dy::step, dx::step], out=low)


STATS_CELLS = 250_000  # page statistics come from at most about this many cells (a sample of an A0's 3.9 million)


def _sample(cells: np.ndarray) -> np.ndarray:
    step = max(1, math.isqrt(cells.size // STATS_CELLS))
    return cells[::step, ::step]


def _paper(mean: np.ndarray, out: np.ndarray) -> None:
    """The paper's grey level in each cell, into ``out``: the light end of each square of
    PAPER_CELLS cells, blended from square to square; never darker than PAPER_SHARE of the page's
    paper, so a photo or a black box stays ink."""
    h, w = mean.shape
    page = np.percentile(_sample(mean), 75)
    rows, cols = -(-h // PAPER_CELLS), -(-w // PAPER_CELLS)
    light = np.empty((rows, cols), np.uint8)
    k = round(PAPER_CELLS**2 * PAPER_RANK)
    for r in range(rows):  # a row of squares at a time: a sheet's cells are not copied whole
        strip = np.pad(mean[r * PAPER_CELLS : (r + 1) * PAPER_CELLS], ((0, 0), (0, cols * PAPER_CELLS - w)), "edge")
        squares = strip.reshape(-1, cols, PAPER_CELLS).transpose(1, 0, 2).reshape(cols, -1)
        light[r] = np.partition(squares, min(k, squares.shape[1] - 1), axis=1)[:, min(k, squares.shape[1] - 1)]
    paper = np.asarray(Image.fromarray(light).resize((w, h), Image.Resampling.BILINEAR))
    np.maximum(paper, np.uint8(PAPER_SHARE * page), out=out)


def _below(paper: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """How much darker than its paper each cell is (0 where lighter), written over ``grey``."""
    np.minimum(grey, paper, out=grey)
    return np.subtract(paper, grey, out=grey)


def _noise(darkness: np.ndarray) -> float:
    """How dark paper alone gets: the median darkness plus NOISE_SPREAD median deviations."""
    sample = _sample(darkness).astype(np.float32)
    middle = float(np.median(sample))
    return middle + NOISE_SPREAD * (float(np.median(np.abs(sample - middle))) + 0.5)


def _contrast(spots: np.ndarray) -> float:
    """How much darker than their paper the page's strokes are: the 75th percentile of the cells
    darker than the noise (a stamp or a signature in fresh ink on a faded copy is a few of them);
    inf when fewer than MIN_INK_CELLS are."""
    floor = max(MIN_CONTRAST, _noise(spots))
    inked = _sample(spots)[_sample(spots) > floor]
    if inked.size < MIN_INK_CELLS:  # few: count them all, not a sample
        inked = spots[spots > floor]
        if inked.size < MIN_INK_CELLS:
            return math.inf
    return float(np.percentile(inked, 75))


def analysis(image: Image.Image, dpi: float) -> tuple[np.ndarray, Levels]:
    """The page's ink mask (True where ink) at about ANALYSIS_DPI, and the levels it was cut at.
    Kept to a byte a cell, worked in place: an A0 sheet has 3.9 million."""
    grid = _grid(image, dpi)
    # What outlives this call (the mask, the paper) is made first: made after the bands' scratch
    # memory, it sat above it in the heap and kept it resident (glibc) while the page was read,
    # 27 MB more at the peak of an A0 sheet.
    kept = np.empty((2, grid.rows, grid.cols), np.uint8)
    mask, paper = kept[0].view(bool), kept[1]
    mean, darkest = np.empty_like(paper), np.empty_like(paper)
    _copies(image, grid, mean, darkest)
    if image.mode == "1":  # black and white: the levels are known
        paper[:] = 255
        contrast = 255.0
    else:
        _paper(mean, out=paper)
        contrast = _contrast(_below(paper, darkest))
    darkness = _below(paper, mean)
    threshold = max(INK_SHARE * contrast, _noise(darkness), MIN_CONTRAST / 2)
    np.greater(darkness, threshold, out=mask)
    return mask, Levels(paper, contrast, grid.cell)


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

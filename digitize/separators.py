"""Separator sheets in a batch scan: a QR or barcode carrying a dossier code starts a new
dossier; a PATCH-T sheet starts a new document. A sheet with nothing else on it is dropped;
a page with content and a code (a receipt slip with its QR) starts the dossier and is kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import zxingcpp
from PIL import Image

# Circular 01/2018/TT-VPCP art. 19: <agency code>-<YYMMDD>-<NNNN>, agency code dotted; the
# server's default (SOHOA_DOSSIER_CODE_PATTERN), here where a scanner station reads it too.
DOSSIER_CODE_PATTERN = r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}-[0-9]{6}-[0-9]{4}"
BARCODE_DPI = 150
PATCH_DPI = 100
NARROW_MM, WIDE_MM, TOLERANCE_MM = 2.03, 5.08, 0.8  # Kodak patch codes: bars 0.08" and 0.20"
# Bar widths of PATCH-T; every space is narrow. Read from the other end (a sheet fed
# upside down or turned) it is WNWN, which is also PATCH 3: both separate documents.
PATCH_T = {("N", "W", "N", "W"), ("W", "N", "W", "N")}
MIN_BAR_MM = 40  # patch bars are at least 50 mm long; allow for skew and a worn sheet


@dataclass(frozen=True)
class Separator:
    kind: Literal["dossier", "document"]
    code: str = ""  # the dossier code, for a dossier separator
    only: bool = True  # nothing else on the page: the sheet is not kept


def _scaled(image: Image.Image, dpi: float, target: float) -> Image.Image:
    scale = min(1.0, target / dpi)
    grey = image if image.mode == "L" else image.convert("L")
    return grey.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def _width_class(px: int, px_per_mm: float) -> str | None:
    mm = px / px_per_mm
    if abs(mm - NARROW_MM) <= TOLERANCE_MM:
        return "N"
    if abs(mm - WIDE_MM) <= TOLERANCE_MM:
        return "W"
    return None


def _patch_rows(ink: np.ndarray, px_per_mm: float) -> list[int]:
    """x positions where a row shows the PATCH-T pattern: bar, space, bar, space, bar, space, bar."""
    found = []
    for row in ink:
        edges = np.flatnonzero(np.diff(np.concatenate(([False], row, [False])).astype(np.int8)))
        runs = np.diff(edges)  # alternating ink and gap lengths, starting with ink
        for i in range(0, len(runs) - 6, 2):
            bars = [_width_class(int(runs[i + k]), px_per_mm) for k in (0, 2, 4, 6)]
            spaces = [_width_class(int(runs[i + k]), px_per_mm) for k in (1, 3, 5)]
            if tuple(bars) in PATCH_T and spaces == ["N", "N", "N"]:
                found.append(int(edges[i]))
                break
    return found


def has_patch_t(image: Image.Image, dpi: float) -> bool:
    """PATCH-T bars (or PATCH 3), across the page or along it, at least 40 mm long."""
    small = _scaled(image, dpi, PATCH_DPI)
    px_per_mm = min(PATCH_DPI, dpi) / 25.4
    ink = np.asarray(small) < 128
    for mask in (ink, ink.T):
        starts = _patch_rows(mask, px_per_mm)
        if len(starts) >= MIN_BAR_MM * px_per_mm:
            median = np.median(starts)
            aligned = sum(abs(s - median) <= 3 * px_per_mm for s in starts)
            if aligned >= MIN_BAR_MM * px_per_mm:
                return True
    return False


def read_code(image: Image.Image, dpi: float, code_pattern: str) -> tuple[str, zxingcpp.Position, Image.Image] | None:
    """The dossier code a QR code or barcode on the page carries (matching ``code_pattern`` in
    full), where it is, and the small copy it was read from; the batch route's reader and a
    scanner station's."""
    small = _scaled(image, dpi, BARCODE_DPI)
    for result in zxingcpp.read_barcodes(small):
        text = result.text.strip()
        if re.fullmatch(code_pattern, text):
            return text, result.position, small
    return None


def find(image: Image.Image, dpi: float, ink: np.ndarray, code_pattern: str) -> Separator | None:
    """The separator this page is, if any. ``ink`` is the page's small ink mask."""
    if (found := read_code(image, dpi, code_pattern)) is not None:
        text, position, small = found
        return Separator("dossier", text, only=_nothing_else(ink, position, small.size))
    if has_patch_t(image, dpi):
        return Separator("document", only=True)
    return None


def _nothing_else(ink: np.ndarray, position: zxingcpp.Position, size: tuple[int, int]) -> bool:
    """Little ink outside the code's box (with a margin): a sheet that only separates."""
    sy, sx = ink.shape[0] / size[1], ink.shape[1] / size[0]
    xs = [p.x for p in (position.top_left, position.top_right, position.bottom_left, position.bottom_right)]
    ys = [p.y for p in (position.top_left, position.top_right, position.bottom_left, position.bottom_right)]
    margin = 0.25 * (max(xs) - min(xs))
    x0, x1 = int((min(xs) - margin) * sx), int((max(xs) + margin) * sx) + 1
    y0, y1 = int((min(ys) - margin) * sy), int((max(ys) + margin) * sy) + 1
    rest = ink.copy()
    rest[max(0, y0) : y1, max(0, x0) : x1] = False
    return bool(rest.mean() < 0.002)

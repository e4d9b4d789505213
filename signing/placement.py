"""Where a new visible signature goes: on a digitized copy's page 1, in its zone (top right, circular 05/2025/TT-BNV),
below the stamps already there so that two never overlap, and off the page's text where the
zone has room; when it has none, the stamp still goes in free space and says it covers text."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pyhanko.pdf_utils.rw_common import PdfHandler

from digitize.programs import render_pdf_page
from signing.errors import SigningError

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in PDF points, origin bottom left

MARGIN = 28  # points from the page edge
GAP = 4  # points between two stamps
STEP = 2  # points a candidate moves down at a time
INK_DPI = 36  # the rendering the ink is read from: half a pixel a point is enough for text lines
INK_LEVEL = 140  # grey below this is ink (text, lines, seals); paper and faint noise are above


@dataclass(frozen=True)
class Ink:
    """Page 1's ink, as a mask with row 0 at the top of the page."""

    mask: np.ndarray
    page_box: Box

    def covers(self, box: Box) -> bool:
        x0p, y0p, x1p, y1p = self.page_box
        height, width = self.mask.shape
        sx, sy = width / (x1p - x0p), height / (y1p - y0p)
        left, right = int((box[0] - x0p) * sx), int(np.ceil((box[2] - x0p) * sx))
        top, bottom = int((y1p - box[3]) * sy), int(np.ceil((y1p - box[1]) * sy))
        return bool(self.mask[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)].any())


@dataclass(frozen=True)
class Placement:
    box: tuple[int, int, int, int]
    covers_text: bool  # no free space off the text in the zone: the stamp covers some


def page_ink(pdf: Path, page_box: Box, number: int = 1) -> Ink:
    """The ink of page ``number`` (from 1) of ``pdf``, rendered small by poppler (digitize's wrapper)."""
    with tempfile.TemporaryDirectory(prefix="sohoa-stamp-") as tmp:
        png = render_pdf_page(pdf, number, INK_DPI, Path(tmp) / "page", label=f"{pdf.name}, trang {number}")
        with Image.open(png) as image:
            grey = np.asarray(image.convert("L"))
    return Ink(grey < INK_LEVEL, page_box)


def signature_boxes(handler: PdfHandler, page_index: int = 0) -> list[Box]:
    """The boxes of the visible signatures already on a page (their widgets' rectangles)."""
    return [box for _, box in _widgets(handler.root["/Pages"], page_index)]


def _widgets(pages: Any, page_index: int) -> list[tuple[str, Box]]:
    """The signature widgets of a page, with their fields' names."""
    page = _page(pages, page_index)
    found = []
    for annot in page.get("/Annots", []):
        annot = annot.get_object()
        if is_signature_widget(annot) and "/Rect" in annot:
            x0, y0, x1, y1 = (float(v) for v in annot["/Rect"])
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            if box[2] - box[0] > 1 and box[3] - box[1] > 1:  # a document time stamp's is empty
                field = annot if "/T" in annot else annot.get("/Parent", annot).get_object()
                found.append((str(field.get("/T", "")), box))
    return found


def page_object(handler: PdfHandler, index: int) -> Any:
    return _page(handler.root["/Pages"], index)


def _page(pages: Any, index: int) -> Any:
    """Page ``index`` (from 0) of a page tree, however deep."""
    node = pages.get_object()
    while "/Kids" in node:
        for kid in node["/Kids"]:
            kid = kid.get_object()
            count = int(kid.get("/Count", 1)) if "/Kids" in kid else 1
            if index < count:
                node = kid
                break
            index -= count
        else:
            raise IndexError(index)
    return node


def page_count(handler: PdfHandler) -> int:
    return int(handler.root["/Pages"]["/Count"])


def field_box(handler: PdfHandler, name: str) -> tuple[int, Box]:
    """The page (from 0) and box of the visible signature field ``name``."""
    for index in range(page_count(handler)):
        for field, box in _widgets(handler.root["/Pages"], index):
            if field == name:
                return index, box
    raise SigningError(
        f"Không thấy ô chữ ký «{name}» trên tài liệu.",
        f"No visible signature field “{name}” in the document.",
        field="field",
    )


def is_signature_widget(annot: Any) -> bool:
    """A signature field's widget: the annotation a signature is drawn in (the field may be the
    widget itself, or its parent)."""
    annot = annot.get_object()
    field = annot.get("/Parent", annot) if "/FT" not in annot else annot
    return bool(annot.get("/Subtype") == "/Widget" and field.get_object().get("/FT") == "/Sig")


def _overlaps(a: Box, b: Box, gap: float = GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def place(size: tuple[float, float], page_box: Box, taken: list[Box], ink: Ink | None) -> Placement:
    """A box of ``size`` at the right margin, as high as it fits: first in the top third of the
    page clear of the stamps ``taken`` and of the ink, then anywhere down the right margin clear
    of the stamps (covering text). No overlap with another stamp, ever."""
    width, height = size
    x0p, y0p, x1p, y1p = page_box
    right = x1p - MARGIN
    left = max(x0p + MARGIN, right - width)
    zone_bottom = y1p - (y1p - y0p) / 3
    candidates: list[tuple[int, int, int, int]] = []
    top = y1p - MARGIN
    while top - height >= y0p + MARGIN:
        candidates.append(_rounded((left, top - height, right, top)))  # checked as it will be drawn
        top -= STEP
    free = [c for c in candidates if not any(_overlaps(c, t) for t in taken)]
    for box in free:
        if box[1] >= zone_bottom and (ink is None or not ink.covers(box)):
            return Placement(box, False)
    if not free:
        raise SigningError(
            "Trang 1 không còn chỗ trống bên phải cho thêm một dấu chữ ký.",
            "Page 1 has no free space left at the right margin for another signature stamp.",
            field="page",
        )
    return Placement(free[0], ink is not None and ink.covers(free[0]))


def place_signer(size: tuple[float, float], page_box: Box, taken: list[Box], ink: Ink | None) -> Placement:
    """A result's signature (decree 30/2020: at the right, under the signer's title): centred in
    the right half of the page, the first free space clear of text and stamps below the top
    third; else the lowest free space there, covering text."""
    width, height = size
    x0p, y0p, x1p, y1p = page_box
    centre = x1p - (x1p - x0p) / 4
    left, right = centre - width / 2, centre + width / 2
    top = y1p - (y1p - y0p) / 3
    candidates = []
    while top - height >= y0p + MARGIN:
        candidates.append(_rounded((left, top - height, right, top)))
        top -= STEP
    free = [c for c in candidates if not any(_overlaps(c, t) for t in taken)]
    for box in free:
        if ink is None or not ink.covers((box[0] - GAP, box[1] - GAP, box[2] + GAP, box[3] + GAP)):
            return Placement(box, False)
    if not free:
        raise SigningError(
            "Trang cuối không còn chỗ trống cho chữ ký.",
            "The last page has no free space left for the signature.",
            field="page",
        )
    return Placement(free[-1], True)


def _rounded(box: Box) -> tuple[int, int, int, int]:
    """Whole points, never smaller than the box asked for."""
    return int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))

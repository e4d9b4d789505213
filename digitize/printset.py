"""Print set: pages larger than a printer's sheet (A2–A0 drawings) cut into A4 or A3 sheets
that overlap, each labelled with its place, so the drawing can be printed and taped together.

Every sheet shows the page itself (a form XObject: the scan is not re-encoded); pages that
fit the sheet are copied as they are.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image, ImageDraw, ImageFont

from digitize.errors import CorruptInput, EncryptedInput
from digitize.largeformat import A_SIZES, FIT

SERIF = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"
MM = 72 / 25.4
LABEL_DPI = 200


@dataclass(frozen=True)
class Sheet:
    page: int  # page of the source, 1-based
    row: int
    col: int
    rows: int
    cols: int


def _grid(length: float, sheet: float, overlap: float) -> int:
    # A page a little over the sheet (a scan of a sheet of that size) prints shrunk to fit.
    return 1 if length <= sheet * FIT else math.ceil((length - overlap) / (sheet - overlap))


def _label(text: str, pdf: pikepdf.Pdf) -> tuple[pikepdf.Stream, float, float]:
    """The label as a small grey image: Vietnamese text without embedding a font for it."""
    font = ImageFont.truetype(SERIF, round(9 / 72 * LABEL_DPI))
    left, top, right, bottom = font.getbbox(text)
    # Pillow types the box as float; a TrueType font's is whole pixels, which ceil keeps.
    img = Image.new("L", (math.ceil(right - left) + 20, math.ceil(bottom - top) + 12), 255)
    ImageDraw.Draw(img).text((10 - left, 6 - top), text, font=font, fill=0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    stream = pikepdf.Stream(
        pdf,
        buf.getvalue(),
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=img.width,
        Height=img.height,
        ColorSpace=pikepdf.Name.DeviceGray,
        BitsPerComponent=8,
        Filter=pikepdf.Name.DCTDecode,
    )
    return stream, img.width * 72 / LABEL_DPI, img.height * 72 / LABEL_DPI


def print_set(source: Path, output: Path, *, sheet: str = "A3", overlap_mm: float = 10.0) -> list[Sheet]:
    """Write ``output``: every page of ``source`` on ``sheet`` paper, large ones in overlapping parts.
    A PDF that cannot be read is a clear error naming it (ingest's)."""
    try:
        return _print_set(source, output, sheet=sheet, overlap_mm=overlap_mm)
    except pikepdf.PasswordError as e:
        raise EncryptedInput(
            f"{source.name}: PDF được mã hóa.", f"{source.name}: the PDF is encrypted.", field=source.name
        ) from e
    except pikepdf.PdfError as e:
        raise CorruptInput(
            f"{source.name}: PDF hỏng ({e}).", f"{source.name}: corrupt PDF ({e}).", field=source.name
        ) from e


def _print_set(source: Path, output: Path, *, sheet: str, overlap_mm: float) -> list[Sheet]:
    short, long = (v * MM for v in A_SIZES[sheet])
    overlap = overlap_mm * MM
    made: list[Sheet] = []
    with pikepdf.open(source) as src, pikepdf.new() as out:
        for number, page in enumerate(src.pages, start=1):
            box = [float(v) for v in page.mediabox]
            width, height = box[2] - box[0], box[3] - box[1]
            if int(page.obj.get("/Rotate", 0)) % 180:
                width, height = height, width
            # Whichever way round the sheet needs fewer parts.
            options = [
                (w, h, _grid(width, w, overlap), _grid(height, h, overlap)) for w, h in ((short, long), (long, short))
            ]
            sw, sh, cols, rows = min(options, key=lambda o: o[2] * o[3])
            if cols == rows == 1:
                out.pages.append(page)
                made.append(Sheet(number, 1, 1, 1, 1))
                continue
            form = out.copy_foreign(page.as_form_xobject())
            step_x = (width - sw) / (cols - 1) if cols > 1 else 0.0
            step_y = (height - sh) / (rows - 1) if rows > 1 else 0.0
            for row in range(rows):
                for col in range(cols):
                    x, y = col * step_x, height - sh - row * step_y  # rows counted from the top
                    text = f"Trang {number} · tờ {row * cols + col + 1}/{rows * cols} · hàng {row + 1}, cột {col + 1}"
                    label, lw, lh = _label(text, out)
                    content = (
                        f"q 1 0 0 1 {-x:.2f} {-y:.2f} cm /Page Do Q\n"
                        f"q {lw:.2f} 0 0 {lh:.2f} {5 * MM:.2f} {5 * MM:.2f} cm /Label Do Q\n"
                    ).encode()
                    sheet_page = pikepdf.Dictionary(
                        Type=pikepdf.Name.Page,
                        MediaBox=[0, 0, round(sw, 2), round(sh, 2)],
                        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Page=form, Label=label)),
                        Contents=pikepdf.Stream(out, content),
                    )
                    out.pages.append(pikepdf.Page(sheet_page))
                    made.append(Sheet(number, row + 1, col + 1, rows, cols))
        output.parent.mkdir(parents=True, exist_ok=True)
        out.save(output)
    return made

"""PDF/A writing: each page is the scan image under its invisible OCR text, then one validated file."""

from __future__ import annotations

import io
import os
import resource
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pikepdf
import pikepdf.pdfa
from PIL import Image, TiffImagePlugin

from digitize import rows, textlayer, xmp
from digitize.deskew import unskew
from digitize.errors import DigitizeError
from digitize.ingest import Page
from digitize.reading import Reading
from digitize.validate import check_pdfa

_COLORSPACE = {"1": "/DeviceGray", "L": "/DeviceGray", "RGB": "/DeviceRGB"}


@dataclass(frozen=True)
class Metadata:
    title: str
    identifier: str = ""  # the dossier code
    language: str = "vi"
    creator_tool: str = "sohoa"
    record: dict[str, Any] = field(default_factory=dict)  # the fields for its XMP (records.xmp_fields, DC)


# The document's fields carried into the XMP as Dublin Core (records.DOCUMENT_FIELDS names the
# element of each); the others go into sohoa's namespace (digitize.xmp).
_DC_LISTS = {"creator", "date", "type", "subject", "language"}  # ordered or unordered arrays in XMP


def from_page(read: dict[str, Any]) -> dict[str, Any]:
    """The values digitize.metadata read (its ``Found`` objects), as a record's fields (the
    symbol is the number's part after its slash, as service.fields fills it)."""
    values = {key: found.value for key, found in read.items() if found is not None and found.value}
    if "/" in values.get("number", ""):
        values["symbol"] = values["number"].partition("/")[2]
    return values


def _dublin_core(metadata: Any, record: dict[str, Any]) -> None:
    from records import DOCUMENT_FIELDS, NOT_AS_DC, InvalidField, clean

    for f in DOCUMENT_FIELDS:
        if f.dc in NOT_AS_DC:
            continue  # dc:identifier holds the dossier code
        try:
            value = clean(f, record.get(f.key))
        except InvalidField:
            continue  # a reading the field does not take (a date that is no date) is left for a clerk
        if value is None:
            continue
        if f.dc in _DC_LISTS:
            metadata[f"dc:{f.dc}"] = list(value) if isinstance(value, list) else [str(value)]
        else:
            metadata[f"dc:{f.dc}"] = str(value)


def _png_idat(path: Path) -> tuple[bytes, int, int, int]:
    """IDAT data of a non-interlaced PNG: PDF's Flate with PNG predictors reads it as is."""
    width, height, depth, _colour, interlace = rows.png_header(path)
    if interlace:
        raise ValueError("interlaced PNG")
    return b"".join(body for kind, body in rows.png_chunks(path) if kind == b"IDAT"), width, height, depth


def _g4_strip(path: Path) -> tuple[bytes, bool]:
    """The one G4 strip of a TIFF that ingest wrote, and whether its 1 bits are black."""
    with Image.open(path) as img:
        if not isinstance(img, TiffImagePlugin.TiffImageFile):
            raise ValueError(f"{path.name}: not a TIFF")
        offsets, counts = img.tag_v2[273], img.tag_v2[279]
        black_is_1 = img.tag_v2.get(262, 0) == 1
    if len(offsets) != 1:
        raise ValueError(f"{path.name}: expected one strip")
    with path.open("rb") as f:
        f.seek(offsets[0])
        return f.read(counts[0]), black_is_1


_IJG_LUMA_SUM = 3688  # the sum of the JPEG standard's luminance table, which quality scales


def _jpeg_quality(img: Image.Image) -> float:
    """The IJG quality a JPEG was saved at, from its luminance quantization table."""
    scale = 100 * sum(img.quantization[0]) / _IJG_LUMA_SUM  # type: ignore[attr-defined]
    return (200 - scale) / 2 if scale <= 100 else 5000 / scale


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def _jpeg(page: Page, quality: int) -> bytes | None:
    """The "compact" profile: a colour or grey scan as JPEG at ``quality``, or None when it is
    better kept as stored: a JPEG already at that quality or below (encoding it again would
    only lose more), or a clean page that is smaller losslessly. Two bands of the page are
    encoded first: most clean pages and drawings are told without encoding the whole sheet."""
    stored = page.path.stat().st_size
    if page.in_bands:
        # A large sheet is never decoded whole: a PNG is encoded strip by strip, a JPEG (which
        # only a whole decode could encode again, losing more) is kept.
        bands = None if page.is_jpeg else rows.png_bands(page.path)
        if bands is None:
            return None
        return rows.jpeg(rows.png_rows(page.path), page.width, page.height, bands, quality, limit=stored)
    with Image.open(page.path) as img:
        if page.is_jpeg and _jpeg_quality(img) <= quality + 2:
            return None
        band = max(1, img.height // 16)
        sample = sum(
            len(_encode_jpeg(img.crop((0, y, img.width, y + band)), quality))
            for y in (img.height // 3, img.height * 2 // 3)
        )
        if sample * img.height / (2 * band) >= 1.25 * stored:  # plainly larger; near it, encode and see
            return None
        data = _encode_jpeg(img, quality)  # ingest leaves pages in L or RGB
    return None if stored <= len(data) else data


def _image(
    pdf: pikepdf.Pdf, data: bytes, size: tuple[int, int], colorspace: str, bits: int, filter_: str, **parms: int
) -> pikepdf.Stream:
    return pikepdf.Stream(
        pdf,
        data,
        Type=pikepdf.Name.XObject,
        Subtype=pikepdf.Name.Image,
        Width=size[0],
        Height=size[1],
        ColorSpace=pikepdf.Name(colorspace),
        BitsPerComponent=bits,
        Filter=pikepdf.Name(filter_),
        **({"DecodeParms": pikepdf.Dictionary({f"/{key}": value for key, value in parms.items()})} if parms else {}),
    )


def image_xobject(pdf: pikepdf.Pdf, page: Page, jpeg_quality: int | None = None) -> pikepdf.Stream:
    """The scan as an image XObject, without re-encoding it; with ``jpeg_quality`` (the
    "compact" size profile) colour and grey scans become JPEG, bilevel ones stay CCITT G4."""
    with Image.open(page.path) as img:
        mode = img.mode
    colorspace, size = _COLORSPACE[mode], (page.width, page.height)
    if page.path.suffix == ".tif":
        data, black_is_1 = _g4_strip(page.path)
        parms = {"K": -1, "Columns": page.width, "Rows": page.height, "BlackIs1": black_is_1}
        return _image(pdf, data, size, colorspace, 1, "/CCITTFaxDecode", **parms)
    if jpeg_quality is not None and (jpeg := _jpeg(page, jpeg_quality)):
        return _image(pdf, jpeg, size, colorspace, 8, "/DCTDecode")
    if page.is_jpeg:
        return _image(pdf, page.path.read_bytes(), size, colorspace, 8, "/DCTDecode")
    idat, width, height, depth = _png_idat(page.path)
    colors = 3 if mode == "RGB" else 1
    parms = {"Predictor": 15, "Colors": colors, "BitsPerComponent": depth, "Columns": width}
    return _image(pdf, idat, (width, height), colorspace, depth, "/FlateDecode", **parms)


def _unrotate(rotate: int, width_pt: float, height_pt: float) -> str:
    """The matrix that maps the upright page, as OCR read it, onto the page as scanned."""
    return {
        90: f"0 1 -1 0 {width_pt:.4f} 0",
        180: f"-1 0 0 -1 {width_pt:.4f} {height_pt:.4f}",
        270: f"0 -1 1 0 0 {height_pt:.4f}",
    }[rotate]


@dataclass(frozen=True)
class View:
    """One output page: columns ``x0`` to ``x0 + width`` of the scan, and how OCR read them."""

    x0: int
    width: int
    reading: Reading


def write_page(page: Page, views: Sequence[View], out: Path, jpeg_quality: int | None = None) -> Path:
    """A PDF with one page per view: the image at true size and the text layer over it.

    Views of one scan (the halves of a two-page spread) share one image object, each
    page showing its part. A view read upright after turning it ``rotate`` degrees
    clockwise keeps the image as scanned (no loss) and gets /Rotate, with the text layer
    mapped back onto the scan; so does one read from a copy straightened by ``skew``."""
    pdf = pikepdf.new()
    sx, sy = 72.0 / page.dpi[0], 72.0 / page.dpi[1]
    image = pdf.make_indirect(image_xobject(pdf, page, jpeg_quality))
    font = textlayer.make_font(pdf)
    full_w, height_pt = page.width * sx, page.height * sy
    for view in views:
        width_pt, rotate, skew = view.width * sx, view.reading.rotate, view.reading.skew
        draw = f"q {full_w:.4f} 0 0 {height_pt:.4f} {-view.x0 * sx:.4f} 0 cm /Scan Do Q\n".encode()
        if rotate in (90, 270):
            upright_dpi, upright_height = (page.dpi[1], page.dpi[0]), view.width
        else:
            upright_dpi, upright_height = page.dpi, page.height
        upright_w, upright_h = (height_pt, width_pt) if rotate in (90, 270) else (width_pt, height_pt)
        place = unskew(skew, upright_w, upright_h) if skew else None
        text = textlayer.content_stream(view.reading.lines, dpi=upright_dpi, page_height_px=upright_height, place=place)
        if rotate:
            text = f"q {_unrotate(rotate, width_pt, height_pt)} cm\n".encode() + text + b"\nQ"
        pdf_page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, round(width_pt, 4), round(height_pt, 4)],
            Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Scan=image), Font=pikepdf.Dictionary(OCR=font)),
            Contents=pikepdf.Stream(pdf, draw + text),
        )
        if rotate:
            pdf_page.Rotate = rotate
        pdf.pages.append(pikepdf.Page(pdf_page))
    pdf.save(out)
    return out


def _allow_open_files(needed: int) -> None:
    """Page PDFs stay open until the save; a long dossier needs more than the usual 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        limit = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        if limit < needed:
            raise DigitizeError(
                f"Hệ điều hành chỉ cho mở {hard} tệp; hồ sơ {needed - 256} trang cần nhiều hơn.",
                f"The system allows {hard} open files; a {needed - 256}-page dossier needs more.",
            )


def assemble(page_pdfs: Sequence[Path], output: Path, meta: Metadata, flavour: str = "2b") -> None:
    """Join page PDFs into one PDF/A file, validated as it is written.

    Sources stay open until the save so that page images are streamed from disk,
    not held in memory; all pages share one text-layer font.
    """
    _allow_open_files(len(page_pdfs) + 256)
    with ExitStack() as stack:
        out = stack.enter_context(pikepdf.new())
        font = textlayer.make_font(out)
        for path in page_pdfs:
            src = stack.enter_context(pikepdf.open(path))
            for page in src.pages:  # objects the pages share (a spread's image) are copied once
                out.pages.append(page)
                out.pages[-1].obj.Resources.Font.OCR = font
        with out.open_metadata(set_pikepdf_as_editor=False) as metadata:
            metadata["dc:title"] = meta.title
            if meta.identifier:
                metadata["dc:identifier"] = meta.identifier
            metadata["dc:language"] = [meta.language]
            _dublin_core(metadata, meta.record)
            metadata["xmp:CreatorTool"] = meta.creator_tool
            metadata["pdf:Producer"] = f"sohoa, pikepdf {pikepdf.__version__}"
        # The dossier code and page count as the file has them, whatever the record says.
        coded = {"dossier_code": meta.identifier} if meta.identifier else {}
        _save(out, output, flavour, {**meta.record, **coded, "page_count": len(out.pages)})


def _save(pdf: pikepdf.Pdf, output: Path, flavour: str, record: dict[str, Any]) -> None:
    """Prepared for PDF/A by pikepdf (its XMP written anew), the record's sohoa properties added
    to that XMP, written beside ``output`` and moved there only once it passed validation (as
    pikepdf.pdfa.save does, but with the extension schema its validator would refuse)."""
    pikepdf.pdfa.prepare(pdf, flavour)
    pdf.Root.Metadata.write(xmp.with_fields(pdf.Root.Metadata.read_bytes(), record))
    written = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        pdf.save(written, **pikepdf.pdfa.resolve_save_kwargs(flavour))
        status = check_pdfa(written, flavour)
        if not status.passed:
            findings = "; ".join(status.findings[:5])
            raise DigitizeError(
                f"Tệp PDF/A-{flavour} tạo ra không đạt kiểm tra: {findings}",
                f"The PDF/A-{flavour} output failed validation: {findings}",
            )
        os.replace(written, output)
    finally:
        written.unlink(missing_ok=True)

"""Ingest: read PDF, TIFF, JPEG, JPEG 2000 and PNG scans into page images, one at a time."""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pikepdf
from PIL import Image, ImageOps, ImageSequence

from digitize import ink, programs, rows
from digitize.errors import CorruptInput, EncryptedInput, ImageTooLarge, UnsupportedInput

MIN_DPI = 200  # circular 05/2025/TT-BNV: administrative documents at 200 dpi or more
PLAUSIBLE_DPI = (50, 2400)
ASSUMED_DPI = 300


@dataclass
class Page:
    """One page image on disk, ready for OCR and embedding."""

    source: str  # the file's name as the user gave it
    number: int  # 1-based page number within that file
    path: Path  # JPEG (kept byte for byte), G4 TIFF (bilevel) or PNG
    width: int
    height: int
    dpi: tuple[float, float]
    notices: list[dict[str, str]] = field(default_factory=list)
    grey: Path | None = None  # a grey copy of a large colour page, for OCR only (see _grey_copy)

    @property
    def label(self) -> str:
        return f"{self.source}, trang {self.number}"

    @property
    def is_jpeg(self) -> bool:
        return self.path.suffix == ".jpg"

    @property
    def in_bands(self) -> bool:
        """Too big to decode whole in colour: read, encoded and turned a band of rows at a time."""
        return is_large(self.width, self.height)


def sniff(head: bytes) -> str:
    """The file type by its magic bytes; extensions are not trusted."""
    if head.startswith(b"%PDF") or b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xffO\xffQ"):
        return "jp2"
    return "unknown"


def check_type(path: Path, label: str) -> str:
    """The file's type, or a clear error naming it when it is not a scan sohoa reads."""
    try:
        with path.open("rb") as f:
            kind = sniff(f.read(1024))
    except OSError as e:
        raise CorruptInput(f"Không đọc được tệp {label}: {e}", f"Cannot read {label}: {e}", field=label) from e
    if kind == "unknown":
        raise UnsupportedInput(
            f"Tệp {label} không phải PDF, TIFF, JPEG, JPEG 2000 hay PNG.",
            f"{label} is not a PDF, TIFF, JPEG, JPEG 2000 or PNG file.",
            field=label,
        )
    return kind


def iter_pages(path: Path, label: str, workdir: Path, *, max_pixels: int, render_dpi: int) -> Iterator[Page]:
    """Yield the pages of one input file, writing each page image into ``workdir``."""
    kind = check_type(path, label)
    if kind == "pdf":
        yield from _pdf_pages(path, label, workdir, max_pixels=max_pixels, render_dpi=render_dpi)
    else:
        yield from _image_pages(path, label, workdir, kind, max_pixels=max_pixels)


def _check_pixels(width: int, height: int, max_pixels: int, label: str) -> None:
    if width <= 0 or height <= 0:
        raise CorruptInput(f"{label}: ảnh rỗng.", f"{label}: empty image.", field=label)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"{label}: ảnh {width}×{height} điểm vượt giới hạn {max_pixels:,} điểm ảnh.",
            f"{label}: image of {width}×{height} pixels exceeds the limit of {max_pixels:,} pixels.",
            field=label,
        )


# Paper a scan is likely to be of (mm, portrait) and the resolutions scanners use.
PAPERS = {
    "A5": (148, 210),
    "A4": (210, 297),
    "Letter": (216, 279),
    "A3": (297, 420),
    "A2": (420, 594),
    "A1": (594, 841),
    "A0": (841, 1189),
}
SCANNER_DPI = (150, 200, 240, 300, 400, 600)


def infer_dpi(width: int, height: int) -> tuple[float, str] | None:
    """The resolution that makes the image a whole sheet of common paper at a usual scanner
    setting (2480 × 3508 px is A4 at 300 dpi), or None when no paper fits the shape."""
    short, long = sorted((width, height))
    best: tuple[float, float, str] | None = None
    for name, (w_mm, h_mm) in PAPERS.items():
        dpi_short, dpi_long = short / (w_mm / 25.4), long / (h_mm / 25.4)
        if abs(dpi_short - dpi_long) > 0.03 * dpi_long:
            continue  # not this paper's shape
        dpi = (dpi_short + dpi_long) / 2
        miss = min(abs(dpi - usual) / usual for usual in SCANNER_DPI)
        if best is None or miss < best[0]:
            best = (miss, dpi, name)
    if best is None or best[0] > 0.05 or not PLAUSIBLE_DPI[0] <= best[1] <= PLAUSIBLE_DPI[1]:
        return None
    return round(best[1], 1), best[2]


SCREEN_DPI = (72.0, 96.0)  # what cameras and screen captures record when they know no resolution


def _measured(image: Path) -> float | None:
    """The page's resolution by the height of its text lines (see ink.text_dpi), if plausible."""
    with Image.open(image) as img:
        dpi = ink.text_dpi(img)
    return round(dpi, 1) if dpi is not None and PLAUSIBLE_DPI[0] <= dpi <= PLAUSIBLE_DPI[1] else None


def _resolve_dpi(
    raw: object, width: int, height: int, label: str, image: Path
) -> tuple[tuple[float, float], list[dict[str, str]]]:
    """The page's resolution: as its file records it, unless that is missing, implausible, or a
    camera's default the text does not bear out; then from its paper's shape, else from its text.
    ``image``: the page image, measured only when the file says nothing usable."""
    recorded = None
    if isinstance(raw, tuple) and len(raw) == 2:
        x, y = float(raw[0]), float(raw[1])
        if all(PLAUSIBLE_DPI[0] <= v <= PLAUSIBLE_DPI[1] for v in (x, y)):
            recorded = (x, y)
    if recorded is not None and round(recorded[0]) not in SCREEN_DPI:
        return recorded, []
    measured = _measured(image)
    if recorded is not None:
        if measured is None or 1 / 1.5 <= measured / recorded[0] <= 1.5:
            return recorded, []
        return (measured, measured), [
            {
                "code": "dpi-estimated",
                "vi": f"{label}: tệp ghi {recorded[0]:.0f} dpi (mặc định của máy ảnh, ảnh chụp màn hình) nhưng cỡ "
                f"chữ không khớp; ước tính theo cỡ chữ: khoảng {measured:.0f} dpi.",
                "en": f"{label}: the file says {recorded[0]:.0f} dpi (a camera's or screen capture's default), "
                f"which its text does not bear out; estimated from the size of its text: about {measured:.0f} dpi.",
            }
        ]
    inferred = infer_dpi(width, height)
    if inferred is not None:
        dpi, paper = inferred
        return (dpi, dpi), [
            {
                "code": "dpi-inferred",
                "vi": f"{label}: thiếu độ phân giải; theo kích thước ảnh, coi là khổ {paper} ở {dpi:.0f} dpi.",
                "en": f"{label}: no resolution recorded; from its size, taken as {paper} at {dpi:.0f} dpi.",
            }
        ]
    if measured is not None:
        return (measured, measured), [
            {
                "code": "dpi-estimated",
                "vi": f"{label}: tệp không ghi độ phân giải hợp lệ; ước tính theo cỡ chữ: khoảng {measured:.0f} dpi.",
                "en": f"{label}: no plausible resolution recorded; estimated from the size of its text: "
                f"about {measured:.0f} dpi.",
            }
        ]
    return (ASSUMED_DPI, ASSUMED_DPI), [
        {
            "code": "dpi-assumed",
            "vi": f"{label}: thiếu độ phân giải hợp lệ, tạm coi là {ASSUMED_DPI} dpi.",
            "en": f"{label}: no plausible resolution recorded, assumed {ASSUMED_DPI} dpi.",
        }
    ]


def _quality_notices(page: Page) -> None:
    """What circular 05/2025/TT-BNV asks of a digitized page that this one lacks: at least
    200 dpi, and colour as the original (24-bit): a 1-bit scan has lost its colour and greys."""
    _low_dpi_notice(page)
    with Image.open(page.path) as img:  # the header only: no pixel is decoded
        bilevel = img.mode == "1"
    if bilevel:
        page.notices.append(
            {
                "code": "bilevel",
                "vi": f"{page.label}: quét đen trắng 1 bit; thông tư 05/2025/TT-BNV yêu cầu màu như bản gốc (24 bit).",
                "en": f"{page.label}: scanned 1-bit black and white; circular 05/2025/TT-BNV asks for colour as the "
                "original (24-bit).",
            }
        )


def _low_dpi_notice(page: Page) -> None:
    if min(page.dpi) < MIN_DPI - 0.5:
        page.notices.append(
            {
                "code": "low-dpi",
                "vi": f"{page.label}: {min(page.dpi):.0f} dpi, dưới mức tối thiểu {MIN_DPI} dpi.",
                "en": f"{page.label}: {min(page.dpi):.0f} dpi, below the minimum of {MIN_DPI} dpi.",
            }
        )


def _normalise_mode(img: Image.Image) -> Image.Image:
    """Keep 1-bit, grey and RGB as scanned; flatten anything else to RGB on white."""
    if img.mode in ("1", "L", "RGB"):
        return img
    if img.mode == "P" and "transparency" not in img.info:
        palette = img.getpalette() or []
        indices = [i for _, i in img.getcolors(256) or [] if isinstance(i, int)]  # "P": palette indices
        used = [tuple(palette[3 * i : 3 * i + 3]) for i in indices]
        if used and all(len(c) == 3 and c[0] == c[1] == c[2] for c in used):
            # A grey palette (often a bilevel scan saved as palette PNG): keep it grey or bilevel.
            return img.convert("1") if {c[0] for c in used} <= {0, 255} else img.convert("L")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("L")
    if "A" in img.getbands() or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def save_page_image(img: Image.Image, out: Path) -> Path:
    """Bilevel pages as CCITT G4 in one strip (the PDF embeds that strip as is), the rest as PNG."""
    img = _normalise_mode(img)
    if img.mode == "1":
        target = out.with_suffix(".tif")
        img.save(target, format="TIFF", compression="group4", strip_size=2**31 - 1)
    else:
        target = out.with_suffix(".png")
        img.save(target, format="PNG", compress_level=1)
    return target


def _image_pages(path: Path, label: str, workdir: Path, kind: str, *, max_pixels: int) -> Iterator[Page]:
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow warns above this and refuses at twice it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # closed on errors too: a TIFF keeps its file open
                frames = ImageSequence.Iterator(img)
                for number, frame in enumerate(frames, start=1):
                    page_label = f"{label}, trang {number}"
                    _check_pixels(frame.width, frame.height, max_pixels, page_label)
                    recorded = frame.info.get("dpi")
                    out = workdir / f"{_stem(label)}-{number:05d}"
                    target, grey = _frame_to_page(path, kind, frame, page_label, number, out)
                    with Image.open(target) as check:
                        width, height = check.size
                    dpi, notices = _resolve_dpi(recorded, width, height, page_label, grey or target)
                    page = Page(label, number, target, width, height, dpi, notices, grey=grey)
                    _quality_notices(page)
                    yield page
    except (ImageTooLarge, UnsupportedInput):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(
            f"{label}: ảnh quá lớn (nghi là bom giải nén).",
            f"{label}: image too large (possible decompression bomb).",
            field=label,
        ) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptInput(
            f"{label}: tệp ảnh hỏng hoặc bị cắt cụt ({e}).",
            f"{label}: corrupt or truncated image file ({e}).",
            field=label,
        ) from e


def _frame_to_page(
    path: Path, kind: str, frame: Image.Image, label: str, number: int, out: Path
) -> tuple[Path, Path | None]:
    """Frame ``number`` of an image file (the page ``label``) as the page's image on disk, and a
    large colour page's grey copy for OCR (None for the others)."""
    orientation = frame.getexif().get(0x0112, 1) if kind == "jpeg" else 1
    if kind == "jpeg" and frame.mode in ("L", "RGB") and orientation == 1:
        target = out.with_suffix(".jpg")
        target.write_bytes(path.read_bytes())  # JPEG kept byte for byte; decoded later, once
        return target, None
    bands = len(frame.mode)
    if kind == "png" and frame.mode in ("L", "RGB") and not frame.info.get("interlace"):
        target = out.with_suffix(".png")
        target.write_bytes(path.read_bytes())  # its compressed data goes into the PDF as is
        grey = _grey_copy(out, *frame.size, bands) if rows.png_bands(path) else None
        if grey is not None:
            rows.write_png(rows.png_rows(path), *frame.size, bands, None, grey)
        return target, grey
    if kind == "tiff" and frame.mode in ("L", "RGB", "I;16", "I;16B") and rows.tiff_streams(path, number - 1):
        bands = 3 if frame.mode == "RGB" else 1
        # Strip by strip into a PNG: a large colour sheet is never decoded whole.
        target, grey = out.with_suffix(".png"), _grey_copy(out, *frame.size, bands)
        scratch = out.with_name(out.name + "-strips.tif")
        try:
            source, index = rows.restripped(path, number - 1, scratch, label)
            rows.write_png(rows.tiff_rows(source, index), *frame.size, bands, target, grey)
        finally:
            scratch.unlink(missing_ok=True)
        return target, grey
    if kind == "jp2" and frame.mode in ("L", "RGB") and is_large(*frame.size) and rows.jp2_streams(path):
        # A sheet above A3 a band at a time (a small page is decoded whole: faster, and small).
        target, grey = out.with_suffix(".png"), _grey_copy(out, *frame.size, bands)
        rows.write_png(rows.jp2_rows(path), *frame.size, bands, target, grey)
        return target, grey
    frame.load()
    return save_page_image(ImageOps.exif_transpose(frame) if orientation != 1 else frame, out), None


def _stem(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label)[:40]


def _pdf_pages(path: Path, label: str, workdir: Path, *, max_pixels: int, render_dpi: int) -> Iterator[Page]:
    Image.MAX_IMAGE_PIXELS = max_pixels  # the images taken out are opened again: the same guard
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError as e:
        raise EncryptedInput(
            f"{label}: PDF được mã hóa bằng mật khẩu; hãy gửi bản không mã hóa.",
            f"{label}: the PDF is password-protected; send an unencrypted copy.",
            field=label,
        ) from e
    except (pikepdf.PdfError, OSError) as e:
        raise CorruptInput(
            f"{label}: PDF hỏng hoặc bị cắt cụt ({e}).",
            f"{label}: corrupt or truncated PDF ({e}).",
            field=label,
        ) from e
    with pdf:
        if len(pdf.pages) == 0:
            raise CorruptInput(f"{label}: PDF không có trang nào.", f"{label}: the PDF has no pages.", field=label)
        for number, pdf_page in enumerate(pdf.pages, start=1):
            page_label = f"{label}, trang {number}"
            out = workdir / f"{_stem(label)}-{number:05d}"
            try:
                page = _extract_single_image(pdf_page, page_label, out, max_pixels)
                if page is None:
                    page = _render(path, number, pdf_page, page_label, out, max_pixels, render_dpi)
            except pikepdf.PdfError as e:
                raise CorruptInput(
                    f"{page_label}: trang PDF hỏng ({e}).", f"{page_label}: corrupt PDF page ({e}).", field=page_label
                ) from e
            page.source, page.number = label, number
            _quality_notices(page)
            yield page


def _resources(pdf_page: pikepdf.Page) -> pikepdf.Object:
    """The page's own /Resources (an empty dictionary when it has none)."""
    return pdf_page.obj.get("/Resources", pikepdf.Dictionary())


def _square(dpi: tuple[float, float]) -> bool:
    return abs(dpi[0] - dpi[1]) <= 0.03 * max(dpi)


def _extract_single_image(pdf_page: pikepdf.Page, label: str, out: Path, max_pixels: int) -> Page | None:
    """A scanned page is one image filling the page: take it out without re-encoding when possible.

    The image is kept as stored; how the source turned it for display (/Rotate, or a
    quarter turn in its matrix) does not matter, since orientation detection decides
    what is upright."""
    resources = _resources(pdf_page)
    if "/Font" in resources and not _only_invisible_text(pdf_page):
        return None  # visible text (a typed note, an electronic signature's stamp): render it in
    xobjects = resources.get("/XObject", pikepdf.Dictionary())
    if any(x.get("/Subtype") != "/Image" for x in xobjects.values()):
        return None  # drawn through forms: let poppler render it
    images = list(pdf_page.get_images(recursive=False).values())
    if len(images) != 1 or not isinstance(images[0], pikepdf.Stream):
        return None
    raw = images[0]
    pdfimage = pikepdf.PdfImage(raw)
    _check_pixels(pdfimage.width, pdfimage.height, max_pixels, label)
    box = pdf_page.mediabox
    width_in = float(box[2] - box[0]) / 72
    height_in = float(box[3] - box[1]) / 72
    dpi = (pdfimage.width / width_in, pdfimage.height / height_in)
    if not _square(dpi):
        dpi = (pdfimage.width / height_in, pdfimage.height / width_in)  # drawn a quarter turn
    if not _square(dpi) or not all(PLAUSIBLE_DPI[0] <= d <= PLAUSIBLE_DPI[1] for d in dpi):
        return None
    filters, grey = pdfimage.filters, None
    if filters == ["/DCTDecode"] and pdfimage.colorspace in ("/DeviceRGB", "/DeviceGray"):
        target = out.with_suffix(".jpg")
        target.write_bytes(raw.read_raw_bytes())
    elif _plain_pixels(raw, pdfimage):
        try:
            bands = 3 if pdfimage.colorspace == "/DeviceRGB" else 1
            target = out.with_suffix(".png")
            grey = _grey_copy(out, pdfimage.width, pdfimage.height, bands)
            rows.write_png(
                _pdf_rows(raw, pdfimage.width, pdfimage.height, bands),
                pdfimage.width,
                pdfimage.height,
                bands,
                target,
                grey,
            )
        except (ValueError, zlib.error):
            return None  # short or broken data: poppler renders what there is
    else:
        try:
            img = pdfimage.as_pil_image()
        except (pikepdf.PdfError, pikepdf.DependencyError, NotImplementedError, ValueError, OSError):
            return None  # unusual encodings are rendered by poppler instead
        target = save_page_image(img, out)
    with Image.open(target) as check:
        width, height = check.size
    # A photo or capture made into a PDF at one point a pixel says 72 dpi, as a camera's file does.
    dpi, notices = _resolve_dpi(dpi, width, height, label, grey or target)
    return Page(label, 0, target, width, height, dpi, notices, grey=grey)


SHOW_TEXT = {"Tj", "TJ", "'", '"'}


def _only_invisible_text(pdf_page: pikepdf.Page) -> bool:
    """Whether every piece of text the page shows is invisible (render mode 3): the OCR layer a
    scanner's own software laid over its image (Kodak, HP, OmniPage), usually without
    Vietnamese marks. Such a page is its scan: the layer is dropped and sohoa's laid instead."""
    modes = [0]  # the render mode is graphics state: q saves it, Q restores it
    try:
        for instruction in pikepdf.parse_content_stream(pdf_page):
            operands, name = instruction.operands, str(instruction.operator)
            if name == "q":
                modes.append(modes[-1])
            elif name == "Q" and len(modes) > 1:
                modes.pop()
            elif name == "Tr":
                modes[-1] = int(operands[0])
            elif name in SHOW_TEXT and modes[-1] != 3:
                return False
    except (pikepdf.PdfError, ValueError, IndexError):
        return False  # a stream it cannot read is rendered, as before
    return True


MIN_RENDER_DPI = 150  # a scanned page is rendered at least this fine, for OCR


def _scan_dpi(pdf_page: pikepdf.Page, render_dpi: int) -> int:
    """The resolution to render a page at: ``render_dpi``, or for a scanned page (images, no
    fonts) the finest of its images if that is coarser: a 100-dpi image on a 25×50-inch
    poster rendered at 300 dpi would be 340 MB of pixels that hold nothing more."""
    images = list(pdf_page.get_images(recursive=False).values())
    if "/Font" in _resources(pdf_page) or not images:
        return render_dpi
    box = pdf_page.mediabox
    size_in = (float(box[2] - box[0]) / 72, float(box[3] - box[1]) / 72)
    finest = max(max(int(i.Width) / size_in[0], int(i.Height) / size_in[1]) for i in images)
    return max(MIN_RENDER_DPI, min(render_dpi, math.ceil(finest)))


def _plain_pixels(raw: pikepdf.Object, image: pikepdf.PdfImage) -> bool:
    """8-bit grey or RGB rows, stored raw or Flate-compressed, with nothing that changes them."""
    return (
        image.bits_per_component == 8
        and image.colorspace in ("/DeviceRGB", "/DeviceGray")
        and image.filters in ([], ["/FlateDecode"])
        and "/Decode" not in raw
        and "/DecodeParms" not in raw
    )


# A page this large (above A3 at 300 dpi) is taken a band of rows at a time: a colour one gets a
# grey copy for OCR, and the compact profile encodes it as JPEG strip by strip (pdfa._jpeg).
LARGE_PIXELS = 20_000_000


def is_large(width: int, height: int) -> bool:
    return width * height >= LARGE_PIXELS


def _grey_copy(out: Path, width: int, height: int, bands: int) -> Path | None:
    """Where a large colour page's grey copy goes: OCR decodes it at one byte a pixel, not four."""
    return out.with_name(out.name + "-grey.png") if bands == 3 and is_large(width, height) else None


def _pdf_rows(raw: pikepdf.Stream, width: int, height: int, bands: int) -> Iterator[np.ndarray]:
    """A raw or Flate image's rows inflated a few at a time: a whole decode (pikepdf's bytes,
    then Pillow's image at four bytes a pixel) took 607 MB for a 9000x9000 colour sheet."""
    row = width * bands
    data = raw.read_raw_bytes()
    inflate = zlib.decompressobj() if raw.get("/Filter") is not None else None
    pending, done = b"", 0
    while done < height and (data or pending):
        if inflate is None:
            piece, data = data[: 2**20], data[2**20 :]
        else:
            piece, data = inflate.decompress(data, 2**20), inflate.unconsumed_tail
        pending += piece
        whole = min(len(pending) // row, height - done)
        if not whole:
            if not piece:
                return
            continue
        yield np.frombuffer(pending, np.uint8, whole * row).reshape(whole, width, bands)
        pending, done = pending[whole * row :], done + whole


def _render(path: Path, number: int, pdf_page: pikepdf.Page, label: str, out: Path, max_pixels: int, dpi: int) -> Page:
    dpi = _scan_dpi(pdf_page, dpi)
    box = pdf_page.mediabox
    width = round(float(box[2] - box[0]) / 72 * dpi)
    height = round(float(box[3] - box[1]) / 72 * dpi)
    _check_pixels(width, height, max_pixels, label)
    target = programs.render_pdf_page(path, number, dpi, out, label=label)
    with Image.open(target) as check:
        width, height = check.size
    return Page(label, 0, target, width, height, (float(dpi), float(dpi)))


def count_pages(path: Path, kind: str) -> int | None:
    """How many pages a file of ``kind`` (``check_type``) holds, read from its structure without
    decoding a page: a PDF's page tree, a TIFF's frames. None when the file cannot be opened so:
    reading it page by page then names what is wrong."""
    try:
        if kind == "pdf":
            with pikepdf.open(path) as pdf:
                return len(pdf.pages)
        if kind == "tiff":
            with Image.open(path) as img:
                return int(getattr(img, "n_frames", 1))
    except (pikepdf.PdfError, pikepdf.PasswordError, OSError, ValueError):
        return None
    return 1


def signed_pdf(path: Path) -> bool:
    """Whether a PDF carries a digital signature (a signature field with a value): an electronic
    original, which digitizing as images would strip of its signatures."""
    try:
        with pikepdf.open(path) as pdf:
            form = pdf.Root.get("/AcroForm")
            stack = list(form.get("/Fields", [])) if form is not None else []
            while stack:
                field = stack.pop()
                if field.get("/FT") == "/Sig" and "/V" in field:
                    return True
                stack.extend(field.get("/Kids", []))
    except (pikepdf.PdfError, pikepdf.PasswordError, OSError):
        return False
    return False

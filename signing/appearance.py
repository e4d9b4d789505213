"""Visible signature appearances, as Vietnamese practice lays them out."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from PIL import Image
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import TextStampStyle

# Liberation Serif has Times New Roman's metrics and full Vietnamese coverage (Debian fonts-liberation2).
SERIF = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")
FONT_SIZE = 10  # circular 05/2025/TT-BNV: Times New Roman 10, black


logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset" noise


@lru_cache(maxsize=1)
def stamp_font() -> Path:
    """Liberation Serif rescaled to 1000 units per em.

    pyHanko writes glyph widths in font units as if every font had 1000 units per em;
    Liberation has 2048, which would space letters twice too wide and break PDF/A's
    width-consistency rule. A rescaled copy is made once per machine.
    """
    digest = hashlib.sha256(SERIF.read_bytes()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / "sohoa-fonts" / f"LiberationSerif-vi-1000upm-{digest}.ttf"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        font = TTFont(SERIF)
        scale_upem(font, 1000)
        # Latin and Vietnamese only: pyHanko subsets the font again for every signature,
        # and a few hundred glyphs subset much faster than the full set.
        options = subset.Options()
        options.name_IDs = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(
            unicodes=[
                *range(0x20, 0x7F),
                *range(0xA0, 0x250),
                *range(0x300, 0x324),
                *range(0x1EA0, 0x1EFA),
                *range(0x2010, 0x2027),
            ]
        )
        subsetter.subset(font)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        font.save(tmp)
        os.replace(tmp, target)
    return target


class StampFont(GlyphAccumulatorFactory):
    """pyHanko's embedded font subset, plus the /CIDSet that PDF/A-1 requires of a subset CID
    font (one bit per CID the subset holds) when the writer asks for it (``needs_cidset``):
    PDF/A-2 validators cannot check one and refuse it."""

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        engine = super().create_font_engine(writer, obj_stream)
        write = engine.prepare_write

        def prepare_write() -> None:
            write()
            descriptor = engine.cidfont_obj._font_descriptor
            if getattr(writer, "needs_cidset", False) and "/CIDSet" not in descriptor:
                cids = {0, *(cid for cid, _width in engine._glyphs.values())}  # 0: .notdef
                bits = bytearray(max(cids) // 8 + 1)
                for cid in cids:
                    bits[cid // 8] |= 0x80 >> (cid % 8)
                descriptor[generic.NameObject("/CIDSet")] = writer.add_object(
                    generic.StreamObject(stream_data=bytes(bits))
                )

        engine.prepare_write = prepare_write  # type: ignore[method-assign]
        return engine


def empty_appearance() -> generic.StreamObject:
    """The normal appearance of an invisible widget (a document time stamp's): an empty form.
    PDF/A-1 wants an appearance for every widget, even one of zero size (PDFBox Preflight 5.3.1)."""
    return generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/XObject"),
            generic.NameObject("/Subtype"): generic.NameObject("/Form"),
            generic.NameObject("/BBox"): generic.ArrayObject([generic.NumberObject(0)] * 4),
            generic.NameObject("/Resources"): generic.DictionaryObject(),
        },
        stream_data=b"",
    )


@dataclass(frozen=True)
class Stamp:
    style: TextStampStyle
    box: tuple[int, int, int, int]
    text_params: dict[str, str]


def vietnam_time(moment: dt.datetime | None = None) -> str:
    """ISO 8601 with the Vietnam offset, e.g. 2025-05-27T09:15:00+07:00."""
    return (moment or dt.datetime.now(VIETNAM)).astimezone(VIETNAM).replace(microsecond=0).isoformat()


PAD = 3  # points between a stamp's text and its box
LEADING = 12  # points from one line of a stamp to the next
TEXT_WIDTH = 236  # points of text a stamp's line may take before it wraps


@lru_cache(maxsize=1)
def _advances() -> tuple[dict[int, int], int]:
    """The stamp font's advance widths by code point (1000 units per em), and .notdef's."""
    font = TTFont(stamp_font())
    metrics = font["hmtx"].metrics
    return {cp: metrics[name][0] for cp, name in font.getBestCmap().items()}, metrics[".notdef"][0]


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Points ``text`` takes in the stamp font at ``size``."""
    widths, missing = _advances()
    return sum(widths.get(ord(c), missing) for c in text) * size / 1000


def wrap(text: str, width: float = TEXT_WIDTH) -> list[str]:
    """``text`` in lines of at most ``width`` points at 10 pt, broken between words (a word
    longer than a line, between letters): a long agency name takes more lines, never a
    smaller size."""
    lines: list[str] = []
    current = ""
    for word in unicodedata.normalize("NFC", text).split():
        candidate = f"{current} {word}" if current else word
        if current and text_width(candidate) > width:
            lines.append(current)
            candidate = word
        while text_width(candidate) > width:
            cut = max(1, max(n for n in range(1, len(candidate) + 1) if text_width(candidate[:n]) <= width))
            lines.append(candidate[:cut])
            candidate = candidate[cut:]
        current = candidate
    return [*lines, current] if current else lines


@dataclass(frozen=True)
class StampText:
    """A text stamp at its natural size: 10 pt, never scaled to fit (pyHanko would shrink it)."""

    style: TextStampStyle
    size: tuple[float, float]


def _text_box() -> TextBoxStyle:
    """10 pt Times-metric text in a box as large as its text (pyHanko's default adds 10 pt all round)."""
    return TextBoxStyle(
        font=StampFont(str(stamp_font()), font_size=FONT_SIZE),
        leading=LEADING,
        box_layout_rule=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MIN,
            margins=layout.Margins.uniform(0),
        ),
    )


def text_stamp(lines: list[str]) -> StampText:
    style = TextStampStyle(
        stamp_text="\n".join(lines).replace("%", "%%"),
        text_box_style=_text_box(),
        border_width=0,
        background=None,
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN,
            y_align=layout.AxisAlignment.ALIGN_MAX,
            margins=layout.Margins.uniform(PAD),
            inner_content_scaling=layout.InnerScaling.NO_SCALING,
        ),
    )
    width = max(text_width(line) for line in lines) + 2 * PAD + 2
    height = len(lines) * LEADING + 2 * PAD + 3  # the last line's descenders
    return StampText(style, (width, height))


def digitized_copy_lines(signer: str, moment: dt.datetime, heading: str = "") -> list[str]:
    """A digitized copy's stamp (circular 05/2025/TT-BNV): who signed and when, ISO 8601 in
    +07:00, no seal image; a long name wraps onto more lines. ``heading`` goes first (what an
    officer's signature vouches for)."""
    first = wrap(heading) if heading else []
    return [*first, *wrap(f"Ký bởi: {signer}"), *wrap(f"Thời gian ký: {vietnam_time(moment)}")]


SEAL_MM = 36  # a round agency seal is about 36 mm across: shown at real size
PT_PER_MM = 72 / 25.4


SIGNER_SIZE = (180, 80)  # points: a result's signature image with the signer's name


def _image_stamp(
    text: str, image: Path | Image.Image | None, x_align: layout.AxisAlignment, y_align: layout.AxisAlignment,
    margins: layout.Margins,
) -> TextStampStyle:  # fmt: skip
    """An image filling the box, and 10 pt text placed in it as asked (never shrunk)."""
    return TextStampStyle(
        stamp_text=text,
        text_box_style=_text_box(),
        border_width=0,
        background=PdfImage(image if isinstance(image, Image.Image) else str(image)) if image is not None else None,
        background_opacity=1.0,
        # No margin: the seal must show at its real size (pyHanko's default leaves 5 pt).
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(0),
        ),
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=x_align, y_align=y_align, margins=margins, inner_content_scaling=layout.InnerScaling.NO_SCALING
        ),
    )


def result_signer_stamp(box: tuple[int, int, int, int], signer_name: str, signature_image: Path | None) -> Stamp:
    """Decree 30/2020 appendix I: the signer's signature image (blue, transparent PNG) with the
    signer's name at its bottom right, clear of where the seal's text goes; the name alone for a
    person without an image."""
    right, bottom = layout.AxisAlignment.ALIGN_MAX, layout.AxisAlignment.ALIGN_MIN
    style = _image_stamp("%(name)s", signature_image, right, bottom, layout.Margins(right=2, bottom=2))
    return Stamp(style, box, {"name": signer_name})


def result_seal_stamp(
    signer_box: tuple[int, int, int, int], organization: str, moment: dt.datetime, seal_image: Path
) -> Stamp:
    """The organization's seal image at real size over the left third of the signer's image, and
    to its right the organization's name and the time (10 pt, over the signature image, clear of
    the signer's name below): the second signature of an issued result."""
    x0, y0, x1, y1 = signer_box
    seal = round(SEAL_MM * PT_PER_MM)
    cx, cy = x0 + (x1 - x0) / 6, (y0 + y1) / 2  # the middle of the signer's image's left third
    left, bottom = round(cx - seal / 2), round(cy - seal / 2)
    when = vietnam_time(moment)
    lines = [*wrap(organization, 2 * (x1 - x0) / 3), when]
    width = seal + 4 + round(max(text_width(line) for line in lines)) + 2
    with Image.open(seal_image) as img:
        # The seal on a transparent canvas the box's shape: pyHanko fits a background to the box.
        scale = img.height / seal
        canvas = Image.new("RGBA", (round(width * scale), img.height), (0, 0, 0, 0))
        canvas.paste(img.convert("RGBA"), (0, 0))
    text = "\n".join(line.replace("%", "%%") for line in lines)
    middle = layout.AxisAlignment.ALIGN_MID
    style = _image_stamp(text, canvas, layout.AxisAlignment.ALIGN_MIN, middle, layout.Margins(left=seal + 4))
    return Stamp(style, (left, bottom, left + width, bottom + seal), {})


def issued_result_stamps(
    signer_box: tuple[int, int, int, int],
    signer_name: str,
    organization: str,
    moment: dt.datetime,
    signature_image: Path,
    seal_image: Path,
) -> tuple[Stamp, Stamp]:
    """Both stamps of an issued result: the signer signs first, the organization after."""
    return (
        result_signer_stamp(signer_box, signer_name, signature_image),
        result_seal_stamp(signer_box, organization, moment, seal_image),
    )

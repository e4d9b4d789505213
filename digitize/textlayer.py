"""The invisible OCR text layer: a glyphless font and text placed word by word over the scan."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from io import BytesIO
from statistics import median

import pikepdf
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

from digitize.ocr import Line

CHAR_WIDTH = 500  # every character is half an em wide; Tz stretches words to their boxes
DESCENT = 0.2  # share of the line height below the baseline


@lru_cache(maxsize=1)
def glyphless_font_program() -> bytes:
    """A TrueType font with one empty glyph: text stays searchable but never drawn."""
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "blank"])
    fb.setupCharacterMap({0x20: "blank"})
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({".notdef": empty, "blank": empty})
    fb.setupHorizontalMetrics({".notdef": (CHAR_WIDTH, 0), "blank": (CHAR_WIDTH, 0)})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "GlyphLessFont", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    fb.setupPost()
    out = BytesIO()
    fb.save(out)
    return out.getvalue()


def _to_unicode_cmap() -> bytes:
    # CIDs are UTF-16 code units of BMP characters; map each back to itself.
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256) if not 0xD8 <= hi <= 0xDF]
    blocks = []
    for i in range(0, len(ranges), 100):
        chunk = ranges[i : i + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def make_font(pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
    """The Type0 font object for the text layer, added to ``pdf``."""
    descriptor = pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor,
        FontName=pikepdf.Name.GlyphLessFont,
        Flags=5,  # fixed pitch, symbolic
        FontBBox=[0, -200, CHAR_WIDTH, 800],
        ItalicAngle=0,
        Ascent=800,
        Descent=-200,
        CapHeight=800,
        StemV=80,
        FontFile2=pikepdf.Stream(pdf, glyphless_font_program()),
    )
    cid_to_gid = pikepdf.Stream(pdf, b"\x00\x01" * 65536)  # every CID draws the blank glyph
    cidfont = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.CIDFontType2,
        BaseFont=pikepdf.Name.GlyphLessFont,
        CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=CHAR_WIDTH,
        CIDToGIDMap=pdf.make_indirect(cid_to_gid),
    )
    font = pikepdf.Dictionary(
        Type=pikepdf.Name.Font,
        Subtype=pikepdf.Name.Type0,
        BaseFont=pikepdf.Name.GlyphLessFont,
        Encoding=pikepdf.Name("/Identity-H"),
        DescendantFonts=[pdf.make_indirect(cidfont)],
        ToUnicode=pdf.make_indirect(pikepdf.Stream(pdf, _to_unicode_cmap())),
    )
    return pdf.make_indirect(font)


def _encode(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    safe = "".join(
        c if ord(c) <= 0xFFFF and not 0xD800 <= ord(c) <= 0xDFFF and c.isprintable() else "\ufffd" for c in text
    )
    return safe.encode("utf-16-be").hex().upper()


Place = Callable[[float, float], tuple[float, float]]


def content_stream(
    lines: Sequence[Line],
    *,
    dpi: tuple[float, float],
    page_height_px: int,
    place: Place | None = None,
    font: str = "/OCR",
) -> bytes:
    """PDF operators that lay each OCR word, invisibly, over its box on the page image.

    ``place`` maps a point of the page OCR read to the page as scanned (a straightened
    copy back to the skewed scan). Lines stay level (tilted or stepped text makes
    extractors break lines apart), each at the height its baseline maps to in the middle
    of the text: mapped at their own centres, a short line near the margin of a page
    skewed 5° can land below the long line after it, and extractors interleave the two."""
    sx, sy = 72.0 / dpi[0], 72.0 / dpi[1]
    middle = median((line.left + line.width / 2) * sx for line in lines) if lines else 0.0
    ops = ["BT", "3 Tr"]  # render mode 3: neither fill nor stroke
    for line in lines:
        size = max(line.height * sy, 1.0)
        baseline = (page_height_px - (line.top + line.height)) * sy + DESCENT * size
        words = line.words
        line_y = baseline
        ops.append(f"{font} {size:.2f} Tf")  # once a line: every word of a line has its size
        if place is not None:
            line_y = place(middle, baseline)[1]
        for i, word in enumerate(words):
            last = i == len(words) - 1
            text = word.text if last else word.text + " "
            # A trailing space reaches to the next word so extractors see the gap as a space.
            span_px = word.width if last else max(words[i + 1].left - word.left, word.width)
            natural = len(text) * CHAR_WIDTH / 1000 * size
            scale = 100.0 * span_px * sx / natural if natural else 100.0
            x = word.left * sx if place is None else place(word.left * sx, baseline)[0]
            ops.append(f"{scale:.2f} Tz 1 0 0 1 {x:.2f} {line_y:.2f} Tm <{_encode(text)}> Tj")
    ops.append("ET")
    return "\n".join(ops).encode("ascii")

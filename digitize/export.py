"""hOCR and ALTO exports of the OCR result: every word with its box and confidence.

Coordinates are pixels of the page as it was read: upright (a turned page as shown, not as
stored) and, for a straightened page, in the straightened frame.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from digitize.metadata import PageWords
from digitize.ocr import Line, Word
from digitize.pipeline import PageResult

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"


def _pages(pages: Sequence[PageResult]) -> list[PageResult]:
    return [p for p in pages if not p.dropped]


def to_hocr(pages: Sequence[PageResult], *, title: str = "") -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"',
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="vi" lang="vi">',
        f"<head><title>{escape(title)}</title>",
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
        '<meta name="ocr-system" content="sohoa (Tesseract)"/>',
        '<meta name="ocr-capabilities" content="ocr_page ocr_line ocrx_word"/></head>',
        "<body>",
    ]
    for n, page in enumerate(_pages(pages), start=1):
        width, height = page.upright_size
        image = quoteattr(f"{page.source}#{page.number}" + (f" {page.part}" if page.part else ""))
        out.append(
            f'<div class="ocr_page" id="page_{n}" title="image {image[1:-1]}; bbox 0 0 {width} {height}; '
            f'ppageno {n - 1}">'
        )
        for k, line in enumerate(page.lines, start=1):
            box = f"{line.left} {line.top} {line.left + line.width} {line.top + line.height}"
            out.append(f'<span class="ocr_line" id="line_{n}_{k}" title="bbox {box}">')
            for m, w in enumerate(line.words, start=1):
                wbox = f"{w.left} {w.top} {w.left + w.width} {w.top + w.height}"
                out.append(
                    f'<span class="ocrx_word" id="word_{n}_{k}_{m}" title="bbox {wbox}; x_wconf {round(w.conf)}">'
                    f"{escape(w.text)}</span>"
                )
            out.append("</span>")
        out.append("</div>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def to_alto(pages: Sequence[PageResult]) -> str:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<alto xmlns="{ALTO_NS}">',
        "<Description><MeasurementUnit>pixel</MeasurementUnit>",
        '<OCRProcessing ID="ocr"><ocrProcessingStep><processingSoftware>'
        "<softwareName>sohoa (Tesseract)</softwareName></processingSoftware></ocrProcessingStep></OCRProcessing>",
        "</Description>",
        "<Layout>",
    ]
    for n, page in enumerate(_pages(pages), start=1):
        width, height = page.upright_size
        out.append(f'<Page ID="p{n}" PHYSICAL_IMG_NR="{n}" WIDTH="{width}" HEIGHT="{height}">')
        out.append(f'<PrintSpace HPOS="0" VPOS="0" WIDTH="{width}" HEIGHT="{height}">')
        if page.lines:
            out.append(f'<TextBlock ID="p{n}_b1" LANG="vi">')
            for k, line in enumerate(page.lines, start=1):
                out.append(
                    f'<TextLine ID="p{n}_l{k}" HPOS="{line.left}" VPOS="{line.top}" '
                    f'WIDTH="{line.width}" HEIGHT="{line.height}">'
                )
                for m, w in enumerate(line.words):
                    if m:
                        out.append("<SP/>")
                    out.append(
                        f'<String CONTENT={quoteattr(w.text)} HPOS="{w.left}" VPOS="{w.top}" '
                        f'WIDTH="{w.width}" HEIGHT="{w.height}" WC="{max(w.conf, 0) / 100:.2f}"/>'
                    )
                out.append("</TextLine>")
            out.append("</TextBlock>")
        out += ["</PrintSpace>", "</Page>"]
    out += ["</Layout>", "</alto>", ""]
    return "\n".join(out)


def _box(element: ET.Element) -> tuple[int, int, int, int]:
    left, top, width, height = (int(element.get(k, "0")) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
    return left, top, width, height


def _word(string: ET.Element) -> Word:
    return Word(string.get("CONTENT", ""), *_box(string), conf=100 * float(string.get("WC", "0")))


def from_alto(xml: bytes) -> list[PageWords]:
    """The pages of an ALTO file this module wrote, as words with boxes again (a document
    digitized before its fields were read from the page is read from its stored ALTO)."""
    ns = {"a": ALTO_NS}
    pages = []
    for page in ET.fromstring(xml).iterfind(".//a:Page", ns):
        lines = []
        for line in page.iterfind(".//a:TextLine", ns):
            words = tuple(_word(s) for s in line.iterfind("a:String", ns))
            lines.append(Line(*_box(line), words=words))
        pages.append(PageWords(int(page.get("WIDTH", "0")), int(page.get("HEIGHT", "0")), lines))
    return pages

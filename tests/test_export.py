"""hOCR and ALTO exports: every word with its box, confidence and Vietnamese text as read."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from conftest import ROOT
from digitize import Source, digitize
from digitize.export import ALTO_NS, to_alto, to_hocr

MODELS = ROOT / "ocr-models"


def test_alto_and_hocr_carry_words_with_boxes(page_png: Path, tmp_path: Path) -> None:
    from pages import render_page

    turned = tmp_path / "xoay.png"
    render_page().convert("L").rotate(180).save(turned, dpi=(300, 300))
    result = digitize(
        [Source(page_png, page_png.name), Source(turned, turned.name)],
        tmp_path / "o.pdf",
        title="Đơn",
        tessdata=MODELS,
        jobs=2,
    )

    alto = etree.fromstring(to_alto(result.pages).encode())
    ns = {"a": ALTO_NS}
    pages = alto.findall(".//a:Page", ns)
    assert [(p.get("WIDTH"), p.get("HEIGHT")) for p in pages] == [("2480", "3508")] * 2
    spots = []
    for page in pages:  # the turned page is given as read, upright: the same words in the same places
        dang = next(s for s in page.findall(".//a:String", ns) if s.get("CONTENT") == "ĐĂNG")
        assert 0.8 < float(dang.get("WC")) <= 1.0
        spots.append((int(dang.get("HPOS")), int(dang.get("VPOS"))))
    assert abs(spots[0][0] - spots[1][0]) <= 3 and abs(spots[0][1] - spots[1][1]) <= 3
    contents = " ".join(s.get("CONTENT") for s in pages[0].findall(".//a:String", ns))
    assert "Nguyễn Thị Hương" in contents

    hocr = etree.fromstring(to_hocr(result.pages, title="Đơn").encode())
    xhtml = {"h": "http://www.w3.org/1999/xhtml"}
    assert len(hocr.findall(".//h:div[@class='ocr_page']", xhtml)) == 2
    word = next(w for w in hocr.findall(".//h:span[@class='ocrx_word']", xhtml) if w.text == "KHAI")
    assert word.get("title").startswith("bbox ") and "x_wconf" in word.get("title")

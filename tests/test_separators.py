"""Separator sheets split a batch scan into documents and dossiers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from conftest import ROOT
from digitize import Source, digitize_batch, largeformat, separators
from digitize.validate import check_pdfa
from pages import render_page
from service.settings import DOSSIER_CODE_PATTERN

MODELS = ROOT / "ocr-models"
DPI = 200
MM = DPI / 25.4
CODE_A, CODE_B, CODE_C = "000.00.12.H12-250527-0001", "000.00.12.H12-250527-0002", "000.00.12.H12-250528-0003"


def qr(text: str) -> Image.Image:
    return Image.fromarray(np.asarray(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=10)))


def blank_a4() -> Image.Image:
    return Image.new("L", (round(210 * MM), round(297 * MM)), 255)


def qr_sheet(code: str) -> Image.Image:
    sheet = blank_a4()
    sheet.paste(qr(code), (round(60 * MM), round(80 * MM)))
    return sheet


def patch_t_sheet() -> Image.Image:
    """PATCH-T: bars narrow, wide, narrow, wide (2.03 and 5.08 mm), narrow spaces, 80 mm long."""
    sheet = blank_a4()
    draw = ImageDraw.Draw(sheet)
    x = 90 * MM
    for width in (2.03, 5.08, 2.03, 5.08):
        draw.rectangle([round(x), round(20 * MM), round(x + width * MM) - 1, round(100 * MM)], fill=0)
        x += (width + 2.03) * MM
    return sheet


def text_page(title: str) -> Image.Image:
    return render_page([title, "Hồ sơ đề nghị cấp giấy phép xây dựng", "Người nộp: Lê Văn Nam"], dpi=DPI, mode="L")


def test_patch_t_and_qr_are_found_and_ordinary_pages_are_not() -> None:
    pattern = DOSSIER_CODE_PATTERN
    for image, expected in (
        (patch_t_sheet(), separators.Separator("document")),
        (qr_sheet(CODE_B), separators.Separator("dossier", CODE_B)),
        (text_page("TRANG THƯỜNG"), None),
    ):
        ink = largeformat.analysis_copy(image, DPI)
        assert separators.find(image, DPI, ink, pattern) == expected
    turned = patch_t_sheet().rotate(90, expand=True)  # bars along the page
    assert separators.has_patch_t(turned, DPI)
    wrong = qr_sheet("not a dossier code")
    assert separators.find(wrong, DPI, largeformat.analysis_copy(wrong, DPI), pattern) is None


def test_batch_scan_is_split_into_documents_and_dossiers(tmp_path: Path) -> None:
    slip = text_page("GIẤY TIẾP NHẬN HỒ SƠ")  # a receipt slip: content and its dossier's QR
    slip.paste(qr(CODE_C), (round(150 * MM), round(230 * MM)))
    sheets = [
        text_page("TÀI LIỆU MỘT"),
        qr_sheet(CODE_B),
        text_page("TÀI LIỆU HAI"),
        patch_t_sheet(),
        text_page("TÀI LIỆU BA"),
        slip,
        text_page("TÀI LIỆU BỐN"),
    ]
    batch = tmp_path / "lo-quet.tif"
    sheets[0].save(batch, save_all=True, append_images=sheets[1:], dpi=(DPI, DPI), compression="tiff_lzw")
    out = tmp_path / "out"
    segments = digitize_batch(
        [Source(batch, batch.name)],
        out,
        code_pattern=DOSSIER_CODE_PATTERN,
        default_code=CODE_A,
        tessdata=MODELS,
        jobs=2,
    )
    assert [(s.code, s.document) for s in segments] == [(CODE_A, 1), (CODE_B, 1), (CODE_B, 2), (CODE_C, 1)]
    texts = []
    for segment in segments:
        assert segment.result.output == out / segment.code / f"{segment.document}.pdf"
        assert check_pdfa(segment.result.output).passed
        texts.append(
            subprocess.run(["pdftotext", str(segment.result.output), "-"], capture_output=True, text=True).stdout
        )
    assert "TÀI LIỆU MỘT" in texts[0] and "TÀI LIỆU HAI" in texts[1] and "TÀI LIỆU BA" in texts[2]
    assert "GIẤY TIẾP NHẬN HỒ SƠ" in texts[3] and "TÀI LIỆU BỐN" in texts[3]  # the slip is kept
    assert [len(s.result.pages) - sum(p.dropped for p in s.result.pages) for s in segments] == [1, 1, 1, 2]

"""Paper the desk prints: the receipt slip handed to the citizen (giấy tiếp nhận hồ sơ và hẹn trả kết
quả) with the dossier code as QR code and Code 128 barcode, and separator sheets for batch
scanning (a dossier code's QR, a PATCH-T sheet) that ``digitize.separators`` finds again.

Each is drawn as an A4 image at 200 dpi (Liberation Serif, Times New Roman's metrics, full
Vietnamese coverage) and saved as a PDF by Pillow; the codes come from zxing-cpp, the library
that reads them back from scans."""

from __future__ import annotations

import io
import unicodedata

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

from service import agencies
from service.context import Context, audit_read
from service.dossiers import dossier_view
from storage import parse_code
from storage.catalog import iso, now

DPI = 200
MM = DPI / 25.4
A4 = (round(210 * MM), round(297 * MM))
SERIF = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"
SERIF_BOLD = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf"
# PATCH-T: bars narrow, wide, narrow, wide (2.03 and 5.08 mm) with narrow spaces, 80 mm long.
PATCH_T_BARS_MM = (2.03, 5.08, 2.03, 5.08)


def _font(size_pt: float, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(SERIF_BOLD if bold else SERIF, round(size_pt / 72 * DPI))


def _code_image(text: str, kind: zxingcpp.BarcodeFormat, scale: int) -> Image.Image:
    barcode = zxingcpp.create_barcode(text, kind)
    return Image.fromarray(np.asarray(barcode.to_image(scale=scale, add_quiet_zones=True)))


def _centered(draw: ImageDraw.ImageDraw, y: float, text: str, font: ImageFont.FreeTypeFont, x: float) -> float:
    """Draw ``text`` centred on ``x``; the y below it."""
    width = draw.textlength(text, font=font)
    draw.text((x - width / 2, y), text, font=font, fill=0)
    return y + font.size * 1.35


def _pdf(pages: list[Image.Image]) -> bytes:
    out = io.BytesIO()
    pages[0].save(out, format="PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return out.getvalue()


def _header(draw: ImageDraw.ImageDraw, agency: str) -> float:
    left, right = A4[0] * 0.27, A4[0] * 0.68
    _centered(draw, 20 * MM, agency.upper(), _font(12, bold=True), left)
    _centered(draw, 20 * MM, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", _font(12, bold=True), right)
    _centered(draw, 20 * MM + 34, "Độc lập - Tự do - Hạnh phúc", _font(13, bold=True), right)
    return 45 * MM


def receipt(ctx: Context, code: str, *, actor: str, receiver: str) -> bytes:
    """The receipt slip of dossier ``code``: who handed in what, when, and when the result is due;
    its code as QR and barcode, so a hand scanner at any desk types it back."""
    view = dossier_view(ctx, code)
    page = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(page)
    y = _header(draw, agencies.name_of(ctx, code) or ctx.settings.demo_agency)
    y = _centered(draw, y, "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", _font(15, bold=True), A4[0] / 2)
    y = _centered(draw, y, f"Mã hồ sơ: {code}", _font(13, bold=True), A4[0] / 2) + 4 * MM
    qr = _code_image(code, zxingcpp.BarcodeFormat.QRCode, 8)
    bar = _code_image(code, zxingcpp.BarcodeFormat.Code128, 3)
    page.paste(qr, (round(25 * MM), round(y)))
    page.paste(bar, (round(A4[0] - 20 * MM - bar.width), round(y + (qr.height - bar.height) / 2)))
    y += qr.height + 6 * MM
    documents = [f"{d.id}. {d.file} ({d.pages} trang)" for d in view.documents] or ["(chưa có tài liệu số hóa)"]
    lines = [
        f"Tiếp nhận hồ sơ của: {view.applicant or '…'}",
        f"Thủ tục: {view.procedure or '…'}",
        f"Trích yếu: {view.title or '…'}",
        "Thành phần hồ sơ:",
        *(f"    {d}" for d in documents[:15]),
        f"Ngày nhận: {view.received_on or '…'}",
        f"Ngày hẹn trả kết quả: {view.due_on or '…'}",
        f"In lúc: {(iso(now()) or '')[:16].replace('T', ' ')} (giờ Việt Nam)",
    ]
    font = _font(12)
    for line in lines:
        draw.text((25 * MM, y), unicodedata.normalize("NFC", line), font=font, fill=0)
        y += font.size * 1.5
    _centered(draw, y + 10 * MM, "NGƯỜI TIẾP NHẬN", _font(12, bold=True), A4[0] * 0.7)
    _centered(draw, y + 35 * MM, receiver, _font(12), A4[0] * 0.7)
    audit_read(ctx, actor, "receipt.printed", code)
    return _pdf([page])


def separators(ctx: Context, codes: list[str]) -> bytes:
    """One sheet per dossier code (its QR, large, and the code in words), then a PATCH-T sheet
    that starts a new document within a dossier."""
    pages = []
    for code in codes:
        parse_code(code, ctx.settings.dossier_code_pattern)
        page = Image.new("L", A4, 255)
        qr = _code_image(code, zxingcpp.BarcodeFormat.QRCode, 14)
        page.paste(qr, (round((A4[0] - qr.width) / 2), round(60 * MM)))
        draw = ImageDraw.Draw(page)
        # The code in words just under it, within the margin the separator finder leaves the code
        # (more ink on the sheet, and the sheet would be kept as a page of the dossier).
        _centered(draw, 60 * MM + qr.height + 2 * MM, code, _font(10), A4[0] / 2)
        pages.append(page)
    patch = Image.new("L", A4, 255)
    draw = ImageDraw.Draw(patch)
    x = 90 * MM
    for width in PATCH_T_BARS_MM:
        draw.rectangle([round(x), round(20 * MM), round(x + width * MM) - 1, round(100 * MM)], fill=0)
        x += (width + 2.03) * MM
    _centered(draw, 130 * MM, "PATCH-T — TÀI LIỆU MỚI", _font(14, bold=True), A4[0] / 2)
    pages.append(patch)
    return _pdf(pages)

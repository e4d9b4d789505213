"""Administrative documents rendered the way decree 30/2020 (appendix I) lays them out, with the
metadata each one carries as ground truth: the test set of `digitize.metadata` (tests and
bench/metadata_bench.py). Liberation Serif stands in for Times New Roman (same metrics)."""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

FONTS = Path("/usr/share/fonts/truetype/liberation2")
MOTTO = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO_2 = "Độc lập - Tự do - Hạnh phúc"

# (parent agency line or "", issuer lines, issuer abbreviation, drafting unit of its letters)
AGENCIES = [
    ("", ["ỦY BAN NHÂN DÂN", "HUYỆN BA BỂ"], "UBND", "VP"),
    ("", ["ỦY BAN NHÂN DÂN", "XÃ HÒA BÌNH"], "UBND", "TP"),
    ("", ["ỦY BAN NHÂN DÂN", "TỈNH THÁI NGUYÊN"], "UBND", "KT"),
    ("", ["BỘ TÀI CHÍNH"], "BTC", "VP"),
    ("UBND TỈNH BẮC NINH", ["SỞ TÀI NGUYÊN", "VÀ MÔI TRƯỜNG"], "STNMT", "QLĐĐ"),
    ("UBND TỈNH THÁI NGUYÊN", ["SỞ Y TẾ"], "SYT", "NVY"),
    ("UBND HUYỆN THANH TRÌ", ["PHÒNG TÀI CHÍNH - KẾ HOẠCH"], "TCKH", "NS"),
    ("BỘ NỘI VỤ", ["CỤC VĂN THƯ VÀ", "LƯU TRỮ NHÀ NƯỚC"], "VTLTNN", "NVĐP"),
    ("UBND THÀNH PHỐ HÀ NỘI", ["SỞ XÂY DỰNG"], "SXD", "QLXD"),
]
TYPES = [
    ("Quyết định", "QĐ"),
    ("Thông báo", "TB"),
    ("Kế hoạch", "KH"),
    ("Báo cáo", "BC"),
    ("Tờ trình", "TTr"),
    ("Giấy mời", "GM"),
    ("Chỉ thị", "CT"),
    ("Hướng dẫn", "HD"),
    ("Công văn", ""),  # a letter: no type name, "V/v" under its number
    ("Công văn", ""),
]
PLACES = ["Hà Nội", "Ba Bể", "Thái Nguyên", "Hòa Bình", "Bắc Ninh", "Thanh Trì"]
SUBJECTS = [
    "phê duyệt kế hoạch sử dụng đất năm 2025 của huyện",
    "tổ chức kiểm tra công tác cải cách hành chính",
    "đề nghị cung cấp hồ sơ địa chính thửa đất số 125",
    "kết quả thực hiện nhiệm vụ quý I năm 2025",
    "ban hành quy chế tiếp nhận và trả kết quả giải quyết thủ tục hành chính tại bộ phận một cửa",
    "triển khai số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
    "cấp giấy phép xây dựng nhà ở riêng lẻ cho hộ gia đình ông Trần Văn Bình",
    "tăng cường công tác phòng, chống thiên tai năm 2025",
]
# (authority lines, title lines)
SIGNATURES = [
    (["TM. ỦY BAN NHÂN DÂN"], ["CHỦ TỊCH"]),
    (["KT. CHỦ TỊCH"], ["PHÓ CHỦ TỊCH"]),
    (["TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH"], ["PHÓ CHỦ TỊCH"]),
    (["TL. GIÁM ĐỐC"], ["CHÁNH VĂN PHÒNG"]),
    (["TUQ. CHỦ TỊCH"], ["CHÁNH VĂN PHÒNG"]),
    (["KT. GIÁM ĐỐC"], ["PHÓ GIÁM ĐỐC"]),
    ([], ["GIÁM ĐỐC"]),
    ([], ["CỤC TRƯỞNG"]),
]
NAMES = [
    "Nguyễn Văn An",
    "Trần Thị Hương",
    "Lê Quang Dũng",
    "Phạm Thị Hồng Nhung",
    "Hoàng Đức Thắng",
    "Vũ Minh Tuấn",
    "Đặng Thị Lan",
    "Bùi Xuân Trường",
]
BODY = [
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015;",
    "Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư;",
    "Xét đề nghị của Trưởng phòng Nội vụ tại Tờ trình số 45/TTr-NV ngày 02 tháng 01 năm 2025.",
    "Các cơ quan, đơn vị có liên quan chịu trách nhiệm thi hành văn bản này kể từ ngày ký.",
]
LETTER_BODY = [
    "Thực hiện chỉ đạo của cấp trên về việc số hóa hồ sơ thủ tục hành chính, đề nghị các cơ quan,",
    "đơn vị rà soát, cập nhật và gửi báo cáo về Văn phòng trước ngày 30 tháng 6 năm 2025 để tổng hợp.",
]


@dataclass
class OfficialDocument:
    """What a page says, as the metadata reader should find it."""

    parent: str
    issuer_lines: list[str]
    number: str
    issued_on: dt.date
    place: str
    type: str
    subject_lines: list[str]
    authority_lines: list[str]
    title_lines: list[str]
    signer: str
    truth: dict[str, str] = field(default_factory=dict)

    @property
    def letter(self) -> bool:
        return self.type == "Công văn"


def _date_text(place: str, day: dt.date) -> str:
    # Days below 10 and months below 3 take a leading zero (decree 30/2020, appendix I).
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{place}, ngày {day.day:02d} tháng {month} năm {day.year}"


def _wrap(words: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines: list[str] = []
    for word in words.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def make_document(rng: random.Random, subject_width: float) -> OfficialDocument:
    """A random document of the layout; ``subject_width``: points a subject line may take."""
    parent, issuer, abbreviation, unit = rng.choice(AGENCIES)
    kind, type_code = rng.choice(TYPES)
    serial = rng.randint(1, 999)
    symbol = f"{type_code}-{abbreviation}" if type_code else f"{abbreviation}-{unit}"
    number = f"{serial:02d}/{symbol}"
    day = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 364))
    subject = rng.choice(SUBJECTS)
    font = ImageFont.truetype(str(FONTS / "LiberationSerif-Bold.ttf"), 13)
    if kind == "Công văn":
        lines = _wrap(f"V/v {subject}", font, min(subject_width, 190))
    else:
        lines = _wrap(
            f"Về việc {subject}" if rng.random() < 0.6 else subject[0].upper() + subject[1:], font, subject_width
        )
    authority, title = rng.choice(SIGNATURES)
    doc = OfficialDocument(parent, issuer, number, day, rng.choice(PLACES), kind, lines, authority, title,
                           rng.choice(NAMES))  # fmt: skip
    doc.truth = {
        "number": number,
        "issued_on": day.isoformat(),
        "type": kind,
        "subject": " ".join(lines),
        "issuer": " ".join(issuer),
        "signer": doc.signer,
        "signer_title": " ".join(title),
        "authority": " ".join(authority),
    }
    return doc


class _Pen:
    """Text on the page in points from its top left, as a word processor places it."""

    def __init__(self, img: Image.Image, dpi: int) -> None:
        self.draw, self.dpi, self.img = ImageDraw.Draw(img), dpi, img

    def font(self, style: str, pt: float) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(FONTS / f"LiberationSerif-{style}.ttf"), round(pt * self.dpi / 72))

    def px(self, pt: float) -> float:
        return pt * self.dpi / 72

    def text(self, x_pt: float, y_pt: float, line: str, style: str, pt: float, *, centre: bool = False) -> None:
        font = self.font(style, pt)
        x = self.px(x_pt) - (font.getlength(line) / 2 if centre else 0)
        self.draw.text((x, self.px(y_pt)), line, fill="black", font=font)

    def rule(self, centre_pt: float, y_pt: float, width_pt: float) -> None:
        x0, x1 = self.px(centre_pt - width_pt / 2), self.px(centre_pt + width_pt / 2)
        self.draw.line([(x0, self.px(y_pt)), (x1, self.px(y_pt))], fill="black", width=max(1, round(self.px(0.6))))


LEFT_CENTRE, RIGHT_CENTRE, PAGE_CENTRE = 155, 420, 325  # points from the left edge (A4: 595 pt wide)


def _header(pen: _Pen, doc: OfficialDocument) -> float:
    """Agency and motto, number and date; returns where the header ends (points)."""
    y = 50.0
    left = y
    if doc.parent:
        pen.text(LEFT_CENTRE, left, doc.parent, "Regular", 12, centre=True)
        left += 15
    for line in doc.issuer_lines:
        pen.text(LEFT_CENTRE, left, line, "Bold", 12, centre=True)
        left += 15
    pen.rule(LEFT_CENTRE, left + 2, 60)
    pen.text(RIGHT_CENTRE, y, MOTTO, "Bold", 12, centre=True)
    pen.text(RIGHT_CENTRE, y + 15, MOTTO_2, "Bold", 13, centre=True)
    pen.rule(RIGHT_CENTRE, y + 33, 150)
    y = max(left + 12, y + 44)
    pen.text(LEFT_CENTRE, y, f"Số: {doc.number}", "Regular", 13, centre=True)
    pen.text(RIGHT_CENTRE, y, _date_text(doc.place, doc.issued_on), "Italic", 13, centre=True)
    y += 18
    if doc.letter:
        for line in doc.subject_lines:
            pen.text(LEFT_CENTRE, y, line, "Regular", 12, centre=True)
            y += 15
        y += 14
        pen.text(PAGE_CENTRE, y, "Kính gửi: Các phòng, ban chuyên môn", "Regular", 14, centre=True)
        return y + 30
    y += 18
    pen.text(PAGE_CENTRE, y, doc.type.upper(), "Bold", 14, centre=True)
    y += 18
    for line in doc.subject_lines:
        pen.text(PAGE_CENTRE, y, line, "Bold", 14, centre=True)
        y += 17
    pen.rule(PAGE_CENTRE, y + 3, 120)
    return y + 24


def _signature_block(pen: _Pen, doc: OfficialDocument, y: float) -> tuple[float, float]:
    """Recipients bottom left, the authority, title and name bottom right; returns where the
    title ends and where the name starts (points), for the seal and the signature."""
    pen.text(85, y, "Nơi nhận:", "BoldItalic", 12)
    for n, line in enumerate(["- Như trên;", "- Lưu: VT."]):
        pen.text(85, y + 15 + 13 * n, line, "Regular", 11)
    for line in [*doc.authority_lines, *doc.title_lines]:
        pen.text(RIGHT_CENTRE, y, line, "Bold", 14, centre=True)
        y += 17
    name_y = y + 62
    pen.text(RIGHT_CENTRE, name_y, doc.signer, "Bold", 14, centre=True)
    return y, name_y


def _seal(img: Image.Image, pen: _Pen, title_y: float, name_y: float, rng: random.Random) -> Image.Image:
    """A red round seal over the left third of the signature, reaching up over the title, and a
    blue signature: ink over ink, the darker shows."""
    px = pen.dpi / 72
    layer = Image.new("RGB", img.size, "white")
    draw = ImageDraw.Draw(layer)
    red = (rng.randint(190, 225), rng.randint(20, 60), rng.randint(30, 70))
    cx, cy, radius = (RIGHT_CENTRE - rng.uniform(25, 45)) * px, (title_y + name_y) / 2 * px, 48 * px
    for r, w in ((radius, 2.2 * px), (radius * 0.7, 1.2 * px)):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=red, width=round(w))
    font = pen.font("Bold", 8)
    text = "ỦY BAN NHÂN DÂN * HUYỆN BA BỂ *"
    for n, char in enumerate(text):
        angle = 2 * math.pi * n / len(text) - math.pi / 2
        glyph = Image.new("L", (round(14 * px), round(14 * px)), 0)
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), char, fill=255, font=font, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
        at = (round(cx + 0.85 * radius * math.cos(angle) - glyph.width / 2),
              round(cy + 0.85 * radius * math.sin(angle) - glyph.height / 2))  # fmt: skip
        layer.paste(Image.new("RGB", glyph.size, red), at, glyph)
    blue = (30, 40, rng.randint(120, 170))
    x, y = (RIGHT_CENTRE - 30) * px, (name_y - 40) * px
    for _ in range(rng.randint(3, 5)):
        points = [(x + rng.uniform(0, 90) * px, y + rng.uniform(0, 30) * px) for _ in range(4)]
        draw.line(points, fill=blue, width=round(1.2 * px), joint="curve")
    return ImageChops.multiply(img, layer)


def render(
    doc: OfficialDocument, *, dpi: int = 300, colour: bool = True, seal: bool = True, skew: float = 0.0, seed: int = 0
) -> Image.Image:
    """Page 1 of ``doc`` as a scanner gives it: A4, ``dpi``, colour or grey, sensor noise,
    turned ``skew`` degrees (counter-clockwise)."""
    rng = random.Random(seed)
    img = Image.new("RGB", (round(8.27 * dpi), round(11.69 * dpi)), "white")
    pen = _Pen(img, dpi)
    y = _header(pen, doc)
    for line in LETTER_BODY if doc.letter else BODY:
        pen.text(85, y, line, "Regular", 12)
        y += 17
    title_y, name_y = _signature_block(pen, doc, y + 16)
    if seal:
        img = _seal(img, pen, title_y, name_y, rng)
    if skew:
        img = img.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    pixels = np.asarray(img if colour else img.convert("L"), dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0, 6, pixels.shape)
    out = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
    out.info["dpi"] = (dpi, dpi)
    return out

"""Vietnamese test pages rendered by the tests themselves (Liberation Serif, like Times New Roman)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT = Path("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf")
A4_MM = (210, 297)

TEXT = [
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "ĐƠN ĐĂNG KÝ KHAI SINH",
    "Kính gửi: Ủy ban nhân dân xã Hòa Bình",
    "Họ và tên người yêu cầu: Nguyễn Thị Hương",
    "Nơi cư trú: thôn Đông Sơn, huyện Thanh Trì",
    "Giấy tờ tùy thân: căn cước công dân",
    "Quan hệ với người được khai sinh: mẹ đẻ",
    "Đề nghị cơ quan đăng ký khai sinh cho người dưới đây",
    "Tôi cam đoan nội dung đề nghị đăng ký là đúng sự thật",
]


def render_page(
    lines: list[str] = TEXT, *, dpi: int = 300, mode: str = "RGB", size_mm: tuple[int, int] = A4_MM
) -> Image.Image:
    """An A4 page of text at 12-14 pt, as a clean 300-dpi scan would show it."""
    width = round(size_mm[0] / 25.4 * dpi)
    height = round(size_mm[1] / 25.4 * dpi)
    img = Image.new(mode, (width, height), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), size=round(14 / 72 * dpi))
    y = round(25 / 25.4 * dpi)
    for line in lines:
        draw.text((round(25 / 25.4 * dpi), y), line, fill="black", font=font)
        y += round(24 / 72 * dpi)
    return img


def scanned_page(dpi: int = 300, seed: int = 7) -> Image.Image:
    """The page as a colour scanner gives it: with sensor noise (a clean render compresses far
    better losslessly than any real scan)."""
    page = np.asarray(render_page(dpi=dpi), dtype=float)
    noise = np.random.default_rng(seed).normal(0, 12, page.shape)
    return Image.fromarray(np.clip(page + noise, 0, 255).astype(np.uint8))


Grey = float | tuple[float, float, float]  # a grey level, or an RGB colour


def faded(
    page: Image.Image,
    *,
    text: Grey,
    paper: Grey,
    quality: int,
    blur: float = 0.8,
    toner: float = 1.0,
    shade: float = 0.0,
    seed: int = 0,
    dpi: int = 300,
) -> Image.Image:
    """``page`` (black on white) as a worn copy: strokes of grey ``text`` on ``paper`` (RGB for
    yellowed or blue paper), only ``toner`` to 1 as dark where the toner ran low, the light falling
    off by ``shade`` towards the right edge, sensor noise, ``blur``, then JPEG at ``quality``."""
    rng = np.random.default_rng(seed)
    ink = ImageChops.invert(page.convert("L"))
    worn = Image.fromarray(rng.integers(round(255 * toner), 256, (page.height // 8 + 1, page.width // 8 + 1), np.uint8))
    ink = ImageChops.multiply(ink, worn.resize(page.size, Image.Resampling.BILINEAR))
    light = Image.linear_gradient("L").rotate(-90).resize(page.size).point(lambda v: round(255 - shade * (255 - v)))
    tile = rng.normal(128, 3, (256, 256)).clip(0, 255).astype(np.uint8)  # repeated: cheaper than a page of it
    noise = Image.fromarray(np.tile(tile, (page.height // 256 + 1, page.width // 256 + 1))).crop((0, 0, *page.size))
    channels = []
    for p, t in zip(*(np.broadcast_to(np.asarray(v, dtype=float), (3,)) for v in (paper, text)), strict=True):
        grey = ink.point(lambda d, p=p, t=t: round(p - d * (p - t) / 255))
        channels.append(ImageChops.add(ImageChops.multiply(grey, light), noise, offset=-128))
    colour = isinstance(paper, tuple) or isinstance(text, tuple)
    img = Image.merge("RGB", channels) if colour else channels[0]
    img = img.filter(ImageFilter.GaussianBlur(blur))
    data = io.BytesIO()
    img.save(data, "JPEG", quality=quality, dpi=(dpi, dpi))
    return Image.open(data)


def save_page(path: Path, lines: list[str] = TEXT, *, dpi: int = 300, mode: str = "RGB", **kw: object) -> Path:
    img = render_page(lines, dpi=dpi, mode=mode)
    img.save(path, dpi=(dpi, dpi), **kw)
    return path


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "don-khai-sinh.png")
    save_page(target)
    print(target)

"""Benchmark sohoa against OCRmyPDF and bare Tesseract on Vietnamese pages: speed, CER/WER, size, memory."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # so `--one sohoa` imports the project whatever the cwd
sys.path.insert(0, str(ROOT / "tests"))
from pages import faded  # noqa: E402  (the tests' worn copies: the bench measures the class they test)

MODELS = ROOT / "ocr-models"
SCANS = ROOT / "tests" / "resources" / "scans"  # the real scans the tests use; --corpus takes any folder
FONT = "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf"
JOBS = 2  # the machine has 2 cores; every tool gets the same parallelism
CLASSES = {"colour": "png", "noisy": "jpg", "bilevel": "tif", "turned": "png", "skewed": "png"}
# Worn pages (issue 16): new classes come last, so the pages of the ones above stay the same.
CLASSES |= {"faded": "jpg", "dark": "jpg", "photo": "jpg", "sealed": "tif"}
PEERS = ("ocrmypdf", "tesseract")
TOOLS = ("sohoa", "sohoa-compact", *PEERS)  # sohoa-compact: the compact size profile (JPEG quality 75)
OCRMYPDF = str(Path(sys.executable).parent / "ocrmypdf")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

SURNAMES = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý"
MIDDLE = "Văn Thị Hữu Đức Minh Thanh Ngọc Quốc Xuân Thu"
GIVEN = "An Bình Cường Dũng Giang Hà Hải Hằng Hiếu Hương Khánh Lan Long Mai Nam Nga Phúc Sơn Thảo Trung Tuấn Yến"
COMMUNES = ["Hòa Bình", "Tân Phú", "Quảng Điền", "Phước Long", "Đông Hưng", "Nghĩa Đô", "Yên Hòa", "Thạch Bàn"]
DISTRICTS = ["Thanh Trì", "Đông Anh", "Hóc Môn", "Bình Chánh", "Hải Hậu", "Krông Pắc", "Phong Điền"]
PROVINCES = ["Hà Nội", "Nam Định", "Thừa Thiên Huế", "Đắk Lắk", "Cần Thơ", "Quảng Ninh", "Nghệ An"]
TITLES = [
    "ĐƠN ĐĂNG KÝ KHAI SINH",
    "TỜ KHAI ĐĂNG KÝ KẾT HÔN",
    "ĐƠN ĐỀ NGHỊ CẤP GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT",
    "ĐƠN ĐỀ NGHỊ CHỨNG THỰC BẢN SAO TỪ BẢN CHÍNH",
]
FIELDS = [
    "Họ, chữ đệm, tên người yêu cầu: {name}",
    "Ngày, tháng, năm sinh: {date}",
    "Nơi cư trú: thôn Đông Sơn, xã {commune}, huyện {district}, tỉnh {province}",
    "Số định danh cá nhân: {pid}",
    "Số điện thoại liên hệ: {phone}",
    "Quan hệ với người được khai sinh: {relation}",
    "Dân tộc: Kinh; Quốc tịch: Việt Nam; Tôn giáo: không",
    "Nghề nghiệp: {job}",
    "Giấy tờ tùy thân: căn cước công dân, cấp ngày {issued}",
]
RELATIONS = ["mẹ đẻ", "cha đẻ", "ông nội", "bà ngoại", "anh ruột"]
JOBS_VI = ["giáo viên", "nông dân", "kỹ sư xây dựng", "nhân viên văn phòng", "buôn bán nhỏ", "y sĩ"]
SENTENCES = [
    "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014 và Nghị định số 123/2015/NĐ-CP của Chính phủ.",
    "Tôi cam đoan những nội dung khai trên đây là đúng sự thật và chịu trách nhiệm trước pháp luật.",
    "Đề nghị Ủy ban nhân dân xã xem xét, giải quyết hồ sơ theo đúng trình tự, thủ tục hành chính.",
    "Hồ sơ gồm bản chính giấy chứng sinh, bản sao căn cước công dân của cha mẹ và giấy chứng nhận kết hôn.",
    "Thời hạn giải quyết là ba ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ tại Bộ phận một cửa.",
    "Trường hợp hồ sơ chưa đầy đủ, công chức tiếp nhận hướng dẫn người nộp bổ sung một lần bằng văn bản.",
    "Kết quả được trả trực tiếp tại Bộ phận tiếp nhận và trả kết quả hoặc qua dịch vụ bưu chính công ích.",
    "Lệ phí đăng ký được miễn đối với người thuộc gia đình có công với cách mạng và hộ nghèo.",
    "Người yêu cầu có trách nhiệm xuất trình bản chính giấy tờ tùy thân để đối chiếu khi nộp hồ sơ.",
    "Ủy ban nhân dân cấp xã thực hiện việc số hóa hồ sơ và lưu trữ kết quả giải quyết thủ tục hành chính.",
    "Văn bản này được lập thành hai bản có giá trị pháp lý như nhau, mỗi bên giữ một bản.",
    "Mọi thắc mắc xin liên hệ công chức tư pháp - hộ tịch trong giờ hành chính từ thứ Hai đến thứ Sáu.",
    "Công dân có thể theo dõi tình trạng giải quyết hồ sơ trên Cổng Dịch vụ công quốc gia bằng mã hồ sơ.",
]


def page_lines(rng: random.Random, font: ImageFont.FreeTypeFont, width: int) -> list[tuple[str, bool]]:
    """26-30 lines of an administrative form; (text, centred)."""
    name = " ".join(rng.choice(part.split()) for part in (SURNAMES, MIDDLE, GIVEN))
    commune = rng.choice(COMMUNES)
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2023, 2025)
    values = {
        "name": name,
        "date": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1950, 2005)}",
        "issued": f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2016, 2024)}",
        "commune": commune,
        "district": rng.choice(DISTRICTS),
        "province": rng.choice(PROVINCES),
        "pid": "0" + "".join(str(rng.randint(0, 9)) for _ in range(11)),
        "phone": "09" + "".join(str(rng.randint(0, 9)) for _ in range(8)),
        "relation": rng.choice(RELATIONS),
        "job": rng.choice(JOBS_VI),
    }
    head = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", rng.choice(TITLES)]
    lines = [(t, True) for t in head] + [(f"Kính gửi: Ủy ban nhân dân xã {commune}", False)]
    lines += [(f.format(**values), False) for f in rng.sample(FIELDS, 7)]
    tail = [f"{commune}, ngày {day} tháng {month} năm {year}", "NGƯỜI YÊU CẦU", "(Ký, ghi rõ họ tên)", name]
    target = rng.randint(26, 30) - len(tail)
    line = ""
    for word in " ".join(rng.sample(SENTENCES, len(SENTENCES))).split():  # one paragraph, wrapped to the width
        if line and font.getlength(f"{line} {word}") > width:
            lines.append((line, False))
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append((line, False))
    return [*lines[:target], *((t, True) for t in tail)]


def render(lines: list[tuple[str, bool]], dpi: int, pt: int, colour: bool) -> Image.Image:
    size = (round(210 / 25.4 * dpi), round(297 / 25.4 * dpi))
    img = Image.new("RGB" if colour else "L", size, (252, 250, 243) if colour else 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, round(pt / 72 * dpi))
    margin, y = round(25 / 25.4 * dpi), round(20 / 25.4 * dpi)
    for i, (text, centred) in enumerate(lines):
        x = (size[0] - font.getlength(text)) / 2 if centred else margin
        ink = ((170, 20, 20) if i < 3 else (25, 25, 70)) if colour else 0
        draw.text((x, y), text, fill=ink, font=font)
        y += round(pt * 1.6 / 72 * dpi)
    return img


def make_corpus(folder: Path, pages: int) -> dict[str, list[Path]]:
    """Page images per class with a .txt of ground truth next to each; same seed, same pages."""
    rng = random.Random(20250527)
    corpus: dict[str, list[Path]] = {}
    for cls, ext in CLASSES.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        corpus[cls] = []
        for n in range(1, pages + 1):
            dpi, pt = (200 if cls in ("bilevel", "sealed") else 300), rng.choice((12, 13, 14))
            font = ImageFont.truetype(FONT, round(pt / 72 * dpi))
            lines = page_lines(rng, font, round(160 / 25.4 * dpi))
            img = render(lines, dpi, pt, colour=cls == "colour")
            path = folder / cls / f"p{n:02d}.{ext}"
            if cls == "colour":
                img.save(path, dpi=(dpi, dpi))
            elif cls == "noisy":  # greyish paper, soft focus, then sensor noise, as from a cheap flatbed
                img = img.point(lambda v: 30 + v * 205 // 255).filter(ImageFilter.GaussianBlur(0.8))
                # Seeded near-gaussian noise, sigma 12: a mean of 4 uniforms (Image.effect_noise can't be seeded).
                u = [Image.frombytes("L", img.size, rng.randbytes(img.width * img.height)) for _ in range(4)]
                noise = ImageChops.add(ImageChops.add(u[0], u[1], 2), ImageChops.add(u[2], u[3], 2), 2)
                img = ImageChops.add(img, noise.point(lambda v: round(128 + (v - 127.5) * 12 / 37)), 1.0, -128)
                img.save(path, quality=90, dpi=(dpi, dpi))
            elif cls == "bilevel":  # hard threshold, no dithering, like a fax-mode document scanner
                img.convert("1", dither=Image.Dither.NONE).save(path, compression="group4", dpi=(dpi, dpi))
            elif cls == "turned":  # fed sideways or upside down
                img.rotate(rng.choice((90, 180, 270)), expand=True).save(path, dpi=(dpi, dpi))
            elif cls == "skewed":  # skewed on the glass by 2-7 degrees either way
                angle = rng.uniform(2, 7) * rng.choice((-1, 1))
                img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255).save(path, dpi=(dpi, dpi))
            elif cls == "sealed":  # a decision with its red seal and signature, scanned in black and white
                sealed(img, len(lines), dpi, pt, rng).convert("1", dither=Image.Dither.NONE).save(
                    path, compression="group4", dpi=(dpi, dpi)
                )
            else:
                worn(cls, img, rng, path)
            text = "\n".join(t for t, _ in lines)
            path.with_suffix(".txt").write_text(unicodedata.normalize("NFC", text) + "\n", encoding="utf-8")
            corpus[cls].append(path)
    return corpus


def worn(cls: str, img: Image.Image, rng: random.Random, path: Path) -> None:
    """A 300-dpi page as a worn copy (issue 16), saved to ``path``: ``faded``, grey text 60-150 on
    paper 170-235 (20 levels apart at least), blurred, low toner, light falling off, JPEG quality
    30-50; ``dark``, dark ink on yellowed, blue or dark blue paper; ``photo``, a clear photo or
    screen capture of the letter, 576x960 pixels (about 70 dpi over A4), with no resolution."""
    if cls == "photo":
        photo = Image.new("L", (576, 960), 255)
        photo.paste(img.resize((579, 819), Image.Resampling.LANCZOS), (-2, 40))
        photo.save(path, quality=85)
        return
    paper: float | tuple[float, float, float]
    text: float | tuple[float, float, float]
    if cls == "faded":
        grey = rng.uniform(170, 235)
        paper, text = grey, rng.uniform(60, min(150, grey - 20))
    else:
        kinds = [
            (rng.uniform(205, 230), rng.uniform(185, 210), rng.uniform(120, 160)),  # yellowed
            (rng.uniform(120, 160), rng.uniform(160, 195), rng.uniform(200, 235)),  # blue
            (rng.uniform(90, 120), rng.uniform(110, 140), rng.uniform(150, 180)),  # dark blue card
        ]
        paper, text = rng.choice(kinds), (rng.uniform(10, 50), rng.uniform(10, 50), rng.uniform(30, 80))
    wear = {"blur": rng.uniform(0.5, 1.2), "toner": rng.uniform(0.4, 1.0), "shade": rng.uniform(0, 0.2)}
    quality = rng.randint(30, 50)
    page = faded(img, text=text, paper=paper, quality=quality, seed=rng.randrange(2**32), **wear)
    page.save(path, quality=quality, dpi=(300, 300))  # the same quality again: what faded() made, near enough


SEAL_TEXT = "ỦY BAN NHÂN DÂN XÃ HÒA BÌNH * HUYỆN THANH TRÌ *"


def sealed(img: Image.Image, count: int, dpi: int, pt: int, rng: random.Random) -> Image.Image:
    """The page with a red round seal over the left of its signature block (its name across the
    ring, as seals are set) and a signature in blue ink, both printed over the text: what a
    scanner in black-and-white mode turns into black rings and strokes across the signer's name."""
    px = dpi / 25.4
    line = round(pt * 1.6 / 72 * dpi)
    name_y = round(20 * px) + (count - 1) * line  # the last line: the signer's name
    cx, cy = img.width / 2 - rng.uniform(12, 22) * px, name_y - rng.uniform(2, 8) * px
    layer = Image.new("RGB", img.size, "white")
    draw = ImageDraw.Draw(layer)
    red = (rng.randint(180, 220), rng.randint(20, 50), rng.randint(30, 60))
    for radius, width in ((18 * px, round(0.7 * px)), (12.5 * px, round(0.4 * px))):
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], outline=red, width=width)
    star = [
        (cx + r * px * math.sin(a * math.pi / 5), cy - r * px * math.cos(a * math.pi / 5))
        for a, r in zip(range(10), [5, 2] * 5, strict=True)
    ]
    draw.polygon(star, fill=red)
    font = ImageFont.truetype(FONT, round(3.2 * px))
    for n, char in enumerate(SEAL_TEXT):  # around the ring, each letter turned to face out
        angle = 2 * math.pi * n / len(SEAL_TEXT) - math.pi / 2
        glyph = Image.new("L", (round(5 * px), round(5 * px)), 0)
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), char, fill=255, font=font, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
        at = (
            round(cx + 15.2 * px * math.cos(angle) - glyph.width / 2),
            round(cy + 15.2 * px * math.sin(angle) - glyph.height / 2),
        )
        layer.paste(Image.new("RGB", glyph.size, red), at, glyph)
    blue, x, y = (30, 40, rng.randint(120, 160)), img.width / 2 - 10 * px, name_y - 9 * px
    for _ in range(rng.randint(3, 5)):  # a signature: a few sweeping strokes
        points = [(x + rng.uniform(0, 40) * px, y + rng.uniform(0, 9) * px) for _ in range(4)]
        draw.line(points, fill=blue, width=round(0.5 * px), joint="curve")
    return ImageChops.multiply(img.convert("RGB"), layer)  # ink over ink: the darker shows


TITLE_BLOCK = [
    "BẢN VẼ MẶT BẰNG TỔNG THỂ",
    "Công trình: Trụ sở Ủy ban nhân dân xã Quảng Điền",
    "Chủ đầu tư: Ban quản lý dự án đầu tư xây dựng huyện",
    "Tỷ lệ 1:200 Bản vẽ số KT-01 Ngày 27/05/2025",
    "Thiết kế: Nguyễn Đức Thắng Kiểm tra: Phạm Thị Hồng",
]


def make_large(folder: Path, rng: random.Random) -> dict[str, list[Path]]:
    """An A3 spread of two A4 pages (JPEG), and an A0 drawing at 300 dpi with a title block: in
    grey (PNG), and in colour (LZW TIFF: blue lines, a red stamp), as a large-format scanner gives it."""
    for name in ("spread", "a0", "a0-colour"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    font = ImageFont.truetype(FONT, round(13 / 72 * 300))
    halves = [page_lines(rng, font, round(160 / 25.4 * 300)) for _ in range(2)]
    left, right = (render(lines, 300, 13, colour=False) for lines in halves)
    spread = Image.new("L", (left.width * 2, left.height), 255)
    spread.paste(left, (0, 0))
    spread.paste(right, (left.width, 0))
    path = folder / "spread" / "a3.jpg"
    spread.save(path, quality=90, dpi=(300, 300))
    path.with_suffix(".txt").write_text("\n".join(t for lines in halves for t, _ in lines) + "\n", encoding="utf-8")

    width, height = round(841 / 25.4 * 300), round(1189 / 25.4 * 300)
    drawing = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(drawing)
    for _ in range(120):  # walls and grid lines: ink that is not text
        x, y = rng.randrange(400, width - 400), rng.randrange(400, height - 2000)
        if rng.random() < 0.5:
            draw.line([(x, y), (min(width - 400, x + rng.randrange(300, 3000)), y)], fill=0, width=6)
        else:
            draw.line([(x, y), (x, min(height - 2000, y + rng.randrange(300, 3000)))], fill=0, width=6)
    draw.rectangle([200, 200, width - 200, height - 200], outline=0, width=12)
    box = (width - 3200, height - 1500, width - 300, height - 300)
    draw.rectangle(box, outline=0, width=8)
    title_font = ImageFont.truetype(FONT, round(14 / 72 * 300))
    for n, text in enumerate(TITLE_BLOCK):
        draw.text((box[0] + 80, box[1] + 80 + n * 210), text, font=title_font, fill=0)
    path = folder / "a0" / "a0.png"
    drawing.save(path, dpi=(300, 300))
    path.with_suffix(".txt").write_text("\n".join(TITLE_BLOCK) + "\n", encoding="utf-8")
    coloured = Image.merge("RGB", (drawing, drawing, drawing.point(lambda v: min(255, v + 60))))
    ImageDraw.Draw(coloured).ellipse([3000, 3000, 3600, 3600], outline=(200, 0, 0), width=10)
    tiff = folder / "a0-colour" / "a0.tif"
    coloured.save(tiff, dpi=(300, 300), compression="tiff_lzw")
    tiff.with_suffix(".txt").write_text("\n".join(TITLE_BLOCK) + "\n", encoding="utf-8")
    return {"spread": [folder / "spread" / "a3.jpg"], "a0": [path], "a0-colour": [tiff]}


def run_one(tool: str, dest: Path, inputs: list[Path]) -> None:
    """Child-process mode: run one tool once and print its wall time and outputs as JSON."""
    env = dict(os.environ)  # TESSDATA_PREFIX comes from measure()
    out_pdf, outputs = dest / "out.pdf", [dest / "out.pdf"]
    if tool.startswith("sohoa"):
        from digitize import Source, digitize  # imported before the clock starts, as in a running service

        quality = 75 if tool == "sohoa-compact" else None
        started = time.monotonic()
        sources = [Source(p, p.name) for p in inputs]
        digitize(sources, out_pdf, title=dest.parent.name, tessdata=MODELS, jobs=JOBS, jpeg_quality=quality)
    elif tool == "ocrmypdf":
        started = time.monotonic()
        cmd = [OCRMYPDF, "-l", "vie", "--rotate-pages", "--deskew", "--output-type", "pdfa", "-j", str(JOBS)]
        cmd += [str(inputs[0]), str(out_pdf)]
        subprocess.run(cmd, env=env, check=True, stderr=subprocess.PIPE, text=True)
    else:  # one single-threaded Tesseract per core, the way sohoa schedules pages
        env["OMP_THREAD_LIMIT"] = "1"

        def one(img: Path) -> None:
            cmd = ["tesseract", str(img), str(dest / img.stem), "-l", "vie", "--oem", "1", "--psm", "3", "pdf"]
            subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)

        started = time.monotonic()
        with ThreadPoolExecutor(JOBS) as pool:
            list(pool.map(one, inputs))
        outputs = [dest / f"{p.stem}.pdf" for p in inputs]
    seconds = time.monotonic() - started
    if missing := [p.name for p in outputs if not p.is_file()]:
        sys.exit(f"{tool} wrote no {', '.join(missing)}")
    print(json.dumps({"seconds": seconds, "outputs": [str(p) for p in outputs]}))


def cli_tessdata(folder: Path) -> Path:
    """The models of ocr-models plus the system's configs/ and pdf.ttf, which the CLIs' pdf/hocr output needs."""
    env = {k: v for k, v in os.environ.items() if k != "TESSDATA_PREFIX"}
    listing = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, env=env).stdout
    system = Path(listing.split('"')[1])  # 'List of available languages in "/usr/share/.../tessdata/"'
    folder.mkdir(parents=True, exist_ok=True)
    for src in [*MODELS.glob("*.traineddata"), system / "configs", system / "pdf.ttf"]:
        (folder / src.name).unlink(missing_ok=True)
        (folder / src.name).symlink_to(src)
    return folder


def tree_rss(root: int) -> int:
    """Summed RSS of a process and its descendants now (getrusage only knows the largest single one)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return total


@dataclass
class Run:
    error: str  # empty when the tool succeeded
    seconds: float = 0.0
    outputs: tuple[Path, ...] = ()
    max_rss: int = 0  # bytes, largest single process of the tree (/usr/bin/time %M)
    tree_peak: int = 0  # bytes, peak of the summed tree, sampled every 0.2 s


def measure(tool: str, dest: Path, inputs: Sequence[Path], timeout: float, tessdata: Path) -> Run:
    """Run a tool in a fresh child so its rusage and memory are its own."""
    dest.mkdir(parents=True, exist_ok=True)
    # /usr/bin/time, not our own wait4: a child's ru_maxrss starts at its parent's peak RSS (kept through
    # fork/exec), and this process has held whole page images; time's own children start small.
    cmd = ["/usr/bin/time", "-f", "%M", "-o", str(dest / "maxrss.kb"), sys.executable, str(Path(__file__).resolve())]
    cmd += ["--one", tool, "--dest", str(dest), *map(str, inputs)]
    with (dest / "child.json").open("w") as out, (dest / "child.err").open("w") as err:
        env = {**os.environ, "TESSDATA_PREFIX": str(tessdata)}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))  # our own session only
    killer.start()
    proc.wait()
    killer.cancel()
    stop.set()
    sampler.join()
    max_rss = 0
    with contextlib.suppress(OSError, ValueError, IndexError):  # the last line; a failure note may precede it
        max_rss = int((dest / "maxrss.kb").read_text().split()[-1]) * 1024
    if proc.returncode != 0:
        lines = [ln for ln in (dest / "child.err").read_text(errors="replace").splitlines() if ln.strip()]
        why = "timed out" if proc.returncode == -signal.SIGKILL else (lines[-1] if lines else f"exit {proc.returncode}")
        return Run(why[:150], max_rss=max_rss, tree_peak=peak[0])
    info = json.loads((dest / "child.json").read_text())
    outputs = tuple(Path(p) for p in info["outputs"])
    return Run("", info["seconds"], outputs, max_rss, peak[0])


def pdf_pages_text(pdfs: Sequence[Path]) -> list[str]:
    texts: list[str] = []
    for pdf in pdfs:
        out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True).stdout
        texts += out.split("\f")[:-1]  # pdftotext ends every page with a form feed
    return texts


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edit distance (Myers/Hyyrö bit-vector form: the plain DP is too slow in Python for whole pages)."""
    if not a or not b:
        return len(a) or len(b)
    peq: dict[str, int] = {}
    for i, c in enumerate(a):
        peq[c] = peq.get(c, 0) | (1 << i)
    mask, last = (1 << len(a)) - 1, 1 << (len(a) - 1)
    pv, mv, score = mask, 0, len(a)
    for c in b:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        score += 1 if ph & last else -1 if mh & last else 0
        ph = (ph << 1) | 1  # the first row grows by one per column: global, not substring, distance
        mh <<= 1
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv & mask
    return score


def error_rates(hyp: list[str], truth: list[str]) -> tuple[float, float]:
    """CER and WER over pages, after NFC and whitespace normalisation."""
    if len(hyp) != len(truth):  # page counts differ: compare the whole documents instead
        hyp, truth = ["\n".join(hyp)], ["\n".join(truth)]

    def nfc(s: str) -> str:
        return " ".join(unicodedata.normalize("NFC", s).split())

    norm = [(nfc(h), nfc(t)) for h, t in zip(hyp, truth, strict=True)]
    chars = sum(levenshtein(t, h) for h, t in norm) / max(1, sum(len(t) for _, t in norm))
    words = sum(levenshtein(t.split(), h.split()) for h, t in norm) / max(1, sum(len(t.split()) for _, t in norm))
    return chars, words


def ocr_engine_version() -> str:
    from digitize import ocr

    return ocr.version()


def version(cmd: list[str]) -> str:
    with contextlib.suppress(OSError):
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    return "not installed"


ROW = "{:<16} {:<13} {:>5} {:>9} {:>6} {:>6} {:>8} {:>9} {:>8}"
HEADER = ROW.format("class/file", "tool", "pages", "pages/min", "CER %", "WER %", "KB/page", "maxRSS MB", "tree MB")


def row(cls: str, tool: str, pages: int, run: Run, rates: tuple[float, float] | None) -> str:
    ppm = pages / run.seconds * 60 if run.seconds else 0.0
    size = sum(p.stat().st_size for p in run.outputs) / max(1, pages) / 1024
    cer, wer = (f"{r * 100:.2f}" for r in rates) if rates else ("-", "-")
    mem = (f"{b / 2**20:.0f}" for b in (run.max_rss, run.tree_peak))
    return ROW.format(cls, tool, pages, f"{ppm:.2f}", cer, wer, f"{size:.1f}", *mem)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=4, help="pages per class (default 4)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="work folder (default bench/out)")
    ap.add_argument(
        "--corpus",
        type=Path,
        nargs="?",
        const=SCANS,
        metavar="DIR",
        help="also run sohoa and OCRmyPDF on the PDFs in DIR (DIR left out: tests/resources/scans)",
    )
    ap.add_argument("--large", action="store_true", help="also an A3 spread and an A0 drawing (slow for the peers)")
    ap.add_argument("--classes", help="only these classes, comma-separated (every page is still made: same pages)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed per tool run (default 600)")
    ap.add_argument("--one", choices=TOOLS, help=argparse.SUPPRESS)  # child mode, used by measure()
    ap.add_argument("--dest", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("inputs", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.corpus and not args.corpus.is_dir():
        ap.error(f"--corpus {args.corpus}: no such folder (give a folder of PDF scans)")
    if args.one:
        try:
            return run_one(args.one, args.dest, args.inputs)
        except subprocess.CalledProcessError as e:  # its own stderr first, then one line for the table
            sys.stderr.write(e.stderr or "")
            last = (e.stderr or "").strip().splitlines()[-1:] or [""]
            sys.exit(f"{Path(e.cmd[0]).name} exit {e.returncode}: {last[0]}")

    import img2pdf  # OCRmyPDF's own dependency; embeds JPEG/PNG/G4 without re-encoding

    print("command:  ", shlex.join([sys.executable, *sys.argv]))
    print("tesseract:", version(["tesseract", "--version"]), "| sohoa's engine (tesserocr):", ocr_engine_version())
    print("OCRmyPDF: ", version([OCRMYPDF, "--version"]), "| ghostscript", version(["gs", "--version"]))
    print("CPUs:     ", os.cpu_count(), "| jobs per tool:", JOBS)
    print("date:     ", datetime.datetime.now().astimezone().isoformat(timespec="seconds"))
    out: Path = args.out.resolve()
    shutil.rmtree(out / "runs", ignore_errors=True)  # only results of this run in the table
    tessdata = cli_tessdata(out / "tessdata")
    print("tessdata: ", MODELS, f"(for the CLIs: {tessdata}, the same models plus configs/ and pdf.ttf)")
    corpus = make_corpus(out / "corpus", args.pages)
    print(f"\ncorpus: {args.pages} A4 pages per class in {out / 'corpus'}", end="")
    if args.large:
        corpus |= make_large(out / "corpus", random.Random(20250528))
        print(
            "; an A3 two-page spread (JPEG) and an A0 drawing with a title block (300 dpi grey PNG, colour TIFF)",
            end="",
        )
    print("\n")
    print(HEADER)
    ppm: dict[tuple[str, str], float] = {}
    if args.classes:
        corpus = {cls: images for cls, images in corpus.items() if cls in args.classes.split(",")}
    for cls, images in corpus.items():
        truth = [p.with_suffix(".txt").read_text(encoding="utf-8") for p in images]
        pdf_in = out / "runs" / cls / "input.pdf"
        pdf_in.parent.mkdir(parents=True, exist_ok=True)
        pdf_in.write_bytes(img2pdf.convert([str(p) for p in images]))
        for tool in TOOLS:
            inputs = [pdf_in] if tool == "ocrmypdf" else images
            run = measure(tool, out / "runs" / cls / tool, inputs, args.timeout, tessdata)
            if run.error:
                print(f"{cls:<16} {tool:<13} FAILED: {run.error}")
                continue
            print(row(cls, tool, len(images), run, error_rates(pdf_pages_text(run.outputs), truth)), flush=True)
            ppm[cls, tool] = len(images) / run.seconds * 60
    print("\nthroughput ratios (pages/min):")
    for cls in corpus:
        pairs = [(o, ppm[cls, "sohoa"] / ppm[cls, o]) for o in PEERS if (cls, "sohoa") in ppm and (cls, o) in ppm]
        print(f"  {cls:<10}", ", ".join(f"sohoa/{o} = {r:.2f}" for o, r in pairs) or "n/a (a tool failed)")
    if args.corpus:
        run_corpus(args.corpus, out / "runs" / "corpus", args.timeout, tessdata)


def run_corpus(folder: Path, work: Path, timeout: float, tessdata: Path) -> None:
    """Real scans without ground truth (but linn.txt): speed, size and success only; bare Tesseract reads no PDF."""
    print(f"\ncorpus {folder} (sohoa and OCRmyPDF; CER/WER only where a .txt sits next to the PDF)\n")
    print(HEADER)
    skipped: list[str] = []
    for pdf in sorted(folder.glob("*.pdf")):
        runs = {tool: measure(tool, work / pdf.stem / tool, [pdf], timeout, tessdata) for tool in ("sohoa", "ocrmypdf")}
        failed = [f"{tool}: {run.error}" for tool, run in runs.items() if run.error]
        if failed:
            skipped.append(f"  {pdf.name}: " + "; ".join(failed))
            continue
        truth = pdf.with_suffix(".txt")
        for tool, run in runs.items():
            texts = pdf_pages_text(run.outputs)
            rates = error_rates(["\n".join(texts)], [truth.read_text(encoding="utf-8")]) if truth.is_file() else None
            print(row(pdf.name, tool, len(texts), run, rates), flush=True)
    print("\nskipped (a tool failed):" if skipped else "\nno file skipped", *skipped, sep="\n")


if __name__ == "__main__":
    main()

"""Interface to Tesseract: the only module that talks to it.

Tesseract runs through its C++ API (tesserocr), one engine per worker thread, kept for
the life of the thread: loading a model for every page costs more than a process pool
saves. The engine is single-threaded; parallelism comes from one page per core.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # read when the engine starts

import numpy as np
import tesserocr
from PIL import Image, ImageFilter

from digitize.errors import MissingDependency, OcrFailed

TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"


@dataclass(frozen=True)
class Word:
    text: str  # NFC
    left: int
    top: int
    width: int
    height: int
    conf: float


@dataclass(frozen=True)
class Line:
    left: int
    top: int
    width: int
    height: int
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


_engines = threading.local()


def _engine(lang: str, tessdata: Path, psm: int) -> tesserocr.PyTessBaseAPI:
    """This thread's engine for ``lang``, started on first use."""
    cache: dict[tuple[str, str, int], tesserocr.PyTessBaseAPI] = _engines.__dict__.setdefault("cache", {})
    key = (lang, str(tessdata), psm)
    if key not in cache:
        for name in lang.split("+"):
            if not (tessdata / f"{name}.traineddata").is_file():
                raise MissingDependency(
                    f"Thiếu mô hình OCR {name}.traineddata trong {tessdata}.",
                    f"OCR model {name}.traineddata is missing from {tessdata}.",
                )
        oem = tesserocr.OEM.DEFAULT if lang == "osd" else tesserocr.OEM.LSTM_ONLY
        cache[key] = tesserocr.PyTessBaseAPI(path=f"{tessdata}/", lang=lang, oem=oem, psm=psm)
    return cache[key]


def version() -> str:
    return tesserocr.tesseract_version().split()[1]


@contextlib.contextmanager
def opened(image: Path | Image.Image) -> Iterator[Image.Image]:
    """A path opened (and closed after), or an image already in memory as it is."""
    if isinstance(image, Path):
        with Image.open(image) as img:
            yield img
    else:
        yield image


_BYTES_PER_PIXEL = {"1": 0, "L": 1, "RGB": 3}  # 0: one bit a pixel, packed, 1 = white (as Pillow packs it)


def _set_image(api: tesserocr.PyTessBaseAPI, image: Path | Image.Image, dpi: float | None = None) -> None:
    """The page for the engine, with ``dpi`` as its resolution (else what the image says; else
    the engine estimates)."""
    if isinstance(image, Path):
        api.SetImageFile(str(image))
    else:
        # A turned, straightened or cropped copy never touches the disk. Its raw pixels, not
        # tesserocr's SetImage: that encodes a BMP (a PNG for an image still tied to its file) and
        # the engine decodes it again, 50 ms and more for a 300-dpi page.
        if image.mode not in _BYTES_PER_PIXEL:
            image = image.convert("RGB")
        bpp = _BYTES_PER_PIXEL[image.mode]
        line = (image.width + 7) // 8 if bpp == 0 else image.width * bpp
        api.SetImageBytes(image.tobytes(), image.width, image.height, bpp, line)
        dpi = dpi or image.info.get("dpi", (0, 0))[1]
    if dpi:
        api.SetSourceResolution(round(dpi))


SMOOTH_DPI = 250  # from this resolution on, grey and colour pages are smoothed a little before reading


def _smoothed(image: Path | Image.Image, dpi: float | None) -> Path | Image.Image:
    """A grey copy of a grey or colour scan of 250 dpi or more, each pixel averaged a little with its
    neighbours: sensor noise and JPEG ringing no longer break tone marks apart when the engine
    binarizes the page. On the digitize bench's 12-page classes CER fell from 0.05 % to 0.01 %
    (noisy scans) and from 0.10 % to 0.02 % (clean colour). Bilevel scans have nothing to smooth;
    lower resolutions would lose strokes. ``dpi``: the scan's, else what its file says."""
    with opened(image) as img:
        if dpi is None:
            dpi = min(img.info.get("dpi", (0, 0)))
        if img.mode == "1" or dpi < SMOOTH_DPI:
            return image
        return img.convert("L").filter(ImageFilter.BoxBlur(0.5))  # keeps the image's info (dpi)


# Under 150 dpi the engine misreads small text (a letter photographed at 70 dpi: CER 2-5 %); the
# page is enlarged to 200 dpi first (0.4-0.5 %; enlarged to 300 or 400 dpi, no better and slower).
ENLARGE_BELOW_DPI = 150
ENLARGE_TO_DPI = 200
ENLARGE_FROM_DPI = 50  # what a file says below this is no resolution (G4 TIFFs written without one say 1)


def _enlarged(image: Path | Image.Image, dpi: float | None) -> tuple[Image.Image, float] | None:
    """A copy enlarged for the engine, with how many times, when the scan is too coarse for it."""
    with opened(image) as img:
        if dpi is None:
            dpi = min(img.info.get("dpi", (0, 0)))
        if not ENLARGE_FROM_DPI <= dpi < ENLARGE_BELOW_DPI:
            return None
        scale = ENLARGE_TO_DPI / dpi
        grey = img if img.mode in ("L", "RGB") else img.convert("L")
        return grey.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC), scale


def _shrunk(lines: list[Line], scale: float) -> list[Line]:
    """Boxes read on a copy ``scale`` times larger, back on the scan."""

    def box(item: Line | Word) -> dict[str, int]:
        return {k: round(getattr(item, k) / scale) for k in ("left", "top", "width", "height")}

    return [Line(words=tuple(Word(w.text, conf=w.conf, **box(w)) for w in line.words), **box(line)) for line in lines]


def recognize(
    image: Path | Image.Image,
    *,
    languages: str,
    tessdata: Path,
    label: str,
    dpi: float | None = None,
    enlarge: bool = True,
) -> list[Line]:
    """OCR one page image; returns its lines of words in reading order, pixel coordinates.
    ``dpi``: the scan's resolution, when known better than its file says (a page taken out of a
    PDF carries none in its own bytes). ``enlarge``: a scan under 150 dpi is enlarged first."""
    api = _engine(languages, tessdata, tesserocr.PSM.AUTO)
    enlarged = _enlarged(image, dpi) if enlarge else None
    try:
        if enlarged is None:
            _set_image(api, _smoothed(image, dpi), dpi)
        else:
            _set_image(api, enlarged[0], ENLARGE_TO_DPI)
        tsv = api.GetTSVText(0)
        with opened(image if enlarged is None else enlarged[0]) as img:  # a file: its header only
            pictures = _pictures(api, img.width * img.height)
    except RuntimeError as e:
        raise OcrFailed(
            f"Tesseract không đọc được {label}: {e}", f"Tesseract failed on {label}: {e}", field=label
        ) from e
    finally:
        api.Clear()  # drop the page image now, not when the next page comes
    lines = parse_tsv(TSV_HEADER + tsv)
    if pictures:
        lines = _read_pictures(image if enlarged is None else enlarged[0], pictures, lines, languages, tessdata)
    return lines if enlarged is None else _shrunk(lines, enlarged[1])


_PICTURE_BLOCKS = {tesserocr.PT.FLOWING_IMAGE, tesserocr.PT.HEADING_IMAGE, tesserocr.PT.PULLOUT_IMAGE}
PICTURE_AREA = 0.08  # a block taken for a picture that is smaller than this share of the page is read again


def _pictures(api: tesserocr.PyTessBaseAPI, area: int) -> list[tuple[int, int, int, int]]:
    """Small blocks the layout analysis took for pictures, whose words it left out: a red seal
    over a signer's title and name makes one (as a drawing or a photograph does, too large to
    be read again)."""
    found = []
    it = api.GetIterator()
    level = tesserocr.RIL.BLOCK
    while it is not None:
        box = it.BoundingBox(level)
        if it.BlockType() in _PICTURE_BLOCKS and box and (box[2] - box[0]) * (box[3] - box[1]) < PICTURE_AREA * area:
            found.append(box)
        if not it.Next(level):
            break
    return found


def _ink_only(crop: Image.Image) -> Image.Image:
    """The crop in black and white at a level between its darkest ink and the next: a seal's red
    (mid grey once grey) or a blue signature is dropped, the black print over it kept."""
    grey = np.asarray(crop.convert("L"), dtype=np.uint8)
    paper = np.percentile(grey, 90)
    ink = grey[grey < paper - 40]
    if ink.size < 50:
        return crop.convert("L")
    counts = np.bincount(ink, minlength=256).astype(float)  # Otsu's level over the ink alone
    levels = np.arange(256)
    weight = np.cumsum(counts)
    mean = np.cumsum(counts * levels)
    between = (mean[-1] * weight - mean * weight[-1]) ** 2 / np.maximum(weight * (weight[-1] - weight), 1)
    dark = float(np.percentile(ink, 2))
    level = min(int(np.argmax(between)), round(dark + 0.25 * (paper - dark)))  # print is black, a seal is not
    return Image.fromarray(np.where(grey <= level, 0, 255).astype(np.uint8))


# What is kept of a second reading: a seal's ring makes guesses, short and full of marks; a word
# of three letters or more is kept from a lower confidence (the print under a seal reads worse).
PICTURE_WORD_CONF = 60.0
PICTURE_LETTERS_CONF = 40.0


def _kept_from_picture(word: Word) -> bool:
    if len(word.text) >= 3 and word.text.isalpha():
        return word.conf >= PICTURE_LETTERS_CONF
    return word.conf >= PICTURE_WORD_CONF and any(c.isalnum() for c in word.text)


def _around(box: tuple[int, int, int, int], lines: list[Line], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A picture block grown a little (more across), then to the whole of every word its edge cuts."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) // 4, (y1 - y0) // 10  # a seal covers a third of the line it lies on
    x0, y0, x1, y1 = max(0, x0 - dx), max(0, y0 - dy), min(size[0], x1 + dx), min(size[1], y1 + dy)
    for w in (w for line in lines for w in line.words):
        if w.left < x1 and w.left + w.width > x0 and w.top < y1 and w.top + w.height > y0:
            x0, y0 = min(x0, w.left), min(y0, w.top)
            x1, y1 = max(x1, w.left + w.width), max(y1, w.top + w.height)
    return x0, y0, x1, y1


def _inside(word: Word, box: tuple[int, int, int, int]) -> bool:
    x, y = word.left + word.width / 2, word.top + word.height / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _read_pictures(
    image: Path | Image.Image, pictures: list[tuple[int, int, int, int]], lines: list[Line], languages: str,
    tessdata: Path,
) -> list[Line]:  # fmt: skip
    """``lines`` with the words around each picture block read again, as sparse text on an
    ink-only copy: they replace what the first reading made of that area."""
    api = _engine(languages, tessdata, tesserocr.PSM.SPARSE_TEXT)
    with opened(image) as img:
        for picture in pictures:
            box = _around(picture, lines, img.size)
            x0, y0 = box[:2]
            try:
                _set_image(api, _ink_only(img.crop(box)), img.info.get("dpi", (0, 0))[1] or None)
                read = parse_tsv(TSV_HEADER + api.GetTSVText(0))
            except RuntimeError:
                continue
            finally:
                api.Clear()
            kept = [(li, tuple(w for w in li.words if not _inside(w, box))) for li in lines]
            lines = [Line(li.left, li.top, li.width, li.height, words) for li, words in kept if words]
            for line in read:
                words = tuple(
                    Word(w.text, w.left + x0, w.top + y0, w.width, w.height, w.conf)
                    for w in line.words
                    if _kept_from_picture(w)
                )
                if words:
                    lines.append(Line(line.left + x0, line.top + y0, line.width, line.height, words))
    return lines


MIN_WORD_CONF = 50.0  # what the engine makes of dust, edge shadows or a stamp's rim is read below this


def has_words(lines: list[Line]) -> bool:
    """OCR found text: a word of two or more letters or digits, read with some confidence."""
    return any(w.conf >= MIN_WORD_CONF and sum(c.isalnum() for c in w.text) >= 2 for line in lines for w in line.words)


@dataclass(frozen=True)
class Osd:
    rotate: int  # clockwise degrees that make the page upright, as PDF's /Rotate counts
    confidence: float


def detect_orientation(image: Path | Image.Image, *, tessdata: Path) -> Osd | None:
    """Tesseract's orientation detection; None when the page has too little text to tell."""
    api = _engine("osd", tessdata, tesserocr.PSM.OSD_ONLY)
    try:
        _set_image(api, image)
        found = api.DetectOrientationScript()
    except RuntimeError:
        return None
    finally:
        api.Clear()
    if not found:
        return None  # too few characters to tell
    # Tesseract gives the page's orientation counter-clockwise; the turn that undoes it is clockwise.
    return Osd((360 - int(found["orient_deg"])) % 360, float(found["orient_conf"]))


def parse_tsv(tsv: str) -> list[Line]:
    """Group Tesseract's TSV rows (level 4 = line, 5 = word) into lines of words."""
    lines: list[Line] = []
    current: dict[str, int] | None = None
    words: list[Word] = []

    def flush() -> None:
        if current is not None and words:
            lines.append(Line(words=tuple(words), **current))

    reader = csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in reader:
        level = int(row["level"])
        box = {k: int(row[k]) for k in ("left", "top", "width", "height")}
        if level == 4:
            flush()
            current, words = box, []
        elif level == 5:
            text = unicodedata.normalize("NFC", (row.get("text") or "").strip())
            if text and current is not None:
                words.append(Word(text=text, conf=float(row["conf"]), **box))
    flush()
    return lines

"""A file's dossier code, as the station finds it: from a QR code or barcode separator sheet on
its first page (read by the batch route's reader, ``digitize.separators``), else from its name,
else from its folder (a ``ma-ho-so.txt`` there or above it, or the watched folder's default)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from digitize.separators import read_code

FOLDER_FILE = "ma-ho-so.txt"  # a folder's default dossier code, one line
DEFAULT_DPI = 300.0
SOURCE_VI = {"sheet": "tờ phân cách", "name": "tên tệp", "folder": "mã mặc định của thư mục"}
log = logging.getLogger("sohoa.station")


@dataclass(frozen=True)
class Found:
    code: str
    source: Literal["sheet", "name", "folder"]

    @property
    def said(self) -> str:
        """Where the code came from, in Vietnamese (for the notes and the log)."""
        return SOURCE_VI[self.source]


def _first_pdf_image(path: Path) -> tuple[Image.Image, float] | None:
    """The largest image of a PDF's first page (a scanner's PDF page is one image), with its
    resolution from the page's width."""
    import pikepdf

    with pikepdf.open(path) as pdf:
        page = pdf.pages[0]
        found = page.get_images() if hasattr(page, "get_images") else page.images  # get_images: pikepdf 10.18
        images = [pikepdf.PdfImage(x) for x in found.values() if isinstance(x, pikepdf.Stream)]
        if not images:
            return None
        image = max(images, key=lambda i: i.width * i.height)
        width_in = float(page.mediabox[2] - page.mediabox[0]) / 72
        return image.as_pil_image(), (image.width / width_in if width_in > 0 else DEFAULT_DPI)


def first_page(path: Path) -> tuple[Image.Image, float] | None:
    """The first page's image and resolution, or None when the file has none to read."""
    if path.suffix.lower() == ".pdf":
        return _first_pdf_image(path)
    with Image.open(path) as image:  # closed here: on Windows an open file could not be moved to done/
        image.seek(0)
        dpi = image.info.get("dpi", (DEFAULT_DPI, DEFAULT_DPI))[0] or DEFAULT_DPI
        return image.copy(), float(dpi)


def from_sheet(path: Path, code_pattern: str) -> str | None:
    """The code of a separator sheet on the first page; a file that cannot be read here is left
    to the name and the folder (the server will say what is wrong with it)."""
    try:
        page = first_page(path)
        found = read_code(*page, code_pattern) if page is not None else None
    except Exception as e:  # any unreadable file: Pillow, pikepdf and zxing raise their own kinds
        log.info("%s: không đọc được trang đầu (%s)", path.name, e)
        return None
    return found[0] if found else None


def from_name(name: str, name_pattern: str | None, code_pattern: str) -> str | None:
    """The code in a file's name: ``name_pattern``'s first group (or its whole match), else any
    dossier code in the name."""
    stem = Path(name).stem
    if name_pattern:
        match = re.search(name_pattern, stem)
        code = (match.group(1) if match.groups() else match.group(0)) if match else None
        return code if code and re.fullmatch(code_pattern, code) else None
    match = re.search(code_pattern, stem)
    return match.group(0) if match else None


def from_folder(path: Path, root: Path, default: str | None) -> str | None:
    """The nearest ``ma-ho-so.txt`` from the file's folder up to the watched one, else ``default``."""
    folder = path.parent
    while True:
        note = folder / FOLDER_FILE
        if note.is_file():
            text = note.read_text(encoding="utf-8-sig").strip()
            if text:
                return text.splitlines()[0].strip()
        if folder == root or root not in folder.parents:
            return default
        folder = folder.parent


def find(path: Path, root: Path, *, code_pattern: str, name_pattern: str | None, default: str | None) -> Found | None:
    if code := from_sheet(path, code_pattern):
        return Found(code, "sheet")
    if code := from_name(path.name, name_pattern, code_pattern):
        return Found(code, "name")
    if code := from_folder(path, root, default):
        return Found(code, "folder")
    return None

"""Interface to the Tesseract executable: the only module that runs it."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from digitize.errors import MissingDependency, OcrFailed


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


def _env(tessdata: Path) -> dict[str, str]:
    # One thread per Tesseract: parallelism comes from running one page per core.
    return {**os.environ, "OMP_THREAD_LIMIT": "1", "TESSDATA_PREFIX": str(tessdata)}


def version() -> str:
    exe = shutil.which("tesseract")
    if exe is None:
        raise MissingDependency(
            "Chưa cài Tesseract (gói tesseract-ocr).", "Tesseract is not installed (tesseract-ocr)."
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].split()[-1]


def recognize(image: Path, *, languages: str, tessdata: Path, label: str) -> list[Line]:
    """OCR one page image; returns its lines of words in reading order, pixel coordinates."""
    for lang in languages.split("+"):
        if not (tessdata / f"{lang}.traineddata").is_file():
            raise MissingDependency(
                f"Thiếu mô hình OCR {lang}.traineddata trong {tessdata}.",
                f"OCR model {lang}.traineddata is missing from {tessdata}.",
            )
    # Config variables instead of the `tsv` config file, which lives outside our tessdata.
    options = ["--oem", "1", "--psm", "3", "-c", "tessedit_create_tsv=1", "-c", "tessedit_create_txt=0"]
    cmd = ["tesseract", str(image), "stdout", "-l", languages, *options]
    proc = subprocess.run(cmd, capture_output=True, env=_env(tessdata), check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise OcrFailed(
            f"Tesseract không đọc được {label}: {err[0]}",
            f"Tesseract failed on {label}: {err[0]}",
            field=label,
        )
    return parse_tsv(proc.stdout.decode("utf-8", errors="replace"))


@dataclass(frozen=True)
class Osd:
    rotate: int  # clockwise degrees that make the page upright, as PDF's /Rotate counts
    confidence: float


def detect_orientation(image: Path, *, tessdata: Path) -> Osd | None:
    """Tesseract's orientation detection; None when the page has too little text to tell."""
    cmd = ["tesseract", str(image), "stdout", "--psm", "0", "-l", "osd"]
    proc = subprocess.run(cmd, capture_output=True, env=_env(tessdata), check=False)
    out = proc.stdout.decode(errors="replace")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    try:
        return Osd(int(fields["Rotate"].strip()) % 360, float(fields["Orientation confidence"].strip()))
    except (KeyError, ValueError):
        return None  # "Too few characters to determine orientation" and the like


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

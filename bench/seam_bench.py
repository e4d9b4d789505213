"""Benchmark labels on a tile seam (issue 16, item 1): an A0 drawing is OCR'd in overlapping
tiles; a label swept across the seam of two tiles, at several letter sizes, is read by sohoa's
tiled OCR and by the engine on the whole sheet at once (what OCRmyPDF and bare tesseract do).
Prints, per letter size, how many positions each reads wrong, side by side."""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from digitize import largeformat, ocr  # noqa: E402

FONT = "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"
MODELS = ROOT / "ocr-models"
LABEL = "Sân trước"
SHEET = (3600, 1500)  # two tiles side by side; their cores meet at x = 1800, their overlap is 1600-2000


def sheet_with_label(size: int, x: int) -> Image.Image:
    sheet = Image.new("L", SHEET, 255)
    ImageDraw.Draw(sheet).text((x, 700), LABEL, font=ImageFont.truetype(FONT, size), fill=0)
    return sheet


def read(image: Image.Image) -> list[ocr.Line]:
    return ocr.recognize(image, languages="vie", tessdata=MODELS, label="bản vẽ", dpi=300)


def sweep(size: int, step: int, pool: ThreadPoolExecutor) -> dict[str, tuple[int, int, float]]:
    """Positions where the label crosses the tiles' overlap: (wrong, positions, seconds) per reader."""
    width = round(ImageFont.truetype(FONT, size).getlength(LABEL))
    xs = range(1600 - width, 2000 + 1, step)
    wrong = {"sohoa (tiles)": 0, "whole sheet": 0}
    seconds = dict.fromkeys(wrong, 0.0)
    for x in xs:
        sheet = sheet_with_label(size, x)
        for name in wrong:
            start = time.perf_counter()
            lines = largeformat.recognize_tiled(sheet, read, pool) if name.startswith("sohoa") else read(sheet)
            seconds[name] += time.perf_counter() - start
            wrong[name] += [line.text for line in lines] != [LABEL]
    return {name: (wrong[name], len(xs), seconds[name]) for name in wrong}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="90,150,200", help="letter sizes in pixels (300 dpi: 200 px is 17 mm)")
    parser.add_argument("--step", type=int, default=25, help="pixels between two positions of the label")
    args = parser.parse_args()
    print("| letter size | positions | sohoa (tiles): wrong | whole sheet (OCRmyPDF's way): wrong | seconds |")
    print("|---:|---:|---:|---:|---|")
    with ThreadPoolExecutor(2) as pool:
        for size in (int(s) for s in args.sizes.split(",")):
            result = sweep(size, args.step, pool)
            (tw, n, ts), (ww, _, ws) = result["sohoa (tiles)"], result["whole sheet"]
            print(f"| {size} px | {n} | {tw} | {ww} | {ts:.0f} / {ws:.0f} |", flush=True)


if __name__ == "__main__":
    main()

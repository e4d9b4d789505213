"""Benchmark rendering PDF pages: pdftoppm called directly against the same call through pdf2image.

Renders the pages ingest renders (the PDF pages that are not one scanned image taken out as it
is), each at the resolution ingest picks for it (``ingest._scan_dpi`` at 300 dpi), to a PNG in
a scratch folder, three ways in turn, in an order that rotates each round:
- ``direct``: the command line ingest ran before (``pdftoppm -r DPI -f N -l N -png -singlefile``);
- ``pdf2image``: ``pdf2image.convert_from_path`` with the same options (it also runs ``pdfinfo``
  for the page count and ``pdftoppm -v`` for the version before pdftoppm itself);
- ``sohoa``: ``digitize.programs.render_pdf_page``, what ingest calls now (with its PATH lookups).
Every way's PNG is checked to be the direct one's, pixel for pixel. Wall time per page (median
and minimum over the rounds), the children's CPU time (user + system), and the time of the two
processes pdf2image adds (``pdfinfo FILE`` and ``pdftoppm -v``, timed alone) are printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version as package_version
from pathlib import Path

import pikepdf
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pdf2image  # noqa: E402

from digitize import ingest, programs  # noqa: E402

# (file, page): the pages of the scan corpus that ingest renders rather than takes out.
PAGES = [
    ("aspect.pdf", 1),
    ("blank.pdf", 1),
    ("cmyk.pdf", 1),
    ("masks.pdf", 1),
    ("multipage.pdf", 4),
    ("multipage.pdf", 6),
    ("poster.pdf", 1),
]

Render = Callable[[Path, int, int, Path], Path]


def direct(pdf: Path, number: int, dpi: int, out: Path) -> Path:
    cmd = ["pdftoppm", "-r", str(dpi), "-f", str(number), "-l", str(number), "-png", "-singlefile", str(pdf), str(out)]
    subprocess.run(cmd, capture_output=True, check=True)
    return out.with_suffix(".png")


def via_pdf2image(pdf: Path, number: int, dpi: int, out: Path) -> Path:
    pdf2image.convert_from_path(
        pdf,
        dpi=dpi,
        output_folder=out.parent,
        first_page=number,
        last_page=number,
        fmt="png",
        single_file=True,
        output_file=out.name,
        paths_only=True,
    )
    return out.with_suffix(".png")


def via_sohoa(pdf: Path, number: int, dpi: int, out: Path) -> Path:
    return programs.render_pdf_page(pdf, number, dpi, out, label=pdf.name)


WAYS: dict[str, Render] = {"direct": direct, "pdf2image": via_pdf2image, "sohoa": via_sohoa}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def extra_processes(pdf: Path) -> float:
    """Wall time of what pdf2image runs before pdftoppm renders: pdfinfo, then pdftoppm -v."""
    started = time.perf_counter()
    subprocess.run(["pdfinfo", str(pdf)], capture_output=True, check=True)
    subprocess.run(["pdftoppm", "-v"], capture_output=True, check=True)
    return time.perf_counter() - started


def check_same_pixels(tmp: Path, names: list[str]) -> None:
    for reference in (tmp / f"{names[0]}-0").iterdir():
        for way in names[1:]:
            with Image.open(tmp / f"{way}-0" / reference.name) as a, Image.open(reference) as b:
                assert a.size == b.size and a.tobytes() == b.tobytes(), f"{way}: {reference.name} differs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True, help="folder holding the scan corpus's PDFs")
    ap.add_argument("--rounds", type=int, default=7, help="times every page is rendered each way (default 7)")
    ap.add_argument("--dpi", type=int, default=300, help="render_dpi, as the service's setting (default 300)")
    args = ap.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print("date:   ", dt.datetime.now().astimezone().isoformat(timespec="seconds"), "| CPUs:", os.cpu_count())
    print(
        f"python {platform.python_version()}, pdf2image {package_version('pdf2image')},",
        ", ".join(f"{p.name} {programs.version(p)}" for p in (programs.PDFTOPPM, programs.PDFINFO)),
    )

    pages = []
    for name, number in PAGES:
        with pikepdf.open(args.corpus / name) as pdf:
            pages.append((args.corpus / name, number, ingest._scan_dpi(pdf.pages[number - 1], args.dpi)))
    wall: dict[tuple[str, int, str], list[float]] = {}
    cpu = dict.fromkeys(WAYS, 0.0)
    names = list(WAYS)
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for way in order:
                folder = Path(tmp) / f"{way}-{round_}"  # one scratch folder per way and round, as per job
                folder.mkdir()
                for pdf, number, dpi in pages:
                    out = folder / f"{pdf.stem}-{number:05d}"
                    cpu_before, started = children_cpu(), time.perf_counter()
                    WAYS[way](pdf, number, dpi, out)
                    wall.setdefault((pdf.name, number, way), []).append(time.perf_counter() - started)
                    cpu[way] += children_cpu() - cpu_before
            if round_ == 0:
                check_same_pixels(Path(tmp), names)
            for folder in Path(tmp).iterdir():
                for path in folder.iterdir():
                    path.unlink()
                folder.rmdir()
            print(f"round {round_ + 1}/{args.rounds} done", flush=True)

    print(f"\n| page | dpi | pixels | {' | '.join(f'{w} median ms | {w} min ms' for w in names)} |")
    print(f"|---|---:|---:|{'---:|---:|' * len(names)}")
    totals = dict.fromkeys(names, 0.0)
    for pdf, number, dpi in pages:
        with pikepdf.open(pdf) as doc:
            box = doc.pages[number - 1].mediabox
            pixels = round(float(box[2] - box[0]) / 72 * dpi) * round(float(box[3] - box[1]) / 72 * dpi)
        cells = []
        for way in names:
            times = wall[(pdf.name, number, way)]
            totals[way] += statistics.median(times)
            cells.append(f"{statistics.median(times) * 1000:.0f} | {min(times) * 1000:.0f}")
        print(f"| {pdf.name} p{number} | {dpi} | {pixels / 1e6:.1f} M | {' | '.join(cells)} |")
    print("\n| way | sum of medians ms | sum of minimums ms | children's CPU s per round | CPU against direct |")
    print("|---|---:|---:|---:|---:|")
    for way in names:
        fastest = sum(min(wall[(pdf.name, number, way)]) for pdf, number, _dpi in pages)
        print(
            f"| {way} | {totals[way] * 1000:.0f} | {fastest * 1000:.0f} | {cpu[way] / args.rounds:.2f} |"
            f" {cpu[way] / cpu['direct']:.3f} |"
        )
    extra = statistics.median(extra_processes(pdf) for pdf, _number, _dpi in pages for _ in range(args.rounds))
    print(f"\npdf2image's extra processes per page (pdfinfo FILE, pdftoppm -v), median: {extra * 1000:.1f} ms")
    print("\nsame pixels every way: yes")


if __name__ == "__main__":
    main()

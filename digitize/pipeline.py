"""Compose the steps (ingest, OCR, page PDF, PDF/A) and own the parallelism: one page per core."""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from digitize import deskew, orientation, pdfa
from digitize.errors import DigitizeError
from digitize.ingest import Page, iter_pages


@dataclass(frozen=True)
class Source:
    path: Path
    label: str  # the file name shown in messages


@dataclass
class PageResult:
    source: str
    number: int  # page number in its source file
    text: str
    words: int
    confidence: float
    dpi: tuple[float, float]
    width: int
    height: int
    rotate: int = 0  # clockwise degrees the page is shown turned, to read upright
    skew: float = 0.0  # degrees the OCR input was straightened by
    notices: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Result:
    output: Path
    sha256: str
    size: int
    flavour: str
    pages: list[PageResult]
    seconds: float

    @property
    def notices(self) -> list[dict[str, str]]:
        return [n for p in self.pages for n in p.notices]


ProgressFn = Callable[[int, int | None], None]


def _process_page(page: Page, *, languages: str, tessdata: Path) -> tuple[PageResult, Path]:
    reading = orientation.read_upright(
        page.path, min(page.dpi), languages=languages, tessdata=tessdata, label=page.label
    )
    reading = deskew.straighten(
        page.path, reading, min(page.dpi), languages=languages, tessdata=tessdata, label=page.label
    )
    lines = reading.lines
    page_pdf = pdfa.write_page(page, lines, page.path.with_suffix(".pdf"), rotate=reading.rotate, skew=reading.skew)
    page.path.unlink()  # the image now lives in the page PDF
    words = [w for line in lines for w in line.words]
    result = PageResult(
        source=page.source,
        number=page.number,
        text="\n".join(line.text for line in lines),
        words=len(words),
        confidence=round(sum(w.conf for w in words) / len(words), 1) if words else 0.0,
        dpi=(round(page.dpi[0], 1), round(page.dpi[1], 1)),
        width=page.width,
        height=page.height,
        rotate=reading.rotate,
        skew=reading.skew,
        notices=page.notices,
    )
    return result, page_pdf


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def digitize(
    sources: Sequence[Source],
    output: Path,
    *,
    title: str,
    identifier: str = "",
    languages: str = "vie",
    tessdata: Path,
    jobs: int = 2,
    flavour: str = "2b",
    max_pixels: int = 250_000_000,
    render_dpi: int = 300,
    progress: ProgressFn | None = None,
    workdir: Path | None = None,
) -> Result:
    """Scans in, one searchable PDF/A out. Pages are read one at a time and OCR'd in parallel;
    at most a few page images are on disk or in memory at once."""
    if not sources:
        raise DigitizeError("Không có tệp nào để số hóa.", "No input files to digitize.")
    started = time.monotonic()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sohoa-", dir=workdir) as tmp:
        tmpdir = Path(tmp)
        futures: list[Future[tuple[PageResult, Path]]] = []
        finished = 0
        lock = threading.Lock()

        def page_done(_future: Future[tuple[PageResult, Path]]) -> None:
            nonlocal finished
            with lock:
                finished += 1
                count = finished
            if progress:
                progress(count, None)  # the total is known only once every file is read

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            try:
                for src in sources:
                    for page in iter_pages(src.path, src.label, tmpdir, max_pixels=max_pixels, render_dpi=render_dpi):
                        # Keep the queue short so ingest does not run far ahead of OCR.
                        while sum(not f.done() for f in futures) >= 2 * jobs:
                            next(f for f in futures if not f.done()).result()
                        future = pool.submit(_process_page, page, languages=languages, tessdata=tessdata)
                        future.add_done_callback(page_done)
                        futures.append(future)
                results = [f.result() for f in futures]
                if progress:
                    progress(len(results), len(results))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        pages = [r for r, _ in results]
        pdfa.assemble([p for _, p in results], output, pdfa.Metadata(title=title, identifier=identifier), flavour)
    return Result(
        output=output,
        sha256=sha256_file(output),
        size=output.stat().st_size,
        flavour=flavour,
        pages=pages,
        seconds=round(time.monotonic() - started, 2),
    )

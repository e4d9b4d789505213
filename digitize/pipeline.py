"""Compose the steps (ingest, OCR, page PDF, PDF/A) and own the parallelism: one page per core."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from checksums import sha256_file
from digitize import ink, largeformat, ocr, orientation, pdfa, rows, separators
from digitize import metadata as reader
from digitize.errors import CorruptInput, DigitizeError
from digitize.ingest import Page, iter_pages, save_page_image
from digitize.reading import Reading, read_page
from digitize.separators import Separator


@dataclass(frozen=True)
class Source:
    path: Path
    label: str  # the file name shown in messages


SpreadPolicy = Literal["auto", "never", "always"]
BlankPolicy = Literal["flag", "drop"]


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
    paper: str = ""  # A4, A3, … A0, as the scan measures
    part: str = ""  # "trái"/"phải" (left/right) for the halves of a split spread
    rotate: int = 0  # clockwise degrees the page is shown turned, to read upright
    skew: float = 0.0  # degrees the OCR input was straightened by
    tiles: int = 0  # OCR tiles of a sheet above A3
    blank: bool = False
    dropped: bool = False  # a blank page left out of the PDF
    notices: list[dict[str, str]] = field(default_factory=list)
    lines: list[ocr.Line] = field(default_factory=list, repr=False)  # words and boxes, as read
    separator: Separator | None = None  # this scan starts a new dossier or document

    @property
    def upright_size(self) -> tuple[int, int]:
        """Width and height as read (and as the boxes of its words are): a turned page's swapped."""
        return (self.height, self.width) if self.rotate in (90, 270) else (self.width, self.height)


@dataclass
class Result:
    output: Path
    sha256: str
    size: int
    flavour: str
    pages: list[PageResult]
    seconds: float
    metadata: dict[str, reader.Found | None] | None = None  # read from the page (digitize.metadata)

    @property
    def notices(self) -> list[dict[str, str]]:
        return [n for p in self.pages for n in p.notices]

    def metadata_json(self) -> dict[str, Any]:
        return reader.as_json(self.metadata or {})


ProgressFn = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Options:
    languages: str
    tessdata: Path
    spreads: SpreadPolicy = "auto"
    blanks: BlankPolicy = "flag"
    separators: str | None = None  # dossier-code pattern: look for separator sheets
    deskew_archive: bool = False  # straighten the stored image too, not only the OCR copy
    jpeg_quality: int | None = None  # the "compact" size profile: colour and grey pages as JPEG
    jobs: int = 2  # pages read at once
    max_pixels: int = 250_000_000
    render_dpi: int = 300
    idle_cpu: bool = False  # page and tile threads in the idle CPU class (a server's jobs)


def _notice(code: str, vi: str, en: str) -> dict[str, str]:
    return {"code": code, "vi": vi, "en": en}


def _views(page: Page, ink: np.ndarray, paper: str, spreads: SpreadPolicy) -> list[tuple[int, int, str]]:
    """(x0, width, part) of each output page the scan makes: one, or the halves of a spread.

    A page turned sideways is landscape-shaped and its vertical lines of text leave white
    columns: it is never taken for a spread (auto)."""
    shape = largeformat.is_spread_shape(page.width, page.height, page.dpi)
    if spreads != "never" and paper != "A0" and shape:
        gutter = None if orientation.looks_sideways(ink) else largeformat.find_gutter(ink)
        if gutter is None and spreads == "always":
            gutter = 0.5
        if gutter is not None:
            x = round(page.width * gutter)
            return [(0, x, "trái"), (x, page.width - x, "phải")]
    return [(0, page.width, "")]


def _read(
    image: Path | Image.Image,
    dpi: float,
    ink: np.ndarray,
    large: bool,
    opts: Options,
    label: str,
    tile_pool: ThreadPoolExecutor,
) -> Reading:
    # A page the mask shows no ink on is read only to confirm it is blank: as scanned, not
    # enlarged (a coarse blank page enlarged for the engine cost 0.2 s, as scanned 0.01 s).
    enlarge = not largeformat.is_blank(ink)

    def recognize(image: Path | Image.Image) -> list[ocr.Line]:
        return ocr.recognize(
            image, languages=opts.languages, tessdata=opts.tessdata, label=label, dpi=dpi, enlarge=enlarge
        )

    def recognize_sheet(image: Path | Image.Image) -> list[ocr.Line]:
        return largeformat.recognize_tiled(image, recognize, tile_pool) if large else recognize(image)

    return read_page(image, dpi, ink, recognize=recognize_sheet, tessdata=opts.tessdata, tiled=large)


def _analysed(page: Page, large: bool) -> tuple[np.ndarray, ink.Levels, Image.Image | None]:
    """The scan's ink mask and levels, and the scan itself decoded once if it is kept for OCR: a
    sheet above A3 (the mask and the OCR tiles are cut from it: a second full-size copy would
    double the memory), or a grey or bilevel page that needs a full decode for its mask anyway
    (OCR reads it, turned, straightened or as it is, without decoding it again)."""
    try:
        if large and page.grey is not None:  # the grey copy ingest made of a large colour page
            sheet = Image.open(page.grey)
            sheet.load()
            sheet.info["dpi"] = page.dpi
            return *ink.analysis(sheet, min(page.dpi)), sheet
        img = Image.open(page.path)
        # Not a JPEG (its mask comes from a reduced decode) nor colour (held beside the engine's
        # own copy, a 300-dpi A4 page would add some 60 MB a worker for 0.1 s saved).
        if large or (img.format != "JPEG" and img.mode in ("1", "L")):
            if large and img.format == "JPEG":
                img.draft("L", img.size)  # decoded straight to grey: 1 byte a pixel, not 4 as RGB
            img.load()
            return *ink.analysis(img, min(page.dpi)), img
        with img:
            return *ink.analysis(img, min(page.dpi)), None
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptInput(
            f"{page.label}: ảnh hỏng hoặc bị cắt cụt ({e}).",
            f"{page.label}: corrupt or truncated image ({e}).",
            field=page.label,
        ) from e


def _flattened(page: Page, levels: ink.Levels, decoded: Image.Image | None) -> Image.Image:
    """The OCR copy of a faint or unevenly lit page, its paper white and its strokes black: read
    as scanned, the engine's one threshold cuts through the paper or the strokes (a faded copy
    with light falling off across it read at 36-55 % CER, flattened at 0.1-2 %)."""
    scan = decoded
    if scan is None:
        scan = Image.open(page.path)
        if scan.format == "JPEG":
            scan.draft("L", scan.size)  # straight to grey
        scan.load()
    flat = levels.flatten(scan)  # in place when the scan is grey already
    if flat is not scan:
        scan.close()
    return flat


def _decode(page: Page, large: bool) -> tuple[np.ndarray, Image.Image | None]:
    """The scan's ink mask, and what OCR reads if not the file: the scan decoded once (see
    _analysed), or a faint or unevenly lit page's flattened grey copy."""
    mask, levels, decoded = _analysed(page, large)
    if not levels.plain and not largeformat.is_blank(mask):
        decoded = _flattened(page, levels, decoded)
    return mask, decoded


def _process_page(page: Page, opts: Options, tile_pool: ThreadPoolExecutor) -> tuple[list[PageResult], Path]:
    paper = largeformat.paper_size(page.width, page.height, page.dpi)
    large = largeformat.is_large(paper)
    mask, decoded = _decode(page, large)
    try:
        return _read_views(page, opts, tile_pool, paper, large, mask, decoded)
    finally:
        if decoded is not None:
            decoded.close()


def _straighten_scan(page: Page, skew: float) -> Page | None:
    """The scan itself turned level (only when configured: the archive keeps the scan as made
    by default). Lossless from here on: PNG, or CCITT G4 for bilevel pages. A sheet above A3
    is turned a band of rows at a time, when it is stored as an 8-bit PNG; otherwise (a JPEG
    or bilevel sheet) it is left as scanned and None says so, since turning it would take it
    whole into memory."""
    target = page.path.with_name(page.path.stem + "-level")
    if page.in_bands:
        bands = rows.png_bands(page.path) if page.path.suffix == ".png" else None
        if bands is None:
            return None
        level = rows.rotated(rows.png_rows(page.path), page.width, page.height, bands, skew)
        target = target.with_suffix(".png")
        rows.write_png(level, page.width, page.height, bands, target, None)
    else:
        with Image.open(page.path) as img:
            bilevel = img.mode == "1"
            fill = 255 if img.mode in ("1", "L") else (255, 255, 255)
            resample = Image.Resampling.NEAREST if bilevel else Image.Resampling.BICUBIC
            target = save_page_image(img.rotate(skew, resample=resample, fillcolor=fill), target)
    page.path.unlink()
    return dataclasses.replace(page, path=target)


def _read_views(
    page: Page,
    opts: Options,
    tile_pool: ThreadPoolExecutor,
    paper: str,
    large: bool,
    ink: np.ndarray,
    decoded: Image.Image | None,
) -> tuple[list[PageResult], Path]:
    notices = list(page.notices)
    if large and min(page.dpi) < 299.5:
        notices.append(
            _notice(
                "low-dpi-drawing",
                f"{page.label}: khổ {paper} {min(page.dpi):.0f} dpi, bản vẽ và bản đồ cần 300 dpi.",
                f"{page.label}: {paper} sheet at {min(page.dpi):.0f} dpi; drawings and maps need 300 dpi.",
            )
        )
    separator = None
    if opts.separators:
        with ocr.opened(decoded or page.path) as img:
            separator = separators.find(img, min(page.dpi), ink, opts.separators)
    if separator is not None and separator.only:  # a sheet that only separates: not OCR'd, not kept
        result = PageResult(
            page.source, page.number, "", 0, 0.0, page.dpi, page.width, page.height,
            paper=paper, dropped=True, separator=separator, notices=notices,
        )  # fmt: skip
        return [result], pdfa.write_page(page, [], page.path.with_suffix(".pdf"), opts.jpeg_quality)
    results: list[PageResult] = []
    views: list[pdfa.View] = []
    for x0, width, part in _views(page, ink, paper, opts.spreads):
        label = f"{page.label} ({part})" if part else page.label
        part_ink = ink[:, round(x0 / page.width * ink.shape[1]) : round((x0 + width) / page.width * ink.shape[1])]
        image: Path | Image.Image = decoded or page.path
        if part:
            with ocr.opened(image) as img:
                image = img.crop((x0, 0, x0 + width, page.height))  # a half in memory, for OCR only
        # Every page is read: blank only when the mask shows no ink and OCR finds no word either
        # (a faint page the mask misses is still read; what the engine makes of dust is not kept).
        reading = _read(image, min(page.dpi), part_ink, large, opts, label, tile_pool)
        blank = largeformat.is_blank(part_ink) and not ocr.has_words(reading.lines)
        if blank:
            reading = Reading([])
        skew = reading.skew  # as measured, whether the text or the image is mapped
        straighten = opts.deskew_archive and bool(reading.skew) and not part
        if straighten and decoded is not None:
            decoded.close()  # read, and the only view: a sheet is not held twice while it is turned
        level = _straighten_scan(page, reading.skew) if straighten else None
        if level is not None:
            page = level
            reading = dataclasses.replace(reading, skew=0.0)  # the text now lies on the image as read
        view_notices = [*([] if results else notices), *_view_notices(label, skew, straighten, level, blank, opts)]
        first_separator = separator if not results else None
        results.append(_result(page, part, width, reading, skew, large, blank, first_separator, view_notices, opts))
        if not (blank and opts.blanks == "drop"):
            views.append(pdfa.View(x0, width, reading))
    if decoded is not None:
        decoded.close()  # read: freed before the page is written (a sheet above A3 is large)
    page_pdf = pdfa.write_page(page, views, page.path.with_suffix(".pdf"), opts.jpeg_quality)
    page.path.unlink()  # the image now lives in the page PDF
    if page.grey is not None:
        page.grey.unlink(missing_ok=True)
    return results, page_pdf


def _view_notices(
    label: str, skew: float, straighten: bool, level: Page | None, blank: bool, opts: Options
) -> list[dict[str, str]]:
    """What a view's reading tells a person: the archived image straightened (or not), blank."""
    notices = []
    if level is not None:
        notices.append(
            _notice(
                "deskewed",
                f"{label}: ảnh lưu trữ đã được chỉnh nghiêng {skew:+.1f}°.",
                f"{label}: the archived image was straightened by {skew:+.1f}°.",
            )
        )
    elif straighten:
        notices.append(
            _notice(
                "not-deskewed",
                f"{label}: tờ khổ lớn được lưu như khi quét, nghiêng {skew:+.1f}° (chỉ tờ lưu dạng "
                "PNG mới được chỉnh); lớp chữ đặt theo độ nghiêng đó.",
                f"{label}: this large sheet is kept as scanned, skewed {skew:+.1f}° (only sheets "
                "stored as PNG are straightened); the text layer follows that slope.",
            )
        )
    if blank:
        notices.append(
            _notice(
                "blank-page",
                f"{label}: trang trắng" + (", đã bỏ." if opts.blanks == "drop" else "."),
                f"{label}: blank page" + (", dropped." if opts.blanks == "drop" else "."),
            )
        )
    return notices


def _result(
    page: Page,
    part: str,
    width: int,
    reading: Reading,
    skew: float,
    large: bool,
    blank: bool,
    separator: Separator | None,
    notices: list[dict[str, str]],
    opts: Options,
) -> PageResult:
    words = [w for line in reading.lines for w in line.words]
    return PageResult(
        source=page.source,
        number=page.number,
        text="\n".join(line.text for line in reading.lines),
        words=len(words),
        confidence=round(sum(w.conf for w in words) / len(words), 1) if words else 0.0,
        dpi=(round(page.dpi[0], 1), round(page.dpi[1], 1)),
        width=width,
        height=page.height,
        paper=largeformat.paper_size(width, page.height, page.dpi),
        part=part,
        rotate=reading.rotate,
        skew=skew,
        tiles=len(largeformat.tiles(width, page.height)) if large and not blank else 0,
        blank=blank,
        separator=separator,
        lines=reading.lines,
        dropped=blank and opts.blanks == "drop",
        notices=notices,
    )


def _idle() -> None:
    """A page or tile thread of a job on a server: in the idle CPU class it runs only on a core
    nothing else wants, so requests are answered first. Only these threads: they never hold the
    catalog's write lock, which an idle thread could keep for long while the API waits on it."""
    with contextlib.suppress(OSError):  # a sandbox may forbid it: the thread keeps its priority
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _read_all(
    sources: Sequence[Source], opts: Options, tmpdir: Path, progress: ProgressFn | None
) -> list[tuple[list[PageResult], Path]]:
    """Every page of every source read, in order: its results and its page PDF."""
    if not sources:
        raise DigitizeError("Không có tệp nào để số hóa.", "No input files to digitize.")
    futures: list[Future[tuple[list[PageResult], Path]]] = []
    reported = 0

    def report() -> None:
        """Pages done so far, from this thread: the callback may write to the catalog, or stop the
        run (too many pages), which it could not do from a page thread."""
        nonlocal reported
        count = sum(f.done() for f in futures)
        if progress and count > reported:
            reported = count
            progress(count, None)  # the total is known only once every file is read

    jobs, setup = opts.jobs, _idle if opts.idle_cpu else None
    with (
        ThreadPoolExecutor(max_workers=jobs, initializer=setup) as pool,
        ThreadPoolExecutor(max_workers=jobs, initializer=setup) as tile_pool,
    ):
        try:
            for index, src in enumerate(sources):
                folder = tmpdir / f"{index:05d}"  # two inputs may have the same name
                folder.mkdir()
                pages = iter_pages(src.path, src.label, folder, max_pixels=opts.max_pixels, render_dpi=opts.render_dpi)
                for page in pages:
                    # Keep the queue short so ingest does not run far ahead of OCR.
                    while sum(not f.done() for f in futures) >= 2 * jobs:
                        next(f for f in futures if not f.done()).result()
                    report()
                    futures.append(pool.submit(_process_page, page, opts, tile_pool))
            while pending := [f for f in futures if not f.done()]:
                for f in wait(pending, return_when=FIRST_COMPLETED).done:
                    f.result()  # a failed page ends the run now
                report()
            results = [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    if progress:
        progress(len(results), len(results))
    return results


def read_metadata(pages: Sequence[PageResult]) -> dict[str, reader.Found | None]:
    """The document's number, date, type, subject, issuer and signature, read from its kept pages'
    words (upright, as read)."""
    kept = [p for p in pages if not p.dropped]
    return reader.read([reader.PageWords(*p.upright_size, p.lines) for p in kept])


def _assemble(
    results: list[tuple[list[PageResult], Path]], output: Path, meta: pdfa.Metadata, flavour: str, started: float
) -> Result:
    pages = [r for rs, _ in results for r in rs]
    if all(p.dropped for p in pages):
        raise DigitizeError("Mọi trang đều trắng: không có gì để lưu.", "Every page is blank: nothing to keep.")
    output.parent.mkdir(parents=True, exist_ok=True)
    read = read_metadata(pages)
    meta = dataclasses.replace(meta, record={**pdfa.from_page(read), **meta.record})
    pdfa.assemble([p for _, p in results], output, meta, flavour)
    return Result(
        output=output,
        sha256=sha256_file(output),
        size=output.stat().st_size,
        flavour=flavour,
        pages=pages,
        seconds=round(time.monotonic() - started, 2),
        metadata=read,
    )


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
    spreads: SpreadPolicy = "auto",
    blanks: BlankPolicy = "flag",
    deskew_archive: bool = False,
    jpeg_quality: int | None = None,
    progress: ProgressFn | None = None,
    workdir: Path | None = None,
    idle_cpu: bool = False,
    record: dict[str, Any] | None = None,
) -> Result:
    """Scans in, one searchable PDF/A out. Pages are read one at a time and OCR'd in parallel;
    at most a few page images are on disk or in memory at once.

    Two-page spreads are split by ``spreads`` (auto: where a gutter is found); blank pages
    are flagged, or dropped with ``blanks="drop"``. Sheets above A3 are OCR'd in tiles on
    a pool of their own, so a page waiting for its tiles never holds up the tiles. With
    ``idle_cpu`` (a server's jobs) the page and tile threads use only CPU nothing else wants.
    The document's fields (number, date, type… read from its pages, and ``record``'s, which win)
    go into the XMP: Dublin Core where they fit, the others in sohoa's namespace (digitize.xmp)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sohoa-", dir=workdir) as tmp:
        opts = Options(
            languages,
            tessdata,
            spreads,
            blanks,
            deskew_archive=deskew_archive,
            jpeg_quality=jpeg_quality,
            jobs=jobs,
            max_pixels=max_pixels,
            render_dpi=render_dpi,
            idle_cpu=idle_cpu,
        )
        results = _read_all(sources, opts, Path(tmp), progress)
        meta = pdfa.Metadata(title=title, identifier=identifier, record=record or {})
        return _assemble(results, output, meta, flavour, started)


@dataclass
class Segment:
    code: str  # the dossier the pages belong to ("" before the first dossier separator, without a default)
    document: int  # 1, 2, … within that dossier in this batch
    result: Result


def digitize_batch(
    sources: Sequence[Source],
    outdir: Path,
    *,
    code_pattern: str,
    default_code: str = "",
    languages: str = "vie",
    tessdata: Path,
    jobs: int = 2,
    flavour: str = "2b",
    max_pixels: int = 250_000_000,
    render_dpi: int = 300,
    spreads: SpreadPolicy = "auto",
    blanks: BlankPolicy = "flag",
    deskew_archive: bool = False,
    jpeg_quality: int | None = None,
    progress: ProgressFn | None = None,
    idle_cpu: bool = False,
) -> list[Segment]:
    """A batch scan split at its separator sheets into one PDF/A per document, each under
    the dossier code its separator carries: ``outdir/<code>/<n>.pdf``."""
    started = time.monotonic()
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".sohoa-", dir=outdir) as tmp:
        opts = Options(
            languages,
            tessdata,
            spreads,
            blanks,
            separators=code_pattern,
            deskew_archive=deskew_archive,
            jpeg_quality=jpeg_quality,
            jobs=jobs,
            max_pixels=max_pixels,
            render_dpi=render_dpi,
            idle_cpu=idle_cpu,
        )
        results = _read_all(sources, opts, Path(tmp), progress)
        groups: list[tuple[str, list[tuple[list[PageResult], Path]]]] = []
        code = default_code
        for item in results:
            separator = item[0][0].separator
            if separator is not None:
                code = separator.code if separator.kind == "dossier" else code
                groups.append((code, []))
            elif not groups:
                groups.append((code, []))
            groups[-1][1].append(item)
        segments: list[Segment] = []
        for code, items in groups:
            if all(p.dropped for rs, _ in items for p in rs):
                continue  # a separator with nothing after it
            number = 1 + sum(s.code == code for s in segments)
            output = outdir / (code or "chua-ro-ma") / f"{number}.pdf"
            meta = pdfa.Metadata(title=f"Hồ sơ {code} - tài liệu {number}" if code else "", identifier=code)
            segments.append(Segment(code, number, _assemble(items, output, meta, flavour, started)))
        return segments

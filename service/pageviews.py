"""What the web pages show of a document's pages: the page images (rendered from the stored PDF
once per size and kept under <data_dir>/page-images), the text OCR read on each page, and the
boxes of the words a search matched, from the document's ALTO."""

from __future__ import annotations

import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf
from sqlalchemy import select

import storage.search
from digitize.programs import render_pdf_page
from service.context import Context, audit_read
from service.documents import no_document, versions
from storage import Document, Page, parse_code
from storage.catalog import find_document
from storage.errors import NotFound

WIDTHS = (240, 1000, 2000)  # thumbnail, viewer, zoomed: the only sizes made (and kept)
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"


@dataclass
class DocumentPages:
    code: str
    number: int
    file: str
    kind: str
    page_texts: list[str]
    versions: list[str]
    sha256: str
    hits: dict[int, list[tuple[float, float, float, float]]] = field(default_factory=dict)


def _document(ctx: Context, code: str, number: int) -> Document:
    parse_code(code, ctx.settings.dossier_code_pattern)
    with ctx.sessions() as session:
        document = find_document(session, code, number)
        if document is None:
            raise no_document(code, number)
        session.expunge(document)
        return document


def _shown_key(document: Document) -> tuple[str, str]:
    """The stored PDF pages are drawn from: the PDF/A, else the signed or original PDF (an
    electronic original kept as it came)."""
    kept = versions(document)
    for kind in ("pdfa", "signed", "original"):
        key = kept.get(kind)
        if key and key.endswith(".pdf"):
            return key, kind
    raise NotFound(
        f"Tài liệu {document.number} của hồ sơ {document.dossier_code} chưa có bản PDF để xem.",
        f"Document {document.number} of dossier {document.dossier_code} has no PDF to show yet.",
        field="document_id",
    )


def document_pages(ctx: Context, code: str, number: int, *, query: str = "", actor: str) -> DocumentPages:
    """A document's pages as the viewer shows them, the words of ``query`` boxed on each page;
    the viewing is in the audit log."""
    document = _document(ctx, code, number)
    with ctx.sessions() as session:
        texts = list(session.scalars(select(Page.text).where(Page.document_id == document.id).order_by(Page.number)))
    kept: list[str] = [k for k, v in versions(document).items() if v]
    found = DocumentPages(code, number, document.original_name, document.kind, texts, kept, document.original_sha256)
    if query.strip() and document.alto_key:
        found.hits = word_boxes(ctx.store.open(document.alto_key).read(), query)
    audit_read(ctx, actor, "document.viewed", code, number=number, query=query or None)
    return found


def word_boxes(alto: bytes, query: str) -> dict[int, list[tuple[float, float, float, float]]]:
    """Per page (1-based), the boxes of the words matching a word of ``query`` (folded: with or
    without diacritics), as fractions of the page: left, top, width, height."""
    wanted = {storage.search.fold(w) for w in storage.search.words(query)}
    boxes: dict[int, list[tuple[float, float, float, float]]] = {}
    for n, page in enumerate(ET.fromstring(alto).iter(f"{ALTO}Page"), start=1):
        width, height = float(page.get("WIDTH") or 1), float(page.get("HEIGHT") or 1)
        for word in page.iter(f"{ALTO}String"):
            if any(storage.search.fold(w) in wanted for w in storage.search.words(word.get("CONTENT", ""))):
                box = [float(word.get(k) or 0) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
                boxes.setdefault(n, []).append((box[0] / width, box[1] / height, box[2] / width, box[3] / height))
    return boxes


def page_image(ctx: Context, code: str, number: int, page: int, width: int) -> Path:
    """Page ``page`` of the document as a PNG ``width`` pixels wide (one of WIDTHS), made once."""
    if width not in WIDTHS:
        raise NotFound(f"Không có cỡ ảnh {width}.", f"No image size {width}.", field="w")
    document = _document(ctx, code, number)
    key, _kind = _shown_key(document)
    folder = ctx.settings.data_dir / "page-images"
    target = folder / f"{Path(key).stem}-{page}-{width}.png"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ctx.tmp) as tmp:
        pdf = Path(tmp) / "document.pdf"
        ctx.store.get_file(key, pdf)
        with pikepdf.open(pdf) as opened:
            if not 1 <= page <= len(opened.pages):
                raise NotFound(f"Không có trang {page}.", f"No page {page}.", field="page")
            box = opened.pages[page - 1].mediabox
            turned = int(opened.pages[page - 1].get("/Rotate", 0)) % 180 == 90
            inches = float((box[3] - box[1]) if turned else (box[2] - box[0])) / 72
        dpi = max(10, round(width / max(inches, 0.1)))
        made = render_pdf_page(pdf, page, dpi, Path(tmp) / "page", label=f"{code}/{number}")
        shutil.move(made, target)  # a rename within the data folder: never half a file
    return target

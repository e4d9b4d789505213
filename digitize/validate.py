"""PDF/A validation with pikepdf's allowlist validator, for plain and for signed files.

The validator does not accept interactive forms, and every signed PDF has one. For a
signed file we validate a projection of it: signature widgets become plain stamp
annotations (so their appearance streams and fonts are still checked) and the form
dictionary is dropped. Everything else is validated as written.

Nor does it accept an XMP extension schema, which PDF/A requires for any property outside the
XMP specification (sohoa's fields, digitize.xmp): that module checks the schema and the
properties it declares, and pikepdf's validator checks the file with its XMP shown without them.
"""

from __future__ import annotations

import contextlib
import gc
import io
import mmap
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pikepdf
import pikepdf.pdfa

from digitize import xmp

_FIELD_KEYS = ("/FT", "/T", "/V", "/Parent", "/Kids", "/Ff", "/MK", "/DA", "/TU", "/TM", "/Lock", "/SV", "/DR")


@dataclass
class PdfaStatus:
    passed: bool
    flavour: str | None  # as the file declares it, e.g. "2b"
    findings: list[str] = field(default_factory=list)
    signature_fields_projected: int = 0


def declared_flavour(pdf: pikepdf.Pdf) -> str | None:
    meta = pdf.open_metadata()
    part = meta.get("pdfaid:part")
    conformance = meta.get("pdfaid:conformance")
    if not part or not conformance:
        return None
    return f"{part}{conformance}".lower()


def _project_signature_fields(pdf: pikepdf.Pdf) -> int:
    if "/AcroForm" not in pdf.Root:
        return 0
    projected = 0
    for page in pdf.pages:
        for annot in page.obj.get("/Annots", []):
            if annot.get("/Subtype") == "/Widget" and annot.get("/FT") == "/Sig":
                annot.Subtype = pikepdf.Name.Stamp
                for key in _FIELD_KEYS:
                    if key in annot:
                        del annot[key]
                projected += 1
    del pdf.Root["/AcroForm"]
    if "/Perms" in pdf.Root:
        del pdf.Root["/Perms"]
    # PAdES's document security store (ETSI EN 319 142-1, the OCSP/CRL data of B-LT) and
    # ETSI's developer extension (ISO 32000-1 7.12) are allowed but unknown to the validator.
    if "/DSS" in pdf.Root:
        del pdf.Root["/DSS"]
    extensions = pdf.Root.get("/Extensions")
    if extensions is not None and "/ESIC" in extensions:
        del extensions["/ESIC"]
        if not extensions.keys():
            del pdf.Root["/Extensions"]
    return projected


_collector_held = 0
_collector_lock = threading.Lock()


@contextlib.contextmanager
def _undisturbed() -> Iterator[None]:
    """Around pikepdf's validator. It takes any warning raised while it parses a content
    stream for a finding, with a filter that holds for the whole process: the ResourceWarning
    of a connection the garbage collector finalised meanwhile, anywhere, failed a job. So
    collect first, and keep the collector off until the last validation running is done."""
    global _collector_held
    with _collector_lock:
        if not _collector_held:
            gc.collect()
            gc.disable()
        _collector_held += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_held -= 1
            if not _collector_held:
                gc.enable()


def _only_stray_warnings(findings: Sequence[Any]) -> bool:
    """Findings that may be another thread's warning, caught while a content stream was
    parsed: worth one more run, where a real fault shows again."""
    return bool(findings) and all(
        f.rule == "pikepdf:content-parse" and f.message.startswith("content stream:") for f in findings
    )


def validated(run: Callable[[], pikepdf.pdfa.Report]) -> pikepdf.pdfa.Report:
    """``run`` (a pikepdf validation: ``check`` returns its findings, ``save`` raises them) with
    the collector quiet, run once more when its only findings may be stray warnings."""
    with _undisturbed():
        try:
            report = run()
        except pikepdf.pdfa.PdfaError as e:
            if not _only_stray_warnings(e.report.findings):
                raise
            return run()
        return run() if not report.passed and _only_stray_warnings(report.findings) else report


class _Overlay(io.RawIOBase):
    """A file read with ``data`` in place of its bytes from ``at`` on: the file as written but for
    that span, validated without a copy."""

    def __init__(self, f: BinaryIO, at: int, data: bytes) -> None:
        self._f, self._at, self._data, self._pos = f, at, data, 0
        self._size = f.seek(0, io.SEEK_END)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        self._f.seek(self._pos)
        n = self._f.readinto(buffer)  # type: ignore[attr-defined]
        start, end = max(self._pos, self._at), min(self._pos + n, self._at + len(self._data))
        if start < end:
            memoryview(buffer)[start - self._pos : end - self._pos] = self._data[start - self._at : end - self._at]
        self._pos += n
        return n


def _where(path: Path, raw: bytes) -> int | None:
    """The offset of the metadata stream's bytes in the file, if they are there once (unfiltered)."""
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        at = data.find(raw)
        return at if at >= 0 and data.find(raw, at + 1) < 0 else None


def _validate_projected(path: Path, pdf: pikepdf.Pdf, projected: bytes, flavour: str) -> pikepdf.pdfa.Report:
    """The file validated as written with its XMP replaced by ``projected`` (padded to the same
    length, the stream's /Length unchanged); where its XMP cannot be found as it is (a filtered
    stream), the document as it would be written with that XMP."""
    raw = pdf.Root.Metadata.read_raw_bytes()
    at = _where(path, raw) if "/Filter" not in pdf.Root.Metadata and len(projected) <= len(raw) else None
    if at is None:
        pdf.Root.Metadata.write(projected)
        return pikepdf.pdfa.check(pdf, flavour)
    with path.open("rb") as f, io.BufferedReader(_Overlay(f, at, projected.ljust(len(raw)))) as shown:
        return pikepdf.pdfa.validate_written(shown, flavour)


def _extension(pdf: pikepdf.Pdf) -> xmp.Extension:
    metadata = pdf.Root.get("/Metadata")
    if not isinstance(metadata, pikepdf.Stream):
        return xmp.Extension()  # pikepdf's validator says so
    return xmp.check(metadata.read_bytes())


def check_pdfa(path: Path, flavour: str | None = None) -> PdfaStatus:
    """Validate ``path`` against ``flavour`` (default: the flavour the file declares). An XMP
    extension schema and the properties it describes are checked by digitize.xmp, the rest of
    the file by pikepdf's validator as before."""
    try:
        with pikepdf.open(path) as pdf:
            flavour = flavour or declared_flavour(pdf)
            if flavour is None:
                return PdfaStatus(False, None, ["no PDF/A identification in the XMP metadata"])
            if pdf.is_encrypted:  # opened with an empty user password; PDF/A forbids any encryption
                return PdfaStatus(False, flavour, ["the file is encrypted (PDF/A forbids the Encrypt key)"])
            extension, widgets = _extension(pdf), 0
            if "/AcroForm" not in pdf.Root and extension.projected is None:
                report = validated(lambda: pikepdf.pdfa.validate_written(path, flavour))
            elif "/AcroForm" not in pdf.Root:
                shown = extension.projected or b""
                report = validated(lambda: _validate_projected(path, pdf, shown, flavour))
            else:
                widgets = _project_signature_fields(pdf)
                if extension.projected is not None:
                    pdf.Root.Metadata.write(extension.projected)
                # The projection is checked as it would be written, without writing it.
                report = validated(lambda: pikepdf.pdfa.check(pdf, flavour))
            findings = extension.findings + [str(f) for f in report.findings]
            return PdfaStatus(report.passed and not extension.findings, flavour, findings, widgets)
    except pikepdf.PdfError as e:
        return PdfaStatus(False, flavour, [f"not a readable PDF: {e}"])

"""What changed in a signed PDF after a signature: pyHanko's difference analysis judged by the
changes a signature allows, and an account of the change that a person can read."""

from __future__ import annotations

import hashlib
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.sign.diff_analysis import DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel

from signing.placement import is_signature_widget
from signing.report import Finding


def disallowed(info: ModificationInfo, signed_fields: set[str], certified: MDPPerm | None) -> str | None:
    """Why the changes made after a signature are not ones it allows (pyHanko's words), or None.

    Allowed: none; LTA updates (DSS, document time stamps); later signatures filling their own
    fields; other form fields only where a certification's DocMDP permits form filling. Anything
    else, an unsigned signature field with a visible appearance included (it can paint over the
    page), is a change after signing."""
    if info.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return None
    diff = info.diff_result
    if isinstance(diff, SuspiciousModification):
        return str(diff)
    if not isinstance(diff, DiffResult):
        coverage = info.coverage.name if info.coverage else "UNKNOWN"
        return f"signature coverage {coverage} without a difference analysis"
    if diff.modification_level > ModificationLevel.FORM_FILLING:
        return f"modification level {diff.modification_level.name}"
    if info.docmdp_ok is False:
        return "changes beyond the DocMDP permission of the certification"
    filled = sorted(diff.changed_form_fields - signed_fields)
    if filled and (certified is None or certified < MDPPerm.FILL_FORMS):
        return "form fields changed after signing: " + ", ".join(filled)
    return None


def signed_fields(handler: PdfHandler) -> dict[str, str]:
    """The filled signature fields of a revision, each with a digest of its signature value."""
    return {str(name): _digest(value) for name, value, _field in enumerate_sig_fields(handler, filled_status=True)}


def lost_signatures(reader: PdfFileReader) -> list[str]:
    """Fields whose signature an earlier revision holds but the last one does not hold as it was:
    removed, emptied, or replaced by another value."""
    final = signed_fields(reader)
    lost: list[str] = []
    for revision in range(reader.xrefs.total_revisions - 1):
        for name, digest in signed_fields(reader.get_historical_resolver(revision)).items():
            if final.get(name) != digest and name not in lost:
                lost.append(name)
    return lost


def described(reader: PdfFileReader, revision: int) -> list[Finding]:
    """What differs between ``revision`` (the one a signature covers) and the file as it is now:
    pages, their content, images and fonts, size and turn, annotations, document-level entries."""
    old, new = reader.get_historical_resolver(revision).root, reader.root
    before, after = _pages(old["/Pages"]), _pages(new["/Pages"])
    found: list[Finding] = []
    if len(before) != len(after):
        found.append(
            Finding(
                f"số trang đổi từ {len(before)} thành {len(after)}",
                f"the page count changed from {len(before)} to {len(after)}",
            )
        )
    for number, (a, b) in enumerate(zip(before, after, strict=False), start=1):
        for part, vi, en in _PAGE_PARTS:
            if part(a) != part(b):
                found.append(Finding(f"{vi} trang {number} bị thay đổi", f"{en} of page {number} changed"))
    for name in _changed_fields(reader.get_historical_resolver(revision), reader):
        found.append(Finding(f"trường biểu mẫu {name} bị thêm hoặc sửa", f"form field {name} was added or changed"))
    entries = sorted(
        k for k in set(old) | set(new) if k not in _ALLOWED_ROOT and _digest(old.get(k)) != _digest(new.get(k))
    )
    if entries:
        names = ", ".join(entries)
        found.append(Finding(f"mục cấp tài liệu bị đổi ({names})", f"document-level entries changed ({names})"))
    return found or [Finding("phần khác của tệp bị thay đổi", "other parts of the file were changed")]


def _changed_fields(old: PdfHandler, new: PdfHandler) -> list[str]:
    """Form fields added or changed, other than signatures made since (their own fields)."""
    before = {name: _digest(f) for name, f in _fields(old)}
    signed = set(signed_fields(new)) - set(signed_fields(old))
    return [name for name, f in _fields(new) if name not in signed and before.get(name) != _digest(f)]


def _fields(handler: PdfHandler) -> list[tuple[str, Any]]:
    try:
        top = handler.root["/AcroForm"]["/Fields"]
    except KeyError:
        return []
    found: list[tuple[str, Any]] = []

    def walk(node: Any, prefix: str) -> None:
        node = node.get_object()
        name = f"{prefix}.{node['/T']}" if prefix and "/T" in node else str(node.get("/T", prefix))
        kids = [k for k in node.get("/Kids", []) if "/T" in k.get_object()]
        found.append((name, node))
        for kid in kids:
            walk(kid, name)

    for field in top:
        walk(field, "")
    return found


# Entries of the document catalog that signing and LTA updates change by right.
_ALLOWED_ROOT = {"/AcroForm", "/DSS", "/Metadata", "/Extensions", "/Perms", "/Pages"}
_SKIP = {"/Parent", "/P"}  # back links: following them would digest the whole document
_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


def _pages(node: Any, inherited: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The pages in order, each as its dictionary with inherited attributes filled in."""
    node = node.get_object()
    own = {k: node[k] for k in _INHERITED if k in node}
    merged = {**(inherited or {}), **own}
    if node.get("/Type") == "/Pages" or "/Kids" in node:
        return [page for kid in node["/Kids"] for page in _pages(kid, merged)]
    return [{**{k: node[k] for k in node if k not in _INHERITED}, **merged}]


def _content(page: dict[str, Any]) -> str:
    return _digest(page.get("/Contents"))


def _resources(page: dict[str, Any]) -> str:
    return _digest(page.get("/Resources"))


def _geometry(page: dict[str, Any]) -> str:
    return _digest([page.get(k) for k in ("/MediaBox", "/CropBox", "/Rotate")])


def _annotations(page: dict[str, Any]) -> str:
    """Annotations other than signature widgets, as a multiset: a later signature adds its widget."""
    annots = page.get("/Annots")
    annots = annots.get_object() if annots is not None else []
    return _digest(sorted(_digest(a) for a in annots if not is_signature_widget(a)))


_PAGE_PARTS = (
    (_content, "nội dung", "the content"),
    (_resources, "hình ảnh hoặc phông chữ", "the images or fonts"),
    (_geometry, "khổ giấy hoặc chiều xoay", "the size or turn"),
    (_annotations, "chú thích (annotation)", "the annotations"),
)


# Values as written: a signature's /Contents is not encrypted in an encrypted file (ISO 32000-1
# 7.6.1), and decrypting it would fail; the digests only compare revisions with each other.
_RAW = generic.EncryptedObjAccess.RAW


def _digest(obj: Any) -> str:
    h = hashlib.sha256()
    _feed(obj, h, set())
    return h.hexdigest()


def _feed(obj: Any, h: Any, seen: set[tuple[int, int]]) -> None:
    if isinstance(obj, generic.IndirectObject):
        ref = (obj.idnum, obj.generation)
        if ref in seen:
            h.update(b"@")
            return
        seen.add(ref)
        obj = obj.get_object()
    if isinstance(obj, generic.StreamObject):
        h.update(b"S" + hashlib.sha256(obj.encoded_data or b"").digest())
    if isinstance(obj, dict):
        for key in sorted(obj):
            if key not in _SKIP:
                h.update(b"K" + str(key).encode())
                _feed(obj.raw_get(key, _RAW) if isinstance(obj, generic.DictionaryObject) else obj[key], h, seen)
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for i in range(len(obj)):
            _feed(obj.raw_get(i, _RAW) if isinstance(obj, generic.ArrayObject) else obj[i], h, seen)
        h.update(b"]")
    else:
        h.update(b"V" + repr(obj).encode())

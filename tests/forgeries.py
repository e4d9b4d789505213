"""Forgeries of a signed PDF, made as an attacker would: an incremental update appended after
the last signature (any PDF editor's "save"), leaving the signed bytes untouched."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields

Forgery = Callable[[IncrementalPdfFileWriter], None]


def _name(value: str) -> generic.NameObject:
    return generic.NameObject(value)


def _numbers(*values: float) -> generic.ArrayObject:
    return generic.ArrayObject([generic.FloatObject(v) for v in values])


def _first_page(w: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    return w.root["/Pages"]["/Kids"][0].get_object()


def white_box(w: IncrementalPdfFileWriter) -> None:
    """Paint a white rectangle over the top of page 1 with a content stream of its own."""
    page = _first_page(w)
    box = w.add_object(generic.StreamObject(stream_data=b"q 1 1 1 rg 40 560 520 240 re f Q"))
    contents = page.raw_get("/Contents")
    kept = list(contents.get_object()) if isinstance(contents.get_object(), generic.ArrayObject) else [contents]
    page["/Contents"] = generic.ArrayObject([*kept, box])
    w.update_container(page)


def swap_image(w: IncrementalPdfFileWriter) -> None:
    """Replace the page's scan by another image of the same size (here: its bytes altered)."""
    page = _first_page(w)
    resources = page["/Resources"]
    xobjects = resources["/XObject"]
    for key in list(xobjects):
        image = xobjects[key]
        if image.get("/Subtype") != "/Image":
            continue
        data = bytearray(image.encoded_data)
        for i in range(len(data) // 3, len(data) // 3 + 64):
            data[i] ^= 0x5A
        forged = generic.StreamObject(dict(image.items()), encoded_data=bytes(data))
        xobjects[key] = w.add_object(forged)
    for container in (xobjects, resources, page):
        if container.container_ref is not None:
            w.update_container(container)


def add_page(w: IncrementalPdfFileWriter) -> None:
    """Append a page (a forged annex) to the page tree."""
    pages_ref = w.root.raw_get("/Pages")
    pages = pages_ref.get_object()
    box = _first_page(w)["/MediaBox"]
    text = w.add_object(generic.StreamObject(stream_data=b"q 0 0 0 rg 72 700 200 20 re f Q"))
    page = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Page"),
            _name("/Parent"): pages_ref,
            _name("/MediaBox"): box,
            _name("/Contents"): text,
            _name("/Resources"): generic.DictionaryObject(),
        }
    )
    pages["/Kids"].append(w.add_object(page))
    pages["/Count"] = generic.NumberObject(int(pages["/Count"]) + 1)
    w.update_container(pages)


def remove_page(w: IncrementalPdfFileWriter) -> None:
    """Drop the last page of a document of several pages."""
    pages = w.root["/Pages"]
    kids = pages["/Kids"]
    kids.pop()
    pages["/Count"] = generic.NumberObject(int(pages["/Count"]) - 1)
    w.update_container(pages)


def cover_with_annotation(w: IncrementalPdfFileWriter) -> None:
    """A white filled square annotation over the text (what "redact" in many editors does)."""
    page = _first_page(w)
    annotation = generic.DictionaryObject(
        {
            _name("/Type"): _name("/Annot"),
            _name("/Subtype"): _name("/Square"),
            _name("/Rect"): _numbers(40, 400, 560, 700),
            _name("/IC"): _numbers(1, 1, 1),
            _name("/C"): _numbers(1, 1, 1),
            _name("/F"): generic.NumberObject(4),
        }
    )
    ref = w.add_object(annotation)
    annots = page.raw_get("/Annots") if "/Annots" in page else None
    if isinstance(annots, generic.IndirectObject):
        array = annots.get_object()
        array.append(ref)
        w.update_container(array)
    else:
        page["/Annots"] = generic.ArrayObject([*(annots or []), ref])
        w.update_container(page)


def change_signature_value(w: IncrementalPdfFileWriter) -> None:
    """Rewrite the first signature's dictionary (an earlier signing time, another name) in a
    new revision; its signed bytes and /Contents stay as they were."""
    value = _signature_value(w, 0)
    value["/M"] = generic.pdf_string("D:20200101080000+07'00'")
    value["/Name"] = generic.pdf_string("Chủ tịch UBND tỉnh")
    w.update_container(value)


def remove_signature(w: IncrementalPdfFileWriter) -> None:
    """Empty the last signature's field, as if that person had never signed."""
    [*_, field] = _signature_fields(w)
    del field["/V"]
    w.update_container(field)


def overlay_empty_field(w: IncrementalPdfFileWriter) -> None:
    """A new, unsigned signature field whose visible appearance paints white over the text:
    pyHanko counts it as form filling, which an approval signature does not allow."""
    fields.append_signature_field(w, fields.SigFieldSpec("Overlay", on_page=0, box=(40, 400, 560, 700)))
    appearance = generic.StreamObject(
        {
            _name("/Type"): _name("/XObject"),
            _name("/Subtype"): _name("/Form"),
            _name("/BBox"): _numbers(0, 0, 520, 300),
        },
        stream_data=b"1 1 1 rg 0 0 520 300 re f",
    )
    for field in _all_fields(w):
        if field.get("/T") == "Overlay":
            field["/AP"] = generic.DictionaryObject({_name("/N"): w.add_object(appearance)})
            w.update_container(field)


def _all_fields(w: IncrementalPdfFileWriter) -> list[generic.DictionaryObject]:
    return [f.get_object() for f in w.root["/AcroForm"]["/Fields"]]


def _signature_fields(w: IncrementalPdfFileWriter) -> list[generic.DictionaryObject]:
    return [f for f in _all_fields(w) if f.get("/FT") == "/Sig" and "/V" in f]


def _signature_value(w: IncrementalPdfFileWriter, index: int) -> generic.DictionaryObject:
    return _signature_fields(w)[index]["/V"]


FORGERIES: dict[str, Forgery] = {
    "white-box": white_box,
    "swap-image": swap_image,
    "add-page": add_page,
    "cover-with-annotation": cover_with_annotation,
    "change-signature-value": change_signature_value,
    "remove-signature": remove_signature,
    "overlay-empty-field": overlay_empty_field,
}


def forge(signed: Path, out: Path, forgery: Forgery) -> Path:
    """``signed`` with ``forgery`` appended as an incremental update, written to ``out``."""
    with signed.open("rb") as f:
        writer = IncrementalPdfFileWriter(f, strict=False)
        forgery(writer)
        buffer = io.BytesIO()
        writer.write(buffer)
    out.write_bytes(buffer.getvalue())
    assert out.read_bytes().startswith(signed.read_bytes())  # the signed bytes are untouched
    return out


def encrypt_signature_contents(signed: Path, out: Path) -> Path:
    """What some signing tools do to a file encrypted with RC4: encrypt the signature's
    /Contents with the rest, against ISO 32000-1 7.6.1 (RC4 keeps the length, so the byte
    range still fits)."""
    data = bytearray(signed.read_bytes())
    with signed.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        reader.decrypt(b"")
        [embedded] = reader.embedded_signatures
        reference = embedded.sig_field.raw_get("/V").reference
        start, end = int(embedded.byte_range[1]), int(embedded.byte_range[2])
        crypt = reader.security_handler.get_string_filter()
        key = crypt.derive_object_key(reference.idnum, reference.generation)
        hex_digits = bytes(data[start + 1 : end - 1])
        encrypted = crypt.encrypt(key, bytes.fromhex(hex_digits.decode()))
    assert len(encrypted) * 2 == len(hex_digits)
    data[start + 1 : end - 1] = encrypted.hex().encode()
    out.write_bytes(bytes(data))
    return out

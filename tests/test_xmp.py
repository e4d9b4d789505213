"""The circular's fields in the PDF/A's XMP (digitize.xmp): Dublin Core where it fits, the rest in
sohoa's namespace declared by a PDF/A extension schema. The files are checked by sohoa's check
(the schema, then pikepdf's validator on the rest) and, for PDF/A-1b, by PDFBox Preflight, which
checks extension schemas itself; a file whose schema is malformed or does not declare a property
it uses is refused by both. No OCR: the pages are blank, the fields given."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest

from digitize import pdfa
from digitize.validate import check_pdfa
from preflight import preflight
from records import XMP_NAMESPACE, xmp_fields
from signing import agency_signer, sign_pdf

CODE = "000.00.12.H12-250527-0001"
RECORD = {
    "number": "125/QĐ-UBND",
    "type": "Quyết định",
    "issued_on": "2025-02-05",
    "issuer": "ỦY BAN NHÂN DÂN HUYỆN BA BỂ",
    "subject": "Về việc phê duyệt <kế hoạch> & “dự án”",
    "signer": unicodedata.normalize("NFD", "Nguyễn Văn Ấn"),  # stored as NFC
    "signer_title": "PHÓ CHỦ TỊCH",
    "authority": "TM. ỦY BAN NHÂN DÂN KT. CHỦ TỊCH",
    "order": 2,
    "urgency": "K",
    "handwriting": "Bút phê của Chủ tịch ở lề trái",
    "confidentiality": "",  # "Thường": nothing written
    "dossier_title": "Hồ sơ cấp giấy phép xây dựng",
    "dossier_retention": "20",
    "symbol": "QĐ-UBND",
}


def _sohoa(key: str) -> str:
    return f"{{{XMP_NAMESPACE}}}{key}"


def _made(folder: Path, flavour: str, record: dict[str, object] = RECORD) -> Path:
    """A one-page PDF/A (a blank page, as assemble takes pages) with the record's fields."""
    page = folder / "page.pdf"
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.pages[0].obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary())
        pdf.save(page)
    out = folder / f"{flavour}.pdf"
    pdfa.assemble([page], out, pdfa.Metadata(title="Quyết định 125", identifier=CODE, record=dict(record)), flavour)
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {f: _made(tmp_path_factory.mktemp(f), f) for f in ("1b", "2b")}


def _fields_of(path: Path) -> tuple[dict[str, object], dict[str, object]]:
    with pikepdf.open(path) as pdf, pdf.open_metadata() as meta:
        own = {f.key: meta.get(_sohoa(f.key)) for f in xmp_fields() if meta.get(_sohoa(f.key)) is not None}
        dc = {k: meta.get(f"dc:{k}") for k in ("identifier", "type", "date", "creator", "description")}
    return own, dc


def test_the_fields_dublin_core_has_no_element_for_are_sohoas_declared_by_an_extension_schema(
    made: dict[str, Path],
) -> None:
    for flavour, path in made.items():
        own, dc = _fields_of(path)
        assert own == {
            "dossier_code": CODE,
            "order": "2",
            "number": "125/QĐ-UBND",
            "symbol": "QĐ-UBND",
            "page_count": "1",
            "signer_title": "PHÓ CHỦ TỊCH",
            "signer": "Nguyễn Văn Ấn",
            "authority": "TM. ỦY BAN NHÂN DÂN KT. CHỦ TỊCH",
            "handwriting": "Bút phê của Chủ tịch ở lề trái",
            "urgency": "K",
            "dossier_title": "Hồ sơ cấp giấy phép xây dựng",
            "dossier_retention": "20",
        }
        assert unicodedata.is_normalized("NFC", str(own["signer"]))
        assert dc == {
            "identifier": CODE,
            "type": {"Quyết định"},
            "date": ["2025-02-05"],
            "creator": ["ỦY BAN NHÂN DÂN HUYỆN BA BỂ"],
            "description": "Về việc phê duyệt <kế hoạch> & “dự án”",
        }
        status = check_pdfa(path)
        assert status.passed and status.flavour == flavour, status.findings
    report = preflight(made["1b"])  # an independent validator, which reads extension schemas
    assert report.passed, [str(e) for e in report.errors]


def _edited(src: Path, out: Path, edit: Callable[[str], str]) -> Path:
    with pikepdf.open(src) as pdf:
        packet = pdf.Root.Metadata.read_bytes().decode()
        changed = edit(packet)
        assert changed != packet
        pdf.Root.Metadata.write(changed.encode())
        pdf.save(out)
    return out


BROKEN: dict[str, tuple[Callable[[str], str], str]] = {
    "undeclared": (lambda x: x.replace("sohoa:signer>", "sohoa:signed>"), "signed .* is not declared"),
    "wrong type": (lambda x: x.replace("<sohoa:order>2<", "<sohoa:order>hai<"), "order .* not of type Integer"),
    "no category": (
        lambda x: x.replace("<pdfaProperty:category>external</pdfaProperty:category>", "", 1),
        "not a structure of name, valueType, category, description",
    ),
    "unknown category": (lambda x: x.replace(">external<", ">outside<", 1), "category 'outside'"),
    "unknown value type": (lambda x: x.replace(">Text<", ">Texte<", 1), "value type 'Texte'"),
    "no prefix": (lambda x: re.sub("<pdfaSchema:prefix>.*?</pdfaSchema:prefix>", "", x), "namespaceURI, prefix"),
    "not a bag": (
        lambda x: re.sub(r"<rdf:Bag>(\s*<rdf:li rdf:parseType)", r"<rdf:Seq>\1", x).replace(
            "</rdf:li>\n        </rdf:Bag>", "</rdf:li>\n        </rdf:Seq>"
        ),
        "schemas is not an rdf:Bag",
    ),
    "dc described": (
        lambda x: x.replace(f">{XMP_NAMESPACE}<", ">http://purl.org/dc/elements/1.1/<"),
        "describes the namespace 'http://purl.org/dc",
    ),
    "no schema": (
        lambda x: re.sub(r"<rdf:Description[^>]*pdfaExtension.*?</rdf:Description>", "", x, flags=re.S),
        "XMP namespace sohoa=https://sohoa.vn/ns/1.0/ is not permitted",  # pikepdf's own denial
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_an_undeclared_property_or_a_malformed_schema_is_refused(
    case: str, made: dict[str, Path], tmp_path: Path
) -> None:
    edit, finding = BROKEN[case]
    path = _edited(made["2b"], tmp_path / "broken.pdf", edit)
    status = check_pdfa(path)
    assert not status.passed and any(re.search(finding, f) for f in status.findings), status.findings


@pytest.mark.parametrize("case", ["undeclared", "no category"])
def test_preflight_refuses_them_too(case: str, made: dict[str, Path], tmp_path: Path) -> None:
    path = _edited(made["1b"], tmp_path / "broken.pdf", BROKEN[case][0])
    assert not check_pdfa(path).passed
    assert not preflight(path).passed


def test_signed_files_keep_the_fields_and_stay_valid(made: dict[str, Path], pki_dir: Path, tmp_path: Path) -> None:
    """The XMP is written before signing. A PDF/A-1 file's is kept as it is (its writer keeps
    PDF/A-1); pyHanko writes a PDF/A-2 file's again, in its own RDF form, with sohoa's prefix."""
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name="UBND xã Mẫu")
    for flavour, path in made.items():
        signed = tmp_path / f"signed-{flavour}.pdf"
        sign_pdf(path, signed, signer, agency_name="UBND xã Mẫu")
        status = check_pdfa(signed)
        assert status.passed and status.signature_fields_projected == 1, status.findings
        assert _fields_of(signed) == _fields_of(path)
        with pikepdf.open(path) as before, pikepdf.open(signed) as after:
            packet = after.Root.Metadata.read_bytes()
            assert (packet == before.Root.Metadata.read_bytes()) == (flavour == "1b")
        assert b"sohoa:signer" in packet
    report = preflight(tmp_path / "signed-1b.pdf")
    assert report.passed, [str(e) for e in report.errors]

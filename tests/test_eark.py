"""The package metadata from plain data (no catalog): every field given reaches the description,
checksums round-trip through METS, and a package that is not one is refused with the reason."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from lxml import etree

from service.restore import PackageRefused, check
from storage import eark

CODE = "000.00.12.H12-250527-0001"


def test_the_description_writes_every_field_it_is_given() -> None:
    dossier = {"code": CODE, "title": "Cấp giấy phép xây dựng", "agency": "000.00.12.H12", "retention": "70",
               "received_on": "2025-05-27", "access_mode": "Hạn chế"}  # fmt: skip
    documents = [{"number": 1, "original_name": "don.pdf", "page_count": 3, "type": "Quyết định", "issuer": "UBND"}]
    root = etree.fromstring(eark.descriptive(dossier, documents))
    ns = {"e": eark.EAD}
    assert root.xpath("//e:archdesc/e:did/e:unitid/text()", namespaces=ns) == [CODE]
    assert root.xpath("//e:archdesc/e:did/e:unitdate/@normal", namespaces=ns) == ["2025-05-27"]
    labels = root.xpath("//e:archdesc/e:odd//e:label/text()", namespaces=ns)
    assert {"code", "title", "retention", "access_mode"} <= set(labels)  # a field of the circular, as named
    [item] = root.xpath("//e:dsc/e:c", namespaces=ns)
    assert item.xpath("e:did/e:physdesc/e:extent/text()", namespaces=ns) == ["3 pages"]
    assert (
        dict(
            zip(
                item.xpath(".//e:label/text()", namespaces=ns),
                item.xpath(".//e:item/text()", namespaces=ns),
                strict=True,
            )
        )["type"]
        == "Quyết định"
    )


def test_mets_lists_each_file_with_its_checksum() -> None:
    data = eark.PackageFile("representations/pdfa/data/document-1.pdf", "ab" * 32, 10, "application/pdf", "2025")
    premis = eark.PackageFile("representations/pdfa/metadata/preservation/premis.xml", "cd" * 32, 5, "text/xml", "2025")
    rep = eark.Representation("pdfa", [data])
    listed = eark.listed_files(eark.representation_mets(CODE, rep, "2025-05-27T00:00:00+07:00", "H12", premis, []))
    assert listed == {"data/document-1.pdf": ("ab" * 32, 10), "metadata/preservation/premis.xml": ("cd" * 32, 5)}


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (None, "not a readable zip file"),
        ({"a/METS.xml": b"<mets/>", "b/METS.xml": b"<mets/>"}, "one folder holding METS.xml"),
        ({"a/x.txt": b"x"}, "METS.xml is missing"),
        ({"a/METS.xml": b"<mets"}, "METS.xml is malformed"),
        ({"a/METS.xml": b"<mets xmlns='http://www.loc.gov/METS/'/>", "a/extra.bin": b"x"}, "extra.bin is not listed"),
    ],
)
def test_what_is_not_a_package_is_refused_with_the_reason(tmp_path: Path, files: dict | None, reason: str) -> None:  # type: ignore[type-arg]
    package = tmp_path / "goi.zip"
    if files is None:
        package.write_bytes(b"PK not really")
    else:
        _zip(package, files)
    with pytest.raises(PackageRefused) as refused:
        check(package)
    assert reason in refused.value.en and refused.value.field == "goi.zip" and refused.value.status == 422

"""Signing: PAdES with the demo agency certificate, checked by pyHanko, poppler, qpdf and the PDF/A validator."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_timestamp

from conftest import ROOT
from digitize.validate import check_pdfa
from preflight import preflight
from signing import agency_signer, load_pkcs12, sign_pdf, verify_pdf
from signing.demo_pki import ensure_demo_pki
from signing.errors import NotAPdf, SigningError, WrongPassword
from signing.verify import load_roots

AGENCY = "UBND xã Hòa Bình"


@pytest.fixture(scope="module")
def signed(digitized_pdf: Path, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("signed") / "signed.pdf"
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    sign_pdf(digitized_pdf, out, signer, agency_name=AGENCY)
    return out


def test_demo_pki_is_made_once_and_marked_demo(pki_dir: Path) -> None:
    first = ensure_demo_pki(pki_dir, AGENCY)
    stamp = first.agency_p12.stat().st_mtime_ns
    again = ensure_demo_pki(pki_dir, AGENCY)
    assert again.agency_p12.stat().st_mtime_ns == stamp
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    assert signer.demo and "DEMO" in signer.subject
    assert oct(first.agency_p12.stat().st_mode & 0o777) == "0o600"


def test_signature_is_valid_for_poppler_and_pyhanko(signed: Path, pki_dir: Path) -> None:
    out = subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True).stdout
    assert "Signature is Valid" in out and "Total document signed" in out
    assert "ETSI.CAdES.detached" in out
    report = verify_pdf(signed, [ensure_demo_pki(pki_dir, AGENCY).root_cert])
    [sig] = report.signatures
    assert sig.intact and sig.valid and sig.trusted and report.ok
    assert sig.coverage == "ENTIRE_FILE" and sig.level == "PAdES B-B"
    assert "Hòa Bình" in sig.signer
    assert report.verdict_vi.startswith("Cả 1 chữ ký hợp lệ")


def test_signed_file_stays_valid_pdfa_and_well_formed(signed: Path) -> None:
    status = check_pdfa(signed)
    assert status.passed, status.findings
    assert status.signature_fields_projected == 1
    subprocess.run(["qpdf", "--check", str(signed)], check=True, capture_output=True)


@pytest.mark.slow  # OCR
@pytest.mark.parametrize("flavour", ["1b", "3b"])
def test_pdfa_1b_and_3b_stay_valid_after_two_signatures(
    flavour: str, page_png: Path, pki_dir: Path, tmp_path: Path
) -> None:
    """PDF/A-1 is PDF 1.4 with Info and XMP in step, and wants a /CIDSet for the stamp font."""
    from digitize import Source, digitize

    pdfa = tmp_path / f"{flavour}.pdf"
    digitize([Source(page_png, page_png.name)], pdfa, title="Đơn", tessdata=ROOT / "ocr-models", flavour=flavour)
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    first, second = tmp_path / "1.pdf", tmp_path / "2.pdf"
    sign_pdf(pdfa, first, signer, agency_name=AGENCY)
    sign_pdf(first, second, signer, agency_name=AGENCY)
    status = check_pdfa(second)
    assert status.passed and status.flavour == flavour, status.findings
    report = verify_pdf(second, [ensure_demo_pki(pki_dir, AGENCY).root_cert])
    assert report.ok and report.pdfa_valid and len(report.signatures) == 2
    assert (
        subprocess.run(["pdfsig", str(second)], capture_output=True, text=True).stdout.count("Signature is Valid") == 2
    )
    if flavour == "1b":  # Apache PDFBox Preflight accepts signature fields: it checks the signed file as it is
        for path in (pdfa, second):
            report = preflight(path)
            assert report.passed, (path.name, [str(e) for e in report.errors])


@pytest.mark.slow  # OCR, and the test PKI served on loopback
def test_pdfa_1b_stays_valid_at_b_lt(page_png: Path, tmp_path: Path) -> None:
    """B-LT's OCSP/CRL data go in the signature's own revision for PDF/A-1: pyHanko's separate
    DSS revision made the file PDF 1.7 with Info and XMP out of step and no dc schema in the
    XMP (Preflight 7.3, pikepdf ISO_19005_1:6.7.3-7)."""
    import pki_server
    from digitize import Source, digitize

    pdfa, signed = tmp_path / "1b.pdf", tmp_path / "lt.pdf"
    digitize([Source(page_png, page_png.name)], pdfa, title="Đơn", tessdata=ROOT / "ocr-models", flavour="1b")
    pki, _thread, server = pki_server.start(tmp_path)
    try:
        signer = load_pkcs12(pki.pkcs12("agency"), b"mat-khau")
        sign_pdf(
            pdfa, signed, signer, agency_name=AGENCY, level="B-LT", tsa_url=pki.tsa_url, trust_roots=[pki.root_pem]
        )
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    report = verify_pdf(signed, [pki.root_pem])
    [sig] = report.signatures
    assert report.ok and sig.level == "PAdES B-LT" and sig.revocation == "good (embedded OCSP/CRL)"
    status = check_pdfa(signed)
    assert status.passed and status.flavour == "1b", status.findings
    preflight_report = preflight(signed)
    assert preflight_report.passed, [str(e) for e in preflight_report.errors]


@pytest.mark.slow  # OCR, and the test PKI served on loopback
def test_pdfa_1b_stays_valid_at_b_lta(page_png: Path, tmp_path: Path) -> None:
    """B-LTA's document time stamp on PDF/A-1: pyHanko writes it with a plain writer (PDF 1.7,
    Info and XMP out of step, no dc schema) in a field without appearance (Preflight 5.3.1).
    sign_pdf signs at B-LT and seals with the PDF/A-1 writer, the field made in the
    signature's revision with an empty appearance, so the seal is still only an LTA update."""
    import pki_server
    from digitize import Source, digitize

    pdfa, signed = tmp_path / "1b.pdf", tmp_path / "lta.pdf"
    digitize([Source(page_png, page_png.name)], pdfa, title="Đơn", tessdata=ROOT / "ocr-models", flavour="1b")
    pki, _thread, server = pki_server.start(tmp_path)
    try:
        signer = load_pkcs12(pki.pkcs12("agency"), b"mat-khau")
        result = sign_pdf(
            pdfa, signed, signer, agency_name=AGENCY, level="B-LTA", tsa_url=pki.tsa_url, trust_roots=[pki.root_pem]
        )
    finally:
        server.shutdown()  # type: ignore[attr-defined]
    assert result["level"] == "PAdES B-LTA"
    report = verify_pdf(signed, [pki.root_pem])  # offline: only what the file holds
    [sig] = report.signatures
    assert report.ok and report.pdfa_valid and sig.level == "PAdES B-LTA", report.pdfa_findings
    assert sig.revocation == "good (embedded OCSP/CRL)" and sig.modification_level == "LTA_UPDATES"
    with signed.open("rb") as f:  # the document time stamp itself, against the file's own DSS
        reader = PdfFileReader(f)
        [doc_ts] = reader.embedded_timestamp_signatures
        context = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": load_roots([pki.root_pem]), "allow_fetching": False, "revocation_mode": "hard-fail"}
        )
        ts = validate_pdf_timestamp(doc_ts, validation_context=context)
        assert ts.intact and ts.valid and ts.trusted and ts.coverage.name == "ENTIRE_FILE"
        assert reader.input_version == (1, 4) and "/Version" not in reader.root
    status = check_pdfa(signed)
    assert status.passed and status.flavour == "1b", status.findings
    preflight_report = preflight(signed)
    assert preflight_report.passed, [str(e) for e in preflight_report.errors]
    # poppler 22 checks the signature; a document time stamp (ETSI.RFC3161) it lists unverified.
    out = subprocess.run(["pdfsig", str(signed)], capture_output=True, text=True).stdout
    assert out.count("Signature is Valid") == 1 and "Timestamp-" in out and "Invalid" not in out, out


def test_visible_stamp_shows_agency_and_vietnam_time(signed: Path) -> None:
    # The stamp sits at the top right of page 1: crop that corner.
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "1", "-x", "300", "-y", "0", "-W", "300", "-H", "80", str(signed), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Ký bởi: {AGENCY}" in text
    assert re.search(r"Thời gian ký: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", text)


def test_untrusted_root_is_reported(signed: Path) -> None:
    report = verify_pdf(signed, [])
    assert report.signatures[0].intact and not report.signatures[0].trusted
    assert not report.ok and "không thuộc chứng thư tin cậy" in report.verdict_vi


def test_change_after_signing_is_detected(signed: Path, pki_dir: Path, tmp_path: Path) -> None:
    data = bytearray(signed.read_bytes())
    at = data.index(b"/Title")
    data[at + 12] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    report = verify_pdf(tampered, [ensure_demo_pki(pki_dir, AGENCY).root_cert])
    assert not report.signatures[0].intact and not report.ok
    assert report.verdict_en.startswith("WARNING")
    out = subprocess.run(["pdfsig", str(tampered)], capture_output=True, text=True).stdout
    assert "Signature is Valid" not in out


def test_second_signature_keeps_the_first_valid(signed: Path, pki_dir: Path, tmp_path: Path) -> None:
    twice = tmp_path / "twice.pdf"
    sign_pdf(signed, twice, agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY), agency_name=AGENCY)
    report = verify_pdf(twice, [ensure_demo_pki(pki_dir, AGENCY).root_cert])
    assert [s.field for s in report.signatures] == ["Sig1", "Sig2"]
    assert all(s.intact and s.valid for s in report.signatures)
    assert report.signatures[0].coverage == "ENTIRE_REVISION"


def test_wrong_password_is_a_clear_error(pki_dir: Path) -> None:
    pki = ensure_demo_pki(pki_dir, AGENCY)
    with pytest.raises(WrongPassword) as e:
        load_pkcs12(pki.agency_p12, b"not-the-password")
    assert e.value.field == "password" and "mật khẩu" in e.value.vi


def test_non_pdf_and_encrypted_input_leave_no_output(pki_dir: Path, tmp_path: Path) -> None:
    import pikepdf

    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    text = tmp_path / "note.pdf"
    text.write_text("hello")
    locked = tmp_path / "locked.pdf"
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    for src in (text, locked):
        out = tmp_path / f"out-{src.stem}.pdf"
        with pytest.raises(NotAPdf, match=src.name):
            sign_pdf(src, out, signer, agency_name=AGENCY)
        assert not out.exists()
        assert not list(tmp_path.glob(".signing-*"))


def test_result_signed_by_signer_then_organization_in_fields_made_first(
    digitized_pdf: Path, pki_dir: Path, tmp_path: Path
) -> None:
    from pyhanko.sign.fields import MDPPerm

    from signing.sign import add_signature_fields

    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    roots = [ensure_demo_pki(pki_dir, AGENCY).root_cert]
    blank = tmp_path / "o-ky.pdf"
    add_signature_fields(digitized_pdf, blank, [("NguoiKy", (330, 90, 560, 130)), ("CoQuan", (60, 90, 290, 130))])
    first, second = tmp_path / "1.pdf", tmp_path / "2.pdf"
    sign_pdf(blank, first, signer, agency_name="Chủ tịch UBND xã", field="NguoiKy", certify=MDPPerm.FILL_FORMS)
    sign_pdf(first, second, signer, agency_name=AGENCY, field="CoQuan")
    report = verify_pdf(second, roots)
    assert [s.field for s in report.signatures] == ["NguoiKy", "CoQuan"]
    assert all(s.intact and s.valid for s in report.signatures) and report.ok
    assert report.signatures[0].modification_level == "FORM_FILLING"  # the organization only filled its field
    assert check_pdfa(second).passed
    out = subprocess.run(["pdfsig", str(second)], capture_output=True, text=True).stdout
    assert out.count("Signature is Valid") == 2
    with pytest.raises(SigningError) as e:
        sign_pdf(second, tmp_path / "3.pdf", signer, agency_name=AGENCY, field="CoQuan")
    assert e.value.field == "field" and not (tmp_path / "3.pdf").exists()


def test_a_document_certified_no_changes_cannot_be_signed_again(
    digitized_pdf: Path, pki_dir: Path, tmp_path: Path
) -> None:
    from pyhanko.sign.fields import MDPPerm

    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    locked = tmp_path / "khoa.pdf"
    sign_pdf(digitized_pdf, locked, signer, agency_name=AGENCY, certify=MDPPerm.NO_CHANGES)
    with pytest.raises(SigningError) as e:
        sign_pdf(locked, tmp_path / "o.pdf", signer, agency_name=AGENCY)
    assert e.value.field == "document" and "không cho phép thay đổi" in e.value.vi
    assert not (tmp_path / "o.pdf").exists()


def test_issued_result_signature_image_then_seal_over_its_left_third(
    digitized_pdf: Path, pki_dir: Path, tmp_path: Path
) -> None:
    import datetime as dt

    from PIL import Image, ImageDraw

    from signing.appearance import issued_result_stamps
    from signing.sign import add_signature_fields

    signature_png, seal_png = tmp_path / "chu-ky.png", tmp_path / "con-dau.png"
    sig = Image.new("RGBA", (600, 240), (0, 0, 0, 0))
    ImageDraw.Draw(sig).line([(20, 180), (200, 40), (320, 200), (580, 60)], fill=(20, 40, 200, 255), width=14)
    sig.save(signature_png)
    seal = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(seal).ellipse([10, 10, 390, 390], outline=(220, 20, 20, 255), width=40)
    seal.save(seal_png)
    signer_stamp, seal_stamp = issued_result_stamps(
        (300, 100, 540, 200), "Nguyễn Văn An", "UBND xã Hòa Bình", dt.datetime.now(dt.UTC), signature_png, seal_png
    )
    seal = round(36 * 72 / 25.4)
    assert seal_stamp.box[3] - seal_stamp.box[1] == seal  # the seal at real size, its text to its right
    blank, first, second = tmp_path / "o.pdf", tmp_path / "1.pdf", tmp_path / "2.pdf"
    add_signature_fields(digitized_pdf, blank, [("NguoiKy", signer_stamp.box), ("ConDau", seal_stamp.box)])
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    sign_pdf(blank, first, signer, agency_name=AGENCY, field="NguoiKy", stamp=signer_stamp)
    sign_pdf(first, second, signer, agency_name=AGENCY, field="ConDau", stamp=seal_stamp)
    report = verify_pdf(second, [ensure_demo_pki(pki_dir, AGENCY).root_cert])
    assert [s.field for s in report.signatures] == ["NguoiKy", "ConDau"] and report.ok
    assert check_pdfa(second).passed
    text = subprocess.run(["pdftotext", str(second), "-"], capture_output=True, text=True).stdout
    assert "Nguyễn Văn An" in text and "UBND xã Hòa Bình" in text
    subprocess.run(["pdftoppm", "-r", "72", "-f", "1", "-l", "1", "-png", str(second), str(tmp_path / "r")], check=True)
    page = Image.open(next(tmp_path.glob("r*.png"))).convert("RGB")
    height = page.height

    def colour(x: float, y: float) -> tuple[int, int, int]:
        return page.getpixel((round(x), round(height - y)))  # type: ignore[return-value]

    cx = seal_stamp.box[0] + seal / 2
    ring = colour(cx, seal_stamp.box[3] - 4)  # top of the seal's ring
    assert ring[0] > 150 and ring[2] < 120, ring  # red, drawn over the signature's left third
    assert seal_stamp.box[0] < 300 + 240 / 3 < seal_stamp.box[0] + seal
    import pikepdf

    with pikepdf.open(second) as pdf:  # the seal's widget comes last, so it is drawn over the signature
        assert [str(a.get("/T")) for a in pdf.pages[0].Annots] == ["NguoiKy", "ConDau"]

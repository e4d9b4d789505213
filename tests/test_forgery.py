"""A document changed after signing never verifies: forgeries made as an attacker would (an
incremental update after the last signature), on one and two signatures, PDF/A-1b and 2b."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers

from conftest import ROOT, SOHOA
from forgeries import FORGERIES, encrypt_signature_contents, forge, remove_page, white_box
from signing import agency_signer, sign_pdf, verify_pdf
from signing.demo_pki import ensure_demo_pki

AGENCY = "UBND xã Hòa Bình"

# What each forgery must be reported as, in the Vietnamese verdict.
SAID = {
    "white-box": "nội dung trang 1 bị thay đổi",
    "swap-image": "hình ảnh hoặc phông chữ trang 1 bị thay đổi",
    "add-page": "số trang đổi từ 2 thành 3",
    "cover-with-annotation": "chú thích (annotation) trang 1 bị thay đổi",
    "change-signature-value": "chữ ký Sig1 đã bị xóa hoặc thay thế",
    "overlay-empty-field": "trường biểu mẫu Overlay bị thêm hoặc sửa",
}


@pytest.fixture(scope="module")
def roots(pki_dir: Path) -> list[Path]:
    return [ensure_demo_pki(pki_dir, AGENCY).root_cert]


@pytest.fixture(scope="module")
def signed_files(
    page_png: Path, pki_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, int], Path]:
    """Two-page PDF/A-1b and 2b documents with one and with two agency signatures."""
    from digitize import Source, digitize

    folder = tmp_path_factory.mktemp("signed-for-forgery")
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    made = {}
    for flavour in ("1b", "2b"):
        pdfa = folder / f"{flavour}.pdf"
        pages = [Source(page_png, "1.png"), Source(page_png, "2.png")]
        digitize(pages, pdfa, title="Đơn", tessdata=ROOT / "ocr-models", flavour=flavour, jobs=2)
        once, twice = folder / f"{flavour}-1.pdf", folder / f"{flavour}-2.pdf"
        sign_pdf(pdfa, once, signer, agency_name=AGENCY)
        sign_pdf(once, twice, signer, agency_name=AGENCY)
        made[flavour, 1], made[flavour, 2] = once, twice
    return made


@pytest.mark.parametrize("flavour", ["1b", "2b"])
@pytest.mark.parametrize("signatures", [1, 2])
@pytest.mark.parametrize("name", [*FORGERIES, "remove-page"])
def test_a_forgery_never_verifies(
    signed_files: dict[tuple[str, int], Path],
    roots: list[Path],
    tmp_path: Path,
    flavour: str,
    signatures: int,
    name: str,
) -> None:
    signed = signed_files[flavour, signatures]
    assert verify_pdf(signed, roots).ok  # the genuine file verifies
    forgery = remove_page if name == "remove-page" else FORGERIES[name]
    forged = forge(signed, tmp_path / f"{name}.pdf", forgery)
    report = verify_pdf(forged, roots)
    assert not report.ok and report.changed_after_signing
    assert report.to_dict()["ok"] is False
    assert report.verdict_vi.startswith("CẢNH BÁO") and report.verdict_en.startswith("WARNING")
    last = f"Sig{signatures}"
    if name == "remove-signature":  # the last signature is gone from the file
        assert f"chữ ký {last} đã bị xóa hoặc thay thế" in report.verdict_vi
        assert report.lost_signatures == [last] and len(report.signatures) == signatures - 1
        return
    # Every signature still checks cryptographically: only the difference analysis tells.
    assert all(s.intact and s.valid and s.trusted for s in report.signatures)
    said = SAID.get(name, "số trang đổi từ 2 thành 1")
    assert said in report.verdict_vi, report.verdict_vi
    if name != "change-signature-value":
        assert f"thay đổi sau chữ ký {last} (UBND xã Hòa Bình" in report.verdict_vi, report.verdict_vi
        assert f"changed after signature {last}" in report.verdict_en
        assert all(s.changed_after for s in report.signatures)


def test_a_change_between_two_signatures_is_named_after_the_first(
    signed_files: dict[tuple[str, int], Path], roots: list[Path], pki_dir: Path, tmp_path: Path
) -> None:
    """A white box added after the officer signed, then the agency signed the forged file in good
    faith: the second signature is sound, the first one tells."""
    forged = forge(signed_files["2b", 1], tmp_path / "forged.pdf", white_box)
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    sign_pdf(forged, tmp_path / "then-signed.pdf", signer, agency_name=AGENCY)
    report = verify_pdf(tmp_path / "then-signed.pdf", roots)
    first, second = report.signatures
    assert first.changed_after and not second.changed_after and second.ok
    assert not report.ok and "thay đổi sau chữ ký Sig1" in report.verdict_vi
    assert [c.vi for c in first.changes] == ["nội dung trang 1 bị thay đổi"]


def test_later_signatures_keep_a_document_valid(signed_files: dict[tuple[str, int], Path], roots: list[Path]) -> None:
    for (_flavour, count), path in signed_files.items():
        report = verify_pdf(path, roots)
        assert report.ok and not report.changed_after_signing and len(report.signatures) == count
        assert report.signatures[0].modification_level == ("NONE" if count == 1 else "FORM_FILLING")


def test_cli_and_api_say_changed_after_signing(
    signed_files: dict[tuple[str, int], Path], roots: list[Path], tmp_path: Path, data_dir: Path
) -> None:
    forged = forge(signed_files["2b", 1], tmp_path / "forged.pdf", white_box)
    cmd = [SOHOA, "verify", str(forged), "--trust-root", str(roots[0])]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 1, out.stdout
    assert "tài liệu đã bị thay đổi sau chữ ký Sig1" in out.stdout and "changed after signature Sig1" in out.stdout
    as_json = json.loads(subprocess.run([*cmd, "--json"], capture_output=True, text=True).stdout)
    assert as_json["ok"] is False and as_json["changed_after_signing"] is True
    assert as_json["signatures"][0]["changes"] == [
        {"vi": "nội dung trang 1 bị thay đổi", "en": "the content of page 1 changed"}
    ]
    genuine = subprocess.run([SOHOA, "verify", str(signed_files["2b", 1]), "--trust-root", str(roots[0])])
    assert genuine.returncode == 0


def _plain_pdf(path: Path) -> Path:
    """A letter as an office suite exports it: not PDF/A."""
    with pikepdf.new() as pdf:
        pdf.add_blank_page(page_size=(595, 842))
        font = pdf.make_indirect(
            pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
        )
        page = pdf.pages[0]
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.Contents = pdf.make_stream(b"BT /F1 14 Tf 72 760 Td (Quyet dinh so 125/QD-UBND) Tj ET")
        pdf.save(path)
    return path


def _owner_locked(src: Path, out: Path, *algorithm: str) -> Path:
    """Encrypted with an empty user password and an owner password that forbids editing."""
    subprocess.run(
        ["qpdf", "--allow-weak-crypto", "--encrypt", "", "chu-so-huu", *algorithm, "--modify=none", "--",
         str(src), str(out)],
        check=True,
    )  # fmt: skip
    return out


def _sign_as_issuer(src: Path, out: Path, pki_dir: Path) -> Path:
    """Signed as another agency's tool would, on the encrypted file (pyHanko opens it as its user)."""
    signer = agency_signer(None, None, pki_dir=pki_dir, agency_name=AGENCY)
    with src.open("rb") as f:
        writer = IncrementalPdfFileWriter(f, strict=False)
        writer.encrypt(b"")
        meta = signers.PdfSignatureMetadata(field_name="Signature1", md_algorithm="sha256")
        with out.open("wb") as o:
            signers.PdfSigner(meta, signer=signer.signer).sign_pdf(writer, output=o)
    return out


@pytest.mark.parametrize("algorithm", [["256"], ["128", "--use-aes=y"], ["128", "--use-aes=n"]])
def test_owner_password_documents_are_verified(
    pki_dir: Path, roots: list[Path], tmp_path: Path, algorithm: list[str]
) -> None:
    locked = _owner_locked(_plain_pdf(tmp_path / "plain.pdf"), tmp_path / "locked.pdf", *algorithm)
    signed = _sign_as_issuer(locked, tmp_path / "signed.pdf", pki_dir)
    report = verify_pdf(signed, roots)
    assert report.encrypted and report.pdfa is None
    assert report.ok, report.verdict_en
    assert report.verdict_vi.startswith("Cả 1 chữ ký hợp lệ và tin cậy; tệp không khai báo PDF/A")
    # A change made after signing is caught in an encrypted file too.
    with signed.open("rb") as f:
        writer = IncrementalPdfFileWriter(f, strict=False)
        writer.encrypt(b"")
        white_box(writer)
        with (tmp_path / "forged.pdf").open("wb") as o:
            writer.write(o)
    forged = verify_pdf(tmp_path / "forged.pdf", roots)
    assert not forged.ok and "nội dung trang 1 bị thay đổi" in forged.verdict_vi


def test_an_encrypted_pdfa_is_not_valid_pdfa(
    digitized_pdf: Path, pki_dir: Path, roots: list[Path], tmp_path: Path
) -> None:
    signed = _sign_as_issuer(_owner_locked(digitized_pdf, tmp_path / "locked.pdf", "256"), tmp_path / "s.pdf", pki_dir)
    report = verify_pdf(signed, roots)
    assert all(s.ok for s in report.signatures) and report.pdfa == "2b"
    assert not report.pdfa_valid and not report.ok
    assert any("encrypted" in f for f in report.pdfa_findings)


def test_signature_contents_encrypted_against_the_standard_are_named(
    pki_dir: Path, roots: list[Path], tmp_path: Path
) -> None:
    locked = _owner_locked(_plain_pdf(tmp_path / "plain.pdf"), tmp_path / "locked.pdf", "128", "--use-aes=n")
    signed = _sign_as_issuer(locked, tmp_path / "signed.pdf", pki_dir)
    assert verify_pdf(signed, roots).ok
    broken = encrypt_signature_contents(signed, tmp_path / "nonstandard.pdf")
    report = verify_pdf(broken, roots)  # no exception: a report that says what is wrong
    [sig] = report.signatures
    assert not sig.ok and not report.ok
    assert "mã hóa nội dung chữ ký" in sig.problems[0].vi and "ISO 32000-1" in sig.problems[0].en
    assert "chữ ký Signature1 không hợp lệ" in report.verdict_vi and "mã hóa nội dung chữ ký" in report.verdict_vi


def test_a_password_to_open_is_a_clear_error(digitized_pdf: Path, roots: list[Path], tmp_path: Path) -> None:
    from signing.errors import NotAPdf

    locked = tmp_path / "mat-khau.pdf"
    subprocess.run(["qpdf", "--encrypt", "mo-tep", "chu", "256", "--", str(digitized_pdf), str(locked)], check=True)
    with pytest.raises(NotAPdf) as e:
        verify_pdf(locked, roots)
    assert e.value.field == "mat-khau.pdf" and "mật khẩu mở tệp" in e.value.vi

"""PAdES levels against a real test PKI: certomancer's TSA, OCSP and CRLs served on loopback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader

import pki_server
from digitize.validate import check_pdfa
from service import scans
from service.context import context
from service.run import run_job
from service.views import ScanResult
from signing import load_pkcs12, sign_pdf, verify_pdf
from signing.errors import CertificateUnusable, SigningError

AGENCY = "UBND xã Hòa Bình"
PASSWORD = b"mat-khau"


def sign(pki: pki_server.TestPki, src: Path, out: Path, level: str, label: str = "agency", tsa: str = "") -> dict:
    signer = load_pkcs12(pki.pkcs12(label, PASSWORD), PASSWORD)
    return sign_pdf(
        src, out, signer, agency_name=AGENCY, level=level, tsa_url=tsa or pki.tsa_url, trust_roots=[pki.root_pem]
    )


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
def test_levels_sign_and_verify_offline(pki, digitized_pdf: Path, tmp_path: Path, level: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / f"{level}.pdf"
    assert sign(pki, digitized_pdf, out, level)["level"] == f"PAdES {level}"
    report = verify_pdf(out, [pki.root_pem])  # verification never fetches: only what the file holds
    [sig] = report.signatures
    assert sig.intact and sig.valid and sig.trusted and report.ok
    assert sig.level == f"PAdES {level}"
    assert sig.timestamp_time is not None and sig.timestamp_time.endswith("+07:00")
    assert sig.revocation == (
        "not checked (no embedded revocation data)" if level == "B-T" else "good (embedded OCSP/CRL)"
    )
    assert "UBND xã Hòa Bình" in sig.signer and "CA trung gian thử nghiệm" in " ".join(sig.issuer_chain)
    status = check_pdfa(out)
    assert status.passed, status.findings
    subprocess.run(["qpdf", "--check", str(out)], check=True, capture_output=True)


def test_openssl_verifies_the_signed_byte_ranges(pki, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "lt.pdf"
    sign(pki, digitized_pdf, out, "B-LT")
    data = out.read_bytes()
    with out.open("rb") as f:
        sig = PdfFileReader(f).embedded_regular_signatures[0].sig_object
        byte_range = list(sig["/ByteRange"])
        der = cms.ContentInfo.load(bytes(sig["/Contents"]), strict=False).dump()
    (tmp_path / "sig.der").write_bytes(der)
    content = tmp_path / "signed.bin"
    content.write_bytes(b"".join(data[o : o + n] for o, n in zip(byte_range[::2], byte_range[1::2], strict=True)))
    cmd = [
        "openssl",
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "sig.der"),
        "-content",
        str(content),
        "-CAfile",
        str(pki.root_pem),
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification successful" in ok.stderr, ok.stderr
    content.write_bytes(content.read_bytes().replace(b"/Title", b"/Titlf", 1))  # one byte of the signed range
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode != 0


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("revoked", "thu hồi"),
        ("expired", "hết hạn"),
        ("no-signing", "không được dùng để ký"),
        ("future", "chưa có hiệu lực"),
    ],
)
def test_unusable_certificates_are_refused_and_nothing_is_written(
    pki,
    digitized_pdf: Path,
    tmp_path: Path,
    label: str,
    words: str,  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "o.pdf"
    with pytest.raises(CertificateUnusable) as e:
        sign(pki, digitized_pdf, out, "B-LT", label=label)
    assert words in e.value.vi and e.value.field == "certificate"
    assert not out.exists() and not list(tmp_path.glob(".signing-*"))


def test_unreachable_ocsp_and_crl_refuse_b_lt(pki, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A second PKI, shut down before signing: its certificate's OCSP and CRL do not answer."""
    folder = tmp_path / "gone-pki"
    folder.mkdir()
    gone, _thread, server = pki_server.start(folder)
    server.shutdown()  # type: ignore[attr-defined]
    signer = load_pkcs12(gone.pkcs12("agency", PASSWORD), PASSWORD)
    out = tmp_path / "o.pdf"
    with pytest.raises(CertificateUnusable) as e:
        sign_pdf(
            digitized_pdf,
            out,
            signer,
            agency_name=AGENCY,
            level="B-LT",
            tsa_url=pki.tsa_url,
            trust_roots=[gone.root_pem],
        )
    assert "thu hồi" in e.value.vi and not out.exists()


def test_unreachable_or_missing_tsa(pki, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "o.pdf"
    with pytest.raises(SigningError) as e:
        sign(pki, digitized_pdf, out, "B-T", tsa="http://127.0.0.1:9/tsa")  # nothing listens on port 9
    assert e.value.field == "tsa_url" and "127.0.0.1:9" in e.value.vi
    signer = load_pkcs12(pki.pkcs12("agency", PASSWORD), PASSWORD)
    with pytest.raises(SigningError) as e:
        sign_pdf(digitized_pdf, out, signer, agency_name=AGENCY, level="B-LT", tsa_url="")
    assert e.value.field == "tsa_url"
    assert not out.exists()


def test_service_signs_at_b_lt_when_a_tsa_is_configured(  # type: ignore[no-untyped-def]
    pki, data_dir: Path, page_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    password = data_dir.parent / "p12.password"
    password.write_bytes(PASSWORD)
    monkeypatch.setenv("SOHOA_SIGNING_PKCS12", str(pki.pkcs12("agency", PASSWORD)))
    monkeypatch.setenv("SOHOA_SIGNING_PKCS12_PASSWORD_FILE", str(password))
    monkeypatch.setenv("SOHOA_TSA_URL", pki.tsa_url)
    monkeypatch.setenv("SOHOA_TRUST_ROOTS", str(pki.root_pem))
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    ctx = context()
    job, _ = scans.accept_scan(ctx, "000.00.12.H12-250527-0001", page_png, page_png.name)
    run_job(ctx, job.id)
    view = scans.get_job(ctx, job.id)
    assert view.status == "done" and isinstance(view.result, ScanResult), view.error
    assert view.result.signed is not None
    assert view.result.signed.level == "PAdES B-LT" and view.result.signed.note is None


def test_the_ocsp_responder_the_settings_name(pki, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A certificate that names no OCSP responder gets no OCSP answer in its B-LT signature;
    with SOHOA_OCSP_URL its CA's responder is asked, and its answer is embedded (DSS) and
    verifies offline. An unreachable responder changes nothing (the certificate's own URLs)."""
    import pikepdf

    signer = load_pkcs12(pki.pkcs12("no-aia", PASSWORD), PASSWORD)
    args = {"agency_name": AGENCY, "level": "B-LT", "tsa_url": pki.tsa_url, "trust_roots": [pki.root_pem]}

    def ocsp_answers(path: Path) -> int:
        with pikepdf.open(path) as pdf:
            return len(pdf.Root.DSS.get("/OCSPs", []))

    plain, down, named = tmp_path / "plain.pdf", tmp_path / "down.pdf", tmp_path / "named.pdf"
    sign_pdf(digitized_pdf, plain, signer, **args)
    sign_pdf(digitized_pdf, down, signer, **args, ocsp_url="http://127.0.0.1:9/ocsp")  # nothing listens
    sign_pdf(digitized_pdf, named, signer, **args, ocsp_url=f"{pki.url}/sohoa/ocsp/interm")
    assert ocsp_answers(plain) == ocsp_answers(down) == 0 < ocsp_answers(named)
    report = verify_pdf(named, [pki.root_pem])
    [sig] = report.signatures
    assert report.ok and sig.revocation == "good (embedded OCSP/CRL)", report.to_dict()

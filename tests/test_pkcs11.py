"""The agency key on a PKCS#11 token: SoftHSM2, as an HSM or a USB token would hold it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import MODULE
from signing import sign_pdf, verify_pdf
from signing.errors import CertificateUnusable, WrongPassword
from signing.signers import Pkcs11Config, load_pkcs11


def test_sign_with_the_key_on_the_token(token, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    test_pki, pin_file = token
    signer = load_pkcs11(Pkcs11Config(MODULE, "sohoa", "agency", pin_file))
    assert "UBND xã Hòa Bình" in signer.subject and not signer.demo
    out = tmp_path / "token.pdf"
    info = sign_pdf(
        digitized_pdf,
        out,
        signer,
        agency_name="UBND xã Hòa Bình",
        level="B-LT",
        tsa_url=test_pki.tsa_url,
        trust_roots=[test_pki.root_pem],
    )
    assert info["level"] == "PAdES B-LT"
    signer.signer.pkcs11_session.close()  # type: ignore[attr-defined]  # logs the application out
    report = verify_pdf(out, [test_pki.root_pem])
    assert report.ok and report.signatures[0].revocation == "good (embedded OCSP/CRL)"


def test_wrong_pin_and_missing_key(token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    wrong = tmp_path / "pin"
    wrong.write_text("000000")
    with pytest.raises(WrongPassword) as e:
        load_pkcs11(Pkcs11Config(MODULE, "sohoa", "agency", wrong))
    assert e.value.field == "pin" and "PIN" in e.value.vi
    with pytest.raises(CertificateUnusable) as e:
        load_pkcs11(Pkcs11Config(MODULE, "sohoa", "khong-co", token[1]))
    assert "khong-co" in e.value.vi
    with pytest.raises(CertificateUnusable):
        load_pkcs11(Pkcs11Config(MODULE, "khong-co-token", "agency", token[1]))

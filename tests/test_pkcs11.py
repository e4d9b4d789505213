"""The agency key on a PKCS#11 token: SoftHSM2, as an HSM or a USB token would hold it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest
from asn1crypto import pem
from certomancer.registry import CertLabel, KeyLabel
from pkcs11 import Attribute, CertificateType, ObjectClass

import pki_server
from signing import sign_pdf, verify_pdf
from signing.errors import CertificateUnusable, WrongPassword
from signing.signers import Pkcs11Config, load_pkcs11

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN, SO_PIN = "123456", "654321"


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pki_server.TestPki, Path]]:
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read when the library starts: once per process
    test_pki, _thread, server = pki_server.start(tmp_path_factory.mktemp("pki"))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "sohoa", "--pin", PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
    )
    key = folder / "agency.key.pem"
    key.write_bytes(pem.armor("PRIVATE KEY", test_pki.arch.key_set.get_private_key(KeyLabel("agency")).dump()))
    subprocess.run(
        ["softhsm2-util", "--import", str(key), "--token", "sohoa", "--label", "agency", "--id", "01", "--pin", PIN],
        check=True,
        capture_output=True,
    )
    key.unlink()  # from now on the key lives only in the token
    with pkcs11.lib(str(MODULE)).get_token(token_label="sohoa").open(rw=True, user_pin=PIN) as session:
        for label, object_id in (("agency", b"\x01"), ("interm", b"\x02")):  # the certificate and its CA
            cert = test_pki.arch.get_cert(CertLabel(label))
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.LABEL: label,
                    Attribute.ID: object_id,
                    Attribute.VALUE: cert.dump(),
                    Attribute.SUBJECT: cert.subject.dump(),
                    Attribute.ISSUER: cert.issuer.dump(),
                    Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
                }
            )
    pin_file = folder / "pin"
    pin_file.write_text(PIN)
    yield test_pki, pin_file
    server.shutdown()  # type: ignore[attr-defined]


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

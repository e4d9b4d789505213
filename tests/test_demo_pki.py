"""The demo PKI signs at B-LT out of the box: its own time-stamping authority and CRL, no
server, every signature and note marked DEMO; a configured TSA or key takes precedence."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
from asn1crypto import cms, crl

from service import audit as audit_log
from service import options
from service.context import context
from service.settings import Settings
from signing import sign_pdf, verify_pdf
from signing.demo_pki import demo_crl, demo_tsa, ensure_demo_pki


def test_a_fresh_install_signs_at_b_lt_and_verifies_offline(data_dir: Path, digitized_pdf: Path) -> None:
    ctx = context()
    profile = ctx.signing()
    assert profile.level == "B-LT" and profile.demo_pki == data_dir / "pki" and "DEMO" in profile.note
    out = data_dir / "ky.pdf"
    info = sign_pdf(digitized_pdf, out, ctx.signer(), **profile.sign_kwargs())
    assert info["level"] == "PAdES B-LT"
    report = verify_pdf(out, ctx.trust_roots())  # nothing fetched: what the file holds
    [signature] = report.signatures
    assert report.ok and signature.level == "PAdES B-LT" and signature.revocation == "good (embedded OCSP/CRL)"
    assert signature.timestamp_time is not None and signature.timestamp_time.endswith("+07:00")
    tsa = demo_tsa(ensure_demo_pki(data_dir / "pki", "x"))
    assert tsa is not None and "DEMO" in tsa[0].subject.human_friendly


def test_a_configured_tsa_or_key_is_never_mixed_with_the_demo_s(data_dir: Path, tmp_path: Path) -> None:
    with_tsa = options.signing_profile(Settings(data_dir=data_dir, tsa_url="http://tsa.example/"))
    assert with_tsa.demo_pki is None and with_tsa.level == "B-LT" and with_tsa.note == ""
    own_key = options.signing_profile(Settings(data_dir=data_dir, signing_pkcs12=tmp_path / "co-quan.p12"))
    assert own_key.demo_pki is None and own_key.level == "B-B" and "B-B" in own_key.note
    assert options.signing_profile(Settings(data_dir=data_dir), demo=False).level == "B-B"


def test_the_demo_crl_is_remade_before_it_runs_out(data_dir: Path) -> None:
    pki = ensure_demo_pki(data_dir / "pki", "UBND")
    first = demo_crl(pki)
    assert first is not None and demo_crl(pki).dump() == first.dump()  # kept while fresh  # type: ignore[union-attr]
    # A CRL with less than half its validity left is replaced by a new one.
    stale = first.copy()
    stale["tbs_cert_list"]["next_update"] = crl.Time(
        name="utc_time", value=dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    )
    (data_dir / "pki" / "demo-root.crl").write_bytes(stale.dump(force=True))
    fresh = demo_crl(pki)
    assert fresh is not None and fresh["tbs_cert_list"]["next_update"].native > dt.datetime.now(dt.UTC) + dt.timedelta(
        days=20
    )


def test_an_older_demo_pki_without_its_root_key_stays_b_b(data_dir: Path) -> None:
    pki = ensure_demo_pki(data_dir / "pki", "UBND")
    (data_dir / "pki" / "demo-root.key").unlink()
    assert demo_tsa(pki) is None and demo_crl(pki) is None
    assert options.signing_profile(Settings(data_dir=data_dir)).level == "B-B"


def test_the_audit_anchor_carries_the_demo_time_stamp(data_dir: Path) -> None:
    from service import access

    ctx = context()
    access.issue(ctx.sessions, "Trạm quét 1", "scanner")
    key = audit_log.anchor(ctx)
    assert key is not None
    with ctx.store.open(key) as f:
        body = json.loads(f.read())
    token = cms.ContentInfo.load(base64.b64decode(body["timestamp_token"]))
    assert token["content_type"].native == "signed_data"


@pytest.fixture(autouse=True)
def _demo_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOHOA_TSA_URL", "SOHOA_SIGNING_PKCS12", "SOHOA_SIGNING_PKCS11_MODULE"):
        monkeypatch.delenv(name, raising=False)

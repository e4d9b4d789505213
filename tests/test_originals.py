"""A PDF that arrives signed is an electronic original: kept byte for byte, its signatures
verified, its text indexed; digitized as images only when a setting says so, with a notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import _clear_caches
from service import dossiers, scans
from service.context import context
from service.run import run_job
from service.search import search
from service.signatures import verify_document
from service.views import ScanResult
from signing.sign import sign_pdf

CODE = "000.00.12.H12-250527-0001"
pytestmark = pytest.mark.slow  # a digitized page, signed


def _signed_result(digitized_pdf: Path, tmp_path: Path) -> Path:
    """A decision another agency issued, signed by it."""
    signed = tmp_path / "quyet-dinh.pdf"
    sign_pdf(digitized_pdf, signed, context().signer())
    return signed


def _digitize(path: Path) -> ScanResult:
    ctx = context()
    job, _ = scans.accept_scan(ctx, CODE, path, path.name)
    run_job(ctx, job.id)
    view = scans.get_job(ctx, job.id)
    assert view.status == "done" and isinstance(view.result, ScanResult), view.error
    return view.result


def test_a_signed_pdf_is_kept_as_the_electronic_original(data_dir: Path, digitized_pdf: Path, tmp_path: Path) -> None:
    original = _signed_result(digitized_pdf, tmp_path)
    result = _digitize(original)
    assert result.pdfa is None and result.electronic is not None
    assert result.electronic.ok and result.electronic.signatures == 1, result.electronic
    assert [n.code for n in result.notices] == ["electronic-original"]
    ctx = context()
    [document] = dossiers.dossier_view(ctx, CODE).documents
    assert document.versions == ["original", "signed"] and document.pages == 1
    version = dossiers.document_version(ctx, CODE, document.id, "signed", actor=None)
    with ctx.store.open(version.key) as f:
        assert f.read() == original.read_bytes()  # byte for byte: its signature still verifies
    assert verify_document(ctx, CODE, document.id, actor="lưu trữ").ok
    hits = search(ctx, "dang ky khai sinh", actor="lưu trữ").hits  # its own text, indexed
    assert [h.dossier_code for h in hits] == [CODE]


def test_a_setting_digitizes_it_as_images_with_a_notice(
    data_dir: Path, digitized_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_SIGNED_PDFS", "digitize")
    _clear_caches()
    result = _digitize(_signed_result(digitized_pdf, tmp_path))
    assert result.pdfa is not None and result.electronic is None
    assert "signatures-not-kept" in [n.code for n in result.notices]

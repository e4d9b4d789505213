"""Shared fixtures: an isolated data directory per test, rendered Vietnamese pages, the demo PKI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
CORPUS = ROOT.parent / "shared" / "corpus" / "scans"

import jobs  # noqa: E402
import service  # noqa: E402
import settings as settings_module  # noqa: E402
from pages import TEXT, save_page  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    if not CORPUS.is_dir():
        raise pytest.UsageError(f"The scan corpus is expected at {CORPUS} (shared/ beside the repository).")


def _clear_caches() -> None:
    settings_module.get_settings.cache_clear()
    service._context.cache_clear()
    service._signer.cache_clear()
    jobs.queue.cache_clear()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SOHOA_DATA_DIR points at a fresh folder; cached settings and contexts are reset."""
    var = tmp_path / "var"
    monkeypatch.setenv("SOHOA_DATA_DIR", str(var))
    monkeypatch.setenv("SOHOA_OCR_JOBS", "2")
    _clear_caches()
    yield var
    _clear_caches()


@pytest.fixture(scope="session")
def page_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_page(tmp_path_factory.mktemp("pages") / "don-khai-sinh.png")


@pytest.fixture(scope="session")
def page_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_page(tmp_path_factory.mktemp("pages") / "don-khai-sinh.jpg", quality=90)


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="session")
def digitized_pdf(tmp_path_factory: pytest.TempPathFactory, page_png: Path) -> Path:
    """One rendered Vietnamese page as PDF/A-2b, made once for the session."""
    from digitize import Source, digitize

    out = tmp_path_factory.mktemp("pdfa") / "don.pdf"
    digitize(
        [Source(page_png, page_png.name)],
        out,
        title="Đơn đăng ký khai sinh",
        identifier="000.00.12.H12-250527-0001",
        tessdata=ROOT / "ocr-models",
        jobs=2,
    )
    return out


__all__ = ["CORPUS", "ROOT", "TEXT"]

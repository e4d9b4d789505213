"""External programs: a missing one names its Debian package, a failing one the program and the file."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import numpy as np
import pikepdf
import pytest
import tifffile

from conftest import ROOT
from digitize import programs, rows
from digitize.errors import CorruptInput, MissingProgram, ProgramFailed
from digitize.ingest import iter_pages

SYSTEM_PATH = os.environ["PATH"]  # where the real programs are, before a test narrows PATH


def _pages(path: Path, tmp_path: Path) -> list:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return list(iter_pages(path, path.name, work, max_pixels=10**8, render_dpi=150))


def _path_with(folder: Path, real: tuple[str, ...] = (), fake: dict[str, str] | None = None) -> str:
    """A PATH of one folder holding only the ``real`` programs and shell scripts for ``fake``."""
    folder.mkdir()
    for name in real:
        found = shutil.which(name, path=SYSTEM_PATH)
        assert found, f"{name} is not installed"
        (folder / name).symlink_to(found)
    for name, script in (fake or {}).items():
        (folder / name).write_text(f"#!/bin/sh\n{script}\n")
        (folder / name).chmod(0o755)
    return str(folder)


def _drawn_pdf(path: Path) -> Path:
    """A page that is not one scanned image: ingest has poppler render it."""
    with pikepdf.new() as pdf:
        pdf.add_blank_page(page_size=(200, 300))
        pdf.save(path)
    return path


def _huge_strip_tiff(path: Path, monkeypatch: pytest.MonkeyPatch, *, broken: bool = False) -> Path:
    """A colour TIFF in one LZW strip, above the size ingest has tiffcp cut into bands."""
    monkeypatch.setattr(rows, "BAND_BYTES", 50_000)
    pixels = np.random.default_rng(3).integers(0, 255, (400, 500, 3)).astype(np.uint8)
    pixels[:, :250] = 240  # half paper, so the strip compresses
    tifffile.imwrite(path, pixels, compression="lzw", rowsperstrip=400, resolution=(300, 300), resolutionunit=2)
    if broken:
        data = bytearray(path.read_bytes())
        data[len(data) // 3 : len(data) // 3 + 3000] = b"\xff" * 3000
        path.write_bytes(bytes(data))
    return path


def test_poppler_missing_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = _drawn_pdf(tmp_path / "to-khai.pdf")
    monkeypatch.setenv("PATH", _path_with(tmp_path / "empty"))
    with pytest.raises(MissingProgram) as err:
        _pages(pdf, tmp_path)
    assert (err.value.program, err.value.package, err.value.status) == ("pdfinfo", "poppler-utils", 500)
    assert "poppler-utils" in err.value.vi and "poppler-utils" in err.value.en
    monkeypatch.setenv("PATH", _path_with(tmp_path / "only-pdfinfo", real=("pdfinfo",)))
    with pytest.raises(MissingProgram, match=r"pdftoppm.*poppler-utils") as err:
        _pages(pdf, tmp_path)
    assert "apt-get install poppler-utils" in err.value.vi


def test_tiffcp_missing_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiff = _huge_strip_tiff(tmp_path / "ban-ve.tif", monkeypatch)
    monkeypatch.setenv("PATH", _path_with(tmp_path / "empty"))
    with pytest.raises(MissingProgram, match=r"tiffcp.*libtiff-tools") as err:
        _pages(tiff, tmp_path)
    assert "libtiff-tools" in err.value.vi and err.value.code == "missing-dependency"


def test_failing_tiffcp_names_the_program_and_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken strip: what tiffcp said, with the file's name where it gave the scratch path."""
    tiff = _huge_strip_tiff(tmp_path / "hong.tif", monkeypatch, broken=True)
    with pytest.raises(ProgramFailed) as err:
        _pages(tiff, tmp_path)
    assert isinstance(err.value, CorruptInput) and err.value.status == 422
    assert err.value.field == "hong.tif, trang 1" and err.value.program == "tiffcp"
    for message in (err.value.vi, err.value.en):
        assert "hong.tif, trang 1" in message and "tiffcp" in message and "scanline" in message
        assert str(tmp_path) not in message


def test_failing_poppler_names_the_program_and_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = _drawn_pdf(tmp_path / "hong.pdf")
    complaint = 'echo "Syntax Error: Couldn\'t read xref table" >&2; exit 1'
    monkeypatch.setenv("PATH", _path_with(tmp_path / "pdfinfo-fails", real=("pdftoppm",), fake={"pdfinfo": complaint}))
    with pytest.raises(ProgramFailed) as err:
        _pages(pdf, tmp_path)
    assert err.value.program == "pdfinfo" and err.value.field == "hong.pdf, trang 1"
    assert "hong.pdf, trang 1" in err.value.en and "Couldn't read xref table" in err.value.en
    monkeypatch.setenv("PATH", _path_with(tmp_path / "pdftoppm-fails", real=("pdfinfo",), fake={"pdftoppm": complaint}))
    with pytest.raises(ProgramFailed, match=r"hong\.pdf, trang 1.*pdftoppm") as err:
        _pages(pdf, tmp_path)
    assert err.value.program == "pdftoppm"


def test_rendering_through_the_wrapper_writes_the_page_to_disk(tmp_path: Path) -> None:
    [page] = _pages(_drawn_pdf(tmp_path / "ve.pdf"), tmp_path)
    assert page.path == tmp_path / "work" / "ve_pdf-00001.png" and page.path.exists()
    assert (page.width, page.height, page.dpi) == (417, 625, (150.0, 150.0))


def test_every_program_has_a_version_probe() -> None:
    for program in programs.PROGRAMS:
        assert programs.version(program)[0].isdigit(), program.name


def _application_code() -> list[Path]:
    """sohoa's own modules: the root's and the packages', not tests, benches or installed ones."""
    skip = {"tests", "bench", "var", "ocr-models"}
    files = list(ROOT.glob("*.py"))
    for folder in ROOT.iterdir():
        if folder.is_dir() and folder.name not in skip and not folder.name.startswith("."):
            files += folder.rglob("*.py")
    return sorted(files)


def test_nothing_else_starts_a_program() -> None:
    """Only digitize/programs.py imports subprocess, pdf2image or shutil.which, or calls os.system."""
    files = _application_code()
    assert ROOT / "digitize" / "programs.py" in files and len(files) > 20
    for path in files:
        if path == ROOT / "digitize" / "programs.py":
            continue
        source = path.read_text()
        tree = ast.parse(source, str(path))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not imported & {"subprocess", "pdf2image", "which", "system", "popen"}, path
        assert not any(call in source for call in ("os.system", "os.popen", "shutil.which", "os.exec")), path


def test_rendering_needs_no_program_but_poppler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pdf2image runs pdfinfo and pdftoppm, nothing else: a PATH of those two is enough."""
    monkeypatch.setenv("PATH", _path_with(tmp_path / "poppler", real=("pdfinfo", "pdftoppm")))
    [page] = _pages(_drawn_pdf(tmp_path / "ve.pdf"), tmp_path)
    assert page.path.exists()

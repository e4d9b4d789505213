"""The OCR models shipped in ocr-models/ are the ones recorded, and Tesseract loads them."""

import hashlib
import subprocess

import pytest

from conftest import ROOT

MODELS = ROOT / "ocr-models"


def test_models_match_their_checksums() -> None:
    lines = (MODELS / "SHA256SUMS").read_text().splitlines()
    assert {line.split()[1] for line in lines} == {"vie.traineddata", "eng.traineddata", "osd.traineddata"}
    for line in lines:
        digest, name = line.split()
        assert hashlib.sha256((MODELS / name).read_bytes()).hexdigest() == digest, name


def test_models_have_provenance() -> None:
    readme = (MODELS / "README.md").read_text()
    for name in ("vie.traineddata", "eng.traineddata", "osd.traineddata"):
        assert name in readme
    assert "Apache-2.0" in readme


@pytest.mark.slow  # runs the tesseract program
def test_tesseract_loads_models_from_the_repository() -> None:
    out = subprocess.run(
        ["tesseract", "--tessdata-dir", str(MODELS), "--list-langs"], capture_output=True, text=True, check=True
    )
    langs = set(out.stdout.split()[1:]) | set(out.stderr.split()[1:])
    assert {"vie", "eng", "osd"} <= langs

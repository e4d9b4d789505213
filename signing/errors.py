"""Errors raised while signing or verifying."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from errors import SohoaError


class SigningError(SohoaError):
    code = "signing"


class WrongPassword(SigningError):
    status = 422
    code = "wrong-password"


class CertificateUnusable(SigningError):
    status = 422
    code = "certificate-unusable"


class NotAPdf(SigningError):
    status = 422
    code = "not-a-pdf"


def require_pdf(f: BinaryIO, path: Path) -> None:
    """Refuse, by its name, a file that does not start as a PDF, before any parser sees it; the
    stream is left at its start."""
    if not f.read(1024).lstrip().startswith(b"%PDF"):
        raise NotAPdf(f"{path.name} không phải tệp PDF.", f"{path.name} is not a PDF file.", field=path.name)
    f.seek(0)

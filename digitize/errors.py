"""Errors raised while turning scans into PDF/A."""

from __future__ import annotations

from errors import SohoaError


class DigitizeError(SohoaError):
    code = "digitize"


class UnsupportedInput(DigitizeError):
    status = 415
    code = "unsupported-type"


class CorruptInput(DigitizeError):
    status = 422
    code = "corrupt-file"


class EncryptedInput(DigitizeError):
    status = 422
    code = "encrypted-pdf"


class ImageTooLarge(DigitizeError):
    status = 413
    code = "image-too-large"


class OcrFailed(DigitizeError):
    status = 500
    code = "ocr-failed"


class MissingDependency(DigitizeError):
    status = 500
    code = "missing-dependency"

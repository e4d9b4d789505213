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


class MissingProgram(MissingDependency):
    """An external program digitize runs is not installed: names the Debian package that has it."""

    def __init__(self, program: str, package: str) -> None:
        super().__init__(
            f"Máy chủ thiếu chương trình {program}: hãy cài gói Debian {package} (apt-get install {package}).",
            f"The program {program} is not installed on the server: install the Debian package {package} "
            f"(apt-get install {package}).",
        )
        self.program, self.package = program, package


class ProgramFailed(CorruptInput):
    """An external program failed on an input file (taken, as before, for a corrupt file: 422)."""

    def __init__(self, program: str, label: str, detail: str) -> None:
        super().__init__(
            f"{label}: chương trình {program} không xử lý được tệp ({detail}).",
            f"{label}: {program} failed on this file ({detail}).",
            field=label,
        )
        self.program = program

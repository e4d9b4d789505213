"""Base error: every failure a user can cause carries a Vietnamese and an English message."""

from __future__ import annotations


class SohoaError(Exception):
    """An error to show to a person; ``field`` names the file, field or page at fault."""

    status = 400
    code = "error"

    def __init__(self, vi: str, en: str, *, field: str | None = None) -> None:
        super().__init__(en)
        self.vi = vi
        self.en = en
        self.field = field
        self.headers: dict[str, str] = {}  # HTTP headers the answer carries (WWW-Authenticate, Content-Range)

    def message(self, lang: str = "vi") -> str:
        return self.en if lang.startswith("en") else self.vi

    def __str__(self) -> str:
        return f"{self.vi} / {self.en}"

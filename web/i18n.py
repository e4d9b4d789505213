"""One message catalogue per language (messages/vi.toml, messages/en.toml): every word a page
shows comes from them. Vietnamese unless the person chose English (``?lang=``, then a cookie)."""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGUAGES = ("vi", "en")
DEFAULT = "vi"
COOKIE = "sohoa_lang"
FOLDER = Path(__file__).resolve().parent / "messages"


@cache
def catalogue(lang: str) -> dict[str, str]:
    with (FOLDER / f"{lang}.toml").open("rb") as f:
        return {k: unicodedata.normalize("NFC", v) for k, v in tomllib.load(f).items()}


def language(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get(COOKIE) or DEFAULT
    return chosen if chosen in LANGUAGES else DEFAULT


class Translator:
    """``t(key, name=…)``: the message in the page's language, its fields filled in."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.messages = catalogue(lang)

    def __call__(self, key: str, **fields: object) -> str:
        return self.messages[key].format(**fields) if fields else self.messages[key]

    def number(self, value: int) -> str:
        """A count as the language writes it: 12.000 in Vietnamese, 12,000 in English."""
        written = f"{value:,}"
        return written.replace(",", ".") if self.lang == "vi" else written

    def pick(self, vi: str, en: str) -> str:
        """A message the service gave in both languages (an error's ``vi`` and ``en``)."""
        return vi if self.lang == "vi" else en

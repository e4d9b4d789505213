"""Vietnamese full-text search over page text: with or without diacritics.

Each page is indexed twice: as written and folded (diacritics removed, đ → d). A query
always matches on the folded form, so "ho so" finds "hồ sơ"; when the query carries
diacritics, pages matching it exactly rank first (bản, bạn, bán, bàn stay apart).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.catalog import Document, Page

_WORD = re.compile(r"\w+", re.UNICODE)


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def fold(value: str) -> str:
    """Lower case without diacritics: 'Đăng ký' → 'dang ky'."""
    decomposed = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower()


def has_diacritics(value: str) -> bool:
    return fold(value) != value.lower()


def words(value: str) -> list[str]:
    return _WORD.findall(nfc(value).lower())


def index_page(session: Session, page: Page) -> None:
    session.execute(text("DELETE FROM page_search WHERE rowid = :id"), {"id": page.id})
    session.execute(
        text("INSERT INTO page_search (rowid, exact, folded) VALUES (:id, :exact, :folded)"),
        {"id": page.id, "exact": nfc(page.text).lower(), "folded": fold(page.text)},
    )


def _fts_query(column: str, tokens: list[str], phrase: bool) -> str:
    quoted = [f'"{t}"' for t in tokens]  # tokens are \w+ only, so quoting is safe
    body = " ".join(quoted) if not phrase else '"' + " ".join(tokens) + '"'
    return f"{column} : ({body})" if not phrase else f"{column} : {body}"


@dataclass
class Hit:
    dossier_code: str
    document_id: int
    page: int
    snippet: str
    exact: bool


def snippet(page_text: str, tokens: list[str], width: int = 12) -> str:
    """A few words around the first match, matched words in «»; diacritics as written."""
    found = [(m.start(), m.end()) for m in _WORD.finditer(page_text)]
    folded_tokens = {fold(t) for t in tokens}
    idx = next((i for i, (a, b) in enumerate(found) if fold(page_text[a:b]) in folded_tokens), 0)
    lo, hi = max(0, idx - width // 2), min(len(found), idx + width // 2 + 1)
    parts = []
    for a, b in found[lo:hi]:
        word = page_text[a:b]
        parts.append(f"«{word}»" if fold(word) in folded_tokens else word)
    prefix = "… " if lo > 0 else ""
    suffix = " …" if hi < len(found) else ""
    return prefix + " ".join(parts) + suffix


def search(session: Session, query: str, *, limit: int = 20, offset: int = 0) -> tuple[int, list[Hit]]:
    """Pages matching every word of ``query`` (a phrase if it is in double quotes)."""
    phrase = query.strip().startswith('"') and query.strip().endswith('"') and len(query.strip()) > 1
    tokens = words(query)
    if not tokens:
        return 0, []
    folded = _fts_query("folded", [fold(t) for t in tokens], phrase)
    exact = _fts_query("exact", tokens, phrase) if has_diacritics(query) else None
    rank_exact = "rowid IN (SELECT rowid FROM page_search WHERE page_search MATCH :exact)" if exact else "0"
    params = {"folded": folded, "exact": exact, "limit": limit, "offset": offset}
    total = session.execute(
        text("SELECT count(*) FROM page_search WHERE page_search MATCH :folded"), params
    ).scalar_one()
    rows = session.execute(
        text(
            f"SELECT rowid, {rank_exact} AS is_exact FROM page_search WHERE page_search MATCH :folded "
            "ORDER BY is_exact DESC, bm25(page_search) LIMIT :limit OFFSET :offset"
        ),
        params,
    ).all()
    hits = []
    for page_id, is_exact in rows:
        page = session.get(Page, page_id)
        if page is None:
            continue
        document = session.get(Document, page.document_id)
        assert document is not None
        hits.append(Hit(document.dossier_code, document.id, page.number, snippet(page.text, tokens), bool(is_exact)))
    return total, hits

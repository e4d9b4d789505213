"""Vietnamese full-text search over page text and dossier metadata: with or without diacritics.

Each page is indexed twice: as written (``exact``: compatibility forms folded (NFKC: full-width
letters are letters), lower case, one tone placement: hòa and hoà, thúy and thuý, ủy and uỷ are
one word) and folded (diacritics removed, đ → d). A query always matches on the folded form, so
"ho so" finds "hồ sơ"; when a query word carries diacritics, pages where it matches as typed
rank first (bản, bạn, bán, bàn stay apart). Within each of these two tiers the newest page
(highest id) comes first.

The same answers on both engines: tokens are made here, in Python, and never by the
database. SQLite FTS5 gets them joined by spaces (its unicode61 tokenizer splits them back
into exactly these tokens); PostgreSQL gets tsvector and tsquery literals built from them
(never ``to_tsvector``, whose parser and dictionaries depend on the server's configuration).
Positions follow the token list on both, so phrases behave alike.

A dossier's metadata (code, title, procedure, applicant) is indexed with the first page of
each of its documents, after a gap so that no phrase runs from page text into metadata.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.orm import Session

from storage.catalog import Document, Dossier, Page
from storage.errors import StorageError

# Letters and digits. Not the underscore: FTS5's unicode61 splits words there, and both
# engines must see the same tokens.
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")
# A private-use character: FTS5 indexes it as a token (category Co), but words() never
# yields one, so no query can match it. It fills positions PostgreSQL cannot store.
GAP = "\ue000"
MAX_TOKEN = 64  # longer "words" are OCR noise; PostgreSQL refuses lexemes over 2 KB
MAX_POSITIONS = 16383  # the highest tsvector position: later words are not indexed
MAX_REPEATS = 256  # tsvector keeps 256 positions of a lexeme; later ones are gaps on both engines
MAX_LIMIT = 100
_BATCH = 1000
# PostgreSQL counts matches exactly up to this many; above it, counting them all would cost more
# than the page of hits (a common word at 2,000,000 pages matches 500,000), so the total is
# estimated from a sample of about SAMPLE_PAGES pages and shown as "about".
EXACT_UP_TO = 10_000
SAMPLE_PAGES = 10_000
FILTER_CHECKS = 1_000  # matches of the sample whose dossier is looked up, at most
ORDERED_SCAN_ROWS = 30_000  # pages walked newest first, each tested: about 2 µs a page when cached
_PAGES = "SELECT reltuples FROM pg_class WHERE oid = 'page_search'::regclass"
_FILTERED = (
    "pages JOIN documents ON documents.id = pages.document_id JOIN dossiers ON dossiers.code = documents.dossier_code"
)


class InvalidSearch(StorageError):
    status = 422
    code = "invalid-search"


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def fold(value: str) -> str:
    """Lower case without diacritics or compatibility forms: 'Đăng ký' → 'dang ky', 'ＡＢ' → 'ab'."""
    decomposed = unicodedata.normalize("NFKD", value.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", stripped).lower()


def has_diacritics(value: str) -> bool:
    return fold(value) != value.lower()


_TONES = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng (decomposed)
# A syllable ending in oa, oe or uy carries its tone on the first vowel in the old placement
# (hòa, khỏe, thúy, ủy) and on the second in the new (hoà, khoẻ, thuý, uỷ): both mean one word.
_FIRST_VOWEL_TONE = re.compile(f"(o)([{_TONES}])([ae])$|(u)([{_TONES}])(y)$")


@lru_cache(maxsize=1 << 16)
def _one_placement(token: str) -> str:
    """A token with its tone where the new placement puts it: hòa → hoà, thúy → thuý."""
    decomposed = unicodedata.normalize("NFD", token)
    if not _FIRST_VOWEL_TONE.search(decomposed):
        return token
    moved = _FIRST_VOWEL_TONE.sub(lambda m: m[1] + m[3] + m[2] if m[1] else m[4] + m[6] + m[5], decomposed)
    return nfc(moved)


def words(value: str) -> list[str]:
    """The tokens of ``value``, as both engines index them: compatibility forms folded (NFKC),
    lower case, letters and digits, one tone placement."""
    return [_one_placement(t) for t in _WORD.findall(unicodedata.normalize("NFKC", value).lower())]


# A language has few distinct words: folding each once speeds up bulk indexing and snippets.
@lru_cache(maxsize=1 << 16)
def _fold_token(token: str) -> str:
    return "".join(_WORD.findall(fold(token))) or token  # one token in, one token out: positions stay aligned


_fold_word = lru_cache(maxsize=1 << 16)(fold)  # a word as written, e.g. "Đất" → "dat"


def metadata_text(dossier: Dossier) -> str:
    """The searchable metadata line of a dossier (also shown as the snippet of a metadata match)."""
    return " · ".join(v for v in (dossier.code, dossier.title, dossier.procedure, dossier.applicant) if v)


def index_columns(page_text: str, metadata: str = "") -> tuple[list[str], list[str]]:
    """The exact and folded token lists of a page, position for position (GAP: nothing searchable there)."""
    tokens = words(page_text)
    if metadata:
        tokens += [GAP, *words(metadata)]
    exact = [t if len(t) <= MAX_TOKEN else GAP for t in tokens[:MAX_POSITIONS]]
    folded = [t if t == GAP else _fold_token(t) for t in exact]
    seen: Counter[str] = Counter()
    for i, token in enumerate(folded):  # a folded word repeats at least as often as any of its spellings
        seen[token] += 1
        if seen[token] > MAX_REPEATS:
            exact[i] = folded[i] = GAP  # same gaps in both columns: an exact match is always a folded one
    return exact, folded


def _quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"  # tokens are \w only; belt and braces


def _tsvector(tokens: list[str]) -> str:
    """A tsvector literal with our tokens and their positions: ``'dang':1 'ky':2``."""
    positions: dict[str, list[int]] = {}
    for position, token in enumerate(tokens, start=1):
        if token != GAP:
            positions.setdefault(token, []).append(position)
    return " ".join(f"{_quote(t)}:{','.join(map(str, p))}" for t, p in positions.items())


def _dialect(session: Session) -> str:
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise StorageError(f"Tìm kiếm chưa hỗ trợ cơ sở dữ liệu {name}.", f"Search does not support {name} yet.")
    return name


def _batches(items: Iterable[Any], size: int = _BATCH) -> Iterable[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def index_entries(session: Session, entries: Iterable[tuple[int, str, str]], *, replace: bool = True) -> int:
    """Index ``(page id, page text, metadata)`` entries in batches (executemany); returns how many.

    ``replace=False`` is for a bulk load of pages never indexed before (skips the delete on SQLite)."""
    dialect = _dialect(session)
    count = 0
    for batch in _batches(entries):
        rows = []
        for page_id, page_text, metadata in batch:
            exact, folded = index_columns(page_text, metadata)
            if dialect == "sqlite":
                rows.append({"id": page_id, "exact": " ".join(exact), "folded": " ".join(folded)})
            else:
                rows.append({"id": page_id, "exact": _tsvector(exact), "folded": _tsvector(folded)})
        if dialect == "sqlite":
            if replace:  # FTS5 has no unique rowid constraint to upsert on
                session.execute(text("DELETE FROM page_search WHERE rowid = :id"), [{"id": r["id"]} for r in rows])
            session.execute(text("INSERT INTO page_search (rowid, exact, folded) VALUES (:id, :exact, :folded)"), rows)
        else:
            session.execute(
                text(
                    "INSERT INTO page_search (page_id, exact, folded) "
                    "VALUES (:id, CAST(:exact AS tsvector), CAST(:folded AS tsvector)) "
                    "ON CONFLICT (page_id) DO UPDATE SET exact = EXCLUDED.exact, folded = EXCLUDED.folded"
                ),
                rows,
            )
        count += len(rows)
    return count


def unindex_pages(session: Session, page_ids: Iterable[int]) -> None:
    """Forget pages about to be deleted (FTS5 rows have no foreign key to cascade from)."""
    column = "rowid" if _dialect(session) == "sqlite" else "page_id"
    statement = text(f"DELETE FROM page_search WHERE {column} IN :ids").bindparams(bindparam("ids", expanding=True))
    for batch in _batches(page_ids):
        session.execute(statement, {"ids": batch})


def forget_pages(session: Session, document: Document) -> None:
    """Delete a document's pages and their index entries (written again, replaced or removed)."""
    unindex_pages(session, [page.id for page in document.pages])
    for page in list(document.pages):
        session.delete(page)
    session.flush()


def index_document(session: Session, document: Document) -> None:
    """(Re)index every page of ``document``; its first page also carries the dossier's metadata."""
    session.flush()
    dossier = session.get(Dossier, document.dossier_code)
    metadata = metadata_text(dossier) if dossier is not None else ""
    pages = session.execute(
        select(Page.id, Page.text).where(Page.document_id == document.id).order_by(Page.number)
    ).all()
    index_entries(session, ((pid, body, metadata if n == 0 else "") for n, (pid, body) in enumerate(pages)))


def index_page(session: Session, page: Page) -> None:
    """(Re)index one page (with the dossier's metadata when it is its document's first page)."""
    session.flush()
    first = session.execute(select(Page.id).where(Page.document_id == page.document_id).order_by(Page.number)).first()
    metadata = ""
    if first is not None and first[0] == page.id:
        document = session.get(Document, page.document_id)
        dossier = session.get(Dossier, document.dossier_code) if document is not None else None
        metadata = metadata_text(dossier) if dossier is not None else ""
    index_entries(session, [(page.id, page.text, metadata)])


def reindex_dossier(session: Session, code: str) -> None:
    """Index the dossier's metadata again after it changed (title, procedure, applicant)."""
    for document in session.scalars(select(Document).where(Document.dossier_code == code)).all():
        index_document(session, document)


@dataclass(frozen=True)
class Term:
    """A word, or a phrase (words in double quotes), as typed: NFC, lower case."""

    tokens: tuple[str, ...]

    @property
    def folded(self) -> tuple[str, ...]:
        return tuple(_fold_token(t) for t in self.tokens)

    @property
    def marked(self) -> bool:
        """Typed with diacritics: then it must also match as typed to rank first."""
        return self.folded != self.tokens


def parse_query(query: str) -> list[Term]:
    """Words, and phrases in double quotes; an unclosed quote is ignored. Nothing else is syntax."""
    parts = unicodedata.normalize("NFKC", query).split('"')  # a full-width quote is a quote
    terms: list[Term] = []
    for i, part in enumerate(parts):
        tokens = words(part)
        if i % 2 == 1 and i < len(parts) - 1 and len(tokens) > 1:
            terms.append(Term(tuple(tokens)))
        else:
            terms.extend(Term((t,)) for t in tokens)
    return terms


def _fts5(column: str, phrases: Sequence[tuple[str, ...]]) -> str:
    # Each term in double quotes is an FTS5 string: its tokenizer splits it into our tokens
    # (letters and digits only, so no quote can end it early); adjacent strings are ANDed.
    return f"{column} : (" + " ".join('"' + " ".join(p) + '"' for p in phrases) + ")"


def _tsquery(phrases: Sequence[tuple[str, ...]]) -> str:
    return " & ".join("(" + " <-> ".join(_quote(t) for t in p) + ")" for p in phrases)


@dataclass
class Hit:
    dossier_code: str
    document_id: int  # its number in the dossier, as URLs name it
    page: int
    snippet: str
    exact: bool
    title: str = ""


def snippet(page_text: str, tokens: Sequence[str], width: int = 12, terms: Sequence[Term] = ()) -> str:
    """A few words around the first match, matched words in «»; diacritics and punctuation as written.

    Centred on the first place a term (a phrase: all of it) matches as typed, else folded, else
    on the first word of ``tokens``."""
    page_text = nfc(page_text)
    found = [(m.start(), m.end()) for m in _WORD.finditer(page_text)]
    written = [page_text[a:b] for a, b in found]
    lower = [next(iter(words(w)), "") for w in written]  # as the exact column has them
    folded = [_fold_word(w) for w in written]
    folded_tokens = {fold(t) for t in tokens}

    def first(seq: list[str], phrase: tuple[str, ...]) -> int | None:
        n = len(phrase)
        return next((i for i in range(len(seq) - n + 1) if tuple(seq[i : i + n]) == phrase), None)

    starts = [i for t in terms if (i := first(lower, t.tokens)) is not None]
    starts = starts or [i for t in terms if (i := first(folded, t.folded)) is not None]
    starts = starts or [i for i, w in enumerate(folded) if w in folded_tokens][:1]
    idx = min(starts, default=0)
    lo = max(0, min(idx - width // 3, len(found) - width))  # more context after the match than before
    hi = min(len(found), lo + width)
    out = "… " if lo > 0 else ""
    for i in range(lo, hi):
        if i > lo:  # what stood between two words: punctuation kept, whitespace made one space
            out += _SPACE.sub(" ", page_text[found[i - 1][1] : found[i][0]])
        out += f"«{written[i]}»" if folded[i] in folded_tokens else written[i]
    return out + (" …" if hi < len(found) else "")


class Found(NamedTuple):
    total: int
    hits: list[Hit]
    estimated: bool = False  # the total is an estimate: "about" so many


_DATES = ("received_from", "received_to", "issued_from", "issued_to")


@dataclass(frozen=True)
class DocumentFilter:
    """What a document's fields must be (records.DOCUMENT_FIELDS): its type as the table names
    it, its number and symbol, its issuer (a part of the name; both folded: "so y te" finds
    "SỞ Y TẾ"), its date of issue from and to."""

    type: str | None = None
    number: str | None = None
    issuer: str | None = None
    issued_from: dt.date | None = None
    issued_to: dt.date | None = None

    def clauses(self) -> list[tuple[str, Any, str]]:
        issuer = f"%{_escaped(fold(self.issuer))}%" if self.issuer else None
        return [
            ("doc_type", self.type, "documents.doc_type = :doc_type"),
            ("number_key", fold(self.number).replace(" ", "") if self.number else None,
             "documents.number_key = :number_key"),
            ("issuer_key", issuer, "documents.issuer_key LIKE :issuer_key ESCAPE '\\'"),
            ("issued_from", self.issued_from, "documents.issued_on >= :issued_from"),
            ("issued_to", self.issued_to, "documents.issued_on <= :issued_to"),
        ]  # fmt: skip


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class _Plan:
    """One search, as SQL fragments for the session's engine."""

    dialect: str
    terms: list[Term]
    filters: list[str]
    params: dict[str, Any]
    shares: dict[str, float] = field(default_factory=dict)  # PostgreSQL: see sample()
    pages: float = 0.0

    @property
    def id(self) -> str:
        return "page_search.rowid" if self.dialect == "sqlite" else "page_search.page_id"

    @property
    def ranked(self) -> bool:
        return any(t.marked for t in self.terms)

    def match(self, tier: str) -> tuple[str, dict[str, Any]]:
        """``all`` folded matches, the ``exact`` tier, or the ``rest`` (folded but not exact).

        The exact tier needs the unmarked terms folded and the marked ones as typed (which
        implies folded: the columns align position for position)."""
        folded = [t.folded for t in self.terms]
        marked = [t.tokens for t in self.terms if t.marked]
        plain = [t.folded for t in self.terms if not t.marked]
        if self.dialect == "sqlite":
            if tier == "all":
                query = _fts5("folded", folded)
            elif tier == "exact":
                query = _fts5("exact", marked) + (f" AND {_fts5('folded', plain)}" if plain else "")
            else:
                query = f"({_fts5('folded', folded)}) NOT ({_fts5('exact', marked)})"
            return "page_search MATCH :match", {"match": query}
        cast = "CAST(:{} AS tsquery)"
        if tier == "all":
            return f"page_search.folded @@ {cast.format('folded')}", {"folded": _tsquery(folded)}
        params = {"exact": _tsquery(marked)}
        if tier == "exact":
            sql = f"page_search.exact @@ {cast.format('exact')}"
            if plain:
                sql += f" AND page_search.folded @@ {cast.format('plain')}"
                params["plain"] = _tsquery(plain)
            return sql, params
        params["folded"] = _tsquery(folded)
        return (
            f"page_search.folded @@ {cast.format('folded')} AND NOT page_search.exact @@ {cast.format('exact')}",
            params,
        )

    def _statement(
        self, select_list: str, tier: str, tail: str = "", *, source: str = "page_search", outer: str = "{}"
    ) -> tuple[Any, dict[str, Any]]:
        """``SELECT select_list FROM source … WHERE match and filters tail``, inside ``outer``."""
        where, params = self.match(tier)
        joins = ""
        if self.filters:  # only then: the common case reads the index alone
            pages = _FILTERED
            filters = " AND ".join(self.filters)
            if self.dialect == "sqlite":
                # The pages passing the filters, as a list probed for each match; the unary +
                # keeps FTS5 from being handed the rowid list (it would run the MATCH per row).
                where += f" AND +page_search.rowid IN (SELECT pages.id FROM {pages} WHERE {filters})"
            else:
                joins, where = f" JOIN ({pages}) ON pages.id = page_search.page_id", f"{where} AND {filters}"
        statement = text(outer.format(f"SELECT {select_list} FROM {source}{joins} WHERE {where}{tail}"))
        return self._typed(statement), {**self.params, **params}

    def _typed(self, statement: Any) -> Any:
        """The statement with its date filters bound as dates (text() would send strings)."""
        return statement.bindparams(*(bindparam(n, type_=Date()) for n in _DATES if n in self.params))

    def count(self, session: Session, tier: str) -> int:
        return session.execute(*self._statement("count(*)", tier)).scalar_one()

    def sample(self, session: Session) -> None:
        """PostgreSQL: the share of pages each tier matches (filters included), from a fixed block
        sample of the index, the same on every page of hits. It sets the total above EXACT_UP_TO
        and the way hits are fetched (see ids). Left unset while the index is small."""
        if self.dialect == "sqlite":
            return
        pages = float(session.execute(text(_PAGES)).scalar() or 0)  # as of the last ANALYZE
        if pages <= 2 * SAMPLE_PAGES:
            return
        (all_sql, params), (exact_sql, exact_params) = self.match("all"), self.match("exact" if self.ranked else "all")
        statement = text(
            f"SELECT page_search.page_id, {exact_sql} FROM page_search"
            f" TABLESAMPLE SYSTEM ({100.0 * SAMPLE_PAGES / pages:.4f}) REPEATABLE (1) WHERE {all_sql}"
        )
        matched: dict[int, bool] = dict(session.execute(statement, {**params, **exact_params}).all())
        scale = 1.0
        if self.filters and matched:
            # Whether the matches' dossiers pass the filters, looked up page by page for an even
            # subset of at most FILTER_CHECKS of them (all 11,000 took 270 ms).
            step = math.ceil(len(matched) / FILTER_CHECKS)
            checked = sorted(matched)[::step]
            scale = len(matched) / len(checked)
            passing = text(
                f"SELECT pages.id FROM {_FILTERED} WHERE pages.id = ANY(:ids) AND {' AND '.join(self.filters)}"
            )
            kept = set(session.execute(self._typed(passing), {**self.params, "ids": checked}).scalars())
            matched = {i: exact for i, exact in matched.items() if i in kept}
        found, exact = len(matched) * scale, sum(matched.values()) * scale
        self.shares = {
            "all": found / SAMPLE_PAGES,
            "exact": exact / SAMPLE_PAGES,
            "rest": (found - exact) / SAMPLE_PAGES,
        }
        self.pages = pages

    def total(self, session: Session) -> tuple[int, bool]:
        """How many pages match, and whether that is an estimate (PostgreSQL, above EXACT_UP_TO:
        counting half a million matches would cost more than the page of hits)."""
        if self.shares and (estimate := self.shares["all"] * self.pages) >= EXACT_UP_TO:
            return int(float(f"{estimate:.2g}")), True
        return self.count(session, "all"), False

    def ids(self, session: Session, tier: str, limit: int, offset: int) -> list[int]:
        """Newest first. FTS5 walks its doclists backwards for ORDER BY rowid DESC and stops at
        LIMIT. PostgreSQL's GIN index gives its matches only all at once, so where the sample
        says matches are dense (the first limit + offset of them within ORDERED_SCAN_ROWS pages)
        the pages are walked newest first and tested; otherwise the matches are gathered from the
        index, then sorted (its planner, guessing the share, picked the walk for rare ones)."""
        if limit <= 0:
            return []
        tail = f" ORDER BY {self.id} DESC LIMIT :limit OFFSET :offset"
        values = {"limit": limit, "offset": offset}
        if not self.shares:
            statement, params = self._statement(self.id, tier, tail)
            return list(session.execute(statement, {**params, **values}).scalars())
        share = self.shares[tier]
        if share > 0 and (limit + offset) / share <= ORDERED_SCAN_ROWS:
            statement, params = self._statement(self.id, tier, tail)
            session.execute(text("SET LOCAL enable_bitmapscan = off"))
            try:
                return list(session.execute(statement, {**params, **values}).scalars())
            finally:
                session.execute(text("SET LOCAL enable_bitmapscan = on"))
        gathered = "WITH found AS MATERIALIZED ({}) SELECT page_id FROM found ORDER BY page_id DESC"
        statement, params = self._statement(self.id, tier, outer=gathered + " LIMIT :limit OFFSET :offset")
        return list(session.execute(statement, {**params, **values}).scalars())


def search(
    session: Session,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    agency: str | None = None,
    procedure: str | None = None,
    status: str | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    documents: DocumentFilter | None = None,
) -> Found:
    """Pages matching every word and phrase of ``query``, in dossiers passing the filters (and in
    documents passing ``documents``'s: type, number, issuer, date of issue).

    Returns the number of matching pages (estimated above EXACT_UP_TO on PostgreSQL) and one
    page of hits (``limit`` at most 100): exact matches first, then the others, newest page
    first within each."""
    if received_from and received_to and received_from > received_to:
        raise InvalidSearch(
            "Ngày nhận 'đến' không được trước ngày nhận 'từ'.",
            "received_to must not be before received_from.",
            field="received_to",
        )
    documents = documents or DocumentFilter()
    if documents.issued_from and documents.issued_to and documents.issued_from > documents.issued_to:
        raise InvalidSearch(
            "Ngày ban hành 'đến' không được trước ngày 'từ'.", "issued_to must not be before issued_from.",
            field="issued_to",
        )  # fmt: skip
    limit, offset = max(0, min(limit, MAX_LIMIT)), max(0, offset)
    terms = parse_query(query)
    if not terms or any(len(t) > MAX_TOKEN for term in terms for t in term.tokens):
        return Found(0, [])  # nothing to look for, or a word longer than any indexed one
    if any("\x00" in v for v in (agency, procedure, status, documents.type, documents.number, documents.issuer) if v):
        return Found(0, [])  # no stored value holds NUL, and PostgreSQL refuses it in a parameter
    filters: list[str] = []
    params: dict[str, Any] = {}
    for name, value, sql in (
        ("agency", agency, "dossiers.agency = :agency"),
        ("procedure", procedure, "dossiers.procedure = :procedure"),
        ("status", status, "dossiers.status = :status"),
        ("received_from", received_from, "dossiers.received_on >= :received_from"),
        ("received_to", received_to, "dossiers.received_on <= :received_to"),
        *documents.clauses(),
    ):
        if value:
            filters.append(sql)
            params[name] = nfc(value) if isinstance(value, str) else value
    plan = _Plan(_dialect(session), terms, filters, params)
    plan.sample(session)
    total, estimated = plan.total(session)
    if total == 0 or offset >= total:
        return Found(total, [], estimated)
    if not plan.ranked:
        found = [(i, False) for i in plan.ids(session, "all", limit, offset)]
    else:
        # Two tiers, each a cheap LIMIT/OFFSET walk: exact hits, then folded-only hits.
        exact = plan.ids(session, "exact", limit, offset)
        skip = 0
        if not exact and offset > 0:  # the page starts past the exact tier: how far past?
            skip = offset - plan.count(session, "exact")
        rest = plan.ids(session, "rest", limit - len(exact), skip) if len(exact) < limit else []
        found = [(i, True) for i in exact] + [(i, False) for i in rest]
    return Found(total, _hits(session, found, terms), estimated)


def _hits(session: Session, found: list[tuple[int, bool]], terms: list[Term]) -> list[Hit]:
    if not found:
        return []
    rows = session.execute(
        select(Page.id, Page.number, Page.text, Document.number, Dossier)
        .join(Document, Document.id == Page.document_id)
        .join(Dossier, Dossier.code == Document.dossier_code)
        .where(Page.id.in_([i for i, _ in found]))
    ).all()
    by_id = {row[0]: row for row in rows}
    tokens = [t for term in terms for t in term.tokens]
    folded_tokens = {fold(t) for t in tokens}
    hits = []
    for page_id, exact in found:
        if (row := by_id.get(page_id)) is None:
            continue  # deleted since it was indexed
        _, number, body, document_id, dossier = row
        in_page = any(_fold_word(w) in folded_tokens for w in _WORD.findall(body))
        source = body if in_page else metadata_text(dossier)
        hits.append(Hit(dossier.code, document_id, number, snippet(source, tokens, terms=terms), exact, dossier.title))
    return hits

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

import calendar
import datetime as dt
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import Date, bindparam, func, select, text
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
# than the page of hits, so the total is estimated from a sample of about SAMPLE_PAGES pages and
# shown as "about". Each match counted is a heap block read, 20-25 µs when not in shared buffers:
# 5,000 of them in one agency of 2,000,000 pages took 110-160 ms (a common word matches 500,000).
EXACT_UP_TO = 1_000
GATHER_UP_TO = 1_000  # fewer matches (by the sample) are fetched all at once: their total and page of hits
SAMPLE_PAGES = 10_000
ORDERED_SCAN_ROWS = 30_000  # pages walked newest first, each tested: about 2 µs a page when cached
_PAGES = "SELECT reltuples FROM pg_class WHERE oid = 'page_search'::regclass"
_QUICK = "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
_WALK = "SELECT set_config('enable_bitmapscan', '{0}', true), set_config('enable_seqscan', '{0}', true)"
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


# PostgreSQL: a page's row carries its dossier's and document's filter values (migration 0013's
# search_tags, kept by triggers when they change), so a filter is one more key of the index scan.
_UPSERT = (
    "INSERT INTO page_search (page_id, exact, folded, tags, issuer_key) "
    "SELECT pages.id, CAST(:exact AS tsvector), CAST(:folded AS tsvector), search_tags(dossiers.agency, "
    "dossiers.procedure, dossiers.status, dossiers.received_on, documents.doc_type, documents.number_key, "
    f"documents.issued_on), documents.issuer_key FROM {_FILTERED} WHERE pages.id = :id "
    "ON CONFLICT (page_id) DO UPDATE SET exact = EXCLUDED.exact, folded = EXCLUDED.folded, tags = EXCLUDED.tags, "
    "issuer_key = EXCLUDED.issuer_key"
)
# Writers of index rows lock their dossiers first, in one order: a dossier's change then waits for
# them (its trigger then sees their rows) or they for it (they then read its new values), and
# every writer takes the dossier before the index rows, as that trigger does.
_LOCK = (
    f"SELECT 1 FROM dossiers WHERE code IN (SELECT documents.dossier_code FROM {_FILTERED} "
    "WHERE pages.id = ANY(:ids)) ORDER BY code FOR NO KEY UPDATE"
)


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
            session.execute(text(_LOCK), {"ids": [r["id"] for r in rows]})
            session.execute(text(_UPSERT), rows)
        count += len(rows)
    return count


def unindex_pages(session: Session, page_ids: Iterable[int]) -> None:
    """Forget pages about to be deleted (FTS5 rows have no foreign key to cascade from)."""
    dialect = _dialect(session)
    column = "rowid" if dialect == "sqlite" else "page_id"
    statement = text(f"DELETE FROM page_search WHERE {column} IN :ids").bindparams(bindparam("ids", expanding=True))
    for batch in _batches(page_ids):
        if dialect == "postgresql":
            session.execute(text(_LOCK), {"ids": batch})
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

    @property
    def number_key(self) -> str | None:
        return fold(self.number).replace(" ", "") if self.number else None

    @property
    def issuer_pattern(self) -> str | None:
        return f"%{_escaped(fold(self.issuer))}%" if self.issuer else None


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class _Filters:
    """What the pages' dossiers and documents must be, as search() was given it (NFC)."""

    agency: str | None
    agencies: tuple[str, ...] | None
    procedure: str | None
    status: str | None
    received_from: dt.date | None
    received_to: dt.date | None
    documents: DocumentFilter

    def joined(self) -> tuple[list[str], dict[str, Any]]:
        """SQLite: conditions on the joined catalog rows (dossiers, documents) and their parameters."""
        d = self.documents
        clauses = [
            ("agency", self.agency, "dossiers.agency = :agency"),
            ("agencies", self.agencies, "dossiers.agency IN :agencies"),
            ("procedure", self.procedure, "dossiers.procedure = :procedure"),
            ("status", self.status, "dossiers.status = :status"),
            ("received_from", self.received_from, "dossiers.received_on >= :received_from"),
            ("received_to", self.received_to, "dossiers.received_on <= :received_to"),
            ("doc_type", d.type, "documents.doc_type = :doc_type"),
            ("number_key", d.number_key, "documents.number_key = :number_key"),
            ("issuer_key", d.issuer_pattern, "documents.issuer_key LIKE :issuer_key ESCAPE '\\'"),
            ("issued_from", d.issued_from, "documents.issued_on >= :issued_from"),
            ("issued_to", d.issued_to, "documents.issued_on <= :issued_to"),
        ]
        used = [(name, value, sql) for name, value, sql in clauses if value]
        return [sql for _, _, sql in used], {name: value for name, value, _ in used}

    def tagged(self, session: Session) -> tuple[list[str], dict[str, Any]] | None:
        """PostgreSQL: conditions on the index rows' own filter values (their tags, every one of
        the groups below, and the issuer); None when no page can pass."""
        d = self.documents
        groups = [[f"{prefix}{value}"] for prefix, value in (
            ("a:", self.agency), ("p:", self.procedure), ("s:", self.status), ("t:", d.type), ("n:", d.number_key)
        ) if value]  # fmt: skip
        if self.agencies:
            groups.append([f"a:{a}" for a in self.agencies])
        for prefix, start, end, column in (
            ("r:", self.received_from, self.received_to, Dossier.received_on),
            ("i:", d.issued_from, d.issued_to, Document.issued_on),
        ):
            if start or end:
                # Open ends and the ends beyond every stored date end at the stored dates (few tags).
                low, high = session.execute(select(func.min(column), func.max(column))).one()
                days = _days(prefix, max(start or low, low), min(end or high, high)) if low and high else []
                if not days:
                    return None
                groups.append(days)
        conditions, params = [], {}
        if groups:
            conditions.append("page_search.tags @@ CAST(:tags AS tsquery)")
            params["tags"] = " & ".join("(" + " | ".join(_quote(t) for t in group) + ")" for group in groups)
        if d.issuer_pattern:
            conditions.append("page_search.issuer_key LIKE :issuer_key ESCAPE '\\'")
            params["issuer_key"] = d.issuer_pattern
        return conditions, params


def _days(prefix: str, start: dt.date, end: dt.date) -> list[str]:
    """The tags (search_tags') naming every day from ``start`` to ``end``: whole years, whole
    months, then single days."""
    found: list[str] = []
    day = start
    while day <= end:
        year_end = dt.date(day.year, 12, 31)
        month_end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
        if day.month == day.day == 1 and year_end <= end:
            found.append(prefix + day.isoformat()[:4])
            last = year_end
        elif day.day == 1 and month_end <= end:
            found.append(prefix + day.isoformat()[:7])
            last = month_end
        else:
            found.append(prefix + day.isoformat())
            last = day
        if last == dt.date.max:
            break
        day = last + dt.timedelta(days=1)
    return found


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
        """``SELECT select_list FROM source WHERE match and filters tail``, inside ``outer``."""
        where, params = self.match(tier)
        if self.filters and self.dialect == "sqlite":
            # The pages passing the filters, as a list probed for each match; the unary + keeps
            # FTS5 from being handed the rowid list (it would run the MATCH once per row).
            where += f" AND +page_search.rowid IN (SELECT pages.id FROM {_FILTERED} WHERE {' AND '.join(self.filters)})"
        elif self.filters:  # PostgreSQL: the index row's own filter values, no join, tested first (small)
            where = " AND ".join([*self.filters, where])
        statement = text(outer.format(f"SELECT {select_list} FROM {source} WHERE {where}{tail}"))
        return self._typed(statement), {**self.params, **params}

    def _typed(self, statement: Any) -> Any:
        """The statement with its date filters bound as dates (text() would send strings), the
        agency list as a list."""
        typed = [bindparam(n, type_=Date()) for n in _DATES if n in self.params]
        if "agencies" in self.params:
            typed.append(bindparam("agencies", expanding=True))
        return statement.bindparams(*typed)

    def count(self, session: Session, tier: str) -> int:
        return session.execute(*self._statement("count(*)", tier)).scalar_one()

    def sample(self, session: Session) -> None:
        """PostgreSQL: the share of pages each tier matches (filters included), from a fixed block
        sample of the index, the same on every page of hits. It sets the total above EXACT_UP_TO
        and the way hits are fetched (see every and ids). Left unset while the index is small."""
        if self.dialect == "sqlite":
            return
        pages = float(session.execute(text(_PAGES)).scalar() or 0)  # as of the last ANALYZE
        if pages <= 2 * SAMPLE_PAGES:
            return
        (found, params), (exact, exact_params) = self.match("all"), self.match("exact") if self.ranked else ("", {})
        found = " AND ".join([*self.filters, found])  # each page's text tested once, and only if its filters pass
        tier = f"CASE WHEN {exact} THEN 2 ELSE 1 END" if exact else "2"
        statement = text(
            "SELECT count(*), count(*) FILTER (WHERE tier > 0), count(*) FILTER (WHERE tier = 2) FROM ("
            f"SELECT CASE WHEN {found} THEN {tier} ELSE 0 END AS tier FROM page_search"
            f" TABLESAMPLE SYSTEM ({100.0 * SAMPLE_PAGES / pages:.4f}) REPEATABLE (1)) AS sampled"
        )
        sampled, matched, exactly = session.execute(statement, {**self.params, **params, **exact_params}).one()
        sampled = max(sampled, 1)
        self.shares = {"all": matched / sampled, "exact": exactly / sampled, "rest": (matched - exactly) / sampled}
        self.pages = pages

    def total(self, session: Session) -> tuple[int, bool]:
        """How many pages match, and whether that is an estimate (PostgreSQL, above EXACT_UP_TO:
        counting half a million matches would cost more than the page of hits)."""
        if self.shares and (estimate := self.shares["all"] * self.pages) >= EXACT_UP_TO:
            return int(float(f"{estimate:.2g}")), True
        return self.count(session, "all"), False

    def every(self, session: Session) -> list[tuple[int, bool]] | None:
        """PostgreSQL, where the sample puts the matches under GATHER_UP_TO (and under EXACT_UP_TO:
        counted exactly): every one, newest first, with whether it matches exactly. The total and
        the page of hits come from this one pass over them (counting them, then fetching the page,
        read the same rows twice). None otherwise, or if they are many more than the sample said."""
        if not self.shares or self.shares["all"] * self.pages >= min(GATHER_UP_TO, EXACT_UP_TO):
            return None
        exact, params = self.match("exact") if self.ranked else ("false", {})
        most = 4 * GATHER_UP_TO
        gathered = "WITH found AS MATERIALIZED ({}) SELECT * FROM found ORDER BY page_id DESC LIMIT :most"
        statement, found = self._statement(f"page_search.page_id, {exact}", "all", outer=gathered)
        rows = session.execute(statement, {**found, **params, "most": most + 1}).all()
        return [(i, bool(e)) for i, e in rows] if len(rows) <= most else None

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
            # The primary key walked backwards, whatever the planner guesses of the share (guessing a
            # filter rare, it read all 2,000,000 pages and sorted them: 1.1 s).
            session.execute(text(_WALK.format("off")))
            try:
                return list(session.execute(statement, {**params, **values}).scalars())
            finally:
                session.execute(text(_WALK.format("on")))
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
    agencies: tuple[str, ...] | None = None,
    procedure: str | None = None,
    status: str | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    documents: DocumentFilter | None = None,
) -> Found:
    """Pages matching every word and phrase of ``query``, in dossiers passing the filters (and in
    documents passing ``documents``'s: type, number, issuer, date of issue). ``agencies`` is the
    person's scope: None for every agency, else only dossiers of those agency codes (none for an
    empty tuple); ``agency`` is a filter they chose within it.

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
    if not terms or any(len(t) > MAX_TOKEN for term in terms for t in term.tokens) or agencies == ():
        return Found(0, [])  # nothing to look for, a word longer than any indexed one, or no agency in scope
    texts = (agency, procedure, status, documents.type, documents.number, documents.issuer, *(agencies or ()))
    if any("\x00" in v for v in texts if v):
        return Found(0, [])  # no stored value holds NUL, and PostgreSQL refuses it in a parameter

    def clean(value: str | None) -> str | None:
        return nfc(value) if value else None  # an empty filter filters nothing

    chosen = _Filters(
        clean(agency), tuple(nfc(a) for a in agencies) if agencies is not None else None, clean(procedure),
        clean(status), received_from, received_to,
        DocumentFilter(clean(documents.type), clean(documents.number), clean(documents.issuer), documents.issued_from,
                       documents.issued_to),
    )  # fmt: skip
    dialect = _dialect(session)
    if dialect == "postgresql":
        # Each statement reads a few thousand rows at most: starting parallel workers (60-70 ms on
        # the 2-core machine) or compiling (JIT, 10-100 ms) cost more than that.
        session.execute(text(_QUICK))
    filtered = chosen.joined() if dialect == "sqlite" else chosen.tagged(session)
    if filtered is None:
        return Found(0, [])  # a date range outside every dossier's or document's dates
    plan = _Plan(dialect, terms, *filtered)
    plan.sample(session)
    total, estimated, found = _found(session, plan, limit, offset)
    return Found(total, _hits(session, found, terms), estimated)


def _found(session: Session, plan: _Plan, limit: int, offset: int) -> tuple[int, bool, list[tuple[int, bool]]]:
    """The total, whether it is estimated, and the page's hits: (page id, exact match) each."""
    if (every := plan.every(session)) is not None:
        ordered = [m for m in every if m[1]] + [m for m in every if not m[1]]
        return len(every), False, ordered[offset : offset + limit]
    total, estimated = plan.total(session)
    if total == 0 or offset >= total:
        return total, estimated, []
    if not plan.ranked:
        return total, estimated, [(i, False) for i in plan.ids(session, "all", limit, offset)]
    # Two tiers, each a cheap LIMIT/OFFSET walk: exact hits, then folded-only hits.
    exact = plan.ids(session, "exact", limit, offset)
    skip = 0
    if not exact and offset > 0:  # the page starts past the exact tier: how far past?
        skip = offset - plan.count(session, "exact")
    rest = plan.ids(session, "rest", limit - len(exact), skip) if len(exact) < limit else []
    return total, estimated, [(i, True) for i in exact] + [(i, False) for i in rest]


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

"""Benchmark Vietnamese full-text search on SQLite FTS5 and PostgreSQL, side by side.

Generates N synthetic pages of administrative Vietnamese (Zipf-like word frequencies,
dossiers with agency, procedure, status and received dates), loads the same catalog into a
SQLite file in a temporary folder and into a fresh PostgreSQL schema (dropped afterwards),
indexes it with storage.search, and times storage.search.search (count, both tiers, hits
and snippets: what the API does) for one word, three words and a phrase, each typed with
and without diacritics.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np
import sqlalchemy
from sqlalchemy import create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage import Document, Dossier, Page, open_catalog  # noqa: E402
from storage.search import DocumentFilter, fold, index_entries, metadata_text, search  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# The head of the vocabulary, most frequent first: words (often of several syllables) that
# one-stop office paperwork is made of; "|" separates them.
CORE = """
của | và | các | được | theo | có | cho | trong | về | với | là | này | đã | không | người | tại | ngày | năm |
tháng | số | hồ sơ | đề nghị | cấp | giấy chứng nhận | quyền sử dụng đất | ủy ban nhân dân | xã | phường |
thị trấn | huyện | quận | tỉnh | thành phố | công dân | căn cước | cư trú | thường trú | tạm trú | đăng ký |
khai sinh | khai tử | kết hôn | hộ tịch | chứng thực | bản sao | bản chính | quyết định | tờ trình |
thông báo | giấy phép | xây dựng | nhà ở | riêng lẻ | thửa đất | tờ bản đồ | diện tích | mục đích |
thời hạn | nguồn gốc | chuyển nhượng | tặng cho | thừa kế | thế chấp | tài sản | gắn liền với đất |
hộ gia đình | cá nhân | tổ chức | cơ quan | tiếp nhận | trả kết quả | một cửa | liên thông |
thủ tục hành chính | phí | lệ phí | biên lai | người nộp | người nhận | ký tên | đóng dấu | chủ tịch |
phó chủ tịch | cán bộ | địa chính | tư pháp | văn phòng đăng ký đất đai | chi nhánh |
sở tài nguyên và môi trường | kế hoạch | đầu tư | doanh nghiệp | hộ kinh doanh | mã số thuế |
ngành nghề | vốn điều lệ | trụ sở | bảo hiểm xã hội | bảo hiểm y tế | thất nghiệp | trợ cấp |
người có công | thương binh | liệt sĩ | chính sách | giáo dục | học sinh | sinh viên | trường học |
văn bằng | chứng chỉ | bằng tốt nghiệp | học bạ | giao thông | vận tải | giấy phép lái xe | đăng kiểm |
phương tiện | biển số xe | mô tô | ô tô | nông nghiệp | phát triển nông thôn | lâm nghiệp | thủy sản |
chăn nuôi | trồng trọt | thú y | xác nhận | tình trạng hôn nhân | độc thân | ly hôn | con nuôi |
giám hộ | cha | mẹ | con | vợ | chồng | họ và tên | ngày sinh | nơi sinh | quê quán | dân tộc |
tôn giáo | quốc tịch | nghề nghiệp | địa chỉ | điện thoại | thư điện tử | ghi chú | lý do | kính gửi |
căn cứ | luật | nghị định | thông tư | hướng dẫn | điều | khoản | điểm | hiệu lực | kể từ ngày ký |
thi hành | trách nhiệm | nơi nhận | lưu | bản | bạn | bán | bàn | ban hành | sổ hộ khẩu | hổ trợ |
đang | đáng | dang dở | kỳ hạn | kỹ thuật | ky
"""
SYLLABLES = """
an anh ba bá bà bách bạch bảo bắc bình ca cao cát châu chi chính chu cúc cường dân diệp
dung dũng duy dương đại đan đạt điền đinh đoàn đông đức giang hà hải hạnh hân hiền hiếu
hòa hoài hoàng hồng huệ hùng hưng hương hữu khải khang khánh khoa khôi kiên kim lam lan
lâm lê liên linh loan long lộc lợi lực mai minh my nam nga ngân nghĩa ngọc nguyên nhân
nhung như oanh phát phong phú phúc phương quang quân quế quốc quý quyên sang sơn tài tâm
tân thái thanh thành thảo thắng thịnh thu thủy thư tiến toàn trà trang trí trinh trọng
trung tú tuấn tùng tuyết uyên vân văn việt vinh võ vũ xuân yến
"""
SURNAMES = "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý"


FILTERED = [  # (query, filters): the filters join the catalog tables
    ("đất", {"agency": "000.00.12.H12"}),
    ("giấy", {"procedure": "Đăng ký khai sinh"}),
    ('"quyền sử dụng đất"', {"status": "SIGNED"}),
    ("thửa đất", {"received_from": dt.date(2025, 1, 1), "received_to": dt.date(2025, 1, 31)}),
    ("liệt", {"agency": "000.00.13.H13", "status": "RECEIVED"}),
    ("hồ sơ", {"received_from": dt.date(2025, 12, 1)}),
    ("bản", {"agency": "000.00.15.H15", "received_from": dt.date(2025, 6, 1), "received_to": dt.date(2025, 6, 30)}),
    ('"giấy chứng nhận"', {"procedure": "Cấp giấy chứng nhận quyền sử dụng đất", "status": "DIGITIZED"}),
    ("kết hôn vợ", {"procedure": "Đăng ký kết hôn"}),
    ("thuế", {"agency": "000.00.20.H20", "received_from": dt.date(2024, 1, 1), "received_to": dt.date(2024, 6, 30)}),
    # The document's own fields (circular 05/2025/TT-BNV): type, number, issuer, date of issue.
    ("đất", {"documents": DocumentFilter(type="Quyết định")}),
    ("hộ tịch", {"documents": DocumentFilter(issuer="ubnd xa")}),
    ("giấy", {"documents": DocumentFilter(issued_from=dt.date(2025, 3, 1), issued_to=dt.date(2025, 3, 31))}),
    ("bản", {"documents": DocumentFilter(number="1234/QĐ-UBND")}),
]


def split(value: str, sep: str | None = None) -> list[str]:
    return [w.strip() for w in value.split(sep) if w.strip()]


AGENCIES = [f"000.00.{a:02d}.H{a:02d}" for a in range(10, 22)]  # the agencies the filtered queries name


def agency_codes(n: int) -> list[str]:
    """AGENCIES, then communes under them (000.CC.DD.HDD), up to ``n`` codes: a province's hundreds."""
    communes = (f"000.{c:02d}.{d:02d}.H{d:02d}" for c in range(1, 100) for d in range(10, 22))
    return [*AGENCIES, *islice(communes, max(0, n - len(AGENCIES)))]


PROCEDURES = [
    "Đăng ký khai sinh",
    "Đăng ký kết hôn",
    "Chứng thực bản sao từ bản chính",
    "Cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Cấp giấy chứng nhận quyền sử dụng đất",
    "Đăng ký biến động đất đai",
    "Đăng ký thường trú",
    "Xác nhận tình trạng hôn nhân",
    "Đăng ký hộ kinh doanh",
    "Cấp đổi giấy phép lái xe",
    "Giải quyết trợ cấp thất nghiệp",
    "Đăng ký khai tử",
]
STATUSES = ["RECEIVED", "DIGITIZED", "SIGNED", "RETURNED"]
# A document's fields (type and number symbol, issuer), drawn apart so the pages stay those of before.
DOC_TYPES = [("Quyết định", "QĐ"), ("Tờ trình", "TTr"), ("Giấy chứng nhận", "GCN"), ("Thông báo", "TB"),
             ("Biên bản", "BB"), ("Công văn", "CV"), ("Đơn", "Đ"), ("Giấy khai sinh", "KS")]  # fmt: skip
ISSUERS = ["UBND xã An Bình", "UBND xã Phú Lộc", "UBND huyện Châu Thành", "Sở Tài nguyên và Môi trường",
           "Sở Tư pháp", "Văn phòng đăng ký đất đai", "Công an huyện", "Chi cục Thuế"]  # fmt: skip

# Queries per class, as typed with diacritics; the "without" classes fold them.
ONE_WORD = ["đất", "giấy", "bản", "khai", "hôn", "thửa", "chứng", "thuế", "liệt", "đăng", "kiểm", "hổ", "dở", "nuôi"]
THREE_WORDS = [
    "cấp giấy phép",
    "đất hộ gia",
    "khai sinh con",
    "chứng thực bản",
    "thửa đất diện",
    "kết hôn vợ",
    "thuế doanh nghiệp vốn",
    "lái xe ô",
    "trợ cấp thất",
    "đăng ký thường",
    "thương binh liệt",
    "học bạ trường",
]
PHRASES = [
    '"quyền sử dụng đất"',
    '"giấy chứng nhận"',
    '"ủy ban nhân dân"',
    '"đăng ký khai sinh"',
    '"thửa đất"',
    '"chứng thực bản sao"',
    '"giấy phép lái xe"',
    '"hộ kinh doanh"',
    '"tình trạng hôn nhân"',
    '"nơi sinh"',
    '"mã số thuế"',
    '"người có công"',
]


def vocabulary(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Words (core first, then two-syllable names and places) with Zipf-like probabilities."""
    core = split(CORE, "|")
    tail = {f"{a} {b}" for a, b in rng.choice(split(SYLLABLES), size=(6000, 2))}
    words = core + sorted(tail - set(core))
    weights = 1.0 / np.arange(1, len(words) + 1) ** 1.05
    return words, weights / weights.sum()


def pages_text(rng: np.random.Generator, words: list[str], probs: np.ndarray, n: int) -> Iterator[str]:
    """Pages of 50–80 vocabulary words (≈ 80–150 syllables), in sentences, with numbers."""
    lengths = rng.integers(50, 81, size=n)
    picks = rng.choice(len(words), size=int(lengths.sum()), p=probs)
    numbers = rng.integers(1, 9999, size=n)
    start = 0
    for i, length in enumerate(lengths):
        chosen = [words[k] for k in picks[start : start + length]]
        start += length
        sentences = [" ".join(chosen[j : j + 12]) for j in range(0, len(chosen), 12)]
        body = ". ".join(s[:1].upper() + s[1:] for s in sentences)
        yield f"Số {numbers[i]}/QĐ-UBND. {body}."


@dataclass
class Corpus:
    dossiers: list[dict[str, object]] = field(default_factory=list)
    documents: list[dict[str, object]] = field(default_factory=list)
    pages: list[dict[str, object]] = field(default_factory=list)


def fields(rng: np.random.Generator, received: dt.date) -> dict[str, object]:
    """A document's type, number, issuer and date of issue, with the keys search filters on."""
    (doc_type, symbol), issuer = DOC_TYPES[int(rng.integers(0, len(DOC_TYPES)))], str(rng.choice(ISSUERS))
    number = f"{int(rng.integers(1, 5000))}/{symbol}-UBND"
    issued = received - dt.timedelta(days=int(rng.integers(0, 60)))
    return {"doc_type": doc_type, "doc_number": number, "number_key": fold(number), "issuer": issuer,
            "issuer_key": fold(issuer), "issued_on": issued}  # fmt: skip


def make_corpus(n_pages: int, seed: int, agencies: int = len(AGENCIES)) -> Corpus:
    """``n_pages`` pages; dossiers of ``agencies`` agency codes (drawn apart from the rest when not
    the 12 of AGENCIES, so the pages stay the same)."""
    rng = np.random.default_rng(seed)
    documents_rng, agency_rng = np.random.default_rng(seed + 1), np.random.default_rng(seed + 2)
    codes = agency_codes(agencies)
    words, probs = vocabulary(rng)
    texts = pages_text(rng, words, probs, n_pages)
    corpus = Corpus()
    per_day: dict[str, int] = {}
    first_day = dt.date(2024, 1, 1)
    page_id = 0
    while page_id < n_pages:
        day = first_day + dt.timedelta(days=int(rng.integers(0, 730)))
        agency = AGENCIES[int(rng.integers(0, len(AGENCIES)))]
        if len(codes) != len(AGENCIES):
            agency = codes[int(agency_rng.integers(0, len(codes)))]
        key = f"{agency}-{day:%y%m%d}"
        per_day[key] = per_day.get(key, 0) + 1
        code = f"{key}-{per_day[key]:04d}"
        procedure = PROCEDURES[int(rng.integers(0, len(PROCEDURES)))]
        name = f"{rng.choice(split(SURNAMES))} {' '.join(rng.choice(split(SYLLABLES), 2)).title()}"
        corpus.dossiers.append(
            {
                "code": code,
                "agency": agency,
                "received_on": day,
                "title": f"Hồ sơ {procedure.lower()} của {name}",
                "procedure": procedure,
                "applicant": name,
                "status": STATUSES[int(rng.integers(0, len(STATUSES)))],
            }
        )
        document_id = len(corpus.documents) + 1
        corpus.documents.append(
            {
                "id": document_id,
                "dossier_code": code,
                "original_name": "scan.pdf",
                "original_key": f"dossiers/{code}/originals/{document_id}.pdf",
                "original_sha256": f"{document_id:064x}",
                "original_size": 1,
                "page_count": 0,
                **fields(documents_rng, day),
            }
        )
        count = min(int(rng.integers(1, 17)), n_pages - page_id)
        for number in range(1, count + 1):
            page_id += 1
            corpus.pages.append({"id": page_id, "document_id": document_id, "number": number, "text": next(texts)})
        corpus.documents[-1]["page_count"] = count
    return corpus


def entries(corpus: Corpus) -> Iterator[tuple[int, str, str]]:
    """What storage.search.index_document indexes: page text, and metadata with each first page."""
    meta = {d["code"]: metadata_text(Dossier(**d)) for d in corpus.dossiers}
    code_of = {d["id"]: d["dossier_code"] for d in corpus.documents}
    for p in corpus.pages:
        yield p["id"], p["text"], meta[code_of[p["document_id"]]] if p["number"] == 1 else ""  # type: ignore[index]


@dataclass
class Engine:
    name: str
    url: str
    sessions: sessionmaker[Session] | None = None
    figures: dict[str, float] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)
    totals: dict[str, list[int]] = field(default_factory=dict)
    estimated: dict[str, list[bool]] = field(default_factory=dict)  # PostgreSQL above EXACT_UP_TO


def load(engine: Engine, corpus: Corpus, batch: int = 10_000) -> None:
    engine.sessions = sessions = open_catalog(engine.url)
    started = time.perf_counter()
    with sessions.begin() as s:
        for model, rows in ((Dossier, corpus.dossiers), (Document, corpus.documents), (Page, corpus.pages)):
            for i in range(0, len(rows), batch):
                s.execute(insert(model), rows[i : i + batch])  # executemany
    engine.figures["catalog rows s"] = time.perf_counter() - started
    started = time.perf_counter()
    stream = entries(corpus)
    while True:  # a commit every `batch` pages, as a worker's transactions would
        with sessions.begin() as s:
            if not index_entries(s, (e for _, e in zip(range(batch), stream, strict=False)), replace=False):
                break
    engine.figures["index s"] = time.perf_counter() - started
    started = time.perf_counter()
    bind = sessions.kw["bind"]
    if engine.name == "sqlite":
        with bind.begin() as c:
            c.execute(text("ANALYZE"))
    else:  # flush GIN pending lists and gather statistics, as autovacuum would soon
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    engine.figures["analyze s"] = time.perf_counter() - started


def sizes(engine: Engine, path: Path | None) -> None:
    assert engine.sessions is not None
    bind = engine.sessions.kw["bind"]
    mb = 1 << 20
    with bind.connect() as c:
        if engine.name == "sqlite":
            assert path is not None
            wal = Path(f"{path}-wal")
            engine.figures["db MB"] = (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / mb
            engine.figures["of which WAL MB"] = (wal.stat().st_size if wal.exists() else 0) / mb
            index = c.execute(text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'page_search%'")).scalar_one()
            engine.figures["index MB"] = index / mb
        else:
            tables = ("dossiers", "documents", "pages", "page_search")
            total = sum(c.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one() for t in tables)
            engine.figures["db MB"] = total / mb
            engine.figures["index MB"] = (
                c.execute(text("SELECT pg_total_relation_size('page_search')")).scalar_one() / mb
            )


Query = tuple[str, dict[str, object]]


def classes() -> dict[str, list[Query]]:
    """Each class across all agencies, then scoped to one (a clerk's view: ``agencies``, each
    query its own agency, or the one it filters on)."""
    with_marks = {"one word": ONE_WORD, "three words": THREE_WORDS, "phrase": PHRASES}
    out: dict[str, list[Query]] = {}
    for name, queries in with_marks.items():
        out[f"{name}, dấu"] = [(q, {}) for q in queries]
        out[f"{name}, no marks"] = [(fold(q), {}) for q in queries]
    out["filtered, dấu (extra)"] = FILTERED
    for name, queries in list(out.items()):
        out[f"{name}, one agency"] = [
            (q, {**f, "agencies": (f.get("agency") or AGENCIES[k % len(AGENCIES)],)})
            for k, (q, f) in enumerate(queries)
        ]
    return out


def measure(engine: Engine, runs: int, seed: int) -> None:
    assert engine.sessions is not None
    rng = np.random.default_rng(seed)  # the same picks on both engines
    for queries in classes().values():  # warm the caches once, as a running server's are
        for q, filters in queries:
            with engine.sessions() as s:
                search(s, q, **filters)  # type: ignore[arg-type]
    for name, queries in classes().items():
        times, totals, estimated = [], [], []
        for _ in range(runs):
            query, filters = queries[int(rng.integers(0, len(queries)))]
            started = time.perf_counter()
            with engine.sessions() as s:
                found = search(s, query, limit=20, **filters)  # type: ignore[arg-type]
            times.append((time.perf_counter() - started) * 1000)
            totals.append(found.total)
            estimated.append(found.estimated)
        engine.times[name] = times
        engine.totals[name] = totals
        engine.estimated[name] = estimated


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(engines: list[Engine], corpus: Corpus) -> None:
    words = [len(p["text"].split()) for p in corpus.pages[:5000]]  # type: ignore[union-attr]
    print(
        f"\n{len(corpus.pages)} pages in {len(corpus.documents)} documents of {len(corpus.dossiers)} dossiers; "
        f"{statistics.mean(words):.0f} words a page on average"
    )
    names = [e.name for e in engines]
    print(f"\n| figure | {' | '.join(names)} |\n|---|{'---:|' * len(engines)}")
    for key in ("catalog rows s", "index s", "analyze s", "db MB", "of which WAL MB", "index MB"):
        print(f"| {key} | {' | '.join(f'{e.figures[key]:.1f}' if key in e.figures else '–' for e in engines)} |")
    print(f"\n| query class (ms) | median matches | {' | '.join(f'{n} p50 | {n} p95' for n in names)} |")
    print(f"|---|---:|{'---:|---:|' * len(engines)}")
    for name in classes():
        cells = " | ".join(
            f"{percentile(e.times[name], 0.5):.1f} | {percentile(e.times[name], 0.95):.1f}" for e in engines
        )
        print(f"| {name} | {statistics.median(engines[0].totals[name]):.0f} | {cells} |")
    if len(engines) == 2:
        pairs = [
            (a, b, c or d)
            for n in classes()
            for a, b, c, d in zip(
                engines[0].totals[n], engines[1].totals[n], *(e.estimated[n] for e in engines), strict=True
            )
        ]
        same = all(a == b for a, b, about in pairs if not about)
        near = max((abs(a - b) / max(a, 1) for a, b, about in pairs if about), default=0.0)
        print(
            f"\nsame match counts on both engines where both count exactly ({sum(not p[2] for p in pairs)} queries): "
            f"{'yes' if same else 'NO'}; estimated totals ({sum(p[2] for p in pairs)}) within {100 * near:.0f} %"
        )


def prepare(name: str, db_path: Path, admin: sqlalchemy.Engine, schema: str, keep: bool, corpus: Corpus) -> Engine:
    """The engine, loaded: SQLite in a new file; PostgreSQL in ``schema``, unless it is kept
    (``keep``) and an earlier run loaded it already."""
    if name == "sqlite":
        engine = Engine(name, f"sqlite:///{db_path}")
        load(engine, corpus)
        return engine
    with admin.connect() as c:
        print(c.execute(text("SELECT version()")).scalar_one().split(" on ")[0])
        loaded = keep and c.execute(text(f"SELECT to_regclass('{schema}.page_search')")).scalar() is not None
        if not loaded:
            c.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    engine = Engine(name, f"{PG}?options=-csearch_path%3D{schema}")
    if loaded:
        engine.sessions = open_catalog(engine.url)
        print(f"postgresql: schema {schema} kept from an earlier run: not loaded again")
    else:
        load(engine, corpus)
    return engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=200_000, help="synthetic pages (default 200000)")
    ap.add_argument("--runs", type=int, default=50, help="timed searches per query class and engine (default 50)")
    ap.add_argument("--seed", type=int, default=20250527)
    ap.add_argument(
        "--agencies", type=int, default=len(AGENCIES), help="agency codes (default 12; a province has hundreds)"
    )
    ap.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument(
        "--schema",
        help="PostgreSQL: load into this schema and keep it; a later run with the same --schema and --pages "
        "measures without loading again (for 2,000,000 pages, whose load takes minutes)",
    )
    args = ap.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print("date:   ", dt.datetime.now().astimezone().isoformat(timespec="seconds"), "| CPUs:", os.cpu_count())
    print(f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}")

    started = time.perf_counter()
    corpus = make_corpus(args.pages, args.seed, args.agencies)
    print(f"corpus generated in {time.perf_counter() - started:.1f} s")

    engines: list[Engine] = []
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        db_path = Path(tmp) / "catalog.db"
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        schema = args.schema or f"search_bench_{uuid.uuid4().hex[:8]}"
        try:
            for name in args.engines.split(","):
                engine = prepare(name, db_path, admin, schema, args.schema is not None, corpus)
                engines.append(engine)
                sizes(engine, db_path if name == "sqlite" else None)
                print(f"{name}: loaded and indexed: {engine.figures}", flush=True)
                measure(engine, args.runs, args.seed)
                engine.sessions.kw["bind"].dispose()  # type: ignore[union-attr]
        finally:
            if any(e.name == "postgresql" for e in engines) and not args.schema:
                with admin.connect() as c:
                    c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    report(engines, corpus)


if __name__ == "__main__":
    main()

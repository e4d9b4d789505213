"""Storage: dossier codes, the filesystem object store and the catalog (search: test_search.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from service.settings import DOSSIER_CODE_PATTERN
from storage import FilesystemStore, open_catalog, parse_code
from storage.errors import InvalidDossierCode, NotFound, ObjectExists, StorageError


@pytest.mark.parametrize(
    "code",
    ["000.00.12.H12-250527-0001", "123.45.67.A01-240229-9999"],
)
def test_valid_dossier_codes(code: str) -> None:
    parsed = parse_code(code, DOSSIER_CODE_PATTERN)
    assert parsed.code == code and parsed.agency == code[:13] and parsed.received_on is not None


@pytest.mark.parametrize(
    "code",
    [
        "../../etc/passwd",
        "000.00.12.H12-250527-0001/../x",
        "000.00.12.H12-250527-001",
        "000.00.12.h12-250527-0001",
        "000.00.12.H12-250527-0001\n",
        "000.00.12.H12-230229-0001",  # 29 February 2023 did not exist
        "",
        "x" * 5000,
    ],
)
def test_invalid_dossier_codes_are_rejected_with_the_field(code: str) -> None:
    with pytest.raises(InvalidDossierCode) as e:
        parse_code(code, DOSSIER_CODE_PATTERN)
    assert e.value.field == "code" and e.value.status == 422
    assert e.value.vi.startswith("Mã hồ sơ") and e.value.en.startswith("Dossier code")
    assert len(e.value.vi) < 200  # a long code is shortened in the message


def _writer(root: str, key: str, payload: bytes, tmp: str) -> None:
    src = Path(tmp)
    src.write_bytes(payload)
    FilesystemStore(Path(root)).put_file(key, src)


def test_filesystem_store_round_trip_and_write_once(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    src = tmp_path / "a.bin"
    src.write_bytes(b"hello")
    info = store.put_file("dossiers/X/originals/a.bin", src, write_once=True)
    assert info.size == 5 and info.sha256.startswith("2cf24dba")
    assert store.put_file("dossiers/X/originals/a.bin", src, write_once=True) == info  # same bytes: idempotent
    src.write_bytes(b"other")
    with pytest.raises(ObjectExists):
        store.put_file("dossiers/X/originals/a.bin", src, write_once=True)
    with store.open("dossiers/X/originals/a.bin") as f:
        assert f.read() == b"hello"
    assert list(store.list("dossiers/X")) == ["dossiers/X/originals/a.bin"]
    with pytest.raises(NotFound):
        store.open("dossiers/X/missing")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", "a b", "a/\x00"])
def test_object_keys_cannot_escape_the_store(tmp_path: Path, key: str) -> None:
    store = FilesystemStore(tmp_path / "objects")
    with pytest.raises(StorageError):
        store.exists(key)


def test_concurrent_writers_never_leave_a_partial_object(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    payloads = [bytes([i]) * 3_000_000 for i in range(4)]
    procs = [
        multiprocessing.Process(target=_writer, args=(str(root), "k/obj", p, str(tmp_path / f"src{i}")))
        for i, p in enumerate(payloads)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    data = (root / "k" / "obj").read_bytes()
    assert data in payloads
    assert not list((root / "k").glob(".tmp-*"))


def test_catalog_uses_wal_and_migrations(tmp_path: Path) -> None:
    sessions = open_catalog(f"sqlite:///{tmp_path / 'w.db'}")
    with sessions() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0014"


def _migrating(url: str, start: Any, out: Any) -> None:
    start.wait()
    sessions = open_catalog(url)
    with sessions() as s:
        out.put(s.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def test_processes_starting_at_once_migrate_a_fresh_catalog_one_after_the_other(catalog_url: str) -> None:
    """Server processes and workers started together on an empty catalog: each finds it at head,
    none fails creating a table another has just created."""
    start, out = multiprocessing.Event(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_migrating, args=(catalog_url, start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert sorted(out.get(timeout=5) for _ in procs) == ["0014"] * 4


def test_migration_numbers_documents_within_their_dossier(catalog_url: str) -> None:
    """0006 numbers the documents already stored per dossier, in the order they came (id), and
    rewrites what refers to them by the catalog's id: job results, their notices, who posted."""
    import datetime as dt

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import MetaData, insert, select

    from storage.catalog import MIGRATIONS, make_engine, migrate

    engine = make_engine(catalog_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    at = dt.datetime(2025, 5, 27, tzinfo=dt.UTC)
    low = [{"code": "low-dpi", "vi": "150 dpi", "en": "150 dpi"}]
    with engine.begin() as c:
        config.attributes["connection"] = c
        command.upgrade(config, "0005")
        tables = MetaData()
        tables.reflect(c, only=["dossiers", "documents", "jobs"])
        dossiers, documents, jobs = (tables.tables[n] for n in ("dossiers", "documents", "jobs"))
        meta = {"agency": "x", "title": "", "status": "DIGITIZED", "procedure": "", "applicant": "", "retention": ""}
        c.execute(insert(dossiers), [{"code": code, "created_at": at, "updated_at": at, **meta} for code in "AB"])
        scanned = {"part": "", "original_key": "k", "original_size": 1, "page_count": 1, "created_at": at}
        c.execute(
            insert(documents),
            [
                {"id": i, "dossier_code": code, "original_name": f"{i}.png", "original_sha256": str(i), **scanned}
                for i, code in ((1, "A"), (2, "B"), (3, "A"), (4, "A"), (5, "B"))
            ],
        )
        scan = {"document_id": 4, "notices": low}
        batch = {"documents": [{"document_id": 2, "notices": []}, {"document_id": 5, "notices": low}]}
        done = {"kind": "digitize", "status": "done", "pages_done": 1, "attempts": 1}
        c.execute(
            insert(jobs),
            [
                {
                    "id": j,
                    "document_id": i,
                    "result": r,
                    "options": {"posted_by": f"Trạm {j}"},
                    "created_at": at,
                    **done,
                }
                for j, i, r in (("j1", 4, scan), ("j2", None, batch), ("j3", 3, None))
            ],
        )
    migrate(engine)
    with engine.connect() as c:
        tables = MetaData()
        tables.reflect(c, only=["documents", "jobs"])
        documents, jobs = tables.tables["documents"], tables.tables["jobs"]
        rows = c.execute(select(documents.c.id, documents.c.number, documents.c.notices).order_by(documents.c.id))
        assert [(i, n, bool(notices)) for i, n, notices in rows] == [
            (1, 1, False), (2, 1, False), (3, 2, False), (4, 3, True), (5, 2, True)
        ]  # fmt: skip
        results = dict(c.execute(select(jobs.c.id, jobs.c.result)).all())
        assert results["j1"]["document_id"] == 3 and [d["document_id"] for d in results["j2"]["documents"]] == [1, 2]
        assert c.execute(select(jobs.c.posted_by).where(jobs.c.id == "j3")).scalar_one() == "Trạm j3"
    engine.dispose()


def test_migration_counts_components_and_puts_filters_beside_the_index(catalog_url: str) -> None:
    """0013 counts each dossier's components onto its row and, on PostgreSQL, writes the index
    rows again with their dossier's and document's filter values, which searches then use."""
    import datetime as dt

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import MetaData, insert
    from sqlalchemy.orm import sessionmaker

    from service import statistics
    from storage.catalog import MIGRATIONS, make_engine, migrate
    from storage.search import DocumentFilter, _tsvector, index_columns, search

    engine = make_engine(catalog_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    at = dt.datetime(2025, 5, 27, tzinfo=dt.UTC)
    with engine.begin() as c:
        config.attributes["connection"] = c
        command.upgrade(config, "0010")
        tables = MetaData()
        tables.reflect(c, only=["dossiers", "documents", "pages", "signatures"])
        dossiers, documents, pages, signatures = (
            tables.tables[n] for n in ("dossiers", "documents", "pages", "signatures")
        )
        meta = {"title": "", "procedure": "", "applicant": "", "retention": "", "created_at": at, "updated_at": at}
        for code, agency, status in (("A", "000.00.12.H12", "RETURNED"), ("B", "000.00.13.H13", "RECEIVED")):
            c.execute(insert(dossiers).values(code=code, agency=agency, status=status, **meta))
        scanned = {"part": "", "original_key": "k", "original_size": 1, "page_count": 1, "created_at": at}
        for i, code, number, pdfa, doc_type in ((1, "A", 1, "a", "Quyết định"), (2, "A", 2, None, None),
                                                (3, "B", 1, "b", None)):  # fmt: skip
            row = {"id": i, "dossier_code": code, "number": number, "pdfa_sha256": pdfa, "doc_type": doc_type}
            c.execute(insert(documents).values(**row, original_name=str(i), original_sha256=str(i), **scanned))
        seal = {"kind": "agency", "field": "Seal", "signer": "UBND", "signed_at": "", "level": "B-B", "object_key": "s"}
        c.execute(insert(signatures).values(document_id=1, version="a", **seal))
        read = {"number": 1, "words": 3, "confidence": 90.0, "dpi": 300.0}
        for page_id, document_id, body in ((1, 1, "Hồ sơ đất"), (2, 3, "Hồ sơ nhà")):
            c.execute(insert(pages).values(id=page_id, document_id=document_id, text=body, **read))
        for page_id, body in ((1, "Hồ sơ đất"), (2, "Hồ sơ nhà")):  # as 0010's index rows were written
            exact, folded = index_columns(body)
            if c.dialect.name == "sqlite":
                row = {"id": page_id, "exact": " ".join(exact), "folded": " ".join(folded)}
                c.execute(text("INSERT INTO page_search (rowid, exact, folded) VALUES (:id, :exact, :folded)"), row)
            else:
                row = {"id": page_id, "exact": _tsvector(exact), "folded": _tsvector(folded)}
                c.execute(
                    text("INSERT INTO page_search VALUES (:id, CAST(:exact AS tsvector), CAST(:folded AS tsvector))"),
                    row,
                )
    migrate(engine)
    with sessionmaker(engine)() as s:
        assert statistics.kept(s) == statistics.recounted(s) == {"A": (2, 1, 1), "B": (1, 1, 0)}
        assert [h.dossier_code for h in search(s, "ho so").hits] == ["B", "A"]
        assert [h.dossier_code for h in search(s, "ho so", status="RETURNED").hits] == ["A"]
        assert [h.dossier_code for h in search(s, "ho so", agencies=("000.00.13.H13",)).hits] == ["B"]
        assert search(s, "ho so", documents=DocumentFilter(type="Quyết định")).total == 1
    engine.dispose()

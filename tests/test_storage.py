"""Storage: dossier codes, the filesystem object store, the catalog and Vietnamese search."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import text

from settings import DOSSIER_CODE_PATTERN
from storage import Document, Dossier, FilesystemStore, Page, open_catalog, parse_code
from storage.errors import InvalidDossierCode, NotFound, ObjectExists, StorageError
from storage.search import fold, index_page, search


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


def test_fold_removes_diacritics_and_d_stroke() -> None:
    assert fold("Đăng ký hồ sơ") == "dang ky ho so"
    assert fold("ĐƯỜNG Ấp Bắc") == "duong ap bac"


@pytest.fixture
def catalog(tmp_path: Path):  # type: ignore[no-untyped-def]
    sessions = open_catalog(f"sqlite:///{tmp_path / 'c.db'}")
    texts = {
        1: "Bản sao giấy khai sinh của công dân",
        2: "Gửi bạn đọc thư mời họp",
        3: "Bán đấu giá quyền sử dụng đất",
        4: "Đơn đề nghị cấp giấy phép xây dựng nhà ở riêng lẻ",
    }
    with sessions.begin() as s:
        s.add(Dossier(code="000.00.12.H12-250527-0001", agency="000.00.12.H12"))
        s.add(
            Document(
                id=1,
                dossier_code="000.00.12.H12-250527-0001",
                original_name="a",
                original_key="k",
                original_sha256="0" * 64,
                original_size=1,
            )
        )
        for n, body in texts.items():
            page = Page(document_id=1, number=n, text=body)
            s.add(page)
            s.flush()
            index_page(s, page)
    return sessions


def test_search_without_diacritics_finds_words_with_them(catalog) -> None:  # type: ignore[no-untyped-def]
    with catalog() as s:
        total, hits = search(s, "giay phep xay dung")
        assert total == 1 and hits[0].page == 4
        assert "«giấy» «phép» «xây» «dựng»" in hits[0].snippet
        total, hits = search(s, "DE NGHI")
        assert total == 1 and hits[0].page == 4


def test_query_with_diacritics_ranks_exact_matches_first(catalog) -> None:  # type: ignore[no-untyped-def]
    with catalog() as s:
        for query, exact_page in (("bản", 1), ("bạn", 2), ("bán", 3)):
            total, hits = search(s, query)
            assert total == 3, query  # folded, all three pages match "ban"
            assert hits[0].page == exact_page and hits[0].exact, query
            assert not any(h.exact for h in hits[1:]), query
        total, hits = search(s, "ban")
        assert total == 3 and not any(h.exact for h in hits)


def test_phrase_query_needs_the_words_together(catalog) -> None:  # type: ignore[no-untyped-def]
    with catalog() as s:
        assert search(s, '"giấy phép"')[0] == 1
        assert search(s, '"phép giấy"')[0] == 0
        assert search(s, "giấy")[0] == 2


def test_query_syntax_cannot_break_the_search(catalog) -> None:  # type: ignore[no-untyped-def]
    with catalog() as s:
        for query in ('"', "NEAR(", "a OR", "*", "-- ;DROP TABLE pages", "'"):
            total, _ = search(s, query)
            assert total >= 0
        assert s.execute(text("SELECT count(*) FROM pages")).scalar_one() == 4


def test_catalog_uses_wal_and_migrations(tmp_path: Path) -> None:
    sessions = open_catalog(f"sqlite:///{tmp_path / 'w.db'}")
    with sessions() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0003"

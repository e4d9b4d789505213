"""Storage: dossier codes, the filesystem object store and the catalog (search: test_search.py)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

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
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0005"

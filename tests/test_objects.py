"""The object store contract, run on both backends (files on disk, and S3 on a real server),
then what only S3 does (retention, legal hold, versions, failing fast when down) and what the
filesystem does instead."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention

from s3_server import S3Server, free_ports
from storage import filesystem
from storage.errors import NotFound, ObjectExists, StorageError, StorageUnavailable
from storage.filesystem import FilesystemStore
from storage.objects import ObjectStore
from storage.s3 import MIB, S3Store, open_s3_store
from storage.stores import open_store

PART = 5 * MIB  # the smallest part S3 allows: a multipart object needs only a few MiB


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "fs":
        return FilesystemStore(tmp_path / "objects")
    return open_s3_store(request.getfixturevalue("s3_url"), retention_days=1, part_size=PART)


@pytest.fixture
def s3(s3_url: str) -> S3Store:
    return open_s3_store(s3_url, retention_days=1, part_size=PART)


def _file(tmp_path: Path, data: bytes, name: str = "src.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# The contract: both backends


def test_round_trip_and_listing_by_prefix(store: ObjectStore, tmp_path: Path) -> None:
    contents = {
        "dossiers/A/originals/scan.pdf": b"%PDF-1.7 scan",
        "dossiers/A/documents/1/pdfa.pdf": b"%PDF-1.7 pdfa",
        "dossiers/AB/originals/x.bin": b"other dossier",
        "batches/b.tif": b"II*\x00",
    }
    for i, (key, data) in enumerate(contents.items()):
        info = store.put_file(key, _file(tmp_path, data, f"{i}.bin"))
        assert (info.key, info.size, info.sha256) == (key, len(data), hashlib.sha256(data).hexdigest())
    for key, data in contents.items():
        assert store.exists(key) and store.size(key) == len(data)
        with store.open(key) as f:
            assert f.read() == data
        store.get_file(key, tmp_path / "out.bin")
        assert (tmp_path / "out.bin").read_bytes() == data
    assert not store.exists("dossiers/A")  # a prefix is not an object
    assert list(store.list("dossiers/A/")) == ["dossiers/A/documents/1/pdfa.pdf", "dossiers/A/originals/scan.pdf"]
    assert list(store.list("dossiers/A")) == [  # a plain string prefix, in lexicographic order
        "dossiers/A/documents/1/pdfa.pdf",
        "dossiers/A/originals/scan.pdf",
        "dossiers/AB/originals/x.bin",
    ]
    assert list(store.list()) == sorted(contents)
    assert list(store.list("nothing/")) == []


def test_write_once_is_idempotent_for_the_same_bytes_and_refuses_others(store: ObjectStore, tmp_path: Path) -> None:
    key = "dossiers/X/originals/a.bin"
    info = store.put_file(key, _file(tmp_path, b"hello"), write_once=True)
    assert info.size == 5 and info.sha256.startswith("2cf24dba")
    assert store.put_file(key, _file(tmp_path, b"hello", "again.bin"), write_once=True) == info
    with pytest.raises(ObjectExists) as e:
        store.put_file(key, _file(tmp_path, b"other"), write_once=True)
    assert e.value.status == 409 and e.value.field == "key" and e.value.vi and e.value.en
    with store.open(key) as f:
        assert f.read() == b"hello"
    assert len(store.versions(key)) == 1  # neither the repeat nor the refusal made a version


@pytest.mark.parametrize("key", ["../x", "a//b", "/abs", "a/./b", "a/../b", "a b", "a/\x00", "", "a/"])
def test_invalid_keys_are_rejected_before_anything_is_touched(store: ObjectStore, tmp_path: Path, key: str) -> None:
    src = _file(tmp_path, b"x")
    for call in (
        lambda: store.put_file(key, src),
        lambda: store.open(key),
        lambda: store.exists(key),
        lambda: store.size(key),
        lambda: store.versions(key),
    ):
        with pytest.raises(StorageError) as e:
            call()
        assert type(e.value) is StorageError and e.value.field == "key"
    assert list(store.list()) == []


def test_missing_objects_are_not_found(store: ObjectStore, tmp_path: Path) -> None:
    for call in (
        lambda: store.open("dossiers/X/missing"),
        lambda: store.size("dossiers/X/missing"),
        lambda: store.get_file("dossiers/X/missing", tmp_path / "out"),
    ):
        with pytest.raises(NotFound) as e:
            call()
        assert e.value.status == 404 and "dossiers/X/missing" in e.value.en
    assert not store.exists("dossiers/X/missing")
    assert store.versions("dossiers/X/missing") == []


def test_overwriting_a_plain_object(store: ObjectStore, tmp_path: Path) -> None:
    store.put_file("k/obj", _file(tmp_path, b"first"))
    store.put_file("k/obj", _file(tmp_path, b"second, longer"))
    with store.open("k/obj") as f:
        assert f.read() == b"second, longer"
    assert store.size("k/obj") == 14
    versions = store.versions("k/obj")
    if isinstance(store, S3Store):  # versioning keeps the first one
        assert len(versions) == 2 and len(set(versions)) == 2
        old = store.client.get_object(store.bucket, "k/obj", version_id=versions[1])
        assert old.read() == b"first"
        old.release_conn()
    else:
        assert versions == ["null"]


def test_a_multipart_object_round_trips_intact(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(2 * PART + 12345)  # three parts on S3
    src = _file(tmp_path, data)
    info = store.put_file("big/object.bin", src, write_once=True)
    expected = hashlib.sha256(data).hexdigest()
    assert info.sha256 == expected and store.size("big/object.bin") == len(data)
    store.get_file("big/object.bin", tmp_path / "out.bin")
    assert hashlib.sha256((tmp_path / "out.bin").read_bytes()).hexdigest() == expected
    assert store.put_file("big/object.bin", src, write_once=True) == info  # idempotent from the stored hash
    if isinstance(store, S3Store):
        etag = store.client.stat_object(store.bucket, "big/object.bin").etag
        assert etag is not None and etag.endswith("-3")  # really uploaded as three parts


def test_open_streams_in_pieces_and_closes(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB + 7)
    store.put_file("stream/obj", _file(tmp_path, data))
    digest, pieces = hashlib.sha256(), 0
    with store.open("stream/obj") as f:
        while chunk := f.read(64 * 1024):
            assert len(chunk) <= 64 * 1024
            digest.update(chunk)
            pieces += 1
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest() and pieces >= 48
    with pytest.raises(ValueError):
        f.read(1)  # closed
    for _ in range(25):  # abandoned half-read streams must not exhaust the connection pool
        f = store.open("stream/obj")
        assert f.read(10) == data[:10]
        f.close()
    with store.open("stream/obj") as f:
        assert f.read() == data
    with store.open("stream/obj", MIB + 3) as f:  # HTTP Range downloads start mid-object
        assert f.read() == data[MIB + 3 :]


# S3 only: object lock, retention, legal hold, failures


def test_bucket_is_made_with_object_lock_and_versioning(s3: S3Store, tmp_path: Path) -> None:
    s3.check()
    assert s3.client.get_bucket_versioning(s3.bucket).status == "Enabled"
    s3.client.get_object_lock_config(s3.bucket)  # raises when the bucket has no object lock


def test_retained_objects_are_in_compliance_mode_and_cannot_be_deleted(s3: S3Store, tmp_path: Path) -> None:
    before = datetime.now(UTC)
    s3.put_file("dossiers/X/signed.pdf", _file(tmp_path, b"%PDF signed"), write_once=True, retain=True)
    retention = s3.client.get_object_retention(s3.bucket, "dossiers/X/signed.pdf")
    assert retention is not None and retention.mode == COMPLIANCE
    until = retention.retain_until_date
    assert until is not None and abs(until - (before + timedelta(days=1))) < timedelta(minutes=5)
    [version] = s3.versions("dossiers/X/signed.pdf")
    with pytest.raises(S3Error) as e:
        s3.client.remove_object(s3.bucket, "dossiers/X/signed.pdf", version_id=version)
    assert e.value.code == "AccessDenied"
    with pytest.raises(S3Error):  # COMPLIANCE: the date cannot be brought forward either
        s3.client.set_object_retention(
            s3.bucket, "dossiers/X/signed.pdf", Retention(COMPLIANCE, until - timedelta(hours=1)), version_id=version
        )
    with s3.open("dossiers/X/signed.pdf") as f:
        assert f.read() == b"%PDF signed"
    plain = s3.put_file("plain.bin", _file(tmp_path, b"plain"))  # without retain: no retention at all
    assert plain.size == 5
    with pytest.raises(S3Error):
        s3.client.get_object_retention(s3.bucket, "plain.bin")


def test_legal_hold_is_set_and_lifted(s3: S3Store, tmp_path: Path) -> None:
    s3.put_file("dossiers/X/original.tif", _file(tmp_path, b"II*\x00scan"))
    s3.legal_hold("dossiers/X/original.tif", True)
    assert s3.client.is_object_legal_hold_enabled(s3.bucket, "dossiers/X/original.tif")
    [version] = s3.versions("dossiers/X/original.tif")
    with pytest.raises(S3Error):
        s3.client.remove_object(s3.bucket, "dossiers/X/original.tif", version_id=version)
    s3.legal_hold("dossiers/X/original.tif", False)
    assert not s3.client.is_object_legal_hold_enabled(s3.bucket, "dossiers/X/original.tif")
    s3.client.remove_object(s3.bucket, "dossiers/X/original.tif", version_id=version)  # no retention: it goes
    assert not s3.exists("dossiers/X/original.tif")
    with pytest.raises(NotFound):
        s3.legal_hold("dossiers/X/original.tif", True)


def test_an_existing_bucket_without_lock_gets_versioning_and_refuses_retention(
    s3_endpoint: S3Server, tmp_path: Path
) -> None:
    client = s3_endpoint.client()
    bucket = f"sohoa-plain-{os.urandom(6).hex()}"
    client.make_bucket(bucket)  # made elsewhere, without object lock
    store = open_s3_store(s3_endpoint.url(bucket))
    store.put_file("a", _file(tmp_path, b"a"))
    assert client.get_bucket_versioning(bucket).status == "Enabled"
    with pytest.raises(StorageError, match="object lock") as e:
        store.put_file("b", _file(tmp_path, b"b"), retain=True)
    assert "khóa đối tượng" in e.value.vi
    assert not store.exists("b")


def test_open_store_reads_the_url_with_encoded_credentials(s3_url: str) -> None:
    store = open_store(s3_url, retention_days=30)
    assert isinstance(store, S3Store) and store.retention_days == 30
    store.check()  # the secret has / + : @ in it: signing only works if it was decoded
    assert list(store.list()) == []


@pytest.mark.parametrize(
    "url",
    [
        "s3://127.0.0.1:9000/bucket",  # no credentials
        "s3://key:secret@127.0.0.1:9000/",  # no bucket
        "s3://key:secret@127.0.0.1:9000/a/b",  # not one bucket
        "s3://key:secret@127.0.0.1:port/bucket",
        "s3://key:secret@/bucket",
        "s3://key:secret@127.0.0.1:9000/Not_A_Bucket",
    ],
)
def test_malformed_s3_urls_name_the_setting_and_hide_the_secret(url: str) -> None:
    with pytest.raises(StorageError) as e:
        open_store(url)
    assert e.value.field == "SOHOA_OBJECT_STORE_URL" and "secret" not in str(e.value)


def test_s3s_means_tls_and_region_comes_from_the_query() -> None:
    store = open_s3_store("s3s://AK%2F1:S%40K@s3.example.vn:9443/luu-tru?region=ap-southeast-1")
    assert (store.endpoint, store.bucket, store.secure, store.region) == (
        "s3.example.vn:9443",
        "luu-tru",
        True,
        "ap-southeast-1",
    )
    assert not open_s3_store("s3://k:s@127.0.0.1:9000/bkt").secure


def _fails_fast(call: object) -> StorageUnavailable:
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as e:
        call()  # type: ignore[operator]
    assert time.monotonic() - started < 5
    return e.value


def test_a_store_that_is_down_fails_fast_with_503(tmp_path: Path) -> None:
    [port] = free_ports(1)  # nothing listens there
    down = S3Store(f"127.0.0.1:{port}", "bucket", "key", "secret", secure=False)
    src = _file(tmp_path, b"x")
    error = _fails_fast(down.check)
    assert error.status == 503 and "S3" in error.vi and "S3" in error.en
    _fails_fast(lambda: down.put_file("a", src))
    _fails_fast(lambda: down.open("a"))
    _fails_fast(lambda: down.exists("a"))
    _fails_fast(lambda: list(down.list()))
    _fails_fast(lambda: down.versions("a"))


def test_a_server_that_never_answers_fails_the_readiness_check_in_seconds() -> None:
    with socket.socket() as silent:  # the kernel accepts the connection; nobody ever replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hung = S3Store(f"127.0.0.1:{silent.getsockname()[1]}", "bucket", "key", "secret", secure=False)
        assert "Timeout" in _fails_fast(hung.check).en


def test_wrong_credentials_make_the_store_unavailable(s3_endpoint: S3Server, s3_url: str) -> None:
    wrong = S3Store(s3_endpoint.endpoint, s3_url.rsplit("/", 1)[1], s3_endpoint.access_key, "wrong", secure=False)
    error = _fails_fast(wrong.check)
    assert "SignatureDoesNotMatch" in error.en or "AccessDenied" in error.en or "InvalidAccessKeyId" in error.en


# The filesystem store: what it does instead of object lock


def test_filesystem_retention_is_a_read_only_file_that_is_never_replaced(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    info = store.put_file("dossiers/X/signed.pdf", _file(tmp_path, b"%PDF signed"), write_once=True, retain=True)
    path = tmp_path / "objects" / "dossiers/X/signed.pdf"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert store.put_file("dossiers/X/signed.pdf", path, write_once=True, retain=True) == info
    with pytest.raises(ObjectExists) as e:
        store.put_file("dossiers/X/signed.pdf", _file(tmp_path, b"replacement"))
    assert "retained" in e.value.en
    assert path.read_bytes() == b"%PDF signed"
    store.put_file("plain.bin", _file(tmp_path, b"plain"))
    assert stat.S_IMODE((tmp_path / "objects" / "plain.bin").stat().st_mode) & 0o200


def test_new_folders_reach_the_disk_with_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A put into new folders fsyncs each new folder's entry in its parent, then the file's own
    folder; into a folder that exists, only the latter."""
    store = FilesystemStore(tmp_path / "objects")
    root = tmp_path / "objects"
    synced: list[Path] = []
    fsync_folder = filesystem._fsync_folder

    def spied(folder: Path) -> None:
        synced.append(folder)
        fsync_folder(folder)

    monkeypatch.setattr(filesystem, "_fsync_folder", spied)
    store.put_file("dossiers/X/originals/a.pdf", _file(tmp_path, b"%PDF a"))
    assert synced == [root, root / "dossiers", root / "dossiers/X", root / "dossiers/X/originals"]
    synced.clear()
    store.put_file("dossiers/X/originals/b.pdf", _file(tmp_path, b"%PDF b"))
    assert synced == [root / "dossiers/X/originals"]


def test_filesystem_store_has_no_legal_hold(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    store.put_file("a", _file(tmp_path, b"a"))
    with pytest.raises(StorageError) as e:
        store.legal_hold("a", True)
    assert "legal hold" in e.value.en and "phong tỏa" in e.value.vi


def test_a_given_up_upload_is_moved_not_copied(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "objects")
    upload = tmp_path / "upload"
    upload.write_bytes(b"%PDF scan")
    inode = upload.stat().st_ino
    info = store.put_file("dossiers/X/originals/a.pdf", upload, write_once=True, move=True)
    stored = tmp_path / "objects" / info.key
    assert stored.read_bytes() == b"%PDF scan" and stored.stat().st_ino == inode and not upload.exists()
    kept = tmp_path / "kept"
    kept.write_bytes(b"%PDF other")
    store.put_file("dossiers/X/originals/b.pdf", kept, write_once=True)  # not given up: copied
    assert kept.read_bytes() == b"%PDF other"

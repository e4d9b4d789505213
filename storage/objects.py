"""Object store interface and its filesystem backend (the embedded default); S3 is in ``storage.s3``."""

from __future__ import annotations

import builtins  # the stores have a method named list
import hashlib
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

from storage.errors import NotFound, NotSupported, ObjectExists, StorageError, StorageUnavailable

_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    sha256: str


def check_key(key: str) -> str:
    """Keys are relative paths of safe characters; no part may be '.' or '..'."""
    if not _KEY.fullmatch(key) or any(part in (".", "..") for part in key.split("/")):
        raise StorageError(f"Khóa đối tượng không hợp lệ: {key!r}.", f"Invalid object key: {key!r}.", field="key")
    return key


class ObjectStore(Protocol):
    def put_file(
        self,
        key: str,
        source: Path,
        *,
        write_once: bool = False,
        retain: bool = False,
        sha256: str | None = None,
        move: bool = False,
    ) -> ObjectInfo:
        """Store a file under key. ``write_once``: the same bytes again are a no-op, other bytes
        raise ObjectExists. ``retain``: kept unchangeable (S3: COMPLIANCE retention). ``sha256``:
        the source's hash when the caller has it already (the API hashes uploads as they stream).
        ``move``: the caller gives the source up; the store may take the file itself (rename)."""
        ...

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """The object's bytes from ``offset`` on, streamed (for HTTP Range requests)."""
        ...

    def get_file(self, key: str, dest: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys starting with prefix (a plain string prefix), in lexicographic order."""
        ...

    def versions(self, key: str) -> builtins.list[str]:
        """Version ids of the object, newest first; empty when there is no such object."""
        ...

    def legal_hold(self, key: str, on: bool) -> None: ...
    def check(self) -> None: ...


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class FilesystemStore:
    """Objects as files under one root. Writes go to a temporary file that is fsynced and
    renamed into place, so a reader never sees a partial object, even across processes.

    There are no versions: an overwrite replaces the file. ``retain=True`` makes the file
    read-only (0444) and refuses to replace it, which guards against mistakes, not against
    root or anyone who can chmod: only an S3 store with object lock enforces retention."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(
        self,
        key: str,
        source: Path,
        *,
        write_once: bool = False,
        retain: bool = False,
        sha256: str | None = None,
        move: bool = False,
    ) -> ObjectInfo:
        target = self._path(key)
        size = source.stat().st_size
        sha256 = sha256 or _hash_file(source)[0]
        if target.exists() and write_once:
            if _hash_file(target)[0] == sha256:
                return ObjectInfo(key, size, sha256)  # same bytes again: nothing to do
            raise ObjectExists(
                f"Đối tượng {key} đã có và không được ghi đè.", f"Object {key} exists and is write-once.", field="key"
            )
        if target.exists() and _retained(target):  # no older version to fall back on, so never replaced
            raise ObjectExists(
                f"Đối tượng {key} đang được lưu giữ và không được ghi đè.",
                f"Object {key} is retained and cannot be replaced.",
                field="key",
            )
        try:
            _make_folders(target.parent)
            tmp = str(target.parent / f".tmp-{uuid.uuid4().hex}")
            try:
                if not (move and _renamed(source, tmp)):
                    with source.open("rb") as src, open(tmp, "xb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                    if retain:  # before it is linked into place, so it is never visible writable
                        os.fchmod(fd, 0o444)
                finally:
                    os.close(fd)
                if write_once:
                    try:
                        os.link(tmp, target)  # fails if another writer got there first
                    except FileExistsError as e:
                        if _hash_file(target)[0] != sha256:
                            raise ObjectExists(
                                f"Đối tượng {key} đã có và không được ghi đè.",
                                f"Object {key} exists and is write-once.",
                                field="key",
                            ) from e
                    os.unlink(tmp)
                else:
                    os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_folder(target.parent)
        except OSError as e:  # a full or read-only disk, a path blocked by a file: the store is at fault
            raise StorageUnavailable(
                f"Không ghi được vào kho lưu trữ: {e.strerror}.", f"Cannot write to the object store: {e.strerror}."
            ) from e
        return ObjectInfo(key, size, sha256)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        try:
            f = self._path(key).open("rb")
            f.seek(offset)
            return f
        except FileNotFoundError as e:
            raise NotFound(f"Không có đối tượng {key}.", f"No object {key}.", field="key") from e

    def get_file(self, key: str, dest: Path) -> None:
        with self.open(key) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as e:
            raise NotFound(f"Không có đối tượng {key}.", f"No object {key}.", field="key") from e

    def list(self, prefix: str = "") -> Iterator[str]:
        keys = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".tmp-")
        )
        yield from sorted(key for key in keys if key.startswith(prefix))  # as strings: the order S3 lists in

    def versions(self, key: str) -> builtins.list[str]:
        """One version at most: "null", the id S3 gives an object in an unversioned bucket."""
        return ["null"] if self.exists(key) else []

    def legal_hold(self, key: str, on: bool) -> None:
        raise NotSupported(
            "Kho lưu trữ trên hệ thống tệp không có phong tỏa pháp lý (legal hold); cần kho S3 có khóa đối tượng.",
            "The filesystem object store has no legal hold; it needs an S3 store with object lock.",
            field="key",
        )

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable("Kho lưu trữ không ghi được.", "The object store is not writable.")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_folders(folder: Path) -> None:
    """``folder`` and its missing parents, each new one's entry fsynced in its parent: after a
    power cut a new dossier's folders are there, not only the file put in the last of them."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)  # another writer may make it first
        _fsync_folder(new.parent)


def _renamed(source: Path, tmp: str) -> bool:
    """Move a file the caller gave up into the store: no second copy of an upload on the same disk."""
    try:
        os.rename(source, tmp)
        return True
    except OSError:  # another filesystem: the caller copies
        return False


def _retained(path: Path) -> bool:
    return not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def open_store(url: str, *, retention_days: int = 3650) -> ObjectStore:
    """The object store named by a URL: ``file:///path``, ``s3://ACCESS:SECRET@host:port/bucket``
    (plain HTTP) or ``s3s://…`` (TLS), optionally ``?region=…``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FilesystemStore(Path(parsed.path))
    if parsed.scheme in ("s3", "s3s"):
        from storage.s3 import open_s3_store  # the SDK is only loaded when S3 is used

        return open_s3_store(url, retention_days=retention_days)
    raise StorageError(
        f"Chưa hỗ trợ kho lưu trữ {parsed.scheme}://.",
        f"Object store scheme {parsed.scheme}:// is not supported.",
        field="SOHOA_OBJECT_STORE_URL",
    )


def dossier_prefix(code: str) -> str:
    """Objects of a dossier live under its code; codes are validated before they reach here."""
    return f"dossiers/{check_key(code)}"

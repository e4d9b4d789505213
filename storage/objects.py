"""Object store interface and its filesystem backend (the embedded default)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import urlparse

from storage.errors import NotFound, ObjectExists, StorageError, StorageUnavailable

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
    def put_file(self, key: str, source: Path, *, write_once: bool = False) -> ObjectInfo: ...
    def open(self, key: str) -> BinaryIO: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
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
    renamed into place, so a reader never sees a partial object, even across processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_file(self, key: str, source: Path, *, write_once: bool = False) -> ObjectInfo:
        target = self._path(key)
        sha256, size = _hash_file(source)
        if target.exists() and write_once:
            if _hash_file(target)[0] == sha256:
                return ObjectInfo(key, size, sha256)  # same bytes again: nothing to do
            raise ObjectExists(
                f"Đối tượng {key} đã có và không được ghi đè.", f"Object {key} exists and is write-once.", field="key"
            )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                    out.flush()
                    os.fsync(out.fileno())
                if write_once:
                    os.link(tmp, target)  # fails if another writer got there first
                    os.unlink(tmp)
                else:
                    os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except FileExistsError as e:
            raise ObjectExists(
                f"Đối tượng {key} đã có và không được ghi đè.", f"Object {key} exists and is write-once.", field="key"
            ) from e
        except OSError as e:
            raise StorageUnavailable(
                f"Không ghi được vào kho lưu trữ: {e.strerror}.", f"Cannot write to the object store: {e.strerror}."
            ) from e
        return ObjectInfo(key, size, sha256)

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
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
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable("Kho lưu trữ không ghi được.", "The object store is not writable.")


def open_store(url: str) -> ObjectStore:
    """The object store named by a URL: ``file:///path`` (S3 backends plug in here)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FilesystemStore(Path(parsed.path))
    raise StorageError(
        f"Chưa hỗ trợ kho lưu trữ {parsed.scheme}://.",
        f"Object store scheme {parsed.scheme}:// is not supported.",
        field="SOHOA_OBJECT_STORE_URL",
    )


def dossier_prefix(code: str) -> str:
    """Objects of a dossier live under its code; codes are validated before they reach here."""
    return f"dossiers/{check_key(code)}"

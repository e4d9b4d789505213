"""The filesystem object store (the embedded default): atomic, fsynced writes under one folder."""

from __future__ import annotations

import builtins  # the store has a method named list
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from checksums import sha256_file
from storage.errors import NotFound, NotSupported, ObjectExists, StorageUnavailable
from storage.objects import ObjectInfo, check_key


class FilesystemStore:
    """Objects as files under one root. Writes go to a temporary file that is fsynced and
    renamed into place, so a reader never sees a partial object, even across processes.

    There are no versions: an overwrite replaces the file. A write-once or retained object is a
    read-only file (0444) that is never replaced, which guards against mistakes, not against
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
        sha256 = sha256 or sha256_file(source)
        if target.exists() and write_once:
            if sha256_file(target) == sha256:
                return ObjectInfo(key, size, sha256)  # same bytes again: nothing to do
            raise ObjectExists(
                f"Đối tượng {key} đã có và không được ghi đè.", f"Object {key} exists and is write-once.", field="key"
            )
        # (A write-once put never replaces: its link below fails when a racing writer got there first.)
        if not write_once and target.exists() and _retained(target):  # no older version: never replaced
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
                    if retain or write_once:  # before it is linked into place, so never visible writable
                        os.fchmod(fd, 0o444)
                finally:
                    os.close(fd)
                if write_once:
                    try:
                        os.link(tmp, target)  # fails if another writer got there first
                    except FileExistsError as e:
                        if sha256_file(target) != sha256:
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
        # Walk only the folder the prefix names, not the whole store (millions of files in an archive).
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self.root
        keys = (
            path.relative_to(self.root).as_posix()
            for path in base.rglob("*")
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

    def retain(self, key: str, until: datetime, *, hold: bool = False) -> None:
        """Read-only: the only guard a file system has (no date, no hold; root can still change it)."""
        path = self._path(key)
        try:
            path.chmod(0o444)
        except FileNotFoundError as e:
            raise NotFound(f"Không có đối tượng {key}.", f"No object {key}.", field="key") from e

    def retained_until(self, key: str) -> datetime | None:
        return None

    def read_only(self, key: str) -> bool | None:
        path = self._path(key)
        return _retained(path) if path.is_file() else None

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

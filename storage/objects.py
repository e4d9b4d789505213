"""The object store interface: what every backend (``filesystem``, ``s3``) offers, and the keys
they share; ``stores.open_store`` opens the one a URL names."""

from __future__ import annotations

import builtins  # the stores have a method named list
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from storage.errors import StorageError

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
    def retain(self, key: str, until: datetime, *, hold: bool = False) -> None:
        """Keep the object's current version unchangeable until ``until``: S3 COMPLIANCE retention,
        only ever extended (an earlier date leaves the lock as it is); ``hold`` adds a legal hold
        (permanent records). The filesystem store makes the file read-only."""
        ...

    def retained_until(self, key: str) -> datetime | None:
        """When the object's retention ends (None: not retained, or a store without dates)."""
        ...

    def read_only(self, key: str) -> bool | None:
        """Whether the stored file is read-only (filesystem store); None where the store has no file modes."""
        ...

    def check(self) -> None: ...


def dossier_prefix(code: str) -> str:
    """Objects of a dossier live under its code; codes are validated before they reach here."""
    return f"dossiers/{check_key(code)}"

"""The station's queue on disk (SQLite, fsynced at each change): every file taken and not yet
in ``done/`` or ``failed/``, with its digest, its dossier code, its upload session and how far
it got. It outlives the agent and the PC: after a restart the agent goes on where it stopped."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    code TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    upload_id TEXT,
    sent INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    added REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int
    mtime: int
    sha256: str
    code: str
    source: str  # sheet, name or folder: where the code came from
    kind: str  # component, or batch for a file that starts with a separator sheet
    upload_id: str | None
    sent: int  # bytes the server had at the last answer
    attempts: int


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an entry survives a power cut once added
        self.db.execute(SCHEMA)

    def add(self, path: Path, *, size: int, mtime: int, sha256: str, code: str, source: str, kind: str) -> None:
        """Queue a file (again, from the start, if it was queued with other bytes)."""
        self.db.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime, sha256, code, source, kind, added) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(path), size, mtime, sha256, code, source, kind, time.time()),
        )

    def entries(self) -> list[Entry]:
        rows = self.db.execute(
            "SELECT path, size, mtime, sha256, code, source, kind, upload_id, sent, attempts FROM files ORDER BY added"
        ).fetchall()
        return [Entry(Path(r[0]), *r[1:]) for r in rows]

    def has(self, path: Path) -> bool:
        return self.db.execute("SELECT 1 FROM files WHERE path = ?", (str(path),)).fetchone() is not None

    def update(self, path: Path, **values: Any) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)
        self.db.execute(f"UPDATE files SET {sets} WHERE path = ?", (*values.values(), str(path)))

    def remove(self, path: Path) -> None:
        self.db.execute("DELETE FROM files WHERE path = ?", (str(path),))

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM files").fetchone()[0])

    def close(self) -> None:
        self.db.close()

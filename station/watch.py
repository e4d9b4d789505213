"""Which files in the scanner's folder are complete: noticed by watchdog (and by a walk of the
folder at start and now and then, for what a network share's events miss), taken once their size
and time have not changed for a while and they can be opened for writing (on Windows, not while
the scanner software still has them open)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

SCANS = {".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png", ".jp2"}
DONE, FAILED, STATE = "done", "failed", ".sohoa-station"


def wanted(path: Path, root: Path) -> bool:
    """A scan in the watched folder, outside the station's own folders, not hidden."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    if not parts or parts[0] in (DONE, FAILED, STATE) or any(p.startswith(".") for p in parts):
        return False
    return path.suffix.lower() in SCANS


def walk(root: Path) -> Iterator[Path]:
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        subfolders[:] = [d for d in subfolders if wanted(here / d / "x.pdf", root)]
        for name in files:
            if wanted(here / name, root):
                yield here / name


class _Noticed(FileSystemEventHandler):
    def __init__(self, root: Path, seen: set[Path], lock: threading.Lock) -> None:
        self.root, self.seen, self.lock = root, seen, lock

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = Path(os.fsdecode(raw)) if raw else None
            if path is not None and wanted(path, self.root):
                with self.lock:
                    self.seen.add(path)


class Watcher:
    """Files noticed and not yet taken; ``ready()`` gives those that have settled."""

    def __init__(self, root: Path, settle: float) -> None:
        self.root, self.settle = root, settle
        self.lock = threading.Lock()
        self.noticed: set[Path] = set()
        self.state: dict[Path, tuple[int, int, float]] = {}  # size, mtime, since when unchanged
        self.observer = Observer()
        self.observer.schedule(_Noticed(root, self.noticed, self.lock), str(root), recursive=True)

    def start(self) -> None:
        self.observer.start()
        self.rescan()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)

    def rescan(self) -> None:
        with self.lock:
            self.noticed.update(walk(self.root))

    def ready(self) -> list[Path]:
        """Files whose size and time have held for ``settle`` seconds and that can be opened
        for writing; each is given once (until it is noticed again)."""
        with self.lock:
            candidates = sorted(self.noticed)
        taken, now = [], time.monotonic()
        for path in candidates:
            try:
                stat = path.stat()
            except OSError:  # gone (moved away by the scanner software, or by us)
                self._forget(path)
                continue
            size, mtime = stat.st_size, stat.st_mtime_ns
            before = self.state.get(path)
            if before is None or before[:2] != (size, mtime):
                self.state[path] = (size, mtime, now)
                continue
            if size == 0 or now - before[2] < self.settle or not _closed(path):
                continue
            self._forget(path)
            taken.append(path)
        return taken

    def _forget(self, path: Path) -> None:
        self.state.pop(path, None)
        with self.lock:
            self.noticed.discard(path)


def _closed(path: Path) -> bool:
    """Whether the file can be opened for writing: on Windows the scanner software's handle
    forbids it while the file is being written."""
    try:
        with path.open("r+b"):
            return True
    except OSError:
        return False

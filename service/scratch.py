"""Scratch space under the data dir, one folder per process: uploads arriving, a job's page
images, signatures being made. A process killed half-way (SIGKILL, a power cut) leaves its
folder behind. The folder's name says whose it was (host, process id, start time), so a sweep
removes what ended processes left without ever touching the work of a live one."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
from functools import cache
from pathlib import Path

HOST = socket.gethostname()


def _started(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (with its id, this names one process
    even after the id is reused); None once it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, after the name in parentheses


@cache
def _name(pid: int) -> str:
    """A process's folder name, read from /proc once per process, not at every upload."""
    return f"{HOST}-{pid}-{_started(pid)}"


def me() -> str:
    """This process, as a name another process can test with ``ended``."""
    return _name(os.getpid())


def ended(name: str | None) -> bool:
    """Whether the process ``name`` (a ``me()``) has ended; a process of another host is not
    known to have."""
    pid, _, started = (name or "").removeprefix(f"{HOST}-").partition("-")
    if not (name or "").startswith(f"{HOST}-") or not pid.isdigit():
        return False
    return _started(int(pid)) != started


_made: set[Path] = set()  # folders whose removal at exit is registered


def folder(data_dir: Path) -> Path:
    """This process's scratch folder; removed when the process exits normally, if empty."""
    pid = os.getpid()
    path = data_dir / "tmp" / _name(pid)
    if path not in _made:
        _made.add(path)
        atexit.register(_remove_if_empty, path, pid)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_if_empty(path: Path, pid: int) -> None:
    if os.getpid() != pid:
        return  # a forked child exiting: the folder is its parent's
    with contextlib.suppress(OSError):  # not empty (left for the sweep), or gone already
        path.rmdir()


def sweep(data_dir: Path) -> list[str]:
    """Remove the scratch folders of this host's processes that have ended; the names removed.
    Other hosts' folders (a data dir on shared storage) are theirs to sweep."""
    root, prefix = data_dir / "tmp", f"{HOST}-"
    removed = []
    for entry in sorted(root.iterdir()) if root.is_dir() else ():
        pid, _, started = entry.name.removeprefix(prefix).partition("-")
        if not (entry.name.startswith(prefix) and pid.isdigit() and started.isdigit()):
            continue  # not a process folder of this host
        if _started(int(pid)) != started:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return removed

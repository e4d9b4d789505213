"""Scratch folders: one per process; a sweep removes those of ended processes and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from service import scratch

CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from service import scratch
folder = scratch.folder(Path({data!r}))
(folder / "upload-half").write_bytes(b"%PDF-1.7 half of it")
print(folder, flush=True)
time.sleep(60)  # alive until the test kills it: a process mid-upload
"""


def test_a_killed_process_leaves_its_folder_and_the_sweep_removes_only_that(tmp_path: Path) -> None:
    data = tmp_path / "var"
    code = CHILD.format(root=str(Path(scratch.__file__).parent), data=str(data))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    dead = Path(child.stdout.readline().strip())
    mine = scratch.folder(data)
    (mine / "upload-live").write_bytes(b"still arriving")
    assert dead.parent == mine.parent and dead != mine and dead.name.startswith(f"{scratch.HOST}-{child.pid}-")
    assert scratch.sweep(data) == []  # the child lives: its folder is left alone

    child.send_signal(signal.SIGKILL)
    child.wait()
    reused = data / "tmp" / f"{scratch.HOST}-{os.getpid()}-1"  # this pid, another start time: a reused pid
    other_host = data / "tmp" / f"{scratch.HOST}x-{child.pid}-1"
    stray = data / "tmp" / "upload-0123"  # not a process folder: not the sweep's to judge
    for folder in (reused, other_host):
        folder.mkdir()
        (folder / "page-1.png").write_bytes(b"x")
    stray.write_bytes(b"x")

    assert sorted(scratch.sweep(data)) == sorted([dead.name, reused.name])
    assert not dead.exists() and not reused.exists()
    assert (mine / "upload-live").exists() and other_host.exists() and stray.exists()


def test_a_process_that_exits_normally_takes_its_empty_folder_away(tmp_path: Path) -> None:
    code = CHILD.replace("time.sleep(60)", "").format(root=str(Path(scratch.__file__).parent), data=str(tmp_path))
    empty = code.replace('(folder / "upload-half").write_bytes(b"%PDF-1.7 half of it")', "")
    for program, left in ((empty, False), (code, True)):
        out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
        assert Path(out.strip()).exists() == left  # a folder with a file in it waits for the sweep

"""Benchmark an E-ARK export (issue 19, item 4): one dossier holding a few large originals (random
bytes: they do not compress, like scans), exported by `service.packages.export` (stream-zip, read
from the store a MiB at a time) beside Python's own zipfile writing the same files to disk
(``ZipFile.write``, stored: no compression), with time and peak Python memory (tracemalloc) of each.
Run: ``.venv/bin/python bench/export_bench.py --mib 256``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

CODE = "000.00.12.H12-250527-0001"


def _measure(run: Callable[[], int]) -> tuple[float, int, int]:
    """Time of a plain run, then the peak of Python's allocations in a second (tracemalloc slows it)."""
    start = time.perf_counter()
    size = run()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="MiB of originals in the dossier")
    parser.add_argument("--files", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    os.environ["SOHOA_DATA_DIR"] = str(work / "var")
    from checksums import sha256_file
    from service import dossiers, packages
    from service.context import context
    from storage.catalog import Document, StoredObject

    ctx = context()
    dossiers.create_dossier(ctx, CODE, {"title": "Bench"}, actor="bench")
    sources = []
    for n in range(1, args.files + 1):
        path = work / f"scan-{n}.tif"
        with path.open("wb") as f:
            for _ in range(args.mib // args.files):
                f.write(os.urandom(1 << 20))
        sha, key = sha256_file(path), f"dossiers/{CODE}/originals/scan-{n}.tif"
        info = ctx.store.put_file(key, path, write_once=True, sha256=sha)
        with ctx.sessions.begin() as session:
            row = {"original_name": path.name, "original_key": key, "original_sha256": sha, "original_size": info.size}
            session.add(Document(dossier_code=CODE, number=n, **row))
            session.add(
                StoredObject(key=key, dossier_code=CODE, kind="original", sha256=sha, size=info.size, created_by="b")
            )
        sources.append(path)

    def sohoa() -> int:
        out = work / "sohoa.zip"
        with out.open("wb") as f:
            for chunk in packages.export(ctx, CODE, actor="bench"):
                f.write(chunk)
        return out.stat().st_size

    def peer() -> int:
        out = work / "zipfile.zip"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            for path in sources:
                z.write(path, f"{CODE}/representations/originals/data/{path.name}")
        return out.stat().st_size

    print(f"{args.mib} MiB of originals in {args.files} files")
    for name, run in (("sohoa export (stream-zip, E-ARK)", sohoa), ("zipfile.write, same files", peer)):
        elapsed, peak, size = _measure(run)
        speed, mib = args.mib / elapsed, peak / (1 << 20)
        print(f"{name:36} {elapsed:6.2f} s  {speed:6.1f} MiB/s  peak {mib:5.1f} MiB  zip {size >> 20} MiB")


if __name__ == "__main__":
    main()

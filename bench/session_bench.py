"""Benchmark an upload in pieces (issue 21): the same file sent to `sohoa serve` (acceptance only,
no worker) as one raw request, then through an upload session with pieces of 1, 4 and 16 MiB,
by the station agent's own client (`station.client.Server`): seconds to the job's answer and
MB/s, side by side, so the cost of resumability (a request, an fsync and a catalog update a
piece, the SHA-256 read again at completion) is seen against the single request."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from serving import free_port, start_server, stop_server, token  # noqa: E402
from upload_bench import MIB, make_file  # noqa: E402

from station.client import Server  # noqa: E402


def raw(base: str, key: str, code: str, path: Path, sha: str) -> float:
    import base64

    digest = f"sha-256=:{base64.b64encode(bytes.fromhex(sha)).decode()}:"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/pdf", "X-Filename": path.name}
    start = time.perf_counter()
    with path.open("rb") as f:
        answer = httpx.post(
            f"{base}/api/v1/dossiers/{code}/scans",
            content=iter(lambda: f.read(MIB), b""),
            headers={**headers, "Content-Digest": digest, "Content-Length": str(path.stat().st_size)},
            timeout=600,
        )
    answer.raise_for_status()
    return time.perf_counter() - start


def pieces(base: str, key: str, code: str, path: Path, sha: str, piece: int) -> float:
    server, size = Server(base, key, timeout=600), path.stat().st_size
    start = time.perf_counter()
    upload_id = server.open(code, path.name, size, sha, "component")
    server.send(upload_id, path, 0, size, lambda _at: None, piece)
    server.complete(upload_id)
    server.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="file size, MiB")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, the median shown")
    args = parser.parse_args()
    work = ROOT / "var" / "bench-sessions"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = work / "lo-quet.pdf"
    sha = make_file(path, args.mib * MIB)
    env = {**os.environ, "SOHOA_DATA_DIR": str(work / "var"), "SOHOA_EMBEDDED_WORKER": "false"}
    env |= {"SOHOA_MAX_UPLOAD_BYTES": str(4 << 30), "SOHOA_API_PROCESSES": "1"}
    key = token(env, "Bench", "clerk")
    port = free_port()
    proc = start_server(env, port, work / "server.log")
    base, rows, n = f"http://127.0.0.1:{port}", [], 0
    try:
        for label, send in [("one raw request", None), *((f"session, {p} MiB pieces", p) for p in (1, 4, 16))]:
            times = []
            for _ in range(args.runs):
                n += 1  # a dossier each: the same bytes in one dossier would only be de-duplicated
                code = f"000.00.12.H12-251201-{n:04d}"
                took = (
                    raw(base, key, code, path, sha) if send is None else pieces(base, key, code, path, sha, send * MIB)
                )
                times.append(took)
            median = sorted(times)[len(times) // 2]
            rows.append((label, median, args.mib / median))
    finally:
        stop_server(proc)
    print(f"| {args.mib} MiB upload | seconds (median of {args.runs}) | MB/s |\n|---|---:|---:|")
    for label, seconds, speed in rows:
        print(f"| {label} | {seconds:.2f} | {speed:.0f} |")


if __name__ == "__main__":
    main()

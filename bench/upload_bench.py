"""Benchmark a 1 GiB streaming upload to `sohoa serve` (acceptance only, no worker): the server's
peak memory, seconds and MB/s, as multipart and as a raw body, to the filesystem store and to S3
(SeaweedFS on loopback), with the stored original's SHA-256 checked by downloading it back."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from serving import free_port, proc_status, start_server, stop_server, token  # noqa: E402

import s3_server  # noqa: E402

MIB = 1 << 20
CHUNK = MIB
TARGET_RSS_MB = 200
# check_type reads the first 1024 bytes only (digitize/ingest.py sniff): a PDF header followed by
# random bytes is accepted as a PDF, and random bytes cannot be compressed on the way.
HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def make_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes that sniffs as PDF; its SHA-256, hashed as it is written."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        chunk = HEADER
        while left > 0:
            chunk = chunk[:left]
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
            chunk = os.urandom(min(CHUNK, left))
    return digest.hexdigest()


class SentClock:
    """A file for httpx to read the body from, noting when the last byte was handed to the socket:
    the time after that is the server's (hashing, storing, cataloguing before its answer)."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.done = 0.0

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        if not chunk:
            self.done = time.perf_counter()
        return chunk

    # What httpx's multipart encoder uses to learn the length and rewind.
    def seek(self, offset: int, whence: int = 0) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def fileno(self) -> int:
        return self.file.fileno()

    def chunks(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self.file.close()


@dataclass
class Result:
    store: str
    mode: str
    seconds: float  # request start to the 202 answer: body sent, hashed, stored, catalogued
    body_s: float  # request start to the body's last byte handed to the socket
    size: int
    idle_rss: int  # the server's RSS when ready, before the upload
    peak_rss: int  # VmHWM after the upload
    hash_ok: bool
    download_s: float
    peak_after_get: int = 0  # VmHWM once the original has also been downloaded
    error: str = ""

    @property
    def mb_s(self) -> float:
        return self.size / MIB / self.seconds if self.seconds else 0.0


def run_mode(store: str, mode: str, big: Path, sha256: str, work: Path, store_url: str, code: str) -> Result:
    """A fresh server per mode: VmHWM is a peak over the process's whole life."""
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "SOHOA_DATA_DIR": str(work / "var"),
        "SOHOA_EMBEDDED_WORKER": "false",
        "SOHOA_MAX_UPLOAD_BYTES": str(2 * big.stat().st_size),
        "SOHOA_OBJECT_STORE_URL": store_url,
        "SOHOA_SCANNER_CREATES_DOSSIERS": "true",  # the station's scan makes its dossier
    }
    scanner, archivist = token(env, "Trạm quét", "scanner"), token(env, "Lưu trữ", "archivist")
    port = free_port()
    server = start_server(env, port, work / "server.log")
    size = big.stat().st_size
    digest = "sha-256=:" + base64.b64encode(bytes.fromhex(sha256)).decode() + ":"
    base = f"http://127.0.0.1:{port}/api/v1/dossiers/{code}"
    try:
        idle = proc_status(server.pid, "VmRSS")
        with httpx.Client(base_url=base, timeout=600, headers={"Authorization": f"Bearer {scanner}"}) as client:
            body = SentClock(big)
            t0 = time.perf_counter()
            if mode == "multipart":  # httpx reads a file part in 64 KiB pieces and sends its length first
                files = {"file": ("big.pdf", body, "application/pdf", {"Content-Digest": digest})}
                r = client.post("/scans", files=files)
            else:  # a generator body: Content-Length given, else httpx would send it chunked
                headers = {
                    "Content-Type": "application/pdf",
                    "X-Filename": "big.pdf",
                    "Content-Length": str(size),
                    "Content-Digest": digest,
                }
                r = client.post("/scans", content=body.chunks(), headers=headers)
            seconds, body_s = time.perf_counter() - t0, body.done - t0
            body.close()
        peak = proc_status(server.pid, "VmHWM")
        if r.status_code != 202:
            return Result(
                store, mode, seconds, size, idle, peak, False, 0.0, peak, f"HTTP {r.status_code} {r.text[:200]}"
            )
        document = r.json()["jobs"][0]["document_id"]
        # The stored original, streamed back through the API and hashed as it comes.
        check = hashlib.sha256()
        t0 = time.perf_counter()
        with (
            httpx.Client(base_url=base, timeout=600, headers={"Authorization": f"Bearer {archivist}"}) as client,
            client.stream("GET", f"/documents/{document}/original") as got,
        ):
            got.raise_for_status()
            for chunk in got.iter_bytes(CHUNK):
                check.update(chunk)
        download = time.perf_counter() - t0
        after = proc_status(server.pid, "VmHWM")
        return Result(store, mode, seconds, body_s, size, idle, peak, check.hexdigest() == sha256, download, after)
    finally:
        stop_server(server)
        shutil.rmtree(work, ignore_errors=True)  # its 1 GiB copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mib", type=int, default=1024, help="file size in MiB (default 1024)")
    ap.add_argument("--stores", default="fs,s3", help="comma-separated: fs, s3 (default both)")
    ap.add_argument("--modes", default="multipart,raw", help="comma-separated: multipart, raw (default both)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "upload", help="work folder")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print("command: ", shlex.join([sys.executable, *sys.argv]))
    print("date:    ", dt.datetime.now().astimezone().isoformat(timespec="seconds"), "| CPUs:", os.cpu_count())
    print("load:    ", " ".join(Path("/proc/loadavg").read_text().split()[:3]), "(1, 5, 15 min)")
    weed = subprocess.run([str(s3_server.weed_binary()), "version"], capture_output=True, text=True).stdout
    print("S3:       SeaweedFS `weed mini` on loopback (tests/s3_server.py),", weed.strip().splitlines()[0])
    big = out / "big.pdf"
    t0 = time.perf_counter()
    sha256 = make_file(big, args.mib * MIB)
    print(
        f"file:     {big.stat().st_size:,} bytes, %PDF-1.7 header + random bytes, SHA-256 {sha256[:16]}… "
        f"(made in {time.perf_counter() - t0:.1f} s)"
    )
    print(
        "server:   sohoa serve, SOHOA_EMBEDDED_WORKER=false, a fresh server and data dir per row; the client streams"
        "\n          from disk and sends Content-Digest: sha-256; MB = 2^20 bytes\n"
    )

    results: list[Result] = []
    codes = iter(f"000.00.12.H12-250527-{n:04d}" for n in range(1, 100))
    try:
        for store in args.stores.split(","):
            s3 = s3_server.start(out / "s3") if store == "s3" else None
            try:
                url = s3.url("sohoa-bench") if s3 else ""
                for mode in args.modes.split(","):
                    r = run_mode(store, mode, big, sha256, out / f"{store}-{mode}", url, next(codes))
                    results.append(r)
                    print(f"  {store} {mode}: {r.seconds:.1f} s{' ' + r.error if r.error else ''}", flush=True)
            finally:
                if s3:
                    s3.stop()
                    shutil.rmtree(out / "s3", ignore_errors=True)
    finally:
        big.unlink(missing_ok=True)

    row = "{:<6} {:<10} {:>8} {:>7} {:>7} {:>8} {:>8} {:>9} {:>7} {:>6} {:>8}"
    print()
    print(
        row.format(
            "store", "mode", "seconds", "MB/s", "body s", "idle MB", "peak MB", "< 200 MB", "hash ok", "GET s", "GET MB"
        )
    )
    for r in results:
        print(
            row.format(
                r.store,
                r.mode,
                f"{r.seconds:.1f}",
                f"{r.mb_s:.1f}",
                f"{r.body_s:.1f}",
                f"{r.idle_rss / MIB:.0f}",
                f"{r.peak_rss / MIB:.0f}",
                "yes" if r.peak_rss < TARGET_RSS_MB * MIB else "NO",
                "yes" if r.hash_ok else "NO",
                f"{r.download_s:.1f}",
                f"{r.peak_after_get / MIB:.0f}",
            )
        )
    print(
        "\nseconds: request start to the 202 answer; body s: to the body's last byte sent; idle MB: the server's RSS"
        "\nwhen ready; peak MB: its VmHWM after the upload (bộ nhớ đỉnh; target < 200 MB); GET s, GET MB:"
        "\nthe original downloaded back and hashed (hash ok: SHA-256 equal to the file's), VmHWM after that."
    )
    print(f"client peak RSS (this script): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()

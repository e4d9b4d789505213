"""Benchmark PAdES signing (B-T, B-LT) and verification on a 20-page PDF/A, with the test PKI's
TSA and OCSP on loopback: latency one at a time and eight at once, beside pyHanko's own CLI."""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from digitize import Source, digitize  # noqa: E402
from digitize.validate import check_pdfa  # noqa: E402
from pages import render_page  # noqa: E402
from signing import load_pkcs12, sign_pdf, verify_pdf  # noqa: E402
from signing.signers import AgencySigner  # noqa: E402

PASSWORD = b"mat-khau"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(label: str, attempted: int, times: list[float], per_second: float) -> str:
    """One line of the table: attempts, successes, p50 and p95 in ms, throughput."""
    return (
        f"{label:<28} {attempted:>4} {len(times):>4} "
        f"{percentile(times, 0.5) * 1000:>8.0f} {percentile(times, 0.95) * 1000:>8.0f} {per_second:>7.1f}"
    )


def make_document(folder: Path, pages: int) -> Path:
    page = folder / "page.png"
    render_page(dpi=200, mode="L").save(page, dpi=(200, 200))
    out = folder / "dossier.pdf"
    digitize([Source(page, f"p{n}.png") for n in range(pages)], out, title="bench", tessdata=ROOT / "ocr-models")
    return out


def sign_rounds(document: Path, work: Path, signer: AgencySigner, tsa_url: str, root_pem: Path, runs: int) -> None:
    """B-T and B-LT signatures, one at a time and eight at once."""

    def one(level: str, n: int) -> float:
        started = time.perf_counter()
        sign_pdf(
            document,
            work / f"{level}-{n}.pdf",
            signer,
            agency_name="UBND xã Hòa Bình",
            level=level,
            tsa_url=tsa_url,
            trust_roots=[root_pem],
        )
        return time.perf_counter() - started

    for level in ("B-T", "B-LT"):
        for concurrency in (1, 8):
            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                futures = [pool.submit(one, level, n) for n in range(runs)]
                times = []
                for f in futures:
                    try:
                        times.append(f.result())
                    except Exception as e:  # counted and shown: the target is none
                        print("  error:", e)
            wall = time.perf_counter() - started
            print(row(f"sign {level} x{concurrency}", runs, times, len(times) / wall))


def verify_rounds(work: Path, root_pem: Path, runs: int) -> None:
    """Verification of the B-LT files (difference analysis and PDF/A included), then the PDF/A check alone."""
    verify_times = []
    for n in range(runs):
        started = time.perf_counter()
        report = verify_pdf(work / f"B-LT-{n}.pdf", [root_pem])
        verify_times.append(time.perf_counter() - started)
        assert report.ok, report.verdict_en
    print(row("verify B-LT (incl. PDF/A)", runs, verify_times, len(verify_times) / sum(verify_times)))
    pdfa_times = []
    for n in range(runs):
        started = time.perf_counter()
        check_pdfa(work / f"B-LT-{n}.pdf")
        pdfa_times.append(time.perf_counter() - started)
    print(row("  of which PDF/A check", runs, pdfa_times, len(pdfa_times) / sum(pdfa_times)))


def peer_rounds(document: Path, work: Path, p12: Path, tsa_url: str, root_pem: Path, runs: int) -> None:
    """The peer: pyHanko's own command line, B-LT with the same TSA, one at a time (a process per signature)."""
    (work / "pw").write_bytes(PASSWORD)
    peer = []
    for n in range(runs):
        cmd = [
            str(Path(sys.executable).parent / "pyhanko"),
            *("sign", "addsig", "--field", "Sig1", "--timestamp-url", tsa_url, "--use-pades"),
            *("--with-validation-info", "--trust", str(root_pem), "pkcs12", "--passfile", str(work / "pw")),
            *(str(document), str(work / f"peer-{n}.pdf"), str(p12)),
        ]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            peer.append(time.perf_counter() - started)
        else:
            print("  pyhanko CLI error:", done.stderr.strip().splitlines()[-1:])
    if peer:
        print(
            f"{'pyhanko CLI B-LT x1':<28} {runs:>4} {len(peer):>4} "
            f"{statistics.median(peer) * 1000:>8.0f} {percentile(peer, 0.95) * 1000:>8.0f} "
            f"{len(peer) / sum(peer):>7.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=40, help="signatures per level and mode (default 40)")
    ap.add_argument("--pages", type=int, default=20)
    args = ap.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print("date:   ", datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "| CPUs:", os.cpu_count())
    work = Path(tempfile.mkdtemp(prefix="sign-bench-"))
    # The TSA and OCSP responder run in a process of their own, as a real one would.
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "pki_server.py"), str(work)], stdout=subprocess.PIPE, text=True
    )
    tsa_url = server.stdout.readline().strip()  # type: ignore[union-attr]
    root_pem, p12 = work / "root.pem", work / "agency.p12"
    document = make_document(work, args.pages)
    print(f"document: {args.pages} pages, {document.stat().st_size / 1e6:.1f} MB PDF/A-2b; TSA: {tsa_url}\n")
    signer = load_pkcs12(p12, PASSWORD)
    print(f"{'what':<28} {'n':>4} {'ok':>4} {'p50 ms':>8} {'p95 ms':>8} {'per s':>7}")
    sign_rounds(document, work, signer, tsa_url, root_pem, args.runs)
    verify_rounds(work, root_pem, args.runs)
    peer_rounds(document, work, p12, tsa_url, root_pem, min(args.runs, 10))
    server.terminate()


if __name__ == "__main__":
    main()

"""Benchmark a small dossier posted behind a huge one (issue 16, item 4): `sohoa serve` on the
embedded defaults; a 10-page dossier alone, then the same posted while a 1000-page file is being
digitized; the small job's time from upload to done, side by side, and the ratio (target: 2x or
less). The large job is cancelled at the end (POST /jobs/{id}/cancel), as a desk would."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path

import httpx
from PIL import ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from digitize_bench import FONT, page_lines  # noqa: E402  (its administrative-form text, varied by seed)
from serving import free_port, start_server, stop_server, token  # noqa: E402

from pages import render_page  # noqa: E402

TARGET_RATIO = 2.0


def make_pdf(path: Path, pages: int, dpi: int, seed: int) -> Path:
    """``pages`` A4 pages of form text, JPEG in PDF as a scanner station sends them (a few
    different pages, repeated: a 1000-page file stays small to make)."""
    font, width, rng = ImageFont.truetype(FONT, round(14 / 72 * dpi)), round(160 / 25.4 * dpi), random.Random(seed)
    images = [render_page([text for text, _ in page_lines(rng, font, width)], dpi=dpi) for _ in range(min(pages, 5))]
    sequence = [images[n % len(images)] for n in range(pages)]
    sequence[0].save(path, "PDF", save_all=True, append_images=sequence[1:], resolution=dpi, quality=85)
    return path


def post(client: httpx.Client, code: str, path: Path) -> str:
    with path.open("rb") as f:
        answer = client.post(f"/api/v1/dossiers/{code}/scans", files={"file": (path.name, f, "application/pdf")})
    answer.raise_for_status()
    return str(answer.json()["jobs"][0]["id"])


def wait(client: httpx.Client, job_id: str, until: str = "done", pages: int = 0, timeout: float = 1800) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] == "failed" or (job["status"] == until and job["progress"]["pages_done"] >= pages):
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise TimeoutError(job_id)


def seconds(job: dict) -> float:  # type: ignore[type-arg]
    """From the upload's acceptance to the job's end, as the server recorded them."""
    from datetime import datetime

    return (datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", type=int, default=10, help="pages of the small dossier (default 10)")
    ap.add_argument("--large", type=int, default=1000, help="pages of the large file (default 1000)")
    ap.add_argument("--dpi", type=int, default=200, help="scan resolution (default 200)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "lanes", help="work folder")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    small = [make_pdf(args.out / f"nho-{n}.pdf", args.small, args.dpi, seed=10 * n) for n in (1, 2)]
    warm = make_pdf(args.out / "mo-dau.pdf", 1, args.dpi, seed=1)
    large = make_pdf(args.out / "lon.pdf", args.large, args.dpi, seed=100)
    print(f"small: {args.small} pages; large: {args.large} pages ({large.stat().st_size / 2**20:.1f} MB); "
          f"{args.dpi} dpi; {os.cpu_count()} cores")  # fmt: skip
    env = {**os.environ, "SOHOA_DATA_DIR": str(args.out / "var")}
    port = free_port()
    server = start_server(env, port, args.out / "server.log")
    try:
        headers = {"Authorization": f"Bearer {token(env, 'Trạm quét', 'clerk')}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as client:
            wait(client, post(client, "000.00.12.H12-250527-0009", warm))  # the first job loads what all reuse
            alone = seconds(wait(client, post(client, "000.00.12.H12-250527-0001", small[0])))
            big = post(client, "000.00.12.H12-250527-0002", large)
            started = wait(client, big, until="running", pages=2)
            print(f"large job: {started['progress']['pages_total']} pages counted at upload, running")
            behind = seconds(wait(client, post(client, "000.00.12.H12-250527-0003", small[1])))
            progress = client.get(f"/api/v1/jobs/{big}").json()["progress"]
            cancelled = client.post(f"/api/v1/jobs/{big}/cancel").json()["status"]
    finally:
        stop_server(server)
    ratio = behind / alone
    print(f"{'small dossier alone':38s} {alone:7.1f} s")
    print(f"{'small dossier behind the large one':38s} {behind:7.1f} s   ratio {ratio:.2f} (target <= {TARGET_RATIO})")
    print(f"large job meanwhile: {progress['pages_done']} of {progress['pages_total']} pages, then {cancelled}")


if __name__ == "__main__":
    main()

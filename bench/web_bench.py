"""Time the web pages at the server beside the API's own answers, on a big catalog.

Builds the search benchmark's synthetic catalog (bench/search_bench.py: dossiers of 1 to 16
pages of administrative Vietnamese, indexed) in a temporary data folder, logs a person in, and
asks each page and API route many times through the app in this process (Starlette's test
client: the whole ASGI stack, no network), printing median and p95 per route.

    .venv/bin/python bench/web_bench.py --pages 200000 --runs 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import search_bench  # noqa: E402

WAITING_AND_DONE = ["RECEIVED", "DIGITIZED", "IN_PROCESSING", "PENDING_APPROVAL", "RETURNED", "ARCHIVED", "ARCHIVED"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build(folder: Path, pages: int, seed: int) -> tuple[str, int]:
    """The catalog in ``folder``; a dossier code to open, and the dossier count."""
    search_bench.STATUSES = WAITING_AND_DONE  # statuses of today's lifecycle, in the proportions drawn
    corpus = search_bench.make_corpus(pages, seed)
    for document in corpus.documents:
        document["number"] = 1  # one document per dossier, numbered as the desk numbers them
    for dossier in corpus.dossiers:
        dossier["due_on"] = dossier["received_on"] + dt.timedelta(days=15)  # what the queue sorts by
    started = time.perf_counter()
    search_bench.load(search_bench.Engine("sqlite", f"sqlite:///{folder / 'sohoa.db'}"), corpus)
    print(
        f"catalog: {len(corpus.dossiers):,} dossiers, {pages:,} pages, loaded in {time.perf_counter() - started:.0f} s"
    )
    return str(corpus.dossiers[len(corpus.dossiers) // 2]["code"]), len(corpus.dossiers)


def routes(code: str) -> list[tuple[str, str]]:
    return [
        ("page  /reception", "/reception"),
        ("page  /queue", "/queue"),
        ("page  /archive (no query)", "/archive"),
        ("page  /archive ?q=dang ky dat", "/archive?q=dang+ky+dat"),
        ("page  /archive ?q=đăng ký đất", "/archive?q=%C4%91%C4%83ng+k%C3%BD+%C4%91%E1%BA%A5t"),
        ("page  /dossiers/{code}", f"/dossiers/{code}"),
        ("page  viewer (texts, no image)", f"/dossiers/{code}/documents/1"),
        ("page  /admin", "/admin"),
        ("api   GET /api/v1/dossiers/{code}", f"/api/v1/dossiers/{code}"),
        ("api   GET /api/v1/dossiers", "/api/v1/dossiers"),
        ("api   GET /api/v1/search ?q=dang ky dat", "/api/v1/search?q=dang+ky+dat"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        os.environ["SOHOA_DATA_DIR"] = tmp
        os.environ["SOHOA_EMBEDDED_WORKER"] = "false"
        code, _count = build(Path(tmp), args.pages, args.seed)
        from fastapi.testclient import TestClient

        import api
        from service import people
        from service.context import context

        people.add_person(context(), "Người đo", "admin", "mật khẩu đo tốc độ", actor="bench")
        with TestClient(api.app) as client:
            form = client.get("/login").text
            csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"name": "Người đo", "password": "mật khẩu đo tốc độ", "csrf": csrf})
            print(f"{'route':44} {'median ms':>10} {'p95 ms':>8}  (runs {args.runs})")
            for name, url in routes(code):
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    answer = client.get(url)
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
                print(f"{name:44} {statistics.median(times):10.1f} {percentile(times, 0.95):8.1f}")


if __name__ == "__main__":
    main()

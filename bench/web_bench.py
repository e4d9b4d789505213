"""Time the web pages at the server beside the API's own answers, on a big catalog, on SQLite and
on PostgreSQL (the scaled setup's catalog).

Builds the search benchmark's synthetic catalog (bench/search_bench.py: dossiers of 1 to 16
pages of administrative Vietnamese, indexed) in a SQLite file in a temporary data folder and in a
fresh PostgreSQL schema of database ``test`` (dropped at the end), logs a person in, and asks
each page and API route many times through the app in this process (Starlette's test client: the
whole ASGI stack, no network), printing median and p95 per route and engine.

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
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import search_bench  # noqa: E402

WAITING_AND_DONE = ["RECEIVED", "DIGITIZED", "IN_PROCESSING", "PENDING_APPROVAL", "RETURNED", "ARCHIVED", "ARCHIVED"]
PASSWORD = "mật khẩu đo tốc độ"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def corpus_of(pages: int, seed: int) -> tuple[search_bench.Corpus, str]:
    """The catalog's rows; a dossier code to open."""
    search_bench.STATUSES = WAITING_AND_DONE  # statuses of today's lifecycle, in the proportions drawn
    corpus = search_bench.make_corpus(pages, seed)
    for document in corpus.documents:
        document["number"] = 1  # one document per dossier, numbered as the desk numbers them
    for dossier in corpus.dossiers:
        dossier["due_on"] = dossier["received_on"] + dt.timedelta(days=15)  # what the queue sorts by
    print(f"catalog: {len(corpus.dossiers):,} dossiers, {pages:,} pages")
    return corpus, str(corpus.dossiers[len(corpus.dossiers) // 2]["code"])


def routes(code: str) -> list[tuple[str, str]]:
    return [
        ("page  /reception", "/reception"),
        ("page  /queue", "/queue"),
        ("page  /archive (no query)", "/archive"),
        ("page  /archive ?q=dang ky dat", "/archive?q=dang+ky+dat"),
        ("page  /archive ?q=đăng ký đất", "/archive?q=%C4%91%C4%83ng+k%C3%BD+%C4%91%E1%BA%A5t"),
        ("page  /dossiers/{code}", f"/dossiers/{code}"),
        ("page  /dossiers/{code}/documents (polled)", f"/dossiers/{code}/documents"),
        ("page  viewer (texts, no image)", f"/dossiers/{code}/documents/1"),
        ("page  /statistics (month, by agency)", "/statistics"),
        ("page  /admin", "/admin"),
        ("api   GET /api/v1/dossiers/{code}", f"/api/v1/dossiers/{code}"),
        ("api   GET /api/v1/dossiers", "/api/v1/dossiers"),
        ("api   GET /api/v1/search ?q=dang ky dat", "/api/v1/search?q=dang+ky+dat"),
        ("api   GET /api/v1/statistics", "/api/v1/statistics"),
    ]


def _fresh_service() -> None:
    """Settings and the service's context read again (another catalog URL)."""
    from service import context, options, queue, settings

    settings.get_settings.cache_clear()
    context._context.cache_clear()
    options.agency_signer.cache_clear()
    queue.queue.cache_clear()


def measure(url: str, code: str, runs: int) -> dict[str, list[float]]:
    """Each route's times (ms) with the service on the catalog at ``url``."""
    os.environ["SOHOA_DATABASE_URL"] = url
    _fresh_service()
    from fastapi.testclient import TestClient

    import api
    from service import people
    from service.context import context

    people.add_person(context(), "Người đo", "admin", PASSWORD, actor="bench")
    times: dict[str, list[float]] = {}
    with TestClient(api.app) as client:
        form = client.get("/login").text
        csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"name": "Người đo", "password": PASSWORD, "csrf": csrf})
        for name, route in routes(code):
            client.get(route)  # warm: templates compiled, statements prepared, as in a running server
            times[name] = []
            for _ in range(runs):
                started = time.perf_counter()
                answer = client.get(route)
                times[name].append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (route, answer.status_code, answer.text[:300])
    context().sessions.kw["bind"].dispose()
    _fresh_service()
    return times


def loaded(name: str, url: str, corpus: search_bench.Corpus) -> None:
    started = time.perf_counter()
    engine = search_bench.Engine(name, url)
    search_bench.load(engine, corpus)
    engine.sessions.kw["bind"].dispose()  # type: ignore[union-attr]
    print(f"{name}: loaded and indexed in {time.perf_counter() - started:.0f} s", flush=True)


def report(results: dict[str, dict[str, list[float]]], runs: int) -> None:
    engines = list(results)
    heads = " | ".join(f"{e} median | {e} p95" for e in engines)
    print(f"\n| route (ms, {runs} runs) | {heads} |\n|---|{'---:|---:|' * len(engines)}")
    for name in next(iter(results.values())):
        cells = " | ".join(
            f"{statistics.median(results[e][name]):.1f} | {percentile(results[e][name], 0.95):.1f}" for e in engines
        )
        print(f"| {name.strip()} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engines", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    args = parser.parse_args()
    corpus, code = corpus_of(args.pages, args.seed)
    results: dict[str, dict[str, list[float]]] = {}
    admin = create_engine(search_bench.PG, isolation_level="AUTOCOMMIT")
    schema = f"web_bench_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="web-bench-") as tmp:
        os.environ["SOHOA_DATA_DIR"] = tmp
        os.environ["SOHOA_EMBEDDED_WORKER"] = "false"
        try:
            for name in args.engines.split(","):
                if name == "postgresql":
                    with admin.connect() as c:
                        c.execute(text(f"CREATE SCHEMA {schema}"))
                    url = f"{search_bench.PG}?options=-csearch_path%3D{schema}"
                else:
                    url = f"sqlite:///{Path(tmp) / 'sohoa.db'}"
                loaded(name, url, corpus)
                results[name] = measure(url, code, args.runs)
        finally:
            if "postgresql" in args.engines:
                with admin.connect() as c:
                    c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    report(results, args.runs)


if __name__ == "__main__":
    main()

"""Benchmark the province's statistics (service.statistics) on SQLite and PostgreSQL.

Generates a province's year: N dossiers (default 150,000; one province reported 138,039
digitized in a year) received over twelve months by 20 districts and their 10 communes each,
under 50 procedures, each with 1 to 4 components (digitized 90 %, sealed 85 % of those), 70 %
returned (one in ten late). Loads the same rows into a SQLite file and a fresh PostgreSQL schema
(dropped afterwards), then times the statistics as the API asks for them, beside a plain
``SELECT count(*)`` of the dossiers (the floor: one pass over the table), and checks that the
component counts the triggers kept on every dossier row are those counted from its documents.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shlex
import sqlite3
import statistics as stats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import statistics  # noqa: E402
from service.context import Context  # noqa: E402
from storage import Document, Dossier, Signature, open_catalog  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CHUNK = 5000
DISTRICT = tuple(f"000.{commune:02d}.07.H12" for commune in range(11))  # district 07 and its 10 communes


def rows(n: int, seed: int = 7) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each dossier's row and its components (with ``sealed``: whether its seal exists)."""
    rng = random.Random(seed)
    start = dt.date(2025, 1, 1)
    sequence: dict[tuple[str, dt.date], int] = {}
    for _ in range(n):
        district, commune = rng.randrange(1, 21), rng.randrange(0, 11)
        agency = f"000.{commune:02d}.{district:02d}.H12"
        received = start + dt.timedelta(days=rng.randrange(365))
        sequence[(agency, received)] = number = sequence.get((agency, received), 0) + 1
        code = f"{agency}-{received:%y%m%d}-{number:04d}"
        due = received + dt.timedelta(days=rng.choice((3, 5, 7, 15)))
        returned = due + dt.timedelta(days=rng.choice((-2, -1, 0, 0, 0, 0, 0, 0, 0, 2))) if rng.random() < 0.7 else None
        procedure = f"1.{rng.randrange(50):06d}"
        dossier = {"code": code, "agency": agency, "received_on": received, "due_on": due, "returned_on": returned,
                   "procedure_code": procedure, "procedure": f"Thủ tục {procedure}", "status": "RECEIVED"}  # fmt: skip
        parts = []
        for n_part in range(1, rng.randrange(2, 6)):
            digitized = rng.random() < 0.9
            sha = uuid.uuid4().hex * 2
            parts.append({"dossier_code": code, "number": n_part, "original_name": f"{n_part}.pdf",
                          "original_key": f"k/{code}/{n_part}", "original_sha256": sha, "original_size": 1,
                          "pdfa_key": f"p/{code}/{n_part}" if digitized else None,
                          "pdfa_sha256": sha if digitized else None,
                          "sealed": digitized and rng.random() < 0.85})  # fmt: skip
        yield dossier, parts


def load(sessions: sessionmaker[Session], n: int) -> None:
    batch: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []

    def flush() -> None:
        with sessions.begin() as s:
            s.execute(insert(Dossier), [d for d, _ in batch])
            parts = [p for _, ps in batch for p in ps]
            ids = s.execute(
                insert(Document).returning(Document.id, sort_by_parameter_order=True),
                [{k: v for k, v in p.items() if k != "sealed"} for p in parts],
            ).scalars()
            seals = [
                {"document_id": i, "kind": "agency", "version": p["pdfa_sha256"], "field": "Seal", "signer": "UBND",
                 "signed_at": "", "level": "B-B", "object_key": f"s/{i}"}
                for i, p in zip(ids, parts, strict=True) if p["sealed"]
            ]  # fmt: skip
            if seals:
                s.execute(insert(Signature), seals)
        batch.clear()

    for item in rows(n):
        batch.append(item)
        if len(batch) == CHUNK:
            flush()
    if batch:
        flush()


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return stats.median(times), max(times)


def bench(label: str, sessions: sessionmaker[Session], runs: int) -> None:
    ctx = cast(Context, SimpleNamespace(sessions=sessions))
    with sessions() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ANALYZE"))
            s.commit()

    def floor() -> None:
        with sessions() as s:
            s.scalar(select(func.count()).select_from(Dossier))

    cases: list[tuple[str, Callable[[], object]]] = [
        ("count(*) of dossiers (floor)", floor),
        ("month × agency × procedure", lambda: statistics.statistics(ctx, period="month")),
        ("year × agency (roll-ups)", lambda: statistics.statistics(ctx, period="year", by=["agency"])),
        ("day, whole province", lambda: statistics.statistics(ctx, period="day", by=[])),
        ("one district, month × procedure", lambda: statistics.statistics(
            ctx, period="month", by=["procedure"], agency="000.00.07.H12")),
        ("scope: a commune, month × procedure", lambda: statistics.statistics(
            ctx, period="month", by=["procedure"], agencies=("000.03.07.H12",))),
        ("scope: a district's 11, year × agency", lambda: statistics.statistics(
            ctx, period="year", by=["agency"], agencies=DISTRICT)),
    ]  # fmt: skip
    for name, fn in cases:
        median, worst = timed(fn, runs)
        print(f"{label:10s} {name:38s} median {median:8.1f} ms   max {worst:8.1f} ms", flush=True)
    with sessions() as s:
        kept, recounted = statistics.kept(s), statistics.recounted(s)
    print(
        f"{label:10s} counts kept on the {len(kept):,} dossier rows = recounted: {'yes' if kept == recounted else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=150_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args()
    print("command:", shlex.join([sys.executable, *sys.argv]))
    print("date:   ", dt.datetime.now().astimezone().isoformat(timespec="seconds"), "| CPUs:", os.cpu_count())
    print(f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = open_catalog(f"sqlite:///{tmp}/catalog.db")
        t = time.perf_counter()
        load(sqlite, args.dossiers)
        print(f"SQLite: {args.dossiers:,} dossiers loaded in {time.perf_counter() - t:.0f} s")
        bench("SQLite", sqlite, args.runs)
        sqlite.kw["bind"].dispose()
    if args.no_postgresql:
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        pg = open_catalog(f"{PG}?options=-csearch_path%3D{schema}")
        t = time.perf_counter()
        load(pg, args.dossiers)
        print(f"PostgreSQL: loaded in {time.perf_counter() - t:.0f} s")
        bench("PostgreSQL", pg, args.runs)
        pg.kw["bind"].dispose()
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()

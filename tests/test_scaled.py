"""The scale-out seams on the real engines every machine runs: PostgreSQL and Redis on loopback."""

from __future__ import annotations

import redis
from sqlalchemy import text

from service.queue import make_huey
from storage import Document, Dossier, open_catalog

REDIS = "redis://127.0.0.1:6379/15"


def test_catalog_migrates_and_stores_on_postgresql(pg_url: str) -> None:
    sessions = open_catalog(pg_url)
    with sessions.begin() as s:
        s.add(Dossier(code="000.00.12.H12-250527-0001", agency="000.00.12.H12", title="Hồ sơ đăng ký"))
        s.flush()
        s.add(
            Document(
                dossier_code="000.00.12.H12-250527-0001",
                original_name="scan.pdf",
                original_key="k",
                original_sha256="0" * 64,
                original_size=10,
            )
        )
    with sessions() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0014"
        dossier = s.get(Dossier, "000.00.12.H12-250527-0001")
        assert dossier is not None and dossier.title == "Hồ sơ đăng ký"
        assert [d.original_name for d in dossier.documents] == ["scan.pdf"]
    sessions.kw["bind"].dispose()


def test_job_queue_runs_on_redis() -> None:
    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    huey = make_huey(REDIS)
    seen: list[str] = []

    @huey.task()
    def record(value: str) -> None:
        seen.append(value)

    record("hồ sơ 1")
    assert huey.pending_count() == 1
    assert list(client.scan_iter(match="huey.*"))  # the queue really lives in Redis
    huey.execute(huey.dequeue())
    assert seen == ["hồ sơ 1"] and huey.pending_count() == 0
    client.flushdb()

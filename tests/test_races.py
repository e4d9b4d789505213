"""Races at the desk, against a real `sohoa serve` (two server processes) on SQLite and on
PostgreSQL: twenty stations posting to one new dossier at once, one file posted ten times at
once, twenty clerks creating one dossier at once. Every answer is one the API documents
(201, 202, 200 or 409; never a 500), the catalog holds each thing once, and the integrity
audit finds no object left behind by a lost race."""

from __future__ import annotations

import http.client
import io
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from conftest import serve
from service import access
from service.context import context
from storage import AuditEvent, Document, Dossier, Job
from storage.audit import audit

CLIENTS = 20
JSON = {"Content-Type": "application/json"}
Answer = tuple[int, dict]  # type: ignore[type-arg]


def small_png(shade: int) -> bytes:
    """A tiny scan of its own: the upload is accepted and queued (no worker runs here)."""
    out = io.BytesIO()
    Image.new("L", (16, 16), shade).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def server(service_on_each_catalog: str) -> Iterator[Callable[..., Answer]]:
    """`sohoa serve` on the catalog under test, and a function that sends one request as a given role."""
    ctx = context()
    tokens = {role: access.issue(ctx.sessions, f"Thử {role}", role)[1] for role in ("scanner", "clerk")}
    env = {**os.environ, "SOHOA_EMBEDDED_WORKER": "false", "SOHOA_API_PROCESSES": "2"}
    process, base = serve(env)
    netloc = urlsplit(base).netloc

    def send(role: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        connection = http.client.HTTPConnection(netloc, timeout=60)
        try:
            connection.request(method, path, body, {"Authorization": f"Bearer {tokens[role]}", **headers})
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, {"text": text}  # a plain-text 500, say

    try:
        yield send
    finally:
        process.terminate()
        process.wait(30)


def at_once(calls: list[Callable[[], Answer]]) -> list[Answer]:
    """Every call started at the same moment, each on its own connection."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Answer]) -> Answer:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def statuses(answers: list[Answer]) -> Counter[int]:
    return Counter(status for status, _ in answers)


def post_scan(
    send: Callable[..., Answer], code: str, data: bytes, name: str, role: str = "clerk"
) -> Callable[[], Answer]:
    headers = {"Content-Type": "image/png", "X-Filename": name}
    return lambda: send(role, "POST", f"/api/v1/dossiers/{code}/scans", data, headers)


def test_concurrent_posts_answer_201_202_200_or_409_and_leave_nothing_behind(
    server: Callable[..., Answer], data_dir: Path
) -> None:
    # Twenty desks, twenty different scans, one dossier nobody has created yet: numbered 1 to 20.
    new = "000.00.12.H12-250601-0001"
    answers = at_once([post_scan(server, new, small_png(i), f"trang-{i}.png") for i in range(CLIENTS)])
    assert statuses(answers) == {202: CLIENTS}, answers
    assert sorted(body["jobs"][0]["document_id"] for _, body in answers) == list(range(1, CLIENTS + 1))

    # One scan posted ten times at once by stations: one document and one job, the others told so (200).
    same = "000.00.12.H12-250601-0002"
    assert server("clerk", "POST", "/api/v1/dossiers", json.dumps({"code": same}).encode(), JSON)[0] == 201
    scan = small_png(200)
    answers = at_once([post_scan(server, same, scan, "mot-tep.png", "scanner") for _ in range(10)])
    assert statuses(answers) == {202: 1, 200: 9}, answers
    assert len({body["jobs"][0]["id"] for _, body in answers}) == 1
    # Stations posting to a dossier nobody received: refused, nothing made.
    unknown = "000.00.12.H12-250601-0004"
    answers = at_once([post_scan(server, unknown, small_png(i), f"x-{i}.png", "scanner") for i in range(5)])
    assert statuses(answers) == {404: 5} and all(unknown in body["detail_vi"] for _, body in answers), answers

    # Twenty clerks create one dossier at once: one is created, the others hear it exists.
    created = "000.00.12.H12-250601-0003"
    body = json.dumps({"code": created, "title": "Đăng ký khai sinh"}).encode()
    create = lambda: server("clerk", "POST", "/api/v1/dossiers", body, JSON)  # noqa: E731
    answers = at_once([create] * CLIENTS)
    assert statuses(answers) == {201: 1, 409: CLIENTS - 1}, answers
    assert all(b["type"] == "urn:sohoa:error:dossier-exists" for s, b in answers if s == 409), answers

    ctx = context()
    with ctx.sessions() as session:
        count = lambda q: session.scalar(select(func.count()).select_from(q.subquery()))  # noqa: E731
        for code, documents in ((new, CLIENTS), (same, 1), (created, 0)):
            assert count(select(Document).where(Document.dossier_code == code)) == documents, code
            made = select(AuditEvent).where(AuditEvent.dossier_code == code, AuditEvent.action == "dossier.created")
            assert count(made) == 1, code
        assert session.get(Dossier, unknown) is None
        assert count(select(Job)) == CLIENTS + 1
    report = audit(ctx.store, ctx.sessions)
    assert report.ok and not report.orphans, report
    assert not [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]  # no upload's copy left over

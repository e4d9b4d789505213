"""Webhooks: events written with the change they tell of, sent from the job queue, signed, retried
with back-off while the subscriber refuses, and none lost (a real HTTP receiver on loopback)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from conftest import _clear_caches, free_port
from errors import SohoaError
from service import dossiers, onestop, queue, scans, webhooks
from service.context import context
from service.run import run_job
from storage import lifecycle, outbox
from storage.catalog import WebhookDelivery, WebhookEvent

CODE = "000.00.12.H12-250527-0001"
SECRET = "bi-mat-cua-he-thong-mot-cua-0123456789"


def verified(headers: Any, body: bytes, secret: str = SECRET) -> dict[str, Any]:
    """What a subscriber does with a request: check the time stamp and the signature, then read it."""
    timestamp = headers["X-Sohoa-Timestamp"]
    assert abs(time.time() - int(timestamp)) < 300, "too old: a replay"
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, headers["X-Sohoa-Signature"]), "not signed with our secret"
    return dict(json.loads(body))


class Receiver:
    """The one-stop system's endpoint: answers 503 ``refusals`` times, then takes events."""

    def __init__(self, port: int, refusals: int) -> None:
        self.refusals, self.taken, self.lock = refusals, [], threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    refuse = outer.refusals > 0
                    outer.refusals -= refuse
                    if not refuse:
                        outer.taken.append((self.headers, body))
                self.send_response(503 if refuse else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fast_retries(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SOHOA_WEBHOOK_RETRY_SECONDS", "1,1,2")
    _clear_caches()
    yield


REDIS = "redis://127.0.0.1:6379/12"


@pytest.fixture(params=["file", "redis"])
def on_each_queue(request: pytest.FixtureRequest, fast_retries: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The queue on its file (the default) and on Redis (the scaled setup)."""
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(REDIS)
        names = [
            f"huey.{kind}.{lane}" for kind in ("redis", "schedule") for lane in ("sohoa", "sohoalarge", "sohoawebhooks")
        ]
        client.delete(*names)  # this test's keys only: the server is shared
        monkeypatch.setenv("SOHOA_QUEUE_URL", REDIS)
        _clear_caches()
        yield request.param
        client.delete(*names)
    else:
        yield request.param


def _deliveries() -> list[WebhookDelivery]:
    with context().sessions() as s:
        return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, [(d.status, d.attempts, d.last_error) for d in _deliveries()]
        time.sleep(0.2)


@pytest.mark.slow  # a worker, a receiver and retries a second or two apart
def test_no_event_is_lost_while_the_subscriber_is_down(on_each_queue: str) -> None:
    ctx, port = context(), free_port()
    webhooks.add_subscriber(ctx, f"http://127.0.0.1:{port}/su-kien", None, SECRET, actor="admin")
    workers = queue.start_workers(ctx.settings)
    receiver = None
    try:
        dossiers.create_dossier(ctx, CODE, {}, actor="Cán bộ tiếp nhận")
        dossiers.transition(ctx, CODE, "IN_PROCESSING", actor="Cán bộ một cửa")  # event 1
        onestop.put_dossier(ctx, CODE, {"status": "PENDING_APPROVAL"}, actor="Một cửa #2")  # event 2
        with ctx.sessions.begin() as s:  # event 3, then a "crash" before its delivery is queued
            lifecycle.move(s, CODE, "APPROVED", actor="Lãnh đạo")
            s.info.pop(outbox.NEW)
        # Nobody listens: connection refused, tried again after 1 s, 1 s, 2 s…
        _wait_for(lambda: sum(d.attempts >= 2 for d in _deliveries()) == 2)
        assert all(d.status == "pending" and "Connection" in (d.last_error or "") for d in _deliveries()[:2])
        assert _deliveries()[2].attempts == 0  # the lost one: still recorded
        assert webhooks.sweep(ctx, partial(queue.send_later, settings=ctx.settings), grace=0) == [3]
        receiver = Receiver(port, refusals=2)  # back, overloaded at first: 503 twice
        _wait_for(lambda: all(d.status == "delivered" for d in _deliveries()))
    finally:
        workers.stop()
        if receiver is not None:
            receiver.stop()
    events = [verified(headers, body) for headers, body in receiver.taken]
    assert len(events) == 3 and len({e["id"] for e in events}) == 3  # each once
    moves = sorted((e["data"]["from"], e["data"]["to"]) for e in events)
    assert moves == [("IN_PROCESSING", "PENDING_APPROVAL"), ("PENDING_APPROVAL", "APPROVED"),
                     ("RECEIVED", "IN_PROCESSING")]  # fmt: skip
    assert all(e["event"] == "dossier.status" and e["dossier"] == CODE and e["at"].endswith("+07:00") for e in events)
    log = webhooks.deliveries(ctx, status="delivered")
    assert log.total == 3 and max(d.attempts for d in log.deliveries) >= 3
    assert all(d.last_status_code == 200 and d.last_error is None for d in log.deliveries)
    headers, body = receiver.taken[0]
    with pytest.raises(AssertionError, match="not signed"):
        verified(headers, body.replace(b"dossier.status", b"dossier.stetus"))


def test_waits_follow_the_setting_and_give_up_late(fast_retries: None) -> None:
    ctx = context()
    webhooks.add_subscriber(ctx, f"http://127.0.0.1:{free_port()}/", ["dossier.status"], SECRET, actor="admin")
    dossiers.create_dossier(ctx, CODE, {}, actor="clerk")
    dossiers.transition(ctx, CODE, "IN_PROCESSING", actor="clerk")
    waits: list[float] = []

    def attempt(*, created_ago: dt.timedelta) -> str | None:
        with ctx.sessions.begin() as s:  # due now, its event that long ago
            s.execute(update(WebhookDelivery).values(next_attempt_at=dt.datetime.now(dt.UTC),
                                                     created_at=dt.datetime.now(dt.UTC) - created_ago))  # fmt: skip
        return webhooks.deliver(ctx, 1, lambda _id, wait: waits.append(wait))

    assert [attempt(created_ago=dt.timedelta(0)) for _ in range(4)] == ["pending"] * 4
    assert waits == [1, 1, 2, 2]  # SOHOA_WEBHOOK_RETRY_SECONDS, the last one repeating
    assert attempt(created_ago=dt.timedelta(hours=1)) == "pending"  # down for an hour: still trying
    assert attempt(created_ago=dt.timedelta(hours=73)) == "failed"  # SOHOA_WEBHOOK_GIVE_UP_HOURS: 72
    assert webhooks.deliver(ctx, 1, lambda *_: None) is None  # nothing due any more
    assert _deliveries()[0].attempts == 6


def test_events_are_written_with_their_change(data_dir: Path) -> None:
    ctx = context()
    assert dossiers.create_dossier(ctx, CODE, {}, actor="clerk")  # no subscriber: nothing recorded
    with ctx.sessions() as s:
        assert s.scalars(select(WebhookEvent)).first() is None
    webhooks.add_subscriber(ctx, "https://motcua.example.vn/hook", ["job.failed"], SECRET, actor="admin")
    broken = data_dir / "hong.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    job = scans.submit_scan(ctx, CODE, broken, broken.name, actor="clerk")
    run_job(ctx, job.id)  # fails on the corrupt file, before any OCR
    with ctx.sessions() as s:
        [event] = s.scalars(select(WebhookEvent))  # only the event subscribed to
        assert event.event == "job.failed" and event.data["job"] == job.id and event.data["document"] == 1
        assert event.data["error"]["code"] and s.scalars(select(WebhookDelivery)).one().status == "pending"
    with pytest.raises(SohoaError, match=r"dossier\.statu"):
        webhooks.add_subscriber(ctx, "https://x.vn/", ["dossier.statu"], SECRET, actor="admin")
    with pytest.raises(SohoaError, match="http"):
        webhooks.add_subscriber(ctx, "ftp://x.vn/", None, SECRET, actor="admin")
    removed = webhooks.remove_subscriber(ctx, 1, actor="admin")
    assert removed.removed_at is not None and _deliveries()[0].status == "dropped"


@pytest.mark.slow  # runs the CLI
def test_webhooks_command(data_dir: Path) -> None:
    import os
    import subprocess

    from conftest import SOHOA

    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}
    added = subprocess.run([SOHOA, "webhooks", "add", "https://motcua.example.vn/su-kien", "--event", "job.done"],
                           env=env, capture_output=True, text=True)  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert len(added.stdout.strip()) >= 32 and "không hiện lại" in added.stderr
    listed = subprocess.run([SOHOA, "webhooks", "list"], env=env, capture_output=True, text=True).stdout
    assert "1\thttps://motcua.example.vn/su-kien\tjob.done\thiệu lực" in listed
    assert added.stdout.strip() not in listed
    bad = subprocess.run([SOHOA, "webhooks", "add", "motcua"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "[url]" in bad.stderr


def test_admin_api_adds_lists_and_logs(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    import api
    from service import access

    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")
    _clear_caches()
    admin = {"Authorization": f"Bearer {access.issue(context().sessions, 'Quản trị', 'admin')[1]}"}
    with TestClient(api.app) as client:
        made = client.post("/api/v1/webhooks", json={"url": "https://motcua.example.vn/hook"}, headers=admin)
        assert made.status_code == 201 and len(made.json()["secret"]) >= 32
        assert made.json()["events"] == ["job.done", "job.failed", "document.signed", "dossier.status"]
        listed = client.get("/api/v1/webhooks", headers=admin).json()["subscribers"]
        assert listed[0]["secret"] is None
        dossiers.create_dossier(context(), CODE, {}, actor="clerk")
        dossiers.transition(context(), CODE, "IN_PROCESSING", actor="clerk")
        log = client.get("/api/v1/webhook-deliveries", headers=admin).json()
        assert log["total"] == 1 and log["deliveries"][0]["event"] == "dossier.status"
        assert log["deliveries"][0]["status"] == "pending" and log["deliveries"][0]["dossier"] == CODE
        bad = client.post("/api/v1/webhooks", json={"url": "https://x.vn", "secret": "ngan"}, headers=admin)
        assert bad.status_code == 400 and bad.json()["field"] == "secret"
        assert client.delete("/api/v1/webhooks/1", headers=admin).json()["removed_at"]
        assert client.delete("/api/v1/webhooks/9", headers=admin).status_code == 404


@pytest.mark.slow  # OCR
def test_a_digitized_and_signed_scan_tells_its_subscribers(
    data_dir: Path, page_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    ctx = context()
    webhooks.add_subscriber(ctx, "https://motcua.example.vn/hook", None, SECRET, actor="admin")
    dossiers.create_dossier(ctx, CODE, {}, actor="clerk")
    job = scans.submit_scan(ctx, CODE, page_png, page_png.name, actor="clerk")
    run_job(ctx, job.id)
    with ctx.sessions() as s:
        events = {e.event: e.data for e in s.scalars(select(WebhookEvent).order_by(WebhookEvent.at))}
        moves = [e.data["to"] for e in s.scalars(select(WebhookEvent).where(WebhookEvent.event == "dossier.status"))]
    assert events["job.done"] == {"job": job.id, "kind": "digitize", "pages": 1,
                                  "documents": [{"dossier": CODE, "document": 1}]}  # fmt: skip
    signed = events["document.signed"]
    assert signed["document"] == 1 and signed["kind"] == "agency" and len(signed["sha256"]) == 64
    assert sorted(moves) == ["DIGITIZED", "DIGITIZING"]

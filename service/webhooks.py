"""Webhooks: the systems told of events (the one-stop software), and the sending of the events the
outbox recorded (storage.outbox): signed JSON, retried with back-off from the job queue until the
subscriber takes it, every attempt's outcome in the delivery row (the delivery log).

A body is signed with HMAC-SHA256 over ``<timestamp>.<body>`` with the subscriber's secret; the
timestamp (Unix seconds) travels in its own header, so a receiver can refuse old replays."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from errors import SohoaError
from service import agencies as registry
from service.access import expand
from service.context import Context, audit
from service.views import Delivery, DeliveryPage, Subscriber
from storage import outbox
from storage.catalog import WebhookDelivery, WebhookSubscriber, changed, iso, now
from storage.errors import NotFound

log = logging.getLogger("sohoa.webhooks")
Schedule = Callable[[int, float], None]  # a delivery's id, and the seconds to wait before sending it
PENDING, SENDING, DELIVERED, FAILED, DROPPED = "pending", "sending", "delivered", "failed", "dropped"
TIMEOUT_S = 10  # a subscriber that has not answered by then is tried again later
LEASE_S = 3 * TIMEOUT_S  # a sending whose worker died is pending again after this
SWEEP_S = 30
SIGNATURE, TIMESTAMP, EVENT, DELIVERY = "X-Sohoa-Signature", "X-Sohoa-Timestamp", "X-Sohoa-Event", "X-Sohoa-Delivery"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.<body>`` with the subscriber's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _check_subscriber(url: str, events: list[str], secret: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise SohoaError(
            f"Địa chỉ nhận «{url[:60]}» phải là URL http:// hoặc https:// (tối đa 500 ký tự).",
            f"The address “{url[:60]}” must be an http:// or https:// URL (500 characters at most).",
            field="url",
        )
    unknown = [e for e in events if e not in outbox.EVENTS]
    if unknown or not events:
        raise SohoaError(
            f"Sự kiện không có: {', '.join(unknown)[:80] or '(trống)'}; chọn trong: {', '.join(outbox.EVENTS)}.",
            f"Unknown events: {', '.join(unknown)[:80] or '(none)'}; choose from: {', '.join(outbox.EVENTS)}.",
            field="events",
        )
    if not 16 <= len(secret) <= 200:
        raise SohoaError(
            "Khóa bí mật phải dài từ 16 đến 200 ký tự.", "The secret must be 16 to 200 characters.", field="secret"
        )


def _view(row: WebhookSubscriber, secret: str | None = None) -> Subscriber:
    return Subscriber(
        id=row.id,
        url=row.url,
        events=row.events,
        agencies=row.agencies,
        created_at=iso(row.created_at) or "",
        removed_at=iso(row.removed_at),
        secret=secret,
    )


def add_subscriber(
    ctx: Context,
    url: str,
    events: list[str] | None,
    secret: str = "",
    *,
    actor: str,
    agencies: list[str] | None = None,
) -> Subscriber:
    """A new subscriber; its secret (made here unless given) is shown in this answer only. It gets
    the events of the dossiers of ``agencies`` and the agencies under them (None: every agency)."""
    url = unicodedata.normalize("NFC", url.strip())
    chosen = list(dict.fromkeys(events or outbox.EVENTS))
    secret = secret or secrets.token_urlsafe(32)
    _check_subscriber(url, chosen, secret)
    with ctx.sessions.begin() as session:
        for code in agencies or ():
            registry.existing(session, code)  # an unknown agency is refused
        scope = None if agencies is None else sorted(expand(session, agencies))
        row = WebhookSubscriber(url=url, events=chosen, secret=secret, agencies=scope)
        session.add(row)
        session.flush()
        audit(session, actor, "webhook.added", None, subscriber=row.id, url=url, events=chosen, agencies=scope)
        return _view(row, secret)


def _subscriber(session: Session, subscriber_id: int) -> WebhookSubscriber:
    row = session.get(WebhookSubscriber, subscriber_id)
    if row is None:
        raise NotFound(
            f"Không có nơi nhận webhook số {subscriber_id}.", f"No webhook subscriber {subscriber_id}.", field="id"
        )
    return row


def remove_subscriber(ctx: Context, subscriber_id: int, *, actor: str) -> Subscriber:
    """Stop sending to a subscriber; what was still waiting for it is dropped (kept in the log)."""
    with ctx.sessions.begin() as session:
        row = _subscriber(session, subscriber_id)
        if row.removed_at is None:
            row.removed_at = now()
            waiting = WebhookDelivery.status.in_((PENDING, SENDING))
            session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.subscriber_id == row.id, waiting)
                .values(status=DROPPED, next_attempt_at=None)
            )
            audit(session, actor, "webhook.removed", None, subscriber=row.id, url=row.url)
        return _view(row)


def subscribers(ctx: Context) -> list[Subscriber]:
    with ctx.sessions() as session:
        return [_view(row) for row in session.scalars(select(WebhookSubscriber).order_by(WebhookSubscriber.id))]


def deliveries(
    ctx: Context, *, status: str | None = None, subscriber: int | None = None, limit: int = 50, offset: int = 0
) -> DeliveryPage:
    """The delivery log, newest first."""
    query = select(WebhookDelivery)
    if status:
        query = query.where(WebhookDelivery.status == status)
    if subscriber:
        query = query.where(WebhookDelivery.subscriber_id == subscriber)
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset))
        items = [
            Delivery(
                id=d.id,
                event_id=d.event_id,
                event=d.event.event,
                dossier=d.event.dossier_code,
                subscriber=d.subscriber_id,
                url=d.subscriber.url,
                status=d.status,
                attempts=d.attempts,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                created_at=iso(d.created_at) or "",
                next_attempt_at=iso(d.next_attempt_at),
                delivered_at=iso(d.delivered_at),
            )
            for d in rows
        ]
    return DeliveryPage(total=total, limit=limit, offset=offset, deliveries=items)


def _claim(ctx: Context, delivery_id: int) -> tuple[str, str, bytes, str] | None:
    """Take a delivery that is due (None: delivered, dropped, not due yet, or another worker has it):
    its URL, secret, body and event name."""
    with ctx.sessions.begin() as session:
        taken = changed(
            session,
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now(),
            )
            .values(status=SENDING, lease_until=now() + dt.timedelta(seconds=LEASE_S)),
        )
        if not taken:
            return None
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        body = json.dumps(outbox.payload(row.event), ensure_ascii=False, separators=(",", ":")).encode()
        return row.subscriber.url, row.subscriber.secret, body, row.event.event


def _post(url: str, secret: str, body: bytes, event: str, delivery_id: int) -> tuple[int | None, str | None]:
    """Send once: the answer's status (None: no answer) and what went wrong (None: taken)."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP: timestamp,
        SIGNATURE: signature(secret, timestamp, body),
        EVENT: event,
        DELIVERY: str(delivery_id),
        "User-Agent": "sohoa-webhooks",
    }
    try:
        answer = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as e:
        return None, f"{type(e).__name__}: {str(e)[:400]}"
    if 200 <= answer.status_code < 300:
        return answer.status_code, None
    return answer.status_code, f"HTTP {answer.status_code}: {answer.text[:200]}"


def deliver(ctx: Context, delivery_id: int, schedule: Schedule) -> str | None:
    """One attempt at a delivery that is due; refused, it is scheduled again after the next wait of
    SOHOA_WEBHOOK_RETRY_SECONDS, until SOHOA_WEBHOOK_GIVE_UP_HOURS after its event. Its status
    after the attempt (None: nothing was due)."""
    claimed = _claim(ctx, delivery_id)
    if claimed is None:
        return None
    code, error = _post(*claimed, delivery_id)
    waits = ctx.settings.webhook_retry_seconds
    with ctx.sessions.begin() as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        row.attempts += 1
        row.last_status_code, row.last_error, row.lease_until = code, error, None
        if error is None:
            row.status, row.delivered_at, row.next_attempt_at = DELIVERED, now(), None
            return DELIVERED
        wait = waits[min(row.attempts, len(waits)) - 1]
        give_up = row.created_at + dt.timedelta(hours=ctx.settings.webhook_give_up_hours)
        if now() + dt.timedelta(seconds=wait) > give_up:
            row.status, row.next_attempt_at = FAILED, None
            log.warning("webhook delivery %d failed for good: %s", delivery_id, error)
            return FAILED
        row.status, row.next_attempt_at = PENDING, now() + dt.timedelta(seconds=wait)
    schedule(delivery_id, wait)
    return PENDING


def sweep(ctx: Context, schedule: Schedule, grace: float = SWEEP_S) -> list[int]:
    """Schedule what is overdue by ``grace`` seconds and not sent: deliveries whose sending died
    with its worker (lease over), and pending ones the queue lost (recorded by a process that
    crashed before it enqueued them, or a queue emptied). A delivery queued twice is sent once:
    it is claimed."""
    with ctx.sessions.begin() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == SENDING, WebhookDelivery.lease_until < now())
            .values(status=PENDING, lease_until=None)
        )
        due = select(WebhookDelivery.id).where(
            WebhookDelivery.status == PENDING,
            or_(
                WebhookDelivery.next_attempt_at.is_(None),
                WebhookDelivery.next_attempt_at <= now() - dt.timedelta(seconds=grace),
            ),
        )
        found = list(session.scalars(due.order_by(WebhookDelivery.id)))
    for delivery_id in found:
        schedule(delivery_id, 0)
    return found


def start_sweeper(ctx: Context, schedule: Schedule) -> threading.Event:
    """Sweep at once (what waited while no worker ran), then every SWEEP_S; set the event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                sweep(ctx, schedule)
            except Exception:  # a database hiccup must not end the loop
                log.exception("webhook sweep failed")
            if stop.wait(SWEEP_S):
                return

    threading.Thread(target=loop, name="sohoa-webhooks", daemon=True).start()
    return stop

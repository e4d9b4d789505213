"""The webhook outbox: an event is written in the transaction of the change it tells of, with one
delivery row per subscriber that wants it, so a crash between the change and the sending loses
nothing (the worker's sweep sends what is pending). The sending is service.webhooks'."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from storage.catalog import WebhookDelivery, WebhookEvent, WebhookSubscriber, iso, now
from storage.codes import agency_of

JOB_DONE, JOB_FAILED, DOCUMENT_SIGNED, DOSSIER_STATUS = "job.done", "job.failed", "document.signed", "dossier.status"
EVENTS = {
    JOB_DONE: ("công việc số hóa xong", "a digitization job is done"),
    JOB_FAILED: ("công việc số hóa lỗi", "a digitization job failed"),
    DOCUMENT_SIGNED: ("tài liệu được ký", "a document was signed"),
    DOSSIER_STATUS: ("hồ sơ chuyển trạng thái", "a dossier changed status"),
}
NEW = "sohoa.deliveries"  # the session's info: deliveries made in its transaction, sent after it commits


def record(session: Session, event: str, code: str | None, **data: Any) -> None:
    """Record ``event`` (about dossier ``code``) for every subscriber that wants it; nothing is
    written when none does."""
    assert event in EVENTS, event
    agency = agency_of(code) if code else None
    subscribers = [
        s.id
        for s in session.scalars(select(WebhookSubscriber).where(WebhookSubscriber.removed_at.is_(None)))
        if event in s.events and (s.agencies is None or agency in s.agencies)  # of its agencies only
    ]
    if not subscribers:
        return
    row = WebhookEvent(id=uuid.uuid4().hex, event=event, dossier_code=code, at=now(), data=data)
    session.add(row)
    session.flush()
    deliveries = [WebhookDelivery(event_id=row.id, subscriber_id=s, next_attempt_at=row.at) for s in subscribers]
    session.add_all(deliveries)
    session.flush()
    session.info.setdefault(NEW, []).extend(d.id for d in deliveries)


def payload(event: WebhookEvent) -> dict[str, Any]:
    """The JSON body a subscriber receives: the same for every attempt (its id lets it drop a repeat)."""
    at = iso(event.at)
    return {"id": event.id, "event": event.event, "at": at, "dossier": event.dossier_code, "data": event.data}


def take_new(session: Session) -> list[int]:
    """The deliveries the session's committed transaction made (each given out once)."""
    return list(session.info.pop(NEW, []))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    """Deliveries of a transaction rolled back were never made."""
    session.info.pop(NEW, None)

"""The audit log: append-only and hash-chained.

Each entry carries the SHA-256 of the previous entry's hash and its own content, so an
edited or deleted entry breaks the chain at that point. Database triggers refuse UPDATE
and DELETE (migration 0002); the chain catches what someone with the database owner's
rights does anyway. Entries are chained in id order, and appends are serialized: on
PostgreSQL by a transaction-scoped advisory lock, on SQLite by the write lock that the
INSERT takes before the previous entry is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from storage.catalog import AuditEvent, now

GENESIS = "0" * 64
_LOCK = 0x50_48_4F_41  # any constant shared by every sohoa process ("SOHOA" abbreviated)


def _moment(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash_of(event: AuditEvent, prev_hash: str) -> str:
    body = json.dumps(
        {
            "id": event.id,
            "at": _moment(event.at),
            "actor": event.actor,
            "action": event.action,
            "dossier": event.dossier_code,
            "detail": event.detail,
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(session: Session, actor: str, action: str, code: str | None = None, **detail: Any) -> AuditEvent:
    """Add one entry to the log, chained to the entry before it (committed with the session)."""
    if session.get_bind().dialect.name == "postgresql":
        # The transaction's pending rows first: their triggers may wait for a dossier's row (its
        # counts), which must never happen while this lock, which everyone waits for, is held.
        session.flush()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    event = AuditEvent(at=now(), actor=actor, action=action, dossier_code=code, detail=detail or None)
    session.add(event)
    session.flush()
    prev = session.scalars(
        select(AuditEvent.hash).where(AuditEvent.id < event.id).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    event.prev_hash = prev or GENESIS
    event.hash = _hash_of(event, event.prev_hash)
    session.flush()
    return event


@dataclass
class ChainReport:
    entries: int
    head: str  # hash of the last entry: keep it elsewhere to detect a cut-off tail
    broken_at: int | None  # id of the first entry that does not follow from the one before
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(session: Session) -> ChainReport:
    prev, count = GENESIS, 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)):
        count += 1
        if event.prev_hash != prev:
            return ChainReport(count, prev, event.id, "previous entry missing or changed")
        if event.hash != _hash_of(event, prev):
            return ChainReport(count, prev, event.id, "entry changed")
        prev = event.hash
    return ChainReport(count, prev, None)

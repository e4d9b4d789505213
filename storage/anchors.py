"""The audit log's head kept outside the catalog: from time to time the last entry's id and hash
are written as a write-once object (retained on S3), time-stamped when a time-stamping authority
is configured. A log cut short or recomputed from an edited row no longer matches its anchors,
which a chain checked only against itself cannot show."""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.catalog import AuditEvent, now
from storage.objects import ObjectStore

PREFIX = "audit/anchors/"
# A time stamp over an anchor's SHA-256, as an RFC 3161 token (DER), or None without a TSA.
Stamper = Callable[[bytes], bytes | None]


def _key(entry: int, digest: str) -> str:
    return f"{PREFIX}{entry:012d}-{digest[:16]}.json"


def anchor(store: ObjectStore, session: Session, *, stamp: Stamper | None = None) -> str | None:
    """Anchor the log's current head, unless it is anchored already; returns the new key."""
    head = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).first()
    # The key names the head: one lookup tells whether it is anchored (never a listing of them all).
    if head is None or store.exists(key := _key(head.id, str(head.hash))):
        return None
    entries = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    body = {"entry": head.id, "hash": head.hash, "entries": entries, "at": now().isoformat()}
    data = json.dumps(body, sort_keys=True).encode()
    token = stamp(data) if stamp is not None else None
    if token is not None:
        body["timestamp_token"] = base64.b64encode(token).decode()
        data = json.dumps(body, sort_keys=True).encode()
    with tempfile.TemporaryDirectory(prefix="sohoa-anchor-") as tmp:
        path = Path(tmp) / "anchor.json"
        path.write_bytes(data)
        store.put_file(key, path, write_once=True, retain=True)
    return key


def check(store: ObjectStore, session: Session) -> list[str]:
    """What the anchors say is wrong with the log: an anchored entry that is gone (the log was
    cut) or differs (it was rewritten), or anchors that do not follow one another."""
    problems = []
    previous = 0
    for key in store.list(PREFIX):
        with store.open(key) as f:
            body = json.loads(f.read())
        entry, digest = int(body["entry"]), str(body["hash"])
        if entry <= previous:
            problems.append(f"{key}: anchors out of order")
        previous = entry
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == entry))
        if stored is None:
            problems.append(f"entry {entry}, anchored in {key}, is missing: the log was cut")
        elif stored != digest:
            problems.append(f"entry {entry} differs from its anchor {key}: the log was rewritten")
    return problems

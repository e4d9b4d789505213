"""The audit log as its readers see it, and the integrity audit of everything stored."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from service.access import Scope
from service.agencies import codes_within
from service.context import Context
from service.views import AuditEvents, AuditEventView
from storage import AuditEvent, anchors
from storage.audit import AuditReport, audit
from storage.catalog import iso

if TYPE_CHECKING:
    from pyhanko.sign.timestamps.api import TimeStamper

log = logging.getLogger("sohoa.audit")


def audit_events(
    ctx: Context, *, dossier: str | None = None, limit: int = 100, offset: int = 0, scope: Scope = None
) -> AuditEvents:
    """Audit log entries, oldest first, each with the hashes that chain it to the one before (a user
    of some agencies: the entries of their dossiers only)."""
    query = select(AuditEvent).where(codes_within(AuditEvent.dossier_code, scope))
    if dossier:
        query = query.where(AuditEvent.dossier_code == dossier)
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        events = [
            AuditEventView(
                id=e.id,
                at=iso(e.at),
                actor=e.actor,
                action=e.action,
                dossier=e.dossier_code,
                detail=e.detail,
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in session.scalars(query.order_by(AuditEvent.id).limit(limit).offset(offset))
        ]
    return AuditEvents(total=total, limit=limit, offset=offset, events=events)


def integrity(ctx: Context) -> AuditReport:
    """Every stored object re-hashed against the catalog; the audit log's hash chain checked,
    against itself and against its anchors; every token row against the log."""
    return audit(ctx.store, ctx.sessions)


def anchor(ctx: Context) -> str | None:
    """Keep the audit log's head outside the catalog now, time-stamped by the signing profile's
    TSA (the configured one, or the demo PKI's) when there is one."""
    timestamper = ctx.signing().timestamper()
    with ctx.sessions() as session:
        return anchors.anchor(ctx.store, session, stamp=_stamp_with(timestamper) if timestamper else None)


def _stamp_with(timestamper: TimeStamper) -> anchors.Stamper:
    def stamp(data: bytes) -> bytes | None:
        try:
            token = asyncio.run(timestamper.async_timestamp(hashlib.sha256(data).digest(), "sha256"))
        except Exception:  # an unreachable TSA: anchored all the same, without a time stamp
            log.warning("the audit anchor was written without a time stamp: the TSA did not answer")
            return None
        return bytes(token.dump())

    return stamp


def start_anchorer(ctx: Context) -> threading.Event:
    """Anchor the audit log's head every SOHOA_AUDIT_ANCHOR_SECONDS in a background thread (when
    it has moved); set the returned event to stop it. A log cut or rewritten after an anchor no
    longer matches it; between two anchors, the window is that many seconds."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(ctx.settings.audit_anchor_seconds):
            try:
                anchor(ctx)
            except Exception:  # the store or the catalog down for a while: the next round anchors
                log.exception("anchoring the audit log failed")

    threading.Thread(target=loop, name="sohoa-anchor", daemon=True).start()
    return stop

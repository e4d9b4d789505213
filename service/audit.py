"""The audit log as its readers see it, and the integrity audit of everything stored."""

from __future__ import annotations

from sqlalchemy import func, select

from service.context import Context
from service.views import AuditEvents, AuditEventView
from storage import AuditEvent
from storage.audit import AuditReport, audit
from storage.catalog import iso


def audit_events(ctx: Context, *, dossier: str | None = None, limit: int = 100, offset: int = 0) -> AuditEvents:
    """Audit log entries, oldest first, each with the hashes that chain it to the one before."""
    query = select(AuditEvent)
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
    """Every stored object re-hashed against the catalog, and the audit log's hash chain checked."""
    return audit(ctx.store, ctx.sessions)

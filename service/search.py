"""Search: pages whose OCR text or dossier metadata match a query, typed with or without diacritics."""

from __future__ import annotations

import datetime as dt
import unicodedata

import storage.search
from service.access import Scope
from service.context import Context, audit_read
from service.views import SearchHit, SearchResults


def search(
    ctx: Context,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    agency: str | None = None,
    procedure: str | None = None,
    status: str | None = None,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    documents: storage.search.DocumentFilter | None = None,
    scope: Scope = None,
    actor: str,
) -> SearchResults:
    """Pages matching ``query`` (OCR text and dossier metadata), exact matches first, then newest first."""
    limit, offset = max(1, min(limit, storage.search.MAX_LIMIT)), max(0, offset)
    with ctx.sessions() as session:
        found = storage.search.search(
            session,
            query,
            limit=limit,
            offset=offset,
            agency=agency or None,
            agencies=None if scope is None else tuple(sorted(scope)),  # the caller's agencies only
            procedure=procedure or None,
            status=status or None,
            received_from=received_from,
            received_to=received_to,
            documents=documents,
        )
    filters = {
        "agency": agency,
        "procedure": procedure,
        "status": status,
        "received_from": received_from,
        "received_to": received_to,
        **(documents.__dict__ if documents else {}),
    }
    shown = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in filters.items() if v}
    audit_read(ctx, actor, "search", None, query=unicodedata.normalize("NFC", query), filters=shown, total=found.total)
    return SearchResults(
        query=unicodedata.normalize("NFC", query),
        filters=shown,
        total=found.total,
        total_estimated=found.estimated,
        limit=limit,
        offset=offset,
        hits=[SearchHit.model_validate(h.__dict__) for h in found.hits],
    )

"""Dossiers fed by the one-stop software: one PUT creates or brings a dossier up to date, the same
body twice changes nothing the second time; a day's dossiers in one request, answered one by one.

The status it reports is reached along the lifecycle (storage.lifecycle), one recorded move at a
time (actor: the integration's token, ``source: onestop``), through the states that need no
reason; a status the lifecycle cannot reach from the dossier's is refused for that dossier."""

from __future__ import annotations

import unicodedata
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

import storage.search
from errors import SohoaError
from service import signing_rules
from service.access import Principal
from service.agencies import retention_for
from service.context import Context, audit
from service.dossiers import check_meta, dossier_view, text_of, write_manifest
from service.views import DossierView
from storage import Dossier, lifecycle, parse_code
from storage.catalog import insert_new

SOURCE = "onestop"
REPORTED = ("Theo hệ thống một cửa", "Reported by the one-stop system")
FIELDS = ("title", "procedure_code", "procedure", "applicant", "retention", "received_on", "due_on")
SEARCHED = {"title", "procedure", "applicant"}  # on the dossier's first page in the index


@dataclass(frozen=True)
class Put:
    """What a PUT made: the dossier as it now is, and whether this PUT created it."""

    created: bool
    dossier: DossierView


def path_to(current: str, target: str) -> list[str]:
    """The shortest run of moves from ``current`` to ``target`` whose steps before the last need
    no reason (no rejection or extension is invented on the way); empty when there is none."""
    seen, todo = {current: [current]}, deque([current])
    while todo:
        state = todo.popleft()
        for following in sorted(lifecycle.NEXT[state]):
            if following in seen:
                continue
            seen[following] = [*seen[state], following]
            if following == target:
                return seen[following][1:]
            if following not in lifecycle.NEEDS_REASON:
                todo.append(following)
    return []


def _unreachable(code: str, current: str, target: str) -> lifecycle.TransitionRefused:
    return lifecycle.TransitionRefused(
        f"Hồ sơ {code} đang ở {current}: không chuyển sang {target} được theo quy trình.",
        f"Dossier {code} is {current}: its lifecycle does not lead to {target}.",
        field="status",
    )


def _moves(session: Session, dossier: Dossier, target: str, reason: str, fields: dict[str, Any], actor: str) -> bool:
    """Move the dossier to the status the one-stop system reports, one recorded step at a time
    (False: it is there already)."""
    current = dossier.status
    if target == current or (target == "RECEIVED" and current in lifecycle.DIGITIZABLE):
        return False  # digitizing and digitized are sohoa's own states of a dossier received
    steps = path_to(current, target)
    if not steps:
        raise _unreachable(dossier.code, current, target)
    for step in steps:
        if step == "RESULT_SIGNED" and not signing_rules.result_fully_signed(session, dossier.code):
            raise lifecycle.TransitionRefused(
                f"Hồ sơ {dossier.code} chưa có kết quả mang chữ ký người có thẩm quyền và con dấu cơ quan.",
                f"Dossier {dossier.code} has no result signed by the person with authority and sealed.",
                field="status",
            )
        last = step == target
        lifecycle.move(
            session,
            dossier.code,
            step,
            actor=actor,
            reason=reason if step in lifecycle.NEEDS_REASON else (reason if last else "") or REPORTED[0],
            due_on=fields.get("due_on") if step == "EXTENDED" else None,
            returned_on=fields.get("returned_on") if step == "RETURNED" else None,
            source=SOURCE,
        )
    return True


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v for k, v in body.items()}


def put_dossier(ctx: Context, code: str, body: dict[str, Any], *, actor: str) -> Put:
    """Create or update dossier ``code`` from the one-stop system's record of it: the details that
    differ are changed (each change in the log with its old value), then the status is reached."""
    parsed = parse_code(code, ctx.settings.dossier_code_pattern)
    body = _clean(body)
    status, reason = body.pop("status", None), body.pop("reason", "")
    meta = check_meta({k: v for k, v in body.items() if k in FIELDS and v is not None})
    with ctx.sessions.begin() as session:
        before = session.get(Dossier, code, with_for_update=True)
        if status == "EXTENDED" and (before is None or before.status != "EXTENDED"):
            meta.pop("due_on", None)  # the extension sets the new due date, later than the old one
        kept = meta.get("retention") or retention_for(session, parsed.agency, meta.get("procedure_code") or "")
        created = insert_new(
            session,
            Dossier,
            code=code,
            agency=parsed.agency,
            **{"received_on": parsed.received_on, **meta, "retention": kept},
        )
        if created:
            audit(session, actor, "dossier.created", code, source=SOURCE, **{k: text_of(v) for k, v in meta.items()})
        dossier = session.get(Dossier, code, with_for_update=True)
        assert dossier is not None
        changes = {k: {"old": text_of(getattr(dossier, k)), "new": text_of(v)} for k, v in meta.items()}
        changes = {k: c for k, c in changes.items() if c["old"] != c["new"]}
        if changes and not created:
            lifecycle.check_open(session, code, "sửa thông tin", "changing its details")
            for key in changes:
                setattr(dossier, key, meta[key])
            session.flush()
            if SEARCHED & set(changes):
                storage.search.reindex_dossier(session, code)
            audit(session, actor, "dossier.updated", code, changes=changes, source=SOURCE)
        moved = bool(status) and _moves(session, dossier, status, reason, body, actor)
    if created or changes or moved:  # the same body again writes nothing, the manifest neither
        write_manifest(ctx, code)
    return Put(created, dossier_view(ctx, code))


@dataclass(frozen=True)
class ItemResult:
    code: str
    status: int  # as the single PUT would have answered: 201, 200, or the error's
    dossier: DossierView | None
    error: SohoaError | None


def put_many(ctx: Context, items: list[tuple[str, dict[str, Any]]], *, by: Principal) -> list[ItemResult]:
    """A day's dossiers, each in its own transaction: one refused leaves the others done."""
    results = []
    for code, body in items:
        try:
            by.require_dossier(code)
            made = put_dossier(ctx, code, body, actor=by.actor)
        except SohoaError as e:
            results.append(ItemResult(code, e.status, None, e))
        else:
            results.append(ItemResult(code, 201 if made.created else 200, made.dossier, None))
    return results

"""Retention that binds: a dossier's retention code (circular 05/2025/TT-BNV: 01 permanent, then 70,
50, 30, 20 or 10 years) sets how long its stored objects stay locked, and which dossiers' periods
end soon (the archive's review: ``sohoa retention --due-within 90d``)."""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import select

from errors import SohoaError
from service import agencies
from service.access import Scope
from service.context import Context
from service.views import RetentionDue, RetentionReport
from storage import Dossier
from storage.catalog import StoredObject, iso
from storage.errors import StorageError

log = logging.getLogger("sohoa")
PERMANENT = "01"
YEARS = {"70": 70, "50": 50, "30": 30, "20": 20, "10": 10}  # the other codes: years kept
LONGEST = max(YEARS.values())  # a permanent record: legal hold, and this many years of retention
LOCKED = ("original", "pdfa", "signed", "alto", "package")  # every kind of object a dossier has


def _plus_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def starts_on(dossier: Dossier) -> dt.date:
    """The period runs from the dossier's receipt (the date in its code), else from its creation."""
    return dossier.received_on or dossier.created_at.date()


def ends_on(dossier: Dossier) -> dt.date | None:
    """The day the dossier's retention ends; None when it has no code or is kept permanently."""
    years = YEARS.get(dossier.retention)
    return _plus_years(starts_on(dossier), years) if years else None


def lock_until(dossier: Dossier) -> dt.datetime | None:
    """How long its objects are locked: to the period's end (permanent: the longest period, with a
    legal hold on top); None for a dossier without a code (only signed files are retained then,
    for SOHOA_RETENTION_DAYS, as they are stored)."""
    years = LONGEST if dossier.retention == PERMANENT else YEARS.get(dossier.retention)
    if years is None:
        return None
    day = _plus_years(starts_on(dossier), years)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def bind(ctx: Context, code: str) -> int:
    """Lock every stored object of the dossier to its retention code. A lock is only ever extended:
    a code changed to a shorter period leaves the longer lock. Returns how many objects it locked;
    an object the store cannot lock now (store down) is locked at the dossier's next change."""
    with ctx.sessions() as session:
        dossier = session.get(Dossier, code)
        until = lock_until(dossier) if dossier is not None else None
        if dossier is None or until is None:
            return 0
        permanent = dossier.retention == PERMANENT
        query = select(StoredObject.key).where(StoredObject.dossier_code == code, StoredObject.kind.in_(LOCKED))
        keys = list(session.scalars(query))
    if until <= dt.datetime.now(dt.UTC) and not permanent:
        return 0  # its period is over: nothing to lock (the archive reviews it: due_within)
    locked = 0
    for key in keys:
        try:
            ctx.store.retain(key, until, hold=permanent)
            locked += 1
        except StorageError as e:
            log.warning("retention of %s not set: %s", key, e.en)
    return locked


_WINDOW = re.compile(r"(\d+)\s*([dwy]?)")
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "y": 365}


def parse_window(text: str) -> dt.timedelta:
    """``90d``, ``12w``, ``1y`` or a number of days."""
    match = _WINDOW.fullmatch(text.strip().lower())
    if match is None:
        raise SohoaError(
            f"Khoảng thời gian {text!r} không hợp lệ: dùng dạng 90d, 12w hoặc 1y.",
            f"Invalid window {text!r}: use 90d, 12w or 1y.",
            field="due_within",
        )
    return dt.timedelta(days=int(match.group(1)) * _UNIT_DAYS[match.group(2)])


def due(ctx: Context, within: dt.timedelta, *, today: dt.date | None = None, scope: Scope = None) -> RetentionReport:
    """Dossiers whose retention ends within ``within`` from today, or has ended, soonest first:
    what the archive reviews (keep, transfer, or destroy under the rules). Permanent dossiers and
    dossiers without a code are never due."""
    today = today or dt.datetime.now(dt.UTC).date()
    limit = today + within
    found = []
    with ctx.sessions() as session:
        kept = select(Dossier).where(Dossier.retention.in_(list(YEARS)), agencies.within(Dossier.agency, scope))
        for dossier in session.scalars(kept):
            end = ends_on(dossier)
            if end is not None and end <= limit:
                found.append(
                    RetentionDue(
                        code=dossier.code,
                        title=dossier.title,
                        retention=dossier.retention,
                        status=dossier.status,
                        starts_on=iso(starts_on(dossier)) or "",
                        ends_on=iso(end) or "",
                        ended=end <= today,
                    )
                )
    found.sort(key=lambda d: (d.ends_on, d.code))
    return RetentionReport(today=iso(today) or "", within_days=within.days, dossiers=found)

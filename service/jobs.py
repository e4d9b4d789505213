"""The jobs a caller may see, listed: a station that lost a job id finds it again by dossier,
status or time. A scanner station sees only the jobs it posted; the desk, those of its agencies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, true

from errors import SohoaError
from service.access import Principal
from service.context import Context
from service.scans import job_view, seen_by
from service.views import JobPage
from storage import Job
from storage.catalog import OFFICE_ZONE


def _utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC, a time without its offset taken as the office's."""
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=OFFICE_ZONE[0])).astimezone(dt.UTC)
    except OverflowError as e:  # the first or last day a datetime holds, moved past it
        raise SohoaError(
            f"Thời điểm {moment.isoformat()} nằm ngoài khoảng dùng được.",
            f"The time {moment.isoformat()} is out of range.",
            field="since",
        ) from e


def list_jobs(
    ctx: Context,
    *,
    who: Principal | None = None,
    status: str | None = None,
    dossier: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 20,
    offset: int = 0,
) -> JobPage:
    """Jobs newest first, those ``who`` sees (``scans.seen_by``), filtered by status, dossier and creation time (a
    time without its offset is the office's)."""
    query = select(Job).where(true() if who is None else seen_by(who))
    for column, value in ((Job.status, status), (Job.dossier_code, dossier)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:  # stored in UTC (SQLite keeps no offset: compared as written)
        query = query.where(Job.created_at >= _utc(since))
    with ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset))
        jobs = [job_view(job) for job in rows.unique()]
    return JobPage(total=total, limit=limit, offset=offset, jobs=jobs)

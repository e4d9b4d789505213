"""The figures a province reports, counted in SQL from the catalog, exact: dossiers received,
digitized, signed, returned on time and late, the digitization and on-time rates, by agency (and
rolled up to its parent agencies), procedure and period of receipt.

The dossiers counted in a row are those received in its period (by the receipt date): of them,
how many are digitized (every component of the dossier has its PDF/A), signed (every component's
current version carries the agency's seal as well), returned on or before their due date, and
returned after it. A dossier with no due date returned counts as on time. The digitization rate
is signed over received; the on-time rate is on time over returned.

Agency codes (mã định danh, decision 20/2020/QĐ-TTg) read from the most specific group on the
left to the broadest on the right (``000.00.12.H12``: level 4, 3, 2, then the province or ministry
``H12``); an agency's parent is its code with the leftmost group that is not zeros set to zeros
(``000.05.12.H12`` → ``000.00.12.H12`` → ``000.00.00.H12``). A code of another shape has no parent."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal, cast

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select, text
from sqlalchemy.sql import ColumnElement, Subquery

from errors import SohoaError
from service.context import Context
from service.views import StatisticsRow, StatisticsView
from storage.catalog import Document, Dossier, Signature

Period = Literal["day", "week", "month", "year", "all"]
PERIODS = ("day", "week", "month", "year", "all")
DIMENSIONS = ("agency", "procedure")
COUNTS = ("received", "digitized", "signed", "returned_on_time", "returned_late")
COLUMNS = ("period", "agency", "rollup", "procedure_code", "procedure", *COUNTS, "digitization_rate", "on_time_rate")
_GROUP = re.compile(r"[0-9A-Za-z]+")


def parent(agency: str) -> str | None:
    """The parent agency's code: the leftmost group that is not zeros, set to zeros (None: the
    top, or a code without the dotted structure)."""
    groups = agency.split(".")
    if len(groups) < 2 or not all(_GROUP.fullmatch(g) for g in groups):
        return None
    for i, group in enumerate(groups[:-1]):  # the last group names the province or ministry
        if group.strip("0"):
            return ".".join([*groups[:i], "0" * len(group), *groups[i + 1 :]])
    return None


@lru_cache(maxsize=4096)
def ancestors(agency: str) -> tuple[str, ...]:
    found, code = [], parent(agency)
    while code is not None:
        found.append(code)
        code = parent(code)
    return tuple(found)


def within(agency: str) -> ColumnElement[bool]:
    """Dossiers of ``agency`` and of the agencies under it: its leading zero groups (those
    ``parent`` zeroed) match any characters, the rest as they are."""
    groups = agency.split(".")
    if len(groups) < 2 or not all(_GROUP.fullmatch(g) for g in groups):  # no structure: that agency alone
        return Dossier.agency == agency
    leading = next((i for i, g in enumerate(groups[:-1]) if g.strip("0")), len(groups) - 1)
    return Dossier.agency.like(".".join(["_" * len(g) for g in groups[:leading]] + groups[leading:]))


def _under(code: str, agency: str) -> bool:
    """Whether ``code`` is ``agency`` or one of the agencies under it."""
    return code == agency or agency in ancestors(code)


def _period(dialect: str, period: Period) -> ColumnElement[Any]:
    """The period a dossier's receipt date falls in, as text: 2025-05-27, 2025-W22, 2025-05, 2025."""
    day = Dossier.received_on
    if period == "all":
        return literal("")
    if dialect == "postgresql":
        formats = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM", "year": "YYYY"}
        return func.to_char(day, formats[period])
    if period == "week":  # SQLite has no ISO week: the week's Monday, labelled in Python
        return func.date(day, "weekday 0", "-6 days")
    return func.strftime({"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}[period], day)


def _components(filters: list[ColumnElement[bool]]) -> Subquery:
    """Per dossier (of those counted): its components (live, not results), how many are
    digitized, and how many of those carry the agency's seal on their current version (or a seal
    recorded before versions were): one grouped pass over the documents, each one's seal looked
    up in a covering index, joined to the dossiers once."""
    digitized = Document.pdfa_sha256.is_not(None)  # set with its PDF/A, cleared with it
    sealed = exists().where(
        Signature.document_id == Document.id,
        Signature.kind == "agency",
        or_(Signature.version == Document.pdfa_sha256, Signature.version.is_(None)),
    )
    query = select(
        Document.dossier_code.label("code"),
        func.count().label("components"),
        func.sum(case((digitized, 1), else_=0)).label("digitized"),
        func.sum(case((and_(digitized, sealed), 1), else_=0)).label("sealed"),
    ).where(Document.kind == "component", Document.removed_at.is_(None))
    if filters:
        query = query.where(Document.dossier_code.in_(select(Dossier.code).where(*filters)))
    return query.group_by(Document.dossier_code).subquery()


def _counts(parts: Subquery) -> list[ColumnElement[Any]]:
    """Per group: received, digitized, signed, returned on time, returned late."""
    some = parts.c.components > 0
    digitized = and_(some, parts.c.digitized == parts.c.components)
    signed = and_(some, parts.c.sealed == parts.c.components)
    returned = Dossier.returned_on.is_not(None)
    on_time = and_(returned, or_(Dossier.due_on.is_(None), Dossier.returned_on <= Dossier.due_on))
    late = and_(returned, Dossier.due_on.is_not(None), Dossier.returned_on > Dossier.due_on)

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [func.count(), count(digitized), count(signed), count(on_time), count(late)]


def _label(dialect: str, period: Period, value: str | None) -> str:
    if value and period == "week" and dialect != "postgresql":
        year, week, _ = dt.date.fromisoformat(value).isocalendar()
        return f"{year}-W{week:02d}"
    return value or ""


def _check(period: str, by: Iterable[str]) -> tuple[Period, tuple[str, ...]]:
    chosen = tuple(dict.fromkeys(b.strip() for b in by if b.strip()))
    if period not in PERIODS or any(b not in DIMENSIONS for b in chosen):
        raise SohoaError(
            f"Kỳ thống kê là một trong {', '.join(PERIODS)}; nhóm theo agency và/hoặc procedure.",
            f"The period is one of {', '.join(PERIODS)}; group by agency and/or procedure.",
            field="period" if period not in PERIODS else "by",
        )
    return cast(Period, period), chosen


def _row(period: str, agency: str, rollup: bool, procedure: tuple[str, str], counts: list[int]) -> StatisticsRow:
    figures = dict(zip(COUNTS, counts, strict=True))
    returned = figures["returned_on_time"] + figures["returned_late"]
    received = figures["received"]
    return StatisticsRow(
        period=period,
        agency=agency,
        rollup=rollup,
        procedure_code=procedure[0],
        procedure=procedure[1],
        **figures,
        digitization_rate=round(figures["signed"] / received, 4) if received else None,
        on_time_rate=round(figures["returned_on_time"] / returned, 4) if returned else None,
    )


def _query(dialect: str, period: Period, dims: tuple[str, ...], filters: list[ColumnElement[bool]]) -> Select[Any]:
    """Counts by period of receipt and the chosen dimensions; a dimension left out is ''."""
    blank: ColumnElement[Any] = literal("")
    when = _period(dialect, period)
    agency: ColumnElement[Any] = Dossier.agency if "agency" in dims else blank  # type: ignore[assignment]
    code: ColumnElement[Any] = Dossier.procedure_code if "procedure" in dims else blank  # type: ignore[assignment]
    name: ColumnElement[Any] = Dossier.procedure if "procedure" in dims else blank  # type: ignore[assignment]
    grouped = [c for c, used in ((when, period != "all"), (agency, "agency" in dims)) if used]
    grouped += [code, name] if "procedure" in dims else []
    parts = _components(filters)
    counted = select(when, agency, code, name, *_counts(parts))
    counted = counted.select_from(Dossier).outerjoin(parts, parts.c.code == Dossier.code)
    return counted.where(*filters).group_by(*grouped)


def statistics(
    ctx: Context,
    *,
    period: str = "month",
    by: Iterable[str] = DIMENSIONS,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    agency: str | None = None,
    procedure: str | None = None,
) -> StatisticsView:
    """The figures by period of receipt and the chosen dimensions (``by``), with every agency's
    roll-up (its dossiers and those of the agencies under it) when grouped by agency."""
    chosen, dims = _check(period, by)
    filters = []
    if received_from:
        filters.append(Dossier.received_on >= received_from)
    if received_to:
        filters.append(Dossier.received_on <= received_to)
    if agency:
        filters.append(within(agency))
    if procedure:
        filters.append(Dossier.procedure_code == procedure)
    with ctx.sessions() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":  # the look-ups' cost estimate starts the JIT compiler, longer than the query
            session.execute(text("SET LOCAL jit = off"))
        found = session.execute(_query(dialect, chosen, dims, filters)).all()
    sums: dict[tuple[str, str, bool, tuple[str, str]], list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    # An agency with agencies under it in the figures gets a roll-up row: its dossiers and theirs.
    above = {a for row in found for a in ancestors(row[1] or "") if not agency or _under(a, agency)}
    for when, code, procedure_code, procedure_name, *counts in found:
        label, named = _label(dialect, chosen, when), (procedure_code or "", procedure_name or "")
        rolled_into = [a for a in [code, *ancestors(code or "")] if a in above]
        for target, rolled in [(code, False), *((a, True) for a in rolled_into)]:
            total = sums[(label, target, rolled, named)]
            total[:] = [t + int(c) for t, c in zip(total, counts, strict=True)]
    rows = [_row(p, a, r, n, sums[(p, a, r, n)]) for p, a, r, n in sorted(sums)]
    everything = [sum(c[i] for (_, _, r, _), c in sums.items() if not r) for i in range(len(COUNTS))]
    return StatisticsView(
        period=chosen,
        by=list(dims),
        received_from=received_from.isoformat() if received_from else None,
        received_to=received_to.isoformat() if received_to else None,
        rows=rows,
        total=_row("", "", False, ("", ""), everything),
    )


def to_csv(view: StatisticsView) -> str:
    """The rows as CSV (UTF-8 with a byte-order mark, which spreadsheet programs need to read
    Vietnamese), then the total."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in [*view.rows, view.total]:
        values = row.model_dump()
        writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
    return out.getvalue()

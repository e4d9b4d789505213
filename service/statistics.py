"""The figures a province reports, counted in SQL from the catalog, exact: dossiers received,
digitized, signed, returned on time and late, the digitization and on-time rates, by agency (and
rolled up to its parent agencies), procedure and period of receipt.

The dossiers counted in a row are those received in its period (by the receipt date): of them,
how many are digitized (every component of the dossier has its PDF/A), signed (every component's
current version carries the agency's seal as well), returned on or before their due date, and
returned after it. A dossier with no due date returned counts as on time. The digitization rate
is signed over received; the on-time rate is on time over returned.

An agency's parent is the one the registry names (service.agencies); an agency the registry
gives none is placed by its code. Agency codes (mã định danh, decision 20/2020/QĐ-TTg) read from
the most specific group on the left to the broadest on the right (``000.00.12.H12``: level 4, 3,
2, then the province or ministry ``H12``); the parent by the code is the code with the leftmost
group that is not zeros set to zeros (``000.05.12.H12`` → ``000.00.12.H12`` → ``000.00.00.H12``).
A code of another shape has no parent by its code."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, cast

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from errors import SohoaError
from service.context import Context
from service.views import StatisticsRow, StatisticsView
from storage.catalog import Agency, Document, Dossier, Signature

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


Links = Mapping[str, str]  # a registered agency's code → the code of the parent the registry names


def links(session: Session) -> dict[str, str]:
    """The registry's parent links."""
    rows = session.execute(select(Agency.code, Agency.parent).where(Agency.parent.is_not(None))).tuples()
    return {code: above for code, above in rows if above}


def ancestors(agency: str, linked: Links | None = None) -> tuple[str, ...]:
    """The agencies above ``agency``, nearest first: each one's parent in the registry, or by its
    code where the registry names none (a loop that the two together could make stops)."""
    found, code = [agency], (linked or {}).get(agency) or parent(agency)
    while code is not None and code not in found:
        found.append(code)
        code = (linked or {}).get(code) or parent(code)
    return tuple(found[1:])


def _within(session: Session, agency: str, linked: Links) -> ColumnElement[bool]:
    """Dossiers of ``agency`` and of the agencies under it, among the agency codes the catalog has."""
    codes = session.scalars(select(Dossier.agency).distinct()).all()
    return Dossier.agency.in_(sorted(c for c in codes if c == agency or agency in ancestors(c, linked)))


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
    return func.substr(day, 1, {"day": 10, "month": 7, "year": 4}[period])  # stored as YYYY-MM-DD


def _counts() -> list[ColumnElement[Any]]:
    """Per group: received, digitized, signed, returned on time, returned late. A dossier's
    component counts are kept on its row (recounted by triggers when a document or signature of it
    is written: migration 0013), so this is one pass over the dossiers."""
    some = Dossier.components > 0
    digitized = and_(some, Dossier.components_digitized == Dossier.components)
    signed = and_(some, Dossier.components_sealed == Dossier.components)
    returned = Dossier.returned_on.is_not(None)
    on_time = and_(returned, or_(Dossier.due_on.is_(None), Dossier.returned_on <= Dossier.due_on))
    late = and_(returned, Dossier.due_on.is_not(None), Dossier.returned_on > Dossier.due_on)

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    return [func.count(), count(digitized), count(signed), count(on_time), count(late)]


def recounted(session: Session) -> dict[str, tuple[int, int, int]]:
    """Every dossier's components, digitized and sealed, counted from its documents and signatures
    as the triggers count them: what the dossier rows must say (the tests and the bench check it)."""
    digitized = Document.pdfa_sha256.is_not(None)
    sealed = exists().where(
        Signature.document_id == Document.id,
        Signature.kind == "agency",
        or_(Signature.version == Document.pdfa_sha256, Signature.version.is_(None)),
    )
    live = and_(Document.kind == "component", Document.removed_at.is_(None))
    query = (
        select(
            Dossier.code,
            func.count(Document.id),
            func.count(Document.pdfa_sha256),
            func.coalesce(func.sum(case((and_(digitized, sealed), 1), else_=0)), 0),
        )
        .outerjoin(Document, and_(Document.dossier_code == Dossier.code, live))
        .group_by(Dossier.code)
    )
    return {code: (int(a), int(b), int(c)) for code, a, b, c in session.execute(query)}


def kept(session: Session) -> dict[str, tuple[int, int, int]]:
    """Every dossier's counts as its row keeps them."""
    query = select(Dossier.code, Dossier.components, Dossier.components_digitized, Dossier.components_sealed)
    return {code: (a, b, c) for code, a, b, c in session.execute(query)}


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
    received, digitized, signed, on_time, late = counts
    returned = on_time + late
    return StatisticsRow(
        period=period,
        agency=agency,
        rollup=rollup,
        procedure_code=procedure[0],
        procedure=procedure[1],
        received=received,
        digitized=digitized,
        signed=signed,
        returned_on_time=on_time,
        returned_late=late,
        digitization_rate=round(signed / received, 4) if received else None,
        on_time_rate=round(on_time / returned, 4) if returned else None,
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
    return select(when, agency, code, name, *_counts()).select_from(Dossier).where(*filters).group_by(*grouped)


def statistics(
    ctx: Context,
    *,
    period: str = "month",
    by: Iterable[str] = DIMENSIONS,
    received_from: dt.date | None = None,
    received_to: dt.date | None = None,
    agency: str | None = None,
    procedure: str | None = None,
    agencies: tuple[str, ...] | None = None,
) -> StatisticsView:
    """The figures by period of receipt and the chosen dimensions (``by``), with every agency's
    roll-up (its dossiers and those of the agencies under it) when grouped by agency.

    ``agencies`` is the person's scope: None for every agency, else only dossiers of those agency
    codes (none for an empty tuple), and roll-ups only of agencies in it (a roll-up of an agency
    above the scope would count only part of what is under it); ``agency`` is a filter they chose."""
    chosen, dims = _check(period, by)
    filters = []
    if received_from:
        filters.append(Dossier.received_on >= received_from)
    if received_to:
        filters.append(Dossier.received_on <= received_to)
    if procedure:
        filters.append(Dossier.procedure_code == procedure)
    if agencies is not None:
        filters.append(Dossier.agency.in_(agencies))
    with ctx.sessions() as session:
        dialect, linked = session.get_bind().dialect.name, links(session)
        if agency:
            filters.append(_within(session, agency, linked))
        found = session.execute(_query(dialect, chosen, dims, filters)).all()
    chains = {code: ancestors(code, linked) for code in {row[1] or "" for row in found}}
    # An agency with agencies under it in the figures gets a roll-up row: its dossiers and theirs.
    shown = set(agencies) if agencies is not None else None
    above = {
        a
        for chain in chains.values()
        for a in chain
        if (not agency or agency in (a, *ancestors(a, linked))) and (shown is None or a in shown)
    }
    rows, everything = _summed(dialect, chosen, found, above, chains)
    return StatisticsView(
        period=chosen,
        by=list(dims),
        received_from=received_from.isoformat() if received_from else None,
        received_to=received_to.isoformat() if received_to else None,
        rows=rows,
        total=everything,
    )


def _summed(
    dialect: str, period: Period, found: Sequence[tuple[Any, ...]], above: set[str], chains: dict[str, tuple[str, ...]]
) -> tuple[list[StatisticsRow], StatisticsRow]:
    """The rows of the figures, each agency's roll-ups (into the agencies of ``above``) added, in
    order; and the total."""
    sums: dict[tuple[str, str, bool, tuple[str, str]], list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    targets: dict[str, list[tuple[str, bool]]] = {}
    everything = [0] * len(COUNTS)
    for row in found:
        when, code, procedure_code, procedure_name = row[:4]
        label, named = _label(dialect, period, when), (procedure_code or "", procedure_name or "")
        counts = [int(c) for c in row[4:]]
        if code not in targets:  # the row itself, and the roll-ups it goes into (its own, if it has one)
            targets[code] = [(code, False), *((a, True) for a in (code, *chains[code or ""]) if a in above)]
        for target, rolled in targets[code]:
            total = sums[(label, target, rolled, named)]
            for i, count in enumerate(counts):
                total[i] += count
        for i, count in enumerate(counts):
            everything[i] += count
    rows = [_row(p, a, r, n, sums[(p, a, r, n)]) for p, a, r, n in sorted(sums)]
    return rows, _row("", "", False, ("", ""), everything)


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

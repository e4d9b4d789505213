"""Statistics: the figures provinces report (service.statistics: received, digitized, signed,
returned on time and late, the two rates) by period, agency and procedure, as a table and a bar
chart drawn here as SVG (no chart library), with the API's CSV for a spreadsheet."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from service import access, agencies, statistics
from service.context import context
from service.views import StatisticsRow
from web.render import render
from web.session import Need, WebUser

router = APIRouter(include_in_schema=False)
Reader = Annotated[WebUser, Depends(Need(access.READ))]
CHART_PERIODS = 24  # the newest periods drawn; the table has them all


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    value: int


@dataclass(frozen=True)
class Chart:
    """Two bars a period (received, and digitized and signed), scaled to the largest."""

    width: int
    height: int
    labels: list[tuple[float, str]]
    received: list[Bar]
    signed: list[Bar]
    top: int


@dataclass(frozen=True)
class Whole:
    """A period's dossiers, whatever their agency or procedure."""

    period: str
    received: int
    signed: int


def wholes(rows: list[StatisticsRow]) -> list[Whole]:
    """Each period's sums over its rows, less the roll-ups (which count their agencies' dossiers
    again): the table's own figures, not a second pass over the catalog."""
    sums: dict[str, list[int]] = {}
    for row in rows:
        if not row.rollup:
            both = sums.setdefault(row.period, [0, 0])
            both[0] += row.received
            both[1] += row.signed
    return [Whole(period, *sums[period]) for period in sorted(sums)]


def chart(rows: list[Whole], height: int = 220, step: int = 40) -> Chart:
    rows = rows[-CHART_PERIODS:]
    top = max([r.received for r in rows] + [1])
    scale = (height - 40) / top

    def bar(i: int, offset: float, value: int) -> Bar:
        return Bar(60 + i * step + offset, height - 30 - value * scale, value * scale, value)

    return Chart(
        width=60 + step * max(len(rows), 1) + 20,
        height=height,
        labels=[(60 + i * step + step / 2 - 4, r.period) for i, r in enumerate(rows)],
        received=[bar(i, 4, r.received) for i, r in enumerate(rows)],
        signed=[bar(i, 18, r.signed) for i, r in enumerate(rows)],
        top=top,
    )


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None  # a half-typed date in the form is no filter


@router.get("/statistics")
def statistics_page(
    request: Request,
    user: Reader,
    period: Annotated[Literal["day", "week", "month", "year"], Query()] = "month",
    by: Annotated[Literal["agency", "procedure", "none"], Query()] = "agency",
    received_from: Annotated[str, Query(max_length=10)] = "",
    received_to: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    ctx, start, end = context(), _day(received_from), _day(received_to)
    dims = [] if by == "none" else [by]
    scope = user.principal.agencies
    table = statistics.statistics(
        ctx,
        period=period,
        by=dims,
        received_from=start,
        received_to=end,
        agencies=None if scope is None else tuple(sorted(scope)),
    )
    query = {"period": period, "by": ",".join(dims) or "agency", "format": "csv"}
    query |= {k: v.isoformat() for k, v in (("received_from", start), ("received_to", end)) if v}
    return render(
        request,
        "statistics.html",
        user,
        figures=table,
        chart=chart(wholes(table.rows)),
        period=period,
        by=by,
        received_from=start.isoformat() if start else "",
        received_to=end.isoformat() if end else "",
        csv_url=f"/api/v1/statistics?{urlencode(query)}",
        agencies={a.code: a for a in agencies.list_agencies(ctx, scope)},  # names beside the codes
    )

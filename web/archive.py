"""The archive and the leaders' queue: one search box with filters, hits boxed on the page image,
the document viewer (thumbnails, zoom, OCR text beside), and the dossiers waiting, due first."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

import records
from errors import SohoaError
from service import access, dossiers, pageviews
from service import search as searching
from service.context import context
from storage import lifecycle
from storage.search import DocumentFilter
from web.render import render
from web.session import Need, WebUser

router = APIRouter(include_in_schema=False)
Reader = Annotated[WebUser, Depends(Need(access.READ))]
Text = Annotated[str, Query(max_length=500)]
PER_PAGE = 20


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None  # a half-typed date filters nothing


@router.get("/archive")
def archive(
    request: Request,
    user: Reader,
    q: Text = "",
    status: Text = "",
    procedure: Text = "",
    received_from: Text = "",
    received_to: Text = "",
    type: Text = "",
    number: Text = "",
    issuer: Text = "",
    issued_from: Text = "",
    issued_to: Text = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    filters = {"status": status, "procedure": procedure, "received_from": received_from, "received_to": received_to}
    filters |= {"type": type, "number": number, "issuer": issuer, "issued_from": issued_from, "issued_to": issued_to}
    # The document's own fields (circular 05/2025/TT-BNV), as the API's search filters on them.
    documents = DocumentFilter(type or None, number or None, issuer or None, _date(issued_from), _date(issued_to))
    results, error = None, None
    if q.strip():
        try:
            results = searching.search(
                context(),
                q,
                limit=PER_PAGE,
                offset=offset,
                procedure=procedure or None,
                status=status or None,
                received_from=_date(received_from),
                received_to=_date(received_to),
                documents=documents,
                scope=user.principal.agencies,
                actor=user.principal.actor,
            )
        except SohoaError as e:
            error = user.t.pick(e.vi, e.en)
    values: dict[str, Any] = {
        "q": q,
        "filters": filters,
        "results": results,
        "error": error,
        "statuses": lifecycle.STATUSES,
        "types": records.DOCUMENT_TYPES,
        "previous": _at(request, offset - PER_PAGE) if results and offset > 0 else None,
        "next": _at(request, offset + PER_PAGE) if results and results.total > offset + PER_PAGE else None,
    }
    return render(request, "archive.html", user, **values)


def _at(request: Request, offset: int) -> str:
    """This search again from hit ``offset``."""
    return "/archive?" + urlencode({**request.query_params, "offset": max(0, offset)})


@router.get("/dossiers/{code}/documents/{number}")
def viewer(request: Request, user: Reader, code: str, number: int, q: Text = "", page: int = 1) -> Response:
    pages = pageviews.document_pages(context(), code, number, query=q, actor=user.principal.actor)
    page = min(max(page, 1), max(len(pages.page_texts), 1))
    return render(request, "viewer.html", user, doc=pages, page=page, q=q)


@router.get("/dossiers/{code}/documents/{number}/pages/{page}.png")
async def page_image(user: Reader, code: str, number: int, page: int, w: int = 240) -> Response:
    made = await run_in_threadpool(pageviews.page_image, context(), code, number, page, w)
    return FileResponse(made, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


@router.get("/queue")
def work_queue(request: Request, user: Reader, status: Text = "") -> Response:
    chosen = status if status in lifecycle.STATUSES else None
    found = dossiers.work_queue(context(), status=chosen, scope=user.principal.agencies)
    today = dt.datetime.now(ZoneInfo(context().settings.timezone)).date().isoformat()  # the office's day
    return render(request, "queue.html", user, found=found, status=status, today=today, statuses=dossiers.WAITING)

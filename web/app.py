"""The web pages joined to the API's app: their routes, their static files, and errors shown as
pages (a redirect to the login page when no one is logged in)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from errors import SohoaError
from web import admin, archive, desk, pages, stats
from web.render import error_page
from web.session import LoginNeeded

STATIC = Path(__file__).resolve().parent / "static"
NOT_PAGES = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/static/")


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def error_response(request: Request, error: SohoaError) -> Response:
    if isinstance(error, LoginNeeded):
        return RedirectResponse(error.headers["Location"], status_code=303)
    return error_page(request, error)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (pages, desk, archive, stats, admin):
        app.include_router(module.router)

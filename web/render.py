"""Pages from templates: the page's language, the person, the navigation their role opens, and a
one-time notice (flash) left by the action before the redirect."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

import storage.search
from errors import SohoaError
from service import access
from web.i18n import COOKIE, Translator, language
from web.session import WebUser, set_cookie

TEMPLATES = Path(__file__).resolve().parent / "templates"
FLASH = "sohoa_flash"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), auto_reload=False)
_MARKED = re.compile(r"«([^«»]*)»")


def _highlight(snippet: str) -> Markup:
    """A search snippet with its matched words (in «» from the search) in <mark>."""
    return Markup(_MARKED.sub(lambda m: f"<mark>{m.group(1)}</mark>", str(escape(snippet))))


def _highlight_words(text: str, query: str) -> Markup:
    """Page text with the words of ``query`` in <mark>, matched with or without diacritics."""
    wanted = {storage.search.fold(w) for w in storage.search.words(query or "")}
    if not wanted:
        return escape(text)
    return Markup(
        _WORD.sub(
            lambda m: f"<mark>{m.group(0)}</mark>" if storage.search.fold(m.group(0)) in wanted else m.group(0),
            str(escape(text)),
        )
    )


_WORD = re.compile(r"[^\W_]+")
_env.filters["highlight"] = _highlight
_env.filters["highlight_words"] = _highlight_words

# The pages in the navigation, and who sees each (the roles of the routes behind them).
NAVIGATION = (
    ("/reception", "nav_reception", access.UPLOAD),
    ("/queue", "nav_queue", access.READ),
    ("/archive", "nav_archive", access.READ),
    ("/statistics", "nav_statistics", access.READ),
    ("/admin", "nav_admin", ()),
)


def home_for(role: str) -> str:
    """The page a person starts on: reception for the desk, the queue for leaders, the archive."""
    return {"leader": "/queue", "seal_keeper": "/queue", "archivist": "/archive"}.get(role, "/reception")


def render(
    request: Request, template: str, user: WebUser | None, *, http_status: int = 200, **values: Any
) -> HTMLResponse:
    t = user.t if user else Translator(language(request))
    flash = _read_flash(request)
    nav = [(url, key) for url, key, roles in NAVIGATION if user and user.may(roles)]
    html = _env.get_template(template).render(
        t=t, user=user, nav=nav, flash=flash, path=request.url.path, request=request, **values
    )
    response = HTMLResponse(html, status_code=http_status)
    if flash:
        response.delete_cookie(FLASH, path="/")
    if "lang" in request.query_params and t.lang == request.query_params["lang"]:
        set_cookie(response, request, COOKIE, t.lang, max_age=365 * 86400)  # the choice stays
    return response


def _read_flash(request: Request) -> dict[str, Any] | None:
    try:
        found = json.loads(base64.urlsafe_b64decode(request.cookies.get(FLASH, "")))
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _set_flash(response: Response, request: Request, body: dict[str, Any]) -> None:
    # base64: a cookie's value is Latin-1 at most, and the notice may be Vietnamese
    value = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
    set_cookie(response, request, FLASH, value, max_age=60)


def redirect(request: Request, url: str, key: str | None = None, **fields: Any) -> RedirectResponse:
    """After an action: back to a page (303), with a notice from the catalogue."""
    response = RedirectResponse(url, status_code=303)
    if key:
        _set_flash(response, request, {"key": key, "fields": fields})
    return response


def failed(request: Request, url: str, error: SohoaError) -> RedirectResponse:
    """After an action the service refused: back to the page, its reason in both languages."""
    response = RedirectResponse(url, status_code=303)
    body = {"error": True, "vi": error.vi, "en": error.en, "field": error.field}
    _set_flash(response, request, body)
    return response


def error_page(request: Request, error: SohoaError) -> Response:
    t = Translator(language(request))
    title = t("forbidden_title") if error.status == 403 else t("error_title")
    return render(
        request, "error.html", None, http_status=error.status, title=title, message=t.pick(error.vi, error.en)
    )

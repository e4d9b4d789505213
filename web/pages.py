"""Logging in and out, the password, the language, the home page and the offline API docs."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from errors import SohoaError
from service import access, people
from service.context import context
from service.gate import SESSION_COOKIE
from web.i18n import COOKIE, LANGUAGES, Translator, language
from web.render import failed, home_for, redirect, render
from web.session import LOGIN_CSRF, Need, WebUser, set_cookie

router = APIRouter(include_in_schema=False)
Anyone = Annotated[WebUser, Depends(Need(access.ANYONE))]


def _safe_next(url: str | None, fallback: str) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    return url if url and url.startswith("/") and not url.startswith("//") and "\\" not in url else fallback


@router.get("/")
async def home(request: Request) -> Response:
    found = await run_in_threadpool(people.session_of, context(), request.cookies.get(SESSION_COOKIE))
    return RedirectResponse(home_for(found[0].role) if found else "/login", status_code=303)


def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    back = _safe_next(request.query_params.get("next"), "")
    response = render(request, "login.html", None, http_status=status, csrf=token, error=error, next=back)
    set_cookie(response, request, LOGIN_CSRF, token, max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    t = Translator(language(request))
    if not secrets.compare_digest(csrf.encode(), request.cookies.get(LOGIN_CSRF, "").encode()):
        return _login_page(request, 403, t.pick("Phiên đăng nhập hết hạn; thử lại.", "The form expired; try again."))
    try:
        opened = people.login(context(), name, password)
    except SohoaError as e:
        return _login_page(request, e.status, t.pick(e.vi, e.en))
    response = RedirectResponse(_safe_next(next, home_for(opened.principal.role)), status_code=303)
    hours = context().settings.session_hours
    set_cookie(response, request, SESSION_COOKIE, opened.cookie, max_age=int(hours * 3600))
    response.delete_cookie(LOGIN_CSRF, path="/")
    return response


@router.post("/logout")
def logout(request: Request, user: Anyone) -> Response:
    people.logout(context(), request.cookies.get(SESSION_COOKIE, ""), actor=user.principal.actor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password")
def password_form(request: Request, user: Anyone) -> Response:
    return render(request, "password.html", user)


@router.post("/password")
def change_password(
    request: Request,
    user: Anyone,
    old_password: Annotated[str, Form(max_length=1000)],
    new_password: Annotated[str, Form(max_length=1000)],
    again: Annotated[str, Form(max_length=1000)],
) -> Response:
    if new_password != again:
        return redirect(request, "/password", "password_mismatch")
    try:
        people.change_password(context(), user.principal, old_password, new_password)
    except SohoaError as e:
        return failed(request, "/password", e)
    # The change ended every session, this one too: log in again with the new password.
    response = redirect(request, "/login", "password_changed")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
def choose_language(request: Request, lang: str, next: str = "/") -> Response:
    response = RedirectResponse(_safe_next(next, "/"), status_code=303)
    if lang in LANGUAGES:
        set_cookie(response, request, COOKIE, lang, max_age=365 * 86400)
    return response


@router.get("/docs")
def docs() -> HTMLResponse:
    """Swagger UI from the repository's copy (web/static/vendor/swagger-ui): works offline."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="sohoa — API",
        swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
    )

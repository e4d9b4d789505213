"""Who is at the browser: the session cookie (HttpOnly, SameSite=Lax, Secure over HTTPS), the
roles a page needs (the API's), and the CSRF token every form sends back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from errors import SohoaError
from service import people
from service.access import Forbidden, Principal
from service.context import context
from service.gate import CSRF_HEADER, SAFE, SESSION_COOKIE, in_scope
from web.i18n import Translator, language

LOGIN_CSRF = "sohoa_login_csrf"  # double-submit token of the login form (no session yet)


class LoginNeeded(SohoaError):
    """No live session: the page answers with a redirect to the login page (api.py)."""

    status = 303
    code = "login-needed"

    def __init__(self, back: str) -> None:
        super().__init__("Cần đăng nhập.", "Please log in.", field="session")
        self.headers["Location"] = f"/login?next={quote(back, safe='/')}"


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    csrf: str
    t: Translator

    @property
    def role(self) -> str:
        return self.principal.role

    def may(self, roles: tuple[str, ...]) -> bool:
        return self.role == "admin" or self.role in roles


def secure(request: Request) -> bool:
    """Behind HTTPS (uvicorn reads X-Forwarded-Proto from a trusted proxy) cookies are Secure."""
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure(request), path="/")


async def _csrf_sent(request: Request) -> str:
    if header := request.headers.get(CSRF_HEADER):
        return header
    form = await request.form()  # read (and kept) by FastAPI before the dependencies run
    value = form.get("csrf")
    return value if isinstance(value, str) else ""


class Need:
    """A page's dependency: the person logged in, whose role may see it (an admin sees every page);
    a POST must carry the session's CSRF token."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = roles

    async def __call__(self, request: Request) -> WebUser:
        found = await run_in_threadpool(people.session_of, context(), request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise LoginNeeded(request.url.path)
        principal, csrf = found
        user = WebUser(principal, csrf, Translator(language(request)))
        if request.method not in SAFE and not secrets.compare_digest(
            (await _csrf_sent(request)).encode(), csrf.encode()
        ):
            raise Forbidden(
                "Thiếu mã chống giả mạo yêu cầu (CSRF); tải lại trang rồi làm lại.",
                "The form's CSRF token is missing or wrong; reload the page and try again.",
                field="csrf",
            )
        principal.require(self.roles)
        in_scope(principal, request)
        return user

"""What every API request shows before a byte of its body is read: a token whose holder may call
the route, then a declared size within the route's limit; the limit also holds while the body
streams in.

FastAPI reads a JSON or form body before it solves a route's dependencies, so a token checked in
a dependency came too late: a 1.5 GB body to ``POST /verify`` was spooled to disk before its 401,
and malformed JSON answered 422 to anyone. Routes made by ``GuardedRoute`` check all of it first
and then run FastAPI's own handler unchanged."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response, params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.types import Message, Receive

from errors import SohoaError
from service import access, people
from service.access import Principal
from service.context import context
from service.uploads import TooLarge

JSON_LIMIT = 1 << 20  # the largest JSON body a route takes (a certificate chain is a few KB)
_PRINCIPAL = "sohoa.principal"  # where the gate leaves the caller, in the request's scope
_bearer = HTTPBearer(auto_error=False, description="Mã truy cập (`sohoa users add`) / API token")


SESSION_COOKIE = "sohoa_session"  # the web pages' login (service.people)
CSRF_HEADER = "x-csrf-token"
SAFE = ("GET", "HEAD", "OPTIONS")


def admit(headers: Headers, roles: tuple[str, ...], method: str = "GET") -> Principal:
    """The caller the request's bearer token names, or else the person logged in to the web pages
    (whose script sends the session's CSRF token with every change), if their role may call the route."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    cookie = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
    if not token and cookie:
        principal, csrf = people.require_session(people.session_of(context(), cookie))
        if method not in SAFE and not secrets.compare_digest(headers.get(CSRF_HEADER, "").encode(), csrf.encode()):
            raise access.Forbidden(
                "Thiếu mã chống giả mạo yêu cầu (CSRF); tải lại trang.",
                "The request's CSRF token is missing or wrong; reload the page.",
                field=CSRF_HEADER,
            )
    else:
        principal = access.authenticate(context().sessions, token if scheme.lower() == "bearer" else None)
    principal.require(roles)
    return principal


@dataclass(frozen=True)
class Caller:
    """A route's dependency: who may call it (an admin may call every route). The gate has
    checked the token before the body; a route made outside the gate is checked here."""

    roles: tuple[str, ...]

    async def __call__(  # async: no thread taken to hand over what the gate found
        self, request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = request.scope.get(_PRINCIPAL)
        if isinstance(principal, Principal):
            return principal
        admitted = await run_in_threadpool(admit, request.headers, self.roles, request.method)
        return in_scope(admitted, request)


def in_scope(principal: Principal, request: Request) -> Principal:
    """A route under a dossier's code answers another agency's dossier as one that is not there."""
    code = request.path_params.get("code")
    if isinstance(code, str):
        principal.require_dossier(code)
    return principal


def _roles(dependant: Dependant) -> tuple[str, ...] | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Caller):
            return dependency.call.roles
        if (found := _roles(dependency)) is not None:
            return found
    return None


def _too_large(field: str, limit: int) -> TooLarge:
    what_vi, what_en = ("Tệp gửi lên", "The upload") if field == "file" else ("Thân yêu cầu", "The request body")
    return TooLarge(
        f"{what_vi} vượt giới hạn {limit:,} byte.", f"{what_en} exceeds the limit of {limit:,} bytes.", field=field
    )


def _limited(receive: Receive, field: str, limit: int) -> Receive:
    """``receive``, refusing the body as soon as it passes ``limit`` bytes (a chunked body
    declares no length)."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _too_large(field, limit)
        return message

    return limited


class GuardedRoute(APIRoute):
    """An API route whose caller and body size are checked before its body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        roles = _roles(self.dependant)
        takes_files = "requestBody" in (self.openapi_extra or {}) or any(
            isinstance(f.field_info, params.File) for f in self.dependant.body_params
        )
        field = "file" if takes_files else "body"

        async def guarded(request: Request) -> Response:
            if roles is not None:  # the health checks are open
                principal = await run_in_threadpool(admit, request.headers, roles, request.method)
                request.scope[_PRINCIPAL] = in_scope(principal, request)
            limit = context().settings.max_upload_bytes if takes_files else JSON_LIMIT
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _too_large(field, limit)
            try:
                return await handle(Request(request.scope, _limited(request.receive, field, limit)))
            except HTTPException as e:
                if isinstance(e.__cause__, SohoaError):  # FastAPI calls any failure to read a body a 400
                    raise e.__cause__ from None
                raise

        return guarded

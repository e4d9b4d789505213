"""Structured logs: one JSON object per line on stderr, each carrying the request id (or the
job id in a worker), so one upload can be followed from the API through its job."""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
log = logging.getLogger("sohoa.api")
_FIELDS = ("method", "path", "status", "ms", "after_body_ms", "actor", "job", "dossier")


def new_request_id(offered: str | None) -> str:
    """The client's X-Request-ID when it is a sane token, else a fresh one."""
    return offered if offered and _VALID_ID.fullmatch(offered) else uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        entry.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def config(level: str = "INFO") -> dict[str, Any]:
    """JSON on stderr for our loggers and uvicorn's; uvicorn's own access log is replaced by
    the API's request log, which knows the request id and the caller. A dictConfig, so that
    uvicorn applies it in each server process it starts."""
    quiet = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": quiet,
            "uvicorn.error": quiet,
            "huey": quiet,
            "alembic": {"level": "WARNING"},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }


def setup(level: str = "INFO") -> None:
    logging.config.dictConfig(config(level))


class RequestLog:
    """ASGI middleware: each request gets an id (the client's X-Request-ID if sane), answered in
    the response header and logged in one JSON line with status and time. A plain ASGI
    middleware, not Starlette's BaseHTTPMiddleware, which wraps every chunk of an upload body.

    For a request with a body it also logs ``after_body_ms``, from the body's last byte to the
    answer: what the server itself takes to accept an upload, apart from the time the bytes
    take to arrive over the network."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = new_request_id(offered)
        token = request_id.set(rid)
        started, status = time.perf_counter(), 500
        body_end: float | None = None
        answered: float | None = None
        where = {"method": scope["method"], "path": scope["path"]}

        async def receive_timed() -> dict[str, Any]:
            nonlocal body_end
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False) and body_end is None:
                body_end = time.perf_counter()
            return message

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], time.perf_counter()
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive_timed, send_with_id)
            ms = round((time.perf_counter() - started) * 1000, 1)
            extra = {**where, "status": status, "ms": ms}
            if body_end is not None and answered is not None and body_end < answered:
                extra["after_body_ms"] = round((answered - body_end) * 1000, 1)
            log.info("request", extra=extra)
        except Exception:
            log.exception("request failed", extra=where)
            raise
        finally:
            request_id.reset(token)

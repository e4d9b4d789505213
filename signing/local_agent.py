"""The signing agent as a small HTTP server on the clerk's PC (``sohoa sign-agent --serve``): the
sign page in their browser asks it for the token's certificates and for a signature over the
bytes the service prepared. The PIN and the key stay on this PC; the page never sees the PIN.

The threat: while the agent runs the token is unlocked, and every web page the clerk opens can
send requests to 127.0.0.1. A page of another origin must not get a signature (over bytes of its
choosing: a forged document in the clerk's name), nor read the certificates. So:

- every request must carry an ``Origin`` the agent was started for (``--origin``): a browser
  sets it itself and a page cannot change it; a name rebound to 127.0.0.1 (DNS rebinding) sends
  its own. A request without one (curl, another program) is refused too. CORS answers name that
  origin alone, so no other page can read an answer;
- ``/sign`` takes only a JSON body, which another origin cannot send without a preflight that
  is refused;
- each signature is confirmed by the clerk at the agent's console, which names the dossier, the
  document and the page asking: a script injected into the service's own pages (plain HTTP on
  the office network), or a local program faking an ``Origin``, still cannot sign unseen."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from errors import SohoaError
from signing import agent
from signing.signers import Pkcs11Config

DEFAULT_PORT = 8787
ROUTES = {"/certificates": "GET", "/sign": "POST"}
BODY_LIMIT = 64 * 1024  # a /sign body: a few hundred bytes to sign, a dossier code, numbers

Confirm = Callable[[str], bool]  # the question shown at the console -> did the clerk say yes


class Refused(SohoaError):
    status = 403
    code = "agent-refused"


class BadRequest(SohoaError):
    status = 400
    code = "agent-bad-request"


def normal_origin(origin: str) -> str:
    """``http://May-Chu:8000/`` as a browser sends it: ``http://may-chu:8000``."""
    return origin.strip().rstrip("/").lower()


def _printable(value: object, limit: int = 80) -> str:
    """A page's words for the console: no control characters (terminal escapes), not too long."""
    return "".join(c for c in str(value) if c.isprintable())[:limit]


def question(origin: str, body: dict[str, Any]) -> str:
    dossier, document = _printable(body.get("dossier", "?")), _printable(body.get("document", "?"))
    pages = body.get("page_count")
    vi_pages = f", xác nhận bản giấy {_printable(pages, 6)} trang" if pages is not None else ""
    en_pages = f", vouching for {_printable(pages, 6)} paper pages" if pages is not None else ""
    return (
        f"Ký tài liệu {document} của hồ sơ {dossier}{vi_pages}, theo yêu cầu của {_printable(origin)}? "
        f"/ Sign document {document} of dossier {dossier}{en_pages}, asked by {_printable(origin)}? [c/K]"
    )


def _to_be_signed(body: dict[str, Any]) -> bytes:
    try:
        data = base64.b64decode(str(body["to_be_signed"]), validate=True)
    except (KeyError, ValueError) as e:  # binascii.Error, or a str not ASCII
        raise BadRequest(
            "Thiếu dữ liệu cần ký (to_be_signed, base64).", "Missing the bytes to sign (to_be_signed, base64).",
            field="to_be_signed",
        ) from e  # fmt: skip
    if not data or len(data) > 16 * 1024:
        raise BadRequest("Dữ liệu cần ký không hợp lệ.", "The bytes to sign are not valid.", field="to_be_signed")
    return data


class Agent:
    """What the handler needs: the token, the origins it answers, the console's yes or no (one
    question at a time: the token signs one thing at a time too)."""

    def __init__(self, config: Pkcs11Config, origins: list[str], confirm: Confirm) -> None:
        self.config = config
        self.origins = frozenset(normal_origin(o) for o in origins)
        self.confirm = confirm
        self.lock = threading.Lock()

    def certificates(self) -> dict[str, Any]:
        return {"certificates": agent.token_chain(self.config)}

    def sign(self, origin: str, body: dict[str, Any]) -> dict[str, Any]:
        data = _to_be_signed(body)
        with self.lock:
            if not self.confirm(question(origin, body)):
                refused = "The signature was refused at this PC."
                raise Refused("Cán bộ đã từ chối ký tại máy này.", refused, field="sign")
            signature = agent.sign_bytes(self.config, data)
        return {"signature": base64.b64encode(signature).decode()}


class _Handler(BaseHTTPRequestHandler):
    agent: Agent  # set on the server's own subclass
    server_version = "sohoa-sign-agent"
    timeout = 60  # an idle connection (a browser's preconnect) does not hold a thread for ever

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the console is the clerk's: it shows the questions, not every request

    def _origin(self) -> str:
        origin = normal_origin(self.headers.get("Origin", ""))
        if origin not in self.agent.origins:
            raise Refused(
                f"Chương trình ký chỉ trả lời trang của {', '.join(sorted(self.agent.origins))}.",
                f"The signing agent answers only the pages of {', '.join(sorted(self.agent.origins))}.",
                field="origin",
            )
        return origin

    def _answer(self, status: int, body: dict[str, Any] | None, origin: str = "", **headers: str) -> None:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        self.send_response(status)
        if origin:  # only an allowed origin is named: no other page reads the answer
            self.send_header("Access-Control-Allow-Origin", origin)
        self.send_header("Vary", "Origin")
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        if self.headers.get_content_type() != "application/json":
            raise BadRequest("Chỉ nhận JSON.", "JSON only.", field="Content-Type")
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= BODY_LIMIT:
            raise BadRequest("Yêu cầu rỗng hoặc quá lớn.", "Empty or too large a request.", field="Content-Length")
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError as e:
            raise BadRequest("JSON không hợp lệ.", "Invalid JSON.", field="body") from e
        if not isinstance(body, dict):
            raise BadRequest("Cần một đối tượng JSON.", "A JSON object is expected.", field="body")
        return body

    def _handle(self) -> None:
        origin = ""
        try:
            origin = self._origin()
            path = self.path.split("?", 1)[0]
            if self.command == "OPTIONS":  # the CORS preflight, and Chrome's private network access one
                allow = {"Access_Control_Allow_Methods": "GET, POST", "Access_Control_Allow_Headers": "Content-Type"}
                self._answer(204, None, origin, **allow, Access_Control_Allow_Private_Network="true")
            elif path not in ROUTES:
                self._answer(404, {"detail_vi": "Không có.", "detail_en": "Not found.", "field": "path"}, origin)
            elif self.command != ROUTES[path]:
                problem = {"detail_vi": "Sai phương thức.", "detail_en": "Method not allowed.", "field": "method"}
                self._answer(405, problem, origin, Allow=ROUTES[path])
            elif path == "/certificates":
                self._answer(200, self.agent.certificates(), origin)
            else:
                self._answer(200, self.agent.sign(origin, self._body()), origin)
        except SohoaError as e:
            problem = {"type": f"urn:sohoa:{e.code}", "detail_vi": e.vi, "detail_en": e.en, "field": e.field or ""}
            self._answer(e.status, problem, origin)
        except Exception as e:  # the token's own failure: an answer, so the page does not think the agent is gone
            problem = {"detail_vi": f"Lỗi của thiết bị ký: {e!r}", "detail_en": f"Signing token error: {e!r}"}
            self._answer(500, problem | {"field": "pkcs11"}, origin)

    do_GET = do_POST = do_OPTIONS = do_PUT = do_PATCH = do_DELETE = _handle


def server(agent_: Agent, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """The agent's server on 127.0.0.1 only (not reachable from the network), not yet serving."""
    handler = type("Handler", (_Handler,), {"agent": agent_})
    made = ThreadingHTTPServer(("127.0.0.1", port), handler)
    made.daemon_threads = True
    return made

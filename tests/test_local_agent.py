"""The local signing agent (`sohoa sign-agent --serve`) on a SoftHSM2 token: it answers the
service's pages alone, signs only with the clerk's yes at its console, with the token's key, and
never lets the PIN out."""

from __future__ import annotations

import base64
import http.client
import json
import os
import pty
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import pem
from certomancer.registry import CertLabel
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import MODULE, PIN, SOHOA, free_port
from signing import local_agent
from signing.signers import Pkcs11Config

ORIGIN = "http://may-chu.xa-hoa-binh.vn:8000"
TO_SIGN = b"signed attributes the service prepared"


@dataclass
class Console:
    """The clerk at the agent's console: says ``yes`` or not, and sees every question."""

    yes: bool = True
    asked: list[str] = field(default_factory=list)

    def __call__(self, question: str) -> bool:
        self.asked.append(question)
        return self.yes


@dataclass
class Running:
    port: int
    console: Console
    seen: list[bytes] = field(default_factory=list)  # every answer, headers and body

    def call(
        self, method: str, path: str, origin: str | None = ORIGIN, body: Any = None, **headers: str
    ) -> tuple[int, http.client.HTTPMessage, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Origin": origin} if origin is not None else {}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection.request(method, path, body=data, headers=sent | {k.replace("_", "-"): v for k, v in headers.items()})
        answer = connection.getresponse()
        raw = answer.read()
        connection.close()
        self.seen.append(str(answer.headers).encode() + raw)
        return answer.status, answer.headers, json.loads(raw) if raw else {}


def _start(config: Pkcs11Config, console: Console) -> Iterator[Running]:
    httpd = local_agent.server(local_agent.Agent(config, [ORIGIN + "/"], console), port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    running = Running(httpd.server_address[1], console)
    yield running
    httpd.shutdown()
    httpd.server_close()
    for answer in running.seen:
        assert PIN.encode() not in answer  # the PIN never leaves the agent


@pytest.fixture
def agent(token) -> Iterator[Running]:  # type: ignore[no-untyped-def]
    yield from _start(Pkcs11Config(MODULE, "sohoa", "agency", token[1]), Console())


def test_only_the_service_s_pages_are_answered(agent: Running, token) -> None:  # type: ignore[no-untyped-def]
    status, headers, body = agent.call("GET", "/certificates")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ORIGIN
    der = [pem.unarmor(b"-----BEGIN" + part.encode())[2] for part in body["certificates"].split("-----BEGIN")[1:]]
    assert der == [token[0].arch.get_cert(CertLabel(label)).dump() for label in ("agency", "interm")]

    for other in ("http://trang-la.example", "http://may-chu.xa-hoa-binh.vn:8001", "null", None):
        status, headers, body = agent.call("GET", "/certificates", origin=other)
        assert status == 403 and "Access-Control-Allow-Origin" not in headers and body["field"] == "origin"
        status, headers, _ = agent.call("POST", "/sign", origin=other, body={"to_be_signed": "YQ=="})
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        preflight = {"Access_Control_Request_Method": "POST", "Access_Control_Request_Private_Network": "true"}
        status, headers, _ = agent.call("OPTIONS", "/sign", origin=other, **preflight)
        assert status == 403 and "Access-Control-Allow-Private-Network" not in headers
    assert agent.console.asked == []  # another page never even reaches the clerk

    preflight = {"Access_Control_Request_Method": "POST", "Access_Control_Request_Private_Network": "true"}
    status, headers, _ = agent.call("OPTIONS", "/sign", origin="HTTP://May-Chu.Xa-Hoa-Binh.vn:8000", **preflight)
    assert status == 204 and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"


def test_wrong_methods_paths_and_bodies(agent: Running) -> None:
    for method, path, allowed in (("GET", "/sign", "POST"), ("PUT", "/sign", "POST"), ("POST", "/certificates", "GET")):
        status, headers, body = agent.call(method, path, body={} if method != "GET" else None)
        assert (status, headers["Allow"], body["field"]) == (405, allowed, "method")
    assert agent.call("GET", "/khong-co")[0] == 404
    status, _, body = agent.call("POST", "/sign", body=b"to_be_signed=YQ", Content_Type="text/plain")
    assert (status, body["field"]) == (400, "Content-Type")
    status, _, body = agent.call("POST", "/sign", body={"to_be_signed": "không phải base64"})
    assert (status, body["field"]) == (400, "to_be_signed")
    status, _, body = agent.call("POST", "/sign", body=b"[1, 2")
    assert (status, body["field"]) == (400, "body")
    assert agent.console.asked == []


def test_a_signature_by_the_token_s_key_once_the_clerk_says_yes(agent: Running, token) -> None:  # type: ignore[no-untyped-def]
    asked = {"to_be_signed": base64.b64encode(TO_SIGN).decode(), "dossier": "000.00.12.H12-250527-0001",
             "document": 3, "page_count": 2}  # fmt: skip
    status, headers, body = agent.call("POST", "/sign", body=asked)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ORIGIN
    public = x509.load_der_x509_certificate(token[0].arch.get_cert(CertLabel("agency")).dump()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(base64.b64decode(body["signature"]), TO_SIGN, padding.PKCS1v15(), hashes.SHA256())  # raises if not
    [question] = agent.console.asked
    assert "tài liệu 3 của hồ sơ 000.00.12.H12-250527-0001" in question and "2 trang" in question
    assert ORIGIN in question

    agent.console.yes = False
    status, headers, body = agent.call("POST", "/sign", body=asked | {"dossier": "\x1b[2J000.00.12.H12-250527-0002"})
    assert (status, body["field"]) == (403, "sign") and "signature" not in body
    assert headers["Access-Control-Allow-Origin"] == ORIGIN  # the page may read why
    assert "\x1b" not in agent.console.asked[-1]  # no terminal escapes from a page on the clerk's console


def test_a_wrong_pin_is_said_without_the_pin(token) -> None:  # type: ignore[no-untyped-def]
    for running in _start(Pkcs11Config(MODULE, "sohoa", "agency", pin="000000"), Console()):
        status, _, body = running.call("GET", "/certificates")
        assert (status, body["field"]) == (422, "pin") and "000000" not in json.dumps(body)


def _read_until(fd: int, wanted: str, seconds: float = 60) -> str:
    seen, deadline = b"", time.monotonic() + seconds
    while wanted.encode() not in seen:
        assert time.monotonic() < deadline, f"no {wanted!r} in {seen.decode(errors='replace')!r}"
        if select.select([fd], [], [], 0.2)[0]:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the agent has ended
                break
    return seen.decode(errors="replace")


def test_the_command_asks_the_pin_once_and_each_signature_at_its_console(token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    base = [SOHOA, "sign-agent", "--serve", "--module", str(MODULE), "--token", "sohoa", "--key", "agency"]
    no_origin = subprocess.run(base, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert no_origin.returncode == 2 and "--origin" in no_origin.stderr
    wrong = tmp_path / "sai-pin"
    wrong.write_text("000000")
    r = subprocess.run([*base, "--origin", ORIGIN, "--pin-file", str(wrong)], capture_output=True, text=True)
    assert r.returncode == 2 and "PIN" in r.stderr and "Traceback" not in r.stderr

    console, terminal = pty.openpty()  # the clerk's terminal: the PIN typed without echo
    agent = subprocess.Popen(
        [*base, "--origin", ORIGIN, "--port", str(port)],
        stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        _read_until(console, "PIN: ")  # the space comes from getpass, once the echo is off
        os.write(console, f"{PIN}\n".encode())
        shown = _read_until(console, f"http://127.0.0.1:{port}")
        running = Running(port, Console())
        assert running.call("GET", "/certificates")[0] == 200
        answer: list[Any] = []
        asked = {"to_be_signed": base64.b64encode(TO_SIGN).decode(), "dossier": "H12-0001", "document": 1}
        post = threading.Thread(target=lambda: answer.append(running.call("POST", "/sign", body=asked)))
        post.start()
        shown += _read_until(console, "[c/K]")
        assert not answer  # waiting for the clerk
        os.write(console, b"c\n")
        post.join(30)
        assert answer[0][0] == 200 and answer[0][2]["signature"]
        shown += _read_until(console, "→ ký")
        assert PIN not in shown  # not echoed
        assert all(PIN.encode() not in seen for seen in running.seen)
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        os.close(console)

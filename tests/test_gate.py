"""Nothing is read before the caller is known: against a real `sohoa serve`, a request that
declares a 1.5 GB body and never sends it is answered from its headers alone (401 without a
token, 403 for a role that may not call the route, 413 past the limit), on every kind of
route (an upload, a file to verify, a JSON body), and nothing is written anywhere."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import cli_token, serve

CODE = "000.00.12.H12-250527-0001"
ROUTES = {
    "scans": (f"/api/v1/dossiers/{CODE}/scans", "application/pdf"),
    "verify": ("/api/v1/verify", "multipart/form-data; boundary=ranh-gioi"),
    "dossiers": ("/api/v1/dossiers", "application/json"),
}
HUGE = str(1_500_000_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    var = tmp_path_factory.mktemp("gate") / "var"
    env = {
        **os.environ,
        "SOHOA_DATA_DIR": str(var),
        "SOHOA_EMBEDDED_WORKER": "false",
        "SOHOA_API_PROCESSES": "1",
        "SOHOA_MAX_UPLOAD_BYTES": "3000000",
    }
    tokens = {role: cli_token(env, f"Thử {role}", role) for role in ("admin", "archivist")}
    process, base = serve(env)
    try:
        yield urlsplit(base).netloc, tokens, var
    finally:
        process.terminate()
        process.wait(30)


def headers_only(netloc: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Send a request's headers and never its body: a server that waits for the body times out."""
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.putrequest("POST", path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.headers["Content-Type"] == "application/problem+json"
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("route", ROUTES)
def test_a_body_is_not_read_before_the_caller_is_known(server: tuple[str, dict[str, str], Path], route: str) -> None:
    netloc, tokens, var = server
    path, content_type = ROUTES[route]
    huge = {"Content-Type": content_type, "Content-Length": HUGE}
    status, body = headers_only(netloc, path, huge)
    assert status == 401 and body["field"] == "Authorization", body
    if route != "verify":  # anyone with a token may verify a file
        status, body = headers_only(netloc, path, {**huge, "Authorization": f"Bearer {tokens['archivist']}"})
        assert status == 403 and body["field"] == "role", body
    status, body = headers_only(netloc, path, {**huge, "Authorization": f"Bearer {tokens['admin']}"})
    assert status == 413 and body["type"] == "urn:sohoa:error:too-large", body
    assert body["field"] == ("body" if route == "dossiers" else "file"), body
    assert not [p for p in (var / "tmp").rglob("*") if p.is_file()]
    assert not (var / "objects" / "dossiers").exists()

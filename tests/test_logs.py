"""The server logs one JSON object per line, each request with its id, which the client sees too."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import cli_token, serve


def test_json_logs_carry_the_request_id(tmp_path: Path, page_png: Path) -> None:
    env = {**os.environ, "SOHOA_DATA_DIR": str(tmp_path / "var"), "SOHOA_EMBEDDED_WORKER": "false"}
    env["SOHOA_SCANNER_CREATES_DOSSIERS"] = "true"  # the station's scan makes its dossier
    token = cli_token(env, "Trạm quét 9", "scanner")
    server, base = serve(env, stderr=subprocess.PIPE)
    try:
        request = urllib.request.Request(
            f"{base}/api/v1/jobs/khong-co", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "tram-9.0001"}
        )
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("expected 404")
        except urllib.error.HTTPError as e:
            assert e.code == 404 and e.headers["X-Request-ID"] == "tram-9.0001"
            assert json.loads(e.read())["request_id"] == "tram-9.0001"
        bad_id = urllib.request.Request(f"{base}/healthz", headers={"X-Request-ID": "x" * 100 + " ;"})
        with urllib.request.urlopen(bad_id, timeout=5) as answer:
            fresh = answer.headers["X-Request-ID"]
        assert len(fresh) == 32 and fresh != "x" * 100
        # A slow station: the upload's time in the log includes the wait for its body, and
        # after_body_ms (what the server took once the body was in) does not.
        body = page_png.read_bytes()
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        conn.putrequest("POST", "/api/v1/dossiers/000.00.12.H12-250527-0001/scans")
        for name, value in {
            "Authorization": f"Bearer {token}",
            "Content-Type": "image/png",
            "X-Filename": "cham.png",
            "Content-Length": str(len(body)),
            "X-Request-ID": "tram-9.0002",
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(body[:1000])
        time.sleep(0.6)  # the station's pause is what is measured: the logged ms must include it
        conn.send(body[1000:])
        assert conn.getresponse().status == 202
        conn.close()
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]  # every line is JSON
    [logged] = [e for e in entries if e.get("request_id") == "tram-9.0001"]
    assert logged["path"] == "/api/v1/jobs/khong-co" and logged["status"] == 404 and logged["method"] == "GET"
    assert logged["level"] == "info" and logged["time"].endswith("+00:00") and logged["ms"] >= 0
    assert any(e["request_id"] == fresh and e["path"] == "/healthz" for e in entries)
    assert "after_body_ms" not in logged  # a GET has no body
    [upload] = [e for e in entries if e.get("request_id") == "tram-9.0002" and "ms" in e]
    assert upload["status"] == 202 and upload["ms"] >= 600
    assert 0 < upload["after_body_ms"] < upload["ms"] - 500

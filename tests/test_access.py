"""Tokens and roles, route by route: only the health checks answer without a token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select, text

import api
from service import access, dossiers
from service.context import context
from service.gate import GuardedRoute
from storage.catalog import AuditEvent

CODE = "000.00.12.H12-250527-0001"
SOHOA = str(Path(sys.executable).parent / "sohoa")
ALL = {"scanner", "clerk", "leader", "seal_keeper", "archivist", "admin", "onestop"}
READ = {"clerk", "leader", "seal_keeper", "archivist", "admin"}
FETCH = READ | {"onestop"}  # the one-stop system takes a dossier's results back by its code
SIGN = {"clerk", "leader", "seal_keeper", "admin"}  # and per kind of signature: see test_signing_workflow
# Written out here, not read from the app, so a route that loosens or tightens its check fails.
EXPECTED: dict[tuple[str, str], set[str] | None] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): {"admin"},
    ("POST", "/api/v1/dossiers/{code}/scans"): {"scanner", "clerk", "admin"},
    ("POST", "/api/v1/batches"): {"scanner", "clerk", "admin"},
    ("GET", "/api/v1/jobs/{job_id}"): ALL,  # a scanner station's own only
    ("GET", "/api/v1/jobs"): ALL,  # the same
    ("POST", "/api/v1/jobs/{job_id}/cancel"): {"scanner", "clerk", "admin"},  # a scanner: its own jobs
    ("POST", "/api/v1/dossiers"): {"clerk", "admin"},
    ("GET", "/api/v1/dossiers"): READ,
    ("GET", "/api/v1/dossiers/{code}"): FETCH,
    ("PUT", "/api/v1/dossiers/{code}"): {"onestop", "admin"},
    ("PUT", "/api/v1/dossiers"): {"onestop", "admin"},
    ("PATCH", "/api/v1/dossiers/{code}"): {"clerk", "admin"},
    ("PATCH", "/api/v1/dossiers/{code}/fields"): {"clerk", "admin"},
    ("PATCH", "/api/v1/dossiers/{code}/documents/{document_id}/fields"): {"clerk", "admin"},
    ("GET", "/api/v1/fields"): READ,
    ("POST", "/api/v1/dossiers/{code}/transitions"): READ,  # and per status: see test_lifecycle
    ("GET", "/api/v1/audit-events"): {"archivist", "admin"},
    ("POST", "/api/v1/dossiers/{code}/legal-hold"): {"archivist", "admin"},
    ("GET", "/api/v1/dossiers/{code}/package"): {"archivist", "admin"},
    ("GET", "/api/v1/retention"): {"archivist", "admin"},
    ("GET", "/api/v1/dossiers/{code}/documents/{document_id}/{kind}"): FETCH,
    ("HEAD", "/api/v1/dossiers/{code}/documents/{document_id}/{kind}"): FETCH,
    ("GET", "/api/v1/dossiers/{code}/documents/{document_id}/verification"): FETCH,
    ("POST", "/api/v1/dossiers/{code}/documents/{document_id}/remote-signatures"): SIGN,
    ("POST", "/api/v1/remote-signatures/{pending_id}"): SIGN,
    ("POST", "/api/v1/dossiers/{code}/documents/{document_id}/signatures"): SIGN,
    ("POST", "/api/v1/dossiers/{code}/documents/{document_id}/scans"): {"scanner", "clerk", "admin"},
    ("DELETE", "/api/v1/dossiers/{code}/documents/{document_id}"): {"clerk", "admin"},
    ("GET", "/api/v1/search"): READ,
    ("POST", "/api/v1/verify"): ALL,
    ("POST", "/api/v1/uploads"): {"scanner", "clerk", "admin"},  # its own sessions only: see test_resumable
    ("GET", "/api/v1/uploads/{upload_id}"): {"scanner", "clerk", "admin"},
    ("PATCH", "/api/v1/uploads/{upload_id}"): {"scanner", "clerk", "admin"},
    ("POST", "/api/v1/uploads/{upload_id}/complete"): {"scanner", "clerk", "admin"},
    ("GET", "/api/v1/statistics"): FETCH,
    ("GET", "/api/v1/agencies"): ALL,  # those the caller belongs to
    ("POST", "/api/v1/agencies"): {"admin"},  # an administrator of every agency
    ("PATCH", "/api/v1/agencies/{agency}"): {"admin"},
    ("POST", "/api/v1/webhooks"): {"admin"},
    ("GET", "/api/v1/webhooks"): {"admin"},
    ("DELETE", "/api/v1/webhooks/{subscriber_id}"): {"admin"},
    ("GET", "/api/v1/webhook-deliveries"): {"admin"},
}
PARAMS = {
    "code": CODE,
    "agency": "000.00.12.H12",
    "job_id": "khong-co",
    "document_id": "1",
    "kind": "signed",
    "pending_id": "khong-co",
    "upload_id": "khong-co",
    "subscriber_id": "1",
}


def _routes() -> Iterator[tuple[str, str]]:
    """The API's routes (the web pages' are in tests/test_web.py's table)."""
    for route in api.app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods:
                yield method, route.path


@pytest.fixture
def app_client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(api.app) as c:
        yield c


def _token(role: str, name: str | None = None) -> str:
    return access.issue(context().sessions, name or f"Người thử ({role})", role)[1]


def test_every_route_is_in_the_role_table() -> None:
    assert set(_routes()) == set(EXPECTED)
    # and checks its caller before reading a body (service/gate.py)
    assert all(isinstance(r, GuardedRoute) for r in api.app.routes if isinstance(r, APIRoute) and r.include_in_schema)


def test_each_route_checks_its_roles(app_client: TestClient) -> None:
    tokens = {role: _token(role) for role in ALL}
    for (method, path), allowed in EXPECTED.items():
        url = path.format(**PARAMS)
        anonymous = app_client.request(method, url, params={"q": "hồ sơ"})
        if allowed is None:
            assert anonymous.status_code not in (401, 403), (method, path)
            continue
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.headers["content-type"] == "application/problem+json"
        for role, token in tokens.items():
            r = app_client.request(method, url, params={"q": "hồ sơ"}, headers={"Authorization": f"Bearer {token}"})
            if role in allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code)
                if method != "HEAD":  # its answer has no body
                    assert r.json()["field"] == "role" and "không được" in r.json()["detail_vi"]


def test_wrong_and_revoked_tokens_are_refused(app_client: TestClient) -> None:
    url = "/api/v1/jobs/x"
    assert app_client.get(url, headers={"Authorization": "Bearer sohoa_sai"}).status_code == 401
    assert app_client.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    row, token = access.issue(context().sessions, "Trạm quét 2", "scanner")
    assert app_client.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    access.revoke(context().sessions, row.id)
    r = app_client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "thu hồi" in r.json()["detail_vi"]


def test_the_audit_log_names_who_acted(app_client: TestClient, page_png: Path) -> None:
    row, token = access.issue(context().sessions, "Trạm quét tầng 1", "scanner")
    dossiers.create_dossier(context(), CODE, {}, actor="Cán bộ tiếp nhận")  # a station posts to a dossier received
    with page_png.open("rb") as f:
        r = app_client.post(
            f"/api/v1/dossiers/{CODE}/scans",
            files={"file": (page_png.name, f)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 202, r.text
    with context().sessions() as s:
        actors = {e.action: e.actor for e in s.scalars(select(AuditEvent))}
    assert actors["scan.accepted"] == f"Trạm quét tầng 1 #{row.id}"
    assert actors["token.issued"] == "admin"


def test_users_command_adds_lists_and_revokes(data_dir: Path) -> None:
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}

    def sohoa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SOHOA, "users", *args], capture_output=True, text=True, env=env)

    added = sohoa("add", "Nguyễn Thị Hương", "--role", "clerk")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("sohoa_") and "không hiện lại" in added.stderr
    with context().sessions() as s:  # only the hash is kept
        stored = s.execute(text("SELECT token_sha256 FROM api_tokens")).scalars().all()
    assert token not in stored and len(stored) == 1
    assert access.authenticate(context().sessions, token).role == "clerk"

    listed = sohoa("list")
    assert "clerk\tNguyễn Thị Hương\thiệu lực" in listed.stdout and token not in listed.stdout
    assert sohoa("revoke", "1").returncode == 0
    assert "thu hồi" in sohoa("list").stdout
    with pytest.raises(access.Unauthorized):
        access.authenticate(context().sessions, token)

    bad = sohoa("add", "X", "--role", "boss")
    assert bad.returncode == 2 and "[role]" in bad.stderr

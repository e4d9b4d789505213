"""The desk sees what went wrong and fixes it (issue 16, item 5): documents numbered within
their dossier."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import api
from service import access
from service.context import context

CODE = "000.00.12.H12-250527-0001"
OTHER = "000.00.12.H12-250527-0002"


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (16, 16), shade).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def desk(service_on_each_catalog: str) -> Iterator[dict[str, TestClient]]:
    """A client per person at the desk; no worker runs: a test runs the jobs it wants run."""
    people = {"scanner": "Trạm quét 1", "scanner2": "Trạm quét 2", "clerk": "Cán bộ một cửa", "admin": "Quản trị"}
    clients = {}
    for key, name in people.items():
        _, token = access.issue(context().sessions, name, key.rstrip("2"))
        clients[key] = TestClient(api.app, headers={"Authorization": f"Bearer {token}"})
    yield clients


def post(client: TestClient, code: str, name: str, data: bytes, url: str = "") -> dict:  # type: ignore[type-arg]
    r = client.post(url or f"/api/v1/dossiers/{code}/scans", files={"file": (name, data)})
    assert r.status_code == 202, r.text
    return r.json()["jobs"][0]  # type: ignore[no-any-return]


def test_documents_are_numbered_within_their_dossier(desk: dict[str, TestClient]) -> None:
    clerk = desk["clerk"]
    numbers = [post(clerk, code, name, png(shade))["document_id"] for code, name, shade in
               ((CODE, "a.png", 10), (OTHER, "b.png", 20), (CODE, "c.png", 30))]  # fmt: skip
    assert numbers == [1, 1, 2]
    assert [d["id"] for d in clerk.get(f"/api/v1/dossiers/{CODE}").json()["documents"]] == [1, 2]
    [b] = clerk.get(f"/api/v1/dossiers/{OTHER}").json()["documents"]
    assert (b["id"], b["file"]) == (1, "b.png")
    assert clerk.get(b["downloads"]["original"]).content == png(20)
    assert clerk.get(f"/api/v1/dossiers/{CODE}/documents/2/original").content == png(30)
    assert clerk.get(f"/api/v1/dossiers/{OTHER}/documents/2/original").status_code == 404

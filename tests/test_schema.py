"""Schemathesis generates requests from the OpenAPI schema for every route: no input may make
the server fail (5xx), and every error is problem+json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

import api
from conftest import _clear_caches
from service import access
from service.context import context

# The schema from the app object, not a request: a request starts the app (its catalog in the
# default data folder), and two test workers collecting at once raced to create it.
schema = schemathesis.openapi.from_dict(api.app.openapi())
schema.app = api.app
schemathesis.serializer.alias(
    ["application/pdf", "image/tiff", "image/jp2", "application/offset+octet-stream"], "application/octet-stream"
)


@pytest.fixture
def token(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")  # acceptance and answers, not OCR
    _clear_caches()
    yield access.issue(context().sessions, "Schemathesis", "admin")[1]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_server_fail(case, token: str) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json"), response.text[:200]

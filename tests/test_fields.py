"""The circular's fields (records.py): checked, pre-filled from the page, edited by a clerk with
the old value audited, shown in the dossier, filtered on in search (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_search import CODE, _made, add
from typer.testing import CliRunner

import api
import records
import storage.manifest
from cli import app
from digitize.metadata import Found
from service import access, fields, run
from service.context import context
from storage import AuditEvent, Document

READ = {
    "number": Found("125/QĐ-UBND", 0.93, [{"page": 1, "left": 300, "top": 400, "width": 500, "height": 50}]),
    "issued_on": Found("2025-02-05", 0.9),
    "type": Found("Quyết định", 0.95),
    "subject": Found("Về việc phê duyệt kế hoạch sử dụng đất năm 2025", 0.9),
    "issuer": Found("SỞ Y TẾ", 0.9),
    "signer": Found("Nguyễn Văn An", 0.9),
    "signer_title": Found("PHÓ GIÁM ĐỐC", 0.9),
    "authority": Found("KT. GIÁM ĐỐC", 0.9),
}


def test_values_are_checked_by_their_field() -> None:
    by_key = {f.key: f for f in records.DOCUMENT_FIELDS}
    assert records.clean(by_key["issued_on"], "2025-02-05") == "2025-02-05"
    assert records.clean(by_key["subject"], " Ve\u0301 vie\u0323\u0302c ") == "Vé việc"  # NFC, trimmed
    assert records.clean(by_key["type"], None) is None
    for key, bad in (("issued_on", "05/02/2025"), ("type", "Quyet dinh"), ("access_mode", "open"),
                     ("reliability", "copy"), ("physical_condition", "torn"), ("urgency", "urgent"),
                     ("page_count", -1), ("keywords", "a, b"), ("number", "125 QĐ UBND"),
                     ("subject", "a\x00b"), ("keywords", ["a\x07"])):  # fmt: skip
        with pytest.raises(records.InvalidField) as e:
            records.clean(by_key[key], bad)
        assert e.value.key == key and e.value.vi and e.value.en
    with pytest.raises(records.InvalidField, match="No such field"):
        records.clean_all(records.DOCUMENT_FIELDS, {"colour": "red"})
    assert {f.key for f in records.DOCUMENT_FIELDS} >= set(records.READ_FROM_PAGE)
    assert len(records.DOSSIER_FIELDS) == 18 and len(records.DOCUMENT_FIELDS) == 23


def _digitized(read: dict[str, Found | None]) -> run.Made:
    made = _made(CODE, ["QUYẾT ĐỊNH Về việc phê duyệt kế hoạch"])
    made.result.metadata = read
    return made


def _client(role: str) -> TestClient:
    _, token = access.issue(context().sessions, f"Người thử ({role})", role)
    return TestClient(api.app, headers={"Authorization": f"Bearer {token}"})


def _document(client: TestClient) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/dossiers/{CODE}").json()["documents"][0])


def test_fields_read_edited_audited_and_searched(
    data_dir: Path, catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOHOA_DATABASE_URL", catalog_url)
    ctx = context()
    with ctx.sessions.begin() as s:
        document = add(s, CODE, [], title="Hồ sơ thử")
        run.record(s, document, _digitized(READ))
        add(s, "000.00.13.H13-250601-0002", ["Quyết định khác"])
    clerk = _client("clerk")
    shown = _document(clerk)
    assert shown["fields"]["number"] == "125/QĐ-UBND" and shown["fields"]["symbol"] == "QĐ-UBND"
    assert shown["fields"]["issued_on"] == "2025-02-05" and shown["fields"]["order"] == 1
    assert shown["read"]["number"]["confidence"] == 0.93 and shown["read"]["number"]["boxes"][0]["page"] == 1

    url = f"/api/v1/dossiers/{CODE}/documents/1/fields"
    r = clerk.patch(url, json={"number": "126/QĐ-UBND", "access_mode": "public", "keywords": ["đất đai"]})
    assert r.status_code == 200, r.text
    assert r.json()["documents"][0]["fields"]["number"] == "126/QĐ-UBND"
    with ctx.sessions() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "document.fields.updated")).one()
    assert event.actor.startswith("Người thử") and event.detail is not None
    assert event.detail["changes"]["number"] == {"old": "125/QĐ-UBND", "new": "126/QĐ-UBND"}
    with ctx.sessions() as s:  # the manifest beside the objects carries them too
        listed = storage.manifest.build(s, CODE)["documents"][0]["fields"]
    assert listed["number"] == "126/QĐ-UBND" and listed["keywords"] == ["đất đai"] and listed["type"] == "Quyết định"
    for body, field in (({"type": "Thư"}, "type"), ({"issued_on": "2025-02-30"}, "issued_on"),
                        ({"order": 3}, "order"), ({"nope": 1}, "nope")):  # fmt: skip
        r = clerk.patch(url, json=body)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert _client("scanner").patch(url, json={"number": "1/QĐ-UBND"}).status_code == 403

    # Read again (a new scan): the clerk's number stays, what no one changed follows the page; the
    # new copy's XMP takes the clerk's fields from the catalog and the rest from its new reading.
    with ctx.sessions.begin() as s:
        document = s.scalars(select(Document).where(Document.dossier_code == CODE)).one()
        assert fields.record_values(s, document) == {
            "number": "126/QĐ-UBND", "access_mode": "public", "keywords": ["đất đai"], "dossier_code": CODE,
            "order": 1, "dossier_title": "Hồ sơ thử",
        }  # fmt: skip
        run.record(s, document, _digitized({**READ, "issuer": Found("SỞ Y TẾ TỈNH BẮC NINH", 0.9)}))
    shown = _document(clerk)["fields"]
    assert shown["number"] == "126/QĐ-UBND" and shown["issuer"] == "SỞ Y TẾ TỈNH BẮC NINH"

    archivist = _client("archivist")
    for params, total in (
        ({"type": "Quyết định"}, 1),
        ({"number": "126/qd-ubnd"}, 1),  # folded: typed without its marks
        ({"number": "125/QĐ-UBND"}, 0),
        ({"issuer": "so y te"}, 1),
        ({"issuer": "100%_"}, 0),
        ({"issued_from": "2025-02-05", "issued_to": "2025-02-05"}, 1),
        ({"issued_from": "2025-02-06"}, 0),
    ):
        found = archivist.get("/api/v1/search", params={"q": "quyết định", **params}).json()
        assert found["total"] == total, (params, found)
    r = archivist.get("/api/v1/search", params={"q": "a", "issued_from": "2025-03-01", "issued_to": "2025-02-01"})
    assert r.status_code == 422 and r.json()["field"] == "issued_to"
    cli = ["search", "quyết định", "--type", "Quyết định", "--issuer", "so y te", "--issued-to", "2025-02-05", "--json"]
    r = CliRunner().invoke(app, cli)
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 1, r.output
    assert CliRunner().invoke(app, ["search", "x", "--issued-from", "2025-13-01"]).exit_code == 2
    ctx.sessions.kw["bind"].dispose()


def test_dossier_fields(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with context().sessions.begin() as s:
        add(s, CODE, ["trang một", "trang hai"])
    clerk = _client("clerk")
    url = f"/api/v1/dossiers/{CODE}/fields"
    r = clerk.patch(url, json={"access_mode": "restricted", "start_date": "2025-01-02", "keywords": ["khai sinh"]})
    assert r.status_code == 200, r.text
    fields = r.json()["fields"]
    assert fields["access_mode"] == "restricted" and fields["code"] == CODE
    assert fields["document_count"] == 1 and fields["page_count"] == 0  # counted: nothing digitized yet
    for body, field in (({"end_date": "2024-12-31"}, "end_date"), ({"reliability": "copy"}, "reliability"),
                        ({"title": "x"}, "title"), ({"sheet_count": "3"}, "sheet_count")):  # fmt: skip
        r = clerk.patch(url, json=body)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert clerk.patch(url, json={"access_mode": None}).json()["fields"]["access_mode"] is None
    table = clerk.get("/api/v1/fields").json()
    assert [f["key"] for f in table["dossier"]] == [f.key for f in records.DOSSIER_FIELDS]
    assert next(f for f in table["document"] if f["key"] == "type")["choices"][1] == "Quyết định"


def test_documents_digitized_before_are_read_from_their_alto(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sohoa reread CODE`: a document with an ALTO and no reading gets its fields from it."""
    from test_metadata import H, W, decision

    from digitize.export import to_alto
    from digitize.pipeline import PageResult

    page = PageResult("scan.pdf", 1, "", 0, 90.0, (300.0, 300.0), W, H, lines=decision())
    alto = tmp_path / "alto.xml"
    alto.write_text(to_alto([page]), encoding="utf-8")
    ctx = context()
    info = ctx.store.put_file(f"dossiers/{CODE}/alto-old.xml", alto)
    with ctx.sessions.begin() as s:
        document = add(s, CODE, [])
        document.alto_key = info.key
    r = CliRunner().invoke(app, ["reread", CODE])
    assert r.exit_code == 0 and "1" in r.stdout, r.output
    fields = _document(_client("clerk"))["fields"]
    assert fields["number"] == "125/QĐ-STNMT" and fields["signer"] == "Nguyễn Văn An"
    assert fields["issuer"] == "SỞ TÀI NGUYÊN VÀ MÔI TRƯỜNG" and fields["issued_on"] == "2025-02-05"
    assert "0 " in CliRunner().invoke(app, ["reread", CODE]).stdout  # read once

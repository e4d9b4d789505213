"""Many agencies in one deployment: the registry, each agency's users seeing only its own dossiers
(another's answered as not there, route by route), each agency signing with its own key under its
own name, its retention table, its webhooks."""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

import api
import cli
from conftest import _clear_caches
from service import access, agencies, onestop, people, webhooks
from service.agencies import AgencyFields
from service.context import context
from service.run import run_job
from service.scans import accept_scan
from signing import verify_pdf
from signing.demo_pki import demo_person, ensure_demo_pki
from storage.catalog import Dossier, Page, WebhookDelivery, document_for
from storage.search import index_document
from web import admin, archive, desk, pages, stats

DEPARTMENT, DISTRICT, COMMUNE = "000.00.00.H12", "000.00.12.H12", "000.27.12.H12"
NAMES = {DEPARTMENT: "Sở Tư pháp tỉnh Hà Giang", DISTRICT: "UBND huyện Vị Xuyên", COMMUNE: "UBND xã Việt Lâm"}
OWN = {a: f"{a}-250527-0001" for a in NAMES}  # one dossier of each agency
PASSWORD = "mat-khau-du-dai-1"


@dataclass
class Deployment:
    client: TestClient
    tokens: dict[str, str]  # by label: bearer tokens

    def as_(self, label: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[label]}"}


def _register(pkcs12: Path | None = None, password_file: Path | None = None) -> None:
    ctx = context()
    agencies.add(ctx, DEPARTMENT, AgencyFields(name=NAMES[DEPARTMENT], name_en="Department of Justice"), actor="t")
    agencies.add(ctx, DISTRICT, AgencyFields(name=NAMES[DISTRICT], retention={"1.001612": "20", "*": "10"}), actor="t")
    agencies.add(ctx, COMMUNE, AgencyFields(name=NAMES[COMMUNE], parent=DISTRICT), actor="t")
    if pkcs12 is not None:  # the department signs with a PKCS#12 file of its own
        fields = AgencyFields(pkcs12=str(pkcs12), pkcs12_password_file=str(password_file))
        agencies.update(ctx, DEPARTMENT, fields, actor="t")


def _user(name: str, role: str, *codes: str, password: bool = False) -> str:
    ctx = context()
    row, token = (
        people.add_person(ctx, name, role, PASSWORD, actor="t") if password else access.issue(ctx.sessions, name, role)
    )
    if codes:
        agencies.assign(ctx, row.id, list(codes), actor="t")
    return token


@pytest.fixture
def deployment(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    monkeypatch.setenv("SOHOA_EMBEDDED_WORKER", "false")
    _clear_caches()
    with TestClient(api.app) as client:
        _register()
        tokens = {
            "commune clerk": _user("Cán bộ xã", "clerk", COMMUNE),
            "district clerk": _user("Cán bộ huyện", "clerk", DISTRICT),  # and the communes under it
            "department clerk": _user("Cán bộ Sở", "clerk", DEPARTMENT),
            "commune admin": _user("Quản trị xã", "admin", COMMUNE, password=True),
            "commune archivist": _user("Lưu trữ xã", "archivist", COMMUNE),
            "province admin": _user("Quản trị tỉnh", "admin"),
            "commune onestop": _user("Một cửa xã", "onestop", COMMUNE),
        }
        deployment = Deployment(client, tokens)
        for agency, code in OWN.items():
            answer = client.post(
                "/api/v1/dossiers",
                json={"code": code, "title": f"Hồ sơ của {NAMES[agency]}", "procedure_code": "1.001612"},
                headers=deployment.as_("province admin"),
            )
            assert answer.status_code == 201, answer.text
        yield deployment


# Path parameters other than the dossier's code, for calling every route under one.
FILLERS = {"document_id": "1", "kind": "pdfa", "number": "1", "page": "1"}


def _code_routes() -> list[tuple[str, str]]:
    """(method, path) of every API and web route under a dossier's code."""
    found, web_routes = [], [r for module in (admin, archive, desk, pages, stats) for r in module.router.routes]
    for route in [*api.app.routes, *web_routes]:
        if isinstance(route, APIRoute) and "{code}" in route.path:
            found.extend((method, route.path) for method in sorted(route.methods))
    return found


def _call(client: TestClient, method: str, path: str, code: str, **kwargs: object) -> tuple[int, dict[str, str]]:
    url = re.sub(r"\{(\w+)\}", lambda m: code if m.group(1) == "code" else FILLERS[m.group(1)], path)
    answer = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    body = answer.json() if method != "HEAD" and "json" in answer.headers.get("content-type", "") else {}
    return answer.status_code, body


def test_another_agency_s_dossier_is_not_there_on_every_route(deployment: Deployment) -> None:
    """An administrator of the commune passes every role check: what stops them is the agency, and
    the answer is the one for a dossier that does not exist (no existence leak), on every route."""
    client, routes = deployment.client, _code_routes()
    assert len(routes) >= 25, routes  # the API's and the web pages'
    login = people.login(context(), "Quản trị xã", PASSWORD)
    web = {"sohoa_session": login.cookie}
    for method, path in routes:
        for code in (OWN[DISTRICT], OWN[DEPARTMENT]):
            missing = code.replace("-0001", "-0999")  # the same agency, a dossier that is not there
            if path.startswith("/api/"):
                status, body = _call(client, method, path, code, headers=deployment.as_("commune admin"))
                none_status, none_body = _call(client, method, path, missing, headers=deployment.as_("commune admin"))
                assert status == none_status == 404, (method, path, status)
                if method != "HEAD":  # the same answer as for a dossier that is not there
                    assert body["type"] == "urn:sohoa:error:not-found" and body["field"] == "code", body
                    assert body["detail_vi"] == none_body["detail_vi"].replace(missing, code)
            else:
                client.cookies.update(web)
                status, _ = _call(client, method, path, code, headers={"X-CSRF-Token": login.csrf})
                client.cookies.clear()
                assert status == 404, (method, path, status)
    # The same administrator reaches the commune's own dossier.
    own = client.get(f"/api/v1/dossiers/{OWN[COMMUNE]}", headers=deployment.as_("commune admin"))
    assert own.status_code == 200 and own.json()["code"] == OWN[COMMUNE]


def test_lists_hold_only_the_agencies_a_user_belongs_to(deployment: Deployment) -> None:
    client = deployment.client

    def codes(label: str, url: str = "/api/v1/dossiers") -> set[str]:
        answer = client.get(url, headers=deployment.as_(label))
        assert answer.status_code == 200, answer.text
        return {d["code"] for d in answer.json()["dossiers"]}

    assert codes("commune clerk") == {OWN[COMMUNE]}
    assert codes("district clerk") == {OWN[DISTRICT], OWN[COMMUNE]}  # the commune is under the district
    assert codes("department clerk") == {OWN[DEPARTMENT]}
    assert codes("province admin") == set(OWN.values())
    # Asking for another agency by filter finds nothing rather than widening the scope.
    assert codes("commune clerk", f"/api/v1/dossiers?agency={DISTRICT}") == set()

    events = client.get("/api/v1/audit-events?limit=500", headers=deployment.as_("commune archivist")).json()
    assert {e["dossier"] for e in events["events"]} == {OWN[COMMUNE]}
    retention = client.get("/api/v1/retention?due_within=100y", headers=deployment.as_("commune archivist")).json()
    assert {d["code"] for d in retention["dossiers"]} <= {OWN[COMMUNE]}
    listed = client.get("/api/v1/agencies", headers=deployment.as_("district clerk")).json()
    assert [a["code"] for a in listed["agencies"]] == [DISTRICT, COMMUNE]

    # A clerk may not create another agency's dossier, nor open an upload to one.
    other = f"{DISTRICT}-250528-0002"
    made = client.post("/api/v1/dossiers", json={"code": other}, headers=deployment.as_("commune clerk"))
    assert made.status_code == 404 and made.json()["field"] == "code"
    upload = {"code": OWN[DISTRICT], "name": "a.pdf", "size": 10, "sha256": "0" * 64}
    assert client.post("/api/v1/uploads", json=upload, headers=deployment.as_("commune clerk")).status_code == 404
    # The one-stop system of the commune feeds the commune only; a day's list says which item failed.
    day = {"dossiers": [{"code": f"{COMMUNE}-250528-0003"}, {"code": other}]}
    fed = client.put("/api/v1/dossiers", json=day, headers=deployment.as_("commune onestop")).json()
    assert [r["status"] for r in fed["results"]] == [201, 404]

    # Web pages: the work queue shows the commune's dossier and not the district's.
    login = people.login(context(), "Quản trị xã", PASSWORD)
    client.cookies.update({"sohoa_session": login.cookie})
    queue = client.get("/queue").text
    assert OWN[COMMUNE] in queue and OWN[DISTRICT] not in queue
    assert client.get("/admin").status_code == 403  # users are managed by the province's administrator


def test_search_and_statistics_hold_only_the_agencies_a_user_belongs_to(deployment: Deployment) -> None:
    """A page in every agency's dossier says "Tờ khai đăng ký khai sinh": one search, answered by agency."""
    client = deployment.client
    with context().sessions.begin() as session:
        for code in OWN.values():
            sha256 = hashlib.sha256(code.encode()).hexdigest()
            names = {"original_name": "a.pdf", "original_key": f"k/{sha256}", "original_size": 1}
            document = document_for(session, code, sha256, **names)
            session.add(Page(document_id=document.id, number=1, text="Tờ khai đăng ký khai sinh"))
            session.flush()
            index_document(session, document)

    def found(label: str) -> set[str]:
        answer = client.get("/api/v1/search", params={"q": "to khai khai sinh"}, headers=deployment.as_(label))
        assert answer.status_code == 200, answer.text
        return {hit["dossier_code"] for hit in answer.json()["hits"]}

    def received(label: str) -> dict[str, int]:
        params = {"period": "all", "by": "agency"}
        answer = client.get("/api/v1/statistics", params=params, headers=deployment.as_(label)).json()
        return {row["agency"]: row["received"] for row in answer["rows"] if not row["rollup"]}

    assert found("province admin") == set(OWN.values())
    assert found("district clerk") == {OWN[DISTRICT], OWN[COMMUNE]}
    assert found("commune clerk") == {OWN[COMMUNE]}
    assert received("province admin") == {DEPARTMENT: 1, DISTRICT: 1, COMMUNE: 1}
    assert received("district clerk") == {DISTRICT: 1, COMMUNE: 1}
    assert received("commune clerk") == {COMMUNE: 1}
    # The web pages: the archive's search and the statistics page, for the commune's administrator.
    login = people.login(context(), "Quản trị xã", PASSWORD)
    client.cookies.update({"sohoa_session": login.cookie})
    archive = client.get("/archive", params={"q": "to khai khai sinh"}).text
    assert OWN[COMMUNE] in archive and OWN[DISTRICT] not in archive and OWN[DEPARTMENT] not in archive
    page = client.get("/statistics", params={"period": "year", "by": "agency"}).text
    assert COMMUNE in page and DISTRICT not in page and DEPARTMENT not in page
    assert NAMES[COMMUNE] in page and NAMES[DISTRICT] not in page  # the registered name beside the code


def test_the_registry_refuses_what_would_not_work(data_dir: Path) -> None:
    ctx = context()
    _register()
    with pytest.raises(Exception, match="đã có"):
        agencies.add(ctx, DISTRICT, AgencyFields(name="Trùng"), actor="t")
    with pytest.raises(Exception, match="không đúng"):
        agencies.add(ctx, "000.00.12.H12; DROP", AgencyFields(name="X"), actor="t")
    with pytest.raises(Exception, match="cấp trên"):  # a cycle: the district under its own commune
        agencies.update(ctx, DISTRICT, AgencyFields(parent=COMMUNE), actor="t")
    with pytest.raises(Exception, match="Không có cơ quan"):
        agencies.add(ctx, "000.31.12.H12", AgencyFields(name="X", parent="000.99.99.H99"), actor="t")
    with pytest.raises(Exception, match="Không có tệp"):
        agencies.update(ctx, COMMUNE, AgencyFields(pkcs12="/no/such.p12"), actor="t")
    with pytest.raises(Exception, match="01, 70"):
        agencies.update(ctx, COMMUNE, AgencyFields(retention={"1.0": "15"}), actor="t")
    with pytest.raises(Exception, match="Không có cơ quan"):
        agencies.assign(ctx, access.issue(ctx.sessions, "Ai đó", "clerk")[0].id, ["000.99.99.H99"], actor="t")
    # A PKCS#12 file with the wrong password is refused when registered, not at its first signature.
    pki = ensure_demo_pki(ctx.settings.pki_dir, "Demo")
    p12 = data_dir / "sai.p12"
    p12.write_bytes(demo_person(pki, "Sai", "dung-mat-khau"))
    wrong = data_dir / "wrong.password"
    wrong.write_text("khong-dung")
    with pytest.raises(Exception, match=r"(?i)mật khẩu|password"):
        agencies.update(ctx, COMMUNE, AgencyFields(pkcs12=str(p12), pkcs12_password_file=str(wrong)), actor="t")
    assert agencies.get(ctx, COMMUNE).signing == "deployment"  # nothing changed


def test_the_agency_s_retention_table_fills_a_dossier_s_retention(deployment: Deployment) -> None:
    client, admin = deployment.client, deployment.as_("province admin")
    for code, procedure in ((f"{DISTRICT}-250601-0001", "1.001612"), (f"{DISTRICT}-250601-0002", "2.000001")):
        client.post("/api/v1/dossiers", json={"code": code, "procedure_code": procedure}, headers=admin)
    chosen = client.post(
        "/api/v1/dossiers", json={"code": f"{DISTRICT}-250601-0003", "retention": "50"}, headers=admin
    ).json()
    with context().sessions() as s:
        kept = dict(s.execute(select(Dossier.code, Dossier.retention).where(Dossier.agency == DISTRICT)).all())
    assert kept[f"{DISTRICT}-250601-0001"] == "20" and kept[f"{DISTRICT}-250601-0002"] == "10"
    assert chosen["retention"] == "50"  # a dossier's own code wins
    assert kept[OWN[COMMUNE].replace(COMMUNE, DISTRICT)] == "20"  # created by the fixture with 1.001612


def test_webhooks_of_a_district_tell_of_its_dossiers_and_its_communes_only(deployment: Deployment) -> None:
    ctx = context()
    mine = webhooks.add_subscriber(ctx, "http://127.0.0.1:9/huyen", None, actor="t", agencies=[DISTRICT])
    assert mine.agencies == [DISTRICT, COMMUNE]  # the district's system hears of its communes too
    every = webhooks.add_subscriber(ctx, "http://127.0.0.1:9/tinh", None, actor="t")
    for code in OWN.values():
        onestop.put_dossier(ctx, code, {"status": "IN_PROCESSING"}, actor="một cửa")
    with ctx.sessions() as s:
        told = s.scalars(select(WebhookDelivery)).all()
        by = {s: sorted(d.event.dossier_code or "" for d in told if d.subscriber_id == s) for s in (mine.id, every.id)}
    assert by[mine.id] == sorted([OWN[COMMUNE], OWN[DISTRICT]]) and by[every.id] == sorted(OWN.values())
    client = deployment.client  # only an administrator of every agency manages subscribers
    scoped = client.get("/api/v1/webhook-deliveries", headers=deployment.as_("commune admin"))
    assert scoped.status_code == 403 and scoped.json()["field"] == "agency"
    body = {"url": "http://127.0.0.1:9/x", "agencies": ["000.99.99.H99"]}
    assert client.post("/api/v1/webhooks", json=body, headers=deployment.as_("province admin")).status_code == 404


def test_the_command_line_registers_agencies_and_their_users(data_dir: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(cli.app, ["agencies", "add", DISTRICT, "--name", NAMES[DISTRICT], "--retention", "*=10"])
    assert added.exit_code == 0, added.output
    sub = ["agencies", "add", COMMUNE, "--name", NAMES[COMMUNE], "--parent", DISTRICT]
    assert runner.invoke(cli.app, sub).exit_code == 0
    bad = runner.invoke(cli.app, ["agencies", "add", "000.31.12.H12", "--name", "X", "--retention", "mười năm"])
    assert bad.exit_code == 2 and "retention" in bad.output
    listed = runner.invoke(cli.app, ["agencies", "list"]).output
    assert f"{COMMUNE}\t{DISTRICT}\t{NAMES[COMMUNE]}\tdeployment" in listed and "*=10" in listed
    renamed = runner.invoke(cli.app, ["agencies", "update", COMMUNE, "--name", "UBND xã Việt Lâm mới"])
    assert renamed.exit_code == 0 and agencies.get(context(), COMMUNE).name == "UBND xã Việt Lâm mới"
    user = runner.invoke(cli.app, ["users", "add", "Cán bộ xã", "--role", "clerk", "--agency", COMMUNE, "-q"])
    assert user.exit_code == 0, user.output
    unknown = runner.invoke(cli.app, ["users", "add", "Ai đó", "--role", "clerk", "--agency", "000.99.99.H99"])
    assert unknown.exit_code == 2 and "000.99.99.H99" in unknown.output
    assert f"cơ quan / agencies: {COMMUNE}\n" in runner.invoke(cli.app, ["users", "list"]).output
    principal = access.authenticate(context().sessions, user.output.strip().splitlines()[-1])
    assert principal.agencies == frozenset({COMMUNE})


@pytest.mark.slow
def test_each_agency_signs_with_its_own_certificate_and_name(
    data_dir: Path, page_png: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The department with a PKCS#12 file of its own; the district and the commune with the demo
    PKI's certificate of their own: each digitized copy is signed by its dossier's agency."""
    monkeypatch.setenv("SOHOA_AUTO_AGENCY_SIGNATURE", "true")
    _clear_caches()
    ctx = context()
    pki = ensure_demo_pki(ctx.settings.pki_dir, ctx.settings.demo_agency)
    p12, password = tmp_path / "so-tu-phap.p12", tmp_path / "so-tu-phap.password"
    p12.write_bytes(demo_person(pki, "Sở Tư pháp tỉnh Hà Giang (khóa riêng)", "mat-khau-so"))
    password.write_text("mat-khau-so")
    _register(p12, password)
    signers = {}
    for agency, code in OWN.items():
        job, _ = accept_scan(ctx, code, page_png, "trang.png")
        run_job(ctx, job.id)
        signed = tmp_path / f"{agency}.pdf"
        with ctx.sessions() as s:
            key = s.scalar(select(Dossier).where(Dossier.code == code)).documents[0].signed_key  # type: ignore[union-attr]
        ctx.store.get_file(key, signed)
        report = verify_pdf(signed, ctx.trust_roots())
        assert report.ok, report.to_dict()
        signers[agency] = report.signatures[0].signer
        text = subprocess.run(["pdftotext", str(signed), "-"], capture_output=True, text=True).stdout
        assert NAMES[agency] in " ".join(text.split()), text  # the agency's name on its stamp
    assert "Common Name: Sở Tư pháp tỉnh Hà Giang (khóa riêng)" in signers[DEPARTMENT]
    assert NAMES[DISTRICT] in signers[DISTRICT] and NAMES[COMMUNE] in signers[COMMUNE]
    assert len(set(signers.values())) == 3 and all("DEMO" in signers[a] for a in (DISTRICT, COMMUNE))

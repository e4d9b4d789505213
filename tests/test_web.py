"""The web pages without a browser: login, CSRF, lock-out, logout, password change, who may open
which page, the message catalogues, the receipt slip and separator sheets (tests/test_web_browser.py
drives them in chromium)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import test_fields
import zxingcpp
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select, update
from test_search import add

import api
from digitize import largeformat, separators
from service import access, dossiers, keys, pageviews, people, run
from service.audit import integrity
from service.context import context
from service.settings import DOSSIER_CODE_PATTERN
from storage.catalog import ApiToken, AuditEvent
from web import admin, archive, desk, pages, stats
from web.i18n import catalogue

CODE = "000.00.12.H12-250527-0001"
PASSWORD = "mật-khẩu-thử-1"
SOHOA = str(Path(sys.executable).parent / "sohoa")
READ = {"clerk", "leader", "seal_keeper", "archivist", "admin"}
UPLOAD = {"scanner", "clerk", "admin"}
ALL = {"scanner", "clerk", "leader", "seal_keeper", "archivist", "admin"}
# The web pages and who may open them (an admin every one), written out here like the API's table
# in tests/test_access.py: a page that loosens or tightens its check fails.
WEB: dict[tuple[str, str], set[str] | None] = {
    ("GET", "/"): None,
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("GET", "/lang/{lang}"): None,
    ("GET", "/docs"): None,
    ("POST", "/logout"): ALL,
    ("GET", "/password"): ALL,
    ("POST", "/password"): ALL,
    ("GET", "/reception"): UPLOAD,
    ("GET", "/reception/open"): UPLOAD,
    ("POST", "/reception"): {"clerk", "admin"},
    ("GET", "/separators.pdf"): UPLOAD,
    ("GET", "/dossiers/{code}/receipt.pdf"): {"clerk", "admin"},
    ("GET", "/dossiers/{code}"): READ,
    ("GET", "/dossiers/{code}/documents"): READ,
    ("POST", "/dossiers/{code}/documents/{number}/remove"): {"clerk", "admin"},
    ("POST", "/dossiers/{code}/transitions"): READ,
    ("POST", "/dossiers/{code}/documents/{number}/signatures"): {"clerk", "leader", "seal_keeper", "admin"},
    ("GET", "/dossiers/{code}/documents/{number}/verification"): READ,
    ("GET", "/archive"): READ,
    ("GET", "/dossiers/{code}/documents/{number}"): READ,
    ("GET", "/dossiers/{code}/documents/{number}/pages/{page}.png"): READ,
    ("GET", "/queue"): READ,
    ("GET", "/statistics"): READ,
    ("GET", "/admin"): {"admin"},
    ("POST", "/admin/users"): {"admin"},
    ("POST", "/admin/users/{token_id}/revoke"): {"admin"},
    ("POST", "/admin/users/{token_id}/demo-key"): {"admin"},
}
PARAMS = {"code": CODE, "number": "1", "page": "1", "token_id": "999", "lang": "en"}


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with TestClient(api.app) as c:
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:300]
    return found.group(1)


def _person(role: str, name: str | None = None) -> tuple[int, str]:
    name = name or f"Người thử {role}"
    row, _token = people.add_person(context(), name, role, PASSWORD, actor="test")
    return row.id, name


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in; the CSRF token of the page it lands on."""
    form = client.get("/login")
    answer = client.post("/login", data={"name": name, "password": password, "csrf": _csrf(form.text)})
    assert answer.status_code == 200 and "/login" not in str(answer.url), answer.text[:500]
    return _csrf(answer.text)


def test_every_web_page_is_in_the_table_and_checks_its_roles(client: TestClient) -> None:
    routes = [r for module in (admin, archive, desk, pages, stats) for r in module.router.routes]
    assert {(m, r.path) for r in routes if isinstance(r, APIRoute) for m in r.methods} == set(WEB)
    assert not any(r.include_in_schema for r in routes if isinstance(r, APIRoute))  # not in the API's schema
    dossiers.create_dossier(context(), CODE, {}, actor="test")
    anonymous = TestClient(api.app)
    for (method, path), allowed in WEB.items():
        url = path.format(**PARAMS)
        if allowed is None:
            continue
        r = anonymous.request(method, url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), (method, path)
    for role in ALL:
        with TestClient(api.app) as browser:
            _person(role)
            csrf = login(browser, f"Người thử {role}")
            for (method, path), allowed in WEB.items():
                if allowed is None or path == "/logout":
                    continue
                r = browser.request(method, path.format(**PARAMS), data={"csrf": csrf}, follow_redirects=False)
                if role in allowed:
                    assert r.status_code not in (401, 403), (method, path, role, r.text[:300])
                else:
                    assert r.status_code == 403, (method, path, role, r.status_code)
                    assert "text/html" in r.headers["content-type"]


def test_wrong_passwords_lock_the_account_and_everything_is_audited(
    client: TestClient,
) -> None:
    token_id, name = _person("clerk", "Trần Văn Bình")
    page = client.get("/login")

    def attempt(who: str, password: str) -> int:
        nonlocal page
        page = client.post("/login", data={"name": who, "password": password, "csrf": _csrf(page.text)})
        return page.status_code

    for _ in range(4):
        assert attempt(name, "sai-mat-khau") == 401 and "Tên hoặc mật khẩu không đúng" in page.text
    assert attempt(name, "sai-mat-khau") == 429 and "tạm khóa" in page.text
    assert attempt(name, PASSWORD) == 429  # the right password too, until the lock-out ends
    with context().sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.action.like("user.%")))]
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(locked_until=None))
        s.commit()
    assert actions == ["user.login_failed"] * 4 + ["user.locked", "user.login_refused"]
    login(client, name)  # the lock-out over
    page = client.get("/login")
    assert attempt("Không Có Ai", PASSWORD) == 401
    assert "Tên hoặc mật khẩu không đúng" in page.text  # the same answer for an unknown name


def test_forms_and_the_api_need_the_sessions_csrf_token(client: TestClient) -> None:
    _person("clerk", "Lê Thị Hoa")
    r = client.post("/login", data={"name": "Lê Thị Hoa", "password": PASSWORD, "csrf": "đoán"})
    assert r.status_code == 403  # the login form's own token (double submit) is missing
    csrf = login(client, "Lê Thị Hoa")
    r = client.post("/reception", data={"code": CODE}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = client.post("/reception", data={"code": CODE, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{CODE}"
    # The API with the session cookie: reads as it is, changes with the X-CSRF-Token header only.
    assert client.get(f"/api/v1/dossiers/{CODE}").json()["code"] == CODE
    body = {"to": "IN_PROCESSING"}
    r = client.post(f"/api/v1/dossiers/{CODE}/transitions", json=body)
    assert r.status_code == 403 and r.json()["field"] == "x-csrf-token"
    r = client.post(f"/api/v1/dossiers/{CODE}/transitions", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["status"] == "IN_PROCESSING"
    [moved] = [h for h in r.json()["history"] if h["to"] == "IN_PROCESSING"]
    assert moved["actor"].startswith("Lê Thị Hoa #")  # audited with the person


def test_logout_and_a_password_change_end_sessions(client: TestClient) -> None:
    _person("archivist", "Phạm Minh Đức")
    csrf = login(client, "Phạm Minh Đức")
    other = TestClient(api.app)
    login(other, "Phạm Minh Đức")
    r = client.post(
        "/password", data={"old_password": "sai", "new_password": "x" * 12, "again": "x" * 12, "csrf": csrf}
    )
    assert "Mật khẩu hiện tại không đúng" in r.text
    new = "mật khẩu mới rất dài"
    r = client.post("/password", data={"old_password": PASSWORD, "new_password": new, "again": new, "csrf": csrf})
    assert r.status_code == 200 and "Đã đổi mật khẩu" in r.text and "/login" in str(r.url)
    assert other.get("/archive", follow_redirects=False).status_code == 303  # the other browser is out
    form = client.get("/login")
    r = client.post("/login", data={"name": "Phạm Minh Đức", "password": PASSWORD, "csrf": _csrf(form.text)})
    assert r.status_code == 401
    csrf = login(client, "Phạm Minh Đức", new)
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/archive", follow_redirects=False).status_code == 303
    report = integrity(context())
    assert report.tokens == []  # password changes are in the log, as the rows say


def test_a_password_hash_swapped_in_the_catalog_is_found_by_the_audit(client: TestClient) -> None:
    victim, _ = _person("leader", "Ngô Văn Lãnh")
    _, attacker = _person("clerk", "Kẻ gian")
    with context().sessions.begin() as s:
        known = s.get(ApiToken, victim + 1)
        assert known is not None
        s.execute(update(ApiToken).where(ApiToken.id == victim).values(password_hash=known.password_hash))
    assert any(f"token {victim}: password_sha256" in p for p in integrity(context()).tokens)
    assert attacker


def test_english_by_a_switch_and_catalogues_alike(client: TestClient) -> None:
    vi, en = catalogue("vi"), catalogue("en")
    assert set(vi) == set(en)
    used = set()
    for template in (Path(api.__file__).parent / "web" / "templates").glob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z_]+)["']\s*[,)]""", template.read_text(encoding="utf-8")))
    for module in (Path(api.__file__).parent / "web").glob("*.py"):
        used |= set(re.findall(r"""(?:redirect\(request, [^,]+, |\bt\()["']([a-z_]+)["']\s*[,)]""", module.read_text()))
    assert len(used) > 100 and used - set(vi) == set()
    assert client.get("/login").text.count("Đăng nhập") >= 2
    page = client.get("/login?lang=en")
    assert "Log in" in page.text and 'lang="en"' in page.text
    assert 'lang="en"' in client.get("/login").text  # the choice stays (cookie)
    assert client.get("/lang/vi?next=//evil.example", follow_redirects=False).headers["location"] == "/"


def test_first_start_makes_an_administrator_and_users_add_sets_passwords(data_dir: Path, tmp_path: Path) -> None:
    password = people.first_admin(context())
    assert password and people.first_admin(context()) is None  # once
    assert (data_dir / "admin-password.txt").read_text().split() == ["admin", password]
    assert oct((data_dir / "admin-password.txt").stat().st_mode)[-3:] == "600"
    assert people.login(context(), "admin", password).principal.role == "admin"
    secret = tmp_path / "pw.txt"
    secret.write_text("mật khẩu của Hương\n", encoding="utf-8")
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir)}
    add = [SOHOA, "users", "add", "Nguyễn Thị Hương", "--role", "clerk", "--password-file", str(secret), "-q"]
    done = subprocess.run(add, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert people.login(context(), "Nguyễn Thị Hương", "mật khẩu của Hương").principal.role == "clerk"
    assert "đăng nhập web" in subprocess.run([SOHOA, "users", "list"], env=env, capture_output=True, text=True).stdout
    short = tmp_path / "short.txt"
    short.write_text("ngắn")
    bad = subprocess.run([*add[:3], "Người khác", *add[4:7], str(short)], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "[password]" in bad.stderr
    with pytest.raises(access.SohoaError, match="Đã có người dùng khác"):
        people.add_person(context(), "Nguyễn Thị Hương", "leader", "mật khẩu khác nữa", actor="test")


def _images(pdf: bytes) -> list[Image.Image]:
    import pdf2image

    return pdf2image.convert_from_bytes(pdf, dpi=200, grayscale=True)


def test_receipt_slip_and_separator_sheets_carry_codes_a_scanner_reads(client: TestClient) -> None:
    _person("clerk", "Hoàng Thu")
    login(client, "Hoàng Thu")
    dossiers.create_dossier(context(), CODE, {"applicant": "Lê Văn Nam", "procedure": "Đăng ký khai sinh"}, actor="t")
    slip = client.get(f"/dossiers/{CODE}/receipt.pdf")
    assert slip.headers["content-type"] == "application/pdf"
    [page] = _images(slip.content)
    formats = {r.format.name: r.text for r in zxingcpp.read_barcodes(page)}
    assert formats == {"QRCode": CODE, "Code128": CODE}
    sheets = _images(client.get("/separators.pdf", params={"code": CODE}).content)
    assert len(sheets) == 2
    found = [separators.find(s, 200, largeformat.analysis_copy(s, 200), DOSSIER_CODE_PATTERN) for s in sheets]
    assert found == [separators.Separator("dossier", CODE, only=True), separators.Separator("document", only=True)]
    assert client.get("/separators.pdf", params={"code": "sai-ma"}).status_code == 422
    with io.BytesIO() as _:
        assert np.asarray(page).shape[1] == 1654  # A4 at 200 dpi


def test_word_boxes_of_a_query_come_from_the_alto_with_or_without_diacritics() -> None:
    alto = (
        '<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout>'
        '<Page WIDTH="1000" HEIGHT="2000"><PrintSpace><TextBlock><TextLine>'
        '<String CONTENT="Đăng" HPOS="100" VPOS="200" WIDTH="50" HEIGHT="20"/>'
        '<String CONTENT="ký," HPOS="160" VPOS="200" WIDTH="30" HEIGHT="20"/>'
        '<String CONTENT="bạn" HPOS="200" VPOS="200" WIDTH="30" HEIGHT="20"/>'
        "</TextLine></TextBlock></PrintSpace></Page>"
        '<Page WIDTH="500" HEIGHT="500"><PrintSpace><TextBlock><TextLine>'
        '<String CONTENT="KÝ" HPOS="50" VPOS="100" WIDTH="50" HEIGHT="25"/>'
        "</TextLine></TextBlock></PrintSpace></Page></Layout></alto>"
    ).encode()
    boxes = pageviews.word_boxes(alto, "dang ky")
    assert boxes == {1: [(0.1, 0.1, 0.05, 0.01), (0.16, 0.1, 0.03, 0.01)], 2: [(0.1, 0.2, 0.1, 0.05)]}
    assert pageviews.word_boxes(alto, "") == {}


def test_the_queue_puts_the_earliest_due_first_and_settings_hide_passwords(data_dir: Path) -> None:
    import datetime as dt

    ctx = context()
    for n, due in ((1, None), (2, dt.date(2025, 6, 30)), (3, dt.date(2025, 6, 1))):
        meta = {"due_on": due} if due else {}
        dossiers.create_dossier(ctx, f"000.00.12.H12-250527-000{n}", meta, actor="test")
    dossiers.transition(ctx, "000.00.12.H12-250527-0002", "REJECTED", actor="test", reason="thiếu giấy tờ")
    assert [d.code[-1] for d in dossiers.work_queue(ctx).dossiers] == ["3", "1"]  # rejected: not waiting
    from service.settings import Settings, shown

    values = dict(shown(Settings(database_url="postgresql+psycopg://sohoa:bi-mat@db/sohoa")))
    assert values["SOHOA_DATABASE_URL"] == "postgresql+psycopg://sohoa:***@db/sohoa"


def test_the_statistics_page_shows_the_catalog_s_figures_as_a_table_a_chart_and_csv(client: TestClient) -> None:
    """Issue 18, page 5: the figures of service.statistics (exact, tested there against a hand
    count) by period and agency with its roll-up, a bar chart drawn on the server, the CSV."""
    ctx = context()
    communes = (("000.05.12.H12", "250527"), ("000.05.12.H12", "250528"), ("000.06.12.H12", "250602"))
    for n, (agency, day) in enumerate(communes, start=1):
        dossiers.create_dossier(ctx, f"{agency}-{day}-000{n}", {}, actor="test")
    _person("archivist", "Lưu trữ Lan")
    login(client, "Lưu trữ Lan")
    page = client.get("/statistics", params={"period": "month", "by": "agency"})
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>(2025-0[56])</td><td>([0-9.H]+)( \([^)]*\))?</td><td>(\d+)</td>", page.text)
    got = {(period, agency, bool(rollup)): int(received) for period, agency, rollup, received in rows}
    assert got[("2025-05", "000.05.12.H12", False)] == 2 and got[("2025-06", "000.06.12.H12", False)] == 1
    assert got[("2025-05", "000.00.12.H12", True)] == 2  # the district rolls its communes up
    bars = re.findall(r'<rect [^>]*height="([0-9.]+)"[^>]*><title>Tiếp nhận: (\d+)</title>', page.text)
    assert [int(v) for _, v in bars] == [2, 1] and float(bars[0][0]) == 2 * float(bars[1][0])
    assert "Tổng</th><td>3</td>" in page.text
    csv_url = re.search(r'href="(/api/v1/statistics\?[^"]+)" download', page.text)
    assert csv_url is not None
    answer = client.get(csv_url.group(1).replace("&amp;", "&"))  # the API, with the session cookie
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "000.05.12.H12" in answer.text
    english = client.get("/statistics", params={"period": "year", "by": "none", "lang": "en"})
    assert "Digitization and results" in english.text and "<td>2025</td><td>3</td>" in english.text


def test_the_archive_filters_on_a_document_s_fields_and_pages_through_its_hits(client: TestClient) -> None:
    """The archive page's filters beyond the dossier's: the document's type, number, issuer and
    date of issue (the API's search, tests/test_fields.py); 20 hits a page, then the next."""
    with context().sessions.begin() as s:
        run.record(
            s, add(s, CODE, []), test_fields._digitized(test_fields.READ)
        )  # a decision: 125/QĐ-UBND of SỞ Y TẾ, 2025-02-05
        for n in range(1, 26):
            add(s, f"000.00.13.H13-250601-{n:04d}", [f"Quyết định số {n} khác"])
    _person("archivist", "Lưu trữ Lan")
    login(client, "Lưu trữ Lan")

    def found(**filters: str) -> tuple[int, str]:
        page = client.get("/archive", params={"q": "quyết định", **filters})
        assert page.status_code == 200
        total = re.search(r"(\d+) trang khớp", page.text)
        return (int(total.group(1)) if total else -1), page.text

    everything, first = found()
    assert everything == 26 and first.count('<p class="snippet">') == 20
    following = re.search(r'href="([^"]+)" rel="next"', first)
    assert following is not None and 'rel="prev"' not in first
    second = client.get(following.group(1).replace("&amp;", "&")).text
    assert second.count('<p class="snippet">') == 6 and 'rel="prev"' in second and 'rel="next"' not in second
    for filters, total in (
        ({"type": "Quyết định"}, 1),
        ({"number": "125/qd-ubnd"}, 1),  # typed without its marks
        ({"issuer": "so y te"}, 1),
        ({"issued_from": "2025-02-05", "issued_to": "2025-02-05"}, 1),
        ({"issued_from": "2025-02-06"}, 0),
    ):
        assert found(**filters)[0] == total, filters
    _, text = found(type="Quyết định")
    assert '<option value="Quyết định" selected>' in text  # the filter shown as chosen
    _, backwards = found(issued_from="2025-03-01", issued_to="2025-02-01")
    assert 'class="flash error"' in backwards  # the service's reason, not a crash


def test_an_administrator_makes_a_demo_signing_key_from_the_admin_page(client: TestClient) -> None:
    """On a fresh install (the demo PKI) a clerk can vouch from the pages without the command line:
    the administrator makes their DEMO key, whose PIN is shown once and unlocks it."""
    clerk_id, clerk = _person("clerk", "Phạm Thu Trang")
    _person("admin", "Quản trị Hải")
    csrf = login(client, "Quản trị Hải")
    page = client.get("/admin").text
    assert f'action="/admin/users/{clerk_id}/demo-key"' in page
    made = client.post(f"/admin/users/{clerk_id}/demo-key", data={"csrf": csrf})
    pin = re.search(r"chỉ hiện một lần, đưa cho người đó\): (\S+)</p>", made.text)
    assert made.status_code == 200 and pin is not None, made.text[-800:]
    assert f'action="/admin/users/{clerk_id}/demo-key"' not in made.text  # one key: the button is gone
    who = people.login(context(), clerk, PASSWORD).principal
    with keys.personal_signer(context(), who, pin.group(1)) as signer:
        assert signer.signer.signing_cert is not None
        assert "DEMO" in signer.signer.signing_cert.subject.human_friendly
    with context().sessions() as s:
        bound = s.scalars(select(AuditEvent).where(AuditEvent.action == "token.key_bound")).one()
    assert bound.actor.startswith("Quản trị Hải")
    again = client.post(f"/admin/users/{clerk_id}/demo-key", data={"csrf": "sai"}, follow_redirects=False)
    assert again.status_code == 403  # a form without the session's CSRF token


def test_the_archive_says_about_when_the_total_is_an_estimate(
    service_on_each_catalog: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL estimates a total above EXACT_UP_TO matches from a sample of the index; the page
    then says "Khoảng" (about), and writes counts as Vietnamese does (2.900). SQLite counts
    exactly. Scaled down: 3,000 pages, exact up to 400, samples of 500 pages."""
    import random

    from sqlalchemy import text

    import storage.search

    monkeypatch.setattr(storage.search, "EXACT_UP_TO", 400)
    monkeypatch.setattr(storage.search, "SAMPLE_PAGES", 500)
    rng = random.Random(7)
    ctx = context()
    with ctx.sessions.begin() as s:
        for n in range(100):
            words = ["đất đai", "hộ tịch", "xây dựng"]
            add(
                s, f"000.00.12.H12-2505{n % 28 + 1:02d}-{n:04d}", [" ".join(rng.choices(words, k=3)) for _ in range(30)]
            )
        add(s, "000.00.12.H12-250527-9999", ["Giấy chứng nhận hiếm gặp"] * 150)
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("ANALYZE page_search"))
        truth = s.execute(text("SELECT count(*) FROM pages WHERE text LIKE '%đất%'")).scalar_one()
    _person("archivist", "Lưu trữ Lan")
    with TestClient(api.app) as client:
        login(client, "Lưu trữ Lan")
        common = client.get("/archive", params={"q": "dat"}).text
        rare = client.get("/archive", params={"q": "hiếm"}).text
        english = client.get("/archive", params={"q": "hiem", "lang": "en"}).text
    found = re.search(r"(Khoảng )?([\d.]+) trang khớp", common)
    assert found is not None and truth > 1500
    estimated = found.group(1) is not None
    assert estimated == service_on_each_catalog.startswith("postgresql")
    total = int(found.group(2).replace(".", ""))
    assert total == truth if not estimated else abs(total - truth) <= 0.25 * truth
    assert "." in found.group(2)  # thousands written the Vietnamese way
    assert "150 trang khớp." in rare and "Khoảng 150" not in rare
    assert "150 matching pages." in english

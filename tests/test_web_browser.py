"""The web pages in a real browser: Debian's chromium driven by Playwright, against `sohoa serve`.

A clerk receives a dossier and uploads a two-page scan, watches it finish and sees the
thumbnails; an archivist finds it typed without diacritics and opens the hit with the words boxed
on the page; the clerk vouches for the copy with their key, a leader seals it, the verification
says valid, and the signed PDF downloaded from the page passes `sohoa verify`. A failed document
is scanned again through the page in pieces across a dropped line, and an upload cut short goes
on from the server's offset after the page is reloaded (never in another person's session). The
reception page works from the keyboard alone, and axe-core (the repository's copy) finds no
serious or critical violation on any page. Screenshots at 1366×768 go to the test's folder (SOHOA_SCREENSHOTS=dir
copies them there too, as docs/screenshots/ was made)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright import sync_api as playwright_api
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_failures import BROKEN_TIFF

from conftest import ROOT, serve
from pages import TEXT, render_page
from proxy import Proxy

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
AXE = ROOT / "tests" / "resources" / "axe-core" / "axe.min.js"
SOHOA = str(Path(sys.executable).parent / "sohoa")
CODE = "000.00.12.H12-250527-0001"
PASSWORD = "mật khẩu thử nghiệm"
PEOPLE = {
    "clerk": "Nguyễn Thị Hương",
    "leader": "Trần Văn Lãnh",
    "archivist": "Lê Lưu Trữ",
    "admin": "Quản Trị Viên",
    "scanner": "Trạm quét tầng 1",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server with a clerk, a leader (each with a DEMO personal key) and an archivist."""
    folder = tmp_path_factory.mktemp("web")
    env = {**os.environ, "SOHOA_DATA_DIR": str(folder / "var"), "SOHOA_OCR_JOBS": "1", "SOHOA_API_PROCESSES": "1"}
    secret = folder / "password.txt"
    secret.write_text(PASSWORD, encoding="utf-8")
    pins = {}
    for role, name in PEOPLE.items():
        add = [SOHOA, "users", "add", name, "--role", role, "--password-file", str(secret)]
        subprocess.run(add, env=env, capture_output=True, check=True)
    listed = subprocess.run([SOHOA, "users", "list"], env=env, capture_output=True, text=True, check=True).stdout
    ids = {line.split("\t")[2]: line.split("\t")[0] for line in listed.splitlines()}
    for role in ("clerk", "leader"):
        key = subprocess.run(
            [SOHOA, "users", "key", ids[PEOPLE[role]], "--demo"], env=env, capture_output=True, text=True
        )
        assert key.returncode == 0, key.stderr
        pins[role] = key.stdout.strip()
    server, base = serve(env)
    try:
        yield {"base": base, "env": env, "pins": pins, "folder": folder}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def _page(browser: Any, site: dict[str, Any], role: str, base: str = "") -> Any:
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, base_url=base or site["base"], accept_downloads=True, locale="vi-VN"
    )
    page = context.new_page()
    page.goto("/login")
    page.fill("#name", PEOPLE[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:500]
    return page


def _check(page: Any, name: str, shots: Path, show: str = "") -> None:
    """A screenshot at 1366×768 (scrolled to ``show``), and axe-core: no serious or critical violation."""
    shots.mkdir(exist_ok=True)
    if show:
        page.locator(show).scroll_into_view_if_needed()
    page.screenshot(path=str(shots / f"{name}.png"))
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found]
    assert [b for b in bad if b[1] in ("serious", "critical")] == [], (name, bad)
    if target := os.environ.get("SOHOA_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shots / f"{name}.png", Path(target) / f"{name}.png")


def _scan(folder: Path) -> Path:
    """Two pages: the birth-registration form, and a second page scanned upside down."""
    first = render_page(dpi=200, mode="L")
    lines = [
        "GIẤY XÁC NHẬN CƯ TRÚ",
        "Người được xác nhận: Nguyễn Văn An",
        *TEXT[3:],
    ]  # enough text to tell up from down
    second = render_page(lines, dpi=200, mode="L")
    path = folder / "ho-so-2-trang.tif"
    first.save(path, dpi=(200, 200), save_all=True, append_images=[second.rotate(180)], compression="tiff_lzw")
    return path


def _wait(predicate: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_reception_page_works_from_the_keyboard(browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    page = _page(browser, site, "clerk")
    page.goto("/password")  # a page without autofocus: the first Tab stop is the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.goto("/reception")
    assert page.evaluate("document.activeElement.id") == "code"  # ready for the hand scanner
    page.keyboard.type("000.00.12.H12-25")
    assert page.get_attribute("#code", "aria-invalid") == "true"
    page.keyboard.type("0528-0009\n")  # a hand scanner ends the code with Enter: on to the details
    assert page.evaluate("document.activeElement.id") == "title"
    page.keyboard.type("Đăng ký kết hôn")
    for _ in range(8):  # procedure, applicant, the due date's day, month and year, then the button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "BUTTON":
            break
    assert page.evaluate("document.activeElement.textContent") == "Tạo hồ sơ"
    page.keyboard.press("Enter")
    page.wait_for_url("**/dossiers/000.00.12.H12-250528-0009")
    assert "Đã tạo hồ sơ 000.00.12.H12-250528-0009" in page.text_content("main")
    page.wait_for_load_state()
    for _ in range(30):  # on to the file picker, which Space opens
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "files":
            break
    assert page.evaluate("document.activeElement.id") == "files", page.evaluate("document.activeElement.outerHTML")
    scan, note = tmp_path / "giay-hen.png", tmp_path / "ghi-chu.txt"
    render_page(["GIẤY HẸN TRẢ KẾT QUẢ", "Nguyễn Văn An"], dpi=100, mode="L").save(scan, dpi=(100, 100))
    note.write_text("không phải bản quét", encoding="utf-8")
    chooser = None
    for _ in range(3):  # a loaded machine's chromium has let a key press pass without a chooser: press again
        assert page.evaluate("document.activeElement.id") == "files"
        try:
            with page.expect_file_chooser(timeout=5000) as opened:
                page.keyboard.press("Space")
        except PlaywrightTimeout:
            continue
        chooser = opened.value
        break
    assert chooser is not None, "Space on the focused file field never opened the file chooser"
    chooser.set_files([str(scan), str(note)])
    page.keyboard.press("Tab")  # the kind of document: the issued result, chosen with the arrow key
    assert page.evaluate("document.activeElement.id") == "kind"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.value") == "result"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Tải lên"
    page.keyboard.press("Enter")
    page.wait_for_selector("#upload-list li:has-text('ghi-chu.txt'):has-text('không gửi được')")
    sent = page.text_content("#upload-list li:has-text('giay-hen.png')")
    assert "đã gửi, đang chờ số hóa" in sent, sent
    refused = page.text_content("#upload-list li:has-text('ghi-chu.txt')")
    assert "không phải PDF, TIFF, JPEG, JPEG 2000 hay PNG" in refused, refused  # the server's reason, in Vietnamese
    with sqlite3.connect(site["folder"] / "var" / "sohoa.db") as catalog:
        kinds = catalog.execute("SELECT kind FROM documents WHERE dossier_code = '000.00.12.H12-250528-0009'")
        assert kinds.fetchall() == [("result",)]


def test_a_dossier_from_reception_to_signed_copy(browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    shots = site["folder"] / "screenshots"
    proxy = Proxy()  # the clerk's line to the server, which drops in the middle of the upload
    proxy.follow(site["base"])
    clerk = _page(browser, site, "clerk", base=proxy.url)
    _check(clerk, "tiep-nhan", shots)
    clerk.fill("#code", CODE)
    clerk.fill("#title", "Đăng ký khai sinh cho cháu Nguyễn Văn An")
    clerk.fill("#applicant", "Nguyễn Thị Hương")
    clerk.click("text=Tạo hồ sơ")
    clerk.wait_for_url(f"**/dossiers/{CODE}")
    _upload_through_a_drop(clerk, proxy, site, _scan(tmp_path))
    clerk.wait_for_selector("article.document[data-status=done]", timeout=240_000)  # live: no reload
    thumbs = clerk.locator("ol.thumbs img")
    assert thumbs.count() == 2
    clerk.wait_for_function("[...document.querySelectorAll('ol.thumbs img')].every(i => i.naturalWidth > 0)")
    assert "đã xoay 180°" in clerk.text_content("ol.thumbs")  # the turn found, on its thumbnail
    _check(clerk, "ho-so", shots, show="ol.thumbs")

    archivist = _page(browser, site, "archivist")
    archivist.fill("#q", "dang ky khai sinh")  # typed without diacritics
    archivist.keyboard.press("Enter")
    archivist.wait_for_selector("ol.hits li")
    marked = {w.lower() for w in archivist.locator("ol.hits mark").all_inner_texts()}
    assert {"khai", "sinh"} <= marked and marked <= {"đăng", "ký", "khai", "sinh"}, marked  # as written
    _check(archivist, "tra-cuu", shots)
    archivist.click("ol.hits li a")
    archivist.wait_for_selector("mark.hit")
    assert archivist.locator("mark.hit").count() >= 3  # đăng, ký, khai sinh… boxed on the page image
    archivist.wait_for_function("document.getElementById('page-image').naturalWidth > 0")
    _check(archivist, "xem-tai-lieu", shots)

    clerk.reload()
    clerk.fill("input[name=page_count]", "2")
    clerk.check("input[name=pages_readable]")
    clerk.fill("input[name=pin]", site["pins"]["clerk"])
    clerk.click("form:has(input[name=pin]) button[type=submit]")
    clerk.wait_for_selector("#verdict, .flash.error", timeout=60_000)
    assert clerk.locator("#verdict").count() == 1, clerk.text_content("main")
    leader = _page(browser, site, "leader")
    _check(leader, "ho-so-can-xu-ly", shots)
    leader.goto(f"/dossiers/{CODE}")
    leader.click("button:has-text('Đóng dấu cơ quan')")
    leader.wait_for_selector("#verdict, .flash.error", timeout=60_000)
    assert "Hợp lệ" in leader.text_content("#verdict")
    assert leader.locator("tbody tr").count() == 2  # the officer's vouching and the agency's seal
    _check(leader, "kiem-tra-chu-ky", shots)
    with leader.expect_download() as download:
        leader.click("#download-signed")
    signed = tmp_path / "signed.pdf"
    download.value.save_as(signed)
    verified = subprocess.run([SOHOA, "verify", str(signed)], env=site["env"], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    leader.goto("/statistics?period=day&by=none&received_from=2025-05-27&received_to=2025-05-27")
    row = leader.locator("table.stats tbody tr").first.locator("td").all_inner_texts()
    assert row[:4] == ["2025-05-27", "1", "1", "1"], row  # received, digitized, digitized and signed


def _upload_through_a_drop(clerk: Any, proxy: Proxy, site: dict[str, Any], scan: Path) -> None:
    """The scan in 32 KiB pieces, hashed without crypto.subtle (as on a plain-HTTP office address);
    the line cut in the middle of a piece, then the server out of reach for 2 s: the page waits,
    asks the server its offset and goes on. One document, one session, the file's very bytes."""
    clerk.context.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined })")
    clerk.reload()
    assert clerk.evaluate("window.crypto.subtle === undefined")
    data = _send_cut_halfway(clerk, proxy, "#upload", scan, 32 * 1024)
    clerk.wait_for_selector("#upload-list li:has-text('mất kết nối, thử lại sau')")
    time.sleep(2)
    proxy.follow(site["base"])
    clerk.wait_for_selector("#upload-list li:has-text('đã gửi, đang chờ số hóa')", timeout=60_000)
    sha = hashlib.sha256(data).hexdigest()
    with sqlite3.connect(site["folder"] / "var" / "sohoa.db") as catalog:
        assert catalog.execute("SELECT count(*) FROM documents WHERE original_sha256 = ?", (sha,)).fetchone() == (1,)
        sessions = catalog.execute("SELECT id, state, received FROM upload_sessions WHERE sha256 = ?", (sha,))
        [(upload_id, state, received)] = sessions.fetchall()
    assert (state, received) == ("done", len(data))
    assert not (site["folder"] / "var" / "uploads" / upload_id).exists()  # its bytes handed to the store
    original = clerk.request.get(f"/api/v1/dossiers/{CODE}/documents/1/original")
    assert hashlib.sha256(original.body()).hexdigest() == sha


def _send_cut_halfway(page: Any, proxy: Proxy, form: str, scan: Path, piece: int) -> bytes:
    """``scan`` sent from ``form`` in pieces of ``piece`` bytes, the line cut in the middle of a
    piece halfway through and the server then out of reach (until ``proxy.follow``); its bytes."""
    data = scan.read_bytes()
    assert len(data) > 4 * piece, len(data)  # several pieces
    page.evaluate("([form, piece]) => { document.querySelector(form).dataset.piece = String(piece); }", [form, piece])
    with proxy.lock:
        proxy.cut_at, proxy.down_on_cut = proxy.upstream + len(data) // 2, True
    page.set_input_files(f"{form} input[type=file]", [str(scan)])
    page.click(f"{form} button[type=submit]")
    _wait(lambda: proxy.cuts == 1, 60, "the cut")
    return data


def test_a_scanner_station_sends_scans_to_a_dossier_received(
    browser: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    code = "000.00.12.H12-250529-0003"
    clerk = _page(browser, site, "clerk")
    clerk.fill("#code", code)
    clerk.click("text=Tạo hồ sơ")
    clerk.wait_for_url(f"**/dossiers/{code}")
    station = _page(browser, site, "scanner")
    assert station.url.endswith("/reception")
    _check(station, "tram-quet", site["folder"] / "screenshots")
    station.keyboard.type(f"{code}\n")  # the hand scanner: the code, then Enter moves on to the files
    assert station.evaluate("document.activeElement.id") == "station-files"
    page = tmp_path / "trang.png"
    render_page(dpi=200, mode="L").save(page, dpi=(200, 200))
    station.set_input_files("#station-files", [str(page)])
    station.click("#station-upload button[type=submit]")
    station.wait_for_selector("#station-list li:has-text('đã số hóa')", timeout=180_000)


def test_admin_and_docs_pages(browser: Any, site: dict[str, Any]) -> None:
    shots = site["folder"] / "screenshots"
    context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=site["base"], locale="vi-VN")
    page = context.new_page()
    page.goto("/")
    assert "/login" in page.url
    _check(page, "dang-nhap", shots)
    page.fill("#name", PEOPLE["admin"])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto("/admin")
    assert "database" in page.text_content("main") and "SOHOA_DATA_DIR" in page.text_content("main")
    _check(page, "quan-tri", shots)
    page.goto("/statistics?period=year&by=agency")
    assert page.locator("svg.chart").count() == 1 and "Thống kê" in page.text_content("h1")
    _check(page, "thong-ke", shots)
    page.goto("/admin")
    page.click("text=English")
    assert "Administration" in page.text_content("h1")
    elsewhere: list[str] = []  # nothing may come from anywhere but the server: /docs works offline
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(site["base"])
            else (elsewhere.append(route.request.url), route.abort())
        ),
    )
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info", timeout=30_000)
    assert elsewhere == []
    assert Image.open(shots / "quan-tri.png").size == (1366, 768)


def _at_new_dossier(browser: Any, site: dict[str, Any], code: str) -> tuple[Any, Proxy]:
    """The clerk, on a line through a proxy that can drop it, on the page of a dossier just received."""
    proxy = Proxy()
    proxy.follow(site["base"])
    page = _page(browser, site, "clerk", base=proxy.url)
    page.fill("#code", code)
    page.click("text=Tạo hồ sơ")
    page.wait_for_url(f"**/dossiers/{code}")
    return page, proxy


def _catalog(site: dict[str, Any], query: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(site["folder"] / "var" / "sohoa.db") as catalog:
        return catalog.execute(query, args).fetchall()


def test_a_failed_document_is_scanned_again_in_pieces(browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    """The replace form sends the new scan through an upload session: its progress shown, the line
    cut in the middle of a piece, taken up from the server's offset; the same document replaced,
    its job queued anew, the audit naming the clerk."""
    code = "000.00.12.H12-250530-0004"
    clerk, proxy = _at_new_dossier(browser, site, code)
    broken = tmp_path / "hong.tif"
    broken.write_bytes(BROKEN_TIFF)
    clerk.set_input_files("#files", [str(broken)])
    clerk.click("#upload button[type=submit]")
    clerk.wait_for_selector("article.document[data-status=failed]", timeout=120_000)

    scan = tmp_path / "quet-lai.png"
    render_page(dpi=150, mode="L").save(scan, dpi=(150, 150))
    clerk.click("article.document summary")
    data = _send_cut_halfway(clerk, proxy, "form.replace", scan, 8 * 1024)
    shown = "#upload-list li:has-text('quet-lai.png')"
    clerk.wait_for_selector(f"{shown}:has-text('mất kết nối, thử lại sau')")
    held = clerk.locator(f"{shown} progress").evaluate("bar => bar.value")
    assert 0 < held < len(data), held  # the bytes the server holds, on the bar
    proxy.follow(site["base"])
    clerk.wait_for_selector(f"{shown}:has-text('đã gửi, đang chờ số hóa')", timeout=60_000)

    sha = hashlib.sha256(data).hexdigest()
    [(number, name, original)] = _catalog(
        site, "SELECT number, original_name, original_sha256 FROM documents WHERE dossier_code = ?", code
    )
    assert (number, name, original) == (1, "quet-lai.png", sha)
    jobs = _catalog(site, "SELECT status, posted_by FROM jobs WHERE dossier_code = ? ORDER BY created_at", code)
    assert len(jobs) == 2 and jobs[0][0] == "failed" and jobs[1][0] != "failed", jobs
    [(state, received, options)] = _catalog(
        site, "SELECT state, received, options FROM upload_sessions WHERE sha256 = ?", sha
    )  # one session, taken up after the cut
    assert (state, received, options) == ("done", len(data), '{"replaces": 1}')
    [(actor, detail)] = _catalog(
        site, "SELECT actor, detail FROM audit_events WHERE action = 'document.replaced' AND dossier_code = ?", code
    )
    assert actor.startswith(PEOPLE["clerk"] + " #") and jobs[1][1] == actor and "quet-lai.png" in detail
    assert clerk.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('sohoa.upload:'))") == []


def test_an_upload_is_taken_up_again_after_the_page_is_reloaded(
    browser: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    """A scan half sent when the line drops; the page reloaded, the same file picked again: the
    page asks the server its offset and sends only the rest, in the same session."""
    code = "000.00.12.H12-250530-0005"
    clerk, proxy = _at_new_dossier(browser, site, code)
    scan = tmp_path / "ho-so-lon.tif"
    render_page(dpi=200, mode="L").save(scan, dpi=(200, 200))  # uncompressed: some 3.8 MB
    data = _send_cut_halfway(clerk, proxy, "#upload", scan, 256 * 1024)
    clerk.wait_for_selector("#upload-list li:has-text('thử lại sau 4 giây')")  # the page waits 4 s: reload now
    sha = hashlib.sha256(data).hexdigest()
    [(upload_id, held)] = _catalog(site, "SELECT id, received FROM upload_sessions WHERE sha256 = ?", sha)
    assert 0 < held < len(data), held

    proxy.follow(site["base"])
    clerk.on("dialog", lambda dialog: dialog.accept())  # leave the page while a file is on its way
    clerk.reload()
    kept = clerk.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('sohoa.upload:'))")
    assert len(kept) == 1 and code in kept[0], kept
    before = proxy.upstream
    clerk.evaluate("document.getElementById('upload').dataset.piece = String(256 * 1024)")
    clerk.set_input_files("#files", [str(scan)])
    clerk.click("#upload button[type=submit]")
    done = "#upload-list li:has-text('đã gửi, đang chờ số hóa')"
    clerk.wait_for_selector(done, timeout=60_000)
    said = clerk.text_content(done)
    assert f"máy chủ đã có {held / (1 << 20):.1f}/{len(data) / (1 << 20):.1f} MB" in said, said
    sent = proxy.upstream - before
    assert sent < len(data) - held + 64 * 1024, (sent, len(data), held)  # the rest, and a few headers
    [(same, state, received)] = _catalog(site, "SELECT id, state, received FROM upload_sessions WHERE sha256 = ?", sha)
    assert (same, state, received) == (upload_id, "done", len(data))
    [(original,)] = _catalog(site, "SELECT original_sha256 FROM documents WHERE dossier_code = ?", code)
    assert original == sha
    assert clerk.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('sohoa.upload:'))") == []

    # Another person's session for the same file, found under this one's entry (as another login on
    # the same PC could leave): the server does not give it, and the page opens a session of its own.
    station = _page(browser, site, "scanner")
    csrf = station.get_attribute("meta[name=csrf-token]", "content")
    body = {"code": code, "name": scan.name, "size": len(data), "sha256": sha}
    headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
    foreign = station.request.post("/api/v1/uploads", data=json.dumps(body), headers=headers).json()
    entry = {"url": foreign["upload_url"], "sha256": sha, "expires_at": foreign["expires_at"]}
    clerk.evaluate("([key, entry]) => localStorage.setItem(key, JSON.stringify(entry))", [kept[0], entry])
    clerk.set_input_files("#files", [str(scan)])
    clerk.click("#upload button[type=submit]")
    clerk.wait_for_selector("#upload-list li:nth-child(2):has-text('tệp này đã nhận trước đó')", timeout=60_000)
    assert "tiếp tục" not in clerk.text_content("#upload-list li:nth-child(2)")
    rows = _catalog(site, "SELECT id, state, received FROM upload_sessions WHERE sha256 = ?", sha)
    sessions = {row[0]: row[1:] for row in rows}
    assert len(sessions) == 3 and sessions.pop(foreign["id"]) == ("open", 0), rows  # not taken up
    assert upload_id in sessions and set(sessions.values()) == {("done", len(data))}, rows  # a new one instead

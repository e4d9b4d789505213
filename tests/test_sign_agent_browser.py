"""The USB token on the clerk's PC, from the sign page, in a real browser: Debian's chromium
driven by Playwright against `sohoa serve`, the local agent `sohoa sign-agent --serve` on a
SoftHSM2 token whose certificate comes from the test PKI (trusted by the service). With no agent
running the page says so and shows the command; with it, the page signs after the clerk's yes at
the agent's console, and the signed PDF carries a valid signature by the token's certificate."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certomancer.registry import CertLabel
from playwright import sync_api as playwright_api
from pyhanko.pdf_utils.reader import PdfFileReader
from test_web_browser import ARGS, AXE, CHROMIUM

from conftest import MODULE, SOHOA, free_port, serve
from signing import verify_pdf

pytestmark = pytest.mark.slow

CODE = "000.00.12.H12-250601-0004"
CLERK = "Phạm Thị Ký"
PASSWORD = "mật khẩu thử nghiệm"


@pytest.fixture
def site(token, page_png: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A server trusting the test PKI's root, a clerk who may log in, and one digitized page in a dossier."""
    test_pki, _ = token
    env = {**os.environ, "SOHOA_DATA_DIR": str(tmp_path / "var"), "SOHOA_OCR_JOBS": "1", "SOHOA_API_PROCESSES": "1",
           "SOHOA_TRUST_ROOTS": str(test_pki.root_pem)}  # fmt: skip
    secret = tmp_path / "password.txt"
    secret.write_text(PASSWORD, encoding="utf-8")
    for command in (["users", "add", CLERK, "--role", "clerk", "--password-file", str(secret)],
                    ["process", CODE, str(page_png)]):  # fmt: skip
        done = subprocess.run([SOHOA, *command], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    server, base = serve(env)
    try:
        yield {"base": base, "env": env}
    finally:
        server.terminate()
        server.wait(timeout=30)


class Agent:
    """`sohoa sign-agent --serve` with its console: what it says, line by line; what the clerk types."""

    def __init__(self, base: str, port: int, pin_file: Path) -> None:
        command = [SOHOA, "sign-agent", "--serve", "--origin", base, "--port", str(port), "--module", str(MODULE),
                   "--token", "sohoa", "--key", "agency", "--pin-file", str(pin_file)]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout or ()])
        reader.daemon = True
        reader.start()

    def said(self, wanted: str, seconds: float = 60) -> str:
        while True:
            line = self.lines.get(timeout=seconds)
            if wanted in line:
                return line

    def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def test_a_clerk_signs_with_the_usb_token_on_their_pc(site: dict[str, Any], token, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    test_pki, pin_file = token
    port = free_port()
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(
            viewport={"width": 1366, "height": 768}, base_url=site["base"], accept_downloads=True, locale="vi-VN"
        )
        page = context.new_page()
        page.goto("/login")
        page.fill("#name", CLERK)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"/dossiers/{CODE}")
        form = page.locator("form.token-sign")
        form.locator("input[name=paper_pages]").fill("1")
        form.locator("input[name=paper_readable]").check()
        form.locator("input[name=agent_port]").fill(str(port))
        command = form.locator("pre").text_content() or ""
        assert f"--origin {site['base']} --port {port}" in command  # the very command to run
        form.locator("button:has-text('Ký bằng USB token trên máy này')").click()
        state = form.locator(".token-state")
        state.locator("text=Chương trình ký không trả lời").wait_for(timeout=30_000)  # no agent yet
        assert f"cổng {port}" in (state.text_content() or "")
        form.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "ky-usb-token.png"))
        page.add_script_tag(path=str(AXE))
        found = page.evaluate("async () => (await axe.run(document)).violations")
        assert [(v["id"], v["impact"]) for v in found if v["impact"] in ("serious", "critical")] == []

        agent = Agent(site["base"], port, pin_file)
        try:
            agent.said(f"http://127.0.0.1:{port}")
            form.locator("button[type=submit]").click()
            question = agent.said("[c/K]")
            assert f"tài liệu 1 của hồ sơ {CODE}, xác nhận bản giấy 1 trang" in question and site["base"] in question
            state.locator("text=Xác nhận ký trong cửa sổ của chương trình ký").wait_for()
            agent.type("c\n")
            page.wait_for_url("**/verification", timeout=60_000)
        finally:
            agent.stop()
        assert "Hợp lệ" in (page.text_content("#verdict") or "")
        assert "UBND xã Hòa Bình" in (page.text_content("tbody") or "")  # the token's certificate
        with page.expect_download() as download:
            page.click("#download-signed")
        signed = tmp_path / "signed.pdf"
        download.value.save_as(signed)
        browser.close()
    report = verify_pdf(signed, [test_pki.root_pem])
    assert report.ok and [s.signer_name for s in report.signatures] == ["UBND xã Hòa Bình"], report.to_dict()
    with signed.open("rb") as f:
        [embedded] = PdfFileReader(f).embedded_signatures
        assert embedded.signer_cert.dump() == test_pki.arch.get_cert(CertLabel("agency")).dump()

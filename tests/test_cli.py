"""The sohoa command: the same steps without a server; bad input never shows a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS
from digitize.validate import check_pdfa

SOHOA = str(Path(sys.executable).parent / "sohoa")


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOHOA_DATA_DIR": str(data_dir), "SOHOA_OCR_JOBS": "2"}
    return subprocess.run([SOHOA, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli") / "var"


def test_digitize_sign_verify(page_png: Path, var: Path, tmp_path: Path) -> None:
    pdf, signed = tmp_path / "ho-so.pdf", tmp_path / "ho-so-ky.pdf"
    r = run("digitize", str(page_png), "-o", str(pdf), "--code", "000.00.12.H12-250527-0001", data_dir=var)
    assert r.returncode == 0, r.stderr
    assert "1 trang, PDF/A-2b" in r.stdout and check_pdfa(pdf).passed
    r = run("sign", str(pdf), "-o", str(signed), data_dir=var)
    assert r.returncode == 0, r.stderr
    assert "DEMO" in r.stdout
    r = run("verify", str(signed), "--json", data_dir=var)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["ok"] and report["pdfa"] == "2b" and report["signatures"][0]["trusted"]
    r = run("verify", str(pdf), data_dir=var)
    assert r.returncode == 1 and "không có chữ ký" in r.stdout


def test_process_then_search(page_png: Path, var: Path) -> None:
    r = run("process", "000.00.12.H12-250528-0002", str(page_png), data_dir=var)
    assert r.returncode == 0, r.stderr
    r = run("search", "noi cu tru", "--json", data_dir=var)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["total"] == 1 and result["hits"][0]["dossier_code"] == "000.00.12.H12-250528-0002"
    assert "«Nơi» «cư» «trú»" in result["hits"][0]["snippet"]


def test_wrong_password_is_reported_without_traceback(var: Path, tmp_path: Path) -> None:
    run("sign", "--help", data_dir=var)
    pki = var / "pki"
    wrong = tmp_path / "pw"
    wrong.write_text("sai-mat-khau")
    src = tmp_path / "x.pdf"
    src.write_bytes((CORPUS / "3small.pdf").read_bytes())
    out = tmp_path / "x-ky.pdf"
    r = run(
        "sign",
        str(src),
        "-o",
        str(out),
        "--pkcs12",
        str(pki / "demo-agency.p12"),
        "--password-file",
        str(wrong),
        data_dir=var,
    )
    assert r.returncode == 2
    assert "Lỗi [password]" in r.stderr and "Error [password]" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("invalid.pdf", "invalid.pdf"), ("missing.png", "missing.png"), ("hugemono.pdf", "hugemono.pdf")],
)
def test_bad_input_names_the_file(name: str, fragment: str, var: Path, tmp_path: Path) -> None:
    r = run("digitize", str(CORPUS / name), "-o", str(tmp_path / "o.pdf"), data_dir=var)
    assert r.returncode == 2
    assert fragment in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.pdf").exists()


def test_bad_dossier_code_in_process(page_png: Path, var: Path) -> None:
    r = run("process", "../../etc", str(page_png), data_dir=var)
    assert r.returncode == 2 and "Lỗi [code]" in r.stderr


def test_digitize_writes_hocr_and_alto_on_request(page_png: Path, var: Path, tmp_path: Path) -> None:
    r = run(
        "digitize",
        str(page_png),
        "-o",
        str(tmp_path / "o.pdf"),
        "--hocr",
        str(tmp_path / "o.hocr"),
        "--alto",
        str(tmp_path / "o.xml"),
        data_dir=var,
    )
    assert r.returncode == 0, r.stderr
    assert "ocrx_word" in (tmp_path / "o.hocr").read_text(encoding="utf-8")
    assert 'CONTENT="ĐĂNG"' in (tmp_path / "o.xml").read_text(encoding="utf-8")


def test_digitize_compact_profile(var: Path, tmp_path: Path) -> None:
    import pikepdf

    from pages import scanned_page

    scan = tmp_path / "mau.png"
    scanned_page().save(scan, dpi=(300, 300))
    r = run("digitize", str(scan), "-o", str(tmp_path / "o.pdf"), "--profile", "compact", data_dir=var)
    assert r.returncode == 0, r.stderr
    with pikepdf.open(tmp_path / "o.pdf") as pdf:
        assert next(iter(pdf.pages[0].get_images().values())).Filter == "/DCTDecode"
    r = run("digitize", str(scan), "-o", str(tmp_path / "x.pdf"), "--profile", "tiny", data_dir=var)
    assert r.returncode == 2 and "Lỗi [profile]" in r.stderr and not (tmp_path / "x.pdf").exists()


def test_batch_splits_at_a_qr_separator(page_png: Path, var: Path, tmp_path: Path) -> None:
    import numpy as np
    import zxingcpp
    from PIL import Image

    sheet = Image.new("L", (1654, 2339), 255)  # A4 at 200 dpi
    code = np.asarray(
        zxingcpp.create_barcode("000.00.12.H12-250529-0007", zxingcpp.BarcodeFormat.QRCode).to_image(scale=10)
    )
    sheet.paste(Image.fromarray(code), (500, 600))
    separator = tmp_path / "phan-cach.png"
    sheet.save(separator, dpi=(200, 200))
    out = tmp_path / "lo"
    r = run(
        "batch",
        str(page_png),
        str(separator),
        str(page_png),
        "-o",
        str(out),
        "--code",
        "000.00.12.H12-250529-0006",
        data_dir=var,
    )
    assert r.returncode == 0, r.stderr
    assert (out / "000.00.12.H12-250529-0006" / "1.pdf").is_file()
    assert (out / "000.00.12.H12-250529-0007" / "1.pdf").is_file()
    r = run("batch", str(page_png), "-o", str(out), "--code", "../x", data_dir=var)
    assert r.returncode == 2 and "Lỗi [code]" in r.stderr


def test_sign_agent_against_a_running_service(token, page_png: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import time
    import urllib.request

    from conftest import MODULE, serve

    test_pki, pin_file = token
    env = {**os.environ, "SOHOA_DATA_DIR": str(tmp_path / "var"), "SOHOA_OCR_JOBS": "2"}
    server, base = serve({**env, "SOHOA_TRUST_ROOTS": str(test_pki.root_pem)})  # the clerk's CA is trusted
    try:
        code = "000.00.12.H12-250530-0009"
        clerk = run("users", "add", "Cán bộ ký", "--role", "clerk", "-q", data_dir=tmp_path / "var").stdout.strip()
        auth = {"Authorization": f"Bearer {clerk}"}
        body, boundary = page_png.read_bytes(), "sohoa-test-boundary"
        form = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
                f"Content-Type: image/png\r\n\r\n"
            ).encode()
            + body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        request = urllib.request.Request(
            f"{base}/api/v1/dossiers/{code}/scans",
            data=form,
            method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **auth},
        )
        [job] = json.loads(urllib.request.urlopen(request, timeout=30).read())["jobs"]
        for _ in range(300):
            poll = urllib.request.Request(f"{base}/api/v1/jobs/{job['id']}", headers=auth)
            status = json.loads(urllib.request.urlopen(poll, timeout=5).read())
            if status["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert status["status"] == "done", status

        def sign_agent(pin: Path) -> subprocess.CompletedProcess[str]:
            document = f"{base}/api/v1/dossiers/{code}/documents/1"
            token_args = ["--module", str(MODULE), "--token", "sohoa", "--key", "agency", "--pin-file", str(pin),
                          "--page-count", "1"]  # fmt: skip  # the officer vouches: the paper has 1 page
            return run("sign-agent", document, *token_args, "--api-token", clerk, data_dir=tmp_path / "agent")

        r = sign_agent(pin_file)
        assert r.returncode == 0, r.stderr
        assert "UBND xã Hòa Bình" in r.stdout and "PAdES" in r.stdout
        wrong = tmp_path / "sai-pin"
        wrong.write_text("000000")
        r = sign_agent(wrong)
        assert r.returncode == 2 and "PIN" in r.stderr and "Traceback" not in r.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_printset_of_a_corrupt_pdf_names_it(var: Path, tmp_path: Path) -> None:
    r = run("printset", str(CORPUS / "invalid.pdf"), "-o", str(tmp_path / "in.pdf"), data_dir=var)
    assert r.returncode == 2 and "invalid.pdf" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "in.pdf").exists()


def _env(data_dir: Path, **settings: str) -> dict[str, str]:
    return {**os.environ, "SOHOA_DATA_DIR": str(data_dir), "SOHOA_OCR_JOBS": "2", **settings}


def test_digitize_honours_deskew_archive(var: Path, tmp_path: Path) -> None:
    from PIL import Image

    from pages import render_page

    skewed = tmp_path / "nghieng.png"
    render_page(dpi=300).convert("L").rotate(3, resample=Image.Resampling.BICUBIC, fillcolor=255).save(
        skewed, dpi=(300, 300)
    )
    cmd = [SOHOA, "digitize", str(skewed), "-o", str(tmp_path / "o.pdf")]
    kept = subprocess.run(cmd, capture_output=True, text=True, env=_env(var), timeout=300)
    straightened = subprocess.run(
        cmd, capture_output=True, text=True, env=_env(var, SOHOA_DESKEW_ARCHIVE="true"), timeout=300
    )
    assert kept.returncode == straightened.returncode == 0, straightened.stderr
    assert "ảnh lưu trữ đã được chỉnh nghiêng" not in kept.stderr
    assert "ảnh lưu trữ đã được chỉnh nghiêng" in straightened.stderr


def test_batch_honours_the_blank_page_and_spread_settings(var: Path, tmp_path: Path) -> None:
    from PIL import Image

    from pages import render_page

    page = render_page(dpi=200).convert("L")
    blank = Image.new("L", page.size, 255)
    scan = tmp_path / "lo.tif"
    page.save(scan, dpi=(200, 200), save_all=True, append_images=[blank])
    out = tmp_path / "out"
    cmd = [SOHOA, "batch", str(scan), "-o", str(out), "--code", "000.00.12.H12-250527-0001"]
    flagged = subprocess.run(cmd, capture_output=True, text=True, env=_env(var), timeout=300)
    dropped = subprocess.run(cmd, capture_output=True, text=True, env=_env(var, SOHOA_BLANK_PAGES="drop"), timeout=300)
    assert flagged.returncode == dropped.returncode == 0, dropped.stderr
    assert "tài liệu 1, 2 trang" in flagged.stdout and "tài liệu 1, 1 trang" in dropped.stdout
    # Two A4 pages side by side on one A3 sheet: split by default, kept whole with SOHOA_SPREADS=never.
    spread = Image.new("L", (page.width * 2, page.height), 255)
    spread.paste(page, (0, 0))
    spread.paste(page, (page.width, 0))
    sheet = tmp_path / "a3.png"
    spread.save(sheet, dpi=(200, 200))
    cmd = [SOHOA, "batch", str(sheet), "-o", str(out), "--code", "000.00.12.H12-250527-0002"]
    split = subprocess.run(cmd, capture_output=True, text=True, env=_env(var), timeout=300)
    whole = subprocess.run(cmd, capture_output=True, text=True, env=_env(var, SOHOA_SPREADS="never"), timeout=300)
    assert "tài liệu 1, 2 trang" in split.stdout and "tài liệu 1, 1 trang" in whole.stdout, whole.stderr


def test_sign_uses_the_token_the_service_signs_with(token, digitized_pdf: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import MODULE
    from signing import verify_pdf

    test_pki, pin_file = token
    out = tmp_path / "ky.pdf"
    env = _env(
        tmp_path / "var",
        SOHOA_SIGNING_PKCS11_MODULE=str(MODULE),
        SOHOA_SIGNING_PKCS11_TOKEN="sohoa",
        SOHOA_SIGNING_PKCS11_KEY="agency",
        SOHOA_SIGNING_PKCS11_PIN_FILE=str(pin_file),
    )
    r = subprocess.run([SOHOA, "sign", str(digitized_pdf), "-o", str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "DEMO" not in r.stdout and not (tmp_path / "var" / "pki").exists()  # no demo certificate made
    [signature] = verify_pdf(out, [test_pki.root_pem]).signatures
    assert signature.trusted and "UBND" in signature.signer


def test_the_data_folder_is_found_from_any_folder_and_reads_create_nothing(
    page_png: Path, tmp_path: Path, digitized_pdf: Path
) -> None:
    """Without SOHOA_DATA_DIR every command uses the checkout's var/, wherever it runs; a command
    that only reads never makes a data folder, and one that makes it says so."""
    from conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k != "SOHOA_DATA_DIR"}
    elsewhere = tmp_path / "o-cho-khac"
    elsewhere.mkdir()
    r = subprocess.run([SOHOA, "verify", str(digitized_pdf)], capture_output=True, text=True, env=env, cwd=elsewhere)
    assert r.returncode == 1 and "không có chữ ký" in r.stdout
    assert list(elsewhere.iterdir()) == []  # no var/ made where the command ran
    empty = tmp_path / "chua-co"
    for args, code in ((["search", "ho so"], 2), (["audit"], 2), (["verify", str(digitized_pdf)], 1)):
        r = subprocess.run([SOHOA, *args], capture_output=True, text=True, env=_env(empty), cwd=elsewhere)
        assert r.returncode == code and not empty.exists(), (args, r.stderr)
        assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
        assert code == 1 or f"Không có dữ liệu ở {empty.resolve()}" in r.stderr
    made = subprocess.run(
        [SOHOA, "users", "add", "Trạm 1", "--role", "scanner", "-q"], capture_output=True, text=True, env=_env(empty)
    )
    assert made.returncode == 0 and f"new data folder: {empty.resolve()}" in made.stderr
    again = subprocess.run([SOHOA, "users", "list"], capture_output=True, text=True, env=_env(empty))
    assert "new data folder" not in again.stderr and "Trạm 1" in again.stdout
    from service.settings import default_data_dir

    assert default_data_dir() == ROOT / "var"


def test_a_certificate_is_bound_to_a_token_and_the_operator_is_named(tmp_path: Path) -> None:
    import getpass

    from service import audit as audit_log
    from service.context import context
    from service.settings import Settings
    from signing.demo_pki import ensure_demo_pki

    env = _env(tmp_path / "var")
    token = subprocess.run(
        [SOHOA, "--actor", "Quản trị Hà", "users", "add", "Nguyễn Văn An", "--role", "clerk", "-q"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout.strip()  # fmt: skip
    assert token.startswith("sohoa_")
    cert = ensure_demo_pki(tmp_path / "pki", "UBND").root_cert  # any real certificate will do
    bound = subprocess.run([SOHOA, "users", "certificate", "1", str(cert)], capture_output=True, text=True, env=env)
    assert bound.returncode == 0, bound.stderr
    listed = subprocess.run([SOHOA, "users", "list"], capture_output=True, text=True, env=env).stdout
    assert "chứng thư / certificate" in listed
    events = audit_log.audit_events(context(Settings(data_dir=tmp_path / "var"))).events
    assert [(e.action, e.actor) for e in events] == [
        ("token.issued", "cli:Quản trị Hà"),
        ("token.certificate_bound", f"cli:{getpass.getuser()}"),
    ]


def test_a_setting_that_cannot_be_used_is_named_without_a_traceback(tmp_path: Path) -> None:
    for name, value in (("SOHOA_TIMEZONE", "Asia/Ha_Noi"), ("SOHOA_PORT", "tám nghìn")):
        r = subprocess.run(
            [SOHOA, "search", "ho so"], capture_output=True, text=True, env=_env(tmp_path / "var", **{name: value})
        )
        assert r.returncode == 2 and f"Lỗi [{name}]" in r.stderr and f"Error [{name}]" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / "var").exists()

"""The scanner station's agent (``sohoa station watch``): dossier codes from a separator sheet, a
name or a folder; files taken only once complete; installed without the server's libraries; and,
against real server processes stopped and started twice with a connection cut in the middle of
a large file, every file arriving exactly once and moving to done/ only after its answer."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from checksums import sha256_file
from conftest import ROOT, cli_token, serve
from digitize.separators import DOSSIER_CODE_PATTERN
from proxy import Proxy
from station import codes
from station.watch import Watcher, walk

STATION_ONLY = ROOT / "tests" / "station_only.py"
DPI = 200


def qr_sheet(code: str) -> Image.Image:
    sheet = Image.new("L", (round(8.27 * DPI), round(11.69 * DPI)), 255)
    symbol = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.QRCode).to_image(scale=10)
    sheet.paste(Image.fromarray(np.asarray(symbol)), (400, 500))
    return sheet


def noise_png(path: Path, size: tuple[int, int], mode: str = "L") -> Path:
    """A small scan of its own bytes (random grain: no two alike, and it does not compress)."""
    bands = [Image.effect_noise(size, 60) for _ in mode]
    (bands[0] if mode == "L" else Image.merge(mode, bands)).save(path, dpi=(DPI, DPI))
    return path


def test_the_code_comes_from_the_sheet_then_the_name_then_the_folder(tmp_path: Path) -> None:
    code, other = "000.00.12.H12-251201-0001", "000.00.12.H12-251201-0002"
    pdf = tmp_path / "lo-quet.pdf"
    qr_sheet(code).save(pdf, resolution=DPI)  # a scanner's PDF: one image a page
    tif = tmp_path / "sub" / f"{other}_don.tif"
    tif.parent.mkdir()
    qr_sheet(code).save(tif, dpi=(DPI, DPI))
    plain = noise_png(tmp_path / "sub" / "trang.png", (200, 150))

    find = {"code_pattern": DOSSIER_CODE_PATTERN, "name_pattern": None, "default": None}
    assert codes.find(pdf, tmp_path, **find) == codes.Found(code, "sheet")
    assert codes.find(tif, tmp_path, **find) == codes.Found(code, "sheet")  # the sheet wins over the name
    named = noise_png(tmp_path / f"scan {other} (1).png", (200, 150))
    assert codes.find(named, tmp_path, **find) == codes.Found(other, "name")
    assert codes.find(plain, tmp_path, **find) is None
    assert codes.find(plain, tmp_path, **{**find, "default": code}) == codes.Found(code, "folder")
    (tmp_path / codes.FOLDER_FILE).write_text(f"{other}\n", encoding="utf-8")  # the folder above says
    assert codes.find(plain, tmp_path, **{**find, "default": code}) == codes.Found(other, "folder")
    # A pattern of the office's own: "HS<code>_..." with the code as its first group.
    assert codes.from_name(f"HS{code}_x.png", r"^HS(.+?)_", DOSSIER_CODE_PATTERN) == code
    assert codes.from_name("HSsai_x.png", r"^HS(.+?)_", DOSSIER_CODE_PATTERN) is None
    broken = tmp_path / f"{other}-hong.pdf"
    broken.write_bytes(b"%PDF-1.7 cut")  # unreadable here: the name still gives the code
    assert codes.find(broken, tmp_path, **find) == codes.Found(other, "name")


def test_a_file_still_being_written_is_not_taken(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path, settle=0.6)  # its walk alone, without the observer's events
    path = tmp_path / "dang-quet.png"
    data = os.urandom(40_000)
    taken: list[tuple[float, list[Path]]] = []
    with path.open("wb") as f:
        for i in range(8):  # the scanner software writes a part every 0.25 s
            f.write(data[i * 5000 : (i + 1) * 5000])
            f.flush()
            watcher.rescan()
            taken.append((time.monotonic(), watcher.ready()))
            time.sleep(0.25)
    finished = time.monotonic()
    while not (ready := watcher.ready()) and time.monotonic() - finished < 5:
        watcher.rescan()
        time.sleep(0.1)
    assert all(not t for _, t in taken)
    assert ready == [path] and path.stat().st_size == len(data)  # taken whole, once its writer was done
    assert watcher.ready() == []  # given once
    for folder in ("done", "failed", ".sohoa-station"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.png").write_bytes(b"x")
    (tmp_path / "ghi-chu.txt").write_text("không phải bản quét")
    assert list(walk(tmp_path)) == [path]


def test_the_station_installs_without_the_server_libraries() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import station_only

    station, server = station_only.station_distributions(), station_only.server_only_distributions()
    for name in ("fastapi", "sqlalchemy", "tesserocr", "pyhanko", "uvicorn", "huey", "psycopg", "pydantic-settings"):
        assert name in server and name not in station, name
    assert {"watchdog", "httpx", "zxing-cpp", "pillow", "typer"} <= station
    # and the command runs with those libraries out of reach
    shown = subprocess.run([sys.executable, str(STATION_ONLY), "station", "watch", "--help"], capture_output=True)
    assert shown.returncode == 0 and b"--token-file" in shown.stdout, shown.stderr


def _wait(predicate: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _stop(server: subprocess.Popen[str], hard: bool = False) -> None:
    """SIGTERM, or SIGKILL to the server processes and their parent (nothing gets to finish)."""
    if hard:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        for pid in [*map(int, children), server.pid]:
            os.kill(pid, signal.SIGKILL)
    else:
        server.terminate()
    server.wait(timeout=30)


@pytest.mark.slow
def test_a_batch_through_outages_arrives_once(tmp_path: Path) -> None:
    env = {**os.environ, "SOHOA_DATA_DIR": str(tmp_path / "var"), "SOHOA_EMBEDDED_WORKER": "false"}
    env |= {"SOHOA_API_PROCESSES": "2", "SOHOA_SCANNER_CREATES_DOSSIERS": "true"}  # sessions shared by two processes
    token = tmp_path / "token.txt"
    token.write_text(cli_token(env, "Trạm quét tầng 1", "scanner"))
    folder, staging = tmp_path / "quet", tmp_path / "may-quet"
    folder.mkdir()
    staging.mkdir()
    small = [noise_png(staging / f"000.00.12.H12-251201-{n:04d}_trang.png", (200, 150)) for n in range(1, 51)]
    large = noise_png(staging / "000.00.12.H12-251202-0001_ban-ve.png", (1100, 1000), "RGB")  # 3.3 MB
    sheet = staging / "lo-co-to-phan-cach.png"
    qr_sheet("000.00.12.H12-251203-0001").save(sheet, dpi=(DPI, DPI))
    nameless = noise_png(staging / "anh-khong-ma.png", (200, 150))
    misdated = noise_png(staging / "000.00.12.H12-251399-0001_sai-ngay.png", (200, 150))  # no 99th of the 13th month
    slow_name, slow_bytes = "000.00.12.H12-251204-0001_dang-quet.png", io.BytesIO()
    Image.effect_noise((300, 300), 60).save(slow_bytes, "PNG")

    def drop(paths: list[Path]) -> None:  # as a scanner's software finishes a file: whole, at once
        for p in paths:
            os.replace(p, folder / p.name)

    done = lambda: sorted(p.name for p in (folder / "done").glob("*.png")) if (folder / "done").is_dir() else []  # noqa: E731
    proxy = Proxy()
    server, base = serve(env)
    proxy.follow(base)
    log = (tmp_path / "agent.log").open("w")
    watch = [sys.executable, str(STATION_ONLY), "station", "watch", str(folder), "--server", proxy.url,
             "--token-file", str(token), "--settle", "1", "--piece-kb", "256", "--max-wait", "2"]  # fmt: skip
    agent = subprocess.Popen(watch, stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
    try:
        drop(small[:20])
        _wait(lambda: len(done()) >= 5, 60, "the first files")
        _stop(server)  # first outage: the server stops
        drop(small[20:35])
        time.sleep(1.0)
        before = done()
        time.sleep(3.0)
        assert done() == before  # nothing moves while the server cannot answer
        server, base = serve(env)
        proxy.follow(base)
        _wait(lambda: len(done()) == 35, 90, "35 files after the first outage")

        with proxy.lock:
            proxy.cut_at = proxy.upstream + 1_200_000  # the line drops in the middle of the large file
        drop([large])
        _wait(lambda: proxy.cuts == 1, 60, "the cut")
        writer = threading.Thread(target=_write_slowly, args=(folder / slow_name, slow_bytes.getvalue()))
        writer.start()
        drop([*small[35:45], sheet, nameless, misdated])
        _wait(lambda: len(done()) >= 38, 60, "files after the cut")
        _stop(server, hard=True)  # second outage: every server process killed, mid-whatever
        agent.kill()  # and the desk PC loses power: the agent's queue on disk carries on
        agent.wait()
        drop(small[45:])
        writer.join()
        server, base = serve(env)
        proxy.follow(base)
        agent = subprocess.Popen(watch, stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
        _wait(lambda: len(done()) == 53, 120, "every file in done/")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        _stop(server)
        log.close()
    assert agent.returncode == 0, (tmp_path / "agent.log").read_text()[-3000:]
    _check_arrivals(folder, tmp_path / "var", small, large, sheet, nameless, slow_name, slow_bytes.getvalue())
    failed = {nameless.name, f"{nameless.name}.txt", misdated.name, f"{misdated.name}.txt"}
    assert {p.name for p in (folder / "failed").iterdir()} == failed
    refused = (folder / "failed" / f"{misdated.name}.txt").read_text(encoding="utf-8")  # the server's reason
    assert "máy chủ từ chối (422)" in refused and "251399 không tồn tại" in refused, refused


def _write_slowly(path: Path, data: bytes) -> None:
    """A scan written in parts for 3 s, as a sheet-fed scanner's software does."""
    step = len(data) // 10 + 1
    with path.open("wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            time.sleep(0.3)


def _check_arrivals(
    folder: Path, var: Path, small: list[Path], large: Path, sheet: Path, nameless: Path, slow: str, slow_bytes: bytes
) -> None:
    import hashlib

    sent = [*small, large]
    shas = {p.name: sha256_file(folder / "done" / p.name) for p in [*sent, sheet]}
    shas[slow] = hashlib.sha256(slow_bytes).hexdigest()
    assert sha256_file(folder / "done" / slow) == shas[slow]  # the whole file, not a part taken early
    catalog = sqlite3.connect(var / "sohoa.db")
    documents = Counter(r[0] for r in catalog.execute("SELECT original_sha256 FROM documents"))
    for name in [*(p.name for p in sent), slow]:
        assert documents[shas[name]] == 1, name  # arrived, exactly once
    assert sum(documents.values()) == 52  # and nothing else (no part of the slow file)
    jobs = dict(catalog.execute("SELECT id, kind FROM jobs").fetchall())
    assert Counter(jobs.values()) == {"digitize": 52, "batch": 1}  # one job a file
    sessions = catalog.execute("SELECT job_id FROM upload_sessions WHERE state = 'done'").fetchall()
    # Each file moved to done/ names the job of its answer (202, or 200 for bytes the server had).
    noted = {}
    for name in shas:
        note = (folder / "done" / f"{name}.txt").read_text(encoding="utf-8")
        noted[name] = next(line.split(": ")[1] for line in note.splitlines() if line.startswith("Công việc"))
    assert set(noted.values()) == set(jobs) == {s[0] for s in sessions}
    owner = dict(catalog.execute("SELECT j.id, d.original_sha256 FROM jobs j JOIN documents d ON d.id = j.document_id"))
    assert all(owner[noted[n]] == shas[n] for n in shas if n != sheet.name)
    [batch] = [j for j, kind in jobs.items() if kind == "batch"]
    assert noted[sheet.name] == batch  # a separator sheet: split by the server as a batch
    assert "không tìm thấy mã hồ sơ" in (folder / "failed" / f"{nameless.name}.txt").read_text(encoding="utf-8")
    queue = sqlite3.connect(folder / ".sohoa-station" / "queue.db")
    assert queue.execute("SELECT count(*) FROM files").fetchone() == (0,)  # the agent's queue is empty
    [daily] = (folder / ".sohoa-station" / "logs").glob("*.log")
    assert "Đã gửi" in daily.read_text(encoding="utf-8") and "thử lại sau" in daily.read_text(encoding="utf-8")
    assert [p.name for p in folder.iterdir() if p.is_file()] == []

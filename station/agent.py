"""The agent's loop: files that have settled are given their dossier code and queued on disk;
the queue is sent in order, each file through an upload session that resumes where it stopped;
a file moves to ``done/`` only once the server has accepted it (202, or 200 for bytes it had),
to ``failed/`` with a note when the file itself cannot go. While the server cannot be reached
the agent waits, longer each time (up to ``max_wait``), and keeps noticing new files. Progress
goes to the terminal, what happened to a daily log."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from checksums import sha256_file
from digitize.separators import DOSSIER_CODE_PATTERN
from station import codes
from station.client import PIECE, Accepted, Refused, Server, SessionLost, Unreachable
from station.outbox import Entry, Outbox
from station.watch import DONE, FAILED, STATE, Watcher

log = logging.getLogger("sohoa.station")
LOST_SESSIONS = 5  # sessions lost in a row before a file is given up (the server keeps refusing its bytes)


@dataclass(frozen=True)
class Config:
    folder: Path
    server: str
    token: str
    code_pattern: str = DOSSIER_CODE_PATTERN
    name_pattern: str | None = None
    default_code: str | None = None
    settle: float = 2.0  # seconds a file's size must hold before it is taken
    piece: int = PIECE
    max_wait: float = 60.0  # longest wait between tries while the server cannot be reached
    rescan: float = 30.0  # how often the folder is walked for files whose events were missed


class DailyLog(logging.Handler):
    """One log file a day (the PC's local date), ``YYYY-MM-DD.log``, lines with their time and offset."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.day = folder, ""
        self.stream: TextIO | None = None
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        moment = dt.datetime.fromtimestamp(record.created).astimezone()
        if (day := moment.strftime("%Y-%m-%d")) != self.day:
            self.close_stream()
            self.day, self.stream = day, (self.folder / f"{day}.log").open("a", encoding="utf-8")
        assert self.stream is not None
        self.stream.write(f"{moment.isoformat(timespec='seconds')} {record.levelname} {self.format(record)}\n")
        self.stream.flush()

    def close_stream(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def close(self) -> None:
        self.close_stream()
        super().close()


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``name (2)``… when a file of that name is there already."""
    target, n = folder / name, 1
    while target.exists():
        n += 1
        target = folder / f"{Path(name).stem} ({n}){Path(name).suffix}"
    return target


def _stamp() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class Agent:
    def __init__(self, config: Config, out: TextIO = sys.stderr) -> None:
        self.config, self.out = config, out
        root = config.folder.resolve()
        self.root, self.state = root, root / STATE
        self.outbox = Outbox(self.state / "queue.db")
        self.server = Server(config.server, config.token)
        self.watcher = Watcher(root, config.settle)
        self.handler = DailyLog(self.state / "logs")
        log.addHandler(self.handler)
        log.setLevel(logging.INFO)
        self.done = self.failed = self.sent_bytes = self.failures = 0
        self.wait_until, self.current, self.shown, self.why = 0.0, "", "", ""

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set (Ctrl+C): take, queue and send."""
        log.info("Bắt đầu theo dõi %s, gửi tới %s (%d tệp chờ)", self.root, self.config.server, len(self.outbox))
        self.watcher.start()
        walked = time.monotonic()
        try:
            while not stop.is_set():
                for path in self.watcher.ready():
                    self.take(path)
                if time.monotonic() >= self.wait_until:
                    self.send_queue(stop)
                if time.monotonic() - walked > self.config.rescan:
                    self.watcher.rescan()
                    walked = time.monotonic()
                self.show()
                stop.wait(0.3)
        finally:
            self.close()

    def close(self) -> None:
        self.watcher.stop()
        self.server.close()
        self.outbox.close()
        log.info("Dừng theo dõi %s", self.root)
        log.removeHandler(self.handler)
        self.handler.close()

    def take(self, path: Path) -> None:
        """Queue a settled file under its dossier code; a file with none goes to ``failed/``."""
        try:
            stat = path.stat()
        except OSError:
            return
        if self.outbox.has(path):
            return  # queued already (its bytes are checked again before it is sent)
        found = codes.find(
            path,
            self.root,
            code_pattern=self.config.code_pattern,
            name_pattern=self.config.name_pattern,
            default=self.config.default_code,
        )
        if found is None:
            self.fail(
                path,
                "không tìm thấy mã hồ sơ: không có tờ phân cách (mã QR hoặc mã vạch) ở trang đầu, tên tệp không chứa "
                f"mã, thư mục không có tệp {codes.FOLDER_FILE} và không có mã mặc định (--default-code).",
                "no dossier code: no separator sheet (QR code or barcode) on the first page, none in the file name, "
                f"no {codes.FOLDER_FILE} in the folder and no default code (--default-code).",
            )
            return
        kind = "batch" if found.source == "sheet" else "component"  # the server splits it at its separator sheets
        self.outbox.add(
            path, size=stat.st_size, mtime=stat.st_mtime_ns, sha256=sha256_file(path), code=found.code,
            source=found.source, kind=kind,
        )  # fmt: skip
        log.info("Nhận %s: hồ sơ %s (theo %s), %d byte", self._shown(path), found.code, found.said, stat.st_size)

    def send_queue(self, stop: threading.Event) -> None:
        for entry in self.outbox.entries():
            if stop.is_set():
                return
            try:
                self.send(entry)
            except Unreachable as e:
                self.failures += 1
                wait = min(self.config.max_wait, 0.5 * 2**self.failures) * random.uniform(0.8, 1.2)
                self.wait_until, self.why = time.monotonic() + wait, str(e)
                log.warning("Chưa gửi được %s (%s); thử lại sau %.0f s", self._shown(entry.path), e, wait)
                return
            except Refused as e:
                self.outbox.remove(entry.path)
                self.fail(
                    entry.path, f"máy chủ từ chối ({e.status}): {e.vi}", f"the server refused it ({e.status}): {e.en}"
                )
            else:
                self.failures, self.why = 0, ""
            finally:
                self.current = ""

    def send(self, entry: Entry) -> None:
        """One queued file, through its session (a new one when the server has lost it)."""
        path = entry.path
        try:
            stat = path.stat()
        except OSError:
            self.outbox.remove(path)  # taken out of the folder by hand: nothing to send
            log.warning("%s không còn trong thư mục; bỏ khỏi hàng đợi", self._shown(path))
            return
        if (stat.st_size, stat.st_mtime_ns) != (entry.size, entry.mtime):
            self.outbox.remove(path)  # changed since it was taken: taken again once it settles
            with self.watcher.lock:
                self.watcher.noticed.add(path)
            return
        try:
            upload_id, offset = self._session(entry)
            self.server.send(
                upload_id, path, offset, entry.size, lambda at: self._progress(entry, at), self.config.piece
            )
            accepted = self.server.complete(upload_id)
        except SessionLost as e:
            self.outbox.update(path, upload_id=None, sent=0, attempts=entry.attempts + 1)
            if entry.attempts + 1 >= LOST_SESSIONS:
                raise Refused(
                    f"phiên tải lên bị mất {LOST_SESSIONS} lần ({e})",
                    f"upload session lost {LOST_SESSIONS} times ({e})",
                    0,
                ) from e
            log.info("Phiên tải lên của %s mất (%s); mở phiên mới", self._shown(path), e)
            return
        self.finish(entry, accepted)

    def _session(self, entry: Entry) -> tuple[str, int]:
        """The entry's session and the offset the server holds; a new session if it has none."""
        if entry.upload_id is not None:
            offset = self.server.offset(entry.upload_id)
            log.info("Gửi tiếp %s từ byte %d/%d", self._shown(entry.path), offset, entry.size)
            return entry.upload_id, offset
        upload_id = self.server.open(entry.code, entry.path.name, entry.size, entry.sha256, entry.kind)
        self.outbox.update(entry.path, upload_id=upload_id, sent=0)
        return upload_id, 0

    def _progress(self, entry: Entry, at: int) -> None:
        self.outbox.update(entry.path, sent=at)
        self.current = f"{entry.path.name} {100 * at // max(entry.size, 1)}% ({at / 1e6:.1f}/{entry.size / 1e6:.1f} MB)"
        self.show()

    def finish(self, entry: Entry, accepted: Accepted) -> None:
        """The server has the file: it moves to ``done/`` with a note naming its job."""
        target = _free_name(self.root / DONE, entry.path.name)
        target.parent.mkdir(exist_ok=True)
        again = (
            "" if accepted.created else " (máy chủ đã có đúng tệp này từ trước / the server had these bytes already)"
        )
        source = codes.SOURCE_VI.get(entry.source, entry.source)
        target.with_name(target.name + ".txt").write_text(
            f"Đã gửi lúc {_stamp()} vào hồ sơ {entry.code} (mã theo {source}){again}.\n"
            f"Công việc / job: {accepted.job_id}\n{accepted.job_url}\n"
            f"Sent to dossier {entry.code}; SHA-256 {entry.sha256}.\n",
            encoding="utf-8",
        )
        os.replace(entry.path, target)
        self.outbox.remove(entry.path)
        self.done += 1
        self.sent_bytes += entry.size
        log.info("Đã gửi %s → hồ sơ %s, công việc %s", self._shown(entry.path), entry.code, accepted.job_id)

    def fail(self, path: Path, vi: str, en: str) -> None:
        """The file cannot go: it moves to ``failed/`` with a note saying why."""
        target = _free_name(self.root / FAILED, path.name)
        target.parent.mkdir(exist_ok=True)
        target.with_name(target.name + ".txt").write_text(
            f"Không gửi được {path.name} lúc {_stamp()}: {vi}\nCould not send {path.name}: {en}\n", encoding="utf-8"
        )
        if path.exists():
            os.replace(path, target)
        self.failed += 1
        log.error("Lỗi %s: %s", self._shown(path), vi)

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return path.name

    def show(self) -> None:
        """One line: files sent and failed, bytes, the queue, what is being sent or waited for."""
        line = (
            f"Đã gửi {self.done} tệp ({self.sent_bytes / 1e6:.1f} MB) · lỗi {self.failed} · hàng đợi {len(self.outbox)}"
        )
        if self.current:
            line += f" · đang gửi {self.current}"
        elif (wait := self.wait_until - time.monotonic()) > 0:
            line += f" · chờ máy chủ {wait:.0f} s: {self.why}"
        if self.out.isatty():
            self.out.write(f"\r{line[:150]:<150}")
            self.out.flush()
        elif line.split(" · đang")[0] != self.shown.split(" · đang")[0] and "chờ" not in line:
            self.out.write(line + "\n")
            self.out.flush()
        self.shown = line

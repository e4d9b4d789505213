"""What the service benchmarks share: a `sohoa serve` process started, waited for and stopped,
a token for it, a free port, and the memory figures /proc gives of a process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SOHOA = str(Path(sys.executable).parent / "sohoa")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, field: str) -> int:
    """A memory line of /proc/<pid>/status (VmHWM: peak over the process's life; VmRSS: now), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def process_tree(pid: int) -> list[int]:
    """A process and its children (a server's processes: uvicorn's supervisor and its workers)."""
    return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def token(env: dict[str, str], name: str, role: str) -> str:
    cmd = [SOHOA, "users", "add", name, "--role", role, "-q"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:  # its own session, so a Ctrl-C here does not reach it half-way
        proc = subprocess.Popen([SOHOA, "serve", "--port", str(port)], env=env, stderr=err, start_new_session=True)
    deadline = time.monotonic() + 120  # the first start makes the demo PKI
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"sohoa serve exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    sys.exit("sohoa serve not ready after 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown stops the embedded worker too
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

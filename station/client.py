"""The server as the station sees it: an upload session (``/api/v1/uploads``), its pieces sent
from the offset the server holds, each with its ``Content-Digest``, and the completion that
answers the job. Every failure is one of three kinds: ``Unreachable`` (try again later: no
network, the server down or busy, a token refused), ``SessionLost`` (open a new session), or
``Refused`` (the file itself cannot go: the server's reason, in Vietnamese and English)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PIECE = 4 << 20  # bytes a piece: what a dropped connection costs at most


class Unreachable(Exception):
    pass


class SessionLost(Exception):
    pass


class Refused(Exception):
    def __init__(self, vi: str, en: str, status: int) -> None:
        super().__init__(en)
        self.vi, self.en, self.status = vi, en, status


@dataclass(frozen=True)
class Accepted:
    job_id: str
    job_url: str
    dossier: str
    created: bool  # false: the server had these bytes already (a repeated upload)


def content_digest(data: bytes) -> str:
    """RFC 9530 ``Content-Digest`` of ``data``."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def _problem(answer: httpx.Response) -> tuple[str, str]:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    said = answer.text[:200] or answer.reason_phrase
    return str(body.get("detail_vi") or said), str(body.get("detail_en") or said)


class Server:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base = url.rstrip("/")
        self.http = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, *, session: bool = False, **kwargs: Any) -> httpx.Response:
        """A request; its failures sorted into the three kinds (a 409 offset is the caller's)."""
        try:
            answer = self.http.request(method, f"{self.base}{path}", **kwargs)
        except httpx.HTTPError as e:
            raise Unreachable(f"không kết nối được máy chủ ({type(e).__name__}: {e})") from e
        if answer.status_code < 400 or (answer.status_code == 409 and "Upload-Offset" in answer.headers):
            return answer
        vi, en = _problem(answer)
        if (
            answer.status_code >= 500
            or answer.status_code in (401, 403, 408, 429)
            or (answer.status_code == 409 and "upload-completing" in answer.text)
        ):
            raise Unreachable(f"{answer.status_code}: {vi}")  # a token refused shows here, for the desk to fix
        if session and answer.status_code in (404, 410):
            raise SessionLost(en)
        if session and answer.status_code == 422 and "checksum-mismatch" in answer.text:
            raise SessionLost(en)  # damaged on the way: the session is dropped, send it again
        raise Refused(vi, en, answer.status_code)

    def open(self, code: str, name: str, size: int, sha256: str, kind: str) -> str:
        body = {"code": code, "name": name, "size": size, "sha256": sha256, "kind": kind}
        return str(self._call("POST", "/api/v1/uploads", json=body).json()["id"])

    def offset(self, upload_id: str) -> int:
        return int(self._call("GET", f"/api/v1/uploads/{upload_id}", session=True).json()["offset"])

    def send(
        self, upload_id: str, path: Path, offset: int, size: int, progress: Callable[[int], None], piece: int = PIECE
    ) -> None:
        """The file's bytes from ``offset`` on, piece by piece; ``progress`` gets the server's
        offset after each."""
        with path.open("rb") as f:
            while offset < size:
                f.seek(offset)
                data = f.read(min(piece, size - offset))
                headers = {
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Digest": content_digest(data),
                }
                answer = self._call(
                    "PATCH", f"/api/v1/uploads/{upload_id}", session=True, content=data, headers=headers
                )
                offset = int(answer.headers["Upload-Offset"])  # a 409 says where the server is
                progress(offset)

    def complete(self, upload_id: str) -> Accepted:
        answer = self._call("POST", f"/api/v1/uploads/{upload_id}/complete", session=True)
        if answer.status_code == 409:  # bytes missing: the next attempt asks the offset and sends them
            raise Unreachable(f"409: {_problem(answer)[0]}")
        body = answer.json()
        [job] = body["jobs"]
        return Accepted(job["id"], f"{self.base}{job['job_url']}", body["dossier"], answer.status_code == 202)

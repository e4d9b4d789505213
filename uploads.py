"""Upload bodies: multipart (one or more ``file`` parts) or the raw file as the body.

The size limit holds for each file and for the request's whole body, and is enforced while
the body streams in, before anything past it is written; each file is hashed as it is written.
A client may send the file's SHA-256 as
``Content-Digest: sha-256=:<base64>:`` (RFC 9530), on the request for a raw body or on each
multipart part; a mismatch refuses the upload before anything is stored.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request

from errors import SohoaError

CHUNK = 1 << 20
MAX_FILES = 50
_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/]+=*):")
RAW_TYPES = ("application/pdf", "image/tiff", "image/jpeg", "image/png", "image/jp2", "application/octet-stream")
# How the OpenAPI schema shows the body of an upload route.
OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Một hoặc nhiều tệp quét (multipart, trường `file`), hoặc chính tệp làm thân yêu cầu "
        "(tên trong tiêu đề `X-Filename`). Tùy chọn `Content-Digest: sha-256=:…:` để kiểm tra. / One or more "
        "scans as multipart `file` parts, or the file itself as the body (name in `X-Filename`).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["file"],
                }
            },
            **{t: {"schema": {"type": "string", "format": "binary"}} for t in RAW_TYPES},
        },
    }
}


class TooLarge(SohoaError):
    status = 413
    code = "too-large"


class WrongContentType(SohoaError):
    status = 415
    code = "unsupported-content-type"


class ChecksumMismatch(SohoaError):
    status = 422
    code = "checksum-mismatch"


@dataclass
class Received:
    path: Path
    name: str
    size: int
    sha256: str


def _too_large(name: str, limit: int) -> TooLarge:
    return TooLarge(
        f"Tệp {name} vượt giới hạn {limit:,} byte.", f"{name} exceeds the limit of {limit:,} bytes.", field="file"
    )


def _limited(request: Request, limit: int) -> Request:
    """The same request, whose body stops with 413 as soon as it passes ``limit`` bytes."""
    seen = 0

    async def receive() -> Any:
        nonlocal seen
        message = await request.receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large("tải lên", limit)
        return message

    return Request(request.scope, receive)


def expected_sha256(header: str | None, name: str) -> str | None:
    if not header:
        return None
    match = _DIGEST.search(header)
    if match is None:
        raise SohoaError(
            f"Tiêu đề Content-Digest của {name} cần dạng sha-256=:<base64>:.",
            f"The Content-Digest of {name} must be sha-256=:<base64>:.",
            field="Content-Digest",
        )
    try:
        return base64.b64decode(match.group(1), validate=True).hex()
    except ValueError as e:
        raise SohoaError(
            f"Content-Digest của {name} không phải base64.",
            f"The Content-Digest of {name} is not base64.",
            field="Content-Digest",
        ) from e


async def _write(chunks: AsyncIterator[bytes], dest: Path, name: str, limit: int, expected: str | None) -> Received:
    digest, size = hashlib.sha256(), 0
    with dest.open("wb") as out:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise _too_large(name, limit)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise SohoaError(f"Tệp {name} rỗng.", f"{name} is empty.", field="file")
    actual = digest.hexdigest()
    if expected is not None and expected != actual:
        raise ChecksumMismatch(
            f"Tệp {name} bị hỏng trên đường truyền: SHA-256 {actual[:16]}… khác {expected[:16]}… đã gửi.",
            f"{name} was damaged in transit: SHA-256 {actual[:16]}… is not the {expected[:16]}… sent.",
            field="Content-Digest",
        )
    return Received(dest, name, size, actual)


async def _parts(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def receive(request: Request, workdir: Path, limit: int, *, max_files: int = MAX_FILES) -> list[Received]:
    """Every file of an upload request, written under ``workdir``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await _limited(request, limit).form(max_files=max_files)
        uploads = [v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile)]
        if not uploads:
            raise SohoaError("Thiếu tệp (trường «file»).", "No file (field “file”).", field="file")
        received = []
        for n, upload in enumerate(uploads):
            name = upload.filename or f"scan-{n + 1}"
            expected = expected_sha256(upload.headers.get("content-digest"), name)
            received.append(await _write(_parts(upload), workdir / f"upload-{n}", name, limit, expected))
        await form.close()
        return received
    if content_type not in RAW_TYPES:
        raise WrongContentType(
            f"Kiểu nội dung {content_type or '(không có)'} không nhận; gửi multipart/form-data hoặc một trong: "
            f"{', '.join(RAW_TYPES)}.",
            f"Content type {content_type or '(none)'} is not accepted; send multipart/form-data or one of: "
            f"{', '.join(RAW_TYPES)}.",
            field="Content-Type",
        )
    name = unquote(request.headers.get("x-filename", "")) or "scan"
    expected = expected_sha256(request.headers.get("content-digest"), name)
    return [await _write(request.stream(), workdir / "upload-0", name, limit, expected)]

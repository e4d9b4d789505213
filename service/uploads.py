"""Upload bodies: multipart (one or more ``file`` parts) or the raw file as the body.

The size limit holds for each file here, and for the request's whole body at the gate
(``service.gate``), while the body streams in, before anything past it is written; each file is
hashed as it is written. A multipart body must end with its closing boundary: a body cut short
after some whole parts is refused whole, not taken for the parts it has.
A client may send the file's SHA-256 as
``Content-Digest: sha-256=:<base64>:`` (RFC 9530), on the request for a raw body or on each
multipart part; a mismatch refuses the upload before anything is stored.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
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
# The body of a route that takes one file, as a multipart ``file`` part.
OPENAPI_ONE_FILE: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


# An RFC 5987 ext-value (charset'language'percent-encoded), alone or as filename*=…
_EXT_VALUE = re.compile(r"(?:filename\*\s*=\s*)?(utf-8|iso-8859-1)'[A-Za-z0-9-]*'([^\s;]+)", re.IGNORECASE)
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*[^;]+", re.IGNORECASE)


def header_filename(raw: str) -> str:
    """The file name a header carries (Starlette hands its bytes over as Latin-1): RFC 5987
    (``filename*=UTF-8''Gi%E1%BA%A5y.pdf``, or the bare ``UTF-8''…``), percent-encoded, or UTF-8
    as it is."""
    if match := _EXT_VALUE.fullmatch(raw.strip()):
        return unquote(match.group(2), encoding=match.group(1), errors="replace")
    with contextlib.suppress(UnicodeError):  # else Latin-1 it is
        raw = raw.encode("latin-1").decode("utf-8")
    return unquote(raw)


def clean_filename(name: str | None, default: str = "scan") -> str:
    """A file name to keep: the last part of any path (a Windows one too), NFC, printable
    characters, at most 200 of them; ``.``, ``..`` or nothing give ``default``."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1]).strip()
    base = "".join(c for c in base if c.isprintable())[:200]
    return base if base.strip(".") else default


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


class _File:
    """One file being received: written and hashed as its bytes arrive, checked at its end."""

    def __init__(self, folder: Path, created: list[Path], name: str, limit: int, expected: str | None) -> None:
        self.dest = folder / f"upload-{uuid.uuid4().hex}"  # one folder for every request: names of its own
        self.name, self.limit, self.expected = name, limit, expected
        created.append(self.dest)
        self.out = self.dest.open("xb")
        self.digest, self.size = hashlib.sha256(), 0

    def write(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise _too_large(self.name, self.limit)
        self.digest.update(chunk)
        self.out.write(chunk)

    def close(self) -> Received:
        self.out.close()
        if self.size == 0:
            raise SohoaError(f"Tệp {self.name} rỗng.", f"{self.name} is empty.", field="file")
        actual = self.digest.hexdigest()
        if self.expected is not None and self.expected != actual:
            raise ChecksumMismatch(
                f"Tệp {self.name} bị hỏng trên đường truyền: SHA-256 {actual[:16]}… khác {self.expected[:16]}… đã gửi.",
                f"{self.name} was damaged in transit: SHA-256 {actual[:16]}… is not the {self.expected[:16]}… sent.",
                field="Content-Digest",
            )
        return Received(self.dest, self.name, self.size, actual)


class _Form:
    """A multipart body parsed as it streams in: each ``file`` part goes straight into its own
    file (Starlette's form() would first spool it to a temporary file, then we copy it again)."""

    def __init__(self, boundary: bytes, folder: Path, created: list[Path], limit: int, max_files: int) -> None:
        self.folder, self.created, self.limit, self.max_files = folder, created, limit, max_files
        self.received: list[Received] = []
        self.headers: dict[str, bytes] = {}  # raw: browsers send UTF-8 file names unescaped
        self.field = self.value = b""
        self.file: _File | None = None
        self.ended = False  # the closing boundary was read
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._end,
                "on_end": self._closed,
            },
        )

    def _begin(self) -> None:
        self.headers, self.file = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def _header_end(self) -> None:
        self.headers[self.field.decode("latin-1").lower()] = self.value
        self.field = self.value = b""

    def _headers_finished(self) -> None:
        disposition = self.headers.get("content-disposition", b"")
        _, params = parse_options_header(disposition)
        extended = _FILENAME_STAR.search(disposition.decode("latin-1"))  # python-multipart drops filename*
        if params.get(b"name") != b"file" or (b"filename" not in params and extended is None):
            return  # another form field: not a scan, skipped
        if len(self.received) >= self.max_files:
            raise SohoaError(
                f"Quá {self.max_files} tệp trong một yêu cầu.", f"More than {self.max_files} files.", field="file"
            )
        n = len(self.received)
        raw = extended.group(0) if extended else params[b"filename"].decode("latin-1")
        name = clean_filename(header_filename(raw), f"scan-{n + 1}")
        expected = expected_sha256(self.headers.get("content-digest", b"").decode("latin-1"), name)
        self.file = _File(self.folder, self.created, name, self.limit, expected)

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.file.write(memoryview(data)[start:end])  # no copy of the part's bytes

    def _end(self) -> None:
        if self.file is not None:
            self.received.append(self.file.close())
            self.file = None

    def _closed(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self.file is not None:
            self.file.out.close()


@contextlib.asynccontextmanager
async def received(
    request: Request, folder: Path, limit: int, *, max_files: int = MAX_FILES
) -> AsyncIterator[list[Received]]:
    """Every file of an upload request, written in ``folder``; at the end, whatever of them was not
    moved away (into the store) is deleted, also when the request fails half-way. The files share
    one folder: a folder per request cost every upload an mkdir and an rmdir, and the rmdir waits
    on the file system's journal, which 20 uploads at once keep busy with their fsyncs."""
    created: list[Path] = []
    try:
        yield await _receive(request, folder, created, limit, max_files)
    finally:
        for path in created:
            path.unlink(missing_ok=True)


async def _receive(request: Request, folder: Path, created: list[Path], limit: int, max_files: int) -> list[Received]:
    raw_type, params = parse_options_header(request.headers.get("content-type", ""))
    content_type = raw_type.decode("latin-1").strip().lower()
    if content_type == "multipart/form-data":
        if not params.get(b"boundary"):
            raise WrongContentType(
                "Thân multipart thiếu boundary.", "The multipart body has no boundary.", field="Content-Type"
            )
        form = _Form(params[b"boundary"], folder, created, limit, max_files)
        try:
            async for chunk in request.stream():
                form.parser.write(chunk)
            form.parser.finalize()
        except MultipartParseError as e:
            raise SohoaError(
                f"Thân multipart hỏng: {e}.", f"The multipart body is malformed: {e}.", field="file"
            ) from e
        finally:
            form.close()
        if not form.ended:  # python-multipart takes a body cut short for a finished one
            raise SohoaError(
                "Thân multipart bị cắt trước ranh giới kết thúc (boundary): không giữ tệp nào; hãy gửi lại.",
                "The multipart body was cut before its closing boundary: no file of it is kept; send it again.",
                field="file",
            )
        if not form.received:
            raise SohoaError("Thiếu tệp (trường «file»).", "No file (field “file”).", field="file")
        return form.received
    if content_type not in RAW_TYPES:
        raise WrongContentType(
            f"Kiểu nội dung {content_type or '(không có)'} không nhận; gửi multipart/form-data hoặc một trong: "
            f"{', '.join(RAW_TYPES)}.",
            f"Content type {content_type or '(none)'} is not accepted; send multipart/form-data or one of: "
            f"{', '.join(RAW_TYPES)}.",
            field="Content-Type",
        )
    name = clean_filename(header_filename(request.headers.get("x-filename", "")))
    file = _File(folder, created, name, limit, expected_sha256(request.headers.get("content-digest"), name))
    try:
        async for chunk in request.stream():
            file.write(chunk)
    finally:
        file.out.close()
    return [file.close()]

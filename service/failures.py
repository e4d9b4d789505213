"""A failed job's error as the desk sees it: the reason in both languages, never the server's
insides. Messages of libraries (Pillow, qpdf, the S3 SDK…) that an error quotes name the job's
scratch files by their full path (the folder carries the host and process id) and exception
classes; those are cut here, whatever raised them."""

from __future__ import annotations

import re
from typing import Any

from errors import SohoaError
from service.scratch import HOST

_NOT_PATH = r"[^\s'\"<>():;,]"
_ABSOLUTE = re.compile(r"(?<![\w.:/~])/[^\s'\"<>():;,/]+(?:/[^\s'\"<>():;,/]*)*")  # not http://h/x, PDF/A, 1/2
_SCRATCH = re.compile(rf"{_NOT_PATH}*{re.escape(HOST)}-\d+-\d+{_NOT_PATH}*")  # in a process's scratch folder
_CLASS = re.compile(r"\b(?:[a-z_]+\.)*[A-Z][A-Za-z0-9]*(?:Error|Exception|Exit|Interrupt|Warning)\b:?\s*")
_PID = re.compile(r"\b(?:pid|PID)\s*[=:#]?\s*\d+\b\s*")
_PROCESS = re.compile(r"\b(process|tiến trình)\s*[=:#]?\s*\d+\b")
_EMPTY = re.compile(r"\s*\(\s*\)|\s*''")


def _last_part(path: str, name: str | None = None) -> str:
    """A path's file name (or ``name``); a sentence's full stop after it stays."""
    bare = path.rstrip(".")
    return (name or bare.rstrip("/").rsplit("/", 1)[-1]) + path[len(bare) :]


def cleaned(text: str, name: str | None = None) -> str:
    """``text`` without server paths, process ids or exception classes. A file of a job's
    scratch folder (the job's copy of the scan, a page image) is called ``name``, the scan's own
    name as the person gave it, when known; any other path keeps only its file name."""
    text = _SCRATCH.sub(lambda m: _last_part(m.group(0), name), text)
    text = _ABSOLUTE.sub(lambda m: _last_part(m.group(0)), text)
    text = _PROCESS.sub(r"\1", _PID.sub("", text))
    text = _CLASS.sub("", text)
    text = _EMPTY.sub("", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _internal(job_id: str) -> dict[str, Any]:
    """What a fault of the server's own says: that it is one, and where its detail is logged."""
    return {
        "code": "internal",
        "vi": f"Lỗi hệ thống khi xử lý; chi tiết ở nhật ký máy chủ (job:{job_id}). Báo quản trị viên.",
        "en": f"A fault of the server; its detail is in the server's log (job:{job_id}). Tell the administrator.",
        "field": None,
    }


def job_error(e: Exception, job_id: str) -> dict[str, Any]:
    """The error a failed job keeps: a person's error with its message cleaned, any other one as
    a fault of the server, its detail left to the log."""
    if not isinstance(e, SohoaError):
        return _internal(job_id)
    field = cleaned(e.field) if e.field else None
    return {"code": e.code, "vi": cleaned(e.vi, field), "en": cleaned(e.en, field), "field": field}


def shown(error: dict[str, Any] | None, job_id: str = "") -> dict[str, Any] | None:
    """A stored error as it is shown (errors stored before they were cleaned included)."""
    if error is None:
        return None
    if error.get("code") == "internal":
        return _internal(job_id)
    return {**error, **{k: cleaned(v) for k in ("vi", "en", "field") if isinstance(v := error.get(k), str)}}

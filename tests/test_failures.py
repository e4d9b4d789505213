"""A failed job's error as the desk sees it (issue 16, item 5): the reason, in both languages,
never a server path, a process id or an exception's class, whatever a library said."""

from __future__ import annotations

import os
import re
from pathlib import Path

from service import failures, scans
from service.context import context
from service.run import run_job

BROKEN_TIFF = b"II*\x00" + bytes(100)  # a TIFF header and nothing readable behind it


def no_internals(text: str, data_dir: Path) -> None:
    """What a job's error may not show: a server path, a process id, an exception's class."""
    assert "/" not in text.replace(" / ", ""), text
    assert str(data_dir) not in text and "tmp" not in text and "original." not in text, text
    assert str(os.getpid()) not in text, text
    assert not re.search(r"[A-Z][a-z]+(Error|Exception)\b", text), text


def test_a_failed_job_names_the_scan_not_the_server_s_files(data_dir: Path) -> None:
    # Pillow names the file it could not read by its path: the job's copy in the scratch folder,
    # whose name carries the host and the process id.
    ctx = context()
    scan = data_dir.parent / "hong.tif"
    scan.write_bytes(BROKEN_TIFF)
    job, _ = scans.accept_scan(ctx, "000.00.12.H12-250527-0001", scan, scan.name)
    run_job(ctx, job.id)
    error = scans.get_job(ctx, job.id).error
    assert error is not None and error.code == "corrupt-file" and error.field == "hong.tif"
    for text in (error.vi, error.en):
        no_internals(text, data_dir)
        assert "'hong.tif'" in text  # the file Pillow could not read, by the name it was sent with


def test_job_errors_are_cleaned_of_paths_process_ids_and_class_names(data_dir: Path) -> None:
    try:
        (context().tmp / "job-1" / "original.pdf").open()
    except OSError as e:
        error = failures.job_error(e, "abc123")  # not a person's error: the server's, its detail logged
    assert error["code"] == "internal" and "job:abc123" in error["vi"] and "job:abc123" in error["en"]
    assert "FileNotFoundError" not in str(error) and "original.pdf" not in str(error)
    try:
        raise ValueError(f"pid {os.getpid()} could not read {context().tmp / 'job-1' / 'page-0001.png'}")
    except ValueError as e:
        assert failures.cleaned(f"{type(e).__name__}: {e}") == "could not read page-0001.png"
    said = "Kho lưu trữ S3 không phản hồi (NewConnectionError); process 4242 dừng tại /srv/sohoa/var/x.pdf."
    assert failures.cleaned(said) == "Kho lưu trữ S3 không phản hồi; process dừng tại x.pdf."
    kept = "PDF/A-2b, 1/2 trang, http://tsa.example/ts và/hoặc A / B"  # not paths: kept as written
    assert failures.cleaned(kept) == kept
    old = {"code": "internal", "vi": "Lỗi hệ thống: KeyError.", "en": "Internal error: KeyError.", "field": None}
    shown = failures.shown(old, "abc123")  # stored before errors were cleaned
    assert shown is not None and "KeyError" not in shown["vi"] + shown["en"]

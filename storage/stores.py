"""Opens the object store a URL names (``SOHOA_OBJECT_STORE_URL``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from storage.errors import StorageError
from storage.filesystem import FilesystemStore
from storage.objects import ObjectStore


def open_store(url: str, *, retention_days: int = 3650) -> ObjectStore:
    """The object store named by a URL: ``file:///path``, ``s3://ACCESS:SECRET@host:port/bucket``
    (plain HTTP) or ``s3s://…`` (TLS), optionally ``?region=…``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FilesystemStore(Path(parsed.path))
    if parsed.scheme in ("s3", "s3s"):
        from storage.s3 import open_s3_store  # the SDK is only loaded when S3 is used

        return open_s3_store(url, retention_days=retention_days)
    raise StorageError(
        f"Chưa hỗ trợ kho lưu trữ {parsed.scheme}://.",
        f"Object store scheme {parsed.scheme}:// is not supported.",
        field="SOHOA_OBJECT_STORE_URL",
    )

"""S3 backend of the object store (MinIO, SeaweedFS, AWS S3) through the ``minio`` SDK.

The bucket is created with object lock, which turns versioning on: an overwrite keeps the
old version, and ``retain=True`` objects get COMPLIANCE retention that nobody, not even the
bucket's owner, can shorten or delete before it ends. Every failure to reach the server is a
``StorageUnavailable`` (503), so the API and ``/readyz`` say the store is down instead of
failing with a traceback.
"""

from __future__ import annotations

import builtins  # the stores have a method named list
import io
import mimetypes
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError
from minio.helpers import check_bucket_name
from minio.retention import Retention
from minio.versioningconfig import VersioningConfig
from urllib3.response import BaseHTTPResponse

from checksums import sha256_file, sha256_stream
from storage.errors import NotFound, ObjectExists, StorageError, StorageUnavailable
from storage.objects import ObjectInfo, check_key

MIB = 1 << 20
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 5 * MIB  # the S3 minimum: each upload buffers one part, so the least memory
CONNECT_TIMEOUT = 3.0  # a dead server must fail fast: /readyz and every request wait on it
READ_TIMEOUT = 60.0  # between two reads on the socket, not for the whole transfer
PROBE_TIMEOUT = 3.0
_MISSING = {"NoSuchKey", "NoSuchVersion"}
_BUCKET_TAKEN = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}
_META_SHA256 = "x-amz-meta-sha256"
_NO_RETENTION = {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}

T = TypeVar("T")


def _unavailable(detail: str) -> StorageUnavailable:
    return StorageUnavailable(
        f"Kho lưu trữ S3 không phản hồi hoặc từ chối yêu cầu ({detail}).",
        f"The S3 object store is unreachable or refused the request ({detail}).",
    )


def _not_found(key: str) -> NotFound:
    return NotFound(f"Không có đối tượng {key}.", f"No object {key}.", field="key")


def _translate(error: Exception, key: str | None = None) -> StorageError:
    """The store's own errors for what the SDK and urllib3 raise."""
    if isinstance(error, StorageError):
        return error
    if isinstance(error, S3Error):
        if error.code in _MISSING and key is not None:
            return _not_found(key)
        # Wrong credentials, a missing bucket or a 5xx are all the server's side: the caller cannot fix them.
        return _unavailable(f"{error.code}: {error.message}")
    if isinstance(error, ServerError | InvalidResponseError):
        return _unavailable(str(error)[:200])
    # urllib3.exceptions.HTTPError covers MaxRetryError, timeouts, refused and dropped connections.
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason  # what went wrong on the last try: ReadTimeoutError, NewConnectionError, …
    return _unavailable(type(error).__name__)


_FAILURES = (MinioException, urllib3.exceptions.HTTPError, OSError)


class _ObjectReader(io.RawIOBase):
    """An object's body read straight from the socket: constant memory, and the connection
    goes back to the pool when the reader is closed (``with`` or ``close()``)."""

    def __init__(self, response: BaseHTTPResponse, key: str) -> None:
        self._response = response
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            return self._response.readinto(buffer)
        except _FAILURES as e:  # the connection dropped mid-object: not a short read
            raise _translate(e, self._key) from e

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


class S3Store:
    """Objects in one bucket. SHA-256 is kept in the object's metadata (``x-amz-meta-sha256``),
    so a write-once put need not download the object to compare it."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = True,
        region: str | None = None,
        retention_days: int = 3650,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        self.endpoint, self.bucket, self.secure, self.region = endpoint, bucket, secure, region
        self.retention_days = retention_days
        self.part_size = part_size

        def client(read_timeout: float, retries: int) -> Minio:
            http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout),
                maxsize=10,
                cert_reqs="CERT_REQUIRED",
                ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                # Few retries: a restarting server gets a second chance, a dead one fails in seconds.
                retries=urllib3.Retry(
                    total=retries,
                    connect=1,
                    read=0,  # a read that timed out already waited long enough
                    backoff_factor=0.2,
                    status_forcelist=[500, 502, 503, 504],
                    respect_retry_after_header=False,  # a busy server's "retry in 2 minutes" must not hang us
                ),
            )
            return Minio(
                endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http
            )

        self.client = client(READ_TIMEOUT, 2)
        # check() answers /readyz: a server that accepts connections but never replies must fail it in seconds.
        self._probe = client(PROBE_TIMEOUT, 1)
        self._lock = threading.Lock()
        self._ready = False
        self._object_lock = False

    # The bucket is prepared on first use, not in the constructor, so that a store that is
    # down when the service starts shows up in /readyz instead of preventing the start.
    def _ensure_bucket(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            client = self.client
            if not client.bucket_exists(self.bucket):
                try:
                    client.make_bucket(self.bucket, location=self.region, object_lock=True)
                except S3Error as e:
                    if e.code not in _BUCKET_TAKEN:  # another process made it first
                        raise
            if client.get_bucket_versioning(self.bucket).status != ENABLED:
                client.set_bucket_versioning(self.bucket, VersioningConfig(ENABLED))
            try:
                client.get_object_lock_config(self.bucket)
                self._object_lock = True
            except S3Error as e:
                if e.code != "ObjectLockConfigurationNotFoundError":
                    raise
                self._object_lock = False  # an existing bucket made without lock: retain=True will say so
            self._ready = True

    def _call(self, action: Callable[[], T], key: str | None = None) -> T:
        try:
            self._ensure_bucket()
            return action()
        except _FAILURES as e:
            raise _translate(e, key) from e

    def _require_object_lock(self) -> None:
        if not self._object_lock:
            raise StorageError(
                f"Bucket {self.bucket} không bật khóa đối tượng (object lock): không giữ hoặc phong tỏa được.",
                f"Bucket {self.bucket} has no object lock: retention and legal hold are impossible.",
                field="SOHOA_OBJECT_STORE_URL",
            )

    def _stored_sha256(self, key: str) -> str | None:
        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as e:
            if e.code in _MISSING:
                return None
            raise
        if sha := (stat.metadata or {}).get(_META_SHA256):  # HTTPHeaderDict: case does not matter
            return str(sha)
        # Written by another tool without our metadata: compare the bytes themselves.
        with self.open(key) as f:
            return sha256_stream(f)[0]

    def put_file(
        self,
        key: str,
        source: Path,
        *,
        write_once: bool = False,
        retain: bool = False,
        sha256: str | None = None,
        move: bool = False,
    ) -> ObjectInfo:
        check_key(key)
        size = source.stat().st_size
        sha256 = sha256 or sha256_file(source)

        def put() -> ObjectInfo:
            if retain:
                self._require_object_lock()
            if write_once and (existing := self._stored_sha256(key)) is not None:
                if existing == sha256:
                    return ObjectInfo(key, size, sha256)  # same bytes again: nothing to do
                raise ObjectExists(
                    f"Đối tượng {key} đã có và không được ghi đè.",
                    f"Object {key} exists and is write-once.",
                    field="key",
                )
            retention = None
            if retain:
                until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=self.retention_days)
                retention = Retention(COMPLIANCE, until)
            # fput_object streams the file in parts of part_size (multipart above one part).
            self.client.fput_object(
                self.bucket,
                key,
                str(source),
                content_type=mimetypes.guess_type(key)[0] or "application/octet-stream",
                metadata={"sha256": sha256},
                part_size=max(self.part_size, -(-size // (MAX_PARTS * MIB)) * MIB),  # S3 allows 10,000 parts
                retention=retention,
            )
            return ObjectInfo(key, size, sha256)

        return self._call(put, key)

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        check_key(key)
        response = self._call(lambda: self.client.get_object(self.bucket, key, offset=offset), key)
        return io.BufferedReader(_ObjectReader(response, key), MIB)

    def get_file(self, key: str, dest: Path) -> None:
        with self.open(key) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out, MIB)

    def exists(self, key: str) -> bool:
        check_key(key)

        def stat() -> bool:
            try:
                self.client.stat_object(self.bucket, key)
            except S3Error as e:
                if e.code in _MISSING:
                    return False
                raise
            return True

        return self._call(stat, key)

    def size(self, key: str) -> int:
        check_key(key)
        return self._call(lambda: int(self.client.stat_object(self.bucket, key).size or 0), key)

    def list(self, prefix: str = "") -> Iterator[str]:
        # Listed in full before the first key is yielded, so a failure mid-listing is a
        # StorageUnavailable here and not an SDK error in the caller's loop.
        def names() -> builtins.list[str]:
            objects = self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True)
            return [o.object_name for o in objects if o.object_name and not o.is_dir]

        yield from sorted(self._call(names))

    def versions(self, key: str) -> builtins.list[str]:
        """Version ids of the object, newest first (delete markers left out)."""
        check_key(key)

        def ids() -> builtins.list[str]:
            found = self.client.list_objects(self.bucket, prefix=key, include_version=True)
            mine = [o for o in found if o.object_name == key and not o.is_delete_marker and o.version_id]
            # S3 lists versions newest first; the sort keeps that order if a server does not.
            mine.sort(key=lambda o: o.last_modified or datetime.min.replace(tzinfo=UTC), reverse=True)
            return [str(o.version_id) for o in mine]

        return self._call(ids, key)

    def legal_hold(self, key: str, on: bool) -> None:
        """Legal hold on the current version: no deletion while it is on, whatever the retention."""
        check_key(key)

        def hold() -> None:
            self._require_object_lock()
            self.client.stat_object(self.bucket, key)  # NotFound rather than a hold on nothing
            if on:
                self.client.enable_object_legal_hold(self.bucket, key)
            else:
                self.client.disable_object_legal_hold(self.bucket, key)

        self._call(hold, key)

    def retain(self, key: str, until: datetime, *, hold: bool = False) -> None:
        check_key(key)
        until = until.astimezone(UTC).replace(microsecond=0)

        def apply() -> None:
            self._require_object_lock()
            current = self._retention(key)
            if current is None or current.retain_until_date is None or current.retain_until_date < until:
                self.client.set_object_retention(self.bucket, key, Retention(COMPLIANCE, until))
            if hold:
                self.client.enable_object_legal_hold(self.bucket, key)

        self._call(apply, key)

    def _retention(self, key: str) -> Retention | None:
        try:
            return self.client.get_object_retention(self.bucket, key)
        except S3Error as e:
            if e.code in _NO_RETENTION:  # SeaweedFS names an object without retention so
                return None
            raise

    def retained_until(self, key: str) -> datetime | None:
        check_key(key)

        def read() -> datetime | None:
            current = self._retention(key)
            return current.retain_until_date if current is not None else None

        return self._call(read, key)

    def read_only(self, key: str) -> bool | None:
        return None  # object lock, not file modes: retained_until says how long

    def check(self) -> None:
        """Raises StorageUnavailable unless the server answers these credentials; the bucket is
        made now if it does not exist yet (a new deployment is ready before its first upload)."""
        try:
            if self._probe.bucket_exists(self.bucket):
                return
        except _FAILURES as e:
            raise _translate(e) from e
        self._call(lambda: None)  # _call prepares the bucket


def open_s3_store(url: str, *, retention_days: int = 3650, part_size: int = DEFAULT_PART_SIZE) -> S3Store:
    """``s3://ACCESS:SECRET@host:port/bucket`` (plain HTTP) or ``s3s://…`` (TLS), optional
    ``?region=…``; access key and secret are percent-decoded."""
    parsed = urlparse(url)
    bucket = parsed.path.strip("/")
    try:
        port = parsed.port
    except ValueError:
        port = -1
    if (
        port == -1
        or parsed.scheme not in ("s3", "s3s")
        or not parsed.hostname
        or not parsed.username
        or parsed.password is None
        or not bucket
        or "/" in bucket
    ):
        # The URL holds the secret: name its form, never echo it.
        raise StorageError(
            "URL kho S3 phải có dạng s3://KHÓA:BÍ_MẬT@máy:cổng/bucket (hoặc s3s:// cho TLS).",
            "An S3 store URL must be s3://ACCESS:SECRET@host:port/bucket (or s3s:// for TLS).",
            field="SOHOA_OBJECT_STORE_URL",
        )
    try:
        check_bucket_name(bucket, strict=True)
    except ValueError as e:
        raise StorageError(
            f"Tên bucket S3 không hợp lệ: {bucket!r}.",
            f"Invalid S3 bucket name: {bucket!r}.",
            field="SOHOA_OBJECT_STORE_URL",
        ) from e
    host = f"[{parsed.hostname}]" if ":" in parsed.hostname else parsed.hostname
    endpoint = f"{host}:{port}" if port else host
    region = parse_qs(parsed.query).get("region", [None])[0]
    return S3Store(
        endpoint,
        bucket,
        unquote(parsed.username),
        unquote(parsed.password),
        secure=parsed.scheme == "s3s",
        region=region,
        retention_days=retention_days,
        part_size=part_size,
    )

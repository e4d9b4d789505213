"""Uploads in pieces that resume after a dropped connection, for a scanner station's agent and
the web page: a session is opened with the file's dossier, name, size and SHA-256; its bytes come
as pieces at the offset the server holds (``Upload-Offset``: the caller's token, the session's
owner, the offset and the size are checked on every piece before its body is read); once all
are in, completing it checks the SHA-256 and hands the file to ``scans`` like any upload: the
same de-duplication by content, the same job, 202 with its id. Completing again answers the
same job. A session may instead carry a new scan for a document of the dossier (``replaces``,
kept in its options): checked when opened as the one-request replace route checks it, and
completed by that route's ``scans.replace_scan``.

State lives where every server process sees it: the row in the catalog (how many bytes are in,
whose session it is), the bytes in ``<data_dir>/uploads/<id>`` (a folder the server processes
share). A piece is written at its offset and counted only once it is on disk, by a conditional
UPDATE, so two pieces racing for one offset cannot both count; a piece cut short counts what
arrived, unless it carried a ``Content-Digest``, which a part cannot match. Sessions untouched
for SOHOA_UPLOAD_SESSION_HOURS are swept with their bytes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from checksums import sha256_file
from errors import SohoaError
from service import dossiers, scans, scratch
from service.access import Principal
from service.context import Context
from service.uploads import ChecksumMismatch, TooLarge, clean_filename, expected_sha256
from service.views import AcceptedJob, UploadView
from storage.catalog import UploadSession, changed, iso, now
from storage.errors import NotFound

KINDS = ("component", "result", "batch")  # batch: split at its separator sheets (scans.submit_batch)
OPEN_PER_CALLER = 100  # sessions a caller may have open at once: each may hold up to SOHOA_MAX_UPLOAD_BYTES
REPLACES = "replaces"  # the options' key naming the document a session's file replaces (no column of its own)
STALE_COMPLETION = dt.timedelta(minutes=10)  # a completion on another host, silent this long, is taken over
# How the OpenAPI schema shows a piece's body.
OPENAPI_PIECE: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Các byte của tệp từ vị trí `Upload-Offset`; tùy chọn `Content-Digest: sha-256=:…:` của "
        "phần này. / The file's bytes from `Upload-Offset`; optionally this piece's `Content-Digest`.",
        "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class OffsetMismatch(SohoaError):
    status = 409
    code = "upload-offset"

    def __init__(self, vi: str, en: str, *, received: int) -> None:
        super().__init__(vi, en, field="Upload-Offset")
        self.headers["Upload-Offset"] = str(received)


class PastTheEnd(SohoaError):
    status = 416
    code = "upload-past-end"


class Busy(SohoaError):
    status = 409
    code = "upload-completing"


class TooManySessions(SohoaError):
    status = 429
    code = "too-many-upload-sessions"


class Gone(SohoaError):
    status = 410
    code = "upload-gone"


def _later(error: SohoaError, seconds: int) -> SohoaError:
    """``error`` telling the caller when to ask again (``Retry-After``)."""
    error.headers["Retry-After"] = str(seconds)
    return error


def folder(ctx: Context) -> Path:
    path = ctx.settings.data_dir / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _view(ctx: Context, row: UploadSession) -> UploadView:
    expires = row.updated_at + dt.timedelta(hours=ctx.settings.upload_session_hours)
    return UploadView(
        id=row.id, dossier=row.dossier_code, name=row.name, size=row.size, sha256=row.sha256, offset=row.received,
        kind=row.kind, state=row.state, job_id=row.job_id, expires_at=iso(expires) or "",
        replaces=_split(row.options)[1],
    )  # fmt: skip


def _split(options: dict[str, Any] | None) -> tuple[dict[str, str] | None, int | None]:
    """A session's options: the scan's choices, and the document it replaces (if any)."""
    choices = dict(options or {})
    replaces = choices.pop(REPLACES, None)
    return choices or None, replaces


def _own(session: Session, upload_id: str, who: Principal) -> UploadSession:
    """The session, if the caller opened it (an administrator may act on any); else not found."""
    row = session.scalars(select(UploadSession).where(UploadSession.id == upload_id)).first()
    if row is None or (who.role != "admin" and row.actor != who.actor):
        raise NotFound(
            f"Không có phiên tải lên {upload_id[:40]} (hoặc đã quá hạn và bị xóa): hãy mở phiên mới.",
            f"No upload session {upload_id[:40]} (or it expired and was swept): open a new one.",
            field="upload_id",
        )
    return row


def open_session(
    ctx: Context, who: Principal, code: str, name: str, size: int, sha256: str, *, kind: str = "component",
    options: dict[str, str] | None = None, replaces: int | None = None,
) -> UploadView:  # fmt: skip
    """A new session for a file of ``size`` bytes, after what can be told before any byte: the
    dossier (well formed, open, received unless the caller may create it) or, for a new scan of
    document ``replaces``, that document (what the one-request replace route checks first), and
    the size limit."""
    who.require_dossier(code)  # another agency's dossier: not found
    stored: dict[str, Any] | None = dict(options) if options else None
    if replaces is None:
        creates = dossiers.may_create(ctx.settings, who.role)
        scans.check_dossier(ctx, code, create_dossier=creates)
    else:
        if kind != "component":
            raise SohoaError(
                "Quét lại một tài liệu không kèm loại tài liệu (tài liệu giữ loại của nó) và không là lô.",
                "A new scan of a document takes no kind (the document keeps its own) and is no batch.",
                field="kind",
            )
        creates = False
        scans.check_document(ctx, code, replaces)
        stored = {**(options or {}), REPLACES: replaces}
    name, limit = clean_filename(name), ctx.settings.max_upload_bytes
    if size > limit:
        raise TooLarge(
            f"Tệp {name} vượt giới hạn {limit:,} byte.", f"{name} exceeds the limit of {limit:,} bytes.", field="size"
        )
    sweep(ctx)  # every new session clears the abandoned ones: no timer of its own needed
    _room_for_one_more(ctx, who)
    row = UploadSession(
        id=uuid.uuid4().hex, actor=who.actor, dossier_code=code, name=name, size=size, sha256=sha256.lower(),
        received=0, kind=kind, options=stored, creates_dossier=creates, state="open",
    )  # fmt: skip
    (folder(ctx) / row.id).touch(exist_ok=False)
    with ctx.sessions.begin() as session:
        session.add(row)
        session.flush()
        return _view(ctx, row)


def _room_for_one_more(ctx: Context, who: Principal) -> None:
    with ctx.sessions() as session:
        held = session.scalar(
            select(func.count()).where(UploadSession.actor == who.actor, UploadSession.state != "done")
        )
    if (held or 0) >= OPEN_PER_CALLER:
        raise _later(
            TooManySessions(
                f"Đã có {held} phiên tải lên dở dang; hoàn tất bớt hoặc chờ phiên bỏ dở được xóa.",
                f"{held} upload sessions are open already; complete some, or wait for abandoned ones to be swept.",
                field="upload_id",
            ),
            60,
        )


def get_session(ctx: Context, upload_id: str, who: Principal) -> UploadView:
    with ctx.sessions() as session:
        return _view(ctx, _own(session, upload_id, who))


def _not_at(offset: int, received: int) -> OffsetMismatch:
    return OffsetMismatch(
        f"Phần gửi bắt đầu ở byte {offset:,} nhưng máy chủ đã có {received:,} byte: gửi tiếp từ {received:,}.",
        f"The piece starts at byte {offset:,} but the server holds {received:,} bytes: go on from {received:,}.",
        received=received,
    )


@dataclasses.dataclass(frozen=True)
class Piece:
    """A piece about to be read: where it goes, how much room is left, its expected SHA-256."""

    upload_id: str
    path: Path
    offset: int
    room: int
    expected: str | None
    name: str


def _past_the_end(name: str, size: int) -> PastTheEnd:
    error = PastTheEnd(
        f"Phần gửi vượt quá {size:,} byte đã khai cho tệp {name}.",
        f"The piece goes past the {size:,} bytes declared for {name}.",
        field="Content-Length",
    )
    error.headers["Content-Range"] = f"bytes */{size}"
    return error


def begin_piece(
    ctx: Context, upload_id: str, who: Principal, offset: int, length: int | None, digest: str | None
) -> Piece:
    """What a piece's headers must show before its body is read: the caller's own open session,
    the offset the server holds, and a length within the declared size."""
    with ctx.sessions.begin() as session:
        row = _own(session, upload_id, who)
        if row.state != "open":
            raise Busy(
                f"Phiên tải lên {row.id} đã đủ và đang hoặc đã được hoàn tất.",
                f"Upload session {row.id} is complete and being or already finished.",
                field="upload_id",
            )
        if offset != row.received:
            raise _not_at(offset, row.received)
        if length is not None and offset + length > row.size:
            raise _past_the_end(row.name, row.size)
        row.updated_at = now()  # a session being written is not abandoned
        piece = Piece(row.id, folder(ctx) / row.id, offset, row.size - offset, None, row.name)
    if not piece.path.is_file():
        raise Gone(
            f"Các byte đã nhận của {piece.name} không còn trên máy chủ này: hãy mở phiên mới.",
            f"The bytes received of {piece.name} are not on this server any more: open a new session.",
            field="upload_id",
        )
    return dataclasses.replace(piece, expected=expected_sha256(digest, piece.name))


async def receive(ctx: Context, piece: Piece, chunks: AsyncIterator[bytes], who: Principal) -> UploadView:
    """Write the piece at its offset as it streams in, then count it (what arrived, if the
    connection dropped and the piece had no digest to match)."""
    written, digest, cut = 0, hashlib.sha256(), False
    fd = os.open(piece.path, os.O_WRONLY)
    try:
        try:
            async for chunk in chunks:
                if written + len(chunk) > piece.room:
                    raise _past_the_end(piece.name, piece.offset + piece.room)
                os.pwrite(fd, chunk, piece.offset + written)
                written += len(chunk)
                digest.update(chunk)
        except ClientDisconnect:
            cut = True
        await run_in_threadpool(os.fsync, fd)  # counted only once on disk (not waited for on the event loop)
    finally:
        os.close(fd)
    if piece.expected is not None and (cut or digest.hexdigest() != piece.expected):
        if not cut:
            raise ChecksumMismatch(
                f"Phần gửi của {piece.name} từ byte {piece.offset:,} bị hỏng trên đường truyền; hãy gửi lại phần đó.",
                f"The piece of {piece.name} from byte {piece.offset:,} was damaged in transit; send it again.",
                field="Content-Digest",
            )
        written = 0  # a part of a piece cannot match its digest
    return await run_in_threadpool(_count, ctx, piece, written, who)


def _count(ctx: Context, piece: Piece, written: int, who: Principal) -> UploadView:
    with ctx.sessions.begin() as session:
        won = changed(
            session,
            update(UploadSession)
            .where(UploadSession.id == piece.upload_id, UploadSession.received == piece.offset)
            .where(UploadSession.state == "open")
            .values(received=piece.offset + written, updated_at=now()),
        )
        row = _own(session, piece.upload_id, who)
        if not won:  # another piece for this offset counted first
            raise _not_at(piece.offset, row.received)
        return _view(ctx, row)


def _claim(ctx: Context, upload_id: str, who: Principal, digest: str | None) -> UploadSession | AcceptedJob:
    """The session, taken for completion (or the job it made, if it was completed before)."""
    with ctx.sessions.begin() as session:
        row = _own(session, upload_id, who)
        if row.state == "done" and row.job_id:
            return AcceptedJob(**scans.get_job(ctx, row.job_id).model_dump(), created=False)
        if row.received < row.size:
            raise OffsetMismatch(
                f"Tệp {row.name} mới nhận {row.received:,}/{row.size:,} byte: gửi nốt rồi hoàn tất.",
                f"{row.name} has {row.received:,} of {row.size:,} bytes: send the rest, then complete.",
                received=row.received,
            )
        if digest is not None and expected_sha256(digest, row.name) != row.sha256:
            raise ChecksumMismatch(
                f"Content-Digest của {row.name} khác SHA-256 đã khai khi mở phiên.",
                f"The Content-Digest of {row.name} is not the SHA-256 declared when the session opened.",
                field="Content-Digest",
            )
        if row.state == "completing" and not _abandoned(row):
            raise _later(
                Busy(
                    f"Phiên tải lên {row.id} đang được hoàn tất; hỏi lại sau ít giây.",
                    f"Upload session {row.id} is being completed; ask again in a few seconds.",
                    field="upload_id",
                ),
                5,
            )
        same = (
            (UploadSession.state == "open")
            if row.state == "open"
            else (UploadSession.state == "completing") & (UploadSession.completing_by == row.completing_by)
        )
        taken = update(UploadSession).where(UploadSession.id == row.id, same)
        if not changed(session, taken.values(state="completing", completing_by=scratch.me(), updated_at=now())):
            raise Busy(
                f"Phiên tải lên {row.id} vừa được tiến trình khác nhận hoàn tất; hỏi lại sau ít giây.",
                f"Another process has just taken upload session {row.id} to complete; ask again in a few seconds.",
                field="upload_id",
            )
        session.refresh(row)
        return row


def _abandoned(row: UploadSession) -> bool:
    """A completion whose process has ended (on this host), or that has gone on too long."""
    return scratch.ended(row.completing_by) or row.updated_at < now() - STALE_COMPLETION


def complete(ctx: Context, upload_id: str, who: Principal, digest: str | None = None) -> AcceptedJob:
    """Check the whole file's SHA-256 and accept it as a scan (or a batch); ``created`` false
    when these bytes were accepted before, by this session or another upload."""
    claimed = _claim(ctx, upload_id, who, digest)
    if isinstance(claimed, AcceptedJob):
        return claimed
    row, path = claimed, folder(ctx) / claimed.id
    if not path.is_file():
        _drop(ctx, row.id)
        raise Gone(
            f"Các byte đã nhận của {row.name} không còn trên máy chủ này: hãy gửi lại trong phiên mới.",
            f"The bytes received of {row.name} are not on this server any more: send it again in a new session.",
            field="upload_id",
        )
    if sha256_file(path) != row.sha256:
        _drop(ctx, row.id)
        raise ChecksumMismatch(
            f"Tệp {row.name} nhận được khác SHA-256 đã khai (hỏng hoặc đổi trong khi gửi); phiên đã hủy, hãy gửi lại.",
            f"{row.name} as received is not the SHA-256 declared (damaged or changed while sent); the session is "
            "dropped, send it again.",
            field="Content-Digest",
        )
    # The store takes a link of its own: a completion taken over from one that was slow, not dead,
    # never has the bytes moved from under it (the same bytes again are only de-duplicated).
    own = ctx.tmp / f"upload-{uuid.uuid4().hex}"
    try:
        os.link(path, own)
    except OSError:  # a file system without hard links
        shutil.copyfile(path, own)
    try:
        accepted = _hand_over(ctx, row, own, who)
    except SohoaError:
        with ctx.sessions.begin() as session:  # refused as a scan: the bytes stay, the caller is told why
            session.execute(update(UploadSession).where(UploadSession.id == row.id).values(state="open"))
        raise
    finally:
        own.unlink(missing_ok=True)
    with ctx.sessions.begin() as session:
        done = {"state": "done", "job_id": accepted.id, "updated_at": now()}
        session.execute(update(UploadSession).where(UploadSession.id == row.id).values(**done))
    path.unlink(missing_ok=True)
    return accepted


def _hand_over(ctx: Context, row: UploadSession, own: Path, who: Principal) -> AcceptedJob:
    """The whole file, taken by the path a one-request upload of it takes: a batch, a new scan
    for a document, or a scan."""
    choices, replaces = _split(row.options)
    if row.kind == "batch":
        view = scans.submit_batch(
            ctx, own, row.name, default_code=row.dossier_code, actor=who.actor, create_dossier=row.creates_dossier,
            agencies=who.agencies,
        )  # fmt: skip
        return AcceptedJob(**view.model_dump(), created=True)
    if replaces is not None:
        return scans.replace_scan(
            ctx, row.dossier_code, replaces, own, row.name, actor=who.actor, options=choices, sha256=row.sha256,
            take=True,
        )  # fmt: skip
    return scans.submit_scan(
        ctx, row.dossier_code, own, row.name, actor=who.actor, options=choices, sha256=row.sha256, take=True,
        document_kind=row.kind, create_dossier=row.creates_dossier,
    )  # fmt: skip


def _drop(ctx: Context, upload_id: str) -> None:
    with ctx.sessions.begin() as session:
        session.execute(delete(UploadSession).where(UploadSession.id == upload_id))
    (folder(ctx) / upload_id).unlink(missing_ok=True)


def sweep(ctx: Context) -> list[str]:
    """Remove the sessions untouched for SOHOA_UPLOAD_SESSION_HOURS and their bytes, and bytes
    no session names any more; the ids removed."""
    cutoff = now() - dt.timedelta(hours=ctx.settings.upload_session_hours)
    with ctx.sessions.begin() as session:
        old = list(session.scalars(select(UploadSession.id).where(UploadSession.updated_at < cutoff)))
        if old:
            session.execute(delete(UploadSession).where(UploadSession.id.in_(old), UploadSession.updated_at < cutoff))
        known = set(session.scalars(select(UploadSession.id)))
    for upload_id in old:
        (folder(ctx) / upload_id).unlink(missing_ok=True)
    for path in folder(ctx).iterdir():
        if path.name not in known and dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < cutoff:
            path.unlink(missing_ok=True)
    return old

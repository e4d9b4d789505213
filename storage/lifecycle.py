"""A dossier's lifecycle at the one-stop desk: which status may follow which, who may move it,
and the record of each move (actor, time, reason) in the hash-chained audit log."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from errors import SohoaError
from storage import outbox
from storage.auditlog import append
from storage.catalog import OFFICE_ZONE, AuditEvent, Document, Dossier, Job, JobStatus, changed, iso, now
from storage.errors import NotFound


class DossierStatus(StrEnum):
    """A dossier's states, from reception to the archive (side branches: supplement requested,
    rejected, extended, withdrawn, returned for rework)."""

    RECEIVED = "RECEIVED"
    DIGITIZING = "DIGITIZING"
    DIGITIZED = "DIGITIZED"
    IN_PROCESSING = "IN_PROCESSING"
    EXTENDED = "EXTENDED"
    SUPPLEMENT_REQUESTED = "SUPPLEMENT_REQUESTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    RETURNED_FOR_REWORK = "RETURNED_FOR_REWORK"
    APPROVED = "APPROVED"
    RESULT_SIGNED = "RESULT_SIGNED"
    RETURNED = "RETURNED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    ARCHIVED = "ARCHIVED"


_PROCESSING = {"PENDING_APPROVAL", "SUPPLEMENT_REQUESTED", "EXTENDED", "REJECTED", "WITHDRAWN"}
# DIGITIZING and DIGITIZED are set by the digitization jobs, never by hand.
NEXT: dict[str, set[str]] = {
    "RECEIVED": {"IN_PROCESSING", "REJECTED", "WITHDRAWN"},
    "DIGITIZING": set(),
    "DIGITIZED": {"IN_PROCESSING", "REJECTED", "WITHDRAWN"},
    "IN_PROCESSING": _PROCESSING,
    "EXTENDED": _PROCESSING - {"EXTENDED"},
    "SUPPLEMENT_REQUESTED": {"IN_PROCESSING", "WITHDRAWN"},
    "PENDING_APPROVAL": {"APPROVED", "RETURNED_FOR_REWORK", "REJECTED"},
    "RETURNED_FOR_REWORK": {"IN_PROCESSING", "PENDING_APPROVAL"},
    "APPROVED": {"RESULT_SIGNED"},
    "RESULT_SIGNED": {"RETURNED"},
    "RETURNED": {"ARCHIVED"},
    "REJECTED": {"RETURNED", "ARCHIVED"},
    "WITHDRAWN": {"ARCHIVED"},
    "ARCHIVED": set(),
}
STATUSES = tuple(NEXT)
assert set(STATUSES) == set(DossierStatus), "every status has its moves"
# Who may move a dossier into a status; an admin may do all.
ROLES_FOR = {
    "APPROVED": ("leader",),
    "RETURNED_FOR_REWORK": ("leader",),
    "RESULT_SIGNED": ("leader",),
    "ARCHIVED": ("archivist", "clerk"),
}
DEFAULT_ROLES = ("clerk", "leader")
NEEDS_REASON = {"REJECTED", "WITHDRAWN", "SUPPLEMENT_REQUESTED", "RETURNED_FOR_REWORK", "EXTENDED"}
DIGITIZABLE = {"RECEIVED", "DIGITIZING", "DIGITIZED"}  # where a new scan's job may set the status
# Closed: the record is final. Scans, signatures, document and metadata changes are refused;
# only the archive's own operations (legal hold, export, signature renewal) act on it.
CLOSED = {"ARCHIVED": ("đã lưu trữ", "archived"), "REJECTED": ("đã bị từ chối", "rejected"),
          "WITHDRAWN": ("đã rút", "withdrawn")}  # fmt: skip


class TransitionRefused(SohoaError):
    status = 409
    code = "transition-refused"


class DossierClosed(SohoaError):
    status = 409
    code = "dossier-closed"


def check_open(session: Session, code: str, what_vi: str, what_en: str) -> None:
    """Refuse a change to a closed dossier (archived, rejected, withdrawn) with the reason."""
    status = session.scalar(select(Dossier.status).where(Dossier.code == code))
    if status in CLOSED:
        vi, en = CLOSED[status]
        raise DossierClosed(
            f"Hồ sơ {code} {vi} ({status}): không {what_vi} được nữa; hồ sơ đã đóng chỉ còn các thao tác lưu trữ.",
            f"Dossier {code} is {en} ({status}): {what_en} is refused; a closed dossier takes only archive operations.",
            field="code",
        )


def roles_for(status: str) -> tuple[str, ...]:
    return ROLES_FOR.get(status, DEFAULT_ROLES)


def move(
    session: Session,
    code: str,
    to: str,
    *,
    actor: str,
    reason: str = "",
    due_on: dt.date | None = None,
    returned_on: dt.date | None = None,
    **note: Any,
) -> Dossier:
    """Move a dossier to ``to`` if its lifecycle allows it; a concurrent move makes this one fail.
    ``returned_on``: the day a dossier moved to RETURNED was handed back (default today, office
    time); ``note``: more for the history (who reported the move)."""
    dossier = session.get(Dossier, code)
    if dossier is None:
        raise NotFound(f"Không có hồ sơ {code}.", f"No dossier {code}.", field="code")
    current = dossier.status
    if to not in NEXT:
        raise SohoaError(f"Không có trạng thái {to[:40]}.", f"No status {to[:40]}.", field="to")
    if to not in NEXT[current]:
        allowed = ", ".join(sorted(NEXT[current])) or "—"
        raise TransitionRefused(
            f"Hồ sơ {code} đang ở {current}, không chuyển sang {to} được (được: {allowed}).",
            f"Dossier {code} is {current} and cannot move to {to} (allowed: {allowed}).",
            field="to",
        )
    reason = reason.strip()
    if to in NEEDS_REASON and not reason:
        raise SohoaError(f"Chuyển sang {to} cần ghi lý do.", f"Moving to {to} needs a reason.", field="reason")
    values: dict[str, Any] = {"status": to, "updated_at": now()}
    if to == "RETURNED":
        values["returned_on"] = returned_on or now().astimezone(OFFICE_ZONE[0]).date()
    if to == "EXTENDED":
        if due_on is None or (dossier.due_on is not None and due_on <= dossier.due_on):
            raise SohoaError(
                "Gia hạn cần ngày hẹn trả mới, sau ngày hẹn cũ.",
                "An extension needs a new due date, later than the old one.",
                field="due_on",
            )
        values["due_on"] = due_on
    moved = changed(session, update(Dossier).where(Dossier.code == code, Dossier.status == current).values(**values))
    if not moved:
        raise TransitionRefused(
            f"Hồ sơ {code} vừa được người khác chuyển trạng thái; tải lại rồi thử lại.",
            f"Dossier {code} was just moved by someone else; reload and try again.",
            field="to",
        )
    detail: dict[str, Any] = {"from": current, "to": to, "reason": reason, **note}
    for key in ("due_on", "returned_on"):
        if key in values:
            detail[key] = values[key].isoformat()
    append(session, actor, "dossier.transition", code, **detail)
    outbox.record(session, outbox.DOSSIER_STATUS, code, actor=actor, **detail)
    session.refresh(dossier)
    return dossier


def move_automatically(session: Session, dossier: Dossier, to: str, *, actor: str, reason: str, **detail: Any) -> None:
    """A move a digitization job makes (DIGITIZING, DIGITIZED, or back when it fails), in the
    dossier's history like any other: the job and the station that posted the scan, the time."""
    before = dossier.status
    if before == to:
        return
    dossier.status = to
    session.flush()  # the dossier's row before the log's lock, the order every writer takes them in (PostgreSQL)
    moved = {"from": before, "to": to, "reason": reason, "automatic": True, **detail}
    append(session, actor, "dossier.transition", dossier.code, **moved)
    outbox.record(session, outbox.DOSSIER_STATUS, dossier.code, actor=actor, **moved)


PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)


def digitized_state(session: Session, code: str, *, finishing: str | None = None) -> tuple[str, str]:
    """What a dossier's documents make it, and why: DIGITIZING while one's job waits or runs,
    DIGITIZED when every document's latest job is done (``finishing``: the job recording its work
    now, done with it), else RECEIVED (one failed or was cancelled, or none is left). A batch's
    documents have no job of their own: they are made done."""
    live = select(Document.id).where(Document.dossier_code == code, Document.removed_at.is_(None))
    latest: dict[int | None, str] = {document_id: JobStatus.DONE for document_id in session.scalars(live)}
    jobs = select(Job.id, Job.document_id, Job.status).where(Job.document_id.in_(live)).order_by(Job.created_at)
    for job_id, document_id, status in session.execute(jobs):
        latest[document_id] = JobStatus.DONE if job_id == finishing else status
    if any(status in PENDING for status in latest.values()):
        return "DIGITIZING", "đang số hóa"
    if not latest:
        return "RECEIVED", "hồ sơ không còn tài liệu"
    if all(status == JobStatus.DONE for status in latest.values()):
        return "DIGITIZED", "đã số hóa"
    return "RECEIVED", "số hóa lỗi" if JobStatus.FAILED in latest.values() else "số hóa bị hủy"


def settle(session: Session, dossier: Dossier, *, actor: str, finishing: str | None = None, **detail: Any) -> None:
    """Move a dossier still being received or digitized to what its documents make it (a dossier
    further on keeps its status): one with a failed or waiting document is not DIGITIZED."""
    if dossier.status in DIGITIZABLE:
        to, reason = digitized_state(session, dossier.code, finishing=finishing)
        move_automatically(session, dossier, to, actor=actor, reason=reason, **detail)


def history(session: Session, code: str) -> list[dict[str, Any]]:
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.dossier_code == code, AuditEvent.action == "dossier.transition")
        .order_by(AuditEvent.id)
    )
    result = []
    for e in events:
        result.append({"at": iso(e.at), "actor": e.actor, **(e.detail or {})})
    return result

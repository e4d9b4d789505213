"""API tokens and roles: who may call which route, and the actor every audit entry names.

Each person and each scanner station gets its own token (``sohoa users add``). Only the
token's SHA-256 is stored: the token is 32 random bytes, so a plain hash cannot be reversed
and lets a request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from errors import SohoaError
from storage.auditlog import append
from storage.catalog import ApiToken, now

ROLES = {
    "scanner": ("trạm quét", "scanner station"),
    "clerk": ("cán bộ một cửa", "one-stop clerk"),
    "leader": ("lãnh đạo", "leader"),
    "archivist": ("cán bộ lưu trữ", "archivist"),
    "admin": ("quản trị", "administrator"),
}
# Who may do what; an admin may do everything.
UPLOAD = ("scanner", "clerk")
READ = ("clerk", "leader", "archivist")
SIGN = ("clerk", "leader")
ANYONE = tuple(ROLES)
PREFIX = "sohoa_"


class Unauthorized(SohoaError):
    status = 401
    code = "unauthorized"


class Forbidden(SohoaError):
    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        """How the audit log names this caller: the name, and the token id that tells namesakes apart."""
        return f"{self.name} #{self.id}"

    def require(self, roles: tuple[str, ...]) -> None:
        if self.role != "admin" and self.role not in roles:
            allowed = ", ".join(ROLES[r][0] for r in roles)
            raise Forbidden(
                f"Vai trò {ROLES[self.role][0]} không được làm việc này (cần: {allowed}).",
                f"The {ROLES[self.role][1]} role may not do this (needs: {', '.join(roles)}).",
                field="role",
            )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise SohoaError(
            f"Vai trò «{role}» không có; chọn một trong: {', '.join(ROLES)}.",
            f"No role “{role}”; choose one of: {', '.join(ROLES)}.",
            field="role",
        )


def issue(sessions: sessionmaker[Session], name: str, role: str, *, actor: str = "admin") -> tuple[ApiToken, str]:
    """A new token for ``name``; the token itself is returned once and never stored."""
    _check_role(role)
    name = name.strip()
    if not name or len(name) > 100:
        raise SohoaError("Tên phải có từ 1 đến 100 ký tự.", "The name must be 1 to 100 characters.", field="name")
    token = PREFIX + secrets.token_urlsafe(32)
    with sessions.begin() as session:
        row = ApiToken(name=name, role=role, token_sha256=_digest(token))
        session.add(row)
        session.flush()
        append(session, actor, "token.issued", None, token=row.id, name=name, role=role)
    return row, token


def revoke(sessions: sessionmaker[Session], token_id: int, *, actor: str = "admin") -> ApiToken:
    with sessions.begin() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise SohoaError(f"Không có mã truy cập số {token_id}.", f"No token number {token_id}.", field="id")
        if row.revoked_at is None:
            row.revoked_at = now()
            append(session, actor, "token.revoked", None, token=row.id, name=row.name)
    return row


def tokens(sessions: sessionmaker[Session]) -> list[ApiToken]:
    with sessions() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def authenticate(sessions: sessionmaker[Session], token: str | None) -> Principal:
    if not token:
        raise Unauthorized(
            "Cần mã truy cập: gửi tiêu đề Authorization: Bearer <mã>.",
            "A token is needed: send the header Authorization: Bearer <token>.",
            field="Authorization",
        )
    with sessions() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_sha256 == _digest(token))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized(
            "Mã truy cập không đúng hoặc đã bị thu hồi.",
            "The token is wrong or has been revoked.",
            field="Authorization",
        )
    return Principal(row.id, row.name, row.role)

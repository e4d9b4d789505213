"""People at the web pages: a name and a password (argon2) on their user row (the same row as their
API token and role), lock-out after repeated failures, sessions kept by the SHA-256 of their
cookie, password change, and the first administrator of a fresh install."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from errors import SohoaError
from service import access
from service.access import Principal, Unauthorized
from service.context import Context, audit
from storage.catalog import ApiToken, WebSession, iso, now

log = logging.getLogger("sohoa")
MIN_PASSWORD = 10
FIRST_ADMIN = "admin"
_hasher = PasswordHasher()
# Checked when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class LoginFailed(SohoaError):
    status = 401
    code = "login-failed"


class LockedOut(SohoaError):
    status = 429
    code = "locked-out"


@dataclass(frozen=True)
class Login:
    """A session just opened: the cookie's value (given to the browser only) and its CSRF token."""

    principal: Principal
    cookie: str
    csrf: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _name(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip()


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 1000:
        raise SohoaError(
            f"Mật khẩu phải có từ {MIN_PASSWORD} đến 1000 ký tự.",
            f"The password must be {MIN_PASSWORD} to 1000 characters.",
            field="password",
        )


def set_password(ctx: Context, token_id: int, password: str, *, actor: str) -> None:
    """Give a user row a password; a person logs in by name, so no two active rows with a password
    may share one. The log keeps the hash's SHA-256: the audit finds a hash swapped in the catalog."""
    _check_strength(password)
    hashed = _hasher.hash(password)
    with ctx.sessions.begin() as session:
        row = access.token_row(session, token_id)
        namesake = session.scalar(
            select(func.count()).where(
                ApiToken.name == row.name,
                ApiToken.id != row.id,
                ApiToken.password_hash.is_not(None),
                ApiToken.revoked_at.is_(None),
            )
        )
        if namesake:
            raise SohoaError(
                f"Đã có người dùng khác tên «{row.name}» đăng nhập bằng mật khẩu; đặt tên khác cho tài khoản này.",
                f"Another user named “{row.name}” logs in with a password; give this account another name.",
                field="name",
            )
        row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None
        session.execute(delete(WebSession).where(WebSession.token_id == row.id))  # other browsers log in again
        audit(session, actor, "token.password_set", None, token=row.id, name=row.name, password_sha256=_digest(hashed))


def add_person(ctx: Context, name: str, role: str, password: str, *, actor: str) -> tuple[ApiToken, str]:
    """A user row with a password (and, as every row, an API token, returned once)."""
    _check_strength(password)
    row, token = access.issue(ctx.sessions, _name(name), role, actor=actor)
    try:
        set_password(ctx, row.id, password, actor=actor)
    except SohoaError:
        access.revoke(ctx.sessions, row.id, actor=actor)  # the row stays for the record, unusable
        raise
    return row, token


def _locked_message(until: dt.datetime) -> LockedOut:
    shown = (iso(until) or "")[11:16]
    return LockedOut(
        f"Tài khoản tạm khóa vì nhập sai mật khẩu nhiều lần; thử lại sau {shown}.",
        f"The account is locked after repeated wrong passwords; try again after {shown}.",
        field="password",
    )


def login(ctx: Context, name: str, password: str) -> Login:
    """Open a session for ``name`` if ``password`` is theirs. SOHOA_LOGIN_ATTEMPTS wrong passwords in
    a row lock the account for SOHOA_LOGIN_LOCKOUT_SECONDS; every attempt is in the audit log."""
    name = _name(name)
    with ctx.sessions.begin() as session:
        row = session.scalars(
            select(ApiToken).where(
                ApiToken.name == name, ApiToken.password_hash.is_not(None), ApiToken.revoked_at.is_(None)
            )
        ).first()
        if row is None:
            _verify(_DUMMY, password)
            audit(session, f"web:{name[:80]}", "user.login_failed", None, reason="unknown name")
            failed: SohoaError = LoginFailed(
                "Tên hoặc mật khẩu không đúng.", "Wrong name or password.", field="password"
            )
        elif row.locked_until is not None and row.locked_until > now():
            audit(session, access_actor(row), "user.login_refused", None, reason="locked")
            failed = _locked_message(row.locked_until)
        elif not _verify(row.password_hash or "", password):
            failed = _count_failure(ctx, session, row)
        else:
            row.failed_logins, row.locked_until = 0, None
            cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            expires = now() + dt.timedelta(hours=ctx.settings.session_hours)
            session.add(WebSession(id=_digest(cookie), token_id=row.id, csrf=csrf, expires_at=expires))
            audit(session, access_actor(row), "user.login", None, token=row.id)
            return Login(access.principal_of(session, row), cookie, csrf)
    raise failed  # after the commit: the attempt counts and is in the log


def _wrong() -> LoginFailed:
    return LoginFailed("Tên hoặc mật khẩu không đúng.", "Wrong name or password.", field="password")


def _count_failure(ctx: Context, session: Session, row: ApiToken) -> SohoaError:
    row.failed_logins += 1
    if row.failed_logins < ctx.settings.login_attempts:
        audit(session, access_actor(row), "user.login_failed", None, token=row.id)
        return _wrong()
    row.locked_until = now() + dt.timedelta(seconds=ctx.settings.login_lockout_seconds)
    row.failed_logins = 0
    audit(session, access_actor(row), "user.locked", None, token=row.id, until=iso(row.locked_until))
    return _locked_message(row.locked_until)


def access_actor(row: ApiToken) -> str:
    return Principal(row.id, row.name, row.role).actor


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def session_of(ctx: Context, cookie: str | None) -> tuple[Principal, str] | None:
    """The person and CSRF token of a live session, or None (no cookie, expired, revoked user)."""
    if not cookie:
        return None
    with ctx.sessions() as session:
        found = session.execute(
            select(WebSession, ApiToken)
            .join(ApiToken, ApiToken.id == WebSession.token_id)
            .where(WebSession.id == _digest(cookie))
        ).first()
        if found is None:
            return None
        web, row = found
        if web.expires_at <= now() or row.revoked_at is not None or row.password_hash is None:
            return None
        return access.principal_of(session, row), web.csrf


def logout(ctx: Context, cookie: str, *, actor: str) -> None:
    with ctx.sessions.begin() as session:
        session.execute(delete(WebSession).where(WebSession.id == _digest(cookie)))
        audit(session, actor, "user.logout", None)


def change_password(ctx: Context, who: Principal, old: str, new: str) -> None:
    """A person changes their own password: the old one first; their other sessions end."""
    with ctx.sessions() as session:
        row = access.token_row(session, who.id)
    if not _verify(row.password_hash or "", old):
        raise LoginFailed("Mật khẩu hiện tại không đúng.", "The current password is wrong.", field="old_password")
    if old == new:
        raise SohoaError("Mật khẩu mới phải khác mật khẩu cũ.", "The new password must differ.", field="new_password")
    set_password(ctx, who.id, new, actor=who.actor)


def require_session(found: tuple[Principal, str] | None) -> tuple[Principal, str]:
    if found is None:
        raise Unauthorized("Cần đăng nhập.", "Please log in.", field="session")
    return found


def first_admin(ctx: Context) -> str | None:
    """On a fresh install (no one with a password yet) make the account ``admin`` with a random
    password, written to <data_dir>/admin-password.txt (readable by its owner only) and returned
    for the start-up message; None when someone can log in already."""
    with ctx.sessions() as session:
        someone = session.scalar(select(func.count()).where(ApiToken.password_hash.is_not(None)))
    if someone:
        return None
    password = secrets.token_urlsafe(12)
    add_person(ctx, FIRST_ADMIN, "admin", password, actor="sohoa:first-start")
    path: Path = ctx.settings.data_dir / "admin-password.txt"
    path.touch(mode=0o600)
    path.write_text(f"{FIRST_ADMIN}\n{password}\n", encoding="utf-8")
    return password

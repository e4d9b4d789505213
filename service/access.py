"""API tokens and roles: who may call which route, and the actor every audit entry names.

Each person and each scanner station gets its own token (``sohoa users add``). Only the
token's SHA-256 is stored: the token is 32 random bytes, so a plain hash cannot be reversed
and lets a request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from errors import SohoaError
from storage.auditlog import append
from storage.catalog import Agency, ApiToken, TokenAgency, now
from storage.codes import agency_of
from storage.errors import no_dossier

ROLES = {
    "scanner": ("trạm quét", "scanner station"),
    "clerk": ("cán bộ một cửa", "one-stop clerk"),
    "leader": ("lãnh đạo", "leader"),
    "seal_keeper": ("văn thư (giữ con dấu)", "records clerk (keeps the seal)"),
    "archivist": ("cán bộ lưu trữ", "archivist"),
    "admin": ("quản trị", "administrator"),
    "onestop": ("hệ thống một cửa (tích hợp)", "one-stop system (integration)"),
}
# Who may do what; an admin may do everything.
UPLOAD = ("scanner", "clerk")
READ = ("clerk", "leader", "archivist", "seal_keeper")
SIGN = ("clerk", "leader", "seal_keeper")  # the signing routes; service.signing_rules says who signs what
VOUCH = ("clerk",)  # the one-stop officer vouches a digitized copy matches the paper
SIGN_RESULT = ("leader",)  # the person with authority signs an issued result
ONESTOP = ("onestop",)  # the one-stop software: feeds dossiers in, takes results and figures back
FETCH = (*READ, *ONESTOP)  # a dossier, its downloads and their verification, by its code
ANYONE = tuple(ROLES)
PREFIX = "sohoa_"
Scope = frozenset[str] | None  # the agency codes a caller sees; None: every agency


class Unauthorized(SohoaError):
    status = 401
    code = "unauthorized"

    def __init__(self, vi: str, en: str, *, field: str | None = None) -> None:
        super().__init__(vi, en, field=field)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(SohoaError):
    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    id: int
    name: str
    role: str
    agencies: Scope = None  # the agencies whose dossiers it sees (service.agencies); None: all

    def sees(self, code: str) -> bool:
        """Whether the dossier ``code`` is of an agency this caller sees."""
        return self.agencies is None or agency_of(code) in self.agencies

    def require_dossier(self, code: str) -> None:
        """Another agency's dossier is answered as one that is not there: its existence is not told."""
        if not self.sees(code):
            raise no_dossier(code)

    def require_everywhere(self) -> None:
        """Users, stations and agencies are managed by an administrator of the whole deployment."""
        if self.agencies is not None:
            raise Forbidden(
                "Chỉ quản trị của toàn hệ thống (không gắn với cơ quan nào) mới làm được việc này.",
                "Only an administrator of the whole deployment (of no single agency) may do this.",
                field="agency",
            )

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
        # The token's hash too: the audit checks every token row against the log.
        append(session, actor, "token.issued", None, token=row.id, name=name, role=role, token_sha256=row.token_sha256)
    return row, token


def token_row(session: Session, token_id: int) -> ApiToken:
    """Token ``token_id``'s row, or an error naming the number."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise SohoaError(f"Không có mã truy cập số {token_id}.", f"No token number {token_id}.", field="id")
    return row


def revoke(sessions: sessionmaker[Session], token_id: int, *, actor: str = "admin") -> ApiToken:
    with sessions.begin() as session:
        row = token_row(session, token_id)
        if row.revoked_at is None:
            row.revoked_at = now()
            append(session, actor, "token.revoked", None, token=row.id, name=row.name)
    return row


def bind_certificate(sessions: sessionmaker[Session], token_id: int, cert_der: bytes, *, actor: str) -> ApiToken:
    """Bind a person's signing certificate to their token: their two-step signatures must then
    be made with it, and no one else's may."""
    sha256 = hashlib.sha256(cert_der).hexdigest()
    with sessions.begin() as session:
        row = token_row(session, token_id)
        row.certificate_sha256 = sha256
        append(session, actor, "token.certificate_bound", None, token=row.id, name=row.name, certificate=sha256)
    return row


class CertificateNotYours(SohoaError):
    status = 403
    code = "certificate-not-yours"


def check_certificate_holder(sessions: sessionmaker[Session], principal: Principal, cert_der: bytes) -> None:
    """The certificate a person signs with is theirs: the one bound to their token, if any, and
    not one bound to someone else."""
    sha256 = hashlib.sha256(cert_der).hexdigest()
    with sessions() as session:
        own = session.get(ApiToken, principal.id)
        holders = session.scalars(
            select(ApiToken.name).where(ApiToken.certificate_sha256 == sha256, ApiToken.revoked_at.is_(None))
        ).all()
    if own is not None and own.certificate_sha256 not in (None, sha256):
        raise CertificateNotYours(
            "Tài khoản của bạn gắn với một chứng thư ký khác; hãy ký bằng chứng thư của mình.",
            "Your account is bound to another signing certificate; sign with your own.",
            field="certificates",
        )
    if any(name != principal.name for name in holders):
        raise CertificateNotYours(
            "Chứng thư này gắn với tài khoản của người khác; không ký thay được.",
            "This certificate is bound to someone else's account; no one may sign in their place.",
            field="certificates",
        )


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
        return principal_of(session, row)


def principal_of(session: Session, row: ApiToken) -> Principal:
    """The caller a user row names, with the agencies it sees."""
    return Principal(row.id, row.name, row.role, scope_of(session, row.id))


def _tree(session: Session) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for code, parent in session.execute(select(Agency.code, Agency.parent)):
        if parent:
            children.setdefault(parent, []).append(code)
    return children


def expand(session: Session, agencies: Iterable[str]) -> frozenset[str]:
    """The agencies and every agency under them in the registry."""
    children, found, todo = _tree(session), set(), list(agencies)
    while todo:
        code = todo.pop()
        if code not in found:
            found.add(code)
            todo.extend(children.get(code, ()))
    return frozenset(found)


def scope_of(session: Session, token_id: int) -> Scope:
    """The agencies a user or station sees: theirs with those under them; None if they belong to none."""
    own = session.scalars(select(TokenAgency.agency).where(TokenAgency.token_id == token_id)).all()
    return expand(session, own) if own else None

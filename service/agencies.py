"""The agencies of one deployment: a province's departments, its districts and communes, each
receiving dossiers under its own code (the first part of the dossier code, ``000.00.12.H12``),
signing them with its own key and naming itself on their stamps. Users and scanner stations
belong to agencies and see only those agencies' dossiers (with the agencies under them); one
that belongs to none sees every agency (a province administrator)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, delete, select, true
from sqlalchemy.orm import Session

from errors import SohoaError
from service.access import Scope, expand
from service.context import Context, audit
from service.options import AgencyProfile, SigningProfile, agency_signer, signing_profile
from storage.catalog import Agency, ApiToken, Dossier, TokenAgency
from storage.codes import agency_of
from storage.errors import NotFound

if TYPE_CHECKING:
    from signing.signers import AgencySigner

CODE = re.compile(r"[0-9A-Za-z]{1,8}(\.[0-9A-Za-z]{1,8}){0,5}")
RETENTION_CODES = ("01", "70", "50", "30", "20", "10")


class AgencyFields(BaseModel):
    """What the registry keeps of an agency (every field optional in an update)."""

    name: str | None = Field(None, max_length=300, description="Tên cơ quan (như trên con dấu) / name on its stamp")
    name_en: str | None = Field(None, max_length=300, description="Tên tiếng Anh / English name")
    parent: str | None = Field(None, max_length=32, description="Mã cơ quan cấp trên / parent agency's code")
    pkcs12: str | None = Field(None, max_length=500, description="Tệp PKCS#12 của cơ quan / its PKCS#12 file")
    pkcs12_password_file: str | None = Field(None, max_length=500, description="Tệp mật khẩu PKCS#12")
    pkcs11_module: str | None = Field(None, max_length=500, description="Thư viện PKCS#11 của token/HSM")
    pkcs11_token: str | None = Field(None, max_length=200, description="Nhãn token")
    pkcs11_key: str | None = Field(None, max_length=200, description="Nhãn khóa và chứng thư trên token")
    pkcs11_pin_file: str | None = Field(None, max_length=500, description="Tệp mã PIN của token")
    seal_image: str | None = Field(None, max_length=500, description="Ảnh con dấu (PNG nền trong suốt)")
    tsa_url: str | None = Field(None, max_length=500, description="Máy chủ dấu thời gian (RFC 3161)")
    ocsp_url: str | None = Field(None, max_length=500, description="Máy chủ OCSP của CA")
    retention: dict[str, str] | None = Field(
        None, description="Thời hạn bảo quản theo mã thủ tục ('*': còn lại) / retention code by procedure code"
    )


class AgencyView(BaseModel):
    code: str
    name: str
    name_en: str
    parent: str | None
    signing: str = Field(description="pkcs12, pkcs11, hoặc deployment: khóa chung của hệ thống (PKI DEMO nếu chưa có)")
    seal_image: str | None
    tsa_url: str
    ocsp_url: str
    retention: dict[str, str]


def within(column: Any, scope: Scope) -> ColumnElement[bool]:
    """A catalog filter: ``column`` (an agency code) is one the scope sees."""
    return true() if scope is None else column.in_(sorted(scope))


def codes_within(column: Any, scope: Scope) -> ColumnElement[bool]:
    """A catalog filter: ``column`` (a dossier code) names a dossier of an agency the scope sees."""
    if scope is None:
        return true()
    return column.in_(select(Dossier.code).where(Dossier.agency.in_(sorted(scope))))


def memberships(ctx: Context) -> dict[int, list[str]]:
    """The agencies each user or station belongs to, by token id (one that belongs to none is absent)."""
    found: dict[int, list[str]] = {}
    with ctx.sessions() as session:
        for token_id, code in session.execute(
            select(TokenAgency.token_id, TokenAgency.agency).order_by(TokenAgency.agency)
        ):
            found.setdefault(token_id, []).append(code)
    return found


def _unknown(code: str, field: str = "agency") -> NotFound:
    return NotFound(f"Không có cơ quan mã {code}.", f"No agency with code {code}.", field=field)


def existing(session: Session, code: str, field: str = "agency") -> Agency:
    row = session.get(Agency, code)
    if row is None:
        raise _unknown(code, field)
    return row


def view(row: Agency) -> AgencyView:
    key = row.signing_key or {}
    return AgencyView(
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        parent=row.parent,
        signing="pkcs11" if "pkcs11" in key else "pkcs12" if "pkcs12" in key else "deployment",
        seal_image=row.seal_image,
        tsa_url=row.tsa_url,
        ocsp_url=row.ocsp_url,
        retention=dict(row.retention or {}),
    )


def _check_code(code: str) -> None:
    if len(code) > 32 or not CODE.fullmatch(code):
        raise SohoaError(
            f"Mã cơ quan «{code[:40]}» không đúng: các nhóm chữ và số cách nhau bằng dấu chấm, ví dụ 000.00.12.H12.",
            f"Agency code “{code[:40]}” is not valid: groups of letters and digits joined by dots, e.g. 000.00.12.H12.",
            field="code",
        )


def _file(value: str, field: str) -> str:
    if not Path(value).is_file():
        raise SohoaError(f"Không có tệp {value} ({field}).", f"No file {value} ({field}).", field=field)
    return str(Path(value).resolve())


def _url(value: str, field: str) -> str:
    if value and not re.fullmatch(r"https?://[^\s]+", value):
        raise SohoaError(f"{field} phải là địa chỉ http(s)://…", f"{field} must be an http(s):// address.", field=field)
    return value


def _retention(table: dict[str, str]) -> dict[str, str]:
    for procedure, code in table.items():
        if code not in RETENTION_CODES or not procedure or len(procedure) > 64:
            raise SohoaError(
                f"Bảng thời hạn bảo quản: «{procedure}» → «{code}» không đúng (mã thủ tục → 01, 70, 50, 30, 20, 10).",
                f"Retention table: “{procedure}” → “{code}” is not valid (procedure code → 01, 70, 50, 30, 20, 10).",
                field="retention",
            )
    return dict(table)


def _signing_key(row: Agency, fields: AgencyFields) -> dict[str, Any] | None:
    """The key the fields name (PKCS#11 over PKCS#12), files checked; unchanged when they name none."""
    if fields.pkcs11_module:
        pin = _file(fields.pkcs11_pin_file, "pkcs11_pin_file") if fields.pkcs11_pin_file else None
        module = _file(fields.pkcs11_module, "pkcs11_module")
        return {
            "pkcs11": {
                "module": module,
                "token": fields.pkcs11_token or "",
                "key": fields.pkcs11_key or "",
                "pin_file": pin,
            }
        }
    if fields.pkcs12:
        password = _file(fields.pkcs12_password_file, "pkcs12_password_file") if fields.pkcs12_password_file else None
        return {"pkcs12": _file(fields.pkcs12, "pkcs12"), "password_file": password}
    return row.signing_key


def _check_parent(session: Session, code: str, parent: str) -> None:
    existing(session, parent, "parent")
    if parent in expand(session, [code]):
        raise SohoaError(
            f"Cơ quan {parent} nằm dưới {code}: không làm cấp trên của nó được.",
            f"Agency {parent} is under {code}: it cannot be its parent.",
            field="parent",
        )


def _apply(session: Session, row: Agency, fields: AgencyFields) -> None:
    if fields.name is not None:
        name = unicodedata.normalize("NFC", fields.name).strip()
        if not name:
            raise SohoaError("Cần tên cơ quan.", "The agency needs a name.", field="name")
        row.name = name
    if fields.name_en is not None:
        row.name_en = unicodedata.normalize("NFC", fields.name_en).strip()
    if fields.parent is not None:
        if fields.parent:
            _check_parent(session, row.code, fields.parent)
        row.parent = fields.parent or None
    row.signing_key = _signing_key(row, fields)
    if fields.seal_image is not None:
        row.seal_image = _file(fields.seal_image, "seal_image") if fields.seal_image else None
    if fields.tsa_url is not None:
        row.tsa_url = _url(fields.tsa_url, "tsa_url")
    if fields.ocsp_url is not None:
        row.ocsp_url = _url(fields.ocsp_url, "ocsp_url")
    if fields.retention is not None:
        row.retention = _retention(fields.retention)


def _check_key(ctx: Context, row: Agency) -> None:
    """Load the agency's key before its row is kept: a wrong file or password shows now, not at
    its first signature."""
    found = _profile(row)
    if found.own_key:
        agency_signer(ctx.settings, found)


def add(ctx: Context, code: str, fields: AgencyFields, *, actor: str) -> AgencyView:
    _check_code(code)
    if not fields.name:
        raise SohoaError("Cần tên cơ quan.", "The agency needs a name.", field="name")
    with ctx.sessions.begin() as session:
        if session.get(Agency, code) is not None:
            raise SohoaError(f"Cơ quan {code} đã có.", f"Agency {code} exists already.", field="code")
        row = Agency(code=code, name="", name_en="", tsa_url="", ocsp_url="")
        session.add(row)
        _apply(session, row, fields)
        _check_key(ctx, row)
        audit(session, actor, "agency.added", None, agency=code, **_shown(fields))
        return view(row)


def update(ctx: Context, code: str, fields: AgencyFields, *, actor: str) -> AgencyView:
    with ctx.sessions.begin() as session:
        row = existing(session, code, "code")
        _apply(session, row, fields)
        _check_key(ctx, row)
        audit(session, actor, "agency.updated", None, agency=code, **_shown(fields))
        return view(row)


def _shown(fields: AgencyFields) -> dict[str, Any]:
    return fields.model_dump(exclude_none=True)


def list_agencies(ctx: Context, scope: Scope = None) -> list[AgencyView]:
    with ctx.sessions() as session:
        return [
            view(r) for r in session.scalars(select(Agency).where(within(Agency.code, scope)).order_by(Agency.code))
        ]


def get(ctx: Context, code: str) -> AgencyView:
    with ctx.sessions() as session:
        return view(existing(session, code, "code"))


def profile(ctx: Context, code: str) -> AgencyProfile | None:
    """How agency ``code`` signs, or None when the registry does not hold it (the deployment's key)."""
    with ctx.sessions() as session:
        row = session.get(Agency, code)
    return None if row is None else _profile(row)


def _profile(row: Agency) -> AgencyProfile:
    key = row.signing_key or {}
    pkcs11 = key.get("pkcs11")
    return AgencyProfile(
        code=row.code,
        name=row.name,
        pkcs12=Path(key["pkcs12"]) if "pkcs12" in key else None,
        pkcs12_password_file=Path(key["password_file"]) if key.get("password_file") else None,
        pkcs11=(pkcs11["module"], pkcs11["token"], pkcs11["key"], pkcs11.get("pin_file") or "") if pkcs11 else None,
        seal_image=Path(row.seal_image) if row.seal_image else None,
        tsa_url=row.tsa_url,
        ocsp_url=row.ocsp_url,
    )


def name_of(ctx: Context, code: str) -> str | None:
    """The registered name of the agency of dossier ``code``, or None."""
    found = profile(ctx, agency_of(code))
    return found.name if found else None


def retention_for(session: Session, agency: str, procedure_code: str) -> str:
    """The retention code the agency's table gives a procedure (its ``*`` entry for the others), or ''."""
    row = session.get(Agency, agency)
    table = (row.retention or {}) if row else {}
    return str(table.get(procedure_code) or table.get("*") or "")


def assign(ctx: Context, token_id: int, agencies: list[str], *, actor: str) -> list[str]:
    """Set the agencies a user or station belongs to (none: every agency)."""
    with ctx.sessions.begin() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise SohoaError(f"Không có mã truy cập số {token_id}.", f"No token number {token_id}.", field="id")
        for code in agencies:
            existing(session, code)
        session.execute(delete(TokenAgency).where(TokenAgency.token_id == token_id))
        session.add_all(TokenAgency(token_id=token_id, agency=code) for code in sorted(set(agencies)))
        audit(session, actor, "token.agencies", None, token=token_id, name=token.name, agencies=sorted(set(agencies)))
    return sorted(set(agencies))


def signer(ctx: Context, code: str) -> AgencySigner:
    """The key that signs dossier ``code`` as its agency: the agency's own, else the deployment's."""
    return agency_signer(ctx.settings, profile(ctx, agency_of(code)))


def signing(ctx: Context, code: str) -> SigningProfile:
    """How dossier ``code``'s agency signs: its name on the stamp, its TSA and OCSP."""
    return signing_profile(ctx.settings, trust_roots=ctx.trust_roots(), agency=profile(ctx, agency_of(code)))

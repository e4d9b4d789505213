"""Who signs what, in which order (decree 107/2021 on digitized copies, decree 30/2020 on issued
documents; docs/signing-workflow.md):

- a dossier's component (digitized from the paper handed in): the one-stop officer vouches that
  the copy matches the paper (page count, every page readable) with their own certificate, then
  the agency's seal is added;
- an issued result: the person with authority signs, then the agency's seal is added;
- the agency's seal only by the roles ``SOHOA_SEAL_ROLES`` names, once per document version.

A document version is its PDF/A's SHA-256: the content every signature on it covers."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from errors import SohoaError
from service import access
from service.access import Principal
from storage.catalog import Document, Signature

OFFICER, SIGNER, AGENCY = "officer", "signer", "agency"
COMPONENT, RESULT = "component", "result"
KINDS = {
    OFFICER: ("xác nhận của cán bộ một cửa", "the one-stop officer's vouching"),
    SIGNER: ("chữ ký của người có thẩm quyền", "the signature of the person with authority"),
    AGENCY: ("con dấu (chữ ký số) của cơ quan", "the agency's seal (its digital signature)"),
}


class SignatureRefused(SohoaError):
    status = 409
    code = "signature-refused"


class PaperMismatch(SohoaError):
    status = 422
    code = "paper-mismatch"


def personal_kind(document: Document) -> str:
    """What a person's own signature on ``document`` is: the officer's vouching on a component,
    the signer's on a result."""
    return SIGNER if document.kind == RESULT else OFFICER


def made_on(session: Session, document: Document) -> set[str]:
    """The kinds of signature already on the document's current version (a signature recorded
    before versions were, counts for it)."""
    return set(
        session.scalars(
            select(Signature.kind).where(
                Signature.document_id == document.id,
                or_(Signature.version == document.pdfa_sha256, Signature.version.is_(None)),
            )
        )
    )


def check_may_sign(
    session: Session,
    document: Document,
    kind: str,
    by: Principal,
    seal_roles: tuple[str, ...],
    *,
    page_count: int | None = None,
    readable: bool = False,
) -> None:
    """Refuse a signature the rules do not allow now, with the reason: the wrong role, the wrong
    order, a second one of its kind on this version, or a vouching that does not match the paper."""
    by.require({OFFICER: access.VOUCH, SIGNER: access.SIGN_RESULT, AGENCY: seal_roles}[kind])
    made = made_on(session, document)
    name_vi, name_en = KINDS[kind]
    if kind in made:
        raise SignatureRefused(
            f"Tài liệu {document.number} đã có {name_vi} trên bản này; không ký lần hai.",
            f"Document {document.number} already carries {name_en} on this version; it is not added twice.",
            field="kind",
        )
    if kind == AGENCY:
        needed = SIGNER if document.kind == RESULT else OFFICER
        if needed not in made:
            need_vi, need_en = KINDS[needed]
            raise SignatureRefused(
                f"Tài liệu {document.number} chưa có {need_vi}: cơ quan chỉ đóng dấu sau đó.",
                f"Document {document.number} does not carry {need_en} yet: the agency seals only after it.",
                field="kind",
            )
    if kind == OFFICER:
        _check_paper(document, page_count, readable)


def _check_paper(document: Document, page_count: int | None, readable: bool) -> None:
    """The officer says how many pages the paper has and that every page of the copy is
    readable; a count that differs from the copy's is refused."""
    if page_count is None or page_count != document.page_count:
        raise PaperMismatch(
            f"Bản giấy có {page_count if page_count is not None else '?'} trang, bản số hóa có "
            f"{document.page_count} trang: không xác nhận được; quét lại hoặc đếm lại.",
            f"The paper has {page_count if page_count is not None else '?'} pages, the digitized copy "
            f"{document.page_count}: it cannot be vouched for; scan again or count again.",
            field="page_count",
        )
    if not readable:
        raise PaperMismatch(
            "Cần xác nhận mọi trang của bản số hóa đều đọc được (pages_readable).",
            "Confirm that every page of the digitized copy is readable (pages_readable).",
            field="pages_readable",
        )


def result_fully_signed(session: Session, code: str) -> bool:
    """Whether one of the dossier's results carries, on its current version, both the signer's
    signature and the agency's seal: what RESULT_SIGNED needs."""
    results = session.scalars(
        select(Document).where(Document.dossier_code == code, Document.kind == RESULT, Document.pdfa_key.is_not(None))
    )
    return any({SIGNER, AGENCY} <= made_on(session, d) for d in results)

"""The page limit of a dossier (SOHOA_MAX_PAGES_PER_DOSSIER), checked where a page count is
first known: at upload from the file's structure, and again as a job reads its pages."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from errors import SohoaError
from storage import Document


class TooManyPages(SohoaError):
    status = 413
    code = "too-many-pages"


def room(session: Session, code: str, limit: int, *, besides: int | None = None) -> int:
    """Pages the dossier may still take (the pages of document ``besides`` not counted: it is
    the one being made again)."""
    others = session.scalar(
        select(func.coalesce(func.sum(Document.page_count), 0)).where(
            Document.dossier_code == code, Document.id != (besides or 0)
        )
    )
    return limit - int(others or 0)


def check(pages: int, room: int, limit: int, name: str) -> None:
    if pages > room:
        raise TooManyPages(
            f"{name}: hồ sơ vượt quá {limit} trang (SOHOA_MAX_PAGES_PER_DOSSIER).",
            f"{name}: the dossier would exceed {limit} pages (SOHOA_MAX_PAGES_PER_DOSSIER).",
            field=name,
        )

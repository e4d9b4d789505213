"""Dossier codes (mã hồ sơ): <agency code>-<YYMMDD>-<NNNN>, the dossier's primary key."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from storage.errors import InvalidDossierCode


@dataclass(frozen=True)
class DossierCode:
    code: str
    agency: str
    received_on: dt.date | None
    sequence: str


def parse_code(code: str, pattern: str) -> DossierCode:
    """Validate a dossier code against ``pattern`` (matched in full) and a real receipt date."""
    shown = code if len(code) <= 60 else code[:60] + "…"
    example = "000.00.12.H12-250527-0001"
    if not re.fullmatch(pattern, code):
        raise InvalidDossierCode(
            f"Mã hồ sơ «{shown}» không đúng định dạng <mã cơ quan>-<YYMMDD>-<NNNN>, ví dụ {example}.",
            f"Dossier code “{shown}” does not match <agency code>-<YYMMDD>-<NNNN>, e.g. {example}.",
            field="code",
        )
    parts = code.split("-")
    agency, date_part, sequence = "-".join(parts[:-2]), parts[-2], parts[-1]
    received_on = None
    if re.fullmatch(r"[0-9]{6}", date_part):
        try:
            received_on = dt.datetime.strptime(date_part, "%y%m%d").date()
        except ValueError as e:
            raise InvalidDossierCode(
                f"Mã hồ sơ «{shown}» có ngày tiếp nhận {date_part} không tồn tại.",
                f"Dossier code “{shown}” has a receipt date {date_part} that does not exist.",
                field="code",
            ) from e
    return DossierCode(code, agency, received_on, sequence)


def agency_of(code: str) -> str:
    """The agency part of a dossier code: what is left of ``<agency>-<YYMMDD>-<NNNN>``."""
    parts = code.split("-")
    return "-".join(parts[:-2]) if len(parts) > 2 else code

"""Where an issued result's two signatures go (decree 30/2020, appendix I): the signer's
signature image and name at the right of the last page, under their title, in free space; then
the organization's seal at real size over the left third of the signer's image."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from signing import placement
from signing.appearance import SIGNER_SIZE, Stamp, result_seal_stamp, result_signer_stamp
from signing.sign import open_writer

COVERS_TEXT = "Chữ ký người có thẩm quyền che một phần chữ ở trang cuối: không còn chỗ trống bên phải."


def signer_stamp(src: Path, name: str, image: Path | None) -> tuple[Stamp, int, str]:
    """The signer's stamp, its page (from 0) and a note if it had to cover text."""
    with src.open("rb") as f:
        writer = open_writer(f)
        last = placement.page_count(writer) - 1
        page = placement.page_object(writer, last)
        page_box = tuple(float(v) for v in page["/MediaBox"])
        taken = placement.signature_boxes(writer, last)
    ink = placement.page_ink(src, page_box, last + 1)  # type: ignore[arg-type]
    where = placement.place_signer(SIGNER_SIZE, page_box, taken, ink)  # type: ignore[arg-type]
    return result_signer_stamp(where.box, name, image), last, COVERS_TEXT if where.covers_text else ""


def seal_stamp(
    src: Path, signer_field: str, organization: str, seal_image: Path
) -> tuple[Callable[[dt.datetime], Stamp], int]:
    """The organization's seal over the signer's signature ``signer_field``, made at the
    signing time (the time it shows), and its page."""
    with src.open("rb") as f:
        index, box = placement.field_box(open_writer(f), signer_field)
    signer_box = (round(box[0]), round(box[1]), round(box[2]), round(box[3]))
    return (lambda moment: result_seal_stamp(signer_box, organization, moment, seal_image)), index

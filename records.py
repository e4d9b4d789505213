"""The record's vocabulary, in one place: the document types of decree 30/2020 (appendix III,
with their abbreviations), the metadata fields of circular 05/2025/TT-BNV for a dossier and for
a document, and the controlled lists some of them take. The catalog, the API, the PDF/A's XMP
and the archive packages all read these tables: an operator aligns them with the texts here.

Names were taken from secondary summaries of the texts; check them against the gazette."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

# Decree 30/2020/NĐ-CP, appendix III: the type names and their abbreviations in a document's
# symbol ("125/QĐ-UBND"). A letter (công văn) has no abbreviation of its own.
DOCUMENT_TYPES: dict[str, str] = {
    "Nghị quyết": "NQ",
    "Quyết định": "QĐ",
    "Chỉ thị": "CT",
    "Quy chế": "QC",
    "Quy định": "QyĐ",
    "Thông cáo": "TC",
    "Thông báo": "TB",
    "Hướng dẫn": "HD",
    "Chương trình": "CTr",
    "Kế hoạch": "KH",
    "Phương án": "PA",
    "Đề án": "ĐA",
    "Dự án": "DA",
    "Báo cáo": "BC",
    "Biên bản": "BB",
    "Tờ trình": "TTr",
    "Hợp đồng": "HĐ",
    "Công điện": "CĐ",
    "Bản ghi nhớ": "BGN",
    "Bản thỏa thuận": "BTT",
    "Giấy ủy quyền": "GUQ",
    "Giấy mời": "GM",
    "Giấy giới thiệu": "GGT",
    "Giấy nghỉ phép": "GNP",
    "Phiếu gửi": "PG",
    "Phiếu chuyển": "PC",
    "Phiếu báo": "PB",
    "Công văn": "",
}
LETTER = "Công văn"

# Controlled lists of circular 05/2025/TT-BNV (as summarized: check the appendix).
ACCESS_MODES = {"public": "Công khai", "restricted": "Sử dụng có điều kiện", "confidential": "Mật"}
RELIABILITY = {"original": "Bản gốc điện tử", "digitized": "Bản số hóa", "mixed": "Hỗn hợp"}
PHYSICAL_CONDITION = {"good": "Bình thường", "worn": "Hư hỏng nhẹ", "damaged": "Hư hỏng nặng"}
RETENTION_CODES = {"01": "Vĩnh viễn", "70": "70 năm", "50": "50 năm", "30": "30 năm", "20": "20 năm", "10": "10 năm"}
BACKUP_MODES = {"none": "Không", "online": "Trực tuyến", "offline": "Ngoại tuyến"}
CONFIDENTIALITY = {"": "Thường", "M": "Mật", "TM": "Tối mật", "TuM": "Tuyệt mật"}
URGENCY = {"": "Thường", "K": "Khẩn", "TK": "Thượng khẩn", "HT": "Hỏa tốc"}
AUTHORITIES = ("TM.", "KT.", "TL.", "TUQ.")  # signing for a collective, as deputy, by delegation


@dataclass(frozen=True)
class Field:
    """One metadata field: its key in the API and the catalog, its names, what it takes."""

    key: str
    vi: str
    en: str
    kind: str = "text"  # text, date, int, code (one of ``choices``), list (of text)
    choices: tuple[str, ...] = ()
    max_length: int = 500
    dc: str = ""  # the Dublin Core element it maps to in the PDF/A's XMP, if any


def _codes(table: dict[str, str]) -> tuple[str, ...]:
    return tuple(table)


# Circular 05/2025/TT-BNV: the dossier's fields (the code, title and retention are columns of the
# dossier itself; the rest are kept here).
DOSSIER_FIELDS: tuple[Field, ...] = (
    Field("code", "Mã hồ sơ", "Dossier code", dc="identifier"),
    Field("title", "Tiêu đề hồ sơ", "Title", dc="title"),
    Field("retention", "Thời hạn bảo quản", "Retention", "code", _codes(RETENTION_CODES)),
    Field("access_mode", "Chế độ sử dụng", "Access mode", "code", _codes(ACCESS_MODES), dc="rights"),
    Field("language", "Ngôn ngữ", "Language", max_length=32, dc="language"),
    Field("start_date", "Thời gian bắt đầu", "Start date", "date"),
    Field("end_date", "Thời gian kết thúc", "End date", "date"),
    Field("keywords", "Từ khóa", "Keywords", "list", dc="subject"),
    Field("document_count", "Tổng số văn bản", "Number of documents", "int"),
    Field("sheet_count", "Tổng số tờ", "Number of sheets", "int"),
    Field("page_count", "Tổng số trang", "Number of pages", "int"),
    Field("physical_condition", "Tình trạng vật lý", "Physical condition", "code", _codes(PHYSICAL_CONDITION)),
    Field("information_symbol", "Ký hiệu thông tin", "Information symbol", max_length=100),
    Field("reliability", "Mức độ tin cậy", "Reliability", "code", _codes(RELIABILITY)),
    Field("paper_code", "Mã hồ sơ giấy gốc", "Paper dossier code", max_length=100, dc="source"),
    Field("backup_mode", "Chế độ dự phòng", "Backup mode", "code", _codes(BACKUP_MODES)),
    Field("backup_status", "Tình trạng dự phòng", "Backup status", max_length=100),
    Field("notes", "Ghi chú", "Notes", max_length=2000, dc="description"),
)

# Circular 05/2025/TT-BNV: a document's fields. Those read from the page (digitize.metadata)
# share its keys: number, issued_on, type, subject, issuer, signer, signer_title, authority.
DOCUMENT_FIELDS: tuple[Field, ...] = (
    Field("identifier", "Mã định danh văn bản", "Document identifier", max_length=100, dc="identifier"),
    Field("dossier_code", "Mã hồ sơ", "Dossier code", dc="relation"),
    Field("order", "Số thứ tự văn bản trong hồ sơ", "Order in the dossier", "int"),
    Field("type", "Tên loại văn bản", "Type", "code", _codes(DOCUMENT_TYPES), dc="type"),
    Field("number", "Số và ký hiệu văn bản", "Number and symbol", max_length=100),
    Field("symbol", "Ký hiệu văn bản", "Symbol", max_length=100),
    Field("issued_on", "Ngày, tháng, năm văn bản", "Date of issue", "date", dc="date"),
    Field("issuer", "Tên cơ quan, tổ chức ban hành", "Issuing agency", dc="creator"),
    Field("subject", "Trích yếu nội dung", "Subject", max_length=1000, dc="description"),
    Field("language", "Ngôn ngữ", "Language", max_length=32, dc="language"),
    Field("page_count", "Số trang", "Page count", "int"),
    Field("signer_title", "Chức vụ người ký", "Signer's title", max_length=200),
    Field("signer", "Họ tên người ký", "Signer's name", max_length=200),
    Field("authority", "Thẩm quyền ký", "Signing authority", max_length=200),
    Field("information_symbol", "Ký hiệu thông tin", "Information symbol", max_length=100),
    Field("keywords", "Từ khóa", "Keywords", "list", dc="subject"),
    Field("access_mode", "Chế độ sử dụng", "Access mode", "code", _codes(ACCESS_MODES), dc="rights"),
    Field("reliability", "Mức độ tin cậy", "Reliability", "code", _codes(RELIABILITY)),
    Field("handwriting", "Bút tích", "Handwriting", max_length=500),
    Field("physical_condition", "Tình trạng vật lý", "Physical condition", "code", _codes(PHYSICAL_CONDITION)),
    Field("confidentiality", "Độ mật", "Confidentiality", "code", _codes(CONFIDENTIALITY)),
    Field("urgency", "Độ khẩn", "Urgency", "code", _codes(URGENCY)),
    Field("notes", "Ghi chú", "Notes", max_length=2000),
)
READ_FROM_PAGE = ("number", "issued_on", "type", "subject", "issuer", "signer", "signer_title", "authority")

# The PDF/A's XMP (digitize/xmp.py): the document's fields that have a Dublin Core element are
# written as Dublin Core (``Field.dc``), but for dc:identifier, which holds the dossier code, and
# dc:relation; every other one as a property of sohoa's own namespace under its key
# (sohoa:identifier, sohoa:number, sohoa:signer…), with the
# dossier's fields that place the document in its record (its title, retention, information
# symbol and paper dossier code) as sohoa:dossier_<key>. The namespace is declared in the file
# with a PDF/A extension schema; its URI names this version of the table and never changes
# meaning: a field added keeps it, a field whose meaning changes takes a new name.
XMP_NAMESPACE = "https://sohoa.vn/ns/1.0/"
XMP_PREFIX = "sohoa"
NOT_AS_DC = ("", "identifier", "relation")
DOSSIER_IN_DOCUMENT = ("title", "retention", "information_symbol", "paper_code")


def xmp_fields() -> tuple[Field, ...]:
    """The sohoa properties, in the order the extension schema declares them."""
    dossier = {f.key: f for f in DOSSIER_FIELDS}
    return tuple(f for f in DOCUMENT_FIELDS if f.dc in NOT_AS_DC) + tuple(
        replace(dossier[key], key=f"dossier_{key}", vi=f"Hồ sơ: {dossier[key].vi}", en=f"Dossier: {dossier[key].en}")
        for key in DOSSIER_IN_DOCUMENT
    )


class InvalidField(ValueError):
    """A value a field does not take: ``key`` names the field, ``vi`` and ``en`` say why."""

    def __init__(self, key: str, vi: str, en: str) -> None:
        super().__init__(en)
        self.key, self.vi, self.en = key, vi, en


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


_NUMBER = re.compile(r"^\d{1,6}(/\d{4})?/[^\s/]+$")  # "125/QĐ-UBND", "05/2025/TT-BNV"


def clean(field: Field, value: Any) -> Any:
    """``value`` as ``field`` keeps it (NFC text, ISO date, int, a code of its list), or
    InvalidField naming the field; None and "" clear it."""
    if value is None or value == "":
        return None
    where = f"{field.key} ({field.vi})"
    if field.kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise InvalidField(field.key, f"{where}: ngày phải theo dạng YYYY-MM-DD.",
                               f"{field.key}: a date must be YYYY-MM-DD.") from None  # fmt: skip
    if field.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidField(field.key, f"{where}: phải là số nguyên không âm.",
                               f"{field.key}: must be a whole number, 0 or more.")  # fmt: skip
        return value
    if field.kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidField(field.key, f"{where}: phải là danh sách chữ.", f"{field.key}: must be a list of text.")
        return [clean(Field(field.key, field.vi, field.en, max_length=200), v) for v in value if _nfc(v)][:50]
    if not isinstance(value, str):
        raise InvalidField(field.key, f"{where}: phải là chữ.", f"{field.key}: must be text.")
    text = _nfc(value)
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise InvalidField(field.key, f"{where}: có ký tự điều khiển.", f"{field.key}: holds a control character.")
    if len(text) > field.max_length:
        raise InvalidField(field.key, f"{where}: dài quá {field.max_length} ký tự.",
                           f"{field.key}: longer than {field.max_length} characters.")  # fmt: skip
    if field.kind == "code" and text not in field.choices:
        shown = ", ".join(c for c in field.choices if c)
        raise InvalidField(field.key, f"{where}: phải là một trong: {shown}.", f"{field.key}: must be one of: {shown}.")
    if field.key == "number" and not _NUMBER.match(text):
        raise InvalidField(field.key, f"{where}: số và ký hiệu dạng 125/QĐ-UBND.",
                           f"{field.key}: a number and symbol such as 125/QĐ-UBND.")  # fmt: skip
    return text


def clean_all(fields: tuple[Field, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Every value checked against its field; an unknown key is refused by name."""
    by_key = {f.key: f for f in fields}
    out = {}
    for key, value in values.items():
        if key not in by_key:
            raise InvalidField(key, f"Không có trường {key}.", f"No such field: {key}.")
        out[key] = clean(by_key[key], value)
    return out

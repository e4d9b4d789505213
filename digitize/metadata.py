"""A document's metadata read from the words and boxes OCR produced, by the layout of decree
30/2020 (appendix I): number and symbol, date, type, subject (trích yếu), issuing agency,
signer, their title and authority. No OCR here: only words with boxes, in any order of lines.

The page is cut into segments (runs of words on one line without a wide gap: Tesseract may
join the agency's line and the motto beside it into one line), each placed by its box: left
or right column, centred or not, above or below another. Text is matched folded (no
diacritics, lower case), so "Sô:", "So:" and "Số:" all start a number, and type names are
matched loosely; what is returned is the text as printed, with the spelling of the type and
of its abbreviation restored from the table (records.DOCUMENT_TYPES).

Each field comes with a confidence (OCR's word confidences, lowered when the match was loose
or the value inferred) and the boxes it was read from (page number from 1, pixels)."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from digitize.ocr import Line, Word
from records import DOCUMENT_TYPES, LETTER, READ_FROM_PAGE


@dataclass(frozen=True)
class PageWords:
    """One page as OCR read it: its size (upright, as the boxes are) and lines of words."""

    width: int
    height: int
    lines: Sequence[Line]


@dataclass
class Found:
    value: str
    confidence: float  # 0-1
    boxes: list[dict[str, int]] = field(default_factory=list)  # page (from 1), left, top, width, height

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "confidence": round(self.confidence, 2), "boxes": self.boxes}


def fold(text: str) -> str:
    """Lower case without diacritics: 'Số:' → 'so:', 'ĐỊNH' → 'dinh'."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D").replace("Ð", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass
class Segment:
    """Words of one line with no wide gap between them."""

    page: int
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def folded(self) -> str:
        return fold(self.text)

    @property
    def left(self) -> int:
        return min(w.left for w in self.words)

    @property
    def right(self) -> int:
        return max(w.left + w.width for w in self.words)

    @property
    def top(self) -> int:
        return min(w.top for w in self.words)

    @property
    def bottom(self) -> int:
        return max(w.top + w.height for w in self.words)

    @property
    def centre(self) -> float:
        return (self.left + self.right) / 2

    @property
    def height(self) -> float:
        return statistics.median(w.height for w in self.words)

    @property
    def confidence(self) -> float:
        return max(0.0, min(1.0, statistics.fmean(w.conf for w in self.words) / 100))

    def box(self) -> dict[str, int]:
        return {"page": self.page, "left": self.left, "top": self.top,
                "width": self.right - self.left, "height": self.bottom - self.top}  # fmt: skip


GAP = 1.2  # a gap wider than this many word heights splits a line (the header's two columns)


def _kept(text: str) -> bool:
    return any(c.isalnum() for c in text) or text in ("-", "–")  # "TÀI CHÍNH - KẾ HOẠCH"


def segments(page: int, lines: Sequence[Line]) -> list[Segment]:
    """The page's segments, top to bottom. Words without a letter or digit (rules, dots from a
    seal) are left out."""
    out = []
    for line in lines:
        words = sorted((w for w in line.words if _kept(w.text)), key=lambda w: w.left)
        if not words:
            continue
        height = statistics.median(w.height for w in words)
        run = [words[0]]
        for word in words[1:]:
            if word.left - (run[-1].left + run[-1].width) > GAP * height:
                out.append(Segment(page, run))
                run = []
            run.append(word)
        out.append(Segment(page, run))
    return _rejoined(sorted(out, key=lambda s: (s.left, s.top)))


def _rejoined(segs: list[Segment]) -> list[Segment]:
    """Pieces of one printed line that OCR gave as lines of their own (a second reading of
    sparse text does) joined again: side by side, level, with no wide gap."""
    out: list[Segment] = []
    for s in segs:  # left to right
        near = next(
            (o for o in out
             if min(o.bottom, s.bottom) - max(o.top, s.top) > 0.5 * min(o.height, s.height)
             and 0 <= s.left - o.right <= GAP * max(o.height, s.height)),
            None,
        )  # fmt: skip
        if near is None:
            out.append(s)
        else:
            near.words.extend(s.words)
    return _reading_order(out)


def _rows(segs: list[Segment]) -> list[list[Segment]]:
    """Top to bottom, each row left to right: segments whose boxes overlap by half their height
    are one row, whatever a few pixels of tilt make of their tops."""
    rows: list[list[Segment]] = []
    for s in sorted(segs, key=lambda s: s.top):
        row = rows[-1] if rows else None
        if row and min(row[0].bottom, s.bottom) - max(row[0].top, s.top) > 0.5 * min(row[0].height, s.height):
            row.append(s)
        else:
            rows.append([s])
    return [sorted(row, key=lambda s: s.left) for row in rows]


def _reading_order(segs: list[Segment]) -> list[Segment]:
    return [s for row in _rows(segs) for s in row]


def _letters(text: str) -> str:
    return "".join(c for c in text if c.isalpha())


def _upper(segment: Segment) -> bool:
    """Mostly capitals: agency, type name, authority and title lines."""
    letters = _letters(segment.text)
    return len(letters) >= 2 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _joined(parts: Sequence[Segment], confidence: float = 1.0, sep: str = " ") -> Found:
    return Found(
        sep.join(p.text for p in parts),
        confidence * statistics.fmean(p.confidence for p in parts),
        [p.box() for p in parts],
    )


# --- the header: agency, number, date -------------------------------------------------------

MOTTO = "cong hoa xa hoi chu nghia viet nam"
_NUMBER_START = re.compile(r"^s[o06]\s*[:;.,]?\s*(?=[0-9oO])")  # "Số:", "So:", "Sô:", "S6:"
_DIGITISH = str.maketrans({"o": "0", "O": "0", "l": "1", "I": "1", "i": "1", "|": "1"})


@dataclass
class Header:
    motto: Segment | None
    number: Segment | None
    end: float  # where the header ends: the type name or the body starts below


def _header(segs: list[Segment], width: int, height: int) -> Header:
    top = [s for s in segs if s.page == 1 and s.top < 0.45 * height]
    motto = max(top, key=lambda s: _similar(_letters(s.folded), MOTTO.replace(" ", "")), default=None)
    if motto is not None and _similar(_letters(motto.folded), MOTTO.replace(" ", "")) < 0.6:
        motto = None
    number = next((s for s in top if s.centre < 0.55 * width and _NUMBER_START.match(s.folded)), None)
    below = [s.bottom for s in (motto, number) if s is not None]
    return Header(motto, number, max(below, default=0.12 * height))


def _symbol(symbol: str, type_name: str | None) -> str:
    """The symbol's type abbreviation as the table spells it: "QD" read for "QĐ"; with the type
    name read above it, a near miss too ("QĐĐ", "TTT" for "TTr")."""
    head, _, rest = symbol.partition("-")
    wanted = DOCUMENT_TYPES.get(type_name or "", "")
    close = bool(wanted) and _similar(fold(head), fold(wanted)) >= 0.6
    for abbreviation in [wanted] if close else DOCUMENT_TYPES.values():
        if abbreviation and (close or fold(head) == fold(abbreviation)):
            return abbreviation + ("-" + rest if rest else "")
    return symbol


def read_number(header: Header, type_name: str | None) -> Found | None:
    segment = header.number
    if segment is None:
        return None
    start = _NUMBER_START.match(segment.folded)
    assert start is not None
    raw = "".join(segment.text[start.end() :].split()).replace("Ð", "Đ").rstrip(".,;")
    serial, slash, symbol = raw.partition("/")
    serial = serial.translate(_DIGITISH)
    if not serial.isdigit() or not slash:
        return None
    return Found(f"{serial}/{_symbol(symbol, type_name)}", segment.confidence, [segment.box()])


# Day, month and year as OCR may give them: "O5" for 05, "Z7" for 7 (a stray mark before the digit).
_DATE = re.compile(r"ng\w{1,3}\W*(\w{1,3})\W*th\w{2,4}\W*(\w{1,3})\W*n\w{1,3}\W*(\w{4,5})\b")


def _digits(text: str) -> int | None:
    digits = "".join(c for c in text.translate(_DIGITISH) if c.isdigit())
    return int(digits) if digits and len(digits) <= 4 else None


def read_date(segs: list[Segment], header: Header, width: int) -> Found | None:
    """The first "ngày … tháng … năm …" in the header's right column (two lines if split)."""
    candidates = [s for s in segs if s.page == 1 and s.top <= header.end + 3 * s.height and s.centre > 0.4 * width]
    for i, segment in enumerate(candidates):
        for parts in ([segment], candidates[i : i + 2]):
            found = _DATE.search(" ".join(fold(p.text) for p in parts))
            if found is None:
                continue
            day, month, year = (_digits(g) for g in found.groups())
            try:
                date = dt.date(year or 0, month or 0, day or 0)
            except ValueError:
                continue
            return Found(date.isoformat(), statistics.fmean(p.confidence for p in parts), [p.box() for p in parts])
    return None


# The first word of a line that carries on the agency's name from the line above it.
_CARRIES_ON = {"huyen", "xa", "tinh", "thanh", "phuong", "quan", "thi", "va", "-", "&", "tp", "tp."}
_GENERIC = {"uy ban nhan dan", "hoi dong nhan dan", "uy ban", "hoi dong"}


def _carries_on(above: Segment, below: Segment) -> bool:
    first = below.folded.split()[0]
    upper = " ".join(above.folded.split())
    return first in _CARRIES_ON or upper in _GENERIC or upper.endswith((" va", " -", ","))


def read_issuer(segs: list[Segment], header: Header, width: int) -> Found | None:
    """The agency's lines above the number, without the parent agency's (the first line, when
    the next one does not carry on its name)."""
    limit = header.number.top if header.number is not None else header.end
    lines = [
        s for s in segs
        if s.page == 1 and s.bottom <= limit + 2 and s.centre < 0.5 * width and _upper(s) and s is not header.number
    ]  # fmt: skip
    if header.number is not None:  # the column over the number, not text off to the side
        lines = [s for s in lines if abs(s.centre - header.number.centre) < 0.2 * width]
    if not lines:
        return None
    confidence = 1.0
    if len(lines) >= 2 and (fold(lines[0].text).startswith("ubnd ") or not _carries_on(lines[0], lines[1])):
        lines = lines[1:]
    elif len(lines) == 2:
        confidence = 0.9  # one agency over two lines, or a parent whose name we could not tell
    return _joined(lines, confidence)


# --- type and subject ------------------------------------------------------------------------

_TYPES_FOLDED = {_letters(fold(name)): name for name in DOCUMENT_TYPES if name != LETTER}
_LETTER_SUBJECT = re.compile(r"^v\s*[/|\\l1i]\s*[vy]\b\s*")
_BODY_START = ("can cu", "kinh gui", "xet ")
_STRAY = " '\"`‘’“”.,;:-_~*"  # marks OCR puts at the ends of a line (a rule's end, a speck)


def read_type(segs: list[Segment], header: Header, width: int, height: int) -> tuple[Found, Segment | None] | None:
    """The centred type name under the header, and its segment."""
    for s in segs:
        if s.page != 1 or s.top < header.end or s.top > 0.6 * height or abs(s.centre - width / 2) > 0.15 * width:
            continue
        letters = _letters(s.folded)
        if not _upper(s) or not letters:
            continue
        name, score = max(((n, _similar(letters, k)) for k, n in _TYPES_FOLDED.items()), key=lambda p: p[1])
        if score >= 0.8:
            return Found(name, s.confidence * score, [s.box()]), s
    return None


def _following(segs: list[Segment], first: Segment, keep: Any, most: int = 5) -> list[Segment]:
    """Segments under ``first`` on its page that ``keep`` accepts, each close below the one before."""
    run = [first]
    for s in segs:
        if s.page != first.page or s.top <= run[-1].top + 0.5 * run[-1].height:
            continue
        gap = s.top - run[-1].bottom
        if gap > 0.9 * run[-1].height or len(run) > most:
            break
        if not keep(s):
            if abs(s.top - run[-1].top) < run[-1].height:  # beside it on the same line: look further
                continue
            break
        run.append(s)
    return run


def read_subject(segs: list[Segment], header: Header, type_line: Segment | None, width: int) -> Found | None:
    """The lines under the type name, centred; or a letter's "V/v …" lines under its number."""
    if type_line is not None:
        after = [s for s in segs if s.page == 1 and s.top > type_line.bottom - 2]
        first = next((s for s in after if abs(s.centre - type_line.centre) < 0.2 * width), None)
        if first is None or first.top - type_line.bottom > 2 * type_line.height:
            return None

        def centred(s: Segment) -> bool:
            return abs(s.centre - type_line.centre) < 0.2 * width and not s.folded.startswith(_BODY_START)

        lines = _following(segs, first, lambda s: centred(s) and not _upper(s))
        found = _joined(lines)
        found.value = found.value.strip(_STRAY)
        return found
    if header.number is None:
        return None
    column = header.number
    below = [s for s in segs if s.page == 1 and s.top > column.bottom - 2 and s.centre < 0.5 * width]
    first = next((s for s in below if _LETTER_SUBJECT.match(s.folded)), None)
    if first is None or first.top - column.bottom > 3 * column.height:
        return None

    def under(s: Segment) -> bool:
        return s.centre < 0.5 * width and not s.folded.startswith(_BODY_START)

    lines = _following(segs, first, under)
    found = _joined(lines)
    prefix = _LETTER_SUBJECT.match(fold(found.value))
    assert prefix is not None
    found.value = "V/v " + found.value[prefix.end() :]
    return found


# --- the signature block ----------------------------------------------------------------------

# Words of the titles in a signature block, as printed: a word read with a wrong tone mark
# ("GIẢM ĐỐC") is put back when it folds to one of them.
_TITLES = "CHỦ TỊCH PHÓ GIÁM ĐỐC TRƯỞNG CHÁNH VĂN PHÒNG ỦY BAN NHÂN DÂN HỘI ĐỒNG BỘ THỨ CỤC VỤ SỞ TỔNG QUYỀN"
TITLE_WORDS = {fold(w): w for w in _TITLES.split()}


def _title_word(word: str) -> str:
    """A capitalised word of a title as printed, when it folds to one of TITLE_WORDS or nearly
    ("GLIÁM" read for "GIÁM")."""
    if not word.isupper():
        return word
    key = fold(word)
    if key in TITLE_WORDS:
        return TITLE_WORDS[key]
    near = difflib.get_close_matches(key, TITLE_WORDS, n=1, cutoff=0.8) if len(key) >= 4 else []
    return TITLE_WORDS[near[0]] if near else word


def _title_case(text: str) -> str:
    return " ".join(_title_word(w) for w in text.split())


_AUTHORITY = re.compile(r"^(tm|kt|tl|tuq)\s*[.,:]?(\s|$)")


def _block(segs: list[Segment], pages: Sequence[PageWords]) -> list[Segment]:
    """The right-hand column from the recipients' line ("Nơi nhận:") down, on the last page that
    has one; else the lower half of the last page's right column."""
    marked = [s for s in segs if s.folded.startswith(("noi nhan", "noi nhạn"))]
    start = marked[-1] if marked else None
    page = start.page if start is not None else len(pages)
    width, height = pages[page - 1].width, pages[page - 1].height
    top = start.top - start.height if start is not None else 0.4 * height
    right = [s for s in segs if s.page == page and s.top >= top and s.centre > 0.5 * width]
    # One segment a row: the column holds one line of the block across (a second reading of a
    # seal's area may give a line in pieces, with a word lost between them).
    return [Segment(page, [w for s in row for w in s.words]) for row in _rows(right)]


def _name_words(s: Segment) -> list[str]:
    return [w.strip("*.,:;'\"`“”‘’-_~") for w in s.text.split()]


def _is_name(s: Segment) -> bool:
    words = _name_words(s)
    # Each word a capital, then small letters: "Nguyễn Văn An".
    return 2 <= len(words) <= 6 and all(
        w.isalpha() and w[0].isupper() and (w[1:].islower() or len(w) == 1) for w in words
    )


def read_signature(segs: list[Segment], pages: Sequence[PageWords]) -> dict[str, Found]:
    """Authority (TM., KT., TL., TUQ.), the signer's title and name, from the block."""
    block = _block(segs, pages)
    found: dict[str, Found] = {}
    authority: list[Segment] = []
    rest = block
    while rest and _AUTHORITY.match(rest[0].folded):
        authority.append(rest[0])
        rest = rest[1:]
    title = [rest[0]] if rest and _upper(rest[0]) and not _is_name(rest[0]) else []
    if title:
        title = _following(rest, title[0], lambda s: _upper(s) and not _is_name(s), most=2)
        found["signer_title"] = _joined(title)
        found["signer_title"].value = _title_case(found["signer_title"].value)
    if authority:
        joined = _joined(authority)
        joined.value = _title_case(" ".join(_authority_text(a.text) for a in authority))
        found["authority"] = joined
    elif title:
        found["authority"] = Found("", found["signer_title"].confidence, [])  # none printed
    below = title[-1].bottom if title else authority[-1].bottom if authority else 0
    names = [s for s in block if s.top > below and _is_name(s)]
    if names:
        found["signer"] = _joined(names[-1:])
        found["signer"].value = " ".join(_name_words(names[-1]))
    return found


def _authority_text(text: str) -> str:
    """The prefix as the decree writes it: "KT." whatever OCR made of the dot."""
    head, _, rest = text.partition(" ")
    return f"{head.rstrip('.,:').upper()}. {rest}".strip()


# --- the whole document ------------------------------------------------------------------------


def read(pages: Sequence[PageWords]) -> dict[str, Found | None]:
    """Every field of READ_FROM_PAGE: what was found, or None."""
    if not pages:
        return dict.fromkeys(READ_FROM_PAGE)
    segs = [s for n, p in enumerate(pages, start=1) for s in segments(n, p.lines)]
    first = pages[0]
    header = _header(segs, first.width, first.height)
    typed = read_type(segs, header, first.width, first.height)
    type_line = typed[1] if typed else None
    number = read_number(header, typed[0].value if typed else None)
    kind = typed[0] if typed else _type_from(number)
    if typed is None and number is not None:  # the symbol named the type: read it again with it
        number = read_number(header, kind.value if kind and kind.value != LETTER else None)
    found: dict[str, Found | None] = {
        "number": number,
        "issued_on": read_date(segs, header, first.width),
        "type": kind,
        "subject": read_subject(segs, header, type_line, first.width),
        "issuer": read_issuer(segs, header, first.width),
    }
    signature = read_signature(segs, pages)
    for key in ("signer", "signer_title", "authority"):
        found[key] = signature.get(key)
    return found


def _type_from(number: Found | None) -> Found | None:
    """No type name printed: the type its symbol names, else a letter (công văn)."""
    if number is None:
        return Found(LETTER, 0.5, [])
    head = fold(number.value.partition("/")[2].partition("-")[0])
    for name, abbreviation in DOCUMENT_TYPES.items():
        if abbreviation and fold(abbreviation) == head:
            return Found(name, 0.6 * number.confidence, number.boxes)
    return Found(LETTER, 0.9 * number.confidence, number.boxes)


def as_json(found: dict[str, Found | None]) -> dict[str, Any]:
    """The fields as a JSON object: each one's value, confidence and boxes, or null."""
    return {k: v.as_dict() if v is not None else None for k, v in found.items()}

"""Text tables: encodings line by line, the delimiter, ragged rows, odd headers.

Korean portals publish UTF-8 and CP949 (EUC-KR); files edited by hand mix
them (a CP949 line pasted into a UTF-8 file). Each line is decoded on its
own, so one odd line costs one "fixed" note, not the file. Rows are parsed
with :mod:`csv` so every data row keeps its number and a row with too many
fields is rejected alone.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

import pandas as pd

from .._errors import EmptyInputError, UnreadableFileError
from ._sniff import one_line

__all__ = ["ParsedText", "decode_lines", "parse_text_table", "split_lines"]

# A 5,000-character name must not stop the file; the whole file is already size-limited.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))

DELIMITERS = {",": "쉼표 comma", "\t": "탭 tab", ";": "세미콜론 semicolon", "|": "세로줄 pipe"}
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\x1a")
_MAX_BAD_LINE_SHARE = 0.1
_INNER_CR = re.compile(r"\r(?=[^\n])")


@dataclass
class ParsedText:
    """A text table as strings, with what happened to its lines and rows."""

    frame: pd.DataFrame
    rows: pd.Series  # 1-based data-row number of each frame row
    rows_read: int
    encoding: str
    fixed: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def decode_lines(data: bytes, name: str) -> tuple[list[str], str, dict[int, str]]:
    """Decode Korean text: lines (with their ends), the encoding, and ``{line number: how it was fixed}``."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return split_lines(data.decode(codec)), codec, {}
            except UnicodeDecodeError:
                break  # a BOM then other bytes: decode line by line below
    sample = data[:65536]
    if sample.count(0) > len(sample) // 4 and len(sample) % 2 == 0:
        for codec in ("utf-16-le", "utf-16-be"):  # Excel "유니코드 텍스트" without a BOM
            try:
                return split_lines(data.decode(codec)), codec, {}
            except UnicodeDecodeError:
                continue
    if sum(sample.count(b) for b in _CONTROL) > max(8, len(sample) // 20):
        msg = (f"{name} is binary data, not a text table; give the CSV (UTF-8 or CP949), XLSX, GeoJSON, GPKG "
               "or SHP file.")
        raise UnreadableFileError(msg)
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[start:].decode("utf-8")
        encoding = "utf-8-sig" if start else "utf-8"
        return _strip_nul(split_lines(text), encoding, {})
    except UnicodeDecodeError:
        pass  # not pure UTF-8: decide per line
    return _decode_per_line(data[start:], name)


def split_lines(text: str) -> list[str]:
    """Lines with their ends, split at LF (CRLF) or, in a file without LF, at CR.

    Not ``str.splitlines``: it also splits at U+2028, NEL and form feed, which
    may sit inside a name.
    """
    lines = re.split(r"(?<=\n)" if "\n" in text or "\r" not in text else r"(?<=\r)", text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def _decode_per_line(data: bytes, name: str) -> tuple[list[str], str, dict[int, str]]:
    sep = b"\n" if b"\n" in data else b"\r"
    raw_lines = data.split(sep)
    if not raw_lines[-1]:
        raw_lines.pop()  # the file ends with a line end
    ends = [sep.decode()] * len(raw_lines)
    lines, kinds = [], []
    for raw in raw_lines:
        for codec, kind in (("utf-8", "ascii" if raw.isascii() else "utf8"), ("cp949", "cp949")):
            try:
                lines.append(raw.decode(codec))
                kinds.append(kind)
                break
            except UnicodeDecodeError:
                continue
        else:
            lines.append(raw)  # decoded below, with the file's main encoding
            kinds.append("bad")
    fallback = "utf-8" if "utf8" in kinds or "cp949" not in kinds else "cp949"
    lines = [line.decode(fallback, errors="replace") if isinstance(line, bytes) else line for line in lines]
    bad = kinds.count("bad")
    header_bad = next((k == "bad" for k, line in zip(kinds, lines, strict=True) if line.strip()), False)
    if header_bad or bad > max(3, _MAX_BAD_LINE_SHARE * len(lines)):
        msg = (f"{name} is neither UTF-8 nor CP949/EUC-KR text ({bad:,} of {len(lines):,} lines cannot be "
               "decoded). Save it as CSV UTF-8 (Excel: 'CSV UTF-8 (쉼표로 분리)') and try again.")
        raise UnreadableFileError(msg)
    utf8, legacy = kinds.count("utf8"), kinds.count("cp949")
    mixed = bool(utf8 and legacy)
    minority = "cp949" if utf8 >= legacy else "utf8"  # the fewer lines are the pasted-in ones
    pasted = {"cp949": "UTF-8 파일 속 CP949 줄 → 변환 (a CP949 line in a UTF-8 file, converted)",
              "utf8": "CP949 파일 속 UTF-8 줄 → 변환 (a UTF-8 line in a CP949 file, converted)"}
    fixes = {}
    for number, kind in enumerate(kinds, start=1):
        if kind == "bad":
            fixes[number] = f"줄 {number}: 읽을 수 없는 바이트를 �로 바꿈 (undecodable bytes replaced)"
        elif mixed and kind == minority:
            fixes[number] = f"줄 {number}: {pasted[kind]}"
    if mixed:
        encoding = "utf-8 (일부 줄 CP949)" if minority == "cp949" else "cp949 (일부 줄 UTF-8)"
    else:
        encoding = "cp949" if legacy else "utf-8"
    return _strip_nul([line + end for line, end in zip(lines, ends, strict=True)], encoding, fixes)


def _strip_nul(lines: list[str], encoding: str, fixes: dict[int, str]):
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            lines[number - 1] = line.replace("\x00", "")
            fixes.setdefault(number, f"줄 {number}: NUL 문자 제거 (NUL bytes removed)")
    return lines, encoding, fixes


def sniff_delimiter(lines: list[str], suffix: str) -> str:
    """The delimiter that splits the first lines into the most consistent table (comma when unsure)."""
    sample = [line for line in lines[:200] if line.strip()][:50]
    order = ["\t", ",", ";", "|"] if suffix in {".tsv", ".tab"} else [",", "\t", ";", "|"]
    best, best_score = ",", None
    for delimiter in order:
        try:
            records = list(csv.reader(sample, delimiter=delimiter))
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(len(r) == width for r in records) / len(records), width)
        if best_score is None or score[0] > best_score[0]:
            best, best_score = delimiter, score
    return best


def parse_text_table(data: bytes, name: str, suffix: str) -> ParsedText:
    """Decode and parse a delimited text table into strings (blank cells as None)."""
    lines, encoding, line_fixes = decode_lines(data, name)
    notes = []
    if any("\ufeff" in line for line in lines):
        lines = [line.replace("\ufeff", "") for line in lines]
        notes.append("파일 중간의 BOM 문자 제거 (byte-order marks inside the file removed)")
    if any("\r" in line[:-2] for line in lines):  # csv refuses a bare CR inside a line
        lines = [_INNER_CR.sub(" ", line) for line in lines]
    delimiter = sniff_delimiter(lines, suffix)
    if delimiter != ",":
        notes.append(f"구분자 delimiter: {DELIMITERS[delimiter]}")
    reader = csv.reader(lines, delimiter=delimiter)
    header, spans, records = None, [], []
    blank, previous = 0, 0
    try:
        for record in reader:
            span = (previous + 1, reader.line_num)
            previous = reader.line_num
            if not any(cell.strip() for cell in record):
                blank += header is not None
                continue
            if header is None:
                header, header_span = record, span
                continue
            records.append(record)
            spans.append(span)
    except csv.Error as exc:
        msg = f"{name} is not a well-formed table at line {reader.line_num} ({one_line(exc)}); check its quoting."
        raise UnreadableFileError(msg) from None
    if header is None:
        msg = f"{name} has no header and no rows (only blank lines)."
        raise EmptyInputError(msg)
    if blank:
        notes.append(f"빈 줄 {blank:,}개 건너뜀 (blank lines skipped, not counted as rows)")
    for number in range(header_span[0], header_span[1] + 1):
        if number in line_fixes:
            notes.append(f"머리글 header: {line_fixes[number]}")
    columns = clean_header(header, notes)
    width = len(header)
    good, numbers, fixed, rejected = [], [], [], []
    fixed_lines = sorted(line_fixes)
    for row, (record, (first, last)) in enumerate(zip(records, spans, strict=True), start=1):
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            rejected.append((row, f"값이 {len(record)}개, 머리글은 {width}개 (more fields than the header: "
                                  "an unquoted delimiter inside a value?)"))
            continue
        good.append(record[:width] + [""] * (width - len(record)))
        numbers.append(row)
        fixed += [(row, line_fixes[n]) for n in _lines_between(fixed_lines, first, last)]
    if records and not good:
        msg = (f"{name}: every one of its {len(records):,} rows has more fields than the header "
               f"({width}); the delimiter or quoting is wrong. Save it again as CSV UTF-8 from Excel.")
        raise UnreadableFileError(msg)
    frame = pd.DataFrame(good, columns=columns, dtype=object) if good else pd.DataFrame(columns=columns)
    frame = drop_blank_columns(frame.where(frame != "", None), notes)
    rows = pd.Series(numbers, index=frame.index, dtype=int)
    return ParsedText(frame, rows, len(records), encoding, fixed, rejected, notes)


BLANK_PREFIX = "열"


def clean_header(header: list, notes: list[str]) -> list[str]:
    """Stripped, unique column names; a blank one is named by its position (열3)."""
    names, seen = [], {}
    for position, value in enumerate(header):
        name = "" if value is None else " ".join(str(value).replace("\ufeff", "").replace("\x00", "").split())
        if not name or name.startswith("Unnamed:"):
            name = f"{BLANK_PREFIX}{position + 1}"
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            notes.append(f"중복 열 이름 {name!r} → 뒤의 열은 {new!r} (duplicate header; the first is used)")
            name = new
        seen.setdefault(name, 0)
        names.append(name)
    return names


def drop_blank_columns(frame: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Drop nameless columns without values (trailing delimiters); note nameless ones that hold data."""
    blank = [c for c in frame.columns if c.startswith(BLANK_PREFIX) and c[len(BLANK_PREFIX):].isdigit()]
    empty = [c for c in blank if frame[c].isna().all()]
    for column in blank:
        if column not in empty:
            notes.append(f"이름 없는 열 → {column} (a column without a header)")
    return frame.drop(columns=empty)


def _lines_between(numbers: list[int], first: int, last: int) -> list[int]:
    import bisect

    lo = bisect.bisect_left(numbers, first)
    hi = bisect.bisect_right(numbers, last)
    return numbers[lo:hi]

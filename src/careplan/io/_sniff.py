"""Looking at a file before reading it: is it a regular file, how big, what format.

Only ``os.stat`` and the first :data:`SNIFF_BYTES` bytes are used (plus a zip's
directory), so a device, a FIFO or a sparse 10 GB file is refused before any
large read. The format comes from the content first and the name second: an
Excel workbook saved as ``.csv`` is still read as Excel.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from .._errors import EmptyInputError, UnreadableFileError
from .._files import special_kind

__all__ = ["SNIFF_BYTES", "head_bytes", "limit_bytes", "one_line", "sniff_format", "stat_file"]

SNIFF_BYTES = 64 * 1024
MIB = 1024 * 1024
#: Size limits by format. The largest national files careplan reads are tens of MB (the national school
#: list ~3 MB, 주민등록 연령별 인구 ~2.5 MB, a national 어린이집 list ~40 MB, the national 학구도 SHP a few
#: hundred MB); parsing needs several times the file size in memory, so these stay well below a PC's RAM.
LIMITS_MIB = {"text": 256, "excel": 100, "unpacked Excel": 512, "spatial": 2048, "raw zone JSON": 32}
LIMIT_ENV = "CAREPLAN_MAX_INPUT_MB"
SPATIAL_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".parquet", ".geoparquet", ".zip", ".kml", ".gml",
                    ".dbf", ".fgb"}
_TEXT_LIKE_XML = {".osm", ".xml", ".graphml", ".kml", ".gml"}
_FOREIGN = [  # (signature, what it is) for files that are no table at all
    (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"), (b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (unpack it first)"), (b"Rar!", "a RAR archive (unpack it first)"),
    (b"BZh", "a bzip2 archive (unpack it first)"), (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program (.exe/.dll)"),
]


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line, shortened: error messages must stay one terminal line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def stat_file(path: Path) -> int:
    """The size of ``path``; a sentence when it is missing, a folder or not a regular file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        msg = f"{path} does not exist. Check the path (relative paths start from {Path.cwd()})."
        raise UnreadableFileError(msg) from None
    except OSError as exc:
        msg = f"{path} cannot be opened ({one_line(exc.strerror or exc)}). Check the path and its permissions."
        raise UnreadableFileError(msg) from None
    kind = special_kind(info.st_mode)
    if kind is not None:
        msg = f"{path} is {kind}, not a data file; give the path of a saved CSV, XLSX, GeoJSON, GPKG or SHP file."
        raise UnreadableFileError(msg)
    if info.st_size == 0:
        msg = f"{path.name} is empty (0 bytes, 0 data rows). Download or export the file again."
        raise EmptyInputError(msg)
    return info.st_size


def limit_bytes(path: Path, size: int, fmt: str) -> None:
    """Refuse a file larger than the limit for its format, saying the size, the limit and what to do."""
    limit_mib = LIMITS_MIB[fmt]
    override = os.environ.get(LIMIT_ENV, "").strip()
    if override:
        try:
            limit_mib = float(override)
        except ValueError:
            msg = f"the environment variable {LIMIT_ENV}={override!r} is not a number of megabytes (e.g. 4096)."
            raise UnreadableFileError(msg) from None
    if size > limit_mib * MIB:
        need = int(size / MIB) + 1
        msg = (f"{path.name} is {_human(size)}, larger than the {_human(limit_mib * MIB)} careplan reads for "
               f"{fmt} files (it would not fit in memory safely); keep only the area you need (e.g. filter the "
               f"시도/시군구 in Excel or QGIS), or, if this computer has the memory, set {LIMIT_ENV}={need} "
               "and run again.")
        raise UnreadableFileError(msg)


def head_bytes(path: Path, n: int = SNIFF_BYTES) -> bytes:
    """The first ``n`` bytes of a regular file (never more)."""
    try:
        with path.open("rb") as handle:
            return handle.read(n)
    except OSError as exc:
        msg = f"{path.name} cannot be read ({one_line(exc.strerror or exc)}). Check its permissions."
        raise UnreadableFileError(msg) from None


def sniff_format(path: Path, head: bytes) -> str:
    """``"text"``, ``"excel"``, ``"spatial"`` or ``"parquet"`` from the content, else a sentence.

    Refuses HTML pages, old binary Office files, PDFs, images, archives and
    zips that hold neither a workbook nor a shapefile/GeoPackage.
    """
    suffix = path.suffix.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        msg = (f"{path.name} is an old binary Office file (Excel 97–2003 .xls, or an encrypted workbook or HWP "
               "document), which careplan cannot read; open it in Excel and 'Save As' Excel Workbook (.xlsx) or "
               "'CSV UTF-8 (쉼표로 분리)' (remove any password), then use that file.")
        raise UnreadableFileError(msg)
    if head.startswith(b"SQLite format 3\x00") or head.startswith(b"\x00\x00\x27\x0a") or head[:3] == b"FGB":
        return "spatial"  # GeoPackage, shapefile geometry, FlatGeobuf whatever the name says
    if head.startswith(b"PAR1"):
        return "parquet"
    for signature, what in _FOREIGN:
        if head.startswith(signature):
            msg = f"{path.name} is {what}, not a data table; give the CSV, XLSX, GeoJSON, GPKG or SHP file instead."
            raise UnreadableFileError(msg)
    _refuse_html(head, path)
    if suffix in {".parquet", ".geoparquet"}:
        msg = f"{path.name} is named like a Parquet file but does not start like one (truncated or not Parquet?)."
        raise UnreadableFileError(msg)
    if suffix in SPATIAL_SUFFIXES and suffix != ".zip":
        return "spatial"
    if suffix == ".zip":
        msg = f"{path.name} is named .zip but is not a zip archive (damaged or truncated download?)."
        raise UnreadableFileError(msg)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in {b"{", b"["}:
        msg = (f"{path.name} holds JSON, not a {suffix or 'text'} table; if it is GeoJSON, name it .geojson "
               "(careplan reads JSON only as GeoJSON or raw 학구 JSON).")
        raise UnreadableFileError(msg)
    return "text"


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        msg = (f"{path.name} starts like a zip archive (or .xlsx workbook) but cannot be opened as one "
               f"({one_line(exc)}); the download is probably truncated: download it again.")
        raise UnreadableFileError(msg) from None
    lower = [n.lower() for n in names]
    if any(n.startswith("xl/") for n in lower):
        return "excel"
    if any(n.endswith((".shp", ".gpkg", ".geojson", ".json", ".fgb")) for n in lower):
        return "spatial"
    if "content.xml" in lower and "mimetype" in lower:
        msg = (f"{path.name} is an OpenDocument file (LibreOffice .ods/.odt), which careplan cannot read; save "
               "it as Excel Workbook (.xlsx) or 'CSV UTF-8' and use that file.")
        raise UnreadableFileError(msg)
    shown = ", ".join(names[:6]) + (" …" if len(names) > 6 else "") if names else "nothing"
    msg = (f"{path.name} is a zip archive without an Excel workbook, a shapefile (.shp) or a GeoPackage inside "
           f"(it holds {one_line(shown, 160)}); unpack it and give the data file itself.")
    raise UnreadableFileError(msg)


def _refuse_html(head: bytes, path: Path) -> None:
    probe = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if probe.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in probe[:512]:
        if path.suffix.lower() in _TEXT_LIKE_XML and b"<html" not in probe[:512]:
            return
        msg = (f"{path.name} is an HTML/XML page, not a data table: the portal probably returned an error "
               "or login page that was saved under a .csv name. Download the file again from the portal.")
        raise UnreadableFileError(msg)


def _human(size: float) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", MIB), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size:,.0f} bytes"

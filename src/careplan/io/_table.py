"""Reading raw tables: file type, encoding, HTML error pages, empty files.

Every reader starts here, so the same clear sentence reaches the planner
whatever the file: a table of strings (nothing parsed yet) plus what was
learned about the file (encoding, CRS of spatial files).
"""

from __future__ import annotations

import io as _io
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
from charset_normalizer import from_bytes

from .._errors import EmptyInputError, UnreadableFileError

__all__ = ["RawTable", "decode_bytes", "read_raw_table"]

TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
SPATIAL_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".parquet", ".geoparquet", ".zip"}
#: Encodings Korean portals use. cp949 is a superset of euc-kr, so euc-kr files decode as cp949.
KOREAN_ENCODINGS = ["utf_8", "cp949", "euc_kr"]


@dataclass
class RawTable:
    """A table as read from disk, before any parsing of values."""

    frame: pd.DataFrame | gpd.GeoDataFrame
    path: Path
    encoding: str | None = None  # text files only

    @property
    def is_spatial(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame)


def read_raw_table(path: str | Path, *, sheet: str | int = 0) -> RawTable:
    """Read a CSV / XLSX / GeoJSON / GPKG / SHP / GeoParquet file as strings (tabular) or a GeoDataFrame.

    Raises
    ------
    UnreadableFileError
        missing file, HTML page saved under a table name, unknown encoding or format.
    EmptyInputError
        empty file, or a header with no data rows.
    """
    path = Path(path)
    if not path.exists():
        msg = f"{path} does not exist. Check the path (relative paths start from {Path.cwd()})."
        raise UnreadableFileError(msg)
    if path.is_dir():
        msg = f"{path} is a folder, expected a file (CSV, XLSX, GeoJSON, GPKG, SHP or GeoParquet)."
        raise UnreadableFileError(msg)
    head = path.read_bytes()[:4096]
    if not head.strip():
        msg = f"{path.name} is empty (0 data rows). Download or export the file again."
        raise EmptyInputError(msg)
    _refuse_html(head, path)
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return _check_rows(RawTable(_read_excel(path, sheet), path))
    if suffix in SPATIAL_SUFFIXES:
        return _check_rows(RawTable(_read_spatial(path), path))
    return _check_rows(_read_csv(path))


def decode_bytes(data: bytes, *, name: str = "file") -> tuple[str, str]:
    """Decode Korean text bytes; return ``(text, encoding)``.

    A BOM decides first; otherwise charset-normalizer chooses among UTF-8,
    CP949 and EUC-KR (the encodings Korean portals use), so a CP949 export and
    its UTF-8 copy read the same.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass  # not UTF-8: let the detector choose among the Korean code pages
    best = from_bytes(data, cp_isolation=KOREAN_ENCODINGS).best()
    if best is None:
        msg = (f"{name} is neither UTF-8 nor CP949/EUC-KR text. Save it as CSV UTF-8 "
               "(Excel: 'CSV UTF-8 (쉼표로 분리)') and try again.")
        raise UnreadableFileError(msg)
    encoding = "cp949" if best.encoding in {"euc_kr", "cp949"} else best.encoding
    return data.decode(encoding), encoding


def _refuse_html(head: bytes, path: Path) -> None:
    probe = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if probe.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in probe[:512]:
        if path.suffix.lower() in {".osm", ".xml", ".graphml"}:
            return
        msg = (f"{path.name} is an HTML/XML page, not a data table: the portal probably returned an error "
               "or login page that was saved under a .csv name. Download the file again from the portal.")
        raise UnreadableFileError(msg)


def _read_csv(path: Path) -> RawTable:
    text, encoding = decode_bytes(path.read_bytes(), name=path.name)
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        frame = pd.read_csv(_io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                            na_values=[""], skipinitialspace=False)
    except pd.errors.EmptyDataError as exc:
        msg = f"{path.name} has no header and no rows."
        raise EmptyInputError(msg) from exc
    except pd.errors.ParserError as exc:
        msg = f"{path.name} is not a well-formed CSV table ({exc}). Check quoting and the delimiter."
        raise UnreadableFileError(msg) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(frame, path, encoding)


def _read_excel(path: Path, sheet: str | int) -> pd.DataFrame:
    try:
        frame = pd.read_excel(path, sheet_name=sheet, dtype=str)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        msg = f"{path.name} could not be read as an Excel workbook ({type(exc).__name__}: {exc})."
        raise UnreadableFileError(msg) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_spatial(path: Path) -> gpd.GeoDataFrame:
    try:
        if path.suffix.lower() in {".parquet", ".geoparquet"}:
            return gpd.read_parquet(path)
        return gpd.read_file(path)
    except Exception as exc:  # pyogrio/arrow errors have no common base
        msg = f"{path.name} could not be read as a spatial file ({type(exc).__name__}: {exc})."
        raise UnreadableFileError(msg) from exc


def _check_rows(raw: RawTable) -> RawTable:
    if len(raw.frame) == 0:
        cols = ", ".join(map(str, list(raw.frame.columns)[:8]))
        msg = f"{raw.path.name} has a header ({cols} …) but no data rows."
        raise EmptyInputError(msg)
    return raw

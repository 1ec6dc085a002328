"""Reading raw tables: file type, encoding, HTML error pages, empty files.

Every reader starts here, so the same clear sentence reaches the planner
whatever the file: a table of strings (nothing parsed yet) plus what was
learned about the file (encoding, CRS of spatial files).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .._errors import EmptyInputError, UnreadableFileError
from ._sniff import head_bytes, limit_bytes, one_line, sniff_format, stat_file
from ._text import clean_header, decode_lines, drop_blank_columns, parse_text_table

__all__ = ["RawTable", "decode_bytes", "list_layers", "read_header", "read_raw_table"]


@dataclass
class RawTable:
    """A table as read from disk, before any parsing of values.

    ``rows`` numbers the frame's rows (1-based data rows of the file); rows the
    file-level parse already rejected (e.g. too many fields) are in ``rejected``
    and not in ``frame``; ``fixed`` and ``notes`` say what was repaired.
    """

    frame: pd.DataFrame | gpd.GeoDataFrame
    path: Path
    encoding: str | None = None  # text files only
    rows: pd.Series | None = None
    rows_read: int | None = None
    fixed: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def is_spatial(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame)


def read_raw_table(path: str | Path, *, sheet: str | int | None = None, layer: str | None = None) -> RawTable:
    """Read a CSV / TSV / XLSX / GeoJSON / GPKG / SHP / GeoParquet file as strings (tabular) or a GeoDataFrame.

    The format is told from the file's first bytes (an Excel workbook saved as
    ``.csv`` is read as Excel); the file must be a regular file within the size
    limit of its format. ``layer`` chooses a GeoPackage layer or a workbook
    sheet (``sheet`` is its older name).

    Raises
    ------
    UnreadableFileError
        missing file, device or FIFO, too large, HTML page, unknown encoding or format, unknown layer.
    EmptyInputError
        empty file, or a header with no data rows.
    """
    return _check_rows(_read(Path(path), layer if layer is not None else sheet, header_only=False))


def read_header(path: str | Path, *, layer: str | None = None) -> RawTable:
    """The columns of a table without reading its rows (the first 64 KB of a text file, a layer's
    field list, a sheet's first row): how ``careplan check`` tells the kind of a file.

    Refuses what :func:`read_raw_table` refuses, with the same sentences.
    """
    return _read(Path(path), layer, header_only=True)


def _read(path: Path, layer: str | int | None, *, header_only: bool) -> RawTable:
    size = stat_file(path)
    head = head_bytes(path)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf") and size <= len(head):
        msg = f"{path.name} is empty (only blank space, 0 data rows). Download or export the file again."
        raise EmptyInputError(msg)
    fmt = sniff_format(path, head)
    limit_bytes(path, size, {"parquet": "spatial"}.get(fmt, fmt))
    if head.startswith(b"PK"):  # a zip: its unpacked size counts (a small zip can unpack to gigabytes)
        limit_bytes(path.with_name(f"{path.name} (unpacked)"), _unpacked_size(path), "spatial")
    if fmt == "excel":
        return _read_excel(path, layer, header_only=header_only)
    if fmt in {"spatial", "parquet"}:
        return _read_spatial(path, layer, parquet=fmt == "parquet", header_only=header_only)
    if layer not in (None, 0):
        msg = (f"{path.name} is a text table without layers; remove the layer choice ({layer!r}), "
               "which is for GeoPackages and Excel sheets.")
        raise UnreadableFileError(msg)
    data = _header_sample(path, head, size) if header_only else _read_all(path)
    parsed = parse_text_table(data, path.name, path.suffix.lower())
    return RawTable(parsed.frame, path, parsed.encoding, parsed.rows, parsed.rows_read, parsed.fixed,
                    parsed.rejected, parsed.notes)


def decode_bytes(data: bytes, *, name: str = "file") -> tuple[str, str]:
    """Decode Korean text bytes; return ``(text, encoding)``.

    A BOM decides first; otherwise each line is UTF-8 or else CP949/EUC-KR (the
    encodings Korean portals use), so a CP949 export and its UTF-8 copy read the
    same and a few pasted CP949 lines do not spoil a UTF-8 file.
    """
    lines, encoding, _ = decode_lines(data, name)
    return "".join(lines), encoding


def list_layers(path: str | Path, *, spatial_only: bool = False) -> list[str]:
    """The layer names of a spatial file (one name for GeoJSON / SHP).

    ``spatial_only`` leaves out attribute tables (e.g. the ``layer_styles`` QGIS
    adds to a GeoPackage) when the file has at least one layer with geometry.
    """
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
    except Exception as exc:  # pyogrio/GDAL errors have no common base
        raise _spatial_error(Path(path), exc) from None
    names = [str(name) for name in layers[:, 0]]
    spatial = [str(name) for name, kind in layers if kind is not None]
    return spatial if spatial_only and spatial else names


def _header_sample(path: Path, head: bytes, size: int) -> bytes:
    """The first complete lines of a text file; the whole (size-limited) file when they cannot be cut
    safely: UTF-16 (two-byte line ends) or a first line longer than the sample."""
    cut = head.rfind(b"\n")
    if size <= len(head) or cut < 0 or head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(0) > len(head) // 4:
        return _read_all(path)
    return head[: cut + 1]


def _read_all(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (OSError, MemoryError) as exc:
        msg = f"{path.name} cannot be read ({one_line(exc)})."
        raise UnreadableFileError(msg) from None


def _unpacked_size(path: Path) -> int:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return sum(i.file_size for i in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        msg = f"{path.name} is a damaged zip archive ({one_line(exc)}); download it again."
        raise UnreadableFileError(msg) from None


def _read_excel(path: Path, layer: str | int | None, *, header_only: bool) -> RawTable:
    limit_bytes(path.with_name(f"{path.name} (unpacked)"), _unpacked_size(path), "unpacked Excel")
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
        sheets = [str(s) for s in book.sheet_names]
        notes = []
        if layer in (None, 0):
            chosen = sheets[0]
            if len(sheets) > 1:
                notes.append(f"시트 sheet {chosen!r} 사용 (the workbook has {len(sheets)} sheets: "
                             f"{', '.join(sheets)}; choose another with --layer NAME or layer = \"…\")")
        elif str(layer) in sheets:
            chosen = str(layer)
        else:
            msg = (f"{path.name} has no sheet {layer!r}; its sheets are {', '.join(map(repr, sheets))}. "
                   "Choose one with --layer NAME (or layer = \"NAME\" in the scenario entry).")
            raise UnreadableFileError(msg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and data validation
            frame = book.parse(chosen, dtype=str, nrows=0 if header_only else None)
    except UnreadableFileError:
        raise
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        msg = f"{path.name} could not be read as an Excel workbook ({type(exc).__name__}: {one_line(exc)})."
        raise UnreadableFileError(msg) from None
    if path.suffix.lower() not in {".xlsx", ".xlsm"}:
        notes.append(f"{path.suffix or '(no extension)'} 이름이지만 Excel 통합 문서 (an Excel workbook, read as one)")
    frame.columns = clean_header(list(frame.columns), notes)
    frame = drop_blank_columns(frame.astype(object).where(frame.notna(), None), notes)
    return RawTable(frame, path, notes=notes)


def _read_spatial(path: Path, layer: str | int | None, *, parquet: bool, header_only: bool) -> RawTable:
    import pyogrio

    notes = []
    try:
        if parquet and header_only:
            import pyarrow.parquet as pq

            return RawTable(pd.DataFrame(columns=pq.read_schema(path).names), path)
        if parquet:
            try:
                frame = gpd.read_parquet(path)
            except ValueError:  # a plain Parquet table without geometry
                frame = pd.read_parquet(path).astype(object)
            return RawTable(frame, path)
    except Exception as exc:  # arrow errors have no common base
        raise _spatial_error(path, exc) from None
    _check_sidecars(path)
    chosen = _choose_layer(path, layer, notes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GDAL notes (e.g. non-conformant GeoJSON) are not user errors
            if header_only:
                fields = [str(f) for f in pyogrio.read_info(path, layer=chosen)["fields"]]
                return RawTable(pd.DataFrame(columns=clean_header(fields, notes)), path, notes=notes)
            # one unreadable geometry (an unclosed ring …) becomes None and is rejected with its row
            frame = gpd.read_file(path, layer=chosen, engine="pyogrio", on_invalid="fix")
    except Exception as exc:  # pyogrio/GDAL errors have no common base
        raise _spatial_error(path, exc) from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        frame = pd.DataFrame(frame)
    columns = [c for c in frame.columns if not isinstance(frame, gpd.GeoDataFrame) or c != frame.geometry.name]
    renamed = dict(zip(columns, clean_header(columns, notes), strict=True))
    frame = frame.rename(columns=renamed)
    return RawTable(frame, path, notes=notes)


def _choose_layer(path: Path, layer: str | int | None, notes: list[str]) -> str | None:
    """The layer to read: the one given, or the only layer with geometry; else a sentence listing them."""
    if layer in (None, 0):
        layers = list_layers(path, spatial_only=True)
        if len(layers) > 1:
            msg = (f"{path.name} has {len(layers)} layers ({', '.join(map(repr, layers[:20]))}); choose one with "
                   "--layer NAME, or in the scenario as { path = \"…\", layer = \"NAME\" }.")
            raise UnreadableFileError(msg)
        return layers[0] if layers else None
    layers = list_layers(path)
    if str(layer) not in layers:
        msg = (f"{path.name} has no layer {layer!r}; its layers are {', '.join(map(repr, layers[:20]))}. "
               "Choose one with --layer NAME (or layer = \"NAME\" in the scenario entry).")
        raise UnreadableFileError(msg)
    notes.append(f"레이어 layer {str(layer)!r}")
    return str(layer)


def _check_sidecars(path: Path) -> None:
    if path.suffix.lower() != ".shp":
        return
    missing = [s for s in (".shx", ".dbf") if not any(path.with_suffix(v).exists() for v in (s, s.upper()))]
    if missing:
        msg = (f"{path.name} needs its companion file(s) {', '.join(path.stem + s for s in missing)} beside it "
               "(a shapefile is several files: .shp, .shx, .dbf, .prj); copy them all, or use the zip as downloaded.")
        raise UnreadableFileError(msg)


def _spatial_error(path: Path, exc: Exception) -> UnreadableFileError:
    if isinstance(exc, UnicodeDecodeError):
        msg = (f"{path.name} holds text that is not UTF-8 (probably CP949), and a spatial file's text must be "
               "UTF-8; save it again with encoding UTF-8 (QGIS: Export → Save Features As… → Encoding UTF-8).")
        return UnreadableFileError(msg)
    reason = one_line(str(exc).replace(str(path), path.name).split("; It might help")[0], 200)
    if "not recognized as being in a supported file format" in reason:
        reason = "GDAL recognises no spatial format in it"
    hint = ""
    if path.suffix.lower() in {".json", ".geojson"}:
        hint = (" A GeoJSON file must be one complete JSON object (a FeatureCollection of features); a "
                "truncated download or JSON that is not GeoJSON gives this: export or download it again.")
    msg = f"{path.name} could not be read as a spatial file ({reason}).{hint}"
    return UnreadableFileError(msg)


def _check_rows(raw: RawTable) -> RawTable:
    if len(raw.frame) == 0 and not raw.rejected:
        if raw.is_spatial and list(raw.frame.columns) == [raw.frame.geometry.name]:
            msg = f"{raw.path.name} has no features (0 data rows)."
            raise EmptyInputError(msg)
        if len(raw.frame.columns) == 0:
            msg = f"{raw.path.name} has no header and no data rows."
            raise EmptyInputError(msg)
        cols = ", ".join(map(str, list(raw.frame.columns)[:8]))
        msg = f"{raw.path.name} has a header ({one_line(cols, 160)} …) but no data rows."
        raise EmptyInputError(msg)
    return raw

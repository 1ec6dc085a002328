"""Helpers shared by the readers: column lookup, row numbers, ids, points."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import (
    CareplanError,
    CRSError,
    InputDataError,
    MissingColumnError,
    UnreadableFileError,
)
from ._parse import KOREA_LAT, KOREA_LON, points_to_5179
from ._report import RowReport
from ._sniff import one_line

__all__ = [
    "METRIC_CRS",
    "dedupe_ids",
    "exclude_where",
    "is_synthetic",
    "locate_points",
    "find_column",
    "finite_geometry",
    "guarded",
    "match_area",
    "require_columns",
    "row_numbers",
    "split_address",
    "start_report",
    "text",
]

METRIC_CRS = "EPSG:5179"


def guarded(what: str):
    """Decorate a reader so that no pandas / GDAL / shapely exception leaves it, only a sentence.

    Readers check what they expect; this is the net for what nobody foresaw in
    a malformed file. The original exception stays chained for ``-vv``.
    """
    def decorate(reader):
        signature = inspect.signature(reader)

        @functools.wraps(reader)
        def read(*args, **kwargs):
            signature.bind(*args, **kwargs)  # a wrong call stays a TypeError, not a file problem
            try:
                return reader(*args, **kwargs)
            except CareplanError:
                raise
            except Exception as exc:
                source = args[0] if args else kwargs.get("path")
                name = Path(source).name if isinstance(source, str | Path) else "the input"
                msg = (f"{name} could not be read as {what} ({type(exc).__name__}: {one_line(exc, 200)}); check it "
                       "against docs/data-contract.md, and if it looks right, report this careplan bug "
                       "(-vv shows the details).")
                raise UnreadableFileError(msg) from exc
        return read
    return decorate


def start_report(raw, source: str) -> tuple[RowReport, pd.Series]:
    """A row report for a freshly read table (its encoding, and rows the file-level parse fixed or
    rejected) and the data-row number of each row of ``raw.frame``."""
    rows = raw.rows if raw.rows is not None else row_numbers(raw.frame)
    report = RowReport(source, rows_read=raw.rows_read if raw.rows_read is not None else len(raw.frame))
    if raw.encoding:
        report.note(f"인코딩 encoding: {raw.encoding}")
    for text in raw.notes:
        report.note(text)
    for row, how in raw.fixed:
        report.fix(row, how)
    for row, why in raw.rejected:
        report.reject(row, why)
    return report, rows


def row_numbers(frame: pd.DataFrame) -> pd.Series:
    """1-based data-row numbers aligned to ``frame`` (read order)."""
    return pd.Series(np.arange(1, len(frame) + 1), index=frame.index)


def find_column(frame: pd.DataFrame, names: Iterable[str]) -> str | None:
    """The first of ``names`` present in ``frame`` (exact, then case/space-insensitive)."""
    names = list(names)
    for name in names:
        if name in frame.columns:
            return name
    folded = {str(c).replace(" ", "").lower(): c for c in frame.columns}
    for name in names:
        hit = folded.get(name.replace(" ", "").lower())
        if hit is not None:
            return hit
    return None


def require_columns(frame: pd.DataFrame, wanted: Mapping[str, Iterable[str]], *, source: str,
                    mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """Resolve canonical names to the file's columns; raise listing what is missing.

    ``wanted`` maps a canonical name to the header names it may have; a user
    ``mapping`` (canonical -> file column) wins.
    """
    mapping = dict(mapping or {})
    found, missing = {}, []
    for canonical, aliases in wanted.items():
        # the canonical name itself too: careplan's own outputs (careplan.gpkg, CSVs) use it
        column = mapping.get(canonical) or find_column(frame, [*aliases, canonical])
        if canonical in mapping and column not in frame.columns:
            missing.append(f"{canonical} (mapped to {column!r}, which is not a column of the file)")
        elif column is None or column not in frame.columns:
            missing.append(f"{canonical} ({' / '.join(list(aliases)[:3])})")
        else:
            found[canonical] = column
    if missing:
        have = ", ".join(map(str, list(frame.columns)[:12]))
        msg = (f"{source}: required column(s) missing: {'; '.join(missing)}. The file has: {have}"
               f"{' …' if len(frame.columns) > 12 else ''}. Rename the columns or pass a column mapping "
               "(e.g. mapping={'name': '기관명'} or --map name=기관명).")
        raise MissingColumnError(msg)
    return found


def optional_columns(frame: pd.DataFrame, wanted: Mapping[str, Iterable[str]],
                     mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """Like :func:`require_columns` for columns that may be absent."""
    mapping = dict(mapping or {})
    found = {}
    for canonical, aliases in wanted.items():
        column = mapping.get(canonical) or find_column(frame, aliases)
        if column is not None and column in frame.columns:
            found[canonical] = column
    return found


def text(series: pd.Series) -> pd.Series:
    """Stripped strings with blanks as missing (object dtype, stable across pandas versions)."""
    out = series.astype("string").str.strip().astype(object)
    return out.where(out.notna() & (out != ""), None)  # None, not pd.NA: `value or default` must work


def dedupe_ids(ids: pd.Series, rows: pd.Series, keep: pd.Series, report: RowReport) -> pd.Series:
    """Reject later rows whose id repeats an earlier kept row; return the updated keep mask."""
    live = ids[keep]
    repeated = live.duplicated(keep="first")
    first_row = rows[keep][~repeated].groupby(live[~repeated]).first()
    for idx in live.index[repeated]:
        report.reject(int(rows[idx]), f"중복 ID {ids[idx]} (duplicate id; first at row {first_row[ids[idx]]})")
    keep = keep.copy()
    keep[live.index[repeated]] = False
    return keep


#: Short 시도 names in addresses ("서울 구로구 …") -> the official names.
SIDO_NAMES = {
    "서울": "서울특별시", "부산": "부산광역시", "대구": "대구광역시", "인천": "인천광역시", "광주": "광주광역시",
    "대전": "대전광역시", "울산": "울산광역시", "세종": "세종특별자치시", "경기": "경기도", "강원": "강원특별자치도",
    "강원도": "강원특별자치도", "충북": "충청북도", "충남": "충청남도", "전북": "전북특별자치도",
    "전라북도": "전북특별자치도", "전남": "전라남도", "경북": "경상북도", "경남": "경상남도",
    "제주": "제주특별자치도", "제주도": "제주특별자치도",
}


def split_address(address: pd.Series) -> pd.DataFrame:
    """``"서울특별시 구로구 …"`` -> sido ``서울특별시``, sigungu ``구로구`` (``수원시 장안구`` for 구 in a 시)."""
    parts = text(address).fillna("").str.split()
    sido = parts.str[0].where(parts.str.len() > 0).replace(SIDO_NAMES)
    second = parts.str[1].astype(object).fillna("")
    third = parts.str[2].astype(object).fillna("")
    city_gu = second.str.endswith("시") & third.str.endswith("구")
    sigungu = second.where(~city_gu, second + " " + third).where(second != "", None)
    return pd.DataFrame({"sido": sido, "sigungu": sigungu}, index=address.index)


def match_area(frame: pd.DataFrame, *, sigungu: str | None, sido: str | None, source: str) -> pd.Series:
    """Rows in the asked 시군구 / 시도; raise when a 시군구 name is ambiguous across 시도 (e.g. 중구)."""
    mask = pd.Series(True, index=frame.index)
    if sido:
        mask &= frame["sido"].fillna("").str.startswith(sido[:2])
    if sigungu:
        names = frame["sigungu"].fillna("")
        mask &= (names == sigungu) | names.str.startswith(sigungu + " ") | names.str.endswith(" " + sigungu)
        sidos = frame.loc[mask, "sido"].dropna().unique()
        if len(sidos) > 1:
            msg = (f"{source}: 시군구 {sigungu!r} exists in several 시도 ({', '.join(sorted(sidos))}). "
                   "Give the 시도 too (sido=… / --sido …).")
            raise InputDataError(msg)
    return mask


def to_points(frame: pd.DataFrame, x: np.ndarray, y: np.ndarray) -> gpd.GeoDataFrame:
    """A GeoDataFrame of points in EPSG:5179 from metre arrays aligned to ``frame``."""
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=METRIC_CRS)


def locate_points(raw, lon_col: str | None, lat_col: str | None, rows: pd.Series, keep: pd.Series,
                  report: RowReport, crs) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """EPSG:5179 x, y for every row of ``raw.frame`` (NaN where rejected) and the updated keep mask.

    A spatial file gives its geometry when it has a CRS and any geometry (or no
    coordinate columns): points as they are, any other geometry at its
    representative point (fixed, noted), none or outside Korea rejected.
    Otherwise the coordinate columns are read.
    """
    if raw.is_spatial and (lon_col is None or lat_col is None
                           or (raw.frame.crs is not None and raw.frame.geometry.notna().any())):
        return _geometry_points(raw, rows, keep, report, crs)
    frame = raw.frame
    x = np.full(len(frame), np.nan)
    y = np.full(len(frame), np.nan)
    keep = keep.copy()
    xs, ys, has_xy = points_to_5179(frame.loc[keep], lon_col, lat_col, report, rows=rows[keep], crs=crs)
    positions = np.flatnonzero(keep.to_numpy())
    x[positions], y[positions] = xs, ys
    keep[keep] = has_xy.to_numpy()
    return x, y, keep


def finite_geometry(geometry) -> np.ndarray:
    """True where every coordinate of the geometry is finite (GEOS fails on NaN / Inf)."""
    import shapely

    values = np.asarray(geometry, dtype=object)
    coords, index = shapely.get_coordinates(values, return_index=True)  # x, y (a 2-D z reads as NaN)
    bad = np.zeros(len(values), dtype=bool)
    np.logical_or.at(bad, index, ~np.isfinite(coords).all(axis=1))
    return ~bad


def _geometry_points(raw, rows, keep, report, crs):
    geometry = raw.frame.geometry
    if crs is not None:
        geometry = geometry.set_crs(crs, allow_override=True)
    missing = (geometry.isna() | geometry.is_empty).to_numpy()
    report.reject(rows[keep & missing], "좌표 없음 (no geometry)")
    keep = keep & ~missing
    infinite = keep & ~finite_geometry(geometry)
    report.reject(rows[infinite], "좌표가 유한하지 않음 (NaN or infinite coordinates)")
    keep = keep & ~infinite
    geometry = geometry.where(keep.to_numpy() | missing, None)
    other = ~missing & (geometry.geom_type != "Point").to_numpy()
    report.fix(rows[keep & other], "점이 아닌 도형 → 대표점 사용 (not a point: its representative point is used)")
    points = geometry.where(~other, geometry.representative_point())
    if not keep.any():
        return np.full(len(points), np.nan), np.full(len(points), np.nan), keep
    if points.crs is None:
        minx, miny, maxx, maxy = points[keep.to_numpy()].total_bounds
        if not (KOREA_LON[0] <= minx and maxx <= KOREA_LON[1] and KOREA_LAT[0] <= miny and maxy <= KOREA_LAT[1]):
            msg = (f"{raw.path.name} has no CRS and its coordinates are not degrees; save it with its CRS "
                   "(GeoPackage, or a .prj beside the .shp) in QGIS, or give longitude/latitude columns "
                   "(careplan check --crs EPSG tests a guess; in Python: crs=…).")
            raise CRSError(msg)
        points = points.set_crs(4326)
        report.note("CRS 없음, 경위도 범위 → EPSG:4326으로 판단 (no CRS; degree values)")
    degrees = points.to_crs(4326)
    inside = (degrees.x.between(*KOREA_LON) & degrees.y.between(*KOREA_LAT)).to_numpy()
    report.reject(rows[keep & ~inside], "한국 밖의 좌표 (outside Korea)")
    keep = keep & inside
    metric = points.to_crs(METRIC_CRS)
    ok = keep.to_numpy()
    x = np.where(ok, metric.x.to_numpy(), np.nan)
    y = np.where(ok, metric.y.to_numpy(), np.nan)
    return x, y, keep


def exclude_where(keep: pd.Series, mask: pd.Series, rows: pd.Series, values: pd.Series,
                  report: RowReport, reason) -> pd.Series:
    """Exclude kept rows where ``mask``; ``reason(value)`` names why, grouped by value."""
    hit = keep & mask.fillna(True).astype(bool)
    for value, group in rows[hit].groupby(values[hit].fillna("?").astype(str)):
        report.exclude(group, reason(value))
    return keep & ~hit


def is_synthetic(frame: pd.DataFrame) -> bool:
    """A file made by careplan.sample says 가상 데이터 in a provenance column."""
    for column in ("제공기관명", "비고", "source", "데이터출처", "상세주소", "주소"):
        if column in frame.columns and frame[column].astype(str).str.contains("가상").any():
            return True
    return False

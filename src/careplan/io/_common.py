"""Helpers shared by the readers: column lookup, row numbers, ids, points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from .._errors import InputDataError, MissingColumnError
from ._report import RowReport

__all__ = [
    "METRIC_CRS",
    "dedupe_ids",
    "exclude_where",
    "is_synthetic",
    "find_column",
    "match_area",
    "require_columns",
    "row_numbers",
    "split_address",
    "start_report",
    "text",
]

METRIC_CRS = "EPSG:5179"


def start_report(raw, source: str) -> tuple[RowReport, pd.Series]:
    """A row report for a freshly read table (noting its encoding) and its row numbers."""
    report = RowReport(source, rows_read=len(raw.frame))
    if raw.encoding:
        report.note(f"인코딩 encoding: {raw.encoding}")
    return report, row_numbers(raw.frame)


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
        column = mapping.get(canonical) or find_column(frame, aliases)
        if column is None or column not in frame.columns:
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
    out = series.astype("string").str.strip()
    return out.where(out.notna() & (out != ""), None).astype(object)


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

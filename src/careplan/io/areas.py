"""행정동 population by single year of age (행정안전부) and 행정동 boundaries."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd

from .._errors import MissingColumnError, UnreadableFileError
from ._common import guarded, match_area, optional_columns, require_columns, start_report, text
from ._parse import MAX_PEOPLE_PER_AGE, parse_counts
from ._report import ReadResult, RowReport
from ._table import read_raw_table
from .zones import _to_metric, clean_polygons, inside_korea, keep_polygons, reject_too_large

__all__ = ["AGE_COLUMNS", "read_admin_areas", "read_population"]

AGE_COLUMNS = [f"age_{a}" for a in range(101)]
CHILD_AGES = range(6, 13)
_AGE_HEADER = re.compile(r"(\d+)세(\s*이상)?$")
_AREA = re.compile(r"^(?P<name>.*?)\s*\((?P<code>\d{10})\)\s*$")


@guarded("a 주민등록 연령별 인구 table")
def read_population(path: str | Path, *, sigungu: str | None = None, sido: str | None = None,
                    layer: str | None = None) -> ReadResult:
    """Read the 행정안전부 주민등록 연령별 인구현황 table (CP949, ``"1,234"`` numbers).

    Rows are indexed by the 10-digit 행정기관코드 (``adm_code``) with ``level``
    시도 / 시군구 / 읍면동. With ``sigungu`` only that 시군구's 읍면동 rows are kept
    (its total row and other areas are counted as excluded). A ``-`` count
    is 0 (fixed); ``layer`` chooses the sheet of a workbook.
    """
    raw = read_raw_table(path, layer=layer)
    frame = raw.frame
    source = Path(path).name
    cols = require_columns(frame, {"area": ["행정구역"]}, source=source)
    ages = {int(m.group(1)): c for c in frame.columns if (m := _AGE_HEADER.search(str(c).replace("_", " ")))}
    total_col = next((c for c in frame.columns if "총인구수" in str(c)), None)
    if len(ages) < 13 or total_col is None:
        msg = (f"{source}: expected 총인구수 and single-year columns 0세 … 12세 (연령별 인구현황, 1세 단위); "
               f"found {len(ages)} age columns. Download the table with '1세 단위' ages.")
        raise MissingColumnError(msg)
    report, rows = start_report(raw, source)
    parsed = text(frame[cols["area"]]).fillna("").str.extract(_AREA)
    keep = parsed["code"].notna()
    report.reject(rows[~keep], "행정구역 이름에 (10자리 코드)가 없음 (no 10-digit code in 행정구역)")
    out = pd.DataFrame(index=frame.index)
    out["adm_code"] = parsed["code"]
    out["full_name"] = parsed["name"].str.replace(r"\s+", " ", regex=True).str.strip()
    code = out["adm_code"].fillna("0000000000")
    out["level"] = "읍면동"
    out.loc[code.str[5:] == "00000", "level"] = "시군구"
    out.loc[code.str[2:] == "00000000", "level"] = "시도"
    out["sigungu_code"] = code.str[:5].where(out["level"] != "시도")
    names = out["full_name"].fillna("").str.split()
    out["sido"] = names.str[0]
    out["sigungu"] = names.str[1:-1].str.join(" ").where(out["level"] == "읍면동", names.str[1:].str.join(" "))
    out.loc[out["level"] == "시도", "sigungu"] = None
    out["name"] = names.str[-1]
    numbers = {}
    bad = pd.Series(False, index=frame.index)
    dashed = pd.Series(False, index=frame.index)
    for age in range(101):
        column = ages.get(age)
        values, unreadable, dash = (parse_counts(frame[column]) if column
                                    else (pd.Series(0.0, index=frame.index), False, False))
        numbers[f"age_{age}"] = values
        bad |= unreadable
        dashed |= dash
    total, unreadable, dash = parse_counts(frame[total_col])
    bad |= unreadable
    dashed |= dash
    negative = pd.DataFrame(numbers).lt(0).any(axis=1) | (total < 0)
    huge = ~negative & pd.DataFrame(numbers).gt(MAX_PEOPLE_PER_AGE).any(axis=1)
    report.reject(rows[bad & keep], "인구수가 숫자가 아님 (population is not a number)")
    report.reject(rows[negative & ~bad & keep], "음수 인구수 (negative population)")
    report.reject(rows[huge & ~bad & keep], f"인구수 비현실적: 한 연령 {MAX_PEOPLE_PER_AGE:,}명 초과 "
                                            "(more people of one age than the whole country has)")
    keep &= ~bad & ~negative & ~huge
    report.fix(rows[dashed & keep], "인구수 '-' → 0 (a dash read as zero)")
    out = pd.concat([out, pd.DataFrame(numbers)], axis=1)
    out["population_total"] = total
    summed = out[AGE_COLUMNS].sum(axis=1)
    mismatch = keep & (summed != total)
    for idx in mismatch[mismatch].index:
        report.fix(int(rows[idx]), f"총인구수 {total[idx]:,.0f} ≠ 연령 합 {summed[idx]:,.0f} → 연령 합 사용")
    out["population_total"] = summed
    out["children_6_12"] = out[[f"age_{a}" for a in CHILD_AGES]].sum(axis=1)
    month = re.search(r"(\d{4})년\s*(\d{2})월", str(total_col))
    out["data_date"] = f"{month.group(1)}-{month.group(2)}" if month else None
    if sigungu or sido:
        in_area = match_area(out, sigungu=sigungu, sido=sido, source=source)
        wanted = keep & in_area & (out["level"] == "읍면동") if sigungu else keep & in_area
        for level, group in rows[keep & ~wanted].groupby(out.loc[keep & ~wanted, "level"]):
            report.exclude(group, f"{level} 행 ({'합계 행' if level != '읍면동' else '다른 지역'}, "
                                  f"not a 읍면동 of {sigungu or sido})")
        keep = wanted
    duplicated = keep & out["adm_code"].duplicated(keep="first")
    report.reject(rows[duplicated], "중복 행정기관코드 (duplicate code)")
    keep &= ~duplicated
    result = out[keep].set_index("adm_code")
    report.note(f"6–12세 아동 children 6–12: {result.loc[result['level'] == '읍면동', 'children_6_12'].sum():,.0f} "
                f"in {int((result['level'] == '읍면동').sum())} 읍면동")
    return ReadResult(result, report)


_BOUNDARY_COLUMNS = {"adm_code": ["adm_cd2", "ADM_CD", "adm_code", "행정기관코드", "ADM_DR_CD"]}
_BOUNDARY_OPTIONAL = {
    "full_name": ["adm_nm", "ADM_NM", "full_name"],
    "name": ["ADM_DR_NM", "name"],
    "sigungu": ["sggnm", "SGG_NM", "sigungu"],
    "sido": ["sidonm", "SIDO_NM", "sido"],
    "sigungu_code": ["sgg", "SGG_CD", "sigungu_code"],
}


@guarded("행정동 boundaries")
def read_admin_areas(path: str | Path, *, population: pd.DataFrame | str | Path | None = None,
                     sigungu: str | None = None, sido: str | None = None, crs=None,
                     layer: str | None = None) -> ReadResult:
    """Read 행정동 polygons (e.g. vuski/admdongkor GeoJSON) and join population by 10-digit code.

    Boundaries without a population row keep NaN population and are listed in
    the notes; population rows without a boundary are listed too (boundary and
    population releases can differ by a few 동 after a reorganisation).
    Features that are not polygons are rejected (a GeometryCollection keeps
    its polygons); ``layer`` chooses the layer of a multi-layer GeoPackage.
    """
    raw = read_raw_table(path, layer=layer)
    frame = raw.frame
    source = Path(path).name
    if not raw.is_spatial:
        msg = f"{source} has no geometry: 행정동 boundaries must be polygons (GeoJSON, GPKG, SHP)."
        raise UnreadableFileError(msg)
    cols = require_columns(frame, _BOUNDARY_COLUMNS, source=source)
    opt = optional_columns(frame, _BOUNDARY_OPTIONAL)
    report, rows = start_report(raw, source)
    out = pd.DataFrame(index=frame.index)
    out["adm_code"] = text(frame[cols["adm_code"]])
    for key in ("full_name", "name", "sigungu", "sido", "sigungu_code"):
        out[key] = text(frame[opt[key]]) if key in opt else None
    if out["name"].isna().all() and out["full_name"].notna().any():
        out["name"] = out["full_name"].str.split().str[-1]
    gdf = gpd.GeoDataFrame(out, geometry=frame.geometry.values, crs=frame.crs)
    keep = pd.Series(True, index=gdf.index)
    if sigungu or sido:
        in_area = match_area(gdf, sigungu=sigungu, sido=sido, source=source)
        report.exclude(rows[~in_area], f"다른 지역 (outside {' '.join(filter(None, [sido, sigungu]))})")
        keep &= in_area
    no_code = keep & gdf["adm_code"].isna()
    report.reject(rows[no_code], "행정기관코드 없음 (no code)")
    keep &= ~no_code
    if keep.any():
        geometry, keep = keep_polygons(gdf.geometry, rows, keep, report, source, "행정동 boundaries")
        gdf = gdf.set_geometry(geometry)
    gdf = _to_metric(gdf[keep], crs, source, report) if keep.any() else gdf[keep].set_crs(5179, allow_override=True)
    rows = rows[keep]
    inside = inside_korea(gdf.geometry)
    report.reject(rows[~inside], "한국 밖의 폴리곤 (polygon outside Korea: check the CRS)")
    gdf, rows = gdf[inside], rows[inside]
    geometry, repaired = clean_polygons(gdf.geometry)
    gdf = gdf.set_geometry(geometry)
    report.fix(rows[repaired], "유효하지 않은 폴리곤 → make_valid로 수리 (invalid polygon repaired)")
    sized = reject_too_large(gdf.geometry, rows, report)
    gdf, rows = gdf[sized], rows[sized]
    keep = ~gdf.geometry.is_empty
    report.reject(rows[~keep], "폴리곤 없음 (empty polygon)")
    duplicated = keep & gdf["adm_code"].duplicated(keep="first")
    report.reject(rows[duplicated], "중복 행정기관코드 (duplicate code)")
    keep &= ~duplicated
    areas = gdf[keep].set_index("adm_code")
    areas["level"] = "행정동"
    if population is not None:
        areas = _join_population(areas, population, report)
    return ReadResult(areas, report)


def _join_population(areas: gpd.GeoDataFrame, population, report: RowReport) -> gpd.GeoDataFrame:
    if not isinstance(population, pd.DataFrame):
        population = read_population(population).data
    dong = population[population["level"] == "읍면동"]
    columns = [*AGE_COLUMNS, "population_total", "children_6_12", "data_date"]
    joined = areas.join(dong[columns], how="left")
    missing = joined.index[joined["population_total"].isna()]
    if len(missing):
        report.note("인구 자료가 없는 행정동 (no population row): " + ", ".join(
            f"{joined.at[c, 'name']}({c})" for c in missing))
    sgg_codes = set(areas["sigungu_code"].dropna().astype(str).str[:5]) or set(areas.index.str[:5])
    orphans = dong[dong.index.str[:5].isin(sgg_codes) & ~dong.index.isin(areas.index)]
    if len(orphans):
        report.note("경계가 없는 인구 행 (population rows without a boundary): " + ", ".join(
            f"{n}({c})" for c, n in orphans["name"].items()))
    report.note(f"인구 결합 {joined['population_total'].notna().sum()}/{len(joined)} 행정동; "
                f"6–12세 {joined['children_6_12'].sum():,.0f}")
    return joined

"""Schools (전국초중등학교위치표준데이터) and pupils (학교알리미 학년별 학생수)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._common import (
    dedupe_ids,
    exclude_where,
    guarded,
    is_synthetic,
    locate_points,
    match_area,
    optional_columns,
    require_columns,
    row_numbers,
    split_address,
    start_report,
    text,
    to_points,
)
from ._parse import MAX_PUPILS_PER_GRADE, parse_counts
from ._report import ReadResult, RowReport
from ._table import read_raw_table

__all__ = ["attach_pupils", "read_schools", "read_students"]

GRADES = range(1, 7)

_SCHOOL_COLUMNS = {
    "school_id": ["학교ID", "schoolId", "SCHUL_ID"],
    "name": ["학교명", "schoolNm", "SCHUL_NM"],
    "level": ["학교급구분", "schoolSe", "SCHUL_KND_SC_NM"],
}
_SCHOOL_POINT = {"lat": ["위도", "latitude", "LAT"], "lon": ["경도", "longitude", "LON", "LNG"]}
_SCHOOL_OPTIONAL = {
    "foundation": ["설립형태", "fondType"],
    "branch": ["본교분교구분", "bnhhSe"],
    "status": ["운영상태", "operSttus"],
    "address_road": ["소재지도로명주소", "rdnmadr"],
    "address_lot": ["소재지지번주소", "lnmadr"],
    "data_date": ["데이터기준일자", "referenceDate"],
    "office": ["교육지원청명"],
}


@guarded("a school list (전국초중등학교위치표준데이터)")
def read_schools(path: str | Path, *, sigungu: str | None = None, sido: str | None = None,
                 level: str | None = "초등학교", include_closed: bool = False,
                 mapping: dict[str, str] | None = None, crs=None, layer: str | None = None) -> ReadResult:
    """Read a 전국초중등학교위치표준데이터 CSV (CP949 or UTF-8) or any table with the same fields.

    Parameters
    ----------
    sigungu, sido
        Keep one 시군구 (``"구로구"``, ``"김천시"``); other rows are counted as excluded.
    level
        학교급구분 to keep (``None`` keeps every level).
    include_closed
        Keep schools whose 운영상태 is not 운영 (폐교, 휴교).
    crs, layer
        The CRS of metre coordinates without one; the layer of a GeoPackage.

    A spatial file may give each school as a point instead of 위도/경도
    columns (another geometry is kept at its representative point, noted).
    """
    raw = read_raw_table(path, layer=layer)
    frame = raw.frame
    source = Path(path).name
    wanted = _SCHOOL_COLUMNS if raw.is_spatial else _SCHOOL_COLUMNS | _SCHOOL_POINT
    cols = require_columns(frame, wanted, source=source, mapping=mapping)
    cols |= optional_columns(frame, _SCHOOL_POINT, mapping)
    opt = optional_columns(frame, _SCHOOL_OPTIONAL, mapping)
    report, rows = start_report(raw, source)

    out = pd.DataFrame(index=frame.index)
    out["school_id"] = text(frame[cols["school_id"]])
    out["name"] = text(frame[cols["name"]])
    out["level"] = text(frame[cols["level"]])
    for key in ("foundation", "branch", "status", "data_date", "office"):
        out[key] = text(frame[opt[key]]) if key in opt else None
    road = text(frame[opt["address_road"]]) if "address_road" in opt else pd.Series(None, index=frame.index)
    lot = text(frame[opt["address_lot"]]) if "address_lot" in opt else pd.Series(None, index=frame.index)
    out["address"] = road.where(road.notna(), lot)
    out[["sido", "sigungu"]] = split_address(lot.where(lot.notna(), road))

    keep = pd.Series(True, index=frame.index)
    no_id = out["school_id"].isna() | out["name"].isna()
    report.reject(rows[no_id], "학교ID 또는 학교명 없음 (no school id or name)")
    keep &= ~no_id
    if level:
        keep = exclude_where(keep, out["level"] != level, rows, out["level"], report,
                             lambda v: f"학교급 {v} (not {level})")
    if not include_closed and "status" in opt:
        keep = exclude_where(keep, out["status"].fillna("운영") != "운영", rows, out["status"], report,
                             lambda v: f"운영상태 {v} (not operating)")
    in_area = match_area(out, sigungu=sigungu, sido=sido, source=source)
    area = " ".join(filter(None, [sido, sigungu]))
    keep = exclude_where(keep, ~in_area, rows, out["sigungu"], report,
                         lambda _: f"다른 지역 (outside {area})")

    x, y, keep = locate_points(raw, cols.get("lon"), cols.get("lat"), rows, keep, report, crs)
    keep = dedupe_ids(out["school_id"], rows, keep, report)
    out["source"] = "전국초중등학교위치표준데이터"
    out["synthetic"] = is_synthetic(frame)
    mask = keep.to_numpy()
    schools = to_points(out[keep], x[mask], y[mask]).set_index("school_id")
    return ReadResult(schools, report)


_STUDENT_COLUMNS = {
    "name": ["학교명", "SCHUL_NM"],
    **{f"g{g}": [f"{g}학년 학생수", f"COL_S{g}"] for g in GRADES},
    "total": ["학생수(계)", "COL_S_SUM"],
}
_STUDENT_OPTIONAL = {
    "alimi_code": ["정보공시 학교코드", "SCHUL_CODE"],
    "region": ["지역", "ADRCD_NM"],
    "special": ["특수학급 학생수"],
    "itinerant": ["순회학급 학생수"],
    "excluded": ["제외여부"],
    "excluded_why": ["제외사유"],
}


@guarded("a 학교알리미 pupil table")
def read_students(path: str | Path, *, mapping: dict[str, str] | None = None,
                  layer: str | None = None) -> ReadResult:
    """Read a 학교알리미 「학년별·학급별 학생수」 export (one row per school).

    Pupils in 특수학급 and 순회학급 have no grade: they go to ``pupils_special``,
    and ``pupils_total`` is 학생수(계) (= grades + special). A grade count that
    is blank or a dash (``-``, ``－``) is 0, noted as fixed; text or a negative
    count rejects the row. ``layer`` chooses the sheet of a workbook.
    """
    raw = read_raw_table(path, layer=layer)
    frame = raw.frame
    source = Path(path).name
    cols = require_columns(frame, _STUDENT_COLUMNS, source=source, mapping=mapping)
    opt = optional_columns(frame, _STUDENT_OPTIONAL, mapping)
    report, rows = start_report(raw, source)
    out = pd.DataFrame(index=frame.index)
    out["name"] = text(frame[cols["name"]])
    out["alimi_code"] = text(frame[opt["alimi_code"]]) if "alimi_code" in opt else None
    region = text(frame[opt["region"]]) if "region" in opt else pd.Series(None, index=frame.index)
    out[["sido", "sigungu"]] = split_address(region)
    bad = pd.Series(False, index=frame.index)
    zeroed = pd.Series(False, index=frame.index)
    for g in GRADES:
        numbers, unreadable, dash = parse_counts(frame[cols[f"g{g}"]])
        zeroed |= dash | (numbers.isna() & ~unreadable)
        out[f"pupils_g{g}"] = numbers.fillna(0.0)
        bad |= unreadable
    out["pupils_special"] = 0.0
    for key in ("special", "itinerant"):
        if key in opt:
            numbers, unreadable, _ = parse_counts(frame[opt[key]])
            out["pupils_special"] += numbers.fillna(0.0)
            bad |= unreadable
    total, unreadable, _ = parse_counts(frame[cols["total"]])
    bad |= unreadable
    grade_cols = [f"pupils_g{g}" for g in GRADES]
    negative = (out[grade_cols] < 0).any(axis=1) | (total < 0)
    huge = ~negative & (out[grade_cols + ["pupils_special"]] > MAX_PUPILS_PER_GRADE).any(axis=1)
    keep = ~bad & ~negative & ~huge & out["name"].notna()
    report.reject(rows[bad], "학생수가 숫자가 아님 (pupil counts are not numbers)")
    report.reject(rows[negative & ~bad], "음수 학생수 (negative pupil count)")
    report.reject(rows[huge & ~bad], f"학생수 비현실적: 한 학년 {MAX_PUPILS_PER_GRADE:,}명 초과 "
                                     "(more pupils in one grade than any school has; "
                                     "check the column or the number)")
    report.reject(rows[out["name"].isna() & ~bad & ~negative & ~huge], "학교명 없음 (no school name)")
    report.fix(rows[zeroed & keep], "빈 칸 또는 '-' 학생수 → 0 (blank or dash pupil count read as 0)")
    if "excluded" in opt:
        flagged = keep & (text(frame[opt["excluded"]]).fillna("N") == "Y")
        why = text(frame[opt["excluded_why"]]) if "excluded_why" in opt else pd.Series("", index=frame.index)
        for idx in flagged[flagged].index:
            report.exclude(int(rows[idx]), f"제외여부 Y ({why[idx] or '사유 없음'})")
        keep &= ~flagged
    counted = out[grade_cols].fillna(0).sum(axis=1) + out["pupils_special"]
    mismatch = keep & total.notna() & (counted != total)
    for idx in mismatch[mismatch].index:
        report.fix(int(rows[idx]), f"학생수(계) {total[idx]:g} ≠ 학년 합 {counted[idx]:g} → 학년 합 사용")
    out["pupils_total"] = counted
    out["synthetic"] = is_synthetic(frame)
    report.note(f"학생수 합계 pupils: {out.loc[keep, 'pupils_total'].sum():,.0f}")
    return ReadResult(out[keep].reset_index(drop=True), report)


def attach_pupils(schools, students: pd.DataFrame) -> ReadResult:
    """Join 학교알리미 counts to schools by name within the 시군구.

    The two code systems (학교ID ``B…``, 정보공시 ``S…``) do not map, so the join
    key is the school name without spaces, within the same 시군구. The report
    counts the student rows: matched rows are kept, unmatched ones rejected
    with the reason; schools without counts are listed in the notes (new,
    renamed or closed schools) and keep NaN pupils.
    """
    report = RowReport("학교알리미 ↔ 학교 목록 (join by 학교명)", rows_read=len(students))
    left = schools.copy()
    left["_key"] = _join_key(left["name"], left.get("sigungu"))
    right = students.copy()
    right["_key"] = _join_key(right["name"], right.get("sigungu"))
    rows = row_numbers(right)
    duplicated = right["_key"].duplicated(keep="first")
    report.reject(rows[duplicated], "같은 학교명이 두 번 (same school name twice)")
    right = right[~duplicated]
    # two listed schools with one name: the counts would be counted twice (once per school), so neither gets them
    shared = left["_key"][left["_key"].duplicated(keep=False)]
    ambiguous = right["_key"].isin(shared)
    for idx in right.index[ambiguous]:
        report.reject(int(rows[idx]), f"학교 목록에 같은 이름의 학교가 여럿: {right.at[idx, 'name']} (several listed "
                      "schools share this name, so the counts cannot be given to one; rename one in the school list)")
    right = right[~ambiguous]
    known = right["_key"].isin(left["_key"])
    for idx in right.index[~known]:
        report.reject(int(rows[idx]), f"학교 목록에 없음: {right.at[idx, 'name']} (not in the school list)")
    value_cols = [c for c in right.columns if c.startswith("pupils_")] + ["alimi_code"]
    joined = left.join(right[known].set_index("_key")[value_cols], on="_key")
    missing = joined.loc[joined["pupils_total"].isna(), "name"]
    if len(missing):
        report.note("학생수 없는 학교 (no pupil counts — new, renamed or closed?): " + ", ".join(missing))
    report.note(f"{int(known.sum())}/{len(left)} schools joined; pupils {joined['pupils_total'].sum():,.0f}")
    return ReadResult(joined.drop(columns="_key"), report)


def _join_key(names: pd.Series, sigungu: pd.Series | None) -> pd.Series:
    key = names.fillna("").str.replace(r"\s+", "", regex=True)
    if sigungu is None:
        return key
    return sigungu.fillna("").str.split().str[-1].fillna("") + "|" + key



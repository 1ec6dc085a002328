"""Care facilities and candidate sites, from the Seoul portal lists or any table.

One reader handles the known Korean formats (우리동네키움센터, 지역아동센터,
어린이집 표준데이터, merged 돌봄센터 lists, dadol.or.kr exports) and any other
CSV / XLSX / GeoJSON / GPKG / SHP / GeoParquet through a column mapping: the
columns are looked up by the names those files use, and a user mapping wins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import InputDataError
from ..catalog import CareKind, get_catalog
from ._common import (
    dedupe_ids,
    exclude_where,
    guarded,
    is_synthetic,
    locate_points,
    match_area,
    optional_columns,
    require_columns,
    split_address,
    start_report,
    text,
    to_points,
)
from ._parse import MAX_CAPACITY, clock_minutes, parse_hours_text, parse_numbers
from ._report import ReadResult
from ._table import read_raw_table

__all__ = ["FACILITY_COLUMNS", "kind_of", "read_candidates", "read_facilities"]

PERIODS = {"term": "term", "vacation": "vac", "saturday": "sat"}
#: Used when a file says Saturday = Y but gives no hours and the kind has no Saturday default [E].
SATURDAY_FALLBACK = (540.0, 780.0)
PYEONG_M2 = 400 / 121
OPEN_STATUS = {"정상", "운영", "운영중", "승인완료", "재개"}

FACILITY_COLUMNS = {
    "facility_id": ["시설ID", "어린이집코드", "center_id", "시설코드", "facility_id", "id"],
    "name": ["시설명", "어린이집명", "기관명", "센터명", "name", "FCLTY_NM", "crname", "facility"],
    "kind_text": ["서비스분류명", "서비스분류", "어린이집유형", "유형", "시설유형", "kind", "crtypename"],
    "sido": ["시도", "시도명", "macd_desc"],
    "sigungu": ["자치구명", "자치구", "시군구명", "시군구", "micd_desc", "ATDRC_NM"],
    "address": ["기본주소", "주소", "소재지도로명주소", "상세주소", "address1", "BASS_ADRES", "craddr", "address"],
    "lon": ["X좌표값", "경도", "Longitude", "lon", "lng", "x", "시설 경도(좌표값)", "lo", "X_CRDNT_VALUE"],
    "lat": ["Y좌표값", "위도", "Latitude", "lat", "y", "시설 위도(좌표값)", "la", "Y_CRDNT_VALUE"],
    "capacity": ["상시돌봄정원수", "정원", "capacity", "crcapat", "occupancy", "정원수"],
    "capacity_temp": ["일시돌봄정원수", "capacity_temp"],
    "enrolled": ["현원", "crchcnt", "enrolled"],
    "term_open": ["학기시작시간"], "term_close": ["학기종료시간"],
    "vac_open": ["방학시작시간"], "vac_close": ["방학종료시간"],
    "sat_flag": ["토요일운영여부", "SAT_OPER_AT"],
    "sat_open": ["토요일운영시작시간"], "sat_close": ["토요일운영종료시간"],
    "term_text": ["학기운영시간", "운영시간", "c_term", "businessHour", "학기중운영시간"],
    "vac_text": ["방학운영시간", "c_vaca", "방학중운영시간"],
    "sat_text": ["토요일운영시간"],
    "fee_month": ["월사용료", "월이용료", "사용료", "이용료", "RNTFEE", "fee_month"],
    "fee_free": ["월사용료무료여부", "사용료무료여부", "RNTFEE_FREE_AT"],
    "fee_day": ["일사용료", "fee_day"],
    "area_m2": ["전용면적(m2)", "전용면적(㎡)", "면적", "area", "area_m2"],
    "area_pyeong": ["전용면적(평)"],
    "status": ["운영현황", "status_desc", "운영상태", "status"],
    "age": ["연령구분"],
    "data_date": ["데이터기준일자", "updatedate"],
}

_KIND_WORDS = [  # first match wins: specific before general
    ("거점형", "kium_hub"), ("융합형", "kium_fusion"), ("키움", "kium_general"),
    ("지역아동센터", "local_child_center"), ("다함께", "dahamkke"), ("돌봄교실", "school_care"),
    ("늘봄", "school_care"), ("365", "daycare_365"), ("장난감", "toy_library"), ("119", "care_119"),
    ("아이돌봄", "home_visit"), ("어린이집", "daycare"),
]
_DAYCARE_TYPES = {"국공립", "민간", "가정", "직장", "사회복지법인", "법인·단체등", "협동", "법인단체등"}


def kind_of(kind_text: str | None, name: str | None) -> str | None:
    """The catalog kind named by a 유형 value or, failing that, by the facility name."""
    for value in (kind_text, name):
        if not isinstance(value, str) or not value:
            continue
        if value in _DAYCARE_TYPES:
            return "daycare"
        for word, kind in _KIND_WORDS:
            if word in value:
                return kind
    return None


@guarded("a care facility list")
def read_facilities(path: str | Path, *, kind: str | None = None, mapping: dict[str, str] | None = None,
                    sigungu: str | None = None, sido: str | None = None, catalog: dict | None = None,
                    include_closed: bool = False, crs=None, layer: str | None = None) -> ReadResult:
    """Read a facility list into the ``facilities`` layer.

    Parameters
    ----------
    kind
        Catalog kind for every row (e.g. ``"dahamkke"``); by default the kind
        comes from the file's 유형 column or the facility name.
    mapping
        ``{canonical: file column}`` for columns with other names, e.g.
        ``{"name": "기관명", "capacity": "아동정원"}``. Canonical names are the keys of
        :data:`FACILITY_COLUMNS`.
    sigungu, sido
        Keep one area; rows elsewhere are counted as excluded.
    layer
        The layer of a multi-layer GeoPackage (or the sheet of a workbook).

    In a spatial file each facility is a point; another geometry (a building
    polygon) is kept at its representative point, noted as fixed.
    """
    catalog = catalog or get_catalog()
    if kind is not None and kind not in catalog:
        msg = f"unknown kind {kind!r}; expected one of {sorted(catalog)}"
        raise InputDataError(msg)
    raw = read_raw_table(path, layer=layer)
    source = Path(path).name
    frame = raw.frame
    cols = optional_columns(frame, FACILITY_COLUMNS, mapping)
    need = {"name": FACILITY_COLUMNS["name"]}
    if not raw.is_spatial:
        need |= {"lon": FACILITY_COLUMNS["lon"], "lat": FACILITY_COLUMNS["lat"]}
    require_columns(frame, need, source=source, mapping=mapping)
    report, rows = start_report(raw, source)
    col = _getter(frame, cols)

    out = pd.DataFrame(index=frame.index)
    out["facility_id"] = col("facility_id")
    generated = out["facility_id"].isna()
    out.loc[generated, "facility_id"] = [f"{Path(path).stem}-{r:05d}" for r in rows[generated]]
    if generated.all():
        report.note(f"ID 열 없음 → 행 번호로 ID 생성 ({Path(path).stem}-00001 …)")
    out["name"] = col("name")
    kind_text = col("kind_text")
    out["kind"] = kind if kind else [kind_of(k, n) for k, n in zip(kind_text, out["name"], strict=True)]
    if kind is None and "어린이집" in str(cols.get("name", "")):
        out["kind"] = out["kind"].fillna("daycare")  # 어린이집 lists: every 유형 (국공립, 민간 …) is a daycare
    addr = col("address")
    out["address"] = addr
    parts = split_address(addr)
    out["sido"] = col("sido").fillna(parts["sido"])
    out["sigungu"] = col("sigungu").fillna(parts["sigungu"])
    out["status"] = col("status").fillna("정상")

    keep = pd.Series(True, index=frame.index)
    no_name = out["name"].isna()
    report.reject(rows[no_name], "시설명 없음 (no facility name)")
    keep &= ~no_name
    keep = exclude_where(keep, out["kind"].isna(), rows, kind_text.fillna(col("age")), report,
                         lambda v: f"돌봄 유형을 알 수 없음: {v} (kind not in the catalog; pass kind=…)")
    if not include_closed:
        keep = exclude_where(keep, ~out["status"].isin(OPEN_STATUS), rows, out["status"], report,
                             lambda v: f"운영현황 {v} (not operating)")
    if sigungu or sido:
        in_area = match_area(out, sigungu=sigungu, sido=sido, source=source)
        area = " ".join(filter(None, [sido, sigungu]))
        keep = exclude_where(keep, ~in_area, rows, out["sigungu"], report, lambda _: f"다른 지역 (outside {area})")

    x, y, keep = locate_points(raw, cols.get("lon"), cols.get("lat"), rows, keep, report, crs)
    keep = dedupe_ids(out["facility_id"], rows, keep, report)
    out = out[keep]
    kinds = [catalog[k] for k in out["kind"]]
    _capacities(out, frame[keep], cols, kinds, rows[keep], report)
    _hours(out, frame[keep], cols, kinds, rows[keep], report)
    _fees_and_area(out, frame[keep], cols, kinds)
    out["min_grade"] = [float(k.min_grade) if k.min_grade else np.nan for k in kinds]
    out["max_grade"] = [float(k.max_grade) if k.max_grade else np.nan for k in kinds]
    out["source"] = source
    out["data_date"] = col("data_date")[keep].str[:10]
    out["synthetic"] = is_synthetic(frame)
    facilities = to_points(out, x[keep.to_numpy()], y[keep.to_numpy()]).set_index("facility_id")
    counts = facilities["kind"].value_counts()
    report.note("유형별 kept by kind: " + ", ".join(f"{catalog[k].label_ko} {n}" for k, n in counts.items()))
    return ReadResult(facilities, report)


def _getter(frame: pd.DataFrame, cols: dict[str, str]):
    def col(key: str) -> pd.Series:
        return text(frame[cols[key]]) if key in cols else pd.Series(None, index=frame.index, dtype=object)
    return col


def _capacities(out, frame, cols, kinds: list[CareKind], rows, report) -> None:
    col = _getter(frame, cols)
    default = pd.Series([k.capacity_regular for k in kinds], index=out.index, dtype=float)
    default_temp = pd.Series([k.capacity_temporary for k in kinds], index=out.index, dtype=float)
    for key, fallback in (("capacity", default), ("capacity_temp", default_temp)):
        values, bad = parse_numbers(col(key))
        negative = values < 0
        for idx in out.index[negative | bad]:
            shown = col(key)[idx]
            report.fix(int(rows[idx]), f"{key} {shown!r} 사용 불가 → 유형 기본값 {fallback[idx]:g} (unusable, default)")
        huge = values > MAX_CAPACITY
        for idx in out.index[huge]:
            report.fix(int(rows[idx]), f"{key} {values[idx]:,.0f} 비현실적 (more than {MAX_CAPACITY:,} places) → "
                                       f"유형 기본값 {fallback[idx]:g}")
        values = values.where(~(negative | bad | huge))
        if key == "capacity":
            out["capacity_source"] = np.where(values.isna(), "catalog", "data")
        out[key] = values.fillna(fallback)
    out["enrolled"] = parse_numbers(col("enrolled"))[0]


def _hours(out, frame, cols, kinds: list[CareKind], rows, report) -> None:
    col = _getter(frame, cols)
    sources = pd.DataFrame(index=out.index)
    texts = {period: col(f"{PERIODS[period]}_text") for period in PERIODS}
    parsed_text = {period: {} for period in PERIODS}
    for period, values in texts.items():
        for idx, value in values.dropna().items():
            try:
                spans = parse_hours_text(value)
            except ValueError:
                report.fix(int(rows[idx]), f"운영시간 해석 불가 {value!r} → 유형 기본값 (unparseable hours, default)")
                continue
            for found_period, (o, c) in spans.items():
                # a single unlabelled span in a 방학 column belongs to the vacation
                target = period if found_period == "term" else found_period
                span = _checked_span(o, c, f"{_hhmm(o)}–{_hhmm(c)}", rows[idx], report)
                if not np.isnan(span[0]):
                    parsed_text[target].setdefault(idx, span)
    sat_flag = col("sat_flag").str.upper()
    for period, prefix in PERIODS.items():
        opening = pd.Series(np.nan, index=out.index)
        closing = pd.Series(np.nan, index=out.index)
        for idx in out.index:
            o, c = _clock_pair(col(f"{prefix}_open")[idx], col(f"{prefix}_close")[idx], rows[idx], report)
            if np.isnan(o) and idx in parsed_text[period]:
                o, c = parsed_text[period][idx]
            opening[idx], closing[idx] = o, c
        from_data = opening.notna() & closing.notna()
        default = [getattr(k, f"{'vacation' if period == 'vacation' else period}_hours") for k in kinds]
        if period == "saturday":
            closed = sat_flag == "N"
            says_open = (sat_flag == "Y") & ~from_data
            default = [d if d else SATURDAY_FALLBACK for d in default]
            default = [d if (says_open[i] or sat_flag[i] is None) else None
                       for i, d in zip(out.index, default, strict=True)]
            opening[closed], closing[closed] = np.nan, np.nan
            from_data |= closed
        fill = ~from_data
        opening[fill] = [d[0] if d else np.nan for d, f in zip(default, fill, strict=True) if f]
        closing[fill] = [d[1] if d else np.nan for d, f in zip(default, fill, strict=True) if f]
        out[f"{prefix}_open"], out[f"{prefix}_close"] = opening, closing
        sources[period] = np.where(from_data, "data", "catalog")
    if (sources["term"] == "catalog").any():  # the default slot is 학기: say whose hours are assumed
        report.note(f"학기 운영시간 없음 → 유형 기본값 (no term hours, the kind's default assumed): "
                    f"{int((sources['term'] == 'catalog').sum()):,}곳")
    any_data = (sources == "data").any(axis=1)
    all_data = (sources == "data").all(axis=1)
    out["hours_source"] = np.where(all_data, "data", np.where(any_data, "data+catalog", "catalog"))


def _clock_pair(open_text, close_text, row, report) -> tuple[float, float]:
    """Opening and closing minutes from two clock columns; fixes what is recoverable."""
    try:
        opening, closing = clock_minutes(open_text), clock_minutes(close_text)
    except ValueError:
        report.fix(int(row), f"운영시간 해석 불가 {open_text!r}–{close_text!r} → 유형 기본값 (unparseable hours)")
        return np.nan, np.nan
    if np.isnan(opening) or np.isnan(closing):
        return np.nan, np.nan
    return _checked_span(opening, closing, f"{open_text}–{close_text}", row, report)


def _checked_span(opening: float, closing: float, shown: str, row, report) -> tuple[float, float]:
    """A span that closes after it opens, the same day; a 12-hour slip is fixed, anything else refused."""
    if closing <= opening and closing < 720 and closing + 720 > opening:
        # "0730" as a closing time after a morning opening means 19:30 (12-hour slip)
        report.fix(int(row), f"종료시간 < 시작시간 ({shown}) → 오후로 해석 {_hhmm(closing + 720)}")
        closing += 720
    elif closing <= opening:
        report.fix(int(row), f"종료시간이 시작시간보다 이름 ({shown}) → 유형 기본값 (closes before it opens)")
        return np.nan, np.nan
    return opening, closing


def _hhmm(minutes: float) -> str:
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"


def _fees_and_area(out, frame, cols, kinds: list[CareKind]) -> None:
    col = _getter(frame, cols)
    fee, _ = parse_numbers(col("fee_month"))
    free = col("fee_free").str.upper() == "Y"
    fee = fee.where(~free, 0.0)
    out["fee_source"] = np.where(fee.notna(), "data", "catalog")
    out["fee_month"] = fee.fillna(pd.Series([k.fee_month_krw for k in kinds], index=out.index, dtype=float))
    out["fee_day"] = parse_numbers(col("fee_day"))[0]
    area, _ = parse_numbers(col("area_m2"))
    pyeong, _ = parse_numbers(col("area_pyeong"))
    out["area_m2"] = area.fillna(pyeong * PYEONG_M2)


_CANDIDATE_COLUMNS = {
    "site_id": ["후보지ID", "site_id", "id"],
    "name": ["후보지명", "시설명", "name", "명칭"],
    "site_type": ["유형", "site_type", "구분"],
    "area_m2": ["전용면적(㎡)", "전용면적(m2)", "면적", "area_m2"],
    "floor": ["층", "floor"],
    "cost": ["비용", "cost", "예산"],
    "allowed_kinds": ["허용유형", "allowed_kinds"],
    "lon": FACILITY_COLUMNS["lon"],
    "lat": FACILITY_COLUMNS["lat"],
}


@guarded("a candidate-site list")
def read_candidates(path: str | Path, *, mapping: dict[str, str] | None = None, crs=None,
                    layer: str | None = None) -> ReadResult:
    """Read candidate sites (주민센터, 작은도서관, 경로당, 공공시설 …) into ``candidate_sites``.

    As for facilities, a non-point geometry is kept at its representative point (fixed).
    """
    raw = read_raw_table(path, layer=layer)
    frame = raw.frame
    source = Path(path).name
    cols = optional_columns(frame, _CANDIDATE_COLUMNS, mapping)
    need = {"name": _CANDIDATE_COLUMNS["name"]}
    if not raw.is_spatial:
        need |= {"lon": _CANDIDATE_COLUMNS["lon"], "lat": _CANDIDATE_COLUMNS["lat"]}
    require_columns(frame, need, source=source, mapping=mapping)
    report, rows = start_report(raw, source)
    col = _getter(frame, cols)
    out = pd.DataFrame(index=frame.index)
    out["site_id"] = col("site_id")
    generated = out["site_id"].isna()
    out.loc[generated, "site_id"] = [f"C{r:05d}" for r in rows[generated]]
    out["name"] = col("name")
    out["site_type"] = col("site_type")
    for key in ("area_m2", "floor", "cost"):
        values, bad = parse_numbers(col(key))
        for idx in out.index[bad]:
            report.fix(int(rows[idx]), f"{key} {col(key)[idx]!r} 숫자 아님 → 비워 둠 (not a number, left blank)")
        out[key] = values
    out["allowed_kinds"] = col("allowed_kinds")
    keep = out["name"].notna()
    report.reject(rows[~keep], "후보지명 없음 (no name)")
    x, y, keep = locate_points(raw, cols.get("lon"), cols.get("lat"), rows, keep, report, crs)
    keep = dedupe_ids(out["site_id"], rows, keep, report)
    sites = to_points(out[keep], x[keep.to_numpy()], y[keep.to_numpy()]).set_index("site_id")
    sites["synthetic"] = is_synthetic(frame)
    return ReadResult(sites, report)



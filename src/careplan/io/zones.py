"""School zones (학구도): the GeoJSON/SHP releases and the per-school raw JSON encoding."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon

from .._errors import EmptyInputError, UnreadableFileError
from ._common import (
    METRIC_CRS,
    find_column,
    optional_columns,
    require_columns,
    start_report,
    text,
)
from ._parse import KOREA_LAT, KOREA_LON
from ._report import ReadResult, RowReport
from ._table import read_raw_table

__all__ = ["clean_polygons", "decode_rings", "read_school_zones", "zone_school_links"]

_ZONE_COLUMNS = {"zone_id": ["HAKGUDO_ID", "학구ID", "zone_id"]}
_ZONE_OPTIONAL = {
    "name": ["HAKGUDO_NM", "학구명", "name"],
    "shared": ["shared", "공동통학구역"],
    "gb": ["HAKGUDO_GB", "학구구분"],
    "school_ids": ["school_ids", "학교ID"],
    "sigungu": ["SGG_NM", "sigungu"],
}


def read_school_zones(path: str | Path, *, links: str | Path | pd.DataFrame | None = None,
                      crs=None) -> ReadResult:
    """Read 초등학교 통학구역 polygons with their school ↔ zone link.

    ``path`` may be a GeoJSON/GPKG/SHP/GeoParquet with ``HAKGUDO_ID`` (and
    ``school_ids`` or a ``links`` table 학구ID–학교ID, the 학교학구도연계정보 CSV),
    a folder of raw per-school JSON files (``B….json``), or one such file.
    A zone listed by several schools (공동통학구역) becomes one zone with all of
    their ids. Invalid polygons are repaired and reported.
    """
    path = Path(path)
    if path.is_dir() or (path.suffix.lower() == ".json" and _is_raw_zone_file(path)):
        return _read_raw_zones(path)
    raw = read_raw_table(path)
    frame = raw.frame
    if not raw.is_spatial:
        msg = f"{path.name} has no geometry: school zones must be polygons (GeoJSON, GPKG, SHP)."
        raise UnreadableFileError(msg)
    source = path.name
    cols = require_columns(frame, _ZONE_COLUMNS, source=source)
    opt = optional_columns(frame, _ZONE_OPTIONAL)
    report, rows = start_report(raw, source)
    zones = pd.DataFrame(index=frame.index)
    zones["zone_id"] = text(frame[cols["zone_id"]])
    zones["name"] = text(frame[opt["name"]]) if "name" in opt else None
    if "school_ids" in opt:
        zones["school_ids"] = frame[opt["school_ids"]].map(_id_list)
    else:
        zones["school_ids"] = _ids_from_links(zones["zone_id"], links, source)
    if "shared" in opt:
        zones["shared"] = frame[opt["shared"]].map(_truthy)
    elif "gb" in opt:
        zones["shared"] = text(frame[opt["gb"]]).fillna("0") != "0"
    else:
        zones["shared"] = zones["school_ids"].str.count(",") > 0
    zones["sigungu"] = text(frame[opt["sigungu"]]) if "sigungu" in opt else None
    gdf = gpd.GeoDataFrame(zones, geometry=frame.geometry.values, crs=frame.crs)
    gdf = _to_metric(gdf, crs, source, report)
    return ReadResult(_finish(gdf, rows, report), report)


def decode_rings(rings: list[list[int]]) -> MultiPolygon:
    """Decode the raw 학구 ring encoding into a lon/lat MultiPolygon.

    Each ring is ``[x0, y0, dx1, dy1, …]`` in degrees × 1e6: the first pair is
    absolute and the rest are deltas accumulated from it. Each ring is one
    part (the releases store parts, not holes).
    """
    parts = []
    for ring in rings:
        values = np.asarray(ring, dtype=np.int64)
        if values.size < 8 or values.size % 2:
            msg = f"a ring needs an even number of at least 8 integers, got {values.size}"
            raise ValueError(msg)
        xy = np.cumsum(values.reshape(-1, 2), axis=0) / 1e6
        parts.append(Polygon(xy))
    return MultiPolygon(parts)


def zone_school_links(zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """Long link table: one row per (zone_id, school_id)."""
    ids = zones["school_ids"].fillna("").str.split(",")
    long = ids.explode().str.strip()
    long = long[long.notna() & (long != "")]
    return pd.DataFrame({"zone_id": long.index.astype(str), "school_id": long.to_numpy()}).reset_index(drop=True)


def clean_polygons(geometry: gpd.GeoSeries) -> tuple[gpd.GeoSeries, pd.Series]:
    """Repair invalid polygons (``make_valid``, polygon parts only) -> (MultiPolygons, repaired mask)."""
    invalid = ~geometry.is_valid
    fixed = geometry.copy()
    if invalid.any():
        repaired = shapely.make_valid(geometry[invalid].to_numpy())
        fixed[invalid] = [_polygon_parts(g) for g in repaired]
    fixed = gpd.GeoSeries([_as_multi(g) for g in fixed], index=geometry.index, crs=geometry.crs)
    return fixed, invalid


def _read_raw_zones(path: Path) -> ReadResult:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        msg = f"{path} has no raw 학구 JSON files (B….json)."
        raise EmptyInputError(msg)
    records = []
    for file in files:
        try:
            doc = json.loads(file.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            msg = f"{file.name} is not a raw 학구 JSON file ({exc})."
            raise UnreadableFileError(msg) from exc
        for zone in doc.get("zones", []):
            records.append((file.stem, zone))
    source = path.name
    report = RowReport(f"{source} (raw 학구 JSON, {len(files)} files)", rows_read=len(records))
    report.note("원자료 좌표: 정수 = 도 × 1e6, 첫 쌍 절대값 + 누적 증분 (raw integers: degrees × 1e6, deltas)")
    seen: dict[str, dict] = {}
    for row, (school_id, zone) in enumerate(records, start=1):
        zone_id = str(zone.get("id", "")).strip()
        if not zone_id:
            report.reject(row, "학구ID 없음 (zone without id)")
            continue
        if zone_id in seen:
            seen[zone_id]["schools"].append(school_id)
            report.exclude(row, f"같은 학구가 {school_id} 파일에도 있음 → 병합 (shared zone listed twice, merged)")
            continue
        try:
            geometry = decode_rings(zone.get("rings", []))
        except ValueError as exc:
            report.reject(row, f"링 해독 실패 (cannot decode rings: {exc})")
            continue
        seen[zone_id] = {"row": row, "zone_id": zone_id, "name": zone.get("name"),
                         "shared": bool(zone.get("shared")), "schools": [school_id], "geometry": geometry}
    items = list(seen.values())
    gdf = gpd.GeoDataFrame(
        {"zone_id": [z["zone_id"] for z in items], "name": [z["name"] for z in items],
         "shared": [z["shared"] or len(z["schools"]) > 1 for z in items],
         "school_ids": [",".join(dict.fromkeys(z["schools"])) for z in items], "sigungu": None},
        geometry=[z["geometry"] for z in items], crs="EPSG:4326")
    rows = pd.Series([z["row"] for z in items], index=gdf.index)
    gdf = _to_metric(gdf, 4326, source, report)
    return ReadResult(_finish(gdf, rows, report), report)


def _finish(gdf: gpd.GeoDataFrame, rows: pd.Series, report: RowReport) -> gpd.GeoDataFrame:
    keep = gdf["zone_id"].notna()
    report.reject(rows[~keep], "학구ID 없음 (zone without id)")
    geometry, repaired = clean_polygons(gdf.geometry)
    gdf = gdf.set_geometry(geometry)
    report.fix(rows[repaired & keep], "유효하지 않은 폴리곤 → make_valid로 수리 (invalid polygon repaired)")
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    report.reject(rows[empty & keep], "폴리곤 없음 (empty or missing polygon)")
    keep &= ~empty
    duplicated = keep & gdf["zone_id"].duplicated(keep="first")
    report.reject(rows[duplicated], "중복 학구ID (duplicate zone id)")
    keep &= ~duplicated
    gdf["synthetic"] = gdf["name"].fillna("").str.contains("가상")
    return gdf[keep].set_index("zone_id")


def _to_metric(gdf: gpd.GeoDataFrame, crs, source: str, report: RowReport) -> gpd.GeoDataFrame:
    if crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        minx, miny, maxx, maxy = gdf.total_bounds
        if KOREA_LON[0] <= minx and maxx <= KOREA_LON[1] and KOREA_LAT[0] <= miny and maxy <= KOREA_LAT[1]:
            gdf = gdf.set_crs(4326)
            report.note("CRS 없음, 경위도 범위 → EPSG:4326으로 판단 (no CRS; degree values)")
        else:
            from .._errors import CRSError

            msg = (f"{source} has no CRS (.prj missing) and its coordinates are metres "
                   f"(x≈{minx:,.0f}…{maxx:,.0f}). The 학구도 SHP release is EPSG:5186: pass crs=5186.")
            raise CRSError(msg)
    report.note(f"좌표계 {gdf.crs.to_string()} → {METRIC_CRS}")
    return gdf.to_crs(METRIC_CRS)


def _ids_from_links(zone_ids: pd.Series, links, source: str) -> pd.Series:
    if links is None:
        msg = (f"{source} has no school_ids column: give the 학교학구도연계정보 table (links=…) "
               "that lists 학구ID and 학교ID.")
        raise UnreadableFileError(msg)
    table = links if isinstance(links, pd.DataFrame) else read_raw_table(links).frame
    zone_col = find_column(table, ["학구ID", "HAKGUDO_ID", "zone_id"])
    school_col = find_column(table, ["학교ID", "school_id"])
    if zone_col is None or school_col is None:
        msg = f"the link table needs 학구ID and 학교ID columns; it has {list(table.columns)}"
        raise UnreadableFileError(msg)
    grouped = table.groupby(text(table[zone_col]))[school_col].agg(lambda s: ",".join(dict.fromkeys(s)))
    return zone_ids.map(grouped)


def _id_list(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, list | tuple | np.ndarray):
        items = [str(v).strip() for v in value]
    else:
        items = [v.strip() for v in str(value).strip("[]").replace('"', "").replace("'", "").split(",")]
    return ",".join(i for i in items if i) or None


def _truthy(value) -> bool:
    return str(value).strip().lower() in {"true", "1", "y", "yes", "t"}


def _is_raw_zone_file(path: Path) -> bool:
    head = path.read_bytes()[:200]
    return b'"zones"' in head


def _polygon_parts(geometry):
    if geometry.geom_type in {"Polygon", "MultiPolygon"}:
        return geometry
    polys = [g for g in getattr(geometry, "geoms", []) if g.geom_type in {"Polygon", "MultiPolygon"}]
    return shapely.unary_union(polys) if polys else Polygon()


def _as_multi(geometry):
    if geometry is None or geometry.is_empty:
        return geometry
    if geometry.geom_type == "Polygon":
        return MultiPolygon([geometry])
    return geometry

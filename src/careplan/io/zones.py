"""School zones (학구도): the GeoJSON/SHP releases and the per-school raw JSON encoding."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon

from .._errors import CRSError, EmptyInputError, InputDataError, UnreadableFileError
from ._common import (
    METRIC_CRS,
    find_column,
    finite_geometry,
    guarded,
    optional_columns,
    require_columns,
    start_report,
    text,
)
from ._parse import KOREA_LAT, KOREA_LON
from ._report import ReadResult, RowReport
from ._sniff import LIMITS_MIB, MIB, head_bytes, one_line, stat_file
from ._table import read_raw_table

__all__ = ["clean_polygons", "decode_rings", "inside_korea", "is_raw_zone_folder", "keep_polygons",
           "read_school_zones", "zone_school_links"]

_ZONE_COLUMNS = {"zone_id": ["HAKGUDO_ID", "학구ID", "zone_id"]}
_ZONE_OPTIONAL = {
    "name": ["HAKGUDO_NM", "학구명", "name"],
    "shared": ["shared", "공동통학구역"],
    "gb": ["HAKGUDO_GB", "학구구분"],
    "school_ids": ["school_ids", "학교ID"],
    "sigungu": ["SGG_NM", "sigungu"],
}


@guarded("school zones (학구도)")
def read_school_zones(path: str | Path, *, links: str | Path | pd.DataFrame | None = None,
                      crs=None, layer: str | None = None) -> ReadResult:
    """Read 초등학교 통학구역 polygons with their school ↔ zone link.

    ``path`` may be a GeoJSON/GPKG/SHP/GeoParquet with ``HAKGUDO_ID`` (and
    ``school_ids`` or a ``links`` table 학구ID–학교ID, the 학교학구도연계정보 CSV),
    a folder of raw per-school JSON files (``B….json``), or one such file.
    A zone listed by several schools (공동통학구역) becomes one zone with all of
    their ids. Invalid polygons are repaired and reported; features that are
    not polygons are rejected (a GeometryCollection keeps its polygons).
    ``layer`` chooses the layer of a multi-layer GeoPackage.
    """
    path = Path(path)
    raw_json = path.is_dir() or (path.suffix.lower() == ".json" and _is_raw_zone_file(path))
    if raw_json:
        if path.is_dir() and not is_raw_zone_folder(path):
            msg = (f"{path} is a folder without raw 학구 JSON files (B….json holding a \"zones\" list); give the "
                   "school-zone file itself (GeoJSON, GPKG, SHP) or the folder of raw per-school JSON files.")
            raise UnreadableFileError(msg)
        if layer is not None:
            msg = f"{path.name} is raw 학구 JSON, which has no layers; remove the layer choice ({layer!r})."
            raise UnreadableFileError(msg)
        return _read_raw_zones(path)
    raw = read_raw_table(path, layer=layer)
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
    return ReadResult(_finish(gdf, rows, report, source, crs), report)


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


def is_raw_zone_folder(path: Path) -> bool:
    """A folder holding at least one raw 학구 JSON file (``{"zones": …}``)."""
    return any(_is_raw_zone_file(f) for f in sorted(path.glob("*.json"))[:50] if f.is_file())


def _read_raw_zones(path: Path) -> ReadResult:
    files = sorted(f for f in path.glob("*.json") if f.is_file()) if path.is_dir() else [path]
    if not files:
        msg = f"{path} has no raw 학구 JSON files (B….json)."
        raise EmptyInputError(msg)
    records, skipped = [], []
    for file in files:
        doc = _load_raw_zone_file(file)
        zones = doc.get("zones") if isinstance(doc, dict) else None
        if not isinstance(zones, list):
            skipped.append(file.name)
            continue
        records += [(file.stem, zone) for zone in zones]
    source = path.name
    report = RowReport(f"{source} (raw 학구 JSON, {len(files) - len(skipped)} files)", rows_read=len(records))
    if skipped:
        report.note(f"학구 JSON이 아닌 파일 건너뜀 (not raw 학구 JSON, skipped): {one_line(', '.join(skipped), 200)}")
    if not records:
        msg = f"{path.name} holds no zones: no file has a non-empty \"zones\" list of raw 학구 JSON."
        raise EmptyInputError(msg)
    report.note("원자료 좌표: 정수 = 도 × 1e6, 첫 쌍 절대값 + 누적 증분 (raw integers: degrees × 1e6, deltas)")
    seen: dict[str, dict] = {}
    for row, (school_id, zone) in enumerate(records, start=1):
        if not isinstance(zone, dict):
            report.reject(row, "학구 항목이 객체가 아님 (a zone entry is not a JSON object)")
            continue
        zone_id = "" if zone.get("id") is None else str(zone.get("id")).strip()
        if not zone_id:
            report.reject(row, "학구ID 없음 (zone without id)")
            continue
        if zone_id in seen:
            seen[zone_id]["schools"].append(school_id)
            report.exclude(row, f"같은 학구가 {school_id} 파일에도 있음 → 병합 (shared zone listed twice, merged)")
            continue
        try:
            geometry = decode_rings(zone.get("rings", []))
        except (ValueError, TypeError, OverflowError) as exc:
            report.reject(row, f"링 해독 실패 (cannot decode rings: {one_line(exc, 80)})")
            continue
        name = zone.get("name")
        seen[zone_id] = {"row": row, "zone_id": zone_id, "name": None if name is None else str(name),
                         "shared": _truthy(zone.get("shared")), "schools": [school_id], "geometry": geometry}
    items = list(seen.values())
    gdf = gpd.GeoDataFrame(
        {"zone_id": [z["zone_id"] for z in items], "name": [z["name"] for z in items],
         "shared": [z["shared"] or len(z["schools"]) > 1 for z in items],
         "school_ids": [",".join(dict.fromkeys(z["schools"])) for z in items], "sigungu": None},
        geometry=gpd.GeoSeries([z["geometry"] for z in items], dtype="geometry"), crs="EPSG:4326")
    rows = pd.Series([z["row"] for z in items], index=gdf.index, dtype=int)
    return ReadResult(_finish(gdf, rows, report, source, 4326), report)


def _load_raw_zone_file(file: Path):
    size = stat_file(file)
    if size > LIMITS_MIB["raw zone JSON"] * MIB:
        msg = (f"{file.name} is {size / MIB:,.0f} MB, larger than the {LIMITS_MIB['raw zone JSON']} MB a raw 학구 "
               "JSON file can be (one school's zones are a few KB); it is not a raw 학구 file.")
        raise UnreadableFileError(msg)
    try:
        return json.loads(file.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        msg = (f"{file.name} is not a raw 학구 JSON file ({one_line(exc, 120)}); a raw file is UTF-8 JSON like "
               "{\"zones\": [{\"id\": …, \"rings\": …}]}.")
        raise UnreadableFileError(msg) from None


def _finish(gdf: gpd.GeoDataFrame, rows: pd.Series, report: RowReport, source: str, crs) -> gpd.GeoDataFrame:
    keep = gdf["zone_id"].notna()
    report.reject(rows[~keep], "학구ID 없음 (zone without id)")
    if not keep.any():
        return gdf[keep].set_crs(METRIC_CRS, allow_override=True).set_index("zone_id")
    geometry, keep = keep_polygons(gdf.geometry, rows, keep, report, source, "school zones (학구)")
    gdf = _to_metric(gdf.set_geometry(geometry)[keep], crs, source, report)
    rows = rows[keep]
    inside = inside_korea(gdf.geometry)
    report.reject(rows[~inside], "한국 밖의 폴리곤 (polygon outside Korea: check the CRS)")
    gdf, rows = gdf[inside], rows[inside]
    geometry, repaired = clean_polygons(gdf.geometry)
    gdf = gdf.set_geometry(geometry)
    report.fix(rows[repaired], "유효하지 않은 폴리곤 → make_valid로 수리 (invalid polygon repaired)")
    sized = reject_too_large(gdf.geometry, rows, report)
    gdf, rows = gdf[sized], rows[sized]
    empty = gdf.geometry.is_empty | gdf.geometry.isna()
    report.reject(rows[empty], "폴리곤 없음 (empty or missing polygon)")
    keep = ~empty
    duplicated = keep & gdf["zone_id"].duplicated(keep="first")
    report.reject(rows[duplicated], "중복 학구ID (duplicate zone id)")
    keep &= ~duplicated
    gdf["synthetic"] = gdf["name"].fillna("").astype(str).str.contains("가상")
    return gdf[keep].set_index("zone_id")


#: Larger than any 시군구 (홍천군, 1,820 km²): a 학구 or 행정동 this big is a wrong geometry (a country-wide
#: box, swapped coordinates), and its demand grid would be tens of millions of cells.
MAX_POLYGON_KM2 = 2_000.0


def reject_too_large(geometry: gpd.GeoSeries, rows: pd.Series, report: RowReport) -> pd.Series:
    """Reject (in ``report``) metric polygons larger than any 시군구; returns the mask of those kept."""
    area_km2 = geometry.area / 1e6
    large = area_km2 > MAX_POLYGON_KM2
    for idx in large[large].index:
        report.reject(int(rows[idx]), f"폴리곤이 너무 큼: {area_km2[idx]:,.0f} km² (larger than any 시군구, "
                                      f"{MAX_POLYGON_KM2:,.0f} km²; check the geometry)")
    return ~large


def inside_korea(geometry: gpd.GeoSeries) -> pd.Series:
    """Metric (EPSG:5179) geometries with finite coordinates whose representative point lies in Korea."""
    finite = finite_geometry(geometry)
    points = geometry.where(finite, None).representative_point().to_crs(4326)
    inside = points.x.between(*KOREA_LON).to_numpy() & points.y.between(*KOREA_LAT).to_numpy()
    return pd.Series(finite & inside, index=geometry.index)


def keep_polygons(geometry: gpd.GeoSeries, rows: pd.Series, keep: pd.Series, report: RowReport, source: str,
                  what: str) -> tuple[gpd.GeoSeries, pd.Series]:
    """Reject rows of ``keep`` whose geometry is missing or not polygonal; a GeometryCollection keeps its
    polygons (fixed). Refuse the file when no polygon is left: points are not zones."""
    geometry = geometry.copy()
    kinds = pd.Series(geometry.geom_type, index=geometry.index).fillna("없음").astype(str)
    missing = keep & (geometry.isna() | geometry.is_empty).to_numpy()
    report.reject(rows[missing], "도형 없음 (no geometry)")
    keep = keep & ~missing
    infinite = keep & ~finite_geometry(geometry)
    report.reject(rows[infinite], "좌표가 유한하지 않음 (NaN or infinite coordinates)")
    keep = keep & ~infinite
    geometry[~keep] = None  # nothing below may touch a rejected geometry
    collection = keep & (kinds == "GeometryCollection")
    for idx in collection[collection].index:
        geometry[idx] = _polygon_parts(geometry[idx])
    salvaged = collection & ~geometry.is_empty.to_numpy()
    report.fix(rows[salvaged], "GeometryCollection → 폴리곤 부분만 사용 (kept its polygons)")
    other = keep & ~kinds.isin(["Polygon", "MultiPolygon"]) & ~salvaged
    for kind, group in rows[other].groupby(kinds[other]):
        report.reject(group, f"폴리곤이 아님: {kind} ({what} must be polygons)")
    keep &= ~other
    if not keep.any():
        found = kinds[kinds != "없음"].value_counts()
        shown = ", ".join(f"{k} {n:,}" for k, n in found.items()) or "no geometry at all"
        msg = (f"{source} has no polygon to use as {what} (its features: {shown}); give the boundary file with "
               "Polygon/MultiPolygon features, not points or lines.")
        raise InputDataError(msg)
    return geometry, keep


def _to_metric(gdf: gpd.GeoDataFrame, crs, source: str, report: RowReport) -> gpd.GeoDataFrame:
    if crs is not None:
        gdf = gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        minx, miny, maxx, maxy = gdf.total_bounds
        if KOREA_LON[0] <= minx and maxx <= KOREA_LON[1] and KOREA_LAT[0] <= miny and maxy <= KOREA_LAT[1]:
            gdf = gdf.set_crs(4326)
            report.note("CRS 없음, 경위도 범위 → EPSG:4326으로 판단 (no CRS; degree values)")
        else:
            msg = (f"{source} has no CRS (a shapefile without its .prj) and its coordinates are not degrees "
                   f"(x≈{minx:,.0f}…{maxx:,.0f}); put the .prj file beside it (the 학구도 SHP release is "
                   "EPSG:5186), or save the layer with its CRS as GeoPackage in QGIS (in Python: crs=5186).")
            raise CRSError(msg)
    try:
        report.note(f"좌표계 {gdf.crs.to_string()} → {METRIC_CRS}")
        return gdf.to_crs(METRIC_CRS)
    except Exception as exc:  # pyproj cannot transform from this CRS
        msg = (f"{source}: its CRS ({one_line(gdf.crs, 80)}) cannot be converted to {METRIC_CRS} "
               f"({one_line(exc, 120)}); save it in EPSG:4326 or EPSG:5186 in QGIS.")
        raise CRSError(msg) from None


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
    """A ``{"zones": …}`` file, told from its first bytes (a raw file starts with that key)."""
    try:
        stat_file(path)  # a FIFO named .json must not be opened
        return b'"zones"' in head_bytes(path, 200)
    except (UnreadableFileError, EmptyInputError):
        return False


def _polygon_parts(geometry):
    if geometry is None:
        return Polygon()
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

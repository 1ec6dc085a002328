"""The public 돌봄지도: a folder of static files a city can publish for parents.

The folder holds ``index.html``, ``data.js`` (the data as a JavaScript assignment,
so the page works from ``file://`` without fetch or CORS) and the app's CSS/JS.
Search, filters, the list view, the per-행정동 print sheet and the map itself need no
network: Leaflet (from the installed ``XStatic-Leaflet``) is written into the folder as
``leaflet.js``, ``leaflet.css`` and ``images/``. Only the background tiles come from the
internet, and without them the markers and 학구 still draw. Should Leaflet not load (a
city's own copy at ``leaflet_js_url`` unreachable), the page says so and the list carries on.

Only whitelisted fields are exported, so staff names,
e-mails or any other column a source carries never reach the public.
"""

from __future__ import annotations

import html
import json
import logging
import math
import shutil
from collections.abc import Mapping, Sequence
from datetime import date
from importlib import resources
from pathlib import Path

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from shapely.geometry import mapping

from .. import __version__
from .._errors import EmptyInputError, SettingsError
from ..catalog import CareKind
from ..network import DEFAULT_DETOUR_FACTOR, DEFAULT_WALK_SPEED_KMH
from ._assets import write_leaflet_files
from ._common import (
    DEFAULT_ATTRIBUTIONS,
    check_kinds,
    col,
    format_capacity,
    format_fee,
    format_grades,
    format_span,
    kind_style,
    require_columns,
    require_geom_type,
    resolve_catalog,
    resolve_synthetic,
    to_wgs84,
)

__all__ = [
    "DEFAULT_LEAFLET_CSS_URL",
    "DEFAULT_LEAFLET_JS_URL",
    "DEFAULT_TILE_URL",
    "PUBLIC_FACILITY_FIELDS",
    "public_care_map",
    "school_facility_walk_times",
]

logger = logging.getLogger(__name__)

#: Leaflet as written beside ``index.html`` (relative, so the folder works from file:// too).
DEFAULT_LEAFLET_JS_URL = "leaflet.js"
DEFAULT_LEAFLET_CSS_URL = "leaflet.css"
DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_ASSETS = ("public_map.css", "public_map.js")

#: The only facility columns that can reach the public page (``phone`` is the
#: facility's published number; personal fields are never read).
PUBLIC_FACILITY_FIELDS = (
    "name",
    "kind",
    "address",
    "phone",
    "capacity",
    "capacity_temp",
    "term_open",
    "term_close",
    "vac_open",
    "vac_close",
    "sat_open",
    "sat_close",
    "fee_month",
    "fee_day",
    "min_grade",
    "max_grade",
    "hours_source",
    "capacity_source",
    "status",
    "data_date",
)


def _metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is not None and gdf.crs.is_geographic:
        return gdf.to_crs(5179)
    return gdf


def school_facility_walk_times(
    schools: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    *,
    max_walk_min: float = 10.0,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
) -> pd.DataFrame:
    """Straight-line walk-time estimate from each school to facilities within ``max_walk_min``.

    Minutes are ``distance_m × detour_factor / (walk_speed_kmh × 1000 / 60)``: an
    offline stand-in for network walk times, and labelled as such on the map.

    Returns
    -------
    pandas.DataFrame
        ``school_id``, ``facility_id``, ``walk_min``; one row per pair within reach,
        sorted by school then minutes.
    """
    if walk_speed_kmh <= 0 or detour_factor < 1 or max_walk_min < 0:
        msg = (
            f"expected walk_speed_kmh > 0, detour_factor >= 1, max_walk_min >= 0; got "
            f"{walk_speed_kmh!r}, {detour_factor!r}, {max_walk_min!r}"
        )
        raise SettingsError(msg)
    s, f = _metric(schools), _metric(facilities)
    if s.crs != f.crs:
        f = f.to_crs(s.crs)
    metres_per_min = walk_speed_kmh * 1000.0 / 60.0
    radius_m = max_walk_min * metres_per_min / detour_factor
    s_xy = np.column_stack([s.geometry.x, s.geometry.y])
    f_xy = np.column_stack([f.geometry.x, f.geometry.y])
    empty = pd.DataFrame(
        {
            "school_id": pd.Series(dtype=str),
            "facility_id": pd.Series(dtype=str),
            "walk_min": pd.Series(dtype=float),
        }
    )
    if not len(s_xy) or not len(f_xy):
        return empty
    # query_ball_point keeps co-located pairs (distance 0), which a sparse
    # distance matrix would silently drop.
    hits = cKDTree(f_xy).query_ball_point(s_xy, r=radius_m)
    lens = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    rows = np.repeat(np.arange(len(s_xy)), lens)
    cols = np.fromiter((j for h in hits for j in h), dtype=np.int64, count=int(lens.sum()))
    dist = np.hypot(*(s_xy[rows] - f_xy[cols]).T) if len(rows) else np.zeros(0)
    out = pd.DataFrame(
        {
            "school_id": s.index.to_numpy()[np.asarray(rows, dtype=int)].astype(str),
            "facility_id": f.index.to_numpy()[np.asarray(cols, dtype=int)].astype(str),
            "walk_min": np.asarray(dist, dtype=float) * detour_factor / metres_per_min,
        }
    )
    return out.sort_values(["school_id", "walk_min", "facility_id"], ignore_index=True)


def _num(value) -> float | None:
    """JSON-safe number (NaN -> null)."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def _txt(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _facility_records(fac4326: gpd.GeoDataFrame, adm_of: pd.Series, catalog) -> list[dict]:
    records = []
    for fid, row in fac4326.iterrows():
        r = {k: row.get(k, math.nan) for k in PUBLIC_FACILITY_FIELDS}
        defaults = r["hours_source"] == "catalog" or r["capacity_source"] == "catalog"
        records.append(
            {
                "id": str(fid),
                "name": _txt(r["name"]) or "이름 없음",
                "kind": str(r["kind"]),
                "address": _txt(r["address"]),
                "phone": _txt(r["phone"]),
                "lat": round(float(row.geometry.y), 6),
                "lon": round(float(row.geometry.x), 6),
                "term_close": _num(r["term_close"]) if _num(r["term_open"]) is not None else None,
                "vacation": _num(r["vac_open"]) is not None and _num(r["vac_close"]) is not None,
                "saturday": _num(r["sat_open"]) is not None and _num(r["sat_close"]) is not None,
                "fee_month": _num(r["fee_month"]),
                "min_grade": _num(r["min_grade"]),
                "max_grade": _num(r["max_grade"]),
                "capacity_txt": format_capacity(r["capacity"], r["capacity_temp"]),
                "term_txt": format_span(r["term_open"], r["term_close"]),
                "vacation_txt": format_span(r["vac_open"], r["vac_close"]),
                "saturday_txt": format_span(r["sat_open"], r["sat_close"]),
                "fee_txt": format_fee(r["fee_month"], r["fee_day"]),
                "grades_txt": format_grades(r["min_grade"], r["max_grade"]),
                "defaults_used": bool(defaults),
                "data_date": _txt(r["data_date"]),
                "adm": _txt(adm_of.get(fid)),
            }
        )
    return records


def _zone_links(zones: pd.DataFrame) -> dict[str, list[str]]:
    """school_id -> zone ids listing it (a school may have its own and shared zones)."""
    links: dict[str, list[str]] = {}
    if "school_ids" not in zones.columns:
        return links
    for zid, ids in zones["school_ids"].items():
        if not isinstance(ids, str):
            continue
        for sid in (s.strip() for s in ids.split(",")):
            if sid:
                links.setdefault(sid, []).append(str(zid))
    return links


def _geometry_json(geom, digits: int = 6) -> dict:
    """GeoJSON geometry with coordinates rounded (≈0.1 m at 6 decimals) to keep data.js small."""
    from shapely import make_valid, set_precision

    if not geom.is_valid:  # GEOS cannot round a self-crossing ring (hand-drawn in QGIS)
        geom = make_valid(geom)
    return mapping(set_precision(geom, 10.0**-digits))


def _adm_membership(fac: gpd.GeoDataFrame, admin_areas: gpd.GeoDataFrame | None) -> pd.Series:
    if admin_areas is None:
        return pd.Series(dtype=object)
    adm = gpd.GeoDataFrame(
        {"adm_code": admin_areas.index.astype(str)},
        geometry=admin_areas.to_crs(fac.crs).geometry.values,
        crs=fac.crs,
    )
    joined = gpd.sjoin(fac[["geometry"]], adm, how="left", predicate="intersects")
    # A point on a shared boundary matches two 동; keep the first so it is listed once.
    joined = joined[~joined.index.duplicated(keep="first")]
    return joined["adm_code"]


def _render_index(**context) -> str:
    text = resources.files("careplan").joinpath("templates", "public_map.html").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text).render(**context)


def public_care_map(
    out_dir: str | Path,
    *,
    facilities: gpd.GeoDataFrame,
    schools: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    data_date: str,
    synthetic: bool,
    admin_areas: gpd.GeoDataFrame | None = None,
    walk_minutes: float = 10,
    school_facility_times: pd.DataFrame | None = None,
    distance_method_label: str | None = None,
    attributions: Sequence[str] = DEFAULT_ATTRIBUTIONS,
    title: str = "우리동네 초등 돌봄지도",
    catalog: Mapping[str, CareKind] | None = None,
    include_closed: bool = False,
    simplify_m: float = 2.0,
    leaflet_js_url: str = DEFAULT_LEAFLET_JS_URL,
    leaflet_css_url: str = DEFAULT_LEAFLET_CSS_URL,
    tile_url: str = DEFAULT_TILE_URL,
    tile_attribution: str = "© OpenStreetMap contributors",
) -> Path:
    """Write the public 돌봄지도 folder and return the path of its ``index.html``.

    Parameters
    ----------
    out_dir
        Folder to write (created; existing files of the same names are replaced).
    facilities, schools, zones
        Contract layers (EPSG:5179 expected; any CRS is reprojected to 4326).
    data_date
        Date of the data, shown in the page and on every card.
    synthetic
        Show the "가상 데이터" banner (also switched on, with a CareplanWarning,
        when any row has ``synthetic=True``).
    admin_areas
        행정동 polygons; enables the per-행정동 print sheet.
    walk_minutes
        Walk time from a school within which facilities are listed.
    school_facility_times
        ``school_id``, ``facility_id``, ``walk_min`` (e.g. network times). When None,
        a straight-line × 1.3 estimate at 4 km/h is used and labelled on the page.
    distance_method_label
        How ``school_facility_times`` were measured (shown to parents).
    include_closed
        Publish facilities whose ``status`` is not ``"정상"`` (default: drop them).
    simplify_m
        Tolerance (metres) for simplifying 학구 polygons before publishing.
    leaflet_js_url, leaflet_css_url
        Where the page loads Leaflet from: by default the copies written into the folder;
        a city that hosts its own copy may give its URLs (the local files are written
        all the same).
    tile_url, tile_attribution
        Background tiles (the one thing the page fetches from the internet; offline the
        map draws without them).

    Returns
    -------
    pathlib.Path
        ``out_dir / "index.html"``.
    """
    catalog = resolve_catalog(catalog)
    require_columns(facilities, ["name", "kind"], "facilities")
    require_columns(schools, ["name"], "schools")
    check_kinds(facilities, catalog)
    require_geom_type(facilities, {"Point"}, "facilities")
    require_geom_type(schools, {"Point"}, "schools")
    require_geom_type(zones, {"Polygon", "MultiPolygon"}, "zones")
    if walk_minutes <= 0:
        msg = f"walk_minutes must be > 0, got {walk_minutes!r}"
        raise SettingsError(msg)
    synthetic = resolve_synthetic(synthetic, facilities, schools, zones)

    fac = facilities
    if not include_closed and "status" in fac.columns:
        open_mask = fac["status"].isna() | (fac["status"] == "정상")
        if (~open_mask).any():
            logger.info("public map: %d facilities not '정상' left out", int((~open_mask).sum()))
        fac = fac[open_mask]
    if fac.empty:
        found = sorted({str(v)[:20] for v in facilities.get("status", pd.Series()).dropna()})[:5]
        msg = (
            f"no facilities to publish: the layer has {len(facilities)} row(s) and none has "
            f"status '정상' (open) (statuses found: {found}); set status to 정상 for the open "
            "facilities (library: include_closed=True publishes every row)"
        )
        raise EmptyInputError(msg)

    if school_facility_times is None:
        times = school_facility_walk_times(schools, fac, max_walk_min=walk_minutes)
        label = (
            f"직선거리 × 우회계수 {DEFAULT_DETOUR_FACTOR:g}, "
            f"보행속도 {DEFAULT_WALK_SPEED_KMH:g} km/h "
            "추정 (실제 도보 경로 아님)"
        )
    else:
        require_columns(
            school_facility_times, ["school_id", "facility_id", "walk_min"], "school_facility_times"
        )
        times = school_facility_times.astype({"school_id": str, "facility_id": str})
        times = times[times["walk_min"] <= walk_minutes]
        label = "도보 경로 기준"
    if distance_method_label is not None:
        label = distance_method_label
    times = times[times["facility_id"].isin(fac.index.astype(str))]

    fac4326 = to_wgs84(fac, "facilities")
    sch4326 = to_wgs84(schools, "schools")
    zone_metric = _metric(zones)
    if simplify_m > 0 and zone_metric.crs is not None and not zone_metric.crs.is_geographic:
        zone_metric = zone_metric.set_geometry(
            zone_metric.geometry.simplify(simplify_m, preserve_topology=True)
        )
    zon4326 = to_wgs84(zone_metric, "zones")
    adm_of = _adm_membership(
        _metric(fac), _metric(admin_areas) if admin_areas is not None else None
    )

    records = _facility_records(fac4326, adm_of, catalog)
    counts = fac4326["kind"].value_counts()
    kinds = {}
    for key in sorted(counts.index, key=lambda k: list(catalog).index(k)):
        style, kind = kind_style(key), catalog[key]
        kinds[key] = {
            "label": kind.label_ko,
            "eligibility": kind.eligibility_ko,
            "count": int(counts[key]),
            "colour": style.colour,
            "shape": style.shape,
            "letter": style.letter,
            "text_colour": style.text_colour,
        }

    links = _zone_links(zones)
    near = {
        sid: list(zip(g["facility_id"], g["walk_min"].round(2), strict=True))
        for sid, g in times.sort_values("walk_min").groupby("school_id", sort=False)
    }
    school_records = [
        {
            "id": str(sid),
            "name": _txt(col(row, "name")) or str(sid),
            "address": _txt(col(row, "address")),
            "lat": round(float(row.geometry.y), 6),
            "lon": round(float(row.geometry.x), 6),
            "zones": links.get(str(sid), []),
            "near": [[fid, float(w)] for fid, w in near.get(str(sid), [])],
        }
        for sid, row in sch4326.iterrows()
    ]
    zone_records = {
        str(zid): {
            "name": _txt(col(row, "name")) or str(zid),
            "geometry": _geometry_json(row.geometry),
        }
        for zid, row in zon4326.iterrows()
    }
    adm_records = []
    if admin_areas is not None:
        per_adm = adm_of.value_counts()
        for code, row in admin_areas.iterrows():
            name = _txt(col(row, "name")) or str(code)
            adm_records.append(
                {
                    "code": str(code),
                    "name": name,
                    "full_name": _txt(col(row, "full_name")) or name,
                    "count": int(per_adm.get(str(code), 0)),
                }
            )
        adm_records.sort(key=lambda a: a["name"])

    bounds = [float(v) for v in fac4326.total_bounds]
    if len(sch4326):
        sb = sch4326.total_bounds
        bounds = [
            min(bounds[0], sb[0]),
            min(bounds[1], sb[1]),
            max(bounds[2], sb[2]),
            max(bounds[3], sb[3]),
        ]
    data = {
        "meta": {
            "title": title,
            "data_date": str(data_date),
            "synthetic": synthetic,
            "attributions": list(attributions),
            "walk_minutes": walk_minutes,
            "distance_label": label,
            "tile_url": tile_url,
            "tile_attribution_html": html.escape(tile_attribution),
            "bounds": bounds,
            "generated": date.today().isoformat(),
            "careplan_version": __version__,
        },
        "kinds": kinds,
        "facilities": records,
        "schools": school_records,
        "zones": zone_records,
        "adms": adm_records,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    (out / "data.js").write_text(f"window.CAREPLAN_DATA = {payload};\n", encoding="utf-8")
    for name in _ASSETS:
        with resources.as_file(resources.files("careplan").joinpath("assets", name)) as src:
            shutil.copyfile(src, out / name)
    write_leaflet_files(out)
    index = out / "index.html"
    index.write_text(
        _render_index(
            title=title,
            data_date=str(data_date),
            synthetic=synthetic,
            attributions=list(attributions),
            distance_label=label,
            leaflet_js_url=leaflet_js_url,
            leaflet_css_url=leaflet_css_url,
            version=__version__,
        ),
        encoding="utf-8",
    )
    logger.info(
        "public care map: %d facilities, %d schools, %d zones -> %s",
        len(records),
        len(school_records),
        len(zone_records),
        index,
    )
    return index

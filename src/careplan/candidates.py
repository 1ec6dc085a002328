"""Candidate sites for new care centres: user lists, grids, clusters of unmet demand, and filters.

Every function returns the data contract's ``candidate_sites`` layer (index
``site_id``, EPSG:5179): ``name``, ``site_type``, ``area_m2``, ``floor``, ``cost``,
``allowed_kinds``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely import points

from ._errors import CRSError, InputDataError, MissingColumnError, SettingsError
from .catalog import CareKind, get_catalog

__all__ = [
    "CANDIDATE_COLUMNS",
    "CandidateFilter",
    "GRID_SITE_TYPE",
    "SEOUL",
    "check_kind_allowed",
    "cluster_candidates",
    "filter_candidates",
    "grid_candidates",
    "kind_capacity",
    "prepare_candidates",
]

logger = logging.getLogger(__name__)

CANDIDATE_COLUMNS = ("name", "site_type", "area_m2", "floor", "cost", "allowed_kinds")
SEOUL = "서울특별시"
METRIC_CRS = 5179
#: 2014 지역아동센터 norm (≤ 5F), applied to all kinds as an estimate (DOMAIN.md §5).
DEFAULT_MAX_FLOOR = 5.0


GRID_SITE_TYPE = "격자 후보지"  # generated points, not real buildings: reports say so

def _check_layer(gdf: gpd.GeoDataFrame, what: str) -> None:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise InputDataError(msg)
    if gdf.crs is None or gdf.crs.to_epsg() != METRIC_CRS:
        msg = f"{what} must be in EPSG:5179 (metres), got {gdf.crs!r}; read it with careplan.io or call .to_crs(5179)"
        raise CRSError(msg)


def no_sites(site_type: str = GRID_SITE_TYPE) -> gpd.GeoDataFrame:
    """A candidate frame without rows, with the columns and types of one with rows."""
    # one row cut off again: the column types are inferred exactly as for real rows
    return _empty_frame(["-"], points([0.0], [0.0]), site_type).iloc[:0]


def _empty_frame(index: list[str], geometry: Any, site_type: str) -> gpd.GeoDataFrame:
    n = len(index)
    frame = pd.DataFrame({"name": [f"{site_type} {i + 1}" for i in range(n)], "site_type": site_type,
                          "area_m2": np.nan, "floor": np.nan, "cost": np.nan, "allowed_kinds": ""},
                         index=pd.Index(index, name="site_id"))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=METRIC_CRS)


def prepare_candidates(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Check a user's candidate list against the data contract and fill absent optional columns.

    Raises
    ------
    CRSError, InputDataError
        Wrong CRS, non-point geometry, duplicate or missing ids.
    """
    _check_layer(sites, "candidate sites")
    if sites.index.has_duplicates or sites.index.hasnans:
        msg = "candidate site ids (the index, site_id) must be unique and non-null; fix the list or reset the index"
        raise InputDataError(msg)
    if len(sites) and not (sites.geom_type == "Point").all():
        msg = f"candidate sites must be Points, got {sorted(set(sites.geom_type))}; use .representative_point()"
        raise InputDataError(msg)
    out = sites.copy()
    out.index = out.index.astype(str).rename("site_id")
    defaults = {"name": None, "site_type": "사용자 후보지", "area_m2": np.nan, "floor": np.nan, "cost": np.nan,
                "allowed_kinds": ""}
    for column, value in defaults.items():
        if column not in out:
            out[column] = value if value is not None else out.index.to_series()
    out["allowed_kinds"] = out["allowed_kinds"].fillna("").astype(str)
    return out


def grid_candidates(area: gpd.GeoDataFrame | gpd.GeoSeries, *, spacing_m: float = 250.0,
                    site_type: str = GRID_SITE_TYPE) -> gpd.GeoDataFrame:
    """Regular grid of candidate points (cell centres) inside the study area.

    Parameters
    ----------
    area
        Study-area polygons in EPSG:5179.
    spacing_m
        Grid spacing in metres.
    """
    if spacing_m <= 0:
        msg = f"spacing_m must be > 0, got {spacing_m!r}"
        raise SettingsError(msg)
    geom = _union(area, "study area")
    xmin, ymin, xmax, ymax = geom.bounds
    xs = np.arange(xmin + spacing_m / 2, xmax, spacing_m)
    ys = np.arange(ymin + spacing_m / 2, ymax, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    pts = gpd.GeoSeries(points(gx.ravel(), gy.ravel()), crs=METRIC_CRS)
    pts = pts[pts.within(geom)].reset_index(drop=True)
    ids = [f"G{i:05d}" for i in range(len(pts))]
    logger.info("grid_candidates: %d points at %g m spacing", len(pts), spacing_m)
    return _empty_frame(ids, pts.values, site_type)


def _union(area: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> Any:
    if area.crs is None or area.crs.to_epsg() != METRIC_CRS:
        msg = f"{what} must be in EPSG:5179 (metres), got {area.crs!r}; call .to_crs(5179)"
        raise CRSError(msg)
    geoms = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    return geoms.union_all()


def cluster_candidates(demand: gpd.GeoDataFrame, *, n_sites: int, weight_col: str = "demand",
                       unmet: Any = None, random_state: int | None = 0,
                       site_type: str = "미충족 수요 중심") -> gpd.GeoDataFrame:
    """Candidate points at the weighted k-means centres of unmet demand.

    Parameters
    ----------
    demand
        ``demand_points`` layer (EPSG:5179).
    n_sites
        Number of clusters (candidate sites).
    unmet
        Optional unmet demand per point (array or Series aligned to ``demand``) used as
        the clustering weight instead of ``weight_col`` — e.g. demand not covered today.
    random_state
        Seed of scikit-learn's KMeans.
    """
    from sklearn.cluster import KMeans

    _check_layer(demand, "demand points")
    if unmet is None:
        if weight_col not in demand:
            msg = (
                f"demand points need a {weight_col!r} column (data contract demand_points); "
                f"got {list(demand.columns)}"
            )
            raise MissingColumnError(msg)
        weight = demand[weight_col].to_numpy(float)
    else:
        weight = np.asarray(pd.Series(unmet).reindex(demand.index) if isinstance(unmet, pd.Series) else unmet, float)
    weight = np.nan_to_num(weight, nan=0.0)
    use = weight > 0
    if use.sum() < n_sites:
        msg = f"only {int(use.sum())} demand point(s) have weight > 0, fewer than n_sites={n_sites}; lower n_sites"
        raise InputDataError(msg)
    xy = np.column_stack([demand.geometry.x.to_numpy()[use], demand.geometry.y.to_numpy()[use]])
    km = KMeans(n_clusters=n_sites, n_init=10, random_state=random_state).fit(xy, sample_weight=weight[use])
    ids = [f"K{i:05d}" for i in range(n_sites)]
    return _empty_frame(ids, points(km.cluster_centers_), site_type)


def kind_capacity(kind: str, catalog: dict[str, CareKind] | None = None, *, include_temporary: bool = False) -> float:
    """Places of a new centre of ``kind`` from the catalog (regular, optionally + temporary)."""
    entry = _kind(kind, catalog)
    return float(entry.capacity_regular + (entry.capacity_temporary if include_temporary else 0))


def _kind(kind: str, catalog: dict[str, CareKind] | None) -> CareKind:
    cat = catalog or get_catalog()
    if kind not in cat:
        msg = f"unknown kind of care {kind!r}; expected one of {sorted(cat)}"
        raise SettingsError(msg)
    return cat[kind]


def check_kind_allowed(kind: str, sido: str | None, catalog: dict[str, CareKind] | None = None) -> None:
    """Raise when a kind may not be planned in this 시도 (우리동네키움센터 exist only in 서울)."""
    entry = _kind(kind, catalog)
    if entry.seoul_only and sido != SEOUL:
        msg = (f"{entry.label_ko} ({kind}) is a Seoul programme, but the study area's sido is {sido!r}; "
               f"plan 다함께돌봄센터 (dahamkke) instead, or pass sido='{SEOUL}' for a Seoul area")
        raise SettingsError(msg)


@dataclass(frozen=True)
class CandidateFilter:
    """Result of :func:`filter_candidates`: the kept sites and the rejected ones with a reason each."""

    kept: gpd.GeoDataFrame
    rejected: pd.DataFrame  # index site_id, column "reason" (Korean)


def filter_candidates(candidates: gpd.GeoDataFrame, *, kind: str, area: Any = None, existing: Any = None,
                      min_distance_m: float = 0.0, max_floor: float | None = DEFAULT_MAX_FLOOR,
                      sido: str | None = None, catalog: dict[str, CareKind] | None = None) -> CandidateFilter:
    """Apply the siting rules for a kind of centre.

    Rules: the kind is allowed in the 시도 (키움센터 only in 서울); inside the study ``area``;
    at least ``min_distance_m`` from every ``existing`` centre; floor area at least the
    catalog minimum (키움 일반형 80㎡, 다함께 66㎡ …; unknown area is kept); floor at most
    ``max_floor``; ``allowed_kinds`` (when given) lists the kind.
    """
    entry = _kind(kind, catalog)
    check_kind_allowed(kind, sido, catalog)
    cands = prepare_candidates(candidates)
    reasons = pd.Series("", index=cands.index, dtype=object)

    def reject(mask: Any, text: str) -> None:
        mask = np.asarray(mask, bool) & (reasons == "").to_numpy()
        reasons[mask] = text

    if area is not None:
        reject(~cands.within(_union(area, "study area")).to_numpy(), "대상 지역 밖")
    if existing is not None and len(existing) and min_distance_m > 0:
        _check_layer(existing, "existing facilities")
        nearest = cands.sjoin_nearest(existing[["geometry"]], how="left", distance_col="_d")["_d"]
        nearest = nearest.groupby(level=0).min().reindex(cands.index)
        reject((nearest < min_distance_m).to_numpy(), f"기존 시설과 {min_distance_m:g}m 미만")
    if entry.min_area_m2 is not None:
        reject((cands["area_m2"] < entry.min_area_m2).to_numpy(), f"면적 {entry.min_area_m2:g}㎡ 미만")
    if max_floor is not None:
        reject((cands["floor"] > max_floor).to_numpy(), f"{max_floor:g}층 초과")
    listed = cands["allowed_kinds"].str.strip() != ""
    allows = cands["allowed_kinds"].map(lambda text: kind in {k.strip() for k in text.split(",")})
    reject((listed & ~allows).to_numpy(), f"허용 유형에 {kind} 없음")
    bad = reasons != ""
    logger.info("filter_candidates: kept %d of %d for %s", int((~bad).sum()), len(cands), kind)
    return CandidateFilter(cands[~bad.to_numpy()], pd.DataFrame({"reason": reasons[bad]}))

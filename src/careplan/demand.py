"""Who needs after-school care, and where: school demand spread over demand points.

Planners estimate 초등 돌봄 demand from pupils (학교알리미 학년별 학생수) × the share of
each grade that needs after-school care, weight priority groups (Dream Start:
기초수급, 차상위, 법정 한부모) up, and place the demand where the children live,
not on the school door:

1. :func:`school_demand` — pupils by grade × need rates, minus pupils already
   served in school care (초등돌봄교실 / 늘봄), never below zero.
2. :func:`demand_points` — each school's demand is spread over its 학구
   (통학구역) polygons, inside them over a regular grid of demand points
   (default 100 m cells in EPSG:5179), weighted dasymetrically by the 6–12세
   child density of the 행정동 each cell piece falls in. Mass is conserved
   exactly: the points of a zone sum to the demand the zone's schools send it.
3. :func:`population_demand` — where no school data exist: 행정동 children
   6–12 × an overall rate over the same grid.
4. :func:`summarise` — per 학구 or per 행정동 totals with Korean labels.

Default rates (``docs/DOMAIN.md`` §2 and §5): 0.35 / 0.25 / 0.12 for grades
1–2 / 3–4 / 5–6. The shape is an estimate ([E]) following the 돌봄교실·늘봄
focus on grades 1–2; it averages (0.35 + 0.25 + 0.12) / 3 = 0.24 over equal
grade sizes, matching the national 23 % (64만 / ~275만 초등학생, [D]) and the
24 % 아동돌봄서비스 이용률 of 6–12세 households ([V]). Pupils without a grade
(특수학급 / 순회학급) take the overall rate 0.24 because their grade mix is not
published.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm import tqdm

from ._errors import CareplanWarning, CRSError, InputDataError, MissingColumnError, SettingsError
from .io import zone_school_links

__all__ = [
    "DEFAULT_GRADE_RATES",
    "DEFAULT_PRIORITY_WEIGHT",
    "DEFAULT_SPECIAL_RATE",
    "DemandNotes",
    "DemandRates",
    "LABELS_KO",
    "demand_points",
    "population_demand",
    "school_demand",
    "summarise",
]

logger = logging.getLogger(__name__)

#: Share of pupils needing after-school care, by grade (DOMAIN.md §5; shape [E], mean 0.24).
DEFAULT_GRADE_RATES: Mapping[int, float] = MappingProxyType(
    {1: 0.35, 2: 0.35, 3: 0.25, 4: 0.25, 5: 0.12, 6: 0.12}
)
#: Overall rate (DOMAIN.md §5: 23 % [D#20], 24 % [V#17]); used for pupils without a grade.
DEFAULT_SPECIAL_RATE = 0.24
#: Priority (기초수급·차상위·한부모) weight, DOMAIN.md §5 ([E], range 1.0–2.0).
DEFAULT_PRIORITY_WEIGHT = 1.5

GRADE_COLUMNS = tuple(f"pupils_g{g}" for g in range(1, 7))
#: Grid cells clipped per chunk: bounds the geometry in flight (~100 MB) on large areas.
MAX_CELLS_PER_CHUNK = 200_000

#: Korean labels for report tables (columns of :func:`summarise` and of the points).
LABELS_KO: Mapping[str, str] = MappingProxyType(
    {
        "zone_id": "학구 ID",
        "zone_name": "학구명",
        "adm_code": "행정동 코드",
        "pupils": "학생 수",
        "children": "아동 수 (6–12세)",
        "demand": "돌봄 수요 (명)",
        "priority_demand": "우선돌봄 가중 수요",
        "n_points": "수요점 수",
        "demand_per_child": "아동 1인당 수요",
        "school_ids": "학교 ID",
        "school_names": "학교명",
        "n_schools": "학교 수",
        "demand_gross": "총 돌봄 수요 (학교돌봄 차감 전)",
        "served": "학교돌봄 이용 학생",
        "rate_basis": "수요율 근거",
    }
)


# ---------------------------------------------------------------------------------------------
# run notes kept in ``attrs``


class DemandNotes(dict):
    """``attrs["demand"]`` of demand layers: rates, settings and notes, read-only.

    pandas deep-copies ``DataFrame.attrs`` on every operation (``__finalize__``:
    each slice, column read, ``assign``, ``groupby``). These notes list every school,
    학구 and school → 학구 split of the region, so copying them made every pandas
    call on the demand points cost O(region) — a 시군구 partition of a country run
    paid for the whole country on each call. The notes are written once, by the
    function that makes the layer, and only read afterwards, so every copy of the
    frame may share the one object: ``copy.deepcopy`` returns it unchanged, and
    changing it in place is refused (it would change every frame sharing it).

    Use it as a plain ``dict`` for reading; ``dict(notes)`` gives a private
    copy to change.
    """

    __slots__ = ()

    def __deepcopy__(self, memo: dict) -> DemandNotes:
        return self

    def __copy__(self) -> DemandNotes:
        return self

    def __reduce__(self) -> tuple:
        # pickle would refill a dict subclass item by item through __setitem__.
        return (DemandNotes, (dict(self),))

    def _read_only(self, *args: object, **kwargs: object) -> None:
        msg = ("attrs['demand'] (DemandNotes) is shared, read-only metadata of the demand "
               "points: every frame derived from them holds the same object. Make a private "
               "copy first, e.g. `notes = dict(points.attrs['demand'])`, and change that.")
        raise TypeError(msg)

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _read_only
    __ior__ = _read_only


# ---------------------------------------------------------------------------------------------
# rates and school demand


@dataclass(frozen=True, kw_only=True)
class DemandRates:
    """Need rates: the share of pupils of each grade needing after-school care.

    Parameters
    ----------
    grade_rates
        Six rates for grades 1–6, each in [0, 1].
    special_rate
        Rate for pupils with no grade (특수학급 / 순회학급), also used for schools
        that publish only a total (학생수 계).
    """

    grade_rates: tuple[float, float, float, float, float, float] = tuple(
        DEFAULT_GRADE_RATES[g] for g in range(1, 7)
    )
    special_rate: float = DEFAULT_SPECIAL_RATE

    def __post_init__(self) -> None:
        rates = (*self.grade_rates, self.special_rate)
        if len(self.grade_rates) != 6 or not all(_is_rate(r) for r in rates):
            msg = (
                "need rates must be six grade rates and one special rate, each between 0 and 1; "
                f"got grade_rates={self.grade_rates!r}, special_rate={self.special_rate!r}. "
                "Give shares, not percentages (0.35, not 35)."
            )
            raise SettingsError(msg)

    @classmethod
    def from_any(
        cls, grade_rates: Mapping[int, float] | Sequence[float], special_rate: float
    ) -> DemandRates:
        """Build from a ``{grade: rate}`` mapping (keys 1–6) or a sequence of six rates."""
        if isinstance(grade_rates, Mapping):
            missing = sorted(set(range(1, 7)) - set(grade_rates))
            if missing or set(grade_rates) - set(range(1, 7)):
                msg = (
                    f"grade_rates must have exactly the keys 1–6; got {sorted(grade_rates)!r}. "
                    "Give one rate per 학년, e.g. "
                    "{1: 0.35, 2: 0.35, 3: 0.25, 4: 0.25, 5: 0.12, 6: 0.12}."
                )
                raise SettingsError(msg)
            values = tuple(float(grade_rates[g]) for g in range(1, 7))
        else:
            values = tuple(float(r) for r in grade_rates)
            if len(values) != 6:
                msg = f"grade_rates must hold six rates (grades 1–6); got {len(values)}."
                raise SettingsError(msg)
        return cls(grade_rates=values, special_rate=float(special_rate))  # type: ignore[arg-type]

    def as_dict(self) -> dict:
        """Plain dict for ``attrs`` and reports."""
        return {
            "grade_rates": dict(zip(range(1, 7), self.grade_rates, strict=True)),
            "special_rate": self.special_rate,
        }


def _is_rate(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0


def school_demand(
    schools: pd.DataFrame,
    *,
    grade_rates: Mapping[int, float] | Sequence[float] = DEFAULT_GRADE_RATES,
    special_rate: float = DEFAULT_SPECIAL_RATE,
    served: pd.Series | None = None,
) -> pd.DataFrame:
    """Children needing after-school care at each school: pupils by grade × need rates.

    ``demand_gross = Σ_g pupils_g × grade_rates[g] + pupils_special × special_rate``.

    Defaults (``docs/DOMAIN.md`` §5): grades 1–2 / 3–4 / 5–6 → 0.35 / 0.25 / 0.12.
    The grade shape is an estimate ([E]) reflecting 초등돌봄교실·늘봄's focus on
    grades 1–2, tuned so the mean over equal grade sizes is 0.24 — the national
    share of pupils in public after-school care (64만 / ~275만, [D#20]) and the 24 %
    아동돌봄서비스 이용률 of 6–12세 households ([V#17]; 서울연구원 2019 survey:
    20.5–31 %, [V#16]). ``pupils_special`` (특수·순회학급) has no grade, so it takes
    the overall rate ``special_rate`` (0.24); the same rate applies to a school
    that publishes only ``pupils_total``.

    Parameters
    ----------
    schools
        Schools layer (index ``school_id``) with ``pupils_g1`` … ``pupils_g6`` and
        optionally ``pupils_special`` and ``pupils_total`` (data contract). A missing
        ``pupils_special`` counts as 0 special pupils.
    grade_rates
        ``{grade: rate}`` for grades 1–6, or a sequence of six rates.
    special_rate
        Rate for pupils without a grade, and for schools with only a total.
    served
        Pupils already served in school care (초등돌봄교실 / 늘봄 participants,
        학교알리미 apiType=59), a Series indexed by ``school_id``. Subtracted from the
        gross demand, never below 0 (a school whose 돌봄교실 serves more than the
        estimate has no demand left, not negative demand). Missing schools count as 0.

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        Copy of ``schools`` (same index and type) plus ``pupils`` (pupils counted),
        ``demand_gross``, ``served``, ``demand`` and ``rate_basis``
        (``"grade"``, ``"total"`` or ``"none"``). ``demand`` is NaN for a school
        without any pupil count (warned). ``attrs["demand"]`` holds the rates and notes.

    Raises
    ------
    MissingColumnError
        If no pupil columns are present.
    InputDataError
        For negative pupil or served counts.
    """
    rates = DemandRates.from_any(grade_rates, special_rate)
    _check_unique_index(schools, "schools", "school_id")
    missing = [c for c in GRADE_COLUMNS if c not in schools.columns]
    if missing and "pupils_total" not in schools.columns:
        msg = (
            f"schools need pupil counts {list(GRADE_COLUMNS)} (or at least pupils_total); "
            f"missing {missing}. Join 학교알리미 counts first with careplan.io.attach_pupils()."
        )
        raise MissingColumnError(msg)

    grades = schools.reindex(columns=list(GRADE_COLUMNS)).astype(float)
    special = schools.get("pupils_special", pd.Series(np.nan, index=schools.index)).astype(float)
    total = schools.get("pupils_total", pd.Series(np.nan, index=schools.index)).astype(float)
    _check_non_negative(pd.concat([grades, special, total], axis=1), "pupil counts")

    by_grade = grades.notna().all(axis=1)
    by_total = ~by_grade & total.notna()
    special0 = special.fillna(0.0)
    gross = pd.Series(np.nan, index=schools.index, dtype=float)
    gross[by_grade] = grades[by_grade].to_numpy() @ np.asarray(rates.grade_rates) + (
        special0[by_grade] * rates.special_rate
    )
    gross[by_total] = total[by_total] * rates.special_rate
    pupils = pd.Series(np.nan, index=schools.index, dtype=float)
    pupils[by_grade] = grades[by_grade].sum(axis=1) + special0[by_grade]
    pupils[by_total] = total[by_total]

    served_s = _served(served, schools.index)
    out = schools.copy()
    out["pupils"] = pupils
    out["demand_gross"] = gross
    out["served"] = served_s
    out["demand"] = (gross - served_s).clip(lower=0.0)
    out["rate_basis"] = np.select([by_grade, by_total], ["grade", "total"], "none")

    notes = []
    if by_total.any():
        notes.append(
            f"학년별 학생수 없음 → 학생수 계 × {rates.special_rate:g}: {list(schools.index[by_total])}"
        )
    no_data = schools.index[~by_grade & ~by_total]
    if len(no_data):
        msg = (
            f"{len(no_data)} school(s) have no pupil counts, so their demand is unknown (NaN) and "
            f"they place no demand: {list(no_data)[:10]}. Check the 학교알리미 join (attach_pupils)."
        )
        warnings.warn(msg, CareplanWarning, stacklevel=2)
        notes.append(f"학생수 없음 (수요 미상): {list(no_data)}")
    clipped = schools.index[(served_s > gross).fillna(False)]
    if len(clipped):
        notes.append(f"학교돌봄 이용 ≥ 추정 수요 → 수요 0: {list(clipped)}")
    out.attrs["demand"] = DemandNotes({**rates.as_dict(), "served_subtracted": served is not None,
                                       "notes": notes})
    logger.info(
        "school demand: %d schools, %.0f pupils, demand %.1f (gross %.1f, served %.0f)",
        len(out), np.nansum(pupils), np.nansum(out["demand"]), np.nansum(gross), served_s.sum(),
    )
    return out


def _served(served: pd.Series | None, index: pd.Index) -> pd.Series:
    if served is None:
        return pd.Series(0.0, index=index)
    served = pd.Series(served, dtype=float)
    if (served < 0).any():
        negative = list(served.index[served < 0])[:10]
        msg = f"served counts must be >= 0; got negatives for {negative}."
        raise InputDataError(msg)
    unknown = served.index.difference(index)
    if len(unknown):
        msg = (
            f"served counts for {len(unknown)} school id(s) not in schools were ignored: "
            f"{list(unknown)[:10]}. Index `served` by the schools' school_id (학교ID B…)."
        )
        warnings.warn(msg, CareplanWarning, stacklevel=3)
    return served.reindex(index).fillna(0.0)


# ---------------------------------------------------------------------------------------------
# grid pieces (vectorised)


def _grid_cells(
    geoms: np.ndarray, cell_m: float, *, max_cells: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (owner, ix, iy) of every grid cell touching each geometry's bounds.

    Cells are aligned to multiples of ``cell_m``; owners are processed in chunks
    of about ``max_cells`` cells so memory stays bounded on large areas.
    """
    bounds = shapely.bounds(geoms)
    ix0 = np.floor(bounds[:, 0] / cell_m).astype(np.int64)
    iy0 = np.floor(bounds[:, 1] / cell_m).astype(np.int64)
    nx = np.maximum(np.ceil(bounds[:, 2] / cell_m).astype(np.int64) - ix0, 1)
    ny = np.maximum(np.ceil(bounds[:, 3] / cell_m).astype(np.int64) - iy0, 1)
    counts = nx * ny
    start = 0
    while start < len(geoms):
        # at least one owner per chunk, then as many as fit in the budget
        stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), max_cells, "right")))
        owners = np.arange(start, stop)
        owner = np.repeat(owners, counts[owners])
        offsets = np.cumsum(counts[owners]) - counts[owners]
        k = np.arange(len(owner)) - np.repeat(offsets, counts[owners])
        yield owner, ix0[owner] + k // ny[owner], iy0[owner] + k % ny[owner]
        start = stop


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts (an intersection may add touching lines or points)."""
    mixed = shapely.get_type_id(geoms) == 7  # GeometryCollection
    if not mixed.any():
        return geoms
    parts, which = shapely.get_parts(geoms[mixed], return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3, 6))
    rebuilt = np.array([shapely.MultiPolygon()] * int(mixed.sum()), dtype=object)
    if keep.any():
        owners = np.unique(which[keep])
        polys = shapely.get_parts(parts[keep])
        index = np.repeat(np.searchsorted(owners, which[keep]),
                          shapely.get_num_geometries(parts[keep]))
        rebuilt[owners] = shapely.multipolygons(polys, indices=index)
    out = geoms.copy()
    out[mixed] = rebuilt
    return out


def _clip(owner_geoms: np.ndarray, pieces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pieces ∩ owner_geoms`` pairwise; returns (geometry, keep mask of non-empty area)."""
    inside = shapely.contains_properly(owner_geoms, pieces)
    out = pieces.copy()
    edge = ~inside & shapely.intersects(owner_geoms, pieces)
    out[edge] = _polygonal(shapely.intersection(owner_geoms[edge], pieces[edge]))
    keep = inside.copy()
    keep[edge] = shapely.area(out[edge]) > 0.0
    return out, keep


def _iter_cell_pieces(
    owners: gpd.GeoSeries, cell_m: float, *, progress: bool = False
) -> Iterator[pd.DataFrame]:
    """Grid cells clipped to each owner polygon, by chunks: owner (position), ix, iy, geometry."""
    geoms = np.asarray(owners.geometry.array, dtype=object)
    shapely.prepare(geoms)
    chunks = _grid_cells(geoms, cell_m, max_cells=MAX_CELLS_PER_CHUNK)
    for owner, ix, iy in tqdm(chunks, disable=not progress, desc="grid", unit="chunk"):
        boxes = shapely.box(ix * cell_m, iy * cell_m, (ix + 1) * cell_m, (iy + 1) * cell_m)
        clipped, keep = _clip(geoms[owner], boxes)
        yield pd.DataFrame({"owner": owner[keep], "ix": ix[keep], "iy": iy[keep],
                            "geometry": clipped[keep]})


def _cell_pieces(owners: gpd.GeoSeries, cell_m: float, *, progress: bool = False) -> pd.DataFrame:
    frames = list(_iter_cell_pieces(owners, cell_m, progress=progress))
    return pd.concat(frames, ignore_index=True) if frames else _no_pieces("owner")


def _no_pieces(owner: str) -> pd.DataFrame:
    int_ = np.array([], dtype=np.int64)
    return pd.DataFrame({owner: int_, "ix": int_, "iy": int_, "adm_code": np.array([], object),
                         "area_m2": np.array([]), "children": np.array([]),
                         "geometry": np.array([], dtype=object)})


def _split_by_admin(
    pieces: np.ndarray, admin_geoms: np.ndarray, tree: shapely.STRtree, *, min_outside_m2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut pieces along 행정동 boundaries.

    Returns (piece position, admin position or -1 for "outside every 행정동",
    geometry). Outside remainders smaller than ``min_outside_m2`` are dropped:
    they are slivers from the two sources' different digitising, not places.
    """
    p_idx, a_idx = tree.query(pieces, predicate="intersects")
    geoms, keep = _clip(admin_geoms[a_idx], pieces[p_idx])
    p_idx, a_idx, geoms = p_idx[keep], a_idx[keep], geoms[keep]
    covered = np.bincount(p_idx, weights=shapely.area(geoms), minlength=len(pieces))
    open_ = np.flatnonzero(shapely.area(pieces) - covered > min_outside_m2)
    if len(open_):
        rest = shapely.difference(pieces[open_], _admin_union(admin_geoms, tree, pieces[open_]))
        rest = _polygonal(rest)
        big = shapely.area(rest) > min_outside_m2
        p_idx = np.concatenate([p_idx, open_[big]])
        a_idx = np.concatenate([a_idx, np.full(big.sum(), -1)])
        geoms = np.concatenate([geoms, rest[big]])
    return p_idx, a_idx, geoms


def _admin_union(admin_geoms: np.ndarray, tree: shapely.STRtree, pieces: np.ndarray):
    """Union of the 행정동 near ``pieces`` (only those, to keep the difference cheap)."""
    near = np.unique(tree.query(pieces)[1])
    return shapely.union_all(admin_geoms[near]) if len(near) else shapely.Polygon()


# ---------------------------------------------------------------------------------------------
# checks


def _check_unique_index(frame: pd.DataFrame, what: str, id_name: str) -> None:
    if frame.index.has_duplicates or frame.index.hasnans:
        dups = list(frame.index[frame.index.duplicated()].unique())[:10]
        msg = (
            f"{what} must be indexed by a unique, non-null {id_name}; got duplicates {dups} "
            f"or missing ids. Read it with careplan.io so the index is the {id_name}."
        )
        raise InputDataError(msg)


def _check_non_negative(frame: pd.DataFrame, what: str) -> None:
    bad = (frame < 0).any(axis=1)
    if bad.any():
        msg = f"{what} must be >= 0; negative values for {list(frame.index[bad])[:10]}."
        raise InputDataError(msg)


def _check_layers(**layers: gpd.GeoDataFrame) -> None:
    """All layers are GeoDataFrames in one projected CRS (metres)."""
    crs = None
    for name, gdf in layers.items():
        if not isinstance(gdf, gpd.GeoDataFrame):
            msg = f"`{name}` must be a GeoDataFrame; got {type(gdf).__name__}."
            raise InputDataError(msg)
        if gdf.crs is None or not gdf.crs.is_projected:
            msg = (
                f"`{name}` must be in a projected CRS in metres (EPSG:5179); got {gdf.crs!r}. "
                "Read it with careplan.io or call `.to_crs(5179)`."
            )
            raise CRSError(msg)
        if crs is not None and gdf.crs != crs:
            msg = (
                f"`{name}` is in {gdf.crs.to_string()} but the other layers are in "
                f"{crs.to_string()}; reproject all layers to EPSG:5179 with `.to_crs(5179)`."
            )
            raise CRSError(msg)
        crs = gdf.crs


def _check_cell(cell_m: float) -> None:
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        msg = f"cell_m must be a positive number of metres (e.g. 100); got {cell_m!r}."
        raise SettingsError(msg)


def _children(admin_areas: gpd.GeoDataFrame, children_col: str) -> pd.Series:
    if children_col not in admin_areas.columns:
        msg = (
            f"admin_areas need a `{children_col}` column (children 6–12 per 행정동); columns are "
            f"{list(admin_areas.columns)[:12]}. Read them with "
            "careplan.io.read_admin_areas(path, population=...)."
        )
        raise MissingColumnError(msg)
    children = admin_areas[children_col].astype(float)
    _check_non_negative(children.to_frame(), f"`{children_col}`")
    return children


def _zone_links(zones: pd.DataFrame) -> pd.DataFrame:
    """Long (zone_id, school_id) table, checked: the zones must carry ``school_ids``."""
    if "school_ids" not in zones.columns:
        msg = (
            "school_zones need a `school_ids` column (comma-separated 학교ID); columns are "
            f"{list(zones.columns)}. Read zones with careplan.io.read_school_zones()."
        )
        raise MissingColumnError(msg)
    return zone_school_links(zones)


# ---------------------------------------------------------------------------------------------
# dasymetric pieces


def _dasymetric_pieces(
    zones: gpd.GeoDataFrame,
    admin_areas: gpd.GeoDataFrame,
    children: pd.Series,
    *,
    cell_m: float,
    min_outside_m2: float,
    progress: bool,
) -> pd.DataFrame:
    """Zone × cell × 행정동 pieces with dasymetric children (NaN where the density is unknown).

    Chunked over zones (grid cells, then the 행정동 cut), so the geometry in
    flight stays bounded; only the final pieces are kept.
    """
    admin_geoms = np.asarray(admin_areas.geometry.array, dtype=object)
    tree = shapely.STRtree(admin_geoms)
    shapely.prepare(admin_geoms)
    density = (children / admin_areas.geometry.area).to_numpy()
    adm_ids = admin_areas.index.to_numpy(dtype=object)
    frames = []
    for cells in _iter_cell_pieces(zones.geometry, cell_m, progress=progress):
        cell_geoms = cells["geometry"].to_numpy(dtype=object)
        c_idx, a_idx, geoms = _split_by_admin(cell_geoms, admin_geoms, tree,
                                              min_outside_m2=min_outside_m2)
        area = shapely.area(geoms)
        dens = np.where(a_idx >= 0, density[np.maximum(a_idx, 0)], np.nan)
        frames.append(pd.DataFrame(
            {
                "zone": cells["owner"].to_numpy()[c_idx],
                "ix": cells["ix"].to_numpy()[c_idx],
                "iy": cells["iy"].to_numpy()[c_idx],
                "adm_code": np.where(a_idx >= 0, adm_ids[np.maximum(a_idx, 0)], None),
                "area_m2": area,
                "children": area * dens,
                "geometry": geoms,
            }
        ))
    return pd.concat(frames, ignore_index=True) if frames else _no_pieces("zone")


def _weights(
    pieces: pd.DataFrame, n_zones: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Placement weights per piece and the basis of each.

    Known pieces weigh their dasymetric children. Pieces of unknown density
    (outside every 행정동, or a 행정동 with no population) take the density of
    the known part of the same zone: the children across the 시군구 border who
    attend this zone's school are assumed to live as densely as those inside.
    A zone whose weights are all zero falls back to area weighting.

    Returns (weight, basis, children estimate per zone, area fallback per zone).
    """
    zone = pieces["zone"].to_numpy()
    area = pieces["area_m2"].to_numpy()
    kids = pieces["children"].to_numpy()
    known = ~np.isnan(kids)
    known_kids = np.bincount(zone, weights=np.where(known, kids, 0.0), minlength=n_zones)
    known_area = np.bincount(zone, weights=np.where(known, area, 0.0), minlength=n_zones)
    with np.errstate(invalid="ignore", divide="ignore"):
        zone_density = np.where(known_area > 0, known_kids / known_area, 0.0)
    weight = np.where(known, kids, area * zone_density[zone])
    basis = np.where(known, "children", np.where(zone_density[zone] > 0, "imputed", "children"))
    estimate = np.bincount(zone, weights=weight, minlength=n_zones)
    fallback = estimate <= 0
    weight = np.where(fallback[zone], area, weight)
    basis = np.where(fallback[zone], "area", basis)
    return weight, basis, estimate, fallback


def _points_geometry(pieces: np.ndarray) -> np.ndarray:
    """Centroid of each piece, or a point on its surface where the centroid falls outside."""
    points = shapely.centroid(pieces)
    outside = ~shapely.contains_properly(pieces, points)
    if outside.any():
        points[outside] = shapely.point_on_surface(pieces[outside])
    return points


def _priority(
    points: pd.DataFrame,
    priority_share: pd.Series | None,
    priority_weight: float,
    zone_ids: pd.Index,
    adm_ids: pd.Index,
) -> tuple[np.ndarray, str | None, list]:
    """``demand × (1 + share × (weight − 1))``; share looked up by 행정동 or 학구."""
    if not (isinstance(priority_weight, int | float) and math.isfinite(priority_weight)
            and priority_weight >= 1.0):
        msg = f"priority_weight must be a number >= 1 (1.5 by default); got {priority_weight!r}."
        raise SettingsError(msg)
    demand = points["demand"].to_numpy()
    if priority_share is None:
        return demand.copy(), None, []
    share = pd.Series(priority_share, dtype=float)
    if ((share < 0) | (share > 1)).any():
        msg = (
            "priority_share must be a share between 0 and 1 (기초수급·차상위·한부모 children / all "
            f"children); got values outside for {list(share.index[~share.between(0, 1)])[:10]}."
        )
        raise InputDataError(msg)
    index = share.index.astype(str)
    by_adm, by_zone = index.isin(adm_ids).sum(), index.isin(zone_ids).sum()
    if by_adm == 0 and by_zone == 0:
        msg = (
            "priority_share must be indexed by 행정동 adm_code or by 학구 zone_id; none of its "
            f"index values {list(index[:5])} match either."
        )
        raise InputDataError(msg)
    key = "adm_code" if by_adm >= by_zone else "zone_id"
    share.index = index
    looked_up = points[key].map(share)
    missing = sorted(set(points.loc[looked_up.isna() & (points["demand"] > 0), key].dropna()))
    factor = 1.0 + looked_up.fillna(0.0).to_numpy() * (priority_weight - 1.0)
    return demand * factor, key, missing


# ---------------------------------------------------------------------------------------------
# public: demand points


def demand_points(
    school_dem: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame,
    admin_areas: gpd.GeoDataFrame,
    *,
    cell_m: float = 100.0,
    priority_share: pd.Series | None = None,
    priority_weight: float = DEFAULT_PRIORITY_WEIGHT,
    children_col: str = "children_6_12",
    min_outside_m2: float | None = None,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Spread each school's demand over its 학구 and, inside, over grid demand points.

    **Schools → zones.** The links come from the zones' ``school_ids``. A school
    with several zones (its own and 공동통학구역 shared with other schools)
    splits its demand in proportion to the children living in each zone
    (dasymetric estimate below); if none of its zones has children it splits by
    zone area. A shared zone thus receives a share from each of its schools.

    **Zones → points.** Each zone is cut by a regular grid (``cell_m`` cells
    aligned to multiples of ``cell_m`` in the layer CRS, EPSG:5179) and by the
    행정동 boundaries; a cell split across two 행정동 gives two pieces. A piece
    weighs ``area(piece) × children_6_12(행정동) / area(행정동)``. Pieces outside
    every 행정동 (a zone crossing the 시군구 border) or in a 행정동 without a
    population count take the mean density of the known part of their zone;
    a zone whose weights are all zero (no children anywhere, or no 행정동 at all)
    falls back to area weighting. Either way the zone's demand is normalised
    over its pieces, so Σ points = zone demand exactly. The point is the piece
    centroid, or a point on its surface when the centroid falls outside, so it
    always lies inside its zone.

    **Edge cases.** A school with demand but no zone (warned) becomes one demand
    point at the school itself (``zone_id`` missing, ``basis = "school_point"``).
    A zone with no school data (warned) keeps its points with ``children`` but
    ``demand = 0``: demand comes from pupils only. Schools with unknown demand
    (NaN) count as no school data.

    Parameters
    ----------
    school_dem
        Output of :func:`school_demand` (index ``school_id``, ``demand``, ``pupils``, points).
    zones
        school_zones layer (index ``zone_id``, ``school_ids``, polygons).
    admin_areas
        admin_areas layer (index ``adm_code``) with ``children_col``.
    cell_m
        Grid cell size in metres.
    priority_share
        Share (0–1) of priority children (기초수급·차상위·한부모) per 행정동
        (indexed by ``adm_code``) or per 학구 (``zone_id``). Missing areas count as 0.
    priority_weight
        Weight of a priority child; ``priority_demand = demand × (1 + share × (weight − 1))``,
        i.e. the priority part of the demand counts ``weight`` times. Σ priority_demand ≥ Σ demand.
    children_col
        Column of ``admin_areas`` with the children 6–12.
    min_outside_m2
        Pieces outside every 행정동 smaller than this are dropped as digitising
        slivers (mass stays conserved). Default: 1 % of a cell.
    progress
        Show a progress bar over grid chunks.

    Returns
    -------
    geopandas.GeoDataFrame
        Index ``point_id`` (``"{zone_id}_{x}_{y}_{adm_code}"`` with the cell's lower-left
        corner in metres; ``"out"`` for no 행정동), columns ``zone_id``, ``adm_code``,
        ``children``, ``pupils``, ``demand``, ``priority_demand``, ``area_m2``, ``basis``
        (``children`` / ``imputed`` / ``area`` / ``school_point``) and point geometry.
        ``attrs["demand"]`` records the rates, cell size, fallbacks and the
        school → zone split for reports.
    """
    _check_cell(cell_m)
    _check_layers(school_dem=school_dem, zones=zones, admin_areas=admin_areas)
    for frame, what, name in ((school_dem, "school_dem", "school_id"), (zones, "zones", "zone_id"),
                              (admin_areas, "admin_areas", "adm_code")):
        _check_unique_index(frame, what, name)
    if "demand" not in school_dem.columns:
        msg = "school_dem needs a `demand` column; compute it with careplan.demand.school_demand()."
        raise MissingColumnError(msg)
    children = _children(admin_areas, children_col)
    min_outside = 0.01 * cell_m**2 if min_outside_m2 is None else float(min_outside_m2)

    zones = zones.copy()
    zones.index = zones.index.astype(str)
    known = school_dem["demand"].notna()
    links = _zone_links(zones)
    links = links[links["zone_id"].isin(zones.index)]
    links, renamed = _match_numeric_ids(links, school_dem.index.astype(str))
    unknown_ids = sorted(set(links["school_id"]) - set(school_dem.index[known]))
    links = links[links["school_id"].isin(school_dem.index[known])]
    no_zone = school_dem.index[known & ~school_dem.index.isin(links["school_id"])]
    no_data = zones.index[~zones.index.isin(links["zone_id"])]

    pieces = _dasymetric_pieces(zones, admin_areas, children, cell_m=cell_m,
                                min_outside_m2=min_outside, progress=progress)
    weight, basis, estimate, fallback = _weights(pieces, len(zones))
    split = _split_schools(links, zones, estimate)

    pupils = school_dem.get("pupils", pd.Series(np.nan, index=school_dem.index)).astype(float)
    split["demand"] = split["share"] * school_dem["demand"].reindex(split["school_id"]).to_numpy()
    split["pupils"] = split["share"] * pupils.reindex(split["school_id"]).to_numpy()
    zone_pos = pd.Series(np.arange(len(zones)), index=zones.index)
    z = zone_pos[split["zone_id"]].to_numpy()
    zone_demand = np.bincount(z, weights=split["demand"].to_numpy(), minlength=len(zones))
    zone_pupils = np.bincount(z, weights=np.nan_to_num(split["pupils"].to_numpy()),
                              minlength=len(zones))
    zone_weight = np.bincount(pieces["zone"].to_numpy(), weights=weight, minlength=len(zones))

    zp = pieces["zone"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(zone_weight[zp] > 0, weight / zone_weight[zp], 0.0)
    zone_id = zones.index.to_numpy(dtype=object)[zp]
    out = pd.DataFrame(
        {
            "zone_id": zone_id,
            "adm_code": pieces["adm_code"].to_numpy(),
            "children": pieces["children"].to_numpy(),
            "pupils": zone_pupils[zp] * frac,
            "demand": zone_demand[zp] * frac,
            "area_m2": pieces["area_m2"].to_numpy(),
            "basis": basis,
        },
        index=pd.Index(_point_ids(zone_id, pieces, cell_m), name="point_id"),
    )
    geometry = _points_geometry(pieces["geometry"].to_numpy(dtype=object))
    out = gpd.GeoDataFrame(out, geometry=geometry, crs=zones.crs)
    out = out.iloc[np.lexsort((pieces["ix"].to_numpy(), pieces["iy"].to_numpy(), zp))]
    if len(no_zone):
        out = pd.concat([out, _school_points(school_dem.loc[no_zone], admin_areas, pupils)])
    out.index.name = "point_id"

    priority, key, missing_share = _priority(out, priority_share, priority_weight, zones.index,
                                             admin_areas.index.astype(str))
    out["priority_demand"] = priority
    out = out[["zone_id", "adm_code", "children", "pupils", "demand", "priority_demand",
               "area_m2", "basis", "geometry"]]

    imputed = sorted(set(out.loc[out["basis"] == "imputed", "zone_id"]))
    area_zones = list(zones.index[fallback])
    _warn_edges(no_zone, no_data)
    out.attrs["demand"] = DemandNotes({
        **school_dem.attrs.get("demand", {}),
        "cell_m": float(cell_m),
        "children_col": children_col,
        "priority_weight": float(priority_weight),
        "priority_by": key,
        "priority_share_missing": missing_share,
        "total_demand": float(out["demand"].sum()),
        "schools_without_zone": list(no_zone),
        "zones_without_school_data": list(no_data),
        "zone_school_ids_unknown": unknown_ids,
        "zones_area_weighted": area_zones,
        "zones_imputed_outside": imputed,
        "school_zone_split": split[["school_id", "zone_id", "share"]].values.tolist(),
        "notes": _notes(no_zone, no_data, area_zones, imputed, missing_share)
        + ([f"학구의 숫자 학교ID를 학교 목록의 ID로 맞춤 (numeric ids matched, e.g. 1 = 001): {renamed[:10]}"]
           if renamed else []),
    })
    logger.info("demand points: %d points in %d zones, demand %.1f (cell %g m)",
                len(out), len(zones), out["demand"].sum(), cell_m)
    return out


def _numeric_key(value: str) -> str:
    """``"001"``, ``"1"``, ``"1.0"`` → ``"1"`` (a spreadsheet drops leading zeros); other text unchanged."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else str(value)


def _match_numeric_ids(links: pd.DataFrame, school_ids: pd.Index) -> tuple[pd.DataFrame, list[str]]:
    """Link a zone's ``school_ids`` that miss the school list only by number format (1 vs "001") to the
    one school they name; ambiguous or unknown ids stay as they are (reported as unknown)."""
    missing = ~links["school_id"].isin(school_ids)
    if not missing.any():
        return links, []
    keys = pd.Series(school_ids, index=[_numeric_key(s) for s in school_ids])
    unique = keys[~keys.index.duplicated(keep=False)]
    found = links.loc[missing, "school_id"].map(lambda s: unique.get(_numeric_key(s)))
    found = found.dropna()
    links = links.copy()
    renamed = [f"{old}→{new}" for old, new in zip(links.loc[found.index, "school_id"], found, strict=True)]
    links.loc[found.index, "school_id"] = found
    return links, renamed


def _split_schools(
    links: pd.DataFrame, zones: gpd.GeoDataFrame, estimate: np.ndarray
) -> pd.DataFrame:
    """Share of each school's demand per zone: ∝ children in the zone, else ∝ zone area."""
    split = links.reset_index(drop=True).copy()
    kids = pd.Series(estimate, index=zones.index)
    area = zones.geometry.area
    split["kids"] = kids.reindex(split["zone_id"]).to_numpy()
    split["area"] = area.reindex(split["zone_id"]).to_numpy()
    total_kids = split.groupby("school_id")["kids"].transform("sum")
    total_area = split.groupby("school_id")["area"].transform("sum")
    split["share"] = np.where(total_kids > 0, split["kids"] / total_kids,
                              split["area"] / total_area)
    return split[["school_id", "zone_id", "share"]]


def _point_ids(zone_id: np.ndarray, pieces: pd.DataFrame, cell_m: float) -> np.ndarray:
    x = (pieces["ix"].to_numpy() * cell_m).round().astype(np.int64).astype(str)
    y = (pieces["iy"].to_numpy() * cell_m).round().astype(np.int64).astype(str)
    adm = pieces["adm_code"].fillna("out").to_numpy(dtype=str)
    return (pd.Series(zone_id, dtype=str) + "_" + x + "_" + y + "_" + adm).to_numpy()


def _school_points(schools: gpd.GeoDataFrame, admin_areas: gpd.GeoDataFrame,
                   pupils: pd.Series) -> gpd.GeoDataFrame:
    """One demand point at each school that has no zone."""
    bad = schools.geometry.isna() | schools.geometry.is_empty
    if bad.any():
        msg = (
            f"schools {list(schools.index[bad])[:10]} have no zone and no location, so their "
            "demand cannot be placed; give them coordinates or a 학구 in school_ids."
        )
        raise InputDataError(msg)
    tree = shapely.STRtree(np.asarray(admin_areas.geometry.array, dtype=object))
    s_idx, a_idx = tree.query(np.asarray(schools.geometry.array, dtype=object), predicate="within")
    first = ~pd.Series(s_idx).duplicated().to_numpy()
    adm = pd.Series(None, index=schools.index, dtype=object)
    adm.iloc[s_idx[first]] = admin_areas.index.to_numpy(dtype=object)[a_idx[first]]
    return gpd.GeoDataFrame(
        {
            "zone_id": None,
            "adm_code": adm.to_numpy(),
            "children": np.nan,
            "pupils": pupils.reindex(schools.index).to_numpy(),
            "demand": schools["demand"].to_numpy(dtype=float),
            "area_m2": np.nan,
            "basis": "school_point",
        },
        index=pd.Index(schools.index.astype(str) + "_school", name="point_id"),
        geometry=schools.geometry.to_numpy(), crs=schools.crs,
    )


def _warn_edges(no_zone: pd.Index, no_data: pd.Index) -> None:
    if len(no_zone):
        msg = (
            f"{len(no_zone)} school(s) have no 학구 in the zones' school_ids; their demand was "
            f"placed as one point at the school: {list(no_zone)[:10]}. Add their 학구 to place it "
            "where children live."
        )
        warnings.warn(msg, CareplanWarning, stacklevel=3)
    if len(no_data):
        msg = (
            f"{len(no_data)} 학구 have no school with pupil data, so their points carry children but "
            f"demand 0: {list(no_data)[:10]}. Add those schools (and their 학교알리미 counts) or use "
            "population_demand() for them."
        )
        warnings.warn(msg, CareplanWarning, stacklevel=3)


def _notes(no_zone, no_data, area_zones, imputed, missing_share) -> list[str]:
    notes = []
    if len(no_zone):
        notes.append(f"학구 없는 학교 → 학교 위치에 수요 배치: {list(no_zone)}")
    if len(no_data):
        notes.append(f"학교 자료 없는 학구 → 수요 0: {list(no_data)}")
    if area_zones:
        notes.append(f"아동 인구 0 또는 행정동 밖 → 면적 비례 배분: {area_zones}")
    if imputed:
        notes.append(f"행정동 밖(시군구 경계 넘음) 부분 → 학구 평균 밀도 적용: {imputed}")
    if missing_share:
        notes.append(f"우선돌봄 비율 없음 → 0으로 처리: {missing_share}")
    return notes


# ---------------------------------------------------------------------------------------------
# public: population-only demand


def population_demand(
    admin_areas: gpd.GeoDataFrame,
    *,
    rate: float = DEFAULT_SPECIAL_RATE,
    cell_m: float = 100.0,
    children_col: str = "children_6_12",
    priority_share: pd.Series | None = None,
    priority_weight: float = DEFAULT_PRIORITY_WEIGHT,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Demand from the 행정동 child population alone, for places without school data.

    Each 행정동's ``children_6_12 × rate`` is spread over grid pieces of the
    행정동 in proportion to area (uniform density inside a 행정동 is all we know),
    normalised so each 행정동's points sum exactly to its demand.

    Parameters
    ----------
    admin_areas
        admin_areas layer (index ``adm_code``) with ``children_col``.
    rate
        Overall need rate, 0.24 by default (DOMAIN.md §5: 23–24 % of 6–12세 use care).
    cell_m
        Grid cell size in metres.
    children_col, priority_share, priority_weight, progress
        As in :func:`demand_points` (``priority_share`` indexed by ``adm_code``).

    Returns
    -------
    geopandas.GeoDataFrame
        Same columns as :func:`demand_points` (``zone_id`` missing, ``pupils`` NaN,
        ``basis = "population"``); index ``"{adm_code}_{x}_{y}"``. 행정동 without a
        population count place no points (warned).
    """
    _check_cell(cell_m)
    if not _is_rate(rate):
        msg = f"rate must be a share between 0 and 1 (0.24 by default); got {rate!r}."
        raise SettingsError(msg)
    _check_layers(admin_areas=admin_areas)
    _check_unique_index(admin_areas, "admin_areas", "adm_code")
    children = _children(admin_areas, children_col)
    unknown = children.index[children.isna()]
    if len(unknown):
        msg = (
            f"{len(unknown)} 행정동 have no `{children_col}` and place no demand: "
            f"{list(unknown)[:10]}. Join the 주민등록 population with read_admin_areas(population=...)."
        )
        warnings.warn(msg, CareplanWarning, stacklevel=2)
    admin = admin_areas[children.notna()]
    pieces = _cell_pieces(admin.geometry, cell_m, progress=progress)
    owner = pieces["owner"].to_numpy()
    geoms = pieces["geometry"].to_numpy(dtype=object)
    area = shapely.area(geoms)
    total_area = np.bincount(owner, weights=area, minlength=len(admin))
    kids = children[admin.index].to_numpy()[owner] * area / total_area[owner]
    codes = admin.index.to_numpy(dtype=object)[owner]
    x = (pieces["ix"].to_numpy() * cell_m).round().astype(np.int64).astype(str)
    y = (pieces["iy"].to_numpy() * cell_m).round().astype(np.int64).astype(str)
    ids = (pd.Series(codes, dtype=str) + "_" + x + "_" + y).to_numpy()
    out = gpd.GeoDataFrame(
        {"zone_id": None, "adm_code": codes, "children": kids, "pupils": np.nan,
         "demand": kids * rate, "area_m2": area, "basis": "population"},
        index=pd.Index(ids, name="point_id"), geometry=_points_geometry(geoms), crs=admin.crs,
    )
    priority, key, missing = _priority(out, priority_share, priority_weight, pd.Index([]),
                                       admin.index.astype(str))
    out["priority_demand"] = priority
    out = out[["zone_id", "adm_code", "children", "pupils", "demand", "priority_demand",
               "area_m2", "basis", "geometry"]]
    out.attrs["demand"] = DemandNotes({
        "rate": float(rate), "cell_m": float(cell_m), "children_col": children_col,
        "priority_weight": float(priority_weight), "priority_by": key,
        "priority_share_missing": missing, "admin_without_population": list(unknown),
        "total_demand": float(out["demand"].sum()),
        "notes": [f"학교 자료 없음: 행정동 아동(6–12세) × {rate:g}, 면적 비례 배분"],
    })
    return out


# ---------------------------------------------------------------------------------------------
# public: summaries


def summarise(
    points: gpd.GeoDataFrame,
    school_dem: pd.DataFrame | None = None,
    *,
    by: Literal["zone_id", "adm_code"] = "zone_id",
    korean: bool = False,
) -> pd.DataFrame:
    """Totals per 학구 or per 행정동: pupils, children, demand, priority demand.

    Parameters
    ----------
    points
        Output of :func:`demand_points` or :func:`population_demand`.
    school_dem
        Output of :func:`school_demand`; with ``by="zone_id"`` adds the schools
        feeding each zone (``school_ids``, ``school_names``, ``n_schools``), read from
        the school → zone split the points recorded.
    by
        {"zone_id", "adm_code"}
        Group by 학구 or by 행정동. Points with no group (a school point without
        zone, a piece outside every 행정동) form a group labelled ``"(없음)"``.
    korean
        Rename columns and index with Korean report labels (:data:`LABELS_KO`).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``pupils``, ``children``, ``demand``, ``priority_demand``,
        ``n_points``, ``demand_per_child`` (demand / children).
    """
    if by not in {"zone_id", "adm_code"}:
        msg = f"`by` must be 'zone_id' or 'adm_code'; got {by!r}."
        raise SettingsError(msg)
    key = points[by].astype(object).where(points[by].notna(), "(없음)")
    grouped = points.groupby(key, sort=True)
    table = pd.DataFrame(
        {
            "pupils": grouped["pupils"].sum(min_count=1),
            "children": grouped["children"].sum(min_count=1),
            "demand": grouped["demand"].sum(),
            "priority_demand": grouped["priority_demand"].sum(),
            "n_points": grouped.size(),
        }
    )
    table["demand_per_child"] = table["demand"] / table["children"].where(table["children"] > 0)
    table.index.name = by
    split = points.attrs.get("demand", {}).get("school_zone_split")
    if by == "zone_id" and school_dem is not None and split:
        links = pd.DataFrame(split, columns=["school_id", "zone_id", "share"])
        names = school_dem.get("name", pd.Series(dtype=object))
        links["name"] = links["school_id"].map(names)
        per_zone = links.groupby("zone_id")
        table["school_ids"] = per_zone["school_id"].agg(",".join)
        table["school_names"] = per_zone["name"].agg(lambda s: ",".join(s.dropna().astype(str)))
        table["n_schools"] = per_zone.size().reindex(table.index).fillna(0).astype(int)
    if korean:
        table = table.rename(columns=dict(LABELS_KO))
        table.index.name = LABELS_KO[by]
    return table

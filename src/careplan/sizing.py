"""Size guards: refuse a run that would not fit in memory, with the numbers and the fix, before allocating.

Two pieces of work grow without bound with the settings:

* the demand grid — :func:`careplan.demand.demand_points` walks every ``cell_m`` cell of each 학구's
  bounding box (cells aligned to multiples of ``cell_m``) and keeps one demand point per cell piece;
* the walk-time matrix — :func:`careplan.network.walk_times` stores every (demand point, destination)
  pair within ``max(15, max_walk_min)`` minutes; destinations are the facilities and the siting
  candidates (the user's list, or a ``[siting] grid_m`` grid over the 행정동).

The estimates use only the layers' extents and row counts (no geometry is cut). Memory per unit is
measured by ``benchmarks/bench_sizing.py`` (``benchmarks/results/sizing.md``): on the sample, a run's peak
grows by about 2.4 KB per grid cell together with its walk-time pairs; :data:`BYTES_PER_CELL` (4 KB, from
the 250-시군구 run's 2.0 GB for 584,646 points in ``benchmarks/results/scale.md``, which carries more columns)
and :data:`BYTES_PER_PAIR` err on the large side when a refusal states the memory. The pair estimate assumes
destinations spread evenly over the 학구 extent; on the sample it counts about 25 % fewer pairs than a run
stores, well inside the margin between :data:`MAX_TIME_PAIRS` and this machine's 24 GB.
The limits let a whole 시군구 run at ``cell_m = 100`` comfortably (the largest, about 1,800 km², is
180,000 cells of 100 m, 11× below :data:`MAX_GRID_CELLS`; 학구 bounding boxes overlap and lay somewhat more).
Region runs (``careplan region``) work 시군구 by 시군구: :func:`check_region_size` holds each
시군구's grid to the same limit.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from ._errors import SettingsError

__all__ = ["BYTES_PER_CELL", "BYTES_PER_PAIR", "MAX_GRID_CELLS", "MAX_TIME_PAIRS", "check_region_size",
           "check_run_size", "grid_cells"]

#: Most demand-grid cells (over the 학구 bounding boxes) one run may lay: ≈ 8 GB at BYTES_PER_CELL.
MAX_GRID_CELLS = 2_000_000
#: Most point–destination pairs within the walk cut-off one run may store: ≈ 6.5 GB at BYTES_PER_PAIR.
MAX_TIME_PAIRS = 50_000_000
#: Peak memory per grid cell (clipped pieces, demand points, coverage and access tables) [measured, see above].
BYTES_PER_CELL = 4_000
#: Peak memory per stored walk-time pair (KD-tree output, mask, sparse matrix) [estimated, see above].
BYTES_PER_PAIR = 130


def grid_cells(geoms, cell_m: float) -> int:
    """Cells :func:`careplan.demand.demand_points` visits: the ``cell_m`` grid over each geometry's bounds."""
    bounds = shapely.bounds(np.asarray(geoms, dtype=object))
    bounds = bounds[np.isfinite(bounds).all(axis=1)]  # empty geometries have no cells
    if not len(bounds):
        return 0
    nx = np.maximum(np.ceil(bounds[:, 2] / cell_m) - np.floor(bounds[:, 0] / cell_m), 1)
    ny = np.maximum(np.ceil(bounds[:, 3] / cell_m) - np.floor(bounds[:, 1] / cell_m), 1)
    return int((nx * ny).sum())


def check_run_size(scenario, inputs, *, network: bool) -> None:
    """Raise :class:`SettingsError` when the demand grid or the walk-time work of a run is too large.

    ``scenario`` is a :class:`careplan.pipeline.Scenario`, ``inputs`` its layers as read; ``network``:
    whether times come from a walk network (no detour factor shortens the straight-line reach).
    """
    zones = inputs.zones.geometry.to_numpy()
    cells = grid_cells(zones, scenario.cell_m)
    _check_cells(zones, scenario.cell_m, cells, "학구 범위 (the 학구 extent)")
    n_sites = _candidate_count(scenario, inputs)
    if n_sites > MAX_GRID_CELLS:
        admin = inputs.admin_areas.geometry.to_numpy()
        msg = (f"[siting] grid_m = {scenario.siting_grid_m:g} → 후보지 격자 약 {n_sites:,}곳 (about {n_sites:,} "
               f"grid candidate sites; limit {MAX_GRID_CELLS:,}); grid_m ≥ {_fit(admin, scenario.siting_grid_m)} "
               "을 쓰거나 후보지 파일을 주세요 (use a larger grid_m or a [data] candidates file)")
        raise SettingsError(msg)
    pairs = _pairs(scenario, zones, cells, len(inputs.facilities) + n_sites, network=network)
    if pairs > MAX_TIME_PAIRS:
        cutoff = max(15.0, scenario.max_walk_min)
        msg = (f"도보시간 계산이 너무 큽니다: 수요점 약 {cells:,} × 목적지 {len(inputs.facilities) + n_sites:,} 중 "
               f"{cutoff:g}분 안의 쌍 약 {pairs:,}개, 메모리 ≈ {_gb(pairs * BYTES_PER_PAIR)} (walk-time work too "
               f"large: about {pairs:,} point–destination pairs within {cutoff:g} min; limit {MAX_TIME_PAIRS:,}); "
               "[analysis] cell_m 또는 [siting] grid_m 을 키우거나 max_walk_min 을 줄이세요 (use a larger cell_m "
               "or grid_m, a smaller max_walk_min, or a [data] candidates file)")
        raise SettingsError(msg)


def check_region_size(scenario, zones, zone_owner, names: dict[str, str]) -> None:
    """For ``careplan region``: each 시군구's demand grid must fit one worker (the limit of one run).

    ``zone_owner`` is the ``sigungu_code`` computing each 학구 (:func:`careplan.scale.demand_owners`),
    ``names`` the 시군구 name of each code.
    """
    owner = zone_owner.reindex(zones.index).astype(str).to_numpy()
    geoms = zones.geometry.to_numpy()
    cells = {code: grid_cells(geoms[owner == code], scenario.cell_m) for code in np.unique(owner)}
    if cells:
        code = max(cells, key=cells.__getitem__)  # the largest names the fix for all
        _check_cells(geoms[owner == code], scenario.cell_m, cells[code], f"{names.get(code, code)} ({code})")


def _check_cells(geoms, cell_m: float, cells: int, where: str) -> None:
    if cells > MAX_GRID_CELLS:
        fit = _fit(geoms, cell_m)
        msg = (f"[analysis] cell_m = {cell_m:g} → {where}에 격자 약 {cells:,}칸, 메모리 ≈ "
               f"{_gb(cells * BYTES_PER_CELL)} (about {cells:,} demand-grid cells; limit {MAX_GRID_CELLS:,}); "
               f"cell_m ≥ {fit} 을 쓰세요 (use cell_m ≥ {fit}, 100 is the default)")
        raise SettingsError(msg)


def _candidate_count(scenario, inputs) -> int:
    """Siting candidates: the user's list, or about area / grid_m² points over the 행정동."""
    if inputs.candidates is not None:
        return len(inputs.candidates)
    if not (scenario.siting_kinds and scenario.siting_sites):
        return 0
    return grid_cells(inputs.admin_areas.geometry.to_numpy(), scenario.siting_grid_m)


def _pairs(scenario, zones, points: int, destinations: int, *, network: bool) -> int:
    """Pairs within reach: points × destinations × the share of the 학구 extent a walk covers."""
    bounds = shapely.bounds(np.asarray(zones, dtype=object))
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    if not len(bounds) or not destinations:
        return 0
    width = bounds[:, 2].max() - bounds[:, 0].min()
    height = bounds[:, 3].max() - bounds[:, 1].min()
    reach = max(15.0, scenario.max_walk_min) * scenario.walk_speed_kmh * 1000 / 60
    if not network:
        reach /= scenario.detour_factor
    # the walk disc, clipped to the extent on each axis
    share = min(1.0, min(2 * reach, width) * min(2 * reach, height) * math.pi / 4 / max(width * height, 1.0))
    return int(points * destinations * share)


def _fit(geoms, size: float) -> int:
    """The smallest round size (a multiple of 5 m) whose grid fits within :data:`MAX_GRID_CELLS`."""
    step = max(5, 5 * math.ceil(size * math.sqrt(grid_cells(geoms, size) / MAX_GRID_CELLS) / 5))
    while grid_cells(geoms, step) > MAX_GRID_CELLS:
        step += 5
    return step


def _gb(size: float) -> str:
    return f"{size / 1e9:.1f} GB"

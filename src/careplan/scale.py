"""Scale-out: a whole 시도 or the country, partitioned by 시군구 and run on Dask.

Walk catchments are local, so the analysis splits by 시군구 with a *halo*: every
object within the walk radius that the partition's results depend on. Network
distance is never shorter than straight-line distance, so a Euclidean radius is an
exact bound. With ``R(t)`` the straight-line reach of ``t`` minutes (``t × speed``
on a network, ``t × speed / detour`` for the straight-line fallback),
``T = max(15, max_walk_min)`` the travel-time cutoff and ``A = max_walk_min``:

* **core** — the 시군구's demand points (by the 행정동 they fall in);
* **destinations** — facilities and candidate sites within ``R(T)`` of the core, so
  every core row of the travel times is complete (for 3SFCA also facilities within
  ``3·R(A)``: a halo point's selection weights need all of *its* facilities);
* **halo demand** — points within ``2·R(A)`` of the core: capacity-aware access
  (2SFCA and variants) divides a facility's places by all demand within ``R(A)`` of
  the facility, and the facilities a core point reaches are within ``R(A)`` of it;
* **graph** — nodes within ``max(R(T), 3·R(A)) + max_snap_m`` of the core: every
  shortest path that decides a needed time (and every needed snap) lies inside.

Demand is computed by its own Dask tasks: each 학구 belongs to the partition of the
시군구 holding its representative point, and 학구 linked through a shared school stay
together (a school splits its demand over all its 학구), so the partitioned demand points
are the single-process points, id for id. There is no barrier between the two kinds of
task: an access task starts as soon as the demand results it needs are in (see
``_RegionRun``).

The engine is ``dask.distributed``: a ``LocalCluster`` (one single-threaded worker
process per core, a memory limit each) by default, or any scheduler address. A failing
partition is retried and, if it still fails, reported by its 시군구 name.

A Dask task runs several neighbouring 시군구 on one halo around all of them (compact
groups of similar weight, a few per worker; see ``_tasks``): one task per 시군구 made
the halo as large as the core and Dask's cost per task as large as the work. Each
시군구 keeps its own core, siting budget and summary row.

Per-task work follows the task, not the region. Demand results stay on the worker that
computed them (each worker holds its share of the region's demand points until the run
ends); each access task gets slices of them cut on those workers (the rows in its
box), plus its nearby destinations cut on the client (an x-sorted band and a KD-tree of
its cores). The walk graph goes once to every worker, which cuts each task's nodes there
(memory: the whole graph on each worker, 31 MB pickled for 300k nodes and 546k streets).
At most a few tasks per worker are in flight; the next is cut when a result comes back.
A task's plain inputs travel as bytes pickled once by the client, which the scheduler passes
on without unpickling them.
The client's own work (the walk graph, candidate sites, the region's point table) is done
while it waits for results. Demand tasks also return each point's sort key and core
시군구; access tasks return their core rows without ids (the
client places them by position), nearest times as their non-empty cells only, and the
coverage tables, gap ranking, 시군구 summary and Gini as additive sums or short arrays, so the
client mostly concatenates. The demand notes (``attrs["demand"]``) are a shared
:class:`careplan.demand.DemandNotes`, which pandas does not copy on every operation.

With ``per_point=False`` no demand point reaches the client at all: a demand task hands it
only each point's coordinates and core 시군구 (to cut the access tasks), an access task only
its sums (and, given a ``points_dir``, writes its core points with their results as
GeoParquet), and the region tables are the same. With 2 workers on 2 cores the client shares
the cores with them, so this also leaves the workers more of the machine (see
``benchmarks/results/scale.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from . import access, coverage, demand, network, outfolder, pipeline
from ._csv import write_csv
from ._errors import CareplanError, CareplanWarning, SettingsError
from .catalog import get_catalog
from .io import zone_school_links
from .sizing import check_region_size

__all__ = [
    "SUMMARY_LABELS_KO",
    "TOTAL_LABEL",
    "HaloRadii",
    "LOCAL_CLUSTER_CONFIG",
    "RegionResult",
    "demand_owners",
    "halo_radii",
    "local_client",
    "region_summary",
    "sigungu_summary_layer",
    "run_region",
    "write_region",
]

logger = logging.getLogger(__name__)

#: Extra metres on every halo radius: rounding must only ever make a halo larger.
_PAD_M = 1.0
#: Tasks per worker: enough for the workers to share the last tasks evenly, few enough that a
#: task's halo stays a small share of its core and Dask's per-task cost stays small.
_TASKS_PER_WORKER = 6
#: Demand tasks have no halo, so they can be finer: an access task starts once the demand
#: tasks around it are done, and finer ones are done sooner.
_DEMAND_TASKS_PER_WORKER = 12
#: Area keys of the region coverage tables (None: the whole region).
_TABLE_KEYS = ("zone_id", "adm_code", "sigungu_code", None)
#: Most 학구 plus schools in one task, so a worker's memory follows the task, not the region.
_MAX_TASK_WEIGHT = 3000
TOTAL_LABEL = "합계"


# --------------------------------------------------------------------------- halo radii


@dataclass(frozen=True)
class HaloRadii:
    """Straight-line radii (metres) of one partition's halo; see the module docstring."""

    cutoff_min: float
    demand_m: float  # halo demand points: 2·R(A)
    destination_m: float  # facilities and sites: R(T) (3SFCA: max(R(T), 3·R(A)))
    graph_m: float  # graph nodes: max(R(T), 3·R(A)) + max_snap_m (0 without a graph)


def halo_radii(
    scenario: pipeline.Scenario,
    *,
    network_mode: bool,
    max_snap_m: float = network.DEFAULT_MAX_SNAP_M,
) -> HaloRadii:
    """The halo radii for ``scenario`` in network or straight-line mode.

    Parameters
    ----------
    scenario
        Supplies ``max_walk_min``, ``walk_speed_kmh``, ``detour_factor`` and ``access_method``.
    network_mode
        True when times come from a walk graph (network distance ≥ straight line),
        False for the straight-line × detour fallback (reach shrinks by the detour).
    max_snap_m
        Snap distance of the network mode: a needed node may lie this far beyond a path's reach.
    """
    cutoff = max(15.0, scenario.max_walk_min)  # as pipeline.analyse
    m_per_min = scenario.walk_speed_kmh * 1000.0 / 60.0
    per_min = m_per_min if network_mode else m_per_min / scenario.detour_factor

    def reach(minutes: float) -> float:
        return minutes * per_min * (1 + 1e-9) + _PAD_M

    times_m, access_m = reach(cutoff), reach(scenario.max_walk_min)
    dest = max(times_m, 3 * access_m) if scenario.access_method == "3sfca" else times_m
    graph_m = max(times_m, 3 * access_m) + max_snap_m + _PAD_M if network_mode else 0.0
    return HaloRadii(cutoff, 2 * access_m, dest, graph_m)


# --------------------------------------------------------------------------- ownership


def _areas_of(geoms: gpd.GeoSeries, admin_areas: gpd.GeoDataFrame) -> np.ndarray:
    """sigungu_code of the 행정동 holding each point (nearest 행정동 when in none)."""
    codes = admin_areas["sigungu_code"].astype(str).to_numpy()
    tree = shapely.STRtree(np.asarray(admin_areas.geometry.array, dtype=object))
    pts = np.asarray(geoms.array, dtype=object)
    out = np.full(len(pts), None, dtype=object)
    p_idx, a_idx = tree.query(pts, predicate="within")
    first = ~pd.Series(p_idx).duplicated().to_numpy()
    out[p_idx[first]] = codes[a_idx[first]]
    rest = np.flatnonzero(pd.isna(out))
    if len(rest):
        out[rest] = codes[tree.nearest(pts[rest])]
    return out


def demand_owners(inputs: pipeline.Inputs) -> tuple[pd.Series, pd.Series]:
    """The 시군구 that computes the demand of each 학구 and of each school.

    A 학구 goes to the 시군구 holding its representative point. 학구 and schools
    linked through ``school_ids`` form components (a school splits its demand over
    all its 학구 in proportion to their children, so they must be computed
    together); a component goes to the 시군구 of most of its 학구. A school without
    a 학구 goes to the 시군구 it stands in (nearest 행정동 when outside all).

    Returns
    -------
    zone_owner, school_owner
        ``sigungu_code`` Series indexed by ``zone_id`` and ``school_id``.
    """
    zones, schools, admin = inputs.zones, inputs.schools, inputs.admin_areas
    _check_admin(admin)
    zone_code = _areas_of(zones.geometry.representative_point(), admin)
    links = zone_school_links(zones)
    links = links[links["school_id"].isin(schools.index)]
    nz = len(zones)
    z_pos = zones.index.get_indexer(links["zone_id"])
    s_pos = nz + schools.index.get_indexer(links["school_id"])
    n = nz + len(schools)
    graph = sp.csr_matrix((np.ones(len(links)), (z_pos, s_pos)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    votes = pd.DataFrame({"label": label[:nz], "code": zone_code})
    # Most frequent code per component; ties go to the smallest code (deterministic).
    counts = votes.groupby(["label", "code"]).size().reset_index(name="n")
    counts = counts.sort_values(["label", "n", "code"], ascending=[True, False, True])
    comp_code = counts.drop_duplicates("label").set_index("label")["code"]
    zone_owner = pd.Series(
        comp_code.reindex(label[:nz]).to_numpy(), index=zones.index, name="sigungu_code"
    )
    school_label = label[nz:]
    linked = np.zeros(len(schools), dtype=bool)
    linked[s_pos - nz] = True
    school_owner = pd.Series(None, index=schools.index, dtype=object, name="sigungu_code")
    school_owner[linked] = comp_code.reindex(school_label[linked]).to_numpy()
    if (~linked).any():
        school_owner[~linked] = _areas_of(schools.geometry[~linked], admin)
    return zone_owner, school_owner


def _check_admin(admin: gpd.GeoDataFrame) -> None:
    if "sigungu_code" not in admin.columns or admin["sigungu_code"].isna().any():
        msg = (
            "admin_areas need a `sigungu_code` (5-digit 시군구 code) on every 행정동 to partition by 시군구; "
            f"columns are {list(admin.columns)[:10]} with "
            f"{int(admin.get('sigungu_code', pd.Series([None])).isna().sum())} missing codes. Read them with "
            "careplan.io.read_admin_areas, which fills the code from the 행정기관코드."
        )
        raise SettingsError(msg)


def _tasks(
    admin: gpd.GeoDataFrame,
    weight: pd.Series,
    n_workers: int,
    per_worker: int | None = None,
) -> list[tuple[str, ...]]:
    """Whole 시군구 grouped into compact Dask tasks of similar ``weight`` (학구 + schools owned).

    The partition stays the 시군구 (its own core, siting budget and summary row); a task
    runs several neighbouring ones on one halo around all of them. One task per 시군구
    made the halo 1–2× the core and Dask's cost per task as large as the work; a few
    compact tasks per worker keep both small. 시군구 are ordered along serpentine strips
    (so neighbours stay together) and cut into runs of equal weight.
    """
    codes = admin["sigungu_code"].astype(str)
    bounds = admin.geometry.bounds.groupby(codes.to_numpy()).agg(
        {"minx": "min", "miny": "min", "maxx": "max", "maxy": "max"}
    )
    w = weight.reindex(bounds.index).fillna(0.0).to_numpy(dtype=float)
    per_worker = per_worker or _TASKS_PER_WORKER
    n_tasks = max(per_worker * n_workers, int(np.ceil(w.sum() / _MAX_TASK_WEIGHT)))
    if n_tasks >= len(bounds):
        return [(c,) for c in bounds.index]
    cx, cy = (
        (bounds["minx"] + bounds["maxx"]).to_numpy() / 2,
        (bounds["miny"] + bounds["maxy"]).to_numpy() / 2,
    )
    n_strips = max(1, int(round(np.sqrt(n_tasks))))
    strip = np.minimum(
        (pd.Series(cy).rank(method="first").to_numpy() - 1) * n_strips // len(cy), n_strips - 1
    )
    serpentine = np.where(strip % 2 == 0, cx, -cx)
    order = np.lexsort((serpentine, strip))
    # a 시군구 joins the task its weight's midpoint falls in (a tiny count term spreads weightless ones)
    ws = w[order] + 1e-6 * max(w.sum(), 1.0)
    mid = np.cumsum(ws) - ws / 2
    cut = np.minimum((mid / ws.sum() * n_tasks).astype(int), n_tasks - 1)
    groups = pd.Series(bounds.index[order]).groupby(cut, sort=True)
    return [tuple(sorted(g)) for _, g in groups]


def _task_label(task: Sequence[str], names: dict[str, str]) -> str:
    return ", ".join(f"{names.get(c, c)} ({c})" for c in task)


# --------------------------------------------------------------------------- tasks (run on workers)


def _run_quietly(func: Any, *args: Any) -> tuple[Any, list[str]]:
    """Run ``func`` recording CareplanWarnings, so the client can re-issue them once each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CareplanWarning)
        result = func(*args)
    return result, [str(w.message) for w in caught if issubclass(w.category, CareplanWarning)]


def _demand_task(
    school_dem: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    admin: gpd.GeoDataFrame,
    cell_m: float,
    owners: tuple[pd.Series, int, pd.Series, pd.Series],
) -> tuple[pd.DataFrame, list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Demand points of a task's 학구, plus each point's region sort key and core 시군구.

    ``owners`` = (position of each of its 학구 among the region's, number of 학구 in the
    region, zone owner, school owner); owners are integer 시군구 codes. The key and owner
    are worked out here, in parallel, so the client only concatenates. The points come
    back as columns plus an (n, 2) coordinate array: rebuilding point geometry from
    coordinates is exact and much cheaper than decoding WKB.
    """
    points, caught = _run_quietly(
        lambda: demand.demand_points(school_dem, zones, admin, cell_m=cell_m)
    )
    zone_pos, n_zones, zone_owner, school_owner = owners
    key = points["zone_id"].map(zone_pos).fillna(n_zones).to_numpy(dtype=np.int64)
    # a point's core: the 시군구 of its 행정동, else the partition that computed its demand
    sigungu = pd.Series(admin["sigungu_index"].to_numpy(), index=admin.index)
    owner = points["adm_code"].map(sigungu)
    missing = owner.isna().to_numpy()
    if missing.any():
        owner[missing] = _demand_owner_of_points(points[missing], zone_owner, school_owner)
    xy = shapely.get_coordinates(points.geometry.array).reshape(-1, 2)
    plain = pd.DataFrame(points.drop(columns=points.geometry.name))
    return plain, caught, key, owner.fillna(-1).to_numpy(dtype=np.int64), xy


@dataclass(frozen=True)
class _Keep:
    """What a region run keeps besides the region tables."""

    points: bool = True  # every point's results, gathered to the client
    times: bool = False  # the travel-time rows (needs ``points``)
    points_dir: str | None = None  # folder the access tasks write their core points to


def _demand_meta(result: tuple) -> tuple:
    """What the client needs of a demand result when the points stay on the workers: the
    warnings, each point's core 시군구 and its coordinates (not the rows, not the sort key)."""
    _, caught, _, owner, xy = result
    return None, caught, None, owner, xy


@dataclass(frozen=True)
class _Partition:
    """One task's inputs of the access phase besides its demand points, cut on the client.

    The demand points come as slices of the demand tasks' results, cut on the workers that
    hold them (``_slice_points``); with those, a task's work and a worker's memory follow
    the task, not the region.
    """

    core_owner: np.ndarray  # 시군구 code of each core row, in the order the slices give them
    facilities: gpd.GeoDataFrame  # within the destination radius of the core
    sites: gpd.GeoDataFrame
    area: gpd.GeoDataFrame  # the 시군구's 행정동 (siting stays inside each 시군구)


@dataclass(frozen=True)
class _PartitionOutput:
    """One task's results; ``nearest`` and ``scores`` hold its core rows, slice by slice (the
    order of ``_RegionRun._core`` for the task), or none of them (``per_point=False``)."""

    codes: tuple[str, ...]
    nearest: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # CSR arrays of the non-NaN times
    nearest_columns: pd.MultiIndex  # (slot, kind)
    scores: pd.DataFrame  # 0 rows with per_point=False (columns and attrs still tell the method)
    equity: np.ndarray  # (2, n core rows): access score and weight, for the region's Gini
    by_sigungu: pd.DataFrame  # demand, covered and unmet demand of each of its 시군구 (summary)
    proposed: dict[str, gpd.GeoDataFrame | None]  # by 시군구
    #: coverage.coverage_sums of the cores, by area key (additive over tasks)
    sums: dict[str | None, tuple[pd.DataFrame, pd.Series]]
    gap_sums: dict[str, pd.DataFrame]  # access.gap_sums of the cores (additive over tasks)
    #: core row, destination position, minutes, destination ids (with keep_times)
    times: tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index] | None
    params: dict
    method_label: str
    stats: list[dict]  # one row per 시군구 (task-wide sizes repeated)
    unsnapped: pd.Index  # core points too far from the walk network (empty in straight line)
    points_file: str | None  # written by the task (_Keep.points_dir)
    warnings: list[str] = field(default_factory=list)


class _BandIndex:
    """Points sorted by x: a partition's box is one ``searchsorted`` band, not a scan of the region."""

    def __init__(self, xy: np.ndarray) -> None:
        self.xy = xy
        self.order = np.argsort(xy[:, 0], kind="stable")
        self.x_sorted = xy[self.order, 0]

    def near(self, tree: cKDTree, core_xy: np.ndarray, radius_m: float) -> np.ndarray:
        """Sorted positions of the points within ``radius_m`` of any core point (box, then KD-tree)."""
        if not len(core_xy) or not len(self.xy):
            return np.zeros(0, dtype=np.intp)
        lo, hi = core_xy.min(axis=0) - radius_m, core_xy.max(axis=0) + radius_m
        a = np.searchsorted(self.x_sorted, lo[0], side="left")
        b = np.searchsorted(self.x_sorted, hi[0], side="right")
        band = self.order[a:b]
        y = self.xy[band, 1]
        box = band[(y >= lo[1]) & (y <= hi[1])]
        if not len(box):
            return box
        dist, _ = tree.query(self.xy[box], k=1, distance_upper_bound=radius_m)
        return np.sort(box[np.isfinite(dist)])


@dataclass(frozen=True)
class _SharedGraph:
    """The region's walk graph with its nodes sorted by x, sent once to every worker.

    Each access task cuts its own slice there (``around``) instead of the client cutting one
    for every task and shipping it (a few MB each) through the scheduler.
    """

    graph: network.WalkGraph
    nodes: _BandIndex

    @classmethod
    def of(cls, graph: network.WalkGraph) -> _SharedGraph:
        return cls(graph, _BandIndex(np.column_stack([graph.x, graph.y])))

    def around(self, core_xy: np.ndarray, radius_m: float) -> network.WalkGraph:
        """The graph on the nodes within ``radius_m`` of any core point."""
        return _subgraph(self.graph, self.nodes.near(cKDTree(core_xy), core_xy, radius_m))


def _subgraph(graph: network.WalkGraph, nodes: np.ndarray) -> network.WalkGraph:
    """The walk graph on the sorted node positions ``nodes`` (row and column slices of its CSR)."""
    adjacency = graph.adjacency[nodes][:, nodes].tocsr()
    return network.WalkGraph(
        adjacency,
        graph.node_ids[nodes],
        graph.x[nodes],
        graph.y[nodes],
        graph.crs,
        graph.walk_speed_kmh,
        graph.source,
    )


def _slice_points(
    demand_result: tuple, box: tuple[float, float, float, float], core_rows: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows of one demand task's points that a task may need: in ``box`` or in its core.

    Runs where the demand result lives, so only the slice travels (columns and coordinates:
    cheaper to ship than geometry). Returns the rows (in their order), their coordinates
    and which of them are core rows.
    """
    frame, xy = demand_result[0], demand_result[4]
    keep = (xy[:, 0] >= box[0]) & (xy[:, 0] <= box[2]) & (xy[:, 1] >= box[1]) & (xy[:, 1] <= box[3])
    core = np.zeros(len(frame), dtype=bool)
    core[core_rows] = True
    keep |= core
    rows = np.flatnonzero(keep)
    piece = frame.iloc[rows]
    piece.attrs = {}  # the task's notes are the client's; no need to ship them again
    return piece, xy[rows], core[keep]


def _halo_points(
    slices: list[tuple[pd.DataFrame, np.ndarray, np.ndarray]], radius_m: float, crs: Any
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Core points plus the others within ``radius_m`` of any of them (KD-tree of the core)."""
    frame = pd.concat([piece for piece, _, _ in slices])
    xy = np.concatenate([xy for _, xy, _ in slices])
    core = np.concatenate([mask for _, _, mask in slices])
    rim = np.flatnonzero(~core)
    keep = core.copy()
    if core.any() and len(rim):
        dist, _ = cKDTree(xy[core]).query(xy[rim], k=1, distance_upper_bound=radius_m)
        keep[rim[np.isfinite(dist)]] = True
    rows = np.flatnonzero(keep)
    points = gpd.GeoDataFrame(frame.iloc[rows], geometry=shapely.points(xy[rows]), crs=crs)
    return points, core[rows]


def _analyse_partition(
    part: _Partition,
    codes: tuple[str, ...],
    crs: Any,
    scenario: pipeline.Scenario,
    radii: HaloRadii,
    catalog: dict,
    keep: _Keep,
    slices: list,
    shared_graph: _SharedGraph | None,
) -> _PartitionOutput:
    """Walk times, coverage, access and siting of a task's 시군구 (their cores) on their halo."""
    t0 = time.perf_counter()
    points, core = _halo_points(slices, radii.demand_m, crs)
    graph = None
    if shared_graph is not None:
        core_xy = shapely.get_coordinates(points.geometry.array[core]).reshape(-1, 2)
        graph = shared_graph.around(core_xy, radii.graph_m)
    result, caught = _run_quietly(
        _analyse_core, part, points, core, codes, graph, scenario, radii, catalog, keep
    )
    for row in result.stats:
        row["seconds"] = time.perf_counter() - t0
    return dataclasses.replace(result, warnings=caught)


def _analyse_core(
    part: _Partition,
    points: gpd.GeoDataFrame,
    core: np.ndarray,
    codes: tuple[str, ...],
    graph: network.WalkGraph | None,
    scenario: pipeline.Scenario,
    radii: HaloRadii,
    catalog: dict,
    keep: _Keep,
) -> _PartitionOutput:
    facilities, sites = part.facilities, part.sites
    destinations = _destinations(facilities, sites)
    # Core points need every destination (coverage, siting); halo points only the facilities (access).
    core_points = points.iloc[np.flatnonzero(core)]
    halo_only = points.iloc[np.flatnonzero(~core)]
    options = {
        "graph": graph,
        "cutoff_min": radii.cutoff_min,
        "walk_speed_kmh": scenario.walk_speed_kmh,
        "detour_factor": scenario.detour_factor,
        "warn": False,  # points far from the network: one region-wide warning from the client
    }
    core_times = network.walk_times(core_points, destinations, **options)
    # Halo rows only feed access, which never looks past max_walk_min: a shorter search
    # (about (A/T)² of the pairs) gives the same scores.
    halo_options = {**options, "cutoff_min": min(radii.cutoff_min, float(scenario.max_walk_min))}
    halo_times = network.walk_times(halo_only, facilities[["geometry"]], **halo_options)
    # Halo rows get empty site columns: a core row keeps its sites, as access_scores reads "no
    # destination in reach" (NaN) from the whole row, sites included, in the single-process run.
    halo_rows = sp.csr_matrix(
        (halo_times.matrix.data, halo_times.matrix.indices, halo_times.matrix.indptr),
        shape=(len(halo_only), len(destinations)),
    )
    both = sp.vstack([core_times.matrix, halo_rows]).tocsr()
    access_times = network.TravelTimes(
        both,
        core_points.index.append(halo_only.index),
        destinations.index,
        radii.cutoff_min,
        core_times.distance_method,
        core_times.params,
    )
    cov = coverage.coverage(
        core_points,
        facilities,
        core_times,
        slots=scenario.slots,
        max_walk_min=scenario.max_walk_min,
        catalog=catalog,
    )
    access_points = pd.concat([core_points, halo_only])
    scores = access.access_scores(
        access_points,
        facilities,
        access_times,
        method=scenario.access_method,
        max_walk_min=scenario.max_walk_min,
    ).iloc[: len(core_points)]
    proposed = {
        code: _propose_in(code, part, scenario, core_points, core_times, catalog) for code in codes
    }
    # the coverage tables add up over disjoint cores: the client only sums these
    with_code = core_points.assign(sigungu_code=part.core_owner)
    sums = {by: coverage.coverage_sums(cov, with_code, by=by) for by in _TABLE_KEYS}
    kept = None
    if keep.times:
        m = core_times.matrix.tocoo()
        kept = (m.row, m.col, m.data, core_times.destination_ids)
    task = {
        "task": codes[0],
        "halo_points": len(points),
        "facilities": len(facilities),
        "sites": len(sites),
        "graph_nodes": 0 if graph is None else graph.n_nodes,
        "pairs": int(core_times.matrix.nnz),
        "worker_pid": os.getpid(),
    }
    stats = [
        {"sigungu_code": code, "core_points": int((part.core_owner == code).sum()), **task}
        for code in codes
    ]
    params = {k: v for k, v in core_times.params.items() if not k.startswith("unsnapped")}
    # core rows in slice order: the client places them by position, so no ids travel back
    nearest, rows = (
        (_pack_nearest(cov.nearest_min), scores.reset_index(drop=True))
        if keep.points
        else (None, scores.iloc[:0])
    )
    points_file = None
    if keep.points_dir is not None:
        points_file = _write_points(
            keep.points_dir, codes, core_points, part.core_owner, scores, cov, scenario
        )
    return _PartitionOutput(
        codes,
        nearest,
        cov.nearest_min.columns,
        rows,
        np.vstack(pipeline._equity_inputs(scores)),  # the single process's Gini inputs
        _summary_sums(scenario, core_points, part.core_owner, cov, scores),
        proposed,
        sums,
        access.gap_sums(scores),
        kept,
        params,
        core_times.method_label,
        stats,
        core_times.params.get("unsnapped_origins", pd.Index([])),
        points_file,
    )


def _write_points(
    folder: str,
    codes: tuple[str, ...],
    core_points: gpd.GeoDataFrame,
    owner: np.ndarray,
    scores: pd.DataFrame,
    cov: coverage.CoverageResult,
    scenario: pipeline.Scenario,
) -> str:
    """A task's core points with their results as one GeoParquet file (``points-<시군구>.parquet``).

    Columns: the demand point's, ``sigungu_code``, ``access`` and ``unmet_demand`` (as
    ``access.csv``), and at ``scenario.siting_slot`` the minutes to the nearest eligible
    facility (``walk_min``, NaN: none within the cut-off) and whether that is within
    ``max_walk_min`` (``covered``).
    """
    key = (scenario.siting_slot, coverage.ALL_KINDS)
    layer = core_points.assign(
        sigungu_code=owner,
        access=scores["access"].to_numpy(),
        unmet_demand=scores["unmet_demand"].to_numpy(),
        walk_min=cov.nearest_min[key].to_numpy(),
        covered=cov.covered[key].to_numpy(),
    )
    layer.attrs = {}  # the demand notes are not metadata for the file
    path = Path(folder) / f"points-{codes[0]}.parquet"
    layer.to_parquet(path)
    return str(path)


def _summary_sums(
    scenario: pipeline.Scenario,
    core_points: gpd.GeoDataFrame,
    owner: np.ndarray,
    cov: coverage.CoverageResult,
    scores: pd.DataFrame,
) -> pd.DataFrame:
    """Demand, demand within walking distance at ``scenario.siting_slot`` and unmet demand of
    each 시군구 in a task's core (a 시군구 is in one core only: the client just stacks these)."""
    slot_cov = cov.covered[(scenario.siting_slot, coverage.ALL_KINDS)].to_numpy()
    d = core_points["demand"].astype(float).fillna(0.0).to_numpy()
    frame = pd.DataFrame(
        {
            "demand": d,
            "covered": d * slot_cov,
            "unmet": scores["unmet_demand"].astype(float).fillna(0.0).to_numpy(),
        }
    )
    return frame.groupby(owner).sum()


def _propose_in(
    code: str,
    part: _Partition,
    scenario: pipeline.Scenario,
    core_points: gpd.GeoDataFrame,
    core_times: network.TravelTimes,
    catalog: dict,
) -> gpd.GeoDataFrame | None:
    """Siting of one 시군구: its own core demand and budget, sites inside its own 행정동."""
    if scenario.siting_sites == 0 or not scenario.siting_kinds:
        return None
    rows = np.flatnonzero(part.core_owner == code)
    times = network.TravelTimes(
        core_times.matrix[rows],
        core_points.index[rows],
        core_times.destination_ids,
        core_times.cutoff_min,
        core_times.distance_method,
        core_times.params,
    )
    area = part.area[part.area["sigungu_code"].astype(str).to_numpy() == code]
    return pipeline.propose(
        scenario, core_points.iloc[rows], part.facilities, part.sites, times, area, catalog=catalog
    )


# --------------------------------------------------------------------------- engine


#: Dask settings of careplan's own LocalCluster. Each worker's statistical profiler samples
#: the running task's stack every 10 ms and every process wakes for a 20 ms event-loop tick;
#: only a dashboard reads either, and careplan starts none. Measured on an idle 2-worker cluster:
#: 0.038 → 0.009 CPU seconds per second per worker, 0.067 → 0.020 for the client and scheduler.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
}


@contextlib.contextmanager
def local_client(
    n_workers: int | None = None, *, memory_limit: str | float | None = "auto"
) -> Iterator[Any]:
    """A ``dask.distributed`` client of a new LocalCluster as careplan runs it (closed afterwards).

    One single-threaded worker process per core (default: ``os.cpu_count()``): the work is
    GIL-bound pandas/shapely, and a per-process ``memory_limit`` lets Dask pause or restart
    a worker instead of the machine swapping. No dashboard; see ``LOCAL_CLUSTER_CONFIG``.
    The client gathers results straight from the workers.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    with dask.config.set(LOCAL_CLUSTER_CONFIG):  # the workers take the settings at start
        cluster = LocalCluster(
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit if memory_limit is not None else "auto",
            dashboard_address=None,
            # the scheduler's HTTP routes on a free port: by default they take 8787 and warn when
            # another Dask cluster (a notebook's, say) holds it
            scheduler_kwargs={"dashboard_address": ":0"},
            # a failed task reaches the client as its exception, reported there in one sentence;
            # the workers' own "Compute Failed" tracebacks on stderr are kept for -vv (DEBUG)
            silence_logs=logging.WARNING if logger.isEnabledFor(logging.DEBUG) else logging.CRITICAL,
        )
    # results straight from the workers: by default a client outside the cluster gathers through
    # the scheduler, which here shares the client's process (a second copy of every result)
    with cluster, Client(cluster, direct_to_workers=True) as client:
        yield client


@contextlib.contextmanager
def _dask_client(
    client: Any, scheduler: str | None, n_workers: int | None, memory_limit: str | float | None
) -> Iterator[Any]:
    """The given client, a client of ``scheduler``, or a new LocalCluster (closed afterwards)."""
    from dask.distributed import Client

    if client is not None:
        yield client
    elif scheduler is not None:
        with Client(scheduler) as own:
            yield own
    else:
        with local_client(n_workers, memory_limit=memory_limit) as own:
            yield own


def _n_workers(client: Any) -> int:
    try:
        return len(client.scheduler_info().get("workers", {})) or 1
    except Exception:  # noqa: BLE001 - a scheduler without the info still runs the tasks
        return 1


def _in_flight(client: Any) -> int:
    """Tasks submitted ahead of the results: enough to keep every worker busy, few enough
    that the inputs in flight (and the client's queue of results) stay bounded."""
    return max(4, 3 * _n_workers(client))


@dataclass(frozen=True)
class _Job:
    """One Dask task of a region run: its phase, its 시군구, its index in the phase and its call,
    ``func(*args, *deps)``.

    ``args`` are plain inputs, pickled once on the client (see ``_run_packed``); ``deps`` are
    Dask futures (or None), which the scheduler must see. With ``fetch``, the result stays on
    its worker and the client gets ``fetch(result)``.
    """

    desc: str  # "demand" or "access"
    task: tuple[str, ...]
    index: int
    func: Any
    args: tuple
    deps: tuple = ()
    fetch: Any = None


def _run_packed(func: Any, packed: bytes, *deps: Any) -> Any:
    """Run a job's call on its worker from inputs the client pickled once.

    Passed as bytes, the inputs cross the scheduler untouched; passed as objects, the
    scheduler (in the client's process with a LocalCluster) unpickled every GeoDataFrame of
    every task from WKB and pickled it again for the worker.
    """
    return func(*pickle.loads(packed), *deps)


def _run_jobs(
    client: Any, run: _RegionRun, names: dict[str, str], *, retries: int, progress: bool
) -> None:
    """Submit ``run``'s jobs as they become ready and hand it every result, until none is left.

    At most ``_in_flight`` jobs are out at once, so the client's memory and the scheduler's
    queue stay bounded whatever the region size. While no result is waiting, the client does
    one piece of its own work (``run.spare_time``), so that work overlaps the workers'. A job
    that still fails after its retries does not stop the others that can still run; the
    error then names every failed 시군구.
    """
    import dask
    from dask.distributed import as_completed

    futures: dict[Any, tuple[_Job, Any]] = {}  # what the client gets → (job, its result)
    done = as_completed()
    in_flight = _in_flight(client)  # once: each call asks the scheduler
    failed: dict[str, dict[tuple[str, ...], BaseException]] = {}
    bars = {
        desc: tqdm(total=total, disable=not progress, desc=desc, unit="시군구", position=i)
        for i, (desc, total) in enumerate(run.totals().items())
    }
    # A task's slice is its input by design (bounded by _MAX_TASK_WEIGHT), not a graph to slim down.
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "2GiB"}):
        try:
            while True:
                while len(futures) < in_flight and (job := run.next_job()) is not None:
                    key = f"careplan-{job.desc}-{job.task[0]}-{os.urandom(4).hex()}"
                    packed = pickle.dumps(job.args, protocol=pickle.HIGHEST_PROTOCOL)
                    call = (_run_packed, job.func, packed, *job.deps)
                    held = client.submit(*call, retries=retries, pure=False, key=key)
                    future = held
                    if job.fetch is not None:
                        future = client.submit(job.fetch, held, pure=False, key=f"{key}-fetch")
                    futures[future] = (job, held)
                    done.add(future)
                if not futures:
                    break
                if not done.has_ready() and run.spare_time():
                    continue
                future = next(done)
                job, held = futures.pop(future)
                if future.status == "finished":
                    run.finished(job, future, held)
                else:
                    failed.setdefault(job.desc, {})[job.task] = future.exception()
                    future.release()
                    held.release()
                bars[job.desc].update(len(job.task))
        finally:
            for bar in bars.values():
                bar.close()
    if failed:
        first = next(iter(next(iter(failed.values())).values()))
        raise CareplanError(_failure_message(failed, run.counts(), names)) from first


def _failure_message(
    failed: dict[str, dict[tuple[str, ...], BaseException]],
    counts: dict[str, int],
    names: dict[str, str],
) -> str:
    phases = []
    for desc, tasks in failed.items():
        listed = "; ".join(
            f"{_task_label(t, names)}: {type(e).__name__}: {e}" for t, e in sorted(tasks.items())
        )
        phases.append(
            f"{len(tasks)} of {counts[desc]} partition tasks failed in the {desc} phase after "
            f"their retries: {listed}"
        )
    waiting = ""
    if "demand" in failed:
        waiting = " The access tasks that needed the failed demand did not run."
    return (
        ". ".join(phases)
        + f". Nothing was dropped; no region result was made.{waiting} Fix the named 시군구's "
        "input rows, or raise memory_limit if a worker was killed."
    )


class _Deferred:
    """Client work done once, when the client would otherwise wait (see ``_run_jobs``)
    or, at the latest, when its value is first needed."""

    def __init__(self, func: Any, *args: Any) -> None:
        self._call: Any = (func, args)
        self._value: Any = None

    @property
    def done(self) -> bool:
        return self._call is None

    def __call__(self) -> None:
        if self._call is not None:
            func, args = self._call
            self._value, self._call = func(*args), None

    def value(self) -> Any:
        self()
        return self._value


def _reissue(messages: Sequence[str]) -> None:
    for text in dict.fromkeys(messages):  # once each, first-seen order
        warnings.warn(text, CareplanWarning, stacklevel=3)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class RegionResult:
    """Region-wide results of a partitioned run (tables as :class:`careplan.pipeline.PlanResult`)."""

    scenario: pipeline.Scenario
    # the per-point results: None from a run_region(per_point=False)
    demand_points: gpd.GeoDataFrame | None
    point_sigungu: pd.Series | None  # core 시군구 code of each demand point
    coverage: coverage.CoverageResult | None
    coverage_total: pd.DataFrame
    coverage_by_zone: pd.DataFrame
    coverage_by_adm: pd.DataFrame
    coverage_by_sigungu: pd.DataFrame
    access: pd.DataFrame | None
    gaps: pd.DataFrame
    gini: float
    proposed: gpd.GeoDataFrame | None
    proposals_by_sigungu: pd.DataFrame
    summary: pd.DataFrame  # one row per 시군구 plus 합계
    partitions: pd.DataFrame  # halo sizes, seconds and worker of each partition
    times: network.TravelTimes | None  # only with keep_times=True
    distance_method: str
    seconds: dict[str, float]
    point_files: list[str] = field(default_factory=list)  # with points_dir


def run_region(
    scenario: pipeline.Scenario,
    inputs: pipeline.Inputs,
    *,
    graph: Any = None,
    catalog: dict | None = None,
    client: Any = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    memory_limit: str | float | None = "auto",
    retries: int = 2,
    keep_times: bool = False,
    per_point: bool = True,
    points_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> RegionResult:
    """Run demand → walk times → coverage/access → siting partitioned by 시군구 on Dask.

    Results equal :func:`careplan.pipeline.analyse` on the whole region for demand
    points, nearest times, coverage flags and tables, and access scores (see the module
    docstring for why the halo makes them exact). Siting differs by design: each
    시군구 proposes its own ``scenario.siting_sites`` sites inside its own area.

    Parameters
    ----------
    scenario, inputs
        As for :func:`careplan.pipeline.analyse`; ``inputs.admin_areas`` need ``sigungu_code``.
    graph
        Walk network (networkx graph or :class:`careplan.network.WalkGraph`); None: straight line × detour.
    catalog
        Kinds of care (default: ``scenario.catalog_overrides`` on the built-in catalog).
    client
        An existing ``dask.distributed.Client`` (left open).
    scheduler
        Address of a running scheduler (``tcp://host:8786``), used when no ``client`` is given.
    n_workers
        Workers of the default ``LocalCluster`` (default: number of cores).
    memory_limit
        Memory limit per ``LocalCluster`` worker (``"4GiB"``, bytes, or ``"auto"`` = RAM / workers).
    retries
        Times a failed partition task is retried before the run fails naming its 시군구.
    keep_times
        Also return the region-wide travel-time matrix (memory: every point × reachable site).
    per_point
        Return the per-point results (``demand_points``, ``point_sigungu``, ``coverage``,
        ``access``). False: only the region tables (summary, coverage tables, gaps, Gini,
        proposals); the points never travel to the client, whose work and memory then stay
        small whatever the region's size, and those four fields are None.
    points_dir
        Folder where each access task writes its core points with their results as
        ``points-<시군구 code>.parquet`` (GeoParquet; see ``_write_points``), listed in
        ``RegionResult.point_files``: the per-point layer of a ``per_point=False`` run, written
        in parallel by the workers (on a real cluster, a folder they and you share).
    progress
        Show progress bars over the partitions.

    Returns
    -------
    RegionResult
        ``seconds`` holds ``prepare``, ``demand`` (until the last demand result came in),
        ``access`` (from then on, to the last access result; access tasks start before it),
        ``merge`` and ``total``.
    """
    if retries < 0:
        msg = f"retries must be >= 0, got {retries!r}"
        raise SettingsError(msg)
    if keep_times and not per_point:
        msg = "keep_times needs per_point=True: the travel-time rows are the demand points'"
        raise SettingsError(msg)
    keep = _Keep(per_point, keep_times, _points_folder(points_dir))
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            cluster = (client, scheduler, n_workers, memory_limit)
            return _run_region(scenario, inputs, graph, catalog, cluster, retries, keep, progress)
    finally:
        # the run's warnings (its tasks' ones re-issued once each) point at the caller's line
        for w in caught:
            warnings.warn(w.message, w.category, stacklevel=2)


def _run_region(
    scenario: pipeline.Scenario,
    inputs: pipeline.Inputs,
    graph: Any,
    catalog: dict | None,
    cluster: tuple,
    retries: int,
    keep: _Keep,
    progress: bool,
) -> RegionResult:
    """:func:`run_region` once its settings are checked (it re-issues the warnings)."""
    client, scheduler, n_workers, memory_limit = cluster
    catalog = catalog or get_catalog(scenario.catalog_overrides or None)
    _check_admin(inputs.admin_areas)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    admin = inputs.admin_areas
    names = (
        admin.drop_duplicates("sigungu_code")
        .set_index(admin.drop_duplicates("sigungu_code")["sigungu_code"].astype(str))["sigungu"]
        .astype(str)
        .to_dict()
    )
    school_dem = demand.school_demand(inputs.schools, grade_rates=scenario.grade_rates)
    owners = demand_owners(inputs)
    check_region_size(scenario, inputs.zones, owners[0], names)  # before any worker allocates
    # needed from the first access task on: prepared while the workers compute demand
    wgraph = _Deferred(
        lambda: None
        if graph is None
        else network.walk_graph(graph, walk_speed_kmh=scenario.walk_speed_kmh)
    )
    sites = _Deferred(pipeline.site_candidates, scenario, inputs)
    located = _Deferred(_located, inputs)
    seconds["prepare"] = time.perf_counter() - t0
    with _dask_client(client, scheduler, n_workers, memory_limit) as dask_client:
        run = _RegionRun(
            dask_client,
            scenario,
            inputs,
            school_dem,
            owners,
            (wgraph, sites, located),
            halo_radii(scenario, network_mode=graph is not None),
            catalog,
            retries=retries,
            keep=keep,
        )
        try:
            _run_jobs(dask_client, run, names, retries=retries, progress=progress)
            run.finish()
        finally:
            run.release()
    seconds.update(run.seconds)
    t3 = time.perf_counter()
    result = _merge(run, names, sites.value(), located.value())
    seconds["merge"] = time.perf_counter() - t3
    seconds["total"] = time.perf_counter() - t0
    logger.info(
        "region run: %d 시군구 in %d tasks, %s demand points in %.1f s",
        len(result.partitions),
        len(run.outputs),
        f"{int(result.partitions['core_points'].sum()):,}",
        seconds["total"],
    )
    return dataclasses.replace(result, seconds=seconds)


def _points_folder(points_dir: str | os.PathLike | None) -> str | None:
    """The folder for the workers' point files, made, without point files of an earlier run."""
    if points_dir is None:
        return None
    folder = Path(points_dir).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("points-*.parquet"):
            old.unlink()
    except OSError as err:
        msg = f"cannot write the point files to {str(folder)!r}: {err}; choose another points_dir"
        raise SettingsError(msg) from err
    return str(folder)


def _demand_owner_of_points(
    points: gpd.GeoDataFrame, zone_owner: pd.Series, school_owner: pd.Series
) -> pd.Series:
    owner = points["zone_id"].map(zone_owner)
    school = points["zone_id"].isna() & points.index.str.endswith("_school")
    owner[school] = points.index[school].str.removesuffix("_school").map(school_owner)
    return owner


def _meets(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether boxes (minx, miny, maxx, maxy) ``a`` and ``b`` meet."""
    return a[0] <= b[2] and a[2] >= b[0] and a[1] <= b[3] and a[3] >= b[1]


def _boxes_of(
    bounds: np.ndarray, rows: dict[str, np.ndarray], tasks: list[tuple[str, ...]]
) -> np.ndarray:
    """Per task, the box around the ``bounds`` rows (n × 4) of its 시군구 (NaN: none)."""
    out = np.full((len(tasks), 4), np.nan)
    for i, task in enumerate(tasks):
        b = np.concatenate([bounds[rows[c]] for c in task if c in rows] or [np.zeros((0, 4))])
        b = b[~np.isnan(b).any(axis=1)]
        if len(b):
            out[i] = (*b[:, :2].min(axis=0), *b[:, 2:].max(axis=0))
    return out


@dataclass(frozen=True)
class _DemandPiece:
    """One demand task's result as the client keeps it, rows in the task's order (``frame``,
    ``key`` and ``geometry`` are None when the points stay on the workers)."""

    frame: pd.DataFrame | None  # columns without geometry
    key: np.ndarray | None  # each row's region sort key (see _demand_task)
    xy: np.ndarray
    geometry: np.ndarray | None  # shapely points, made as the result arrives
    owner: np.ndarray  # the core each row is in: position of its sigungu_code in _RegionRun.codes
    by_job: dict[int, np.ndarray]  # rows per access job whose core holds them
    box: tuple[float, float, float, float] | None  # None: no rows


class _RegionRun:
    """The client's side of a region run: the next Dask task to submit, and what each result is for.

    Demand tasks go first. An access task is cut (its inputs made, its demand slices
    submitted) as soon as the demand results it needs are in, not when all of them are:
    first every result that may hold one of its core points (the demand task's box meets the
    access task's 행정동, or it computed some of their 학구), then every result whose box meets
    the halo around those core points. So a worker goes on to access work while the last
    demand tasks run, and the client's work between the phases is spread over the run. A
    demand task's box is known before it runs: a 학구's points lie inside the 학구, a school's
    at the school; every result is checked against it as it arrives.
    """

    def __init__(
        self,
        client: Any,
        scenario: pipeline.Scenario,
        inputs: pipeline.Inputs,
        school_dem: pd.DataFrame,
        owners: tuple[pd.Series, pd.Series],
        prepared: tuple[_Deferred, _Deferred, _Deferred],
        radii: HaloRadii,
        catalog: dict,
        *,
        retries: int,
        keep: _Keep = _Keep(),
    ) -> None:
        self.client, self.scenario, self.inputs = client, scenario, inputs
        self.school_dem, self.radii, self.catalog = school_dem, radii, catalog
        self.retries, self.keep = retries, keep
        self.wgraph, self.sites, self.located = prepared
        admin = inputs.admin_areas
        zone_owner, school_owner = owners
        weight = pd.concat([zone_owner, school_owner]).value_counts()
        n_workers = _n_workers(client)
        self.codes = sorted(set(admin["sigungu_code"].astype(str)))
        self._code_names = np.asarray(self.codes, dtype=object)
        self._zone_rows, self._school_rows = _positions_by(zone_owner), _positions_by(school_owner)
        owning = set(self._zone_rows) | set(self._school_rows)
        self.demand_jobs = [
            t
            for t in _tasks(admin, weight, n_workers, per_worker=_DEMAND_TASKS_PER_WORKER)
            if owning.intersection(t)
        ]
        self.access_jobs = _tasks(admin, weight, n_workers)
        self._setup_demand(zone_owner, school_owner)
        self._setup_access()
        self._queue = iter(range(len(self.demand_jobs)))
        self.pieces: dict[int, _DemandPiece] = {}
        self.held: dict[int, Any] = {}  # demand futures, sliced on their workers by access tasks
        self.messages: list[str] = []
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()
        # the walk graph, candidate sites and the destinations' index: the first cut needs them
        self._destinations = _Deferred(self._prepare_destinations)
        self._far_destinations = _Deferred(self._warn_far_destinations)
        self._demand_done = _Deferred(self._finish_demand)
        self.points: _Deferred | None = None  # the demand points' GeoDataFrame, in region order
        self.owner: np.ndarray | None = None  # core 시군구 of each point, in region order
        self._region_rows: dict[int, np.ndarray] = {}
        self.outputs: dict[tuple[str, ...], _PartitionOutput] = {}
        self.positions: dict[tuple[str, ...], np.ndarray] = {}
        self.nearest: _NearestTable | None = None
        self._unplaced: list[int] = []  # access results waiting for the region order

    # ------------------------------------------------------------------ set-up

    def _setup_demand(self, zone_owner: pd.Series, school_owner: pd.Series) -> None:
        inputs, admin = self.inputs, self.inputs.admin_areas
        self._tree = shapely.STRtree(np.asarray(admin.geometry.array, dtype=object))
        # 시군구 as integer codes (positions in ``codes``), so the tasks return small int arrays
        code_of = pd.Series(np.arange(len(self.codes)), index=self.codes)
        self._coded = admin.assign(
            sigungu_index=code_of.reindex(admin["sigungu_code"].astype(str)).to_numpy()
        )
        self._zone_code, self._school_code = zone_owner.map(code_of), school_owner.map(code_of)
        self._zone_pos = pd.Series(
            np.arange(len(inputs.zones)), index=inputs.zones.index.astype(str)
        )
        zone_bounds = shapely.bounds(np.asarray(inputs.zones.geometry.array, dtype=object))
        school_bounds = shapely.bounds(np.asarray(self.school_dem.geometry.array, dtype=object))
        zones_box = _boxes_of(zone_bounds, self._zone_rows, self.demand_jobs)
        schools_box = _boxes_of(school_bounds, self._school_rows, self.demand_jobs)
        self.demand_box = np.column_stack(
            [
                np.fmin(zones_box[:, :2], schools_box[:, :2]),
                np.fmax(zones_box[:, 2:], schools_box[:, 2:]),
            ]
        ) + np.array([-_PAD_M, -_PAD_M, _PAD_M, _PAD_M])

    def _setup_access(self) -> None:
        admin = self.inputs.admin_areas
        self._area_rows = _positions_by(admin["sigungu_code"].astype(str))
        job_of = {code: i for i, task in enumerate(self.access_jobs) for code in task}
        self._job_of_code = np.array([job_of[code] for code in self.codes])
        area_box = _boxes_of(
            shapely.bounds(np.asarray(admin.geometry.array, dtype=object)),
            self._area_rows,
            self.access_jobs,
        )
        # demand tasks that may hold an access job's core points: by place (the 행정동 they fall
        # in) or by 학구 (a point outside every 행정동 stays with the 시군구 that computed it)
        self._core_deps = [
            {
                d
                for d, (box, task) in enumerate(zip(self.demand_box, self.demand_jobs, strict=True))
                if _meets(box, area) or set(task).intersection(codes)
            }
            for area, codes in zip(area_box, self.access_jobs, strict=True)
        ]
        self._waiting = set(range(len(self.access_jobs)))
        # per access task: (demand task, rows) of its core, in the order its slices give them
        self._core: dict[int, list[tuple[int, np.ndarray]]] = {}
        self._reach: dict[int, tuple[float, float, float, float]] = {}
        self._halo_deps: dict[int, set[int]] = {}
        self._core_xy: dict[int, np.ndarray] = {}  # until the task is cut
        self._ready: list[int] = []
        self._cut_ahead: dict[int, tuple] = {}
        # cut a window ahead of submission: a slice submitted with its task would wait behind the
        # access task running where its demand result lives while the other worker idles
        self._window = 2 * _in_flight(self.client)

    def totals(self) -> dict[str, int]:
        """시군구 per phase, for the progress bars (one without demand points: no access task)."""
        return {
            "demand": sum(map(len, self.demand_jobs)),
            "access": sum(map(len, self.access_jobs)),
        }

    def counts(self) -> dict[str, int]:
        return {"demand": len(self.demand_jobs), "access": len(self.access_jobs)}

    # ------------------------------------------------------------------ what to submit

    def next_job(self) -> _Job | None:
        """The next demand task; once all are out, the next access task cut (None: none ready)."""
        d = next(self._queue, None)
        if d is not None:
            task = self.demand_jobs[d]
            fetch = None if self.keep.points else _demand_meta  # the rows stay on the worker
            return _Job("demand", task, d, _demand_task, self._demand_args(task), fetch=fetch)
        if not self._cut_ahead and not self._cut_next():
            return None
        i = next(iter(self._cut_ahead))
        args, deps = self._cut_ahead.pop(i)
        return _Job("access", self.access_jobs[i], i, _analyse_partition, args, deps)

    def spare_time(self) -> bool:
        """One piece of client work while no result is waiting (False: nothing to do now)."""
        for job in (self.wgraph, self.sites, self._destinations):
            if not job.done:
                job()
                return True
        if len(self._cut_ahead) < self._window and self._cut_next():
            return True
        jobs = [self._far_destinations, self.located]
        if len(self.pieces) == len(self.demand_jobs):  # all demand in: the region's order
            jobs.append(self._demand_done if self.points is None else self.points)
        for job in jobs:
            if not job.done:
                job()
                return True
        return False

    def _demand_args(self, task: tuple[str, ...]) -> tuple:
        empty = np.zeros(0, dtype=np.intp)
        zones = self.inputs.zones.iloc[
            np.sort(np.concatenate([self._zone_rows.get(c, empty) for c in task]))
        ]
        schools = self.school_dem.iloc[
            np.sort(np.concatenate([self._school_rows.get(c, empty) for c in task]))
        ]
        # Every 행정동 whose box meets a 학구's box (or holds a school): the same ones the
        # single-process cut sees around these 학구, so the pieces come out identical.
        near = np.unique(
            np.concatenate(
                [
                    self._tree.query(np.asarray(zones.geometry.array, dtype=object))[1],
                    self._tree.query(np.asarray(schools.geometry.array, dtype=object))[1],
                ]
            )
        )
        z = zones.index.astype(str)
        owners = (
            self._zone_pos.reindex(z).dropna(),
            len(self._zone_pos),
            self._zone_code.reindex(zones.index),
            self._school_code.reindex(schools.index),
        )
        return schools, zones, self._coded.iloc[np.sort(near)], self.scenario.cell_m, owners

    def _cut_next(self) -> bool:
        """Cut the largest ready access task (the short ones then fill in at the end)."""
        if not self._ready:
            return False
        i = max(self._ready, key=lambda i: len(self._core_xy[i]))
        self._ready.remove(i)
        self._cut_ahead[i] = self._cut(i)
        return True

    def _cut(self, i: int) -> tuple[tuple, tuple]:
        """An access task's inputs: its core's destinations and 행정동 here, its demand slices
        submitted to the workers that hold the demand results (the futures: its deps)."""
        facilities, sites, shared_graph, dest_index = self._destinations.value()
        task, reach = self.access_jobs[i], self._reach[i]
        empty = np.zeros(0, dtype=np.intp)
        core_rows = dict(self._core[i])
        slices = []
        # the task returns its core rows slice by slice, in this order (see _place_results)
        for d in sorted(core_rows.keys() | self._halo_deps[i]):
            piece, rows = self.pieces[d], core_rows.get(d, empty)
            if len(rows) or (piece.box is not None and _meets(piece.box, reach)):
                slices.append(
                    self.client.submit(
                        _slice_points,
                        self.held[d],
                        reach,
                        rows,
                        pure=False,
                        retries=self.retries,
                        priority=1,  # before any queued task: slices are cheap, tasks wait on them
                        key=f"careplan-slice-{task[0]}-{os.urandom(4).hex()}",
                    )
                )
        core_xy = self._core_xy.pop(i)
        dest = dest_index.near(cKDTree(core_xy), core_xy, self.radii.destination_m)
        n_fac = len(facilities)
        admin = self.inputs.admin_areas
        part = _Partition(
            core_owner=self._code_names[
                np.concatenate([self.pieces[d].owner[rows] for d, rows in self._core[i]])
            ],
            facilities=facilities.iloc[dest[dest < n_fac]],
            sites=sites.iloc[dest[dest >= n_fac] - n_fac],
            area=admin.iloc[np.sort(np.concatenate([self._area_rows.get(c, empty) for c in task]))],
        )
        crs = self.inputs.zones.crs
        args = (part, task, crs, self.scenario, self.radii, self.catalog, self.keep)
        return args, (slices, shared_graph)

    def _prepare_destinations(self) -> tuple:
        """Facilities, candidate sites, the walk graph on every worker, and an index of both."""
        facilities, sites, graph = self.inputs.facilities, self.sites.value(), self.wgraph.value()
        dest_index = _BandIndex(
            np.concatenate(
                [
                    shapely.get_coordinates(facilities.geometry.array).reshape(-1, 2),
                    shapely.get_coordinates(sites.geometry.array).reshape(-1, 2),
                ]
            )
        )
        shared_graph = (
            None
            if graph is None
            else self.client.scatter(_SharedGraph.of(graph), broadcast=True, hash=False)
        )
        return facilities, sites, shared_graph, dest_index

    def _warn_far_destinations(self) -> None:
        """One warning for all facilities and sites far from the network, as a single process
        gives (each task would name only those near its own 시군구)."""
        graph = self.wgraph.value()
        if graph is not None:
            _warn_unsnapped_destinations(graph, self.inputs.facilities, self.sites.value())

    # ------------------------------------------------------------------ results

    def finished(self, job: _Job, future: Any, held: Any) -> None:
        """Take in a job's result (``future``; ``held``: the full result, on its worker)."""
        if job.desc == "demand":
            self.held[job.index] = held  # stays on its worker until the run ends
            self._add_demand(job.index, future.result())
            if future is not held:
                future.release()
        else:
            self.outputs[job.task] = future.result()
            future.release()
            self._unplaced.append(job.index)
            if self._demand_done.done:
                self._place_results()

    def _add_demand(self, d: int, result: tuple) -> None:
        frame, caught, key, owner, xy = result
        self.messages += caught
        lost = np.flatnonzero(owner < 0)
        if len(lost):  # outside every 행정동 and every partition: the nearest 행정동's 시군구
            nearest = _areas_of(gpd.GeoSeries(shapely.points(xy[lost])), self.inputs.admin_areas)
            owner[lost] = np.searchsorted(self.codes, nearest)
        job = self._job_of_code[owner]
        by_job = {int(i): np.flatnonzero(job == i) for i in np.unique(job)}
        box = (*xy.min(axis=0), *xy.max(axis=0)) if len(xy) else None
        self._check_gating(d, box, by_job)
        if box is not None:  # access tasks cut from now on see where the points really are
            self.demand_box[d, :2] = np.fmin(self.demand_box[d, :2], box[:2])
            self.demand_box[d, 2:] = np.fmax(self.demand_box[d, 2:], box[2:])
        geometry = shapely.points(xy) if self.keep.points else None
        self.pieces[d] = _DemandPiece(frame, key, xy, geometry, owner, by_job, box)
        if len(self.pieces) == len(self.demand_jobs):
            self.seconds["demand"] = time.perf_counter() - self._t0
        self._advance()

    def _check_gating(self, d: int, box: tuple | None, by_job: dict[int, np.ndarray]) -> None:
        """A result that an access task already cut would have needed means a wrong box: stop."""
        late = [i for i in by_job if i in self._core]
        if box is not None:
            late += [
                i
                for i, reach in self._reach.items()
                if _meets(box, reach) and d not in self._halo_deps[i]
            ]
        if late:
            names = ", ".join(str(self.access_jobs[i]) for i in sorted(set(late)))
            bounds = ", ".join(f"{v:.0f}" for v in self.demand_box[d])
            msg = (
                f"demand task {self.demand_jobs[d]} returned points outside the box of its 학구 "
                f"and schools ({bounds}); access tasks {names} had been set up without them. "
                "This is a careplan bug: please report it with the input files"
            )
            raise CareplanError(msg)

    def _advance(self) -> None:
        """Mark the access tasks whose demand results are now all in as ready to cut."""
        done = self.pieces.keys()
        for i in sorted(self._waiting):
            if i not in self._core:
                if not self._core_deps[i] <= done:
                    continue
                self._fix_core(i)
                if not self._core[i]:  # no demand point: nothing to run
                    self._waiting.discard(i)
                    continue
            if self._halo_deps[i] <= done:
                self._waiting.discard(i)
                self._ready.append(i)

    def _fix_core(self, i: int) -> None:
        """An access task's core rows (all their demand tasks are in) and the demand tasks its
        halo then needs."""
        core = [(d, p.by_job[i]) for d, p in sorted(self.pieces.items()) if i in p.by_job]
        self._core[i] = core
        if not core:
            return
        xy = np.concatenate([self.pieces[d].xy[rows] for d, rows in core])
        self._core_xy[i] = xy
        r = self.radii.demand_m
        lo, hi = xy.min(axis=0) - r, xy.max(axis=0) + r
        self._reach[i] = (lo[0], lo[1], hi[0], hi[1])
        self._halo_deps[i] = {
            d for d, box in enumerate(self.demand_box) if _meets(box, self._reach[i])
        }

    def _finish_demand(self) -> None:
        """The region's points in single-process order (by 학구 in zones order, schools without
        학구 last, stable inside) and each demand task's rows' region positions."""
        _reissue(self.messages)
        if not self.keep.points:
            return
        pieces = [self.pieces[d] for d in range(len(self.demand_jobs))]
        empty = np.zeros(0, dtype=np.intp)
        order = np.argsort(np.concatenate([p.key for p in pieces] or [empty]), kind="stable")
        geometry = np.concatenate([p.geometry for p in pieces] or [np.zeros(0, dtype=object)])
        self.points = _Deferred(
            _points_in_order,
            [p.frame for p in pieces],
            order,
            geometry[order],
            self.inputs,
            self.school_dem,
            self.scenario.cell_m,
        )
        self.owner = self._code_names[np.concatenate([p.owner for p in pieces] or [empty])[order]]
        region_pos = np.empty(len(order), dtype=np.intp)
        region_pos[order] = np.arange(len(order))
        ends = np.cumsum([len(p.key) for p in pieces]).tolist()
        self._region_rows = {
            d: region_pos[end - len(p.key) : end]
            for d, (p, end) in enumerate(zip(pieces, ends, strict=True))
        }
        self.nearest = _NearestTable(len(order))
        self._place_results()

    def _place_results(self) -> None:
        """Region positions of the finished access tasks' core rows, and their nearest times."""
        if not self.keep.points:
            self._unplaced.clear()
            return
        for i in self._unplaced:
            task = self.access_jobs[i]
            pos = np.concatenate([self._region_rows[d][rows] for d, rows in self._core[i]])
            self.positions[task] = pos
            out = self.outputs[task]
            self.nearest.add(out.nearest, out.nearest_columns, pos)
            self.outputs[task] = dataclasses.replace(out, nearest=None)
        self._unplaced.clear()

    def finish(self) -> None:
        """After the last result: what the client found no spare moment for, and the warnings."""
        if self._waiting or self._ready or self._cut_ahead:
            left = sorted(self._waiting | set(self._ready))
            msg = f"access tasks {left} never became ready; this is a careplan bug"
            raise CareplanError(msg)
        self._demand_done()
        self.seconds.setdefault("demand", 0.0)
        self.seconds["access"] = time.perf_counter() - self._t0 - self.seconds.get("demand", 0.0)
        self._reissue_access_warnings()

    def _reissue_access_warnings(self) -> None:
        _reissue([m for out in self.outputs.values() for m in out.warnings])
        self._far_destinations()
        # one warning, its points in region order, as a single process gives
        if self.wgraph.value() is None:
            return
        unsnapped = np.concatenate([out.unsnapped for out in self.outputs.values()] or [[]])
        if self.keep.points:
            ids = self.points.value().index
            far, n_points = ids[ids.isin(unsnapped)], len(ids)
        else:  # no region order without the points: by task
            far, n_points = pd.Index(unsnapped), sum(len(p.xy) for p in self.pieces.values())
        network.warn_far_from_network(
            pd.Series(np.nan, index=far), n_points, "origins", network.DEFAULT_MAX_SNAP_M
        )

    def release(self) -> None:
        for future in self.held.values():
            future.release()


def _points_in_order(
    frames: list[pd.DataFrame],
    order: np.ndarray,
    geometry: np.ndarray,
    inputs: pipeline.Inputs,
    school_dem: pd.DataFrame,
    cell_m: float,
) -> gpd.GeoDataFrame:
    """The demand tasks' frames as one GeoDataFrame in region order, with the merged notes."""
    notes = _merge_attrs([f.attrs.get("demand", {}) for f in frames])
    if not frames:
        points = demand.demand_points(
            school_dem.iloc[:0], inputs.zones.iloc[:0], inputs.admin_areas, cell_m=cell_m
        )
    else:
        for frame in frames:
            frame.attrs = {}  # concat compares every frame's attrs; the merged notes go on below
        points = gpd.GeoDataFrame(
            pd.concat(frames).iloc[order], geometry=geometry, crs=inputs.zones.crs
        )
    points.attrs["demand"] = notes
    return points


def _positions_by(owner: pd.Series) -> dict[str, np.ndarray]:
    """Row positions per owner code (one pass, not one scan per partition)."""
    valid = owner.notna().to_numpy()
    groups = pd.Series(np.flatnonzero(valid)).groupby(owner.to_numpy()[valid]).indices
    pos = np.flatnonzero(valid)
    return {str(code): pos[idx] for code, idx in groups.items()}


def _merge_attrs(parts: list[dict]) -> demand.DemandNotes:
    """Partition ``attrs["demand"]``: lists concatenated, totals summed, settings kept."""
    merged: dict = {}
    for attrs in parts:
        for key, value in attrs.items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif key == "total_demand":
                merged[key] = merged.get(key, 0.0) + value
            else:
                merged.setdefault(key, value)
    return demand.DemandNotes(merged)


def _destinations(facilities: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Facilities then candidate sites, geometry only: the columns of a travel-time matrix."""
    return gpd.GeoDataFrame(
        pd.concat([facilities[["geometry"]], sites[["geometry"]]]), crs=facilities.crs
    )


def _warn_unsnapped_destinations(
    graph: network.WalkGraph, facilities: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> None:
    """The warning naming the facilities and sites too far from the walk network."""
    destinations = _destinations(facilities, sites)
    snap = network.snap_points(graph, destinations, warn=False)
    network.warn_far_from_network(
        snap.far["distance_m"], len(destinations), "destinations", snap.max_snap_m
    )


class _NearestTable:
    """The region's nearest-time table, filled task by task as the results arrive."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.values: np.ndarray | None = None
        self.columns: pd.MultiIndex | None = None

    def add(
        self,
        packed: tuple[np.ndarray, np.ndarray, np.ndarray],
        columns: pd.MultiIndex,
        rows: np.ndarray,
    ) -> None:
        """Put one task's packed rows (see ``_pack_nearest``) at their region ``rows``."""
        if self.values is None:
            self.values, self.columns = np.full((self.n_rows, len(columns)), np.nan), columns
        indptr, cols, minutes = packed
        self.values[np.repeat(rows, np.diff(indptr)), cols] = minutes

    def frame(self, index: pd.Index) -> pd.DataFrame:
        return pd.DataFrame(self.values, index=index, columns=self.columns, copy=False)


def _merge(
    run: _RegionRun,
    names: dict[str, str],
    sites: gpd.GeoDataFrame,
    located: tuple[pd.Series, pd.Series],
) -> RegionResult:
    """Region-wide tables from per-task results (rows back in the demand points' order)."""
    scenario, outputs = run.scenario, run.outputs
    first = next(iter(outputs.values()))
    method = "network" if "graph_source" in first.params else "straight_line"
    nearest, covered, scores = _per_point(run)
    for frame in (nearest, covered):
        frame.attrs.update(distance_method=method, max_walk_min=scenario.max_walk_min)
    kinds = tuple(
        dict.fromkeys(
            k for k in nearest.columns.get_level_values("kind") if k != coverage.ALL_KINDS
        )
    )
    cov = coverage.CoverageResult(
        nearest,
        covered,
        tuple(scenario.slots),
        kinds,
        float(scenario.max_walk_min),
        method,
        first.method_label,
        dict(first.params),
    )
    scores.attrs.update(first.scores.attrs)
    tables = _tables_from_sums(cov, list(outputs.values()))
    by_sigungu = tables["sigungu_code"]
    by_sigungu.insert(1, "sigungu", by_sigungu["sigungu_code"].map(names))
    gap_parts = [out.gap_sums for out in outputs.values()]
    gaps = access.gaps_from_sums(
        {
            col: pd.concat([g[col] for g in gap_parts]).groupby(level=0).sum(min_count=1)
            for col in gap_parts[0]
        },
        distance_method=scores.attrs.get("distance_method", method),
    )
    gini = access.gini(*np.concatenate([out.equity for out in outputs.values()], axis=1))
    by_code = {code: out.proposed[code] for out in outputs.values() for code in out.codes}
    proposed = _merge_proposals(by_code, names, run.inputs.zones.crs)
    proposals = _proposals_by_sigungu(proposed, names)
    stats = sorted(
        (row for out in outputs.values() for row in out.stats), key=lambda row: row["sigungu_code"]
    )
    partitions = pd.DataFrame(
        [
            {"sigungu_code": row["sigungu_code"], "sigungu": names.get(row["sigungu_code"]), **row}
            for row in stats
        ]
    )
    per_sigungu = pd.concat([out.by_sigungu for out in outputs.values()])
    summary = region_summary(scenario, run.inputs, per_sigungu, proposed, names, located=located)
    points = run.points.value() if run.keep.points else None
    return RegionResult(
        scenario=scenario,
        demand_points=points,
        point_sigungu=None
        if points is None
        else pd.Series(run.owner, index=points.index, name="sigungu_code"),
        coverage=cov if run.keep.points else None,
        coverage_total=tables[None],
        coverage_by_zone=tables["zone_id"],
        coverage_by_adm=tables["adm_code"],
        coverage_by_sigungu=by_sigungu,
        access=scores if run.keep.points else None,
        gaps=gaps,
        gini=gini,
        proposed=proposed,
        proposals_by_sigungu=proposals,
        summary=summary,
        partitions=partitions,
        times=_merge_times(run, sites, cov) if run.keep.times else None,
        point_files=sorted(out.points_file for out in outputs.values() if out.points_file),
        distance_method=method,
        seconds={},
    )


def _per_point(run: _RegionRun) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Nearest times, covered flags and access scores of every demand point, in region order
    (0 rows each when the points stayed on the workers)."""
    outputs = run.outputs
    first = next(iter(outputs.values()))
    if not run.keep.points:
        empty = pd.DataFrame(columns=first.nearest_columns, dtype=float)
        return empty, empty.astype(bool), first.scores.iloc[:0]
    index = run.points.value().index
    nearest = run.nearest.frame(index)
    with np.errstate(invalid="ignore"):  # NaN (no facility) compares False, as in coverage.coverage
        flags = nearest.to_numpy() <= run.scenario.max_walk_min
    covered = pd.DataFrame(flags, index=index, columns=nearest.columns, copy=False)
    in_order = _region_order(index, [run.positions[t] for t in outputs])
    return nearest, covered, in_order([out.scores for out in outputs.values()])


def _tables_from_sums(
    cov: coverage.CoverageResult, outputs: list[_PartitionOutput]
) -> dict[str | None, pd.DataFrame]:
    """Region coverage tables from the tasks' additive sums."""
    tables = {}
    for by in _TABLE_KEYS:
        covered = pd.concat([out.sums[by][0] for out in outputs]).groupby(level=0).sum()
        totals = pd.concat([out.sums[by][1] for out in outputs]).groupby(level=0).sum()
        tables[by] = coverage.table_from_sums(cov, covered, totals, by=by)
    return tables


def _pack_nearest(nearest: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays (row pointers, column, minutes) of the cells that have a nearest facility.

    About nine in ten cells are NaN (no facility of that kind open within the cut-off), so
    this ships a tenth of the dense table; ``covered`` is not shipped at all (it is
    ``nearest <= max_walk_min``).
    """
    values = nearest.to_numpy()
    found = ~np.isnan(values)
    indptr = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(found.sum(axis=1), out=indptr[1:])
    return indptr, np.nonzero(found)[1].astype(np.int32), values[found]


def _region_order(index: pd.Index, positions: list[np.ndarray]) -> Any:
    """A function stacking per-task core frames and putting their rows back in region order.

    Every point is in exactly one core, so the cores' positions are a permutation of the
    region: one ``take``, no label lookup of every point id.
    """
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype=np.intp)
    if len(pos) != len(index) or not np.array_equal(
        np.bincount(pos, minlength=len(index)), np.ones(len(index))
    ):
        msg = (
            f"partition cores hold {len(pos):,} rows for {len(index):,} demand points; every point needs "
            "exactly one core"
        )
        raise CareplanError(msg)
    perm = np.empty(len(pos), dtype=np.intp)
    perm[pos] = np.arange(len(pos))

    def in_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
        merged = pd.concat(frames, ignore_index=True).take(perm)
        merged.index = index
        return merged

    return in_order


def _merge_proposals(
    frames: dict[str, gpd.GeoDataFrame | None], names: dict[str, str], crs: Any
) -> gpd.GeoDataFrame | None:
    parts = []
    for code, frame in sorted(frames.items()):
        if frame is not None and len(frame):
            parts.append(frame.assign(sigungu_code=code, sigungu=names.get(code, code)))
    return gpd.GeoDataFrame(pd.concat(parts), crs=crs) if parts else None


def _proposals_by_sigungu(proposed: gpd.GeoDataFrame | None, names: dict[str, str]) -> pd.DataFrame:
    """Sites proposed and children they add, per 시군구 and kind (제안 입지 요약)."""
    columns = ["sigungu_code", "sigungu", "kind", "n_sites", "marginal_gain"]
    if proposed is None:
        return pd.DataFrame(columns=columns)
    grouped = proposed.groupby(["sigungu_code", "kind"], sort=True)
    table = grouped.agg(
        n_sites=("site_id", "size"), marginal_gain=("marginal_gain", "sum")
    ).reset_index()
    table.insert(1, "sigungu", table["sigungu_code"].map(names))
    return table[columns]


def _merge_times(
    run: _RegionRun, sites: gpd.GeoDataFrame, cov: coverage.CoverageResult
) -> network.TravelTimes:
    """Region-wide points × (facilities, sites) times from the tasks' core rows."""
    outputs, positions, points = run.outputs, run.positions, run.points.value()
    facilities, scenario = run.inputs.facilities, run.scenario
    dest_ids = pd.Index(
        np.concatenate(
            [facilities.index.to_numpy(dtype=object), sites.index.to_numpy(dtype=object)]
        )
    )
    rows, cols, vals = [], [], []
    for task, out in outputs.items():
        r, c, v, local_dest = out.times
        rows.append(positions[task][r])
        cols.append(dest_ids.get_indexer(local_dest[c]))
        vals.append(v)
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(points), len(dest_ids)),
    )
    m.sort_indices()
    return network.TravelTimes(
        m,
        points.index,
        dest_ids,
        max(15.0, scenario.max_walk_min),
        cov.distance_method,
        dict(cov.params),
    )


def region_summary(
    scenario: pipeline.Scenario,
    inputs: pipeline.Inputs,
    per_sigungu: pd.DataFrame,
    proposed: gpd.GeoDataFrame | None,
    names: dict[str, str],
    *,
    located: tuple[pd.Series, pd.Series] | None = None,
) -> pd.DataFrame:
    """시도-wide summary (시군구별 요약): one row per 시군구 plus a 합계 row.

    Columns: 초등학교 수, 돌봄 수요, 돌봄시설 수 and 상시 정원 (eligible kinds), coverage % at
    ``scenario.siting_slot``, 미충족 수요, 제안 입지 수 and the children they add.
    ``per_sigungu`` (index 시군구 code) holds each one's ``demand``, ``covered`` (demand within
    walking distance at the siting slot) and ``unmet`` demand, summed over its demand points.
    ``located`` is ``_located(inputs)`` when already worked out.
    """
    admin = inputs.admin_areas
    fac_code, school_code = located if located is not None else _located(inputs)
    eligible = inputs.facilities[inputs.facilities["kind"].isin(coverage.default_kinds())]
    codes = sorted(set(admin["sigungu_code"].astype(str)))
    table = pd.DataFrame(index=pd.Index(codes, name="sigungu_code"))
    table["sigungu"] = [names.get(c, c) for c in codes]
    table["schools"] = school_code.value_counts().reindex(codes).fillna(0).astype(int)
    table["demand"] = per_sigungu["demand"].reindex(codes).fillna(0.0)
    table["facilities"] = fac_code.value_counts().reindex(codes).fillna(0).astype(int)
    table["capacity"] = eligible["capacity"].groupby(fac_code).sum().reindex(codes).fillna(0.0)
    table["covered_demand"] = per_sigungu["covered"].reindex(codes).fillna(0.0)
    table["unmet_demand"] = per_sigungu["unmet"].reindex(codes).fillna(0.0)
    if proposed is not None:
        table["proposed_sites"] = (
            proposed.groupby("sigungu_code").size().reindex(codes).fillna(0).astype(int)
        )
        table["proposed_gain"] = (
            proposed.groupby("sigungu_code")["marginal_gain"].sum().reindex(codes).fillna(0.0)
        )
    else:
        table["proposed_sites"], table["proposed_gain"] = 0, 0.0
    total = table.drop(columns="sigungu").sum().to_frame().T
    total.index = pd.Index([TOTAL_LABEL], name="sigungu_code")
    total.insert(0, "sigungu", TOTAL_LABEL)
    table = pd.concat([table, total])
    counts = ["schools", "facilities", "proposed_sites"]
    table[counts] = table[counts].astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["coverage_pct"] = np.where(
            table["demand"] > 0, 100.0 * table["covered_demand"] / table["demand"], np.nan
        )
    table["slot"] = scenario.siting_slot
    table.attrs["labels_ko"] = SUMMARY_LABELS_KO
    return table.reset_index()


def _located(inputs: pipeline.Inputs) -> tuple[pd.Series, pd.Series]:
    """The 시군구 of each eligible facility and of each school (by the 행정동 they stand in)."""
    admin = inputs.admin_areas
    eligible = inputs.facilities[inputs.facilities["kind"].isin(coverage.default_kinds())]
    fac_code = pd.Series(_areas_of(eligible.geometry, admin), index=eligible.index)
    school_code = pd.Series(_areas_of(inputs.schools.geometry, admin), index=inputs.schools.index)
    return fac_code, school_code


def sigungu_summary_layer(summary: pd.DataFrame, admin: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """시군구 polygons (their 행정동 dissolved) carrying the summary row: a choropleth layer for QGIS."""
    areas = admin[["geometry"]].assign(sigungu_code=admin["sigungu_code"].astype(str))
    areas = areas.dissolve(by="sigungu_code")
    rows = summary[summary["sigungu_code"] != TOTAL_LABEL].set_index("sigungu_code")
    return gpd.GeoDataFrame(
        rows.join(areas, how="left"), geometry="geometry", crs=admin.crs
    ).reset_index()


#: Korean headers for :func:`region_summary` (report tables, Excel).
SUMMARY_LABELS_KO = {
    "sigungu_code": "시군구 코드",
    "sigungu": "시군구",
    "schools": "초등학교 수",
    "demand": "돌봄 수요 (명)",
    "facilities": "돌봄시설 수",
    "capacity": "상시 정원",
    "covered_demand": "도보권 안 수요",
    "unmet_demand": "미충족 수요 (정원 기준)",
    "proposed_sites": "제안 입지 수",
    "proposed_gain": "제안 입지로 늘어나는 도보권 수요",
    "coverage_pct": "도보권 수요 비율 (%)",
    "slot": "시간대",
}


def write_region(
    result: RegionResult,
    out: str | os.PathLike,
    *,
    admin_areas: gpd.GeoDataFrame | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write the region tables as Excel-friendly CSVs (UTF-8 with BOM) and a GeoPackage for QGIS.

    Files: ``summary.csv`` (시군구별 요약, Korean headers), ``coverage_by_sigungu.csv``,
    ``coverage_total.csv``, ``coverage_by_zone.csv``, ``coverage_by_adm.csv``, ``access.csv``
    (not from a ``per_point=False`` run), ``gaps.csv``, ``proposals_by_sigungu.csv``,
    ``partitions.csv`` and ``region.gpkg`` with the layers ``sigungu_summary`` (시군구 polygons
    with the summary columns; needs the run's ``admin_areas``) and ``proposed_sites`` (when
    sites were proposed). Returns file name → path, plus ``points`` → the folder of the
    workers' point files when the run wrote them.

    ``out`` follows the rules of :mod:`careplan.outfolder`: absent or empty, or an earlier
    careplan output, replaced only with ``force`` (files the user added there are kept). Point
    files the workers wrote into a :func:`careplan.outfolder.side_stage` folder (``careplan
    region --no-points``) move into ``out/points``; a caller's own ``points_dir`` stays where it is.
    """
    out = Path(out)
    stage, written = outfolder.write(
        out, "region", lambda stage: (stage, _region_files(result, stage, admin_areas)), force=force
    )
    return {
        name: out / path.relative_to(stage) if path.is_relative_to(stage) else path
        for name, path in written.items()
    }


def _region_files(
    result: RegionResult, folder: Path, admin_areas: gpd.GeoDataFrame | None
) -> dict[str, Path]:
    """Write the region outputs into the staging folder ``folder``: file name -> path."""
    tables = {
        "summary": result.summary.rename(columns=SUMMARY_LABELS_KO),
        "coverage_by_sigungu": result.coverage_by_sigungu,
        "coverage_total": result.coverage_total,
        "coverage_by_zone": result.coverage_by_zone,
        "coverage_by_adm": result.coverage_by_adm,
        "access": None if result.access is None else result.access.reset_index(),
        "gaps": result.gaps,
        "proposals_by_sigungu": result.proposals_by_sigungu,
        "partitions": result.partitions,
    }
    written: dict[str, Any] = {}
    for name, table in tables.items():
        if table is None:
            continue
        path = folder / f"{name}.csv"
        write_csv(table, path)
        written[path.name] = path
    layers = {"proposed_sites": result.proposed}
    if admin_areas is not None:
        layers["sigungu_summary"] = sigungu_summary_layer(result.summary, admin_areas)
    if result.point_files:  # written by the workers (run_region's points_dir)
        points = Path(result.point_files[0]).parent
        written["points"] = outfolder.adopt(points, folder, "points") or points
    layers = {name: layer for name, layer in layers.items() if layer is not None}
    if layers:
        path = folder / "region.gpkg"
        path.unlink(missing_ok=True)  # layers are written into a fresh file
        for name, layer in layers.items():
            layer.to_file(path, layer=name, driver="GPKG")
        written[path.name] = path
    return written

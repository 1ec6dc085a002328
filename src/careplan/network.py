"""Walk network and travel times.

The walk graph comes from OpenStreetMap through OSMnx (downloaded with an on-disk cache, or
loaded from a local ``.osm`` / ``.osm.pbf`` / ``.graphml`` file), or from :func:`synthetic_walk_graph`. It is
projected to EPSG:5179 and turned once into a :class:`WalkGraph` (a symmetric CSR adjacency in
minutes), so routing never touches networkx.

Travel times are cut-off shortest paths, computed by a numba-compiled Dijkstra over the
graph's CSR arrays (:func:`node_times`, used by :func:`travel_times` and :func:`service_areas`;
see docs/design-changes.md for why not ``scipy.sparse.csgraph``), and returned as a sparse
:class:`TravelTimes` (only pairs within the cut-off). Modelling choices:

* The walk graph is **undirected**: pedestrians walk both ways along one-way streets. Parallel
  edges keep the shortest one; self-loops are dropped.
* Points (homes, schools, facilities) are **snapped** to the nearest graph node; the snap distance
  is walked in a straight line at the same speed and added to the time (origin access plus
  destination egress). Points further than ``max_snap_m`` from every node get no times and are
  reported (:class:`SnapResult` and a :class:`~careplan._errors.CareplanWarning`).
* Without a graph, :func:`straight_line_times` uses the straight-line distance times a detour
  factor, and says so in ``distance_method``.

Speed and memory: each search from a source touches only the nodes within the cut-off (a
4-ary heap whose position array is reused across sources and reset at the touched nodes only),
and appends what it reaches to an output buffer of bounded size; no dense rows. The kernel reads
a copy of the adjacency renumbered in Z-order of the node coordinates (built once per graph)
and takes the sources in that order, so consecutive searches stay in the CPU caches. As the
walk graph is undirected, the search starts from whichever side (origins or destinations) has
fewer distinct nodes. The multi-source nearest-facility pass stays on
:func:`scipy.sparse.csgraph.dijkstra` (``min_only``), which is one O(graph) call anyway.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numba
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from tqdm import tqdm

from ._errors import CareplanWarning, CRSError, InputDataError, NetworkError, SettingsError
from ._files import special_kind

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_DETOUR_FACTOR",
    "DEFAULT_MAX_CHUNK_BYTES",
    "DEFAULT_MAX_SNAP_M",
    "DEFAULT_WALK_SPEED_KMH",
    "NETWORK_CRS",
    "SnapResult",
    "TravelTimes",
    "WalkGraph",
    "add_walk_minutes",
    "graph_from_place",
    "graph_from_polygon",
    "load_graph",
    "nearest_facility_time",
    "node_times",
    "save_graph",
    "service_areas",
    "snap_points",
    "straight_line_times",
    "synthetic_walk_graph",
    "travel_times",
    "walk_graph",
    "walk_times",
    "warn_far_from_network",
]

logger = logging.getLogger(__name__)

#: Children walk about 1.1 m/s (DOMAIN.md §5 [E]): 10 minutes is about 670 m.
DEFAULT_WALK_SPEED_KMH = 4.0
#: Network / straight-line distance ratio used when no walk graph is available (DOMAIN.md §5 [E]).
DEFAULT_DETOUR_FACTOR = 1.3
#: Points further than this from every graph node are reported, not routed.
DEFAULT_MAX_SNAP_M = 250.0
#: Memory budget of the searches' output buffer (12 bytes per pair found) before it is copied out.
DEFAULT_MAX_CHUNK_BYTES = 256 * 2**20
#: All metric work happens in Korea 2000 / Unified CS (docs/data-contract.md).
NETWORK_CRS = "EPSG:5179"
#: Tag of the files WalkGraph.save writes (bump when their arrays change).
_WALK_GRAPH_FORMAT = "careplan-walk-graph-1"
#: OSMnx download cache (relative to the working directory, like the CLI's data/cache).
DEFAULT_CACHE_DIR = Path("data/cache/osmnx")



@dataclass(frozen=True)
class TravelTimes:
    """Sparse origin × destination walk times in minutes, only pairs within ``cutoff_min``.

    A stored entry may be an explicit ``0.0`` (origin and destination at the same
    place): read reachability from the sparsity structure (``indptr``/``indices``),
    never with ``.nonzero()``, and never call ``eliminate_zeros()`` on it.
    """

    matrix: sp.csr_matrix
    origin_ids: pd.Index
    destination_ids: pd.Index
    cutoff_min: float
    distance_method: str  # "network" or "straight_line"
    params: dict = field(default_factory=dict)  # walk_speed_kmh, detour_factor, graph source …

    def __post_init__(self) -> None:
        shape = (len(self.origin_ids), len(self.destination_ids))
        if self.matrix.shape != shape:
            msg = f"matrix shape {self.matrix.shape} does not match ids {shape}"
            raise ValueError(msg)
        if self.distance_method not in {"network", "straight_line"}:
            msg = f"distance_method must be 'network' or 'straight_line', got {self.distance_method!r}"
            raise ValueError(msg)

    @property
    def method_label(self) -> str:
        """Korean label for maps and reports."""
        speed = self.params.get("walk_speed_kmh", DEFAULT_WALK_SPEED_KMH)
        if self.distance_method == "network":
            return f"도보 네트워크 경로 (보행속도 {speed:g} km/h)"
        detour = self.params.get("detour_factor", DEFAULT_DETOUR_FACTOR)
        return f"직선거리 × 우회계수 {detour:g} (도보 네트워크 없음, 보행속도 {speed:g} km/h)"

    def to_frame(self) -> pd.DataFrame:
        """Long table ``origin_id``, ``destination_id``, ``walk_min`` (explicit zeros kept)."""
        m = self.matrix
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        return pd.DataFrame(
            {
                "origin_id": self.origin_ids[rows],
                "destination_id": self.destination_ids[m.indices],
                "walk_min": m.data,
            }
        )


# --------------------------------------------------------------------------- walk graph


def _m_per_min(walk_speed_kmh: float) -> float:
    if not (isinstance(walk_speed_kmh, int | float) and 0 < walk_speed_kmh < 30):
        msg = f"walk_speed_kmh must be a number in (0, 30) km/h, got {walk_speed_kmh!r}; children walk about 4."
        raise SettingsError(msg)
    return walk_speed_kmh * 1000.0 / 60.0


@dataclass(frozen=True, eq=False)
class WalkGraph:
    """A walk network ready for routing: symmetric CSR adjacency in minutes.

    Build it once with :func:`walk_graph` (from an OSMnx graph) or :meth:`from_edges`
    (from arrays); every routing function accepts it. Node ``i`` of the adjacency is
    ``node_ids[i]`` at ``(x[i], y[i])`` in ``crs``.
    """

    adjacency: sp.csr_matrix
    node_ids: pd.Index
    x: np.ndarray
    y: np.ndarray
    crs: str
    walk_speed_kmh: float
    source: str = ""

    @property
    def n_nodes(self) -> int:
        return self.adjacency.shape[0]

    @property
    def n_edges(self) -> int:
        """Undirected edges (each stored twice in the symmetric adjacency)."""
        return self.adjacency.nnz // 2

    @cached_property
    def _tree(self) -> cKDTree:
        return cKDTree(np.column_stack([self.x, self.y]))

    @cached_property
    def _search(self) -> _SearchGraph:
        return _search_graph(self)

    @classmethod
    def from_edges(
        cls,
        node_x: np.ndarray,
        node_y: np.ndarray,
        edges: np.ndarray,
        edge_length_m: np.ndarray,
        *,
        node_ids: Sequence[Any] | pd.Index | None = None,
        crs: str = NETWORK_CRS,
        walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
        source: str = "edges",
    ) -> WalkGraph:
        """Build from node coordinates and an ``(n_edges, 2)`` array of node positions.

        Edges are undirected; of parallel edges the shortest is kept; self-loops are dropped.
        Zero-length edges are kept as explicit zeros (scipy's csgraph honours them).
        """
        x = np.asarray(node_x, dtype=float)
        y = np.asarray(node_y, dtype=float)
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        length = np.asarray(edge_length_m, dtype=float)
        n = len(x)
        if len(y) != n or len(length) != len(e):
            msg = (
                "expected node_x/node_y of equal length and one length per edge; "
                f"got {len(x)}/{len(y)} nodes, {len(e)} edges, {len(length)} lengths"
            )
            raise NetworkError(msg)
        if len(e) and (e.min() < 0 or e.max() >= n):
            msg = f"edge endpoints must be node positions 0..{n - 1}; got {e.min()}..{e.max()}"
            raise NetworkError(msg)
        if not np.all(np.isfinite(length)) or np.any(length < 0):
            msg = "edge lengths must be finite and >= 0 metres; fix or drop the edges with NaN/negative `length`"
            raise NetworkError(msg)
        keep = e[:, 0] != e[:, 1]
        u, v, w = e[keep, 0], e[keep, 1], length[keep] / _m_per_min(walk_speed_kmh)
        u, v, w = np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w])
        # one int key per (u, v), and the shortest of each run of parallel edges: a stable
        # argsort of the key is 6× faster than a lexsort on (u, v, w) (2.2M entries: 0.09 vs 0.65 s)
        pair = u * n + v
        order = np.argsort(pair, kind="stable")
        pair = pair[order]
        first = np.ones(len(pair), dtype=bool)
        first[1:] = pair[1:] != pair[:-1]
        starts = np.flatnonzero(first)
        pair, w = pair[starts], np.minimum.reduceat(w[order], starts) if len(w) else w
        # rows sorted by (u, v) are CSR already: no COO round trip (another sort)
        index_dtype = np.int32 if n < 2**31 - 1 else np.int64
        indptr = np.zeros(n + 1, dtype=index_dtype)
        np.cumsum(np.bincount(pair // n, minlength=n), out=indptr[1:])
        adjacency = sp.csr_matrix((w, (pair % n).astype(index_dtype), indptr), shape=(n, n))
        ids = pd.Index(np.arange(n) if node_ids is None else node_ids)
        return cls(adjacency, ids, x, y, str(crs), float(walk_speed_kmh), source)

    def save(self, path: str | Path) -> Path:
        """Write the graph to ``path`` (``.npz``: plain numpy arrays, no pickle) and return it.

        :func:`load_graph` reads it back in a fraction of a second (0.02 s for 300k nodes),
        where a 시도's ``.osm.pbf`` or ``.graphml`` takes minutes to parse and convert: read the
        OSM file once, save, and point the scenario's ``network`` at the ``.npz``.
        """
        path = Path(path)
        if path.suffix.lower() != ".npz":
            msg = f"a walk graph is saved as .npz; got {path.name!r}"
            raise SettingsError(msg)
        ids = self.node_ids.to_numpy()
        if ids.dtype.kind not in "iu":  # OSM ids are integers; anything else is kept as text
            ids = ids.astype(str)
        adjacency = self.adjacency.tocsr()
        # written beside the target and renamed: an interrupted save leaves the old file whole,
        # and a link at ``path`` is replaced, not written through
        part = path.with_name(f".{path.name}.partial")
        try:
            with part.open("wb") as f:
                np.savez(
                    f, format=np.array(_WALK_GRAPH_FORMAT), indptr=adjacency.indptr,
                    indices=adjacency.indices, minutes=adjacency.data, node_ids=ids, x=self.x,
                    y=self.y, crs=np.array(self.crs), walk_speed_kmh=np.array(self.walk_speed_kmh),
                    source=np.array(self.source),
                )
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> WalkGraph:
        """Read a graph written by :meth:`save`; a damaged or foreign file is a NetworkError."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                if "format" not in f.files or str(f["format"]) != _WALK_GRAPH_FORMAT:
                    msg = f"{path.name} is not a careplan walk graph (WalkGraph.save writes one)"
                    raise NetworkError(msg)
                x, y = f["x"].astype(float), f["y"].astype(float)
                n = len(x)
                adjacency = sp.csr_matrix((f["minutes"], f["indices"], f["indptr"]), shape=(n, n))
                adjacency.check_format(full_check=True)  # indices in range, indptr monotone
                graph = cls(
                    adjacency, pd.Index(f["node_ids"], name="node_id"), x, y, str(f["crs"]),
                    float(f["walk_speed_kmh"]), str(f["source"]),
                )
        except NetworkError:
            raise
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:
            msg = f"could not read walk graph {path.name!r}: {err}"
            raise NetworkError(msg) from err
        minutes = adjacency.data
        if len(y) != n or len(graph.node_ids) != n or not np.all(np.isfinite(minutes) & (minutes >= 0)):
            msg = (
                f"{path.name}: node arrays of unequal length, or edge minutes that are negative or not finite; "
                "save it again"
            )
            raise NetworkError(msg)
        return graph

    @classmethod
    def from_networkx(
        cls, G: nx.MultiDiGraph, *, walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH
    ) -> WalkGraph:
        """Build from a projected OSMnx-style graph (node ``x``/``y``, edge ``length`` in metres)."""
        crs = G.graph.get("crs")
        if crs is None or pyproj.CRS(crs).is_geographic:
            msg = (
                f"the walk graph must be projected (metres); its graph['crs'] is {crs!r}. "
                "Use careplan.network.load_graph(...) or ox.projection.project_graph(G, to_crs=5179)."
            )
            raise CRSError(msg)
        ids = list(G.nodes)
        pos = {node: i for i, node in enumerate(ids)}
        try:
            x = np.fromiter((d["x"] for _, d in G.nodes(data=True)), float, len(ids))
            y = np.fromiter((d["y"] for _, d in G.nodes(data=True)), float, len(ids))
        except KeyError as err:
            msg = f"every node needs `x` and `y` coordinates; a node lacks {err}"
            raise NetworkError(msg) from None
        # One pass over the edges: iter() hides the view's len(), itself a full pass on multigraphs.
        edges = list(iter(G.edges(data="length")))
        m = len(edges)
        uv = np.column_stack(
            [
                np.fromiter((pos[a] for a, _, _ in edges), np.int64, m),
                np.fromiter((pos[b] for _, b, _ in edges), np.int64, m),
            ]
        )
        length = np.fromiter((np.nan if d is None else d for _, _, d in edges), float, m)
        if np.isnan(length).any():
            msg = (
                f"{int(np.isnan(length).sum())} edges have no `length`; "
                "add it with ox.distance.add_edge_lengths(G) before building the walk graph"
            )
            raise NetworkError(msg)
        source = str(G.graph.get("careplan_source", G.graph.get("name", "networkx graph")))
        return cls.from_edges(
            x, y, uv, length, node_ids=pd.Index(ids, name="node_id"),
            crs=pyproj.CRS(crs).to_string(), walk_speed_kmh=walk_speed_kmh, source=source,
        )


def walk_graph(
    G: nx.MultiDiGraph | WalkGraph, *, walk_speed_kmh: float | None = None
) -> WalkGraph:
    """Turn an OSMnx graph into a :class:`WalkGraph` (pass a WalkGraph through unchanged).

    Build it once and reuse it: the conversion walks every networkx edge in Python.
    """
    if isinstance(G, WalkGraph):
        if walk_speed_kmh is None or walk_speed_kmh == G.walk_speed_kmh:
            return G
        factor = G.walk_speed_kmh / walk_speed_kmh
        _m_per_min(walk_speed_kmh)
        adjacency = G.adjacency.copy()
        adjacency.data *= factor
        return WalkGraph(adjacency, G.node_ids, G.x, G.y, G.crs, float(walk_speed_kmh), G.source)
    if not isinstance(G, nx.MultiDiGraph | nx.MultiGraph | nx.DiGraph | nx.Graph):
        msg = f"expected a networkx graph or WalkGraph, got {type(G).__name__}"
        raise NetworkError(msg)
    wg = WalkGraph.from_networkx(G, walk_speed_kmh=walk_speed_kmh or DEFAULT_WALK_SPEED_KMH)
    logger.info("built walk graph with %s nodes and %s edges", f"{wg.n_nodes:,}", f"{wg.n_edges:,}")
    return wg


def add_walk_minutes(
    G: nx.MultiDiGraph, *, walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH
) -> nx.MultiDiGraph:
    """Set edge attribute ``walk_min`` = ``length`` / speed, in place; returns ``G``."""
    m_per_min = _m_per_min(walk_speed_kmh)
    for _, _, d in G.edges(data=True):
        d["walk_min"] = d["length"] / m_per_min
    G.graph["walk_speed_kmh"] = walk_speed_kmh
    return G


# --------------------------------------------------------------------------- graph sources


@contextmanager
def _osmnx_cache(cache_dir: str | Path, use_cache: bool) -> Iterator[None]:
    """Point OSMnx's global cache settings at ``cache_dir`` only for the duration of a call."""
    import osmnx as ox

    old = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache = use_cache
    ox.settings.cache_folder = str(cache_dir)
    try:
        yield
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = old


def _prepared(G: nx.MultiDiGraph, source: str, walk_speed_kmh: float) -> nx.MultiDiGraph:
    """Project to EPSG:5179, add ``walk_min`` and record where the graph came from."""
    import osmnx as ox

    if len(G) == 0 or G.number_of_edges() == 0:
        what = "nodes" if len(G) == 0 else "ways (edges)"
        msg = f"the walk graph from {source} has no {what}; check the area or file (walkable ways)"
        raise NetworkError(msg)
    _check_edges(G, source)
    try:
        crs = pyproj.CRS(G.graph["crs"])
    except (KeyError, pyproj.exceptions.CRSError):
        msg = (f"the walk graph from {source} has no usable CRS (graph attribute `crs` = "
               f"{G.graph.get('crs')!r}); save it again with OSMnx (ox.save_graphml), which records the CRS")
        raise NetworkError(msg) from None
    if crs != pyproj.CRS(NETWORK_CRS):
        G = ox.projection.project_graph(G, to_crs=NETWORK_CRS)
    G = add_walk_minutes(G, walk_speed_kmh=walk_speed_kmh)
    G.graph["careplan_source"] = source
    logger.info("loaded walk graph from %s: %s nodes, %s edges", source, f"{len(G):,}", f"{G.number_of_edges():,}")
    return G


def _check_edges(G: nx.MultiDiGraph, source: str) -> None:
    """Refuse a graph no one can walk on: nodes without x/y, or edges whose `length` is missing, NaN
    or negative (an edge-less graph is refused by the caller)."""
    placed = 0
    for _, d in G.nodes(data=True):
        with suppress(KeyError, TypeError, ValueError):
            placed += math.isfinite(float(d["x"])) and math.isfinite(float(d["y"]))
    if placed < len(G):
        msg = (f"{len(G) - placed:,} of {len(G):,} nodes of the walk graph from {source} have no usable x/y "
               "coordinates (노드 좌표 없음); fix or drop those nodes, or rebuild the network with OSMnx")
        raise NetworkError(msg)
    bad = 0
    for _, _, d in G.edges(data=True):
        try:
            length = float(d["length"])
        except (KeyError, TypeError, ValueError):
            length = float("nan")
        bad += not (math.isfinite(length) and length >= 0)
    if bad:
        msg = (f"{bad:,} of {G.number_of_edges():,} edges of the walk graph from {source} have no usable "
               "`length` (missing, NaN or negative metres; 간선 길이 오류); fix or drop those edges, or rebuild "
               "the network with OSMnx")
        raise NetworkError(msg)


def _download(fetch: Any, what: str) -> nx.MultiDiGraph:
    import requests
    from osmnx._errors import InsufficientResponseError

    try:
        return fetch()
    except (InsufficientResponseError, requests.RequestException, OSError) as err:
        msg = (
            f"could not download the OSM walk network for {what}: {err}. Check the internet "
            "connection, or load a local file with careplan.network.load_graph(...), or run "
            "without a graph (straight-line times) via careplan.network.walk_times(..., graph=None)."
        )
        raise NetworkError(msg) from err


def graph_from_polygon(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    polygon_crs: str = "EPSG:4326",
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    use_cache: bool = True,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
) -> nx.MultiDiGraph:
    """Download the OSM walk network inside ``polygon`` (OSMnx, ``network_type="walk"``).

    Parameters
    ----------
    polygon
        Area to download, in ``polygon_crs`` (a 학구 or 행정동 polygon in EPSG:5179 works).
    cache_dir
        OSMnx keeps each Overpass response here; the same request is then served offline.
    walk_speed_kmh
        Sets the edge attribute ``walk_min``.

    Returns
    -------
    G
        OSMnx graph projected to EPSG:5179 with edge ``length`` (m) and ``walk_min``.
    """
    import osmnx as ox

    geom = gpd.GeoSeries([polygon], crs=polygon_crs).to_crs("EPSG:4326").iloc[0]
    with _osmnx_cache(cache_dir, use_cache):
        G = _download(lambda: ox.graph_from_polygon(geom, network_type="walk"), "the polygon")
    return _prepared(G, "OpenStreetMap (OSMnx walk, polygon)", walk_speed_kmh)


def graph_from_place(
    place: str | dict[str, str],
    *,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    use_cache: bool = True,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
) -> nx.MultiDiGraph:
    """Geocode ``place`` with Nominatim and download its OSM walk network (see :func:`graph_from_polygon`).

    Examples of ``place``: ``"구로구, 서울특별시, 대한민국"`` or ``"Guro-gu, Seoul, South Korea"``.
    """
    import osmnx as ox

    with _osmnx_cache(cache_dir, use_cache):
        G = _download(lambda: ox.graph_from_place(place, network_type="walk"), repr(place))
    return _prepared(G, f"OpenStreetMap (OSMnx walk, {place})", walk_speed_kmh)


def load_graph(
    path: str | Path, *, walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH
) -> nx.MultiDiGraph | WalkGraph:
    """Load a walk network from a local file, projected to EPSG:5179 with ``walk_min``.

    Supported:

    * a careplan walk graph ``.npz`` (:meth:`WalkGraph.save`), returned as a :class:`WalkGraph`
      at ``walk_speed_kmh`` — the fast way to reuse a large network;
    * OSMnx ``.graphml``;
    * OSM XML ``.osm`` / ``.osm.xml`` / ``.xml`` (optionally ``.bz2``), read with
      ``ox.graph_from_xml`` (all ways in the file, made bidirectional for walking) — meant for
      street extracts from Overpass or JOSM;
    * ``.osm.pbf`` (e.g. a Geofabrik extract of 대한민국), read with pyosmium (``pip install
      osmium``): only the walkable ways (:func:`_walkable`) and their nodes are kept, written to
      a temporary OSM XML file and read like ``.osm``, so both formats give the same graph.
    """
    import osmnx as ox

    path = Path(path)
    name = path.name.lower()
    if not path.exists():
        msg = (
            f"walk network file {str(path)!r} does not exist; "
            "give the path of a .graphml, .osm, .osm.pbf or .npz file"
        )
        raise NetworkError(msg)
    special = special_kind(path.stat().st_mode)
    if special:  # reading a FIFO blocks forever, /dev/zero fills memory
        msg = (f"walk network {str(path)!r} is {special}, not a file; give the path of a .graphml, "
               ".osm, .osm.pbf or .npz file")
        raise NetworkError(msg)
    if name.endswith(".npz"):
        return walk_graph(WalkGraph.load(path), walk_speed_kmh=walk_speed_kmh)
    try:
        if name.endswith(".graphml"):
            G = ox.load_graphml(path)
        elif name.endswith((".osm", ".osm.xml", ".xml", ".osm.bz2", ".xml.bz2")):
            G = ox.graph_from_xml(path, bidirectional=True, simplify=True, retain_all=False)
        elif name.endswith(".pbf"):
            G = _graph_from_pbf(path)
        else:
            msg = f"unknown walk network file type {path.name!r}; expected .graphml, .osm, .osm.xml, .osm.pbf or .npz"
            raise NetworkError(msg)
    except NetworkError:
        raise
    except Exception as err:
        msg = (f"could not read walk network {path.name!r} ({err}); give an OSMnx .graphml (ox.save_graphml), "
               "an .osm/.osm.pbf extract or a careplan .npz, or remove `network` to use straight-line distance")
        raise NetworkError(msg) from err
    return _prepared(G, f"file {path.name}", walk_speed_kmh)


# Values of `highway` a pedestrian cannot use (or that are not built yet / any more).
_NOT_WALKABLE_HIGHWAY = frozenset(
    {
        "abandoned", "bus_guideway", "construction", "cycleway", "motorway", "motorway_link", "no",
        "planned", "platform", "proposed", "raceway", "razed", "rest_area", "services",
    }
)
_SIDEWALK_KEYS = ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")


def _walkable(tags: Any) -> bool:
    """Whether an OSM way is part of the walk network (the rules of OSMnx's ``walk`` type).

    A ``highway`` that is not motorway, cycleway, platform or unbuilt; not an area; not
    ``foot=no``; not private (``access``/``service``); and not a street whose sidewalks are
    mapped as separate ways (those ways are walked instead).
    """
    highway = tags.get("highway")
    if highway is None or highway in _NOT_WALKABLE_HIGHWAY:
        return False
    if tags.get("area") == "yes" or tags.get("foot") == "no" or tags.get("service") == "private":
        return False
    if tags.get("access") == "private" and tags.get("foot") not in {"yes", "designated", "permissive"}:
        return False
    return all(tags.get(key) != "separate" for key in _SIDEWALK_KEYS)


def _graph_from_pbf(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    try:
        import osmium
    except ImportError:
        msg = (
            f"{path.name}: reading .osm.pbf needs pyosmium; install it with `pip install osmium` "
            f"(or convert the file first: `osmium cat {path.name} -o out.osm` and load the .osm)"
        )
        raise NetworkError(msg) from None
    with tempfile.TemporaryDirectory(prefix="careplan-pbf-") as tmp:
        xml = Path(tmp) / "walk.osm"
        n_ways = 0
        # the writer adds every node the kept ways reference (with its tags, as the .osm has them)
        with osmium.BackReferenceWriter(str(xml), ref_src=str(path), overwrite=True, remove_tags=False) as out:
            for way in osmium.FileProcessor(str(path), osmium.osm.WAY):
                if _walkable(way.tags):
                    out.add_way(way)
                    n_ways += 1
        if not n_ways:
            msg = f"{path.name} holds no walkable ways (highway=…); check that it is a street extract of the area"
            raise NetworkError(msg)
        logger.info("%s: %s walkable ways", path.name, f"{n_ways:,}")
        return ox.graph_from_xml(xml, bidirectional=True, simplify=True, retain_all=False)


def save_graph(G: nx.MultiDiGraph, path: str | Path) -> Path:
    """Save an OSMnx-compatible graph as GraphML (``ox.save_graphml``) and return the path."""
    import osmnx as ox

    path = Path(path)
    ox.save_graphml(G, path)
    return path


# --------------------------------------------------------------------------- snapping


def _point_xy(gdf: gpd.GeoDataFrame, name: str, *, crs: Any = None) -> np.ndarray:
    """Check a point layer against the data contract and return its ``(n, 2)`` coordinates."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"`{name}` must be a GeoDataFrame of points, got {type(gdf).__name__}"
        raise InputDataError(msg)
    if gdf.crs is None or gdf.crs.is_geographic:
        msg = (
            f"`{name}` must be in a projected CRS (metres); got {gdf.crs!r}. "
            f"Use `{name}.to_crs(5179)` (careplan readers return EPSG:5179)."
        )
        raise CRSError(msg)
    if crs is not None and pyproj.CRS(gdf.crs) != pyproj.CRS(crs):
        msg = f"`{name}` is in {gdf.crs.to_string()} but the walk graph is in {crs}; use `{name}.to_crs({crs!r})`"
        raise CRSError(msg)
    if not gdf.index.is_unique or gdf.index.hasnans:
        msg = f"`{name}` index must hold unique, non-null ids (data contract); found duplicates or nulls"
        raise InputDataError(msg)
    geom = np.asarray(gdf.geometry.values)  # plain object array: shapely's ufuncs skip pandas dispatch
    bad = shapely.is_empty(geom) | (shapely.get_type_id(geom) != 0) if len(gdf) else np.zeros(0, bool)
    if bad.any():
        first = gdf.index[np.flatnonzero(bad)[0]]
        msg = (
            f"`{name}` must hold non-empty Points; {int(bad.sum())} rows do not (first id {first!r}). "
            f"Use `{name}.representative_point()` for polygons."
        )
        raise InputDataError(msg)
    return np.column_stack([shapely.get_x(geom), shapely.get_y(geom)]) if len(gdf) else np.zeros((0, 2))


@dataclass(frozen=True)
class SnapResult:
    """Nearest graph node of each point.

    ``node`` is the node position in the :class:`WalkGraph` (``-1`` where the point is further
    than ``max_snap_m`` from every node), ``distance_m`` the straight-line distance to the
    nearest node (for every point).
    """

    point_ids: pd.Index
    node: np.ndarray
    distance_m: np.ndarray
    max_snap_m: float

    @property
    def within(self) -> np.ndarray:
        return self.node >= 0

    @property
    def far(self) -> pd.DataFrame:
        """Points not snapped: their ids and distance to the nearest node."""
        far = ~self.within
        return pd.DataFrame({"distance_m": self.distance_m[far]}, index=self.point_ids[far])


def _nearest(tree: cKDTree, xy: np.ndarray, max_snap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest node and its distance; the bound makes the common case (near a node) fast."""
    if not len(xy):
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    bound = max_snap_m * (1 + 1e-12) + 1e-9 if np.isfinite(max_snap_m) else np.inf
    dist, node = tree.query(xy, distance_upper_bound=bound)
    far = np.flatnonzero(~np.isfinite(dist))
    if len(far):  # report how far the far points are
        dist[far], node[far] = tree.query(xy[far])
    return dist, node


def snap_points(
    graph: WalkGraph | nx.MultiDiGraph,
    points: gpd.GeoDataFrame,
    *,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    warn: bool = True,
) -> SnapResult:
    """Snap points to their nearest graph node (scipy ``cKDTree`` on the node coordinates).

    Points further than ``max_snap_m`` are not snapped; they are listed in ``SnapResult.far``
    and, with ``warn=True``, named in a ``CareplanWarning``.
    """
    graph = walk_graph(graph)
    xy = _point_xy(points, "points", crs=graph.crs)
    if graph.n_nodes == 0:
        msg = "the walk graph has no nodes"
        raise NetworkError(msg)
    dist, node = _nearest(graph._tree, xy, max_snap_m)
    node = np.where(dist <= max_snap_m, node, -1).astype(np.int64)
    result = SnapResult(points.index, node, np.asarray(dist, dtype=float), float(max_snap_m))
    if warn:
        warn_far_from_network(result.far["distance_m"], len(points), "points", max_snap_m)
    return result


def warn_far_from_network(
    far_m: pd.Series, n_total: int, name: str, max_snap_m: float, *, stacklevel: int = 3
) -> None:
    """A ``CareplanWarning`` naming the ``far_m`` of ``n_total`` ``name`` beyond ``max_snap_m``.

    ``far_m`` is the distance to the network (metres, NaN when not known) by point id; the
    first five are named. Nothing when it is empty.
    """
    if not len(far_m):
        return
    shown = ", ".join(
        f"{i} ({d:,.0f} m)" if np.isfinite(d) else str(i) for i, d in far_m.head(5).items()
    )
    msg = (
        f"{len(far_m)} of {n_total} {name} are more than {max_snap_m:g} m from the walk network "
        f"and get no network travel times: {shown}{' …' if len(far_m) > 5 else ''}. "
        "Check their coordinates, extend the network area, or raise max_snap_m."
    )
    warnings.warn(msg, CareplanWarning, stacklevel=stacklevel)


# --------------------------------------------------------------------------- routing core

# Heap position of a node that has been settled (its time is final) or not reached yet.
_SETTLED = -2
_UNSEEN = -1


def _njit(func: Any) -> Any:
    """``numba.njit(cache=True)``, or without the on-disk cache where none can be written.

    numba keeps compiled kernels next to this file (``__pycache__``) or, when that directory is
    read-only, in a user-wide cache directory; if neither is writable it refuses ``cache=True``
    at decoration time. Compiling on every import (about a second) beats failing to import.
    """
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError as err:  # "cannot cache function ...: no locator available"
        logger.info("numba cache unavailable (%s); compiling %s in memory on every run", err, func.__name__)
        return numba.njit(cache=False, nogil=True)(func)


# The heap is 4-ary: half the depth of a binary heap, and the four children share a cache
# line; measured 20 % faster than binary on the benchmark graph (8-ary: no better).


@_njit
def _sift_up(heap_node: np.ndarray, heap_key: np.ndarray, pos: np.ndarray, i: int) -> None:
    node, key = heap_node[i], heap_key[i]
    while i > 0:
        parent = (i - 1) >> 2  # (i - 1) // 4 without the sign handling of //
        if heap_key[parent] <= key:
            break
        heap_node[i], heap_key[i] = heap_node[parent], heap_key[parent]
        pos[heap_node[i]] = i
        i = parent
    heap_node[i], heap_key[i] = node, key
    pos[node] = i


@_njit
def _sift_down(heap_node: np.ndarray, heap_key: np.ndarray, pos: np.ndarray, size: int) -> None:
    """Restore the heap after its last entry was moved to the root."""
    node, key = heap_node[0], heap_key[0]
    i = 0
    while True:
        child = 4 * i + 1
        if child >= size:
            break
        best, best_key = child, heap_key[child]
        for j in range(child + 1, min(child + 4, size)):
            if heap_key[j] < best_key:
                best, best_key = j, heap_key[j]
        if best_key >= key:
            break
        heap_node[i], heap_key[i] = heap_node[best], best_key
        pos[heap_node[i]] = i
        i = best
    heap_node[i], heap_key[i] = node, key
    pos[node] = i


@_njit
def _cutoff_search(
    indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, sources: np.ndarray,
    first: int, last: int, limit: float, targets: np.ndarray, room: int,
    pos: np.ndarray, heap_node: np.ndarray, heap_key: np.ndarray, touched: np.ndarray,
    out_node: np.ndarray, out_time: np.ndarray, counts: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Dijkstra from ``sources[first:last]`` in turn, every node within ``limit`` minutes.

    A 4-ary heap of (time, node) with decrease-key: ``pos[v]`` is v's heap slot, or
    ``_UNSEEN`` / ``_SETTLED``; a node's tentative time lives in its heap slot only, so there
    is no distance array. ``pos`` is all ``_UNSEEN`` on entry and is reset at the touched nodes
    only after each source, so a search costs O(its ball), never O(graph). Times are
    ``time[u] + w`` in float64, the sums networkx forms; the final time of a node is the minimum
    of that sum over its neighbours whatever the settling order, so ties give identical values.
    The nodes settled (only ``targets`` where that mask is not empty) are appended to
    ``out_node``/``out_time`` in settling order, source by source, ``counts[k]`` of them for
    ``sources[k]``; a source is started only if ``room`` more pairs fit.
    Returns ``(next source, pairs written)``.
    """
    masked = len(targets) > 0
    cap = len(out_node)
    written = 0
    k = first
    while k < last and cap - written >= room:
        s = sources[k]
        before = written
        heap_node[0], heap_key[0], pos[s] = s, 0.0, 0
        size, n_touched = 1, 1
        touched[0] = s
        while size > 0:
            u, du = heap_node[0], heap_key[0]
            pos[u] = _SETTLED
            size -= 1
            if size > 0:
                heap_node[0], heap_key[0] = heap_node[size], heap_key[size]
                _sift_down(heap_node, heap_key, pos, size)
            if not masked or targets[u]:
                out_node[written] = u
                out_time[written] = du
                written += 1
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                p = pos[v]
                if p == _SETTLED:
                    continue
                t = du + weights[e]
                if t > limit:
                    continue
                if p == _UNSEEN:
                    touched[n_touched] = v
                    n_touched += 1
                    p = size
                    size += 1
                elif t >= heap_key[p]:
                    continue
                heap_node[p], heap_key[p] = v, t
                _sift_up(heap_node, heap_key, pos, p)
        for i in range(n_touched):
            pos[touched[i]] = _UNSEEN
        counts[k] = written - before
        k += 1
    return k, written


def _morton(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Z-order key of points, so that sorting by it puts points near each other in space next
    to each other (consecutive searches then reuse the same nodes in the CPU caches)."""

    def spread(v: np.ndarray) -> np.ndarray:
        v = v & 0xFFFF
        v = (v | (v << 8)) & 0x00FF00FF
        v = (v | (v << 4)) & 0x0F0F0F0F
        v = (v | (v << 2)) & 0x33333333
        return (v | (v << 1)) & 0x55555555

    def quantise(v: np.ndarray) -> np.ndarray:
        lo, span = float(v.min()), max(float(v.max() - v.min()), 1e-9)
        return ((v - lo) / span * 65535).astype(np.uint64)

    return spread(quantise(x)) | (spread(quantise(y)) << np.uint64(1))


@dataclass(frozen=True)
class _SearchGraph:
    """The adjacency renumbered in Z-order of the node coordinates, as the kernel reads it.

    Nodes near each other in space get nearby numbers, so a search's ball sits in few cache
    lines whatever order the graph came in (OSM files list nodes by id). Measured on the
    benchmark graph with its nodes shuffled: 1.7× slower searches without the renumbering.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    order: np.ndarray  # renumbered node k is graph node order[k]
    rank: np.ndarray  # graph node v is renumbered node rank[v]


def _search_graph(graph: WalkGraph) -> _SearchGraph:
    adj, n = graph.adjacency, graph.n_nodes
    index_dtype = np.int32 if n < 2**31 - 1 else np.int64
    order = np.argsort(_morton(graph.x, graph.y), kind="stable").astype(index_dtype)
    rank = np.empty(n, dtype=index_dtype)
    rank[order] = np.arange(n, dtype=index_dtype)
    renumbered = adj[order][:, order]
    return _SearchGraph(
        renumbered.indptr, renumbered.indices, np.ascontiguousarray(renumbered.data, dtype=np.float64), order, rank
    )


def _searches(
    graph: WalkGraph, sources: np.ndarray, limit: float, *, targets: np.ndarray | None = None,
    chunk_size: int, max_chunk_bytes: int, progress: bool, desc: str,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Cut-off searches from ``sources`` (node positions), at most ``chunk_size`` per kernel call.

    Yields ``(which, counts, nodes, minutes)``: the sources at positions ``which`` reached
    ``counts[k]`` nodes each, listed source by source in ``nodes``/``minutes`` (in the order
    the search settled them). Sources are searched in Z-order of their coordinates on the
    renumbered graph (:class:`_SearchGraph`): consecutive searches then reuse the same nodes in
    the CPU caches (about 1.5× faster than a random order on the benchmark graph). ``targets``
    (boolean per node) keeps only those nodes. The output buffer holds about
    ``max_chunk_bytes`` (12 bytes per pair), and never less than one search's worth; with the
    four O(nodes) scratch arrays that is all the working memory.
    """
    if chunk_size < 1 or max_chunk_bytes < 1:
        msg = f"chunk_size and max_chunk_bytes must be >= 1, got {chunk_size!r} and {max_chunk_bytes!r}"
        raise SettingsError(msg)
    n = graph.n_nodes
    mask = np.zeros(0, dtype=np.bool_) if targets is None else np.ascontiguousarray(targets, dtype=np.bool_)
    room = n if targets is None else int(mask.sum())
    if not len(sources) or room == 0:
        return
    g = graph._search
    order = np.argsort(g.rank[sources], kind="stable")  # Z-order, like the renumbered nodes
    src = np.ascontiguousarray(g.rank[sources[order]], dtype=np.int64)
    if targets is not None:
        mask = np.ascontiguousarray(mask[g.order])
    cap = max(room, min(max_chunk_bytes // 12, room * chunk_size))
    index_dtype = g.order.dtype
    pos = np.full(n, _UNSEEN, dtype=index_dtype)
    heap_node, touched = np.empty(n, dtype=index_dtype), np.empty(n, dtype=index_dtype)
    heap_key = np.empty(n)
    out_node, out_time = np.empty(cap, dtype=index_dtype), np.empty(cap)
    counts = np.zeros(len(src), dtype=np.int64)
    with tqdm(total=len(src), disable=not progress, desc=desc, unit="source") as bar:
        first = 0
        while first < len(src):
            last = min(first + chunk_size, len(src))
            nxt, written = _cutoff_search(
                g.indptr, g.indices, g.weights, src, first, last, float(limit), mask, room,
                pos, heap_node, heap_key, touched, out_node, out_time, counts,
            )
            yield order[first:nxt], counts[first:nxt], g.order[out_node[:written]], out_time[:written].copy()
            bar.update(nxt - first)
            first = nxt


def node_times(
    graph: WalkGraph | nx.MultiDiGraph,
    sources: Sequence[int] | np.ndarray,
    *,
    cutoff_min: float,
    targets: np.ndarray | None = None,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
    progress: bool = False,
) -> sp.csr_matrix:
    """Walk minutes from graph nodes to every node within ``cutoff_min`` (cut-off Dijkstra).

    The node-level answer networkx's ``single_source_dijkstra_path_length(G, s, cutoff=...)``
    gives, for many sources at once and with the same float64 sums.

    Parameters
    ----------
    graph
        A :class:`WalkGraph` (or an OSMnx graph, converted first).
    sources
        Node positions ``0 .. n_nodes - 1`` of the WalkGraph (``graph.node_ids.get_indexer(ids)``
        turns node ids into positions); repeats are allowed.
    cutoff_min
        Nodes with time ``<= cutoff_min`` are kept (``np.inf``: every reachable node).
    targets
        Keep only these nodes: a boolean mask over the nodes or an array of node positions.
    max_chunk_bytes
        Size of the output buffer the searches fill before it is copied out (12 bytes per pair).
    progress
        Show a tqdm progress bar over the sources.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(len(sources), n_nodes)``, sorted indices; entry ``(i, v)`` is the time from
        ``sources[i]`` to node ``v``. The source itself is stored as an explicit ``0.0``:
        read reachability from ``indptr``/``indices``, never ``.nonzero()``.
    """
    graph = walk_graph(graph)
    n = graph.n_nodes
    if not cutoff_min >= 0:
        msg = f"cutoff_min must be >= 0 minutes (np.inf for no cut-off), got {cutoff_min!r}"
        raise SettingsError(msg)
    src = np.asarray(sources)
    if src.ndim != 1 or (len(src) and (src.dtype.kind not in "iu" or src.min() < 0 or src.max() >= n)):
        msg = (
            f"sources must be a 1-D array of node positions 0..{n - 1}; got {src.dtype} values "
            f"{src.min() if len(src) else ''}..{src.max() if len(src) else ''}. "
            "Use graph.node_ids.get_indexer(ids) for node ids."
        )
        raise NetworkError(msg)
    mask = None if targets is None else _target_mask(targets, n)
    which: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    nodes: list[np.ndarray] = []
    minutes: list[np.ndarray] = []
    for w, c, v, t in _searches(
        graph, src, float(cutoff_min), targets=mask, chunk_size=256 if progress else max(1, len(src)),
        max_chunk_bytes=max_chunk_bytes, progress=progress, desc="node times",
    ):
        which.append(w)
        counts.append(c)
        nodes.append(v)
        minutes.append(t)
    if not counts:  # no sources, or no targets
        return sp.csr_matrix((len(src), n))
    # Rows come out in search order, each in one piece, columns in settling order. Two counting
    # sorts put them right: CSR -> CSC (by column), renumber the rows, CSC -> CSR (by row, and
    # within a row by column). Linear in the pairs; measured 30 % faster than row indexing plus
    # sort_indices.
    indptr = np.zeros(len(src) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(counts), out=indptr[1:])
    index_dtype = np.int32 if max(indptr[-1], n, len(src)) < 2**31 - 1 else np.int64

    def joined(pieces: list[np.ndarray]) -> np.ndarray:
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    searched = sp.csr_matrix(
        (joined(minutes), joined(nodes).astype(index_dtype, copy=False), indptr.astype(index_dtype)),
        shape=(len(src), n),
    ).tocsc()
    searched.indices = joined(which).astype(index_dtype)[searched.indices]
    searched.has_sorted_indices = False
    return searched.tocsr()  # scipy fills each row column by column: sorted indices


def _target_mask(targets: np.ndarray, n: int) -> np.ndarray:
    t = np.asarray(targets)
    if t.dtype == bool:
        if t.shape != (n,):
            msg = f"a boolean targets mask needs one value per node ({n}); got shape {t.shape}"
            raise NetworkError(msg)
        return t
    if t.ndim != 1 or (len(t) and (t.dtype.kind not in "iu" or t.min() < 0 or t.max() >= n)):
        msg = f"targets must be a boolean mask over the {n} nodes or an array of node positions 0..{n - 1}"
        raise NetworkError(msg)
    mask = np.zeros(n, dtype=bool)
    mask[t] = True
    return mask


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unique keys, and for each the run ``[start, start + count)`` in ``order``."""
    order = np.argsort(keys, kind="stable")
    uniq, start, count = np.unique(keys[order], return_index=True, return_counts=True)
    return uniq, order, start, count


def _expand(
    order: np.ndarray, start: np.ndarray, count: np.ndarray, which: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Members of groups ``which`` and, for each member, its position in ``which``."""
    n = count[which]
    owner = np.repeat(np.arange(len(which)), n)
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return order[start[which][owner] + offset], owner


def _members(
    order: np.ndarray, start: np.ndarray, count: np.ndarray, which: np.ndarray, *, single: bool
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The one member of each group in ``which`` when every group is a single point (the usual
    case: one gather), else ``_expand``'s ``(members, owner)``."""
    return order[start[which]] if single else _expand(order, start, count, which)


def _limit_pad(limit: float) -> float:
    # A hair above the cut-off so no pair at exactly the cut-off is lost to rounding in
    # (cutoff - snap times); the exact cut-off is applied to the final sums.
    return limit + 1e-9 * max(1.0, abs(limit))


def _csr(
    rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray], shape: tuple[int, int]
) -> sp.csr_matrix:
    """CSR matrix of unique ``(row, col)`` pairs given in pieces; the lists are emptied.

    A counting sort scatters each piece into the final arrays and frees it, so the peak is the
    pieces plus the result (about 28 bytes per pair), never a second full copy of the pieces.
    """
    n_rows = shape[0]
    counts = np.zeros(n_rows, dtype=np.int64)
    for r in rows:
        counts += np.bincount(r, minlength=n_rows)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    index_dtype = np.int32 if max(nnz, shape[1]) < 2**31 - 1 else np.int64
    indices, data = np.empty(nnz, dtype=index_dtype), np.empty(nnz)
    fill = indptr[:-1].copy()
    while rows:
        r, c, v = rows.pop(), cols.pop(), vals.pop()
        if not len(r):
            continue
        first = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
        if len(np.unique(r[first])) < len(first):  # a row in several runs: group it first
            order = np.argsort(r, kind="stable")
            r, c, v = r[order], c[order], v[order]
            first = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
        n = np.diff(np.append(first, len(r)))
        at = fill[r] + np.arange(len(r)) - np.repeat(first, n)
        indices[at], data[at] = c, v
        fill[r[first]] += n
    m = sp.csr_matrix((data, indices, indptr.astype(index_dtype)), shape=shape)
    m.sort_indices()
    return m


def _pair_times(
    graph: WalkGraph, o_node: np.ndarray, d_node: np.ndarray, o_min: np.ndarray, d_min: np.ndarray,
    *, cutoff_min: float, limit: float, chunk_size: int, max_chunk_bytes: int, progress: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(origin positions, destination positions, minutes)`` of all pairs within ``cutoff_min``.

    Points snapped to one node share a search. The walk graph is undirected, so the searches
    start from whichever side has fewer distinct nodes (500 schools × 5,000 homes: 500 searches).
    """
    o_groups, d_groups = _groups(o_node), _groups(d_node)
    swap = len(d_groups[0]) < len(o_groups[0])
    (s_uniq, s_order, s_start, s_count), (t_uniq, t_order, t_start, t_count) = (
        (d_groups, o_groups) if swap else (o_groups, d_groups)
    )
    group_of = np.full(graph.n_nodes, -1, dtype=np.int64)
    group_of[t_uniq] = np.arange(len(t_uniq))
    s_single, t_single = bool(s_count.max() == 1), bool(t_count.max() == 1)
    targets = group_of >= 0
    for searched, counts, node, node_min in _searches(
        graph, s_uniq, limit, targets=None if targets.all() else targets, chunk_size=chunk_size,
        max_chunk_bytes=max_chunk_bytes, progress=progress, desc="travel times",
    ):
        which = np.repeat(searched, counts)
        t_members = _members(t_order, t_start, t_count, group_of[node], single=t_single)
        s_which, path = which, node_min
        if isinstance(t_members, tuple):  # some points share a node: one row per point
            t_members, k = t_members
            s_which, path = which[k], node_min[k]
        s_members = _members(s_order, s_start, s_count, s_which, single=s_single)
        if isinstance(s_members, tuple):
            s_members, k = s_members
            t_members, path = t_members[k], path[k]
        o, d = (t_members, s_members) if swap else (s_members, t_members)
        t = o_min[o] + path + d_min[d]
        ok = t <= cutoff_min
        yield o[ok], d[ok], t[ok]


def travel_times(
    graph: WalkGraph | nx.MultiDiGraph,
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    cutoff_min: float,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    chunk_size: int = 128,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
    progress: bool = False,
    warn: bool = True,
) -> TravelTimes:
    """Network walk times from every origin to every destination within ``cutoff_min``.

    Time = straight-line snap of the origin to its nearest node + shortest path on the
    undirected walk graph + snap of the destination, all at the graph's walking speed.

    Parameters
    ----------
    graph
        A :class:`WalkGraph` (build once with :func:`walk_graph`) or an OSMnx graph.
    origins, destinations
        Point GeoDataFrames in the graph's CRS (EPSG:5179), indexed by their ids.
    cutoff_min
        Only pairs with time ``<= cutoff_min`` are stored (``np.inf``: all reachable pairs).
    max_snap_m
        Points further from the network get no times (see :func:`snap_points`).
    chunk_size
        At most this many searches per call of the compiled Dijkstra kernel (the pairs they
        find are turned into point pairs between calls). With the graph undirected, the side
        with fewer distinct nodes is searched.
    max_chunk_bytes
        Size of the kernel's output buffer (12 bytes per node pair found) before its pairs are
        turned into point pairs; with four arrays of one entry per node, the search's working
        memory, whatever the number of points. The result grows by the pairs kept.
    progress
        Show a tqdm progress bar over the searches.
    warn
        Name the origins and destinations further than ``max_snap_m`` in a ``CareplanWarning``
        (False: only in ``params``, for a caller that reports them itself).

    Returns
    -------
    TravelTimes
        ``distance_method="network"``; ``params`` holds the speed, graph source and the ids
        of points that could not be snapped.
    """
    graph = walk_graph(graph)
    if not cutoff_min >= 0:
        msg = f"cutoff_min must be >= 0 minutes (np.inf for no cut-off), got {cutoff_min!r}"
        raise SettingsError(msg)
    snap_o = snap_points(graph, origins, max_snap_m=max_snap_m, warn=False)
    snap_d = snap_points(graph, destinations, max_snap_m=max_snap_m, warn=False)
    if warn:
        _warn_far(snap_o, "origins")
        _warn_far(snap_d, "destinations")
    m_per_min = _m_per_min(graph.walk_speed_kmh)
    o_idx, d_idx = np.flatnonzero(snap_o.within), np.flatnonzero(snap_d.within)
    o_node, d_node = snap_o.node[o_idx], snap_d.node[d_idx]
    o_min, d_min = snap_o.distance_m[o_idx] / m_per_min, snap_d.distance_m[d_idx] / m_per_min

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    pair_dtype = np.int32 if max(len(origins), len(destinations)) < 2**31 - 1 else np.int64
    if len(o_idx) and len(d_idx):
        limit = _limit_pad(cutoff_min - o_min.min() - d_min.min())
        if limit >= 0:
            for o, d, t in _pair_times(
                graph, o_node, d_node, o_min, d_min, cutoff_min=cutoff_min, limit=limit,
                chunk_size=chunk_size, max_chunk_bytes=max_chunk_bytes, progress=progress,
            ):
                rows.append(o_idx[o].astype(pair_dtype))  # 16 bytes per pair until assembled
                cols.append(d_idx[d].astype(pair_dtype))
                vals.append(t)
    matrix = _csr(rows, cols, vals, (len(origins), len(destinations)))
    logger.info(
        "network travel times: %s origins × %s destinations, %s pairs within %g min",
        f"{len(origins):,}", f"{len(destinations):,}", f"{matrix.nnz:,}", cutoff_min,
    )
    params = {
        "walk_speed_kmh": graph.walk_speed_kmh,
        "graph_source": graph.source,
        "max_snap_m": max_snap_m,
        "snap": "straight line to the nearest node, walked at the same speed",
        "unsnapped_origins": snap_o.far.index,
        "unsnapped_destinations": snap_d.far.index,
    }
    return TravelTimes(matrix, origins.index, destinations.index, float(cutoff_min), "network", params)


def _warn_far(snap: SnapResult, name: str) -> None:
    far_m = snap.far["distance_m"]
    warn_far_from_network(far_m, len(snap.node), name, snap.max_snap_m, stacklevel=4)


def nearest_facility_time(
    graph: WalkGraph | nx.MultiDiGraph,
    facilities: gpd.GeoDataFrame,
    *,
    cutoff_min: float = np.inf,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> pd.DataFrame:
    """Walk time from every graph node to its nearest facility, in one multi-source pass.

    Each facility becomes a virtual source joined to its snapped node by its snap time, so a
    single ``dijkstra(..., min_only=True)`` gives the exact minimum including egress.

    Returns
    -------
    DataFrame
        Indexed by node id: ``walk_min`` (NaN beyond ``cutoff_min``) and ``facility_id``
        (the nearest facility; ties broken arbitrarily).
    """
    graph = walk_graph(graph)
    snap = snap_points(graph, facilities, max_snap_m=max_snap_m, warn=False)
    _warn_far(snap, "facilities")
    n = graph.n_nodes
    idx = np.flatnonzero(snap.within)
    walk = np.full(n, np.nan)
    nearest = pd.Series([None] * n, index=graph.node_ids, dtype=object)
    if len(idx):
        adj = graph.adjacency
        k = len(idx)
        snap_min = snap.distance_m[idx] / _m_per_min(graph.walk_speed_kmh)
        augmented = sp.csr_matrix(
            (
                np.concatenate([adj.data, snap_min]),
                np.concatenate([adj.indices, snap.node[idx].astype(adj.indices.dtype)]),
                np.concatenate([adj.indptr, adj.indptr[-1] + np.arange(1, k + 1, dtype=adj.indptr.dtype)]),
            ),
            shape=(n + k, n + k),
        )
        dist, _, src = dijkstra(
            augmented, directed=True, indices=np.arange(n, n + k), limit=_limit_pad(cutoff_min),
            min_only=True, return_predecessors=True,
        )
        ok = dist[:n] <= cutoff_min
        walk[ok] = dist[:n][ok]
        nearest[ok] = facilities.index[idx[src[:n][ok] - n]].to_numpy()
    return pd.DataFrame({"walk_min": walk, "facility_id": nearest.to_numpy()}, index=graph.node_ids)


def service_areas(
    graph: WalkGraph | nx.MultiDiGraph,
    facilities: gpd.GeoDataFrame,
    *,
    minutes: float,
    buffer_m: float = 40.0,
    fill_holes: bool = True,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Walk isochrones: the area within ``minutes`` of each facility.

    Method: every street segment walkable within ``minutes`` (whole edges, and the reachable
    part of edges at the edge of the area, cut at the exact fraction of time left) is drawn as a
    straight line between its nodes, buffered by ``buffer_m`` (the houses along the street) and
    unioned. With ``fill_holes`` the blocks enclosed by reachable streets are filled in.

    Returns
    -------
    GeoDataFrame
        Indexed like ``facilities``: ``minutes``, ``reached_nodes`` and the polygon (None for a
        facility that could not be snapped), in the graph's CRS.
    """
    graph = walk_graph(graph)
    snap = snap_points(graph, facilities, max_snap_m=max_snap_m, warn=False)
    _warn_far(snap, "facilities")
    idx = np.flatnonzero(snap.within)
    geoms = np.full(len(facilities), None, dtype=object)
    reached_count = np.zeros(len(facilities), dtype=np.int64)
    if len(idx):
        snap_min = snap.distance_m[idx] / _m_per_min(graph.walk_speed_kmh)
        limit = _limit_pad(minutes - snap_min.min())
        uniq, order, start, count = _groups(snap.node[idx])
        adj = graph.adjacency
        for searched, counts, nodes, times in _searches(
            graph, uniq, limit, chunk_size=64, max_chunk_bytes=max_chunk_bytes,
            progress=progress, desc="service areas",
        ):
            ends = np.cumsum(counts)
            members, owner = _expand(order, start, count, searched)
            for f, row in zip(members, owner, strict=True):
                reached, t = nodes[ends[row] - counts[row] : ends[row]], times[ends[row] - counts[row] : ends[row]]
                by_node = np.argsort(reached)  # _isochrone looks nodes up by binary search
                geoms[idx[f]], reached_count[idx[f]] = _isochrone(
                    graph, adj, reached[by_node], t[by_node], minutes - snap_min[f], buffer_m, fill_holes
                )
    return gpd.GeoDataFrame(
        {"minutes": float(minutes), "reached_nodes": reached_count},
        geometry=gpd.GeoSeries(geoms, crs=graph.crs, index=facilities.index),
        index=facilities.index,
    )


def _isochrone(
    graph: WalkGraph, adj: sp.csr_matrix, sub_nodes: np.ndarray, times: np.ndarray,
    left: float, buffer_m: float, fill_holes: bool,
) -> tuple[Any, int]:
    reached_local = np.flatnonzero(times <= left)
    if left < 0 or not len(reached_local):
        return None, 0
    reached = sub_nodes[reached_local]
    t_u_all = times[reached_local]
    n_nb = np.diff(adj.indptr)[reached]
    u = np.repeat(reached, n_nb)
    t_u = np.repeat(t_u_all, n_nb)
    starts = np.repeat(adj.indptr[reached], n_nb) + (np.arange(n_nb.sum()) - np.repeat(np.cumsum(n_nb) - n_nb, n_nb))
    v, w = adj.indices[starts], adj.data[starts]
    pos = np.minimum(np.searchsorted(sub_nodes, v), len(sub_nodes) - 1)
    t_v = np.where(sub_nodes[pos] == v, times[pos], np.inf)
    v_in = t_v <= left
    keep = ~v_in | (u < v)  # an edge between two reached nodes is drawn once
    u, v, w, t_u, t_v, v_in = u[keep], v[keep], w[keep], t_u[keep], t_v[keep], v_in[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        f_u = np.where(w > 0, np.clip((left - t_u) / w, 0, 1), 1.0)
        f_v = np.where(v_in & (w > 0), np.clip((left - t_v) / w, 0, 1), np.where(v_in, 1.0, 0.0))
    whole = f_u + f_v >= 1
    f_u = np.where(whole, 1.0, f_u)
    p_u = np.column_stack([graph.x[u], graph.y[u]])
    p_v = np.column_stack([graph.x[v], graph.y[v]])
    seg_a = np.stack([p_u, p_u + f_u[:, None] * (p_v - p_u)], axis=1)
    partial_v = v_in & ~whole  # reached from both ends, a gap in the middle
    seg_b = np.stack(
        [p_v[partial_v], p_v[partial_v] + f_v[partial_v, None] * (p_u[partial_v] - p_v[partial_v])], axis=1
    )
    segments = np.concatenate([seg_a, seg_b])
    parts = [shapely.points(graph.x[reached], graph.y[reached])]
    if len(segments):
        parts.append(shapely.linestrings(segments))
    geom = shapely.buffer(shapely.GeometryCollection(list(np.concatenate(parts))), buffer_m, quad_segs=4)
    if fill_holes:
        geom = _fill_holes(geom)
    return geom, len(reached)


def _fill_holes(geom: Any) -> Any:
    polygons = getattr(geom, "geoms", [geom])
    return shapely.union_all([shapely.Polygon(p.exterior) for p in polygons if not p.is_empty])


# --------------------------------------------------------------------------- fallback


def straight_line_times(
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    cutoff_min: float,
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
) -> TravelTimes:
    """Offline walk times without a graph: ``distance_m × detour_factor / (speed in m/min)``.

    Pairs are found with a KD-tree (``cKDTree.sparse_distance_matrix``) and their distances
    recomputed as ``sqrt(dx² + dy²)``, so the times equal a brute-force ``cdist`` bit for bit.
    """
    xo = _point_xy(origins, "origins")
    xd = _point_xy(destinations, "destinations", crs=origins.crs)
    if not detour_factor >= 1:
        msg = f"detour_factor must be >= 1 (network / straight-line distance), got {detour_factor!r}"
        raise SettingsError(msg)
    if not cutoff_min >= 0:
        msg = f"cutoff_min must be >= 0 minutes, got {cutoff_min!r}"
        raise SettingsError(msg)
    m_per_min = _m_per_min(walk_speed_kmh)
    shape = (len(origins), len(destinations))
    if len(xo) and len(xd):
        radius = _limit_pad(cutoff_min * m_per_min / detour_factor) + 1e-6
        radius = min(radius, 1e300)
        pairs = cKDTree(xo).sparse_distance_matrix(cKDTree(xd), radius, output_type="ndarray")
        i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        dx, dy = xo[i, 0] - xd[j, 0], xo[i, 1] - xd[j, 1]
        minutes = np.sqrt(dx * dx + dy * dy) * detour_factor / m_per_min
        ok = minutes <= cutoff_min
        matrix = _csr([i[ok]], [j[ok]], [minutes[ok]], shape)
    else:
        matrix = _csr([], [], [], shape)
    params = {"walk_speed_kmh": walk_speed_kmh, "detour_factor": detour_factor}
    return TravelTimes(matrix, origins.index, destinations.index, float(cutoff_min), "straight_line", params)


def walk_times(
    origins: gpd.GeoDataFrame,
    destinations: gpd.GeoDataFrame,
    *,
    graph: WalkGraph | nx.MultiDiGraph | None = None,
    cutoff_min: float,
    walk_speed_kmh: float | None = None,
    detour_factor: float = DEFAULT_DETOUR_FACTOR,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    chunk_size: int = 128,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
    progress: bool = False,
    warn: bool = True,
) -> TravelTimes:
    """Walk times on the network when a graph is given, else straight line × detour factor.

    ``walk_speed_kmh=None`` uses the graph's speed (or :data:`DEFAULT_WALK_SPEED_KMH`);
    ``warn`` as for :func:`travel_times`.
    """
    if graph is None:
        logger.info("no walk graph: straight-line times × detour factor %g", detour_factor)
        return straight_line_times(
            origins, destinations, cutoff_min=cutoff_min,
            walk_speed_kmh=walk_speed_kmh or DEFAULT_WALK_SPEED_KMH, detour_factor=detour_factor,
        )
    return travel_times(
        walk_graph(graph, walk_speed_kmh=walk_speed_kmh), origins, destinations,
        cutoff_min=cutoff_min, max_snap_m=max_snap_m, chunk_size=chunk_size,
        max_chunk_bytes=max_chunk_bytes, progress=progress, warn=warn,
    )


# --------------------------------------------------------------------------- synthetic streets


def synthetic_walk_graph(
    *,
    n_nodes_target: int | None = None,
    extent_m: float | None = None,
    block_m: tuple[float, float] = (80.0, 160.0),
    seed: int = 0,
    arterial_every: int = 6,
    drop_share: float = 0.12,
    diagonal_share: float = 0.04,
    cul_de_sac_share: float = 0.05,
    jitter_m: float = 8.0,
    origin_xy: tuple[float, float] = (945_000.0, 1_943_000.0),
) -> nx.MultiDiGraph:
    """A deterministic, irregular street grid that looks like a Korean residential district.

    Block sides are drawn from ``block_m`` (80–160 m is typical of Korean urban blocks); nodes are
    jittered; a share of local street segments is removed (merged blocks, dead ends) while every
    ``arterial_every``-th street stays whole; a few diagonal streets and short cul-de-sacs are
    added; only the largest connected part is kept (as OSMnx does).

    Parameters
    ----------
    n_nodes_target
        Approximate number of nodes (give this or ``extent_m``).
    extent_m
        Side of the square area in metres.
    origin_xy
        South-west corner in EPSG:5179 (default: near 구로구, Seoul).

    Returns
    -------
    G
        OSMnx-compatible ``MultiDiGraph`` in EPSG:5179: node ``x``/``y``/``street_count``, edges in
        both directions with ``length`` (m), ``highway``, ``oneway=False``, ``osmid``; graph
        attribute ``synthetic=True`` so maps and reports can label it 가상.
    """
    if (n_nodes_target is None) == (extent_m is None):
        msg = "give exactly one of n_nodes_target or extent_m"
        raise SettingsError(msg)
    lo, hi = block_m
    if not 0 < lo <= hi:
        msg = f"block_m must be (min, max) metres with 0 < min <= max, got {block_m!r}"
        raise SettingsError(msg)
    rng = np.random.default_rng(seed)
    if n_nodes_target is not None:
        side = max(2, math.ceil(math.sqrt(n_nodes_target / (1 + cul_de_sac_share))))
    else:
        side = max(2, math.ceil(extent_m / ((lo + hi) / 2)) + 1)
    gx = origin_xy[0] + np.concatenate([[0.0], np.cumsum(rng.uniform(lo, hi, side - 1))])
    gy = origin_xy[1] + np.concatenate([[0.0], np.cumsum(rng.uniform(lo, hi, side - 1))])
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    col, row = col.ravel(), row.ravel()
    x = gx[col] + rng.uniform(-jitter_m, jitter_m, side * side)
    y = gy[row] + rng.uniform(-jitter_m, jitter_m, side * side)
    ids = row * side + col

    h = ids[col < side - 1]  # street segment to the east
    v = ids[row < side - 1]  # street segment to the north
    u = np.concatenate([h, v])
    w = np.concatenate([h + 1, v + side])
    arterial = np.concatenate([row[h] % arterial_every == 0, col[v] % arterial_every == 0])
    keep = arterial | (rng.random(len(u)) >= drop_share)
    u, w, arterial = u[keep], w[keep], arterial[keep]
    kind = np.where(arterial, "primary", "residential").astype(object)

    cells = ids[(col < side - 1) & (row < side - 1)]
    diag = cells[rng.random(len(cells)) < diagonal_share]
    flip = rng.random(len(diag)) < 0.5
    du = np.where(flip, diag + 1, diag)
    dw = np.where(flip, diag + side, diag + side + 1)

    # Cul-de-sacs: a short dead-end street from a node into the block north-east of it.
    stem = ids[rng.random(len(ids)) < cul_de_sac_share]
    n_grid = side * side
    new = n_grid + np.arange(len(stem))
    reach = rng.uniform(30.0, 60.0, len(stem))
    angle = rng.uniform(0.2, 1.37, len(stem))
    x = np.concatenate([x, x[stem] + reach * np.cos(angle)])
    y = np.concatenate([y, y[stem] + reach * np.sin(angle)])

    u = np.concatenate([u, du, stem])
    w = np.concatenate([w, dw, new])
    kind = np.concatenate([kind, np.full(len(du), "residential", object), np.full(len(stem), "service", object)])
    n = len(x)
    _, label = connected_components(sp.csr_matrix((np.ones(len(u)), (u, w)), shape=(n, n)), directed=False)
    main = np.bincount(label).argmax()
    in_main = label == main
    edge_ok = in_main[u] & in_main[w]
    u, w, kind = u[edge_ok], w[edge_ok], kind[edge_ok]
    length = np.hypot(x[u] - x[w], y[u] - y[w])
    degree = np.bincount(np.concatenate([u, w]), minlength=n)

    G = nx.MultiDiGraph(crs=NETWORK_CRS, synthetic=True, careplan_source=f"synthetic street grid (seed {seed})")
    nodes = np.flatnonzero(in_main)
    G.add_nodes_from(
        (int(i), {"x": float(x[i]), "y": float(y[i]), "street_count": int(degree[i])}) for i in nodes
    )
    osmid = np.arange(1, len(u) + 1)
    G.add_edges_from(
        (int(a), int(b), 0, {"osmid": int(k), "length": float(d), "highway": str(t), "oneway": False, "reversed": rev})
        for a_arr, b_arr, rev in ((u, w, False), (w, u, True))
        for a, b, k, d, t in zip(a_arr, b_arr, osmid, length, kind, strict=True)
    )
    logger.info("synthetic walk graph: %s nodes, %s street segments", f"{len(G):,}", f"{len(u):,}")
    return G

"""careplan.network: graph sources, snapping, cut-off travel times, isochrones, fallback."""

from __future__ import annotations

import json
import math
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import requests
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial.distance import cdist

from careplan import network as N
from careplan._errors import CareplanWarning, CRSError, InputDataError, NetworkError, SettingsError

DATA = Path(__file__).parent / "data" / "network"
OSM = DATA / "guro_sample.osm"
M_PER_MIN = N.DEFAULT_WALK_SPEED_KMH * 1000 / 60


def points(xy, prefix="P", crs=5179):
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
        index=[f"{prefix}{i:04d}" for i in range(len(xy))],
        crs=crs,
    )


def great_circle_m(lat1, lon1, lat2, lon2, r=6_371_009):
    """Haversine, the formula OSMnx uses for edge lengths."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def nx_times(G, source, weight="walk_min", cutoff=None):
    """The networkx answer: Dijkstra on the undirected view (pedestrians walk both ways)."""
    return nx.single_source_dijkstra_path_length(G.to_undirected(as_view=True), source, cutoff=cutoff, weight=weight)


@pytest.fixture(scope="module")
def grid():
    return N.add_walk_minutes(N.synthetic_walk_graph(n_nodes_target=1500, seed=3))


@pytest.fixture(scope="module")
def wg(grid):
    return N.walk_graph(grid)


# --------------------------------------------------------------------------- WalkGraph


def test_from_edges_keeps_shortest_parallel_edge_undirected_and_drops_loops():
    wg = N.WalkGraph.from_edges(
        [0, 100, 200], [0, 0, 0], [[0, 1], [1, 0], [1, 2], [2, 2]], [100.0, 70.0, 100.0, 5.0],
        walk_speed_kmh=6.0,  # 100 m/min
    )
    dense = wg.adjacency.toarray()
    assert dense[0, 1] == dense[1, 0] == pytest.approx(0.7)
    assert dense[1, 2] == dense[2, 1] == pytest.approx(1.0)
    assert dense[2, 2] == 0 and wg.adjacency.nnz == 4 and wg.n_edges == 2


def test_zero_length_edge_is_an_edge():
    wg = N.WalkGraph.from_edges([0, 0, 100], [0, 0, 0], [[0, 1], [1, 2]], [0.0, 100.0], walk_speed_kmh=6.0)
    assert wg.adjacency.nnz == 4
    assert dijkstra(wg.adjacency, indices=0)[2] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("edges", "lengths", "match"),
    [([[0, 5]], [1.0], "node positions"), ([[0, 1]], [-1.0], "finite and >= 0"), ([[0, 1]], [np.nan], "finite")],
)
def test_from_edges_rejects_bad_edges(edges, lengths, match):
    with pytest.raises(NetworkError, match=match):
        N.WalkGraph.from_edges([0, 1], [0, 0], edges, lengths)


def test_walk_graph_requires_projected_graph():
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_node(1, x=126.9, y=37.5)
    with pytest.raises(CRSError, match="projected"):
        N.walk_graph(G)


def test_walk_graph_speed_change_rescales(wg):
    fast = N.walk_graph(wg, walk_speed_kmh=5.0)
    np.testing.assert_allclose(fast.adjacency.data, wg.adjacency.data * 4.0 / 5.0, rtol=1e-15)
    assert N.walk_graph(wg) is wg


# --------------------------------------------------------------------------- synthetic graph


def test_synthetic_graph_is_deterministic_connected_and_korean_sized(grid):
    again = N.synthetic_walk_graph(n_nodes_target=1500, seed=3)
    assert sorted(grid.edges(keys=True)) == sorted(again.edges(keys=True))
    assert N.synthetic_walk_graph(n_nodes_target=1500, seed=4).number_of_edges() != grid.number_of_edges()
    assert grid.graph["crs"] == "EPSG:5179" and grid.graph["synthetic"] is True
    assert 1200 <= len(grid) <= 1700
    assert nx.is_strongly_connected(grid)
    lengths = np.array([d["length"] for _, _, d in grid.edges(data=True) if d["highway"] in {"primary", "residential"}])
    straight = lengths[lengths < 200]  # diagonals are longer
    assert straight.min() >= 80 - 2 * 8 * math.sqrt(2) and np.median(straight) == pytest.approx(120, abs=15)
    service = [d["length"] for _, _, d in grid.edges(data=True) if d["highway"] == "service"]
    assert service and min(service) >= 30 and max(service) <= 60 + 1e-9
    for a, b, d in list(grid.edges(data=True))[:50]:
        xa, ya, xb, yb = grid.nodes[a]["x"], grid.nodes[a]["y"], grid.nodes[b]["x"], grid.nodes[b]["y"]
        assert d["length"] == pytest.approx(math.hypot(xa - xb, ya - yb))
        assert grid.has_edge(b, a)


def test_synthetic_graph_extent_and_bad_settings():
    G = N.synthetic_walk_graph(extent_m=1000, seed=0)
    xs = [d["x"] for _, d in G.nodes(data=True)]
    assert 900 <= max(xs) - min(xs) <= 1300
    with pytest.raises(SettingsError, match="exactly one"):
        N.synthetic_walk_graph(seed=0)
    with pytest.raises(SettingsError, match="block_m"):
        N.synthetic_walk_graph(extent_m=500, block_m=(160, 80))


def test_graphml_roundtrip(tmp_path, grid, wg):
    path = N.save_graph(grid, tmp_path / "walk.graphml")
    loaded = N.walk_graph(N.load_graph(path))
    assert loaded.n_nodes == wg.n_nodes and loaded.crs == wg.crs
    assert (loaded.adjacency != wg.adjacency).nnz == 0  # same nodes, order, and exact float lengths


def test_walk_graph_file_roundtrip_and_speed(tmp_path, wg):
    path = wg.save(tmp_path / "walk.npz")
    back = N.load_graph(path)  # the default speed, as saved: the graph itself
    assert isinstance(back, N.WalkGraph)
    assert back.adjacency.nnz == wg.adjacency.nnz and (back.adjacency != wg.adjacency).nnz == 0
    assert back.node_ids.equals(wg.node_ids) and back.node_ids.name == "node_id"
    assert np.array_equal(back.x, wg.x) and np.array_equal(back.y, wg.y)
    assert (back.crs, back.walk_speed_kmh, back.source) == (wg.crs, wg.walk_speed_kmh, wg.source)
    # a scenario walking at 2 km/h: every edge takes twice the minutes
    slow = N.load_graph(path, walk_speed_kmh=2.0)
    assert np.array_equal(slow.adjacency.indices, wg.adjacency.indices)
    np.testing.assert_allclose(slow.adjacency.data, 2 * wg.adjacency.data, rtol=1e-12)


def test_walk_graph_file_keeps_text_node_ids(tmp_path):
    g = N.WalkGraph.from_edges([0, 100, 200], [0, 0, 0], [[0, 1], [1, 2]], [100.0, 100.0],
                               node_ids=["a", "b", "c"], source="test")
    back = N.WalkGraph.load(g.save(tmp_path / "abc.npz"))
    assert list(back.node_ids) == ["a", "b", "c"] and back.source == "test"
    assert back.adjacency.toarray().tolist() == g.adjacency.toarray().tolist()


def test_walk_graph_file_errors(tmp_path, wg):
    with pytest.raises(SettingsError, match=r"saved as \.npz"):
        wg.save(tmp_path / "walk.graphml")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(NetworkError, match="other.npz is not a careplan walk graph"):
        N.load_graph(tmp_path / "other.npz")
    whole = wg.save(tmp_path / "walk.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(NetworkError, match="could not read walk graph 'cut.npz'"):
        N.load_graph(tmp_path / "cut.npz")
    with np.load(tmp_path / "walk.npz") as f:
        arrays = dict(f)
    indices = arrays["indices"].copy()
    indices[0] = wg.n_nodes + 5  # an edge to a node that does not exist
    np.savez(tmp_path / "bad_index.npz", **dict(arrays, indices=indices))
    with pytest.raises(NetworkError, match="could not read walk graph 'bad_index.npz'"):
        N.load_graph(tmp_path / "bad_index.npz")
    np.savez(tmp_path / "negative.npz", **dict(arrays, minutes=-arrays["minutes"]))
    with pytest.raises(NetworkError, match="negative or not finite"):
        N.load_graph(tmp_path / "negative.npz")


# --------------------------------------------------------------------------- loaders and download


def test_load_osm_xml(tmp_path):
    G = N.load_graph(OSM)
    assert G.graph["crs"] == "EPSG:5179"
    for _, _, d in G.edges(data=True):
        assert d["walk_min"] == pytest.approx(d["length"] / M_PER_MIN, rel=1e-12)
    # the one-way 경인로 is walkable both ways: from its 2nd to 4th node is 2 × 0.0012° of longitude
    a, b = 4410000002, 4410000004
    want = sum(great_circle_m(37.495, 126.887 + i * 0.0012, 37.495, 126.887 + (i + 1) * 0.0012) for i in (1, 2))
    wg = N.walk_graph(G)
    ia, ib = wg.node_ids.get_loc(a), wg.node_ids.get_loc(b)
    got = dijkstra(wg.adjacency, indices=[ib])[0, ia]  # against the one-way direction
    assert got * M_PER_MIN == pytest.approx(want, rel=1e-6)


def write_pbf(path, extra_ways=()):
    """The recorded .osm as .osm.pbf, written with pyosmium, plus ``extra_ways`` (id, node ids, tags)."""
    osmium = pytest.importorskip("osmium")
    with osmium.SimpleWriter(str(path)) as out:
        for obj in osmium.FileProcessor(str(OSM)):
            out.add(obj)
        for way_id, refs, tags in extra_ways:
            out.add_way(osmium.osm.mutable.Way(id=way_id, version=1, nodes=refs, tags=tags))
    return path


def graph_signature(G):
    nodes = sorted(G.nodes)
    edges = sorted((u, v, round(d["length"], 9)) for u, v, d in G.edges(data=True))
    xy = {n: (round(G.nodes[n]["x"], 6), round(G.nodes[n]["y"], 6)) for n in nodes}
    return nodes, edges, xy


def test_load_osm_pbf_gives_the_osm_graph(tmp_path):
    # ways a pedestrian cannot use, joined to the streets so they would show up if kept
    extra = [
        (900001, [4410000001, 4410000006], {"highway": "motorway"}),
        (900002, [4410000002, 4410000007], {"highway": "residential", "foot": "no"}),
        (900003, [4410000003, 4410000008], {"highway": "service", "access": "private"}),
        (900004, [4410000006, 4410000007, 4410000011, 4410000010, 4410000006], {"building": "school"}),
        (900005, [4410000004, 4410000007], {"highway": "cycleway"}),
    ]
    G_osm = N.load_graph(OSM)
    G_pbf = N.load_graph(write_pbf(tmp_path / "guro.osm.pbf", extra))
    assert graph_signature(G_pbf) == graph_signature(G_osm)
    assert len(G_osm) == 8 and G_osm.number_of_edges() == 24  # after OSMnx simplification
    assert G_pbf.graph["crs"] == "EPSG:5179" and G_pbf.graph["careplan_source"] == "file guro.osm.pbf"
    # the same kind of link as a footway is kept: the corner 4410000001 becomes a junction
    joined = [(900006, [4410000001, 4410000006], {"highway": "footway"})]
    G_more = N.load_graph(write_pbf(tmp_path / "more.osm.pbf", joined))
    assert 4410000001 in G_more and 4410000001 not in G_osm
    assert G_more.has_edge(4410000001, 4410000006) and G_more.has_edge(4410000006, 4410000001)


def test_walkable_rules():
    assert N._walkable({"highway": "residential"}) and N._walkable({"highway": "footway"})
    assert N._walkable({"highway": "service", "access": "private", "foot": "yes"})
    for tags in (
        {"highway": "motorway_link"}, {"highway": "cycleway"}, {"building": "yes"},
        {"highway": "pedestrian", "area": "yes"}, {"highway": "primary", "sidewalk": "separate"},
        {"highway": "service", "service": "private"}, {"highway": "proposed"},
    ):
        assert not N._walkable(tags), tags


def test_load_osm_pbf_without_osmium_names_the_install(tmp_path, monkeypatch):
    pbf = tmp_path / "seoul.osm.pbf"
    pbf.write_bytes(b"\x00")
    monkeypatch.setitem(sys.modules, "osmium", None)  # import osmium now raises ImportError
    with pytest.raises(NetworkError, match="pip install osmium"):
        N.load_graph(pbf)


def test_load_osm_pbf_errors(tmp_path):
    osmium = pytest.importorskip("osmium")
    pbf = tmp_path / "seoul.osm.pbf"
    pbf.write_bytes(b"\x00")
    with pytest.raises(NetworkError, match="could not read walk network 'seoul.osm.pbf'"):
        N.load_graph(pbf)
    buildings = tmp_path / "buildings.osm.pbf"
    with osmium.SimpleWriter(str(buildings)) as out:
        for obj in osmium.FileProcessor(str(OSM), osmium.osm.NODE):
            out.add(obj)
        ring = [4410000001, 4410000002, 4410000006, 4410000001]
        out.add_way(osmium.osm.mutable.Way(id=1, version=1, nodes=ring, tags={"building": "yes"}))
    with pytest.raises(NetworkError, match="no walkable ways"):
        N.load_graph(buildings)


def test_load_graph_errors(tmp_path):
    with pytest.raises(NetworkError, match="does not exist"):
        N.load_graph(tmp_path / "nothing.graphml")
    odd = tmp_path / "roads.shp"
    odd.write_text("x")
    with pytest.raises(NetworkError, match="unknown walk network file type"):
        N.load_graph(odd)


def _overpass_json(osm_path: Path) -> dict:
    """The Overpass `[out:json]` answer that holds the same elements as the OSM XML file."""
    elements = []
    for el in ET.parse(osm_path).getroot():
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        if el.tag == "node":
            elements.append(
                {"type": "node", "id": int(el.get("id")), "lat": float(el.get("lat")), "lon": float(el.get("lon"))}
            )
        elif el.tag == "way":
            nds = [int(n.get("ref")) for n in el.findall("nd")]
            elements.append({"type": "way", "id": int(el.get("id")), "nodes": nds, "tags": tags})
    return {"version": 0.6, "generator": "Overpass API (recorded)", "elements": elements}


def _response(url: str, payload) -> requests.Response:
    r = requests.Response()
    r.status_code, r.reason, r.url = 200, "OK", url
    r._content = json.dumps(payload).encode()
    return r


@pytest.fixture
def offline_osm(monkeypatch):
    """Serve the recorded Overpass and Nominatim answers at the HTTP layer OSMnx uses."""
    import osmnx._http
    import osmnx._nominatim
    import osmnx._overpass

    calls = {"overpass": 0, "nominatim": 0}
    overpass = _overpass_json(OSM)
    nominatim = json.loads((DATA / "nominatim_guro_sample.json").read_text(encoding="utf-8"))

    def post(url, data=None, **kwargs):
        assert "interpreter" in url and "highway" in data["data"]
        calls["overpass"] += 1
        return _response(url, overpass)

    def get(url, params=None, **kwargs):
        assert url.endswith("/search") and params["q"] == "구로동, 구로구, 서울특별시"
        calls["nominatim"] += 1
        return _response(url, nominatim)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach the internet")

    monkeypatch.setattr(requests.Session, "request", no_network)
    monkeypatch.setattr(osmnx._overpass.requests, "post", post)
    monkeypatch.setattr(osmnx._nominatim.requests, "get", get)
    monkeypatch.setattr(osmnx._http, "_config_dns", lambda url: None)
    monkeypatch.setattr(osmnx._overpass, "_get_overpass_pause", lambda *a, **k: 0)
    monkeypatch.setattr(osmnx._nominatim, "time", types.SimpleNamespace(sleep=lambda s: None))
    return calls


def test_graph_from_polygon_offline_with_cache(offline_osm, tmp_path):
    import osmnx as ox

    before = (ox.settings.use_cache, ox.settings.cache_folder)
    poly = shapely.box(126.8862, 37.4942, 126.8919, 37.4978)
    G = N.graph_from_polygon(poly, cache_dir=tmp_path / "cache")
    assert offline_osm["overpass"] == 1
    assert (ox.settings.use_cache, ox.settings.cache_folder) == before  # settings restored
    assert list((tmp_path / "cache").glob("*.json"))  # the answer was cached on disk
    assert G.graph["crs"] == "EPSG:5179" and "polygon" in G.graph["careplan_source"]
    # simplified: intersections and the dead end stay; corners and the footway mid node go
    assert set(G.nodes) == {4410000000 + i for i in (2, 4, 5, 6, 7, 8, 11, 14)}
    again = N.graph_from_polygon(poly, cache_dir=tmp_path / "cache")
    assert offline_osm["overpass"] == 1  # second time from the cache, no request
    assert sorted(again.edges(data="length")) == sorted(G.edges(data="length"))
    # the same network as the .osm file loader gives
    wg_xml, wg_dl = N.walk_graph(N.load_graph(OSM)), N.walk_graph(G)
    assert set(wg_xml.node_ids) == set(wg_dl.node_ids)
    order = wg_dl.node_ids.get_indexer(wg_xml.node_ids)
    np.testing.assert_allclose(wg_dl.adjacency[order][:, order].toarray(), wg_xml.adjacency.toarray(), rtol=1e-12)


def test_graph_from_place_offline(offline_osm, tmp_path):
    G = N.graph_from_place("구로동, 구로구, 서울특별시", cache_dir=tmp_path)
    assert offline_osm == {"overpass": 1, "nominatim": 1}
    assert len(G) == 8 and "구로동" in G.graph["careplan_source"]


def test_download_failure_is_a_network_error(monkeypatch, tmp_path):
    import osmnx._overpass

    def down(*args, **kwargs):
        raise requests.ConnectionError("no route to host")

    monkeypatch.setattr(osmnx._overpass, "_overpass_request", down)
    with pytest.raises(NetworkError, match="load_graph"):
        N.graph_from_polygon(shapely.box(126.88, 37.49, 126.89, 37.50), cache_dir=tmp_path, use_cache=False)


# --------------------------------------------------------------------------- exactness vs peers


def test_real_graphml_equals_networkx_on_1000_pairs(korea):
    G = N.load_graph(korea / "network" / "seoul_central_drive.graphml")
    assert G.graph["crs"] == "EPSG:5179" and len(G) == 3384
    wg = N.walk_graph(G)
    rng = np.random.default_rng(11)
    src = wg.node_ids[rng.choice(wg.n_nodes, 25, replace=False)]
    dst = wg.node_ids[rng.choice(wg.n_nodes, 60, replace=False)]

    def pos(ids):
        at = wg.node_ids.get_indexer(ids)
        return np.column_stack([wg.x[at], wg.y[at]])

    tt = N.travel_times(wg, points(pos(src), "O"), points(pos(dst), "D"), cutoff_min=np.inf)
    dense = tt.matrix.toarray()
    by_source = [nx_times(G, s) for s in src]
    want = np.array([[lengths[d] for d in dst] for lengths in by_source])
    assert want.size >= 1000 and tt.matrix.nnz == want.size
    np.testing.assert_allclose(dense, want, rtol=1e-9)
    # a cut-off keeps exactly the pairs networkx finds within it
    cut = N.travel_times(wg, points(pos(src), "O"), points(pos(dst), "D"), cutoff_min=20.0)
    m = cut.matrix
    assert 100 < (want <= 20.0).sum() < want.size - 100
    for i in range(len(src)):
        assert set(m.indices[m.indptr[i] : m.indptr[i + 1]]) == set(np.flatnonzero(want[i] <= 20.0))


def test_generated_graph_with_snapping_equals_networkx(grid, wg):
    rng = np.random.default_rng(5)
    xy_o = np.column_stack([wg.x, wg.y])[rng.choice(wg.n_nodes, 40)] + rng.normal(0, 25, (40, 2))
    xy_d = np.column_stack([wg.x, wg.y])[rng.choice(wg.n_nodes, 30)] + rng.normal(0, 25, (30, 2))
    origins, D = points(xy_o, "O"), points(xy_d, "D")
    tt = N.travel_times(grid, origins, D, cutoff_min=20.0)  # a networkx graph is accepted too
    # brute force: nearest node by scanning all nodes, then networkx Dijkstra
    nodes_xy = np.column_stack([wg.x, wg.y])
    dist_o, dist_d = cdist(xy_o, nodes_xy), cdist(xy_d, nodes_xy)
    near_o, near_d = dist_o.argmin(1), dist_d.argmin(1)
    want = np.full((40, 30), np.inf)
    for i in range(40):
        lengths = nx_times(grid, wg.node_ids[near_o[i]])
        for j in range(30):
            t = dist_o[i].min() / M_PER_MIN + lengths.get(wg.node_ids[near_d[j]], np.inf) + dist_d[j].min() / M_PER_MIN
            want[i, j] = t
    inside = want <= 20.0
    assert 150 < inside.sum() < 1200 - 150  # a real mix of kept and cut pairs
    m = tt.matrix
    stored = np.zeros_like(inside)
    for i in range(40):
        stored[i, m.indices[m.indptr[i] : m.indptr[i + 1]]] = True
    assert (stored == inside).all()
    np.testing.assert_allclose(m.toarray()[inside], want[inside], rtol=1e-9)
    assert m.data.max() <= 20.0
    assert tt.distance_method == "network" and tt.params["walk_speed_kmh"] == 4.0
    assert list(tt.origin_ids) == list(origins.index) and list(tt.destination_ids) == list(D.index)


def test_peer_grid_case_exact_shortest_paths(peer_cases):
    case = np.load(peer_cases / "instances" / "net_grid100_1000x100.npz")
    # walk_speed 0.06 km/h is 1 m/min: times are the peer's metres unchanged
    wg = N.WalkGraph.from_edges(case["node_x"], case["node_y"], case["edges"], case["edge_weight"], walk_speed_kmh=0.06)
    xy = np.column_stack([wg.x, wg.y])
    origins, D = points(xy[case["origins"]], "O"), points(xy[case["destinations"]], "D")
    tt = N.travel_times(wg, origins, D, cutoff_min=np.inf)
    assert tt.matrix.nnz == 1000 * 100
    np.testing.assert_allclose(tt.matrix.toarray(), case["dist"], rtol=1e-9)
    cutoff = float(np.median(case["dist"]))
    cut = N.travel_times(wg, origins, D, cutoff_min=cutoff, chunk_size=50, max_chunk_bytes=2**20)
    assert cut.matrix.nnz == int((case["dist"] <= cutoff).sum())
    np.testing.assert_allclose(
        cut.matrix.toarray()[case["dist"] <= cutoff], case["dist"][case["dist"] <= cutoff], rtol=1e-9
    )


# --------------------------------------------------------------------------- chunking, dedupe, zeros


def test_chunking_gives_identical_results(wg):
    rng = np.random.default_rng(2)
    idx = rng.choice(wg.n_nodes, 300)
    xy = np.column_stack([wg.x, wg.y])
    origins = points(xy[idx] + rng.normal(0, 15, (300, 2)), "O")
    D = points(xy[rng.choice(wg.n_nodes, 200)], "D")
    one = N.travel_times(wg, origins, D, cutoff_min=10.0, chunk_size=10_000).matrix
    for kw in (
        {"chunk_size": 1},
        {"chunk_size": 7, "max_chunk_bytes": 1},
        {"chunk_size": 64, "max_chunk_bytes": 50_000},
    ):
        other = N.travel_times(wg, origins, D, cutoff_min=10.0, **kw).matrix
        assert np.array_equal(other.indptr, one.indptr) and np.array_equal(other.indices, one.indices)
        np.testing.assert_allclose(other.data, one.data, rtol=1e-12)
    assert one.nnz > 1000


def test_origins_on_one_node_share_a_pass_and_colocated_pairs_store_zero(wg):
    x0, y0 = wg.x[10], wg.y[10]
    origins = points([[x0, y0], [x0, y0], [x0 + 30, y0]], "O")
    D = points([[x0, y0], [wg.x[11], wg.y[11]]], "D")
    tt = N.travel_times(wg, origins, D, cutoff_min=30.0)
    m = tt.matrix
    assert np.diff(m.indptr).tolist() == [2, 2, 2]
    assert m[0, 0] == 0.0 and m.data[m.indptr[0]] == 0.0  # explicit zero is stored
    np.testing.assert_array_equal(m.getrow(0).toarray(), m.getrow(1).toarray())
    t01 = dijkstra(wg.adjacency, indices=10)[11]
    assert m[0, 1] == pytest.approx(t01, rel=1e-12)
    # origin 2 sits 30 m from node 10 (nearest): its access walk is added
    assert wg._tree.query([x0 + 30, y0])[1] == 10
    assert m[2, 0] == pytest.approx(30 / M_PER_MIN, rel=1e-12)
    assert tt.to_frame()["walk_min"].tolist()[0] == 0.0


# --------------------------------------------------------------------------- snapping


def test_snap_reports_far_points(wg):
    east = wg.x.max() + 500
    pts = points([[wg.x[0] + 1, wg.y[0]], [east, wg.y[0]], [wg.x[5], wg.y[5]]])
    with pytest.warns(CareplanWarning, match=r"1 of 3 points are more than 250 m.*P0001"):
        snap = N.snap_points(wg, pts)
    want = np.hypot(wg.x - east, wg.y - wg.y[0]).min()
    assert list(snap.far.index) == ["P0001"] and snap.far["distance_m"].iloc[0] == pytest.approx(want)
    assert snap.node.tolist() == [0, -1, 5] and snap.distance_m[0] == pytest.approx(1.0)
    with (
        pytest.warns(CareplanWarning, match="1 of 3 origins"),
        pytest.warns(CareplanWarning, match="1 of 3 destinations"),
    ):
        tt = N.travel_times(wg, pts, pts, cutoff_min=60.0)
    assert list(tt.params["unsnapped_origins"]) == ["P0001"]
    assert tt.matrix.indptr[2] - tt.matrix.indptr[1] == 0  # the far origin has no times
    assert 1 not in tt.matrix.indices  # nor does the far destination
    assert N.snap_points(wg, pts, max_snap_m=1e6, warn=False).within.all()


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: p.set_crs(None, allow_override=True), CRSError, "projected CRS"),
        (lambda p: p.to_crs(4326), CRSError, "projected CRS"),
        (lambda p: p.to_crs(5186), CRSError, "to_crs"),
        (lambda p: p.set_geometry(p.buffer(10)), InputDataError, "Points"),
        (lambda p: p.set_index(p.index.str[:1]), InputDataError, "unique"),
    ],
)
def test_bad_point_layers_raise(wg, make, error, match):
    pts = points(np.column_stack([wg.x[:3], wg.y[:3]]))
    with pytest.raises(error, match=match):
        N.travel_times(wg, make(pts), pts, cutoff_min=10)


# --------------------------------------------------------------------------- nearest facility, isochrones


def test_nearest_facility_equals_per_facility_minimum(wg):
    rng = np.random.default_rng(9)
    xy = np.column_stack([wg.x, wg.y])[rng.choice(wg.n_nodes, 12, replace=False)] + rng.normal(0, 20, (12, 2))
    F = points(xy, "F")
    res = N.nearest_facility_time(wg, F, cutoff_min=8.0)
    tree_d, near = wg._tree.query(xy)
    per = dijkstra(wg.adjacency, indices=near) + (tree_d / M_PER_MIN)[:, None]  # one pass per facility
    best = per.min(0)
    ok = best <= 8.0
    assert 0.1 < ok.mean() < 0.9
    np.testing.assert_array_equal(res["walk_min"].notna().to_numpy(), ok)
    np.testing.assert_allclose(res["walk_min"].to_numpy()[ok], best[ok], rtol=1e-12)
    chosen = F.index.get_indexer(res["facility_id"][ok])
    np.testing.assert_allclose(per[chosen, np.flatnonzero(ok)], best[ok], rtol=1e-12)
    assert res.index.equals(wg.node_ids)


def test_service_area_on_a_straight_street_is_hand_computable():
    # one street along x, nodes every 100 m, 6 km/h = 100 m/min; facility at x = 0
    n = 11
    wg = N.WalkGraph.from_edges(
        np.arange(n) * 100.0,
        np.zeros(n),
        np.column_stack([np.arange(n - 1), np.arange(1, n)]),
        np.full(n - 1, 100.0),
        walk_speed_kmh=6.0,
    )
    F = points([[0, 0], [1000, 0]], "F")
    sa = N.service_areas(wg, F, minutes=2.5, buffer_m=20.0)
    a = sa.geometry.iloc[0]
    assert a.bounds == pytest.approx((-20, -20, 270, 20), abs=1e-6)  # 250 m walked + 20 m buffer
    assert a.area == pytest.approx(250 * 40 + math.pi * 400, rel=0.02)
    assert sa["reached_nodes"].tolist() == [3, 3]
    assert sa.geometry.iloc[1].bounds == pytest.approx((730, -20, 1020, 20), abs=1e-6)
    assert sa.crs == "EPSG:5179" and list(sa.index) == ["F0000", "F0001"]


def test_service_area_contains_reached_nodes_only(wg):
    F = points([[wg.x[200], wg.y[200]]], "F")
    sa = N.service_areas(wg, F, minutes=6.0, buffer_m=30.0, fill_holes=False)
    t = dijkstra(wg.adjacency, indices=200)
    geom = sa.geometry.iloc[0]
    inside = shapely.contains_xy(shapely.buffer(geom, 1e-6), wg.x, wg.y)
    assert inside[t <= 6.0].all()
    # a node is outside when even its nearest reached node would need > 30 m more walking
    far = t > 6.0 + (30.0 + 200) / M_PER_MIN
    assert far.sum() > 100 and not inside[far].any()
    assert sa["reached_nodes"].iloc[0] == int((t <= 6.0).sum())


# --------------------------------------------------------------------------- straight line fallback


def test_straight_line_equals_brute_force_exactly():
    rng = np.random.default_rng(4)
    xo = rng.uniform(0, 3000, (400, 2)) + [950_000, 1_950_000]
    xd = np.vstack([rng.uniform(0, 3000, (80, 2)) + [950_000, 1_950_000], xo[:3]])  # 3 co-located pairs
    tt = N.straight_line_times(points(xo, "O"), points(xd, "D"), cutoff_min=10.0, detour_factor=1.4)
    brute = cdist(xo, xd) * 1.4 / M_PER_MIN
    inside = brute <= 10.0
    m = tt.matrix
    assert m.nnz == inside.sum()
    rows = np.repeat(np.arange(400), np.diff(m.indptr))
    assert inside[rows, m.indices].all()
    np.testing.assert_array_equal(m.data, brute[rows, m.indices])  # bit for bit
    assert m[0, 80] == 0.0 and m.indices[m.indptr[0] : m.indptr[1]].tolist().count(80) == 1
    assert tt.distance_method == "straight_line" and tt.params == {"walk_speed_kmh": 4.0, "detour_factor": 1.4}
    assert "우회계수 1.4" in tt.method_label


def test_walk_times_picks_network_or_straight_line(wg):
    origins = points(np.column_stack([wg.x[:5], wg.y[:5]]), "O")
    D = points(np.column_stack([wg.x[5:9], wg.y[5:9]]), "D")
    offline = N.walk_times(origins, D, cutoff_min=15.0)
    assert offline.distance_method == "straight_line" and offline.params["detour_factor"] == N.DEFAULT_DETOUR_FACTOR
    online = N.walk_times(origins, D, graph=wg, cutoff_min=15.0, walk_speed_kmh=5.0)
    assert online.distance_method == "network" and online.params["walk_speed_kmh"] == 5.0
    want = dijkstra(wg.adjacency, indices=np.arange(5))[:, 5:9] * 4.0 / 5.0
    np.testing.assert_allclose(online.matrix.toarray(), np.where(want <= 15, want, 0), rtol=1e-12)
    with pytest.raises(SettingsError, match="detour_factor"):
        N.walk_times(origins, D, cutoff_min=15.0, detour_factor=0.5)
    with pytest.raises(SettingsError, match="walk_speed_kmh"):
        N.walk_times(origins, D, cutoff_min=15.0, walk_speed_kmh=-1)


# --------------------------------------------------------------------------- search order, pruning and chunking


def full_graph_times(wg, src_nodes, cutoff):
    """Ground truth without any tiling: scipy Dijkstra on the whole graph, one row per source."""
    dist = dijkstra(wg.adjacency, directed=True, indices=src_nodes)
    return np.where(dist <= cutoff, dist, np.inf)


def matrix_as_dense(m):
    dense = np.full(m.shape, np.inf)
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    dense[rows, m.indices] = m.data  # explicit zeros stay 0, absent pairs inf
    return dense


def test_an_edge_shorter_than_its_chord_is_walked():
    # a straight street of 100 m blocks plus a 'tunnel' that walks 1.5 km of straight line in 150 m
    n = 40
    x = np.arange(n) * 100.0
    edges = [[i, i + 1] for i in range(n - 1)] + [[0, 15]]
    lengths = [100.0] * (n - 1) + [150.0]
    wg = N.WalkGraph.from_edges(x, np.zeros(n), edges, lengths, walk_speed_kmh=6.0)  # 100 m/min
    xy = np.column_stack([x, np.zeros(n)])
    origins, D = points(xy[:3], "O"), points(xy, "D")
    tt = N.travel_times(wg, origins, D, cutoff_min=5.0)
    want = full_graph_times(wg, [0, 1, 2], 5.0)
    # node 15 is 1.5 km away in a straight line but 1.5 min by the tunnel (a straight-line pruning would lose it)
    assert want[0, 15] == pytest.approx(1.5) and want[0, 18] == pytest.approx(4.5)
    np.testing.assert_allclose(matrix_as_dense(tt.matrix), want, rtol=1e-12)


def test_zero_time_edge_between_two_places():
    x = np.array([0.0, 100.0, 600.0, 700.0])
    wg = N.WalkGraph.from_edges(x, np.zeros(4), [[0, 1], [1, 2], [2, 3]], [100.0, 0.0, 100.0], walk_speed_kmh=6.0)
    xy = np.column_stack([x, np.zeros(4)])
    tt = N.travel_times(wg, points(xy, "O"), points(xy, "D"), cutoff_min=1.5)
    want = np.array([[0, 1, 1, 2], [1, 0, 0, 1], [1, 0, 0, 1], [2, 1, 1, 0]], dtype=float)
    want[want > 1.5] = np.inf
    np.testing.assert_array_equal(matrix_as_dense(tt.matrix), want)


@pytest.mark.parametrize("n_origins", [5, 400, 1500])
def test_many_or_few_sources_equal_whole_graph_dijkstra(wg, n_origins):
    rng = np.random.default_rng(n_origins)
    src = rng.choice(wg.n_nodes, n_origins, replace=False)
    xy = np.column_stack([wg.x, wg.y])
    origins, D = points(xy[src], "O"), points(xy, "D")
    tt = N.travel_times(wg, origins, D, cutoff_min=8.0, chunk_size=64)
    want = full_graph_times(wg, src, 8.0)
    assert np.isfinite(want).sum() == tt.matrix.nnz > 10 * n_origins
    np.testing.assert_allclose(matrix_as_dense(tt.matrix), want, rtol=1e-12)
    # searching from the other side (fewer destinations than origins) gives the transpose
    back = N.travel_times(wg, D, origins, cutoff_min=8.0)
    np.testing.assert_allclose(matrix_as_dense(back.matrix), want.T, rtol=1e-12)


def test_searches_cover_each_source_once_within_the_buffer(wg):
    rng = np.random.default_rng(4)
    src = np.unique(rng.choice(wg.n_nodes, 300))
    want = full_graph_times(wg, src, 6.0)
    seen, pieces = [], 0
    for which, counts, nodes, minutes in N._searches(
        wg, src, 6.0, chunk_size=16, max_chunk_bytes=12 * 2000, progress=False, desc=""
    ):
        pieces += 1
        assert len(which) <= 16 and counts.sum() == len(nodes) == len(minutes)
        # the buffer: 2,000 pairs, or one search's worth (every node) when that is more
        assert len(nodes) <= max(2000, wg.n_nodes)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for k, s0, c in zip(which, starts, counts, strict=True):
            got = np.full(wg.n_nodes, np.inf)
            got[nodes[s0 : s0 + c]] = minutes[s0 : s0 + c]
            np.testing.assert_array_equal(got, want[k])
            assert nodes[s0] == src[k] and minutes[s0] == 0.0  # the source is settled first
            assert (np.diff(minutes[s0 : s0 + c]) >= 0).all()  # in settling order
        seen.extend(which.tolist())
    assert sorted(seen) == list(range(len(src))) and pieces >= len(src) // 16


def test_snapping_equals_brute_force_nearest_node(wg):
    rng = np.random.default_rng(12)
    lo, hi = np.array([wg.x.min(), wg.y.min()]) - 600, np.array([wg.x.max(), wg.y.max()]) + 600
    xy = rng.uniform(lo, hi, (400, 2))  # some well outside the network
    d = cdist(xy, np.column_stack([wg.x, wg.y]))
    for max_snap_m in (40.0, 250.0, np.inf):
        snap = N.snap_points(wg, points(xy), max_snap_m=max_snap_m, warn=False)
        np.testing.assert_allclose(snap.distance_m, d.min(1), rtol=1e-12)
        near = d.min(1) <= max_snap_m
        assert 0 < near.sum() <= len(xy) and (snap.node[~near] == -1).all()
        np.testing.assert_allclose(d[np.flatnonzero(near), snap.node[near]], d.min(1)[near], rtol=1e-12)
    assert (snap.node >= 0).all()  # max_snap_m = inf snaps every point


def test_csr_assembly_from_pieces_equals_scipy():
    rng = np.random.default_rng(1)
    shape = (50, 70)
    flat = rng.choice(shape[0] * shape[1], 900, replace=False)  # unique pairs
    r, c = np.divmod(flat, shape[1])
    v = rng.random(900)
    v[:5] = 0.0  # explicit zeros must survive
    cuts = [0, 1, 300, 300, 301, 700, 900]  # uneven pieces, one empty, rows spread over pieces
    pieces = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    m = N._csr([r[p] for p in pieces], [c[p] for p in pieces], [v[p] for p in pieces], shape)
    want = sp.csr_matrix((v, (r, c)), shape=shape)
    want.sort_indices()
    assert m.has_sorted_indices and m.nnz == 900
    np.testing.assert_array_equal(m.indptr, want.indptr)
    np.testing.assert_array_equal(m.indices, want.indices)
    np.testing.assert_array_equal(m.data, want.data)
    # pieces whose rows come in runs (each row once, not sorted), as the tiled search yields them
    down = np.argsort(-r, kind="stable")
    halves = [down[:450], down[450:]]
    m2 = N._csr([r[h] for h in halves], [c[h] for h in halves], [v[h] for h in halves], shape)
    assert (m2 != want).nnz == 0 and np.array_equal(m2.indices, want.indices)
    empty = N._csr([], [], [], (3, 4))
    assert empty.shape == (3, 4) and empty.nnz == 0


def test_no_pair_within_the_cutoff_gives_an_empty_matrix(wg):
    # two tiles far apart, each with no destination in reach: every search yields nothing
    xy = np.column_stack([wg.x, wg.y])
    far_a, far_b = np.argmin(wg.x + wg.y), np.argmax(wg.x + wg.y)
    origins = points(xy[[far_a, far_b]], "O")
    D = points(xy[[far_b, far_a]] + [[0.0, 0.0], [0.0, 0.0]], "D")
    tt = N.travel_times(wg, origins, D.iloc[[0]], cutoff_min=5.0)
    assert tt.matrix.shape == (2, 1) and tt.matrix[1, 0] == 0.0 and tt.matrix.nnz == 1
    none = N.travel_times(wg, origins.iloc[[0]], D.iloc[[0]], cutoff_min=5.0)
    assert none.matrix.shape == (1, 1) and none.matrix.nnz == 0 and none.to_frame().empty


# --------------------------------------------------------------------------- node_times (the compiled kernel)


def csr_rows_as_dicts(m, columns=None):
    """Each row of a CSR matrix as ``{column (or columns[column]): value}``, explicit zeros kept."""
    out = []
    for i in range(m.shape[0]):
        cols, vals = m.indices[m.indptr[i] : m.indptr[i + 1]], m.data[m.indptr[i] : m.indptr[i + 1]]
        keys = cols if columns is None else columns[cols]
        out.append(dict(zip(keys.tolist(), vals.tolist(), strict=True)))
    return out


def test_node_times_equals_networkx_for_every_node(grid, wg):
    rng = np.random.default_rng(21)
    src = rng.choice(wg.n_nodes, 40, replace=False)
    m = N.node_times(wg, src, cutoff_min=9.0)
    assert m.shape == (40, wg.n_nodes) and m.has_sorted_indices
    got = csr_rows_as_dicts(m, np.asarray(wg.node_ids))
    n_pairs = 0
    for i, s in enumerate(src):
        want = nx_times(grid, wg.node_ids[s], cutoff=9.0)
        assert got[i] == want  # same nodes, bit-identical float sums
        n_pairs += len(want)
    assert n_pairs > 1500 and m.nnz == n_pairs
    # no cut-off: every node of the connected grid, still identical
    full = N.node_times(wg, src[:3], cutoff_min=np.inf)
    assert np.diff(full.indptr).tolist() == [wg.n_nodes] * 3
    for i, s in enumerate(src[:3]):
        assert csr_rows_as_dicts(full[i], np.asarray(wg.node_ids))[0] == nx_times(grid, wg.node_ids[s])


def test_node_times_on_real_graphml_equals_networkx(korea):
    G = N.load_graph(korea / "network" / "seoul_central_drive.graphml")
    wg = N.walk_graph(G)
    # The walk graph's model as a plain networkx Graph: each street once, the shortest of its
    # edges in either direction. (G.to_undirected(as_view=True) keeps one of two opposite edges
    # with the same key, and 419 of them differ from their twin in the last bit of `length`.)
    H = nx.Graph()
    H.add_nodes_from(G)
    for u, v, w in G.edges(data="walk_min"):
        if u != v and (not H.has_edge(u, v) or w < H[u][v]["walk_min"]):
            H.add_edge(u, v, walk_min=w)
    rng = np.random.default_rng(13)
    src = rng.choice(wg.n_nodes, 30, replace=False)
    got = csr_rows_as_dicts(N.node_times(wg, src, cutoff_min=12.0), np.asarray(wg.node_ids))
    n_pairs = 0
    for i, s in enumerate(src):
        want = nx.single_source_dijkstra_path_length(H, wg.node_ids[s], cutoff=12.0, weight="walk_min")
        assert got[i] == want  # same nodes, bit-identical float sums
        n_pairs += len(want)
    assert n_pairs >= 1000


def line_graph(lengths_m, speed_kmh=6.0):
    """Nodes along x joined in a row; 6 km/h is 100 m/min."""
    x = np.concatenate([[0.0], np.cumsum(lengths_m)])
    e = np.column_stack([np.arange(len(lengths_m)), np.arange(1, len(lengths_m) + 1)])
    return N.WalkGraph.from_edges(x, np.zeros(len(x)), e, lengths_m, walk_speed_kmh=speed_kmh)


def test_node_times_keeps_a_node_exactly_at_the_cutoff():
    wg = line_graph([100.0] * 6)  # 1.0 min per edge: sums are exact
    m = N.node_times(wg, [0, 3], cutoff_min=3.0)
    assert csr_rows_as_dicts(m) == [
        {0: 0.0, 1: 1.0, 2: 2.0, 3: 3.0},
        {0: 3.0, 1: 2.0, 2: 1.0, 3: 0.0, 4: 1.0, 5: 2.0, 6: 3.0},
    ]
    # a sum that is not exact in float64: kept or dropped exactly as networkx decides
    wg2 = line_graph([10.0, 20.0], speed_kmh=6.0)  # 0.1 + 0.2 min
    t = 10.0 / 100.0 + 20.0 / 100.0
    assert t != 0.3  # 0.30000000000000004
    for cutoff in (t, 0.3):
        G = nx.Graph()
        G.add_weighted_edges_from([(0, 1, 0.1), (1, 2, 0.2)], weight="walk_min")
        want = nx.single_source_dijkstra_path_length(G, 0, cutoff=cutoff, weight="walk_min")
        assert csr_rows_as_dicts(N.node_times(wg2, [0], cutoff_min=cutoff))[0] == want
    assert csr_rows_as_dicts(N.node_times(wg, [2], cutoff_min=0.0)) == [{2: 0.0}]


def test_node_times_zero_length_edges_and_disconnected_nodes():
    # 0 -(0 m)- 1 -(100 m)- 2,  3 -(50 m)- 4 (another component),  5 alone (no edge at all)
    x = np.array([0.0, 0.0, 100.0, 900.0, 950.0, 2000.0])
    wg = N.WalkGraph.from_edges(x, np.zeros(6), [[0, 1], [1, 2], [3, 4]], [0.0, 100.0, 50.0], walk_speed_kmh=6.0)
    m = N.node_times(wg, [1, 3, 5, 0], cutoff_min=np.inf)
    assert csr_rows_as_dicts(m) == [{0: 0.0, 1: 0.0, 2: 1.0}, {3: 0.0, 4: 0.5}, {5: 0.0}, {0: 0.0, 1: 0.0, 2: 1.0}]
    assert m.nnz == 9 and (m.data == 0).sum() == 6  # explicit zeros are stored
    want = dijkstra(wg.adjacency, indices=[1, 3, 5, 0])
    np.testing.assert_array_equal(matrix_as_dense(m), want)


def test_node_times_targets_mask_or_positions(wg):
    rng = np.random.default_rng(3)
    src = rng.choice(wg.n_nodes, 25)  # repeats allowed
    targets = rng.choice(wg.n_nodes, 300, replace=False)
    full = matrix_as_dense(N.node_times(wg, src, cutoff_min=7.0))
    mask = np.zeros(wg.n_nodes, bool)
    mask[targets] = True
    want = np.where(mask, full, np.inf)
    assert 50 < np.isfinite(want).sum() < np.isfinite(full).sum()
    for t in (mask, targets):
        got = N.node_times(wg, src, cutoff_min=7.0, targets=t)
        assert got.nnz == np.isfinite(want).sum() and got.has_sorted_indices
        np.testing.assert_array_equal(matrix_as_dense(got), want)
    none = N.node_times(wg, src, cutoff_min=7.0, targets=np.zeros(wg.n_nodes, bool))
    assert none.shape == (25, wg.n_nodes) and none.nnz == 0


def test_node_times_rows_follow_the_sources_whatever_the_buffer(wg):
    rng = np.random.default_rng(6)
    src = rng.choice(wg.n_nodes, 200)
    want = full_graph_times(wg, src, 5.0)
    for budget in (N.DEFAULT_MAX_CHUNK_BYTES, 1, 12 * 3000):  # tiny buffers: one search per kernel call
        m = N.node_times(wg, src, cutoff_min=5.0, max_chunk_bytes=budget)
        np.testing.assert_array_equal(matrix_as_dense(m), want)
    empty = N.node_times(wg, np.zeros(0, dtype=int), cutoff_min=5.0)
    assert empty.shape == (0, wg.n_nodes) and empty.nnz == 0


@pytest.mark.parametrize(
    ("sources", "kw", "error", "match"),
    [
        ([0, 10**7], {}, NetworkError, "node positions"),
        ([-1], {}, NetworkError, "node positions"),
        ([0.5], {}, NetworkError, "get_indexer"),
        ([0], {"targets": np.ones(3, bool)}, NetworkError, "one value per node"),
        ([0], {"targets": [10**7]}, NetworkError, "node positions"),
        ([0], {"cutoff_min": -1.0}, SettingsError, "cutoff_min"),
        ([0], {"cutoff_min": np.nan}, SettingsError, "cutoff_min"),
    ],
)
def test_node_times_rejects_bad_input(wg, sources, kw, error, match):
    with pytest.raises(error, match=match):
        N.node_times(wg, np.asarray(sources), **{"cutoff_min": 5.0, **kw})


def test_kernel_compiles_without_a_writable_cache(monkeypatch):
    # numba refuses cache=True at decoration time when no cache directory is writable
    calls = []

    def njit(**kw):
        calls.append(kw)
        if kw.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file '/ro/network.py'")
        return lambda f: ("compiled", f)

    monkeypatch.setattr(N.numba, "njit", njit)

    def f():
        return 1

    assert N._njit(f) == ("compiled", f)
    assert [c["cache"] for c in calls] == [True, False]


def test_node_times_do_not_depend_on_the_node_numbering(wg):
    # the kernel runs on a Z-order renumbering of the graph; any input order gives the same times
    g = wg._search
    np.testing.assert_array_equal(g.order[g.rank], np.arange(wg.n_nodes))
    renumbered = sp.csr_matrix((g.weights, g.indices, g.indptr), shape=wg.adjacency.shape)
    assert (renumbered != wg.adjacency[g.order][:, g.order]).nnz == 0
    rng = np.random.default_rng(17)
    perm = rng.permutation(wg.n_nodes)  # shuffled node k is node perm[k]
    inv = np.argsort(perm)
    adj = wg.adjacency.tocoo()
    shuffled = N.WalkGraph.from_edges(
        wg.x[perm], wg.y[perm], np.column_stack([inv[adj.row], inv[adj.col]]), adj.data * M_PER_MIN,
    )
    src = rng.choice(wg.n_nodes, 60, replace=False)
    want = matrix_as_dense(N.node_times(wg, src, cutoff_min=8.0))
    got = matrix_as_dense(N.node_times(shuffled, inv[src], cutoff_min=8.0))[:, inv]
    np.testing.assert_allclose(got, want, rtol=1e-14)  # lengths went through m → min → m
    assert np.isfinite(want).sum() > 2000


def test_from_networkx_keeps_shortest_parallel_edge_and_names_missing_lengths():
    G = nx.MultiDiGraph(crs="EPSG:5179")
    for node, (x, y) in {"a": (0, 0), "b": (100, 0), "c": (100, 100)}.items():
        G.add_node(node, x=x, y=y)
    G.add_edge("a", "b", length=100.0)
    G.add_edge("a", "b", length=80.0)  # parallel, shorter: kept
    G.add_edge("b", "c", length=60.0)
    wg = N.walk_graph(G, walk_speed_kmh=4.8)  # 80 m per minute
    pos = {node: i for i, node in enumerate(wg.node_ids)}
    dense = wg.adjacency.toarray()
    assert dense[pos["a"], pos["b"]] == dense[pos["b"], pos["a"]] == pytest.approx(1.0)
    assert dense[pos["b"], pos["c"]] == pytest.approx(0.75)
    assert wg.adjacency.nnz == 4  # both directions of a–b and b–c
    empty = nx.MultiDiGraph(crs="EPSG:5179")
    empty.add_node(1, x=0.0, y=0.0)
    assert N.walk_graph(empty).adjacency.nnz == 0
    G.add_edge("c", "a")  # no length
    with pytest.raises(NetworkError, match="1 edges have no `length`"):
        N.walk_graph(G)

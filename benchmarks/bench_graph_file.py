"""Loading a country-scale walk network: careplan's .npz walk graph vs OSMnx GraphML.

The graph is the one ``bench_scale.py --network`` routes on (250 generated 시군구 of 4 km × 4 km,
seed 11). The peer is what every run did before the .npz: ``ox.load_graphml`` (inside
``network.load_graph``) and the conversion to a routing graph (``network.walk_graph``). careplan
reads the file ``careplan network`` writes (``network.load_graph`` on a ``.npz``). Both give the
same routing graph (checked).

Run: .venv/bin/python benchmarks/bench_graph_file.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

from careplan import network, sample


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


if __name__ == "__main__":
    region = sample.generate_region(
        250, schools_per_sigungu=24, sigungu_km=4.0, walk_graph=True, seed=11, cell_m=100.0,
        siting_sites=0,
    )
    with tempfile.TemporaryDirectory() as tmp:
        graphml, npz = Path(tmp) / "walk.graphml", Path(tmp) / "walk.npz"
        t_save_graphml, _ = timed(lambda: network.save_graph(region.graph, graphml))
        # GraphML once: it takes about a minute; the .npz best of 5
        t_peer, peer = timed(lambda: network.walk_graph(network.load_graph(graphml)))
        t_save_npz, _ = timed(lambda: peer.save(npz))
        t_ours, ours = min((timed(lambda: network.load_graph(npz)) for _ in range(5)), key=lambda r: r[0])
        assert (ours.adjacency != peer.adjacency).nnz == 0 and ours.node_ids.equals(peer.node_ids)
        mb_graphml, mb_npz = graphml.stat().st_size / 1e6, npz.stat().st_size / 1e6
    lines = [
        "# Loading a country-scale walk network",
        "",
        f"Date: {dt.date.today()} · command: `.venv/bin/python benchmarks/bench_graph_file.py` · "
        "machine: 2 cores, nothing else running",
        "",
        f"Graph: {peer.n_nodes:,} nodes, {peer.n_edges:,} streets (the walk graph of `bench_scale.py "
        "--network`). Both readers give the same routing graph (checked).",
        "",
        "| file | size (MB) | write (s) | load to a routing graph (s) |",
        "|---|---:|---:|---:|",
        f"| OSMnx GraphML: `ox.load_graphml` + `network.walk_graph` (once) | {mb_graphml:.1f} | "
        f"{t_save_graphml:.1f} | {t_peer:.1f} |",
        f"| careplan `.npz` (`careplan network`): `network.load_graph` (best of 5) | {mb_npz:.1f} | "
        f"{t_save_npz:.2f} | {t_ours:.3f} |",
        "",
        f"Ratio GraphML / .npz load: {t_peer / t_ours:,.0f}×",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).parent / "results" / "graph_file.md").write_text(text, encoding="utf-8")

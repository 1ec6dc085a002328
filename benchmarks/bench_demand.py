"""Benchmark careplan.demand.demand_points at Seoul scale against a geopandas.overlay pipeline.

Synthetic Seoul (가상 data): 600 Voronoi 학구 over 25 km × 24 km (600 km², about Seoul's 605 km²),
425 Voronoi 행정동 from other seeds covering slightly less (so zones cross the "시군구" border),
boundaries segmentized to 20 m vertices like digitised 학구도, 20 shared zones, 100 m grid.

The peer is the textbook geopandas route: a full 100 m grid GeoDataFrame, ``overlay`` with the
zones, ``overlay`` with the 행정동, area × density, normalise per zone. Each method runs in its own
subprocess so peak RSS is its own. Run:

    .venv/bin/python benchmarks/bench_demand.py [--cell-m 100] [--repeat 3]

Results go to ``benchmarks/results/demand.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

WIDTH_M, HEIGHT_M = 25_000.0, 24_000.0
X0, Y0 = 940_000.0, 1_940_000.0
N_ZONES, N_DONG, N_SHARED = 600, 425, 20
RESULTS = Path(__file__).resolve().parent / "results" / "demand.md"


def voronoi(n: int, seed: int, extent: shapely.Polygon) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = extent.bounds
    pts = shapely.points(rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=extent))
    return shapely.segmentize(shapely.intersection(cells, extent), 20.0)


def synthetic_seoul() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Schools with pupils, 학구 and 행정동 with children, all EPSG:5179 and marked synthetic."""
    extent = shapely.box(X0, Y0, X0 + WIDTH_M, Y0 + HEIGHT_M)
    zone_geoms = voronoi(N_ZONES, 1, extent)
    zone_ids = [f"Z{i:09d}" for i in range(len(zone_geoms))]
    school_ids = [f"B{i:09d}" for i in range(len(zone_geoms))]
    links = list(school_ids)
    rng = np.random.default_rng(2)
    for i in rng.choice(len(links), N_SHARED, replace=False):  # 공동통학구역: add a second school
        links[i] = f"{links[i]},{school_ids[(i + 1) % len(links)]}"
    zones = gpd.GeoDataFrame({"school_ids": links, "shared": [("," in v) for v in links],
                              "synthetic": True},
                             geometry=zone_geoms, index=pd.Index(zone_ids, name="zone_id"),
                             crs=5179)
    inner = shapely.box(X0 + 150, Y0 + 150, X0 + WIDTH_M - 150, Y0 + HEIGHT_M - 150)
    dong_geoms = voronoi(N_DONG, 3, inner)
    children = rng.gamma(4.0, 150.0, len(dong_geoms)).round()
    children[:5] = 0.0  # a few 동 without children (industrial areas)
    admin = gpd.GeoDataFrame({"children_6_12": children, "synthetic": True}, geometry=dong_geoms,
                             index=pd.Index([f"11{i:08d}" for i in range(len(dong_geoms))],
                                            name="adm_code"), crs=5179)
    pupils = rng.integers(40, 200, (len(school_ids), 6)).astype(float)
    schools = gpd.GeoDataFrame({f"pupils_g{g}": pupils[:, g - 1] for g in range(1, 7)},
                               geometry=shapely.point_on_surface(zone_geoms),
                               index=pd.Index(school_ids, name="school_id"), crs=5179)
    schools["pupils_special"] = 2.0
    schools["synthetic"] = True
    return schools, zones, admin


def run_careplan(cell_m: float) -> dict:
    from careplan import demand as dm

    schools, zones, admin = synthetic_seoul()
    sd = dm.school_demand(schools)
    t = time.perf_counter()
    pts = dm.demand_points(sd, zones, admin, cell_m=cell_m)
    wall = time.perf_counter() - t
    return {"wall_s": wall, "points": len(pts), "demand": float(pts["demand"].sum()),
            "expected": float(sd["demand"].sum()),
            "children_by_dong": pts.groupby("adm_code")["children"].sum().round(6).to_dict()}


def run_overlay(cell_m: float) -> dict:
    """The plain geopandas route (peer): full grid, two overlays, area × density, normalise."""
    from careplan import demand as dm
    from careplan.io import zone_school_links

    schools, zones, admin = synthetic_seoul()
    sd = dm.school_demand(schools)
    t = time.perf_counter()
    xmin, ymin, xmax, ymax = zones.total_bounds
    xs = np.arange(np.floor(xmin / cell_m), np.ceil(xmax / cell_m)) * cell_m
    ys = np.arange(np.floor(ymin / cell_m), np.ceil(ymax / cell_m)) * cell_m
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    grid = gpd.GeoDataFrame({"cell": np.arange(len(gx))},
                            geometry=shapely.box(gx, gy, gx + cell_m, gy + cell_m), crs=zones.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pieces = gpd.overlay(grid, zones.reset_index()[["zone_id", "geometry"]],
                             keep_geom_type=True)
        pieces = gpd.overlay(pieces, admin.reset_index()[["adm_code", "children_6_12", "geometry"]],
                             how="identity", keep_geom_type=True)
    density = pieces["children_6_12"] / pieces["adm_code"].map(admin.area)
    pieces["children"] = pieces.area * density
    links = zone_school_links(zones)
    kids = pieces.groupby("zone_id")["children"].sum()
    links["kids"] = links["zone_id"].map(kids)
    links["share"] = links["kids"] / links.groupby("school_id")["kids"].transform("sum")
    links["demand"] = links["share"] * links["school_id"].map(sd["demand"])
    zone_dem = links.groupby("zone_id")["demand"].sum()
    w = pieces["children"].fillna(0.0)
    zone_w = w.groupby(pieces["zone_id"]).transform("sum")
    pieces["demand"] = pieces["zone_id"].map(zone_dem) * w / zone_w
    pieces["geometry"] = pieces.representative_point()
    wall = time.perf_counter() - t
    return {"wall_s": wall, "points": len(pieces), "demand": float(pieces["demand"].sum()),
            "expected": float(sd["demand"].sum()),
            "children_by_dong": pieces.groupby("adm_code")["children"].sum().round(6).to_dict()}


def child(method: str, cell_m: float) -> None:
    result = {"careplan": run_careplan, "overlay": run_overlay}[method](cell_m)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(method: str, cell_m: float, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--child", method, "--cell-m", str(cell_m)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["wall_s"])
    best["walls"] = [r["wall_s"] for r in runs]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-m", type=float, default=100.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["careplan", "overlay"])
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cell_m)
        return
    ours = measure("careplan", args.cell_m, args.repeat)
    peer = measure("overlay", args.cell_m, args.repeat)
    common = sorted(set(ours["children_by_dong"]) & set(peer["children_by_dong"]))
    diff = max(abs(ours["children_by_dong"][k] - peer["children_by_dong"][k]) for k in common)
    rows = [
        ("careplan.demand.demand_points", ours),
        ("geopandas.overlay pipeline (peer)", peer),
    ]
    lines = [
        "# demand_points benchmark (Seoul scale, synthetic)",
        "",
        f"- command: `.venv/bin/python benchmarks/bench_demand.py --cell-m {args.cell_m:g} "
        f"--repeat {args.repeat}`",
        f"- date: {dt.datetime.now().isoformat(timespec='minutes')}; "
        f"Python {platform.python_version()}, geopandas {gpd.__version__}, "
        f"shapely {shapely.__version__}",
        f"- data (가상): {N_ZONES} Voronoi 학구 ({N_SHARED} shared) over {WIDTH_M / 1000:g} × "
        f"{HEIGHT_M / 1000:g} km = {WIDTH_M * HEIGHT_M / 1e6:.0f} km², {N_DONG} Voronoi 행정동 "
        "(150 m short of the edge, so edge zones cross the border), boundaries at 20 m vertices, "
        f"{args.cell_m:g} m grid",
        "- machine: 2 cores shared with other engineers' jobs; timings are noisy — best of the "
        "runs shown, each run in its own process (peak RSS = that process, including the "
        "Python/geopandas baseline)",
        "",
        "| method | wall s (best) | all runs s | peak RSS MB | points | Σ demand | expected |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        walls = ", ".join(f"{w:.2f}" for w in r["walls"])
        lines.append(f"| {name} | {r['wall_s']:.2f} | {walls} | {r['peak_rss_mb']:.0f} | "
                     f"{r['points']:,} | {r['demand']:.6f} | {r['expected']:.6f} |")
    lines += [
        "",
        f"- speed-up vs peer: **{peer['wall_s'] / ours['wall_s']:.1f}×**; "
        f"peak RSS ratio (peer / ours): {peer['peak_rss_mb'] / ours['peak_rss_mb']:.2f}",
        f"- agreement: max |Δ children per 행정동| = {diff:.2e} over {len(common)} 행정동 "
        "(sums rounded to 1e-6)",
        "- points: the peer also keeps the slivers outside every 행정동 (< 1 % of a cell) that "
        "careplan drops; Σ demand: the peer loses the demand of zone parts outside every 행정동 and "
        "of zones whose 동 have no children (NaN after 0/0), careplan imputes the zone's own "
        "density or falls back to area and conserves mass exactly.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

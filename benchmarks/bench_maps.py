"""Benchmark careplan.maps at city scale against its peers, on synthetic (가상) data.

Run:  .venv/bin/python benchmarks/bench_maps.py [--facilities 2000] [--schools 600]

Peers in the same run:
* planner map facilities layer vs ``GeoDataFrame.explore()`` (geopandas' folium map),
  same points;
* straight-line school→facility reach (``school_facility_walk_times``, KD-tree) vs the dense
  ``scipy.spatial.distance.cdist`` matrix + threshold that spopt's ``from_geodataframe`` uses.
Prints ratios and peak RSS and writes benchmarks/results/maps.md. Timings on a shared
2-core machine are noisy; take ratios as rough.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from shapely.geometry import Point

from careplan.catalog import DEFAULT_CATALOG
from careplan.maps import planner_map, public_care_map, save_planner_map, school_facility_walk_times

RESULTS = Path(__file__).with_name("results") / "maps.md"
KINDS = ["kium_general", "dahamkke", "local_child_center", "school_care", "kium_fusion"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, *args, repeat: int = 1, **kw):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t0)
    return best, out


def city(n_fac: int, n_sch: int, n_adm: int, seed: int = 0):
    """Seoul-sized synthetic layers in EPSG:5179 (a 30 km square)."""
    rng = np.random.default_rng(seed)
    x0, y0, side = 935_000.0, 1_935_000.0, 30_000.0
    kinds = rng.choice(KINDS, n_fac)
    cat = [DEFAULT_CATALOG[k] for k in kinds]
    fac = gpd.GeoDataFrame(
        {
            "name": [f"가상 시설 {i}" for i in range(n_fac)],
            "kind": kinds,
            "address": [f"서울특별시 가상구 가상로 {i}" for i in range(n_fac)],
            "capacity": [c.capacity_regular for c in cat],
            "capacity_temp": [c.capacity_temporary for c in cat],
            "term_open": [c.term_hours[0] for c in cat],
            "term_close": [c.term_hours[1] for c in cat],
            "vac_open": [c.vacation_hours[0] for c in cat],
            "vac_close": [c.vacation_hours[1] for c in cat],
            "sat_open": np.nan,
            "sat_close": np.nan,
            "fee_month": [c.fee_month_krw for c in cat],
            "min_grade": [c.min_grade for c in cat],
            "max_grade": [c.max_grade for c in cat],
            "status": "정상",
            "data_date": "2025-05-31",
            "synthetic": True,
        },
        geometry=gpd.points_from_xy(
            x0 + rng.uniform(0, side, n_fac), y0 + rng.uniform(0, side, n_fac)
        ),
        index=pd.Index([f"F{i:05d}" for i in range(n_fac)], name="facility_id"),
        crs=5179,
    )
    sch = gpd.GeoDataFrame(
        {"name": [f"가상초등학교 {i}" for i in range(n_sch)], "address": "가상로"},
        geometry=gpd.points_from_xy(
            x0 + rng.uniform(0, side, n_sch), y0 + rng.uniform(0, side, n_sch)
        ),
        index=pd.Index([f"B{i:05d}" for i in range(n_sch)], name="school_id"),
        crs=5179,
    )
    # 학구: a Voronoi-like patchwork is overkill here; 64-vertex circles of 700 m stand in.
    zones = gpd.GeoDataFrame(
        {"name": [f"가상 학구 {i}" for i in range(n_sch)], "school_ids": sch.index},
        geometry=sch.buffer(700, quad_segs=16).values,
        index=pd.Index([f"Z{i:05d}" for i in range(n_sch)], name="zone_id"),
        crs=5179,
    )
    k = int(np.ceil(np.sqrt(n_adm)))
    cell = side / k
    adm_geoms, codes = [], []
    for i in range(k):
        for j in range(k):
            if len(codes) < n_adm:
                adm_geoms.append(
                    Point(x0 + (i + 0.5) * cell, y0 + (j + 0.5) * cell).buffer(
                        cell / 2, cap_style=3
                    )
                )
                codes.append(f"11{len(codes):08d}")
    adm = gpd.GeoDataFrame(
        {"name": [f"가상{i}동" for i in range(len(codes))]},
        geometry=adm_geoms,
        index=pd.Index(codes, name="adm_code"),
        crs=5179,
    )
    demand = gpd.GeoDataFrame(
        {"demand": rng.gamma(2.0, 2.0, 20_000)},
        geometry=gpd.points_from_xy(
            x0 + rng.uniform(0, side, 20_000), y0 + rng.uniform(0, side, 20_000)
        ),
        crs=5179,
    )
    zone_stats = pd.DataFrame(
        {"coverage_pct": rng.uniform(0, 100, n_sch), "unmet_demand": rng.uniform(0, 80, n_sch)},
        index=zones.index,
    )
    return fac, sch, zones, adm, demand, zone_stats


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--facilities", type=int, default=2000)
    ap.add_argument("--schools", type=int, default=600)
    ap.add_argument("--adm", type=int, default=425)
    args = ap.parse_args()
    fac, sch, zones, adm, demand, zone_stats = city(args.facilities, args.schools, args.adm)
    lines = []

    def report(text: str) -> None:
        print(text)
        lines.append(text)

    report(
        f"layers: {len(fac):,} facilities, {len(sch):,} schools/학구, {len(adm):,} 행정동, "
        f"{len(demand):,} demand points (synthetic)"
    )
    rss0 = peak_rss_mb()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # Peer 1: the facilities layer alone, careplan vs GeoDataFrame.explore.
        t_cp, m = timed(
            lambda: save_planner_map(
                planner_map(facilities=fac, distance_method_label="bench", synthetic=True),
                tmp / "cp_fac.html",
            )
        )
        t_peer, _ = timed(lambda: fac.explore(column="kind").save(str(tmp / "peer_fac.html")))
        size_cp, size_peer = (
            (tmp / "cp_fac.html").stat().st_size,
            (tmp / "peer_fac.html").stat().st_size,
        )
        report(
            f"facilities layer  careplan {t_cp:6.2f} s {size_cp / 1e6:5.1f} MB | "
            f"gdf.explore {t_peer:6.2f} s {size_peer / 1e6:5.1f} MB | "
            f"time ratio {t_cp / t_peer:4.2f}, "
            f"size ratio {size_cp / size_peer:4.2f}"
        )

        t_full, _ = timed(
            lambda: save_planner_map(
                planner_map(
                    facilities=fac,
                    schools=sch,
                    zones=zones,
                    admin_areas=adm,
                    demand_points=demand,
                    zone_stats=zone_stats,
                    distance_method_label="bench",
                    synthetic=True,
                ),
                tmp / "cp_full.html",
            )
        )
        report(
            f"full planner map  {t_full:6.2f} s, "
            f"{(tmp / 'cp_full.html').stat().st_size / 1e6:5.1f} MB HTML"
        )

        # Peer 2: reach from schools, KD-tree vs dense cdist.
        t_kd, times = timed(school_facility_walk_times, sch, fac, max_walk_min=10, repeat=3)

        def dense():
            s = np.column_stack([sch.geometry.x, sch.geometry.y])
            f = np.column_stack([fac.geometry.x, fac.geometry.y])
            d = cdist(s, f) * 1.3 / (4000 / 60)
            i, j = np.nonzero(d <= 10)
            return len(i)

        t_dense, n_dense = timed(dense, repeat=3)
        assert n_dense == len(times), (n_dense, len(times))
        report(
            f"school reach      KD-tree {t_kd * 1e3:7.1f} ms | "
            f"dense cdist {t_dense * 1e3:7.1f} ms | "
            f"ratio {t_kd / t_dense:4.2f} | {len(times):,} pairs (equal)"
        )

        t_pub, index = timed(
            lambda: public_care_map(
                tmp / "public",
                facilities=fac,
                schools=sch,
                zones=zones,
                admin_areas=adm,
                data_date="2025-05-31",
                synthetic=True,
            )
        )
        size_js = (index.parent / "data.js").stat().st_size
        report(f"public 돌봄지도   {t_pub:6.2f} s, data.js {size_js / 1e6:5.2f} MB")

    report(f"peak RSS {peak_rss_mb():.0f} MB (after setup {rss0:.0f} MB)")
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        "# careplan.maps benchmark\n\n"
        f"Command: `.venv/bin/python benchmarks/bench_maps.py --facilities {args.facilities} "
        f"--schools {args.schools} --adm {args.adm}`  \nDate: {stamp}  \n"
        f"Python {sys.version.split()[0]}; shared 2-core machine under other engineers' load, "
        "so timings are noisy (ratios are the useful part).\n\n```\n"
        + "\n".join(lines)
        + "\n```\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

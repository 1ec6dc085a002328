"""Reading the national school file (12,011 rows, CP949): careplan.io vs a bare pandas+geopandas read.

The peer does only what a notebook would: read_csv(encoding="cp949") and points_from_xy, with no
encoding detection, validation, CRS checks or row accounting. The ratio is the price of the checks.

Run: .venv/bin/python benchmarks/bench_io.py [path/to/korea]
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

from careplan import io

KOREA = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/korea"
FILE = KOREA / "schools/전국초중등학교위치표준데이터.csv"


def best_of(fn, repeat=5):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def peer():
    frame = pd.read_csv(FILE, encoding="cp949", dtype=str)
    frame = frame[frame["학교급구분"] == "초등학교"]
    points = gpd.points_from_xy(frame["경도"].astype(float), frame["위도"].astype(float))
    return gpd.GeoDataFrame(frame, geometry=points, crs=4326).to_crs(5179)


def ours():
    return io.read_schools(FILE)


if __name__ == "__main__":
    t_peer, p = best_of(peer)
    t_ours, (schools, report) = best_of(ours)
    assert len(p) == len(schools) == 6_303
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Reading the national school file",
        "",
        f"Date: {dt.date.today()} · command: `.venv/bin/python benchmarks/bench_io.py` · machine: 2 cores "
        "(shared with other work during the run: timings are noisy)",
        "",
        "| reader | rows read | 초등학교 kept | best of 5 (s) |",
        "|---|---|---|---|",
        f"| pandas + geopandas (no checks) | 12,011 | {len(p):,} | {t_peer:.3f} |",
        f"| careplan.io.read_schools (detect encoding, validate, account rows) | {report.rows_read:,} | "
        f"{len(schools):,} | {t_ours:.3f} |",
        "",
        f"Ratio careplan / bare read: {t_ours / t_peer:.2f}× · peak RSS of the process {rss:,.0f} MiB",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    (Path(__file__).parent / "results" / "io.md").write_text(text, encoding="utf-8")

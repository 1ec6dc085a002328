"""Calibrate careplan.sizing: peak memory of one run against the grid cells and walk-time pairs it estimates.

Run:  .venv/bin/python benchmarks/bench_sizing.py [--cells 100 50 30 20 15 10]

Each case runs ``pipeline.analyse`` on the embedded sample (가상 데이터), straight-line times and no siting, in its
own process at one ``cell_m``; the peak RSS above the process's RSS after reading the inputs is the run's memory.
A least-squares line through (cells, memory) and (pairs, memory) gives the bytes per cell and per pair that
``careplan.sizing`` uses to refuse runs that would not fit. There is no peer for this: it checks careplan's own
estimates (``sizing.grid_cells`` and the pair estimate) against what a run really lays and stores. Writes
benchmarks/results/sizing.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).with_name("results") / "sizing.md"


def one_case(cell_m: float) -> dict:
    """Run in a child process: estimates, the real counts and the peak memory of one run."""
    from careplan import pipeline, sample, sizing

    scenario = pipeline.load_scenario(sample.sample_dir() / "scenario.toml")
    scenario = dataclasses.replace(scenario, network=None, cell_m=cell_m, siting_sites=0)
    inputs = pipeline.read_inputs(scenario)
    cells = sizing.grid_cells(inputs.zones.geometry.to_numpy(), cell_m)
    pairs_estimate = sizing._pairs(scenario, inputs.zones.geometry.to_numpy(), cells, len(inputs.facilities),
                                   network=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = pipeline.analyse(scenario, inputs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"cell_m": cell_m, "cells": cells, "points": len(result.demand_points),
            "pairs_estimate": pairs_estimate, "pairs": int(result.times.matrix.nnz), "bytes": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=float, nargs="+", default=[100, 50, 30, 20, 15, 10])
    parser.add_argument("--case", type=float, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(one_case(args.case)))
        return
    rows = []
    for cell_m in args.cells:
        done = subprocess.run([sys.executable, __file__, "--case", str(cell_m)], capture_output=True, text=True,
                              check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    cells = np.array([r["cells"] for r in rows], dtype=float)
    pairs = np.array([r["pairs"] for r in rows], dtype=float)
    used = np.array([r["bytes"] for r in rows], dtype=float)
    per_cell = np.polyfit(cells, used, 1)[0]
    per_pair = np.polyfit(pairs, used, 1)[0]
    from careplan import sizing

    lines = [
        "# Size guards: measured memory per grid cell and per walk-time pair",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_sizing.py --cells {' '.join(f'{c:g}' for c in args.cells)}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Embedded sample (가상 데이터), straight-line times, no siting, "
        "one process per case; memory = peak RSS of `pipeline.analyse` above the RSS after reading the inputs.",
        "",
        "| cell_m | grid cells (estimate) | demand points | pairs (estimate) | pairs stored | peak memory (MB) |",
        "|---|---|---|---|---|---|",
        *[f"| {r['cell_m']:g} | {r['cells']:,} | {r['points']:,} | {r['pairs_estimate']:,} | {r['pairs']:,} | "
          f"{r['bytes'] / 1e6:,.0f} |" for r in rows],
        "",
        f"Least-squares slope: **{per_cell:,.0f} bytes per grid cell**, **{per_pair:,.0f} bytes per stored pair** "
        f"(cells and pairs grow together here, so each slope carries the other's memory: an upper bound). "
        f"careplan.sizing uses BYTES_PER_CELL = {sizing.BYTES_PER_CELL:,} and BYTES_PER_PAIR = "
        f"{sizing.BYTES_PER_PAIR:,} to state the memory a refused run would need.",
        "",
    ]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Benchmark the planner's workflow commands: ``careplan map`` and the scenario comparison map.

Run:  .venv/bin/python benchmarks/bench_workflow.py [--no-guro]

Measured on the embedded sample (가상 데이터) and, when ``../shared/data/korea`` is present,
on the real 구로구 scenario (``examples/guro.toml``):

* re-making both maps from a run folder (``runfolder.remake_maps``, what ``careplan map``
  does) vs re-running the scenario and writing its outputs (``careplan run``) — the only
  other way to get the maps after an edit;
* ``maps.compare_map`` (dual and overlay) vs the peer way of mapping two runs with
  geopandas: ``GeoDataFrame.explore`` of the same layers (학구 coverage, facilities,
  uncovered demand, proposed sites), one map per run. Time and HTML size.

Prints ratios and peak RSS and writes benchmarks/results/workflow.md. Peak RSS is the
process's high-water mark after each step (monotone). Timings on a shared 2-core machine
are noisy; take ratios as rough.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import careplan
from careplan import coverage, maps, report, runfolder, sample

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).with_name("results") / "workflow.md"
KOREA = Path(os.environ.get("CAREPLAN_SHARED_DATA", REPO.parent / "shared" / "data" / "korea"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


def explore_pair(a, b, folder: Path) -> int:
    """The peer: one ``GeoDataFrame.explore`` map per run with the same layers; total bytes."""
    size = 0
    for tag, r in (("A", a), ("B", b)):
        slot = r.scenario.siting_slot
        cov = r.coverage_by_zone
        pct = cov[(cov["slot"] == slot) & (cov["kind"] == "all")].set_index("zone_id")[
            "coverage_pct"
        ]
        zones = r.zones[["name", "geometry"]].assign(coverage_pct=pct.reindex(r.zones.index))
        m = zones.explore(
            column="coverage_pct", cmap="viridis", vmin=0, vmax=100, name=f"{tag} 학구"
        )
        fac = r.facilities[r.facilities["kind"].isin(coverage.default_kinds())]
        fac[["name", "kind", "capacity", "address", "geometry"]].explore(m=m, name=f"{tag} 시설")
        covered = r.coverage.covered[(slot, "all")].astype(bool)
        out = r.demand_points.loc[
            covered.index[~covered.to_numpy()], ["demand", "zone_id", "geometry"]
        ]
        out.explore(m=m, name=f"{tag} 도보권 밖 수요", color="red")
        if r.proposed is not None and len(r.proposed):
            r.proposed[["rank", "name", "kind", "geometry"]].explore(m=m, name=f"{tag} 제안")
        path = folder / f"explore_{tag}.html"
        m.save(str(path))
        size += path.stat().st_size
    return size


def bench_case(label: str, scenario, work: Path, lines: list[str]) -> None:
    print(f"== {label}", flush=True)
    t_run, a = timed(careplan.run, scenario)
    t_write, folder = timed(report.write_outputs, a, work / f"{label}_run")
    rss_run = peak_rss_mb()
    t_map, written = timed(runfolder.remake_maps, folder, work / f"{label}_maps")
    rss_map = peak_rss_mb()
    print(
        f"run+write {t_run + t_write:.2f} s, careplan map {t_map:.2f} s "
        f"({(t_run + t_write) / t_map:.1f}x faster), peak RSS {rss_map:.0f} MB",
        flush=True,
    )
    lines += [
        f"### {label}",
        "",
        "| step | time (s) | peak RSS after (MB) |",
        "|---|---:|---:|",
        f"| `careplan run` (run {t_run:.2f} s + write_outputs {t_write:.2f} s) "
        f"| {t_run + t_write:.2f} "
        f"| {rss_run:.0f} |",
        f"| `careplan map` (remake_maps, both maps) | {t_map:.2f} | {rss_map:.0f} |",
        "",
        f"Re-making the maps is **{(t_run + t_write) / t_map:.1f}×** faster than re-running "
        f"({len(written)} files; facilities {len(a.facilities):,}, demand points "
        f"{len(a.demand_points):,}).",
        "",
    ]

    b_scenario = dataclasses.replace(scenario, name=f"{scenario.name} (15분)", max_walk_min=15.0)
    b = careplan.run(b_scenario)
    rows = []
    for layout in ("dual", "overlay"):
        t_cmp, m = timed(maps.compare_map, a, b, layout=layout)
        t_save, path = timed(maps.save_compare_map, m, work / f"{label}_compare_{layout}.html")
        rows.append((layout, t_cmp + t_save, path.stat().st_size))
    t_peer, peer_size = timed(explore_pair, a, b, work)
    rss_cmp = peak_rss_mb()
    lines += [
        "| comparison map (A = 10 min, B = 15 min) | build+save (s) | HTML (MB) "
        "| time ratio vs explore |",
        "|---|---:|---:|---:|",
    ]
    for layout, t, size in rows:
        lines.append(
            f"| careplan `compare_map(layout={layout!r})` | {t:.2f} | {size / 1e6:.2f} | "
            f"{t / t_peer:.2f}× |"
        )
        print(
            f"compare_map {layout}: {t:.2f} s, {size / 1e6:.2f} MB; explore pair {t_peer:.2f} s, "
            f"{peer_size / 1e6:.2f} MB; ratio {t / t_peer:.2f}",
            flush=True,
        )
    lines += [
        f"| peer: two `GeoDataFrame.explore` maps, same layers | {t_peer:.2f} "
        f"| {peer_size / 1e6:.2f} | 1× |",
        "",
        f"Peak RSS after the comparison maps: {rss_cmp:.0f} MB.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-guro", action="store_true", help="only the embedded sample")
    args = parser.parse_args()
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    lines = [
        "# Workflow: `careplan map` and the comparison map",
        "",
        "Command: `.venv/bin/python benchmarks/bench_workflow.py"
        f"{' --no-guro' if args.no_guro else ''}`  ",
        f"Date: {started} · Python {sys.version.split()[0]} · 2 shared cores "
        "(other engineers' work ran "
        "at the same time: timings are noisy, ratios rough).",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_case(
            "sample (가상 데이터)",
            careplan.load_scenario(sample.sample_dir() / "scenario.toml"),
            work,
            lines,
        )
        if not args.no_guro and KOREA.exists():
            bench_case(
                "구로구 (real data)",
                careplan.load_scenario(REPO / "examples/guro.toml", data_dir=KOREA),
                work,
                lines,
            )
        elif not args.no_guro:
            lines += [f"구로구 not measured: {KOREA} is absent.", ""]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

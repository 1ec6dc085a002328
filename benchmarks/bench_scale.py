"""Benchmark careplan.scale: a country-scale generated region on Dask, 1 vs 2 workers, vs one process.

    .venv/bin/python benchmarks/bench_scale.py            # ≈250 시군구, ≈6,000 schools
    .venv/bin/python benchmarks/bench_scale.py --quick    # 60 시군구, for a re-run in a few minutes
    .venv/bin/python benchmarks/bench_scale.py --network  # also the walk-network mode (slower)

Every run is in fresh processes (the single-process run in its own child process, each
Dask configuration on a new LocalCluster), so peak RSS is per run. Results go to
``benchmarks/results/scale.md`` (``--out`` to change). Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime as dt
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from careplan import pipeline, sample, scale

RESULTS = Path(__file__).resolve().parent / "results" / "scale.md"


def _region(args: argparse.Namespace, *, network: bool, siting: bool) -> sample.GeneratedRegion:
    return sample.generate_region(
        args.sigungu,
        schools_per_sigungu=args.schools,
        sigungu_km=args.km,
        walk_graph=network,
        seed=args.seed,
        cell_m=args.cell_m,
        siting_sites=3 if siting else 0,
    )


def _peak_rss_mb() -> float:
    """Peak RSS of this process (Linux VmHWM). Not ru_maxrss: that keeps the peak of the
    forked parent across exec, so a spawned worker would report the benchmark's own size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # not Linux: KiB


def _busy_others() -> int:
    """Other processes averaging more than half a core (ps %CPU over their lifetime; quiet machine: 0)."""
    mine = {os.getpid(), os.getppid()}
    out = subprocess.run(
        ["ps", "-eo", "pid=,pcpu="], capture_output=True, text=True, check=False
    ).stdout
    return sum(
        1
        for line in out.splitlines()
        if (f := line.split()) and int(f[0]) not in mine and float(f[1]) > 50
    )


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process: the work done, whatever the machine's load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _single(args: argparse.Namespace, network: bool) -> dict:
    """One process: generate, then pipeline.analyse (run in a child so its peak RSS is its own)."""
    region = _region(args, network=network, siting=False)
    t0, c0 = time.perf_counter(), _cpu_s()
    result = pipeline.analyse(region.scenario, region.inputs, graph=region.graph)
    seconds, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        **_checked_numbers(result),
    }


def _checked_numbers(result) -> dict:
    """Numbers every run is checked on: a single process's, a region run's (with or without
    its per-point results)."""
    if not isinstance(result, scale.RegionResult):  # pipeline.PlanResult: from its points
        points, unmet = len(result.demand_points), result.access["unmet_demand"].sum()
    else:
        total = result.summary.set_index("sigungu_code").loc[scale.TOTAL_LABEL]
        points, unmet = int(result.partitions["core_points"].sum()), total["unmet_demand"]
    return {
        "points": points,
        "covered": float(result.coverage_total["covered_demand"].sum()),
        "unmet": float(unmet),
        "gini": float(result.gini),
        "access_sum": None if result.access is None else float(np.nansum(result.access["access"])),
    }


def _in_child(func, *args):
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(func, *args).result()


def _dask(
    region: sample.GeneratedRegion,
    workers: int,
    memory_limit: str,
    scenario=None,
    *,
    per_point: bool = True,
) -> dict:
    # careplan's own LocalCluster (scale.local_client), as `careplan region` starts it
    with scale.local_client(workers, memory_limit=memory_limit) as client:
        # Workers up and careplan imported before the clock starts, as in the single-process run.
        client.run(__import__, "careplan.scale")
        worker_cpu0 = sum(client.run(_cpu_s).values())
        t0, c0 = time.perf_counter(), _cpu_s()
        result = scale.run_region(
            scenario or region.scenario,
            region.inputs,
            graph=region.graph,
            client=client,
            per_point=per_point,
        )
        seconds, client_cpu = time.perf_counter() - t0, _cpu_s() - c0
        worker_cpu = sum(client.run(_cpu_s).values()) - worker_cpu0
        rss = client.run(_peak_rss_mb)
    return {
        "seconds": seconds,
        "cpu_s": worker_cpu + client_cpu,
        "client_cpu_s": client_cpu,
        "worker_peak_rss_mb": sorted(rss.values()),
        "phases": result.seconds,
        **_checked_numbers(result),
        "proposed": 0 if result.proposed is None else len(result.proposed),
    }


def _timed_analysis(cell_m: float, barrier, out) -> None:
    """``pipeline.analyse`` of 30 generated 시군구 (demand, times, coverage, access), timed after
    ``barrier``."""
    region = sample.generate_region(
        30, schools_per_sigungu=24, sigungu_km=4.0, seed=3, cell_m=cell_m, siting_sites=0
    )
    barrier.wait()  # both processes of a pair start the timed work together
    t0 = time.perf_counter()
    pipeline.analyse(region.scenario, region.inputs)
    out.put(time.perf_counter() - t0)


def _machine_ceiling(args: argparse.Namespace, rounds: int) -> dict:
    """What 2 cores give this machine on perfectly parallel careplan work, now.

    The same analysis runs alone, then twice at once in two processes (nothing shared, no
    Dask): 2 × alone / slower of the pair is the most a 2-worker run could gain
    over 1 worker. Memory-bound work on a virtual machine's two cores gets less than 2×.
    """
    ctx = multiprocessing.get_context("spawn")
    ratios = []
    for _ in range(rounds):
        times = {}
        for n in (1, 2):
            barrier, out = ctx.Barrier(n), ctx.Queue()
            procs = [
                ctx.Process(target=_timed_analysis, args=(args.cell_m, barrier, out))
                for _ in range(n)
            ]
            for proc in procs:
                proc.start()
            times[n] = [out.get() for _ in procs]
            for proc in procs:
                proc.join()
        ratios.append(2 * times[1][0] / max(times[2]))
        print(
            f"  alone {times[1][0]:.2f} s, pair {times[2][0]:.2f} / {times[2][1]:.2f} s "
            f"→ {ratios[-1]:.2f}×",
            flush=True,
        )
    return {"ratios": ratios, "median": float(np.median(ratios))}


def _mode(args: argparse.Namespace, network: bool) -> dict:
    label = "network" if network else "straight_line"
    print(f"[{label}] single process …", flush=True)
    single = _in_child(_single, args, network)
    print(f"  {single['seconds']:.1f} s, peak {single['peak_rss_mb']:.0f} MB", flush=True)
    region = _region(args, network=network, siting=False)
    # (workers, per_point): with the per-point results gathered, and region tables only
    configs = [(w, per_point) for per_point in (True, False) for w in args.workers]
    rounds: dict[tuple[int, bool], list[dict]] = {c: [] for c in configs}
    for r in range(args.rounds):  # configurations interleaved, so a burst of other load hits all
        for workers, per_point in configs:
            what = "" if per_point else ", tables only"
            print(f"[{label}] round {r + 1}: Dask, {workers} worker(s){what} …", flush=True)
            run = _dask(region, workers, args.memory_limit, per_point=per_point)
            print(f"  {run['seconds']:.1f} s, worker peaks {run['worker_peak_rss_mb']}", flush=True)
            # the partitioned run reproduces the single-process numbers
            assert run["points"] == single["points"]
            for key in ("covered", "unmet", "gini") + (("access_sum",) if per_point else ()):
                assert np.isclose(run[key], single[key], rtol=1e-9), key
            rounds[(workers, per_point)].append(run)
    # the median round by wall time stands for each worker count; every round is listed below the table
    runs = {
        c: sorted(rs, key=lambda run: run["seconds"])[(len(rs) - 1) // 2]
        for c, rs in rounds.items()
    }
    siting = None
    if args.siting and not network:
        workers = max(args.workers)
        print(
            f"[{label}] Dask with per-시군구 siting (3 sites each), {workers} workers …", flush=True
        )
        scenario = dataclasses.replace(region.scenario, siting_sites=3)
        siting = _dask(region, workers, args.memory_limit, scenario)
        print(f"  {siting['seconds']:.1f} s, {siting['proposed']} sites", flush=True)
    return {
        "single": single,
        "runs": runs,
        "rounds": rounds,
        "siting": siting,
        "graph_nodes": 0 if region.graph is None else region.graph.number_of_nodes(),
        "schools": len(region.inputs.schools),
    }


_WHAT = {True: "", False: ", tables only (`per_point=False`)"}


def _table(label: str, res: dict) -> list[str]:
    single, runs = res["single"], res["runs"]
    lines = [
        f"### {label}",
        "",
        f"{res['schools']:,} schools, {single['points']:,} demand points"
        + (f", walk graph {res['graph_nodes']:,} nodes" if res["graph_nodes"] else ""),
        "",
        "| run | wall s (median round) | vs 1 worker | vs single process | CPU s (client) | CPU vs single process "
        "| peak RSS per process (MB) | phases (s) |",
        "|---|---:|---:|---:|---:|---:|---|---|",
        f"| single process (`pipeline.analyse`, no siting) | {single['seconds']:.1f} | | 1.00× | "
        f"{single['cpu_s']:.1f} | 1.00× | {single['peak_rss_mb']:.0f} | |",
    ]
    for workers, per_point in runs:
        run = runs[(workers, per_point)]
        one = runs.get((1, per_point), {}).get("seconds")
        phases = ", ".join(f"{k} {v:.1f}" for k, v in run["phases"].items() if k != "total")
        lines.append(
            f"| Dask {workers} worker(s){_WHAT[per_point]} | {run['seconds']:.1f} | "
            f"{(one / run['seconds']) if one else float('nan'):.2f}× | "
            f"{single['seconds'] / run['seconds']:.2f}× | "
            f"{run['cpu_s']:.1f} ({run['client_cpu_s']:.1f}) | {run['cpu_s'] / single['cpu_s']:.2f}× | "
            f"{', '.join(f'{m:.0f}' for m in run['worker_peak_rss_mb'])} | {phases} |"
        )
    if res["siting"]:
        s = res["siting"]
        lines.append(
            f"| Dask {len(s['worker_peak_rss_mb'])} workers + siting (3 다함께돌봄센터 per 시군구, "
            f"{s['proposed']} sites) | {s['seconds']:.1f} | | | {s['cpu_s']:.1f} | | "
            f"{', '.join(f'{m:.0f}' for m in s['worker_peak_rss_mb'])} | |"
        )
    lines.append("")
    for per_point in (True, False):
        if (1, per_point) not in runs or (2, per_point) not in runs:
            continue
        one, two = res["rounds"][(1, per_point)], res["rounds"][(2, per_point)]
        per_round = [a["seconds"] / b["seconds"] for a, b in zip(one, two, strict=True)]
        median = runs[(1, per_point)]["seconds"] / runs[(2, per_point)]["seconds"]
        lines.append(
            f"- Speed-up 2 workers / 1 worker{_WHAT[per_point]} (median rounds): **{median:.2f}×** "
            "(target ≥ 1.7×); per round: " + ", ".join(f"{x:.2f}×" for x in per_round) + "."
        )
    lines += [
        "",
        "Every round (wall s): "
        + "; ".join(
            f"{w} worker(s){_WHAT[p]}: " + ", ".join(f"{run['seconds']:.1f}" for run in rs)
            for (w, p), rs in res["rounds"].items()
        )
        + ".",
    ]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 시군구 instead of 250")
    parser.add_argument("--sigungu", type=int, default=None)
    parser.add_argument("--schools", type=int, default=24, help="schools per 시군구")
    parser.add_argument("--km", type=float, default=4.0, help="side of a 시군구 square")
    parser.add_argument("--cell-m", type=float, default=100.0)
    parser.add_argument("--network", action="store_true", help="also the walk-network mode")
    parser.add_argument("--siting", action="store_true", help="also a run with per-시군구 siting")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the Dask runs (median shown)"
    )
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.sigungu is None:
        args.sigungu = 60 if args.quick else 250
    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    print("machine ceiling: the same analysis alone and as a pair of processes …", flush=True)
    ceiling = _machine_ceiling(args, args.rounds)
    results = {"straight-line (× detour 1.3)": _mode(args, network=False)}
    if args.network:
        results["walk network"] = _mode(args, network=True)
    command = "  ".join(
        [
            ".venv/bin/python benchmarks/bench_scale.py",
            *(argv if argv is not None else sys.argv[1:]),
        ]
    )
    lines = [
        "# careplan.scale — partitioned region on Dask",
        "",
        f"- command: `{command.strip()}`",
        f"- started: {started:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; Python {platform.python_version()}",
        f"- region: {args.sigungu} 시군구 of {args.km:g} km × {args.km:g} km, {args.schools} schools each, "
        f"{args.cell_m:g} m demand cells; `scale.local_client` (LocalCluster, one single-threaded "
        f"worker process per worker, memory_limit={args.memory_limit}, settings "
        f"{scale.LOCAL_CLUSTER_CONFIG}); wall time of `scale.run_region` from a running cluster "
        "whose workers have imported careplan. Phases: demand = until the last demand result is "
        "in, access = from then to the last access result (access tasks start earlier, as soon as "
        "the demand around them is in), merge. CPU s = user + system seconds of the workers and the client "
        "(in brackets) during the run: the work done, much less sensitive to other load than wall time.",
        f"- other processes busy on the machine when the run started: {_busy_others()} "
        f"(load average {load[0]:.2f}, which still counts the last minute's work)",
        "- Every partitioned run is checked against the single-process numbers (points, Σ covered "
        "demand, Σ unmet demand, Gini of access, and Σ access when the points are gathered; rel 1e-9).",
        "- Two kinds of region run: the default gathers every demand point's results to the client "
        "(`RegionResult.demand_points`, `.coverage`, `.access`); *tables only* "
        "(`run_region(per_point=False)`, `careplan region --no-points`) returns the region tables "
        "(시군구 summary, coverage by 학구 / 행정동 / 시군구, gaps, Gini, proposals) and leaves the points "
        "on the workers.",
        "",
    ]
    lines += [
        "### machine ceiling",
        "",
        "The same careplan work (`pipeline.analyse` of 30 generated 시군구, no Dask) timed alone "
        "and as two processes at once: 2 × alone / slower of the pair is the most 2 workers could "
        f"gain over 1 on this machine at the time. Median **{ceiling['median']:.2f}×**; per round: "
        + ", ".join(f"{r:.2f}×" for r in ceiling["ratios"])
        + ".",
        "",
    ]
    for label, res in results.items():
        lines += _table(label, res)
    end_load = os.getloadavg()
    lines += [
        f"- load average at the end: {end_load[0]:.2f} / {end_load[1]:.2f} / {end_load[2]:.2f}",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

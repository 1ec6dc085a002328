"""The ``careplan`` command line: thin wrappers over the library."""

from __future__ import annotations

import dataclasses
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from ._errors import CareplanError, SettingsError


class _Interrupted(BaseException):
    """SIGINT / SIGTERM as an exception (not KeyboardInterrupt, which click turns into "Aborted!"
    and exit 1), so every ``finally`` runs on the way out: staging folders are removed."""


def _interrupt(signum: int, _frame) -> None:
    raise _Interrupted(signum)


class _App(typer.Typer):
    """The Typer app; SIGINT / SIGTERM end it with one line and exit 130 / 143, no traceback."""

    def __call__(self, *args, **kwargs):
        main = threading.current_thread() is threading.main_thread()  # signal.signal needs it
        signals = (signal.SIGINT, signal.SIGTERM) if main else ()
        previous = {s: signal.signal(s, _interrupt) for s in signals}
        try:
            return super().__call__(*args, **kwargs)
        except _Interrupted as exc:
            from . import outfolder

            outfolder.discard_open()  # after the finally blocks: any staging they could not reach
            signum = exc.args[0]
            name = signal.Signals(signum).name
            _say(f"중단됨 interrupted ({name}): unfinished outputs were removed", err=True)
            raise SystemExit(128 + signum) from None
        finally:
            for s, handler in previous.items():
                if handler is not None:  # None: not set from Python, nothing to restore
                    signal.signal(s, handler)


app = _App(no_args_is_help=True, add_completion=False,
           help="careplan — 초등 돌봄 수요·접근성·입지 계획 (after-school care planning).")
logger = logging.getLogger("careplan")

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: tracebacks).")]
Quiet = Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")]
Force = Annotated[bool, typer.Option("--force", help="Replace an earlier careplan output in --out "
                                                      "(files you added there are kept).")]


def _setup_logging(verbose: int, quiet: int) -> None:
    level = max(10, min(50, 30 - 10 * verbose + 10 * quiet))
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")


#: C0/C1 control characters but newline and tab: text from files must not drive the terminal
#: (an ESC sequence in a name could rewrite the console or hide the real message).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _say(text: object, *, err: bool = False) -> None:
    """Print a line; control characters from data are shown as escapes, not obeyed."""
    typer.echo(_CONTROL.sub(lambda m: repr(m.group(0))[1:-1], str(text)), err=err)


def _fail(exc: Exception, verbose: int) -> None:
    if verbose >= 2:
        logger.exception("careplan failed")
    _say(f"오류 error: {exc}", err=True)
    raise typer.Exit(code=2)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="File (or folder of raw 학구 JSON files) to check.")],
    kind: Annotated[str | None, typer.Option(help="schools | students | zones | population | admin_areas | "
                                                  "facilities | candidates (detected when omitted).")] = None,
    sigungu: Annotated[str | None, typer.Option(help="Keep one 시군구, e.g. 구로구.")] = None,
    sido: Annotated[str | None, typer.Option(help="시도 (needed for names like 중구).")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Column mapping canonical=file column.")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer GeoPackage (or sheet of a workbook).")]
    = None,
    crs: Annotated[str | None, typer.Option(help="CRS of coordinates given without one, e.g. 5186 or EPSG:5186.")]
    = None,
    rows: Annotated[bool, typer.Option("--rows", help="List every fixed / rejected / excluded row.")] = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Read FILE like a run would and report every row: kept, fixed (how), rejected (why)."""
    from . import io
    from .io.check import KINDS

    _setup_logging(verbose, quiet)
    try:
        if kind is not None and kind not in KINDS:
            raise SettingsError(f"--kind {kind!r} is not a kind careplan reads; use one of {', '.join(KINDS)}.")
        kind = kind or io.detect_kind(file, layer=layer)
        options = _check_options(kind, sigungu=sigungu, sido=sido, mapping=map_, layer=layer, crs=crs)
        data, report = io.check(file, kind=kind, **options)
    except CareplanError as exc:
        exc.args = (" ".join(str(exc).split()),)  # one line even when a file name holds a newline
        _fail(exc, verbose)
    _say(f"[{kind}] {report.summary()}")
    if rows and (report.fixed or report.rejected or report.excluded):
        _say(report.table().to_string(index=False))
    if report.kept == 0:
        _say("오류 error: no usable rows — nothing in this file can be used.", err=True)
        raise typer.Exit(code=2)


def _check_options(kind: str, *, sigungu, sido, mapping, layer, crs) -> dict:
    """The reader options of ``careplan check``, each refused in one sentence where it does not apply."""
    import difflib

    from .io.check import KINDS, MAPPING_KEYS, options_for

    accepted = options_for(kind)
    options: dict = {}
    for name, value in (("sigungu", sigungu), ("sido", sido), ("layer", layer), ("crs", crs)):
        if value is None:
            continue
        if name not in accepted:
            takers = ", ".join(k for k in KINDS if name in options_for(k))
            raise SettingsError(f"--{name} does not apply to {kind} files (it applies to {takers}).")
        options[name] = value
    if crs is not None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError as ProjCRSError

        try:
            parsed = CRS.from_user_input(int(crs) if crs.strip().isdigit() else crs.strip())
            options["crs"] = parsed.to_epsg() or parsed
        except (ProjCRSError, ValueError, TypeError):
            raise SettingsError(f"--crs {crs[:40]!r} is not a coordinate system; give an EPSG code "
                                "such as 5186, 5179 or 4326.") from None
    if mapping:
        if kind not in MAPPING_KEYS:
            raise SettingsError(f"--map does not apply to {kind} files (their columns are fixed by the release); "
                                f"it applies to {', '.join(MAPPING_KEYS)}.")
        options["mapping"] = {}
        for item in mapping:
            canonical, sep, column = (part.strip() for part in item.partition("="))
            if not sep or not canonical or not column:
                raise SettingsError(f"--map takes canonical=column, e.g. --map name=기관명; got {item!r}.")
            if canonical not in MAPPING_KEYS[kind]:
                close = difflib.get_close_matches(canonical, MAPPING_KEYS[kind], n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise SettingsError(f"--map {canonical!r} is not a {kind} field; {hint}the fields are "
                                    f"{', '.join(MAPPING_KEYS[kind])}.")
            if canonical in options["mapping"]:
                first = options["mapping"][canonical]
                raise SettingsError(f"--map {canonical} is given twice ({first!r} and {column!r}); "
                                    "keep one.")
            options["mapping"][canonical] = column
    return options


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (an earlier demo there is replaced).")]
    = Path("maps/demo"),
    force: Force = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Run the whole pipeline on the embedded sample (가상 데이터, synthetic): maps, report, tables."""
    from . import sample

    _setup_logging(verbose, quiet)
    try:
        scenario_path = sample.sample_dir() / "scenario.toml"
    except CareplanError as exc:
        _fail(exc, verbose)
    _run_and_write(scenario_path, out, None, verbose, quiet, force=force, kind="demo")


@app.command("run")
def run_(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file (see examples/guro.toml).")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/<file name>).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Override the scenario's \\[data] dir.")] = None,
    force: Force = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Run one scenario and write its outputs (GeoPackage, CSV, maps, report)."""
    _setup_logging(verbose, quiet)
    out = out or Path("runs") / scenario.stem
    _run_and_write(scenario, out, data_dir, verbose, quiet, force=force)


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Scenario A (TOML), the baseline.")],
    b: Annotated[Path, typer.Argument(help="Scenario B (TOML), the alternative.")],
    out: Annotated[Path | None, typer.Option(help="Folder for the comparison table (CSV) and map (HTML).")] = None,
    layout: Annotated[str, typer.Option(help="Map layout: dual (A left, B right) | overlay (toggled layers).")]
    = "dual",
    data_dir: Annotated[Path | None, typer.Option(help="Override the \\[data] dir of both scenarios.")] = None,
    force: Force = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Run two scenarios; print their 확인지표 side by side (B − A) and write the table and map to --out."""
    from . import _csv, maps, outfolder, pipeline, report

    _setup_logging(verbose, quiet)
    staging = None
    try:
        if layout not in {"dual", "overlay"}:
            msg = f"--layout must be dual or overlay, got {layout!r}"
            raise SettingsError(msg)
        if out:
            outfolder.check(out, "compare", force=force)  # before the runs, not after
        scenarios = [pipeline.load_scenario(p, data_dir=data_dir) for p in (a, b)]  # B's slip before A's run
        results = [pipeline.run(sc, progress=quiet < 1) for sc in scenarios]
        # "A: …" / "B: …" keeps the table's two columns apart even when both scenarios share a name
        labelled = [dataclasses.replace(r, scenario=dataclasses.replace(r.scenario, name=f"{t}: {r.scenario.name}"))
                    for t, r in zip("AB", results, strict=True)]
        table = report.compare(*labelled)
        if out:
            staging = outfolder.begin(out, "compare", force=force)
            csv_path = staging.path / "compare_확인지표.csv"
            _csv.write_csv(table, csv_path)
            m = maps.compare_map(*results, layout=layout, attributions=report.ATTRIBUTIONS)
            map_path = maps.save_compare_map(m, staging.path / "compare_map.html")
            staging.commit()
            csv_path, map_path = out / csv_path.name, out / map_path.name
    except CareplanError as exc:
        _fail(exc, verbose)
    finally:
        if staging is not None:
            staging.discard()
    if quiet < 1:
        _say(table.to_string(index=False))
    if out:
        _say(f"비교표 written: {csv_path}")
        _say(f"비교 지도 written: {map_path}")


@app.command("map")
def map_(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (careplan run / demo output) with careplan.gpkg.")],
    public: Annotated[bool, typer.Option("--public", help="Only the public 돌봄지도 (public_map/).")] = False,
    planner: Annotated[bool, typer.Option("--planner", help="Only the planner map (planner_map.html).")] = False,
    both: Annotated[bool, typer.Option("--both", help="Both maps (the default).")] = False,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the run folder itself).")] = None,
    title: Annotated[str | None, typer.Option(help="Map title.")] = None,
    walk_min: Annotated[float | None, typer.Option(help="Walk minutes of the public map (default: the run's).")]
    = None,
    force: Force = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Re-make the maps from a run folder's careplan.gpkg (e.g. after editing facilities in QGIS), no re-run."""
    from . import runfolder

    _setup_logging(verbose, quiet)
    if both or not (public or planner):
        public = planner = True
    try:
        written = runfolder.remake_maps(run_dir, out, public=public, planner=planner, title=title,
                                        max_walk_min=walk_min, force=force)
    except CareplanError as exc:
        _fail(exc, verbose)
    for path in written:
        _say(f"지도 written: {path}")


@app.command("region")
def region(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML covering several 시군구 (a 시도 or the country).")],
    workers: Annotated[int | None, typer.Option(help="Local Dask workers (default: number of cores).")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786.")] = None,
    memory_limit: Annotated[str, typer.Option(help="Memory limit per local worker (e.g. 4GiB).")] = "auto",
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/<file name>-region).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Override the scenario's \\[data] dir.")] = None,
    points: Annotated[bool, typer.Option(
        help="Gather every demand point's access score (access.csv). --no-points: the points stay on the "
             "workers, which write them with their results to <out>/points/*.parquet (GeoParquet); "
             "the client stays small for a whole country.")] = True,
    force: Force = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """시도·전국 분산 실행: partition by 시군구 on Dask and write region-wide tables."""
    import dask
    import distributed  # noqa: F401  (loads its config defaults before dask.config.set below)

    from . import network, outfolder, pipeline, scale

    _setup_logging(verbose, quiet)
    if verbose < 2:  # distributed logs every worker start/stop at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    points_dir = None
    try:
        out = out or Path("runs") / f"{scenario.stem}-region"
        outfolder.check(out, "region", force=force)  # before the run, not after
        sc = pipeline.load_scenario(scenario, data_dir=data_dir)
        inputs = pipeline.read_inputs(sc)
        graph = network.load_graph(sc.network, walk_speed_kmh=sc.walk_speed_kmh) if sc.network else None
        # the workers write their point files into staging beside --out; write_region moves it in
        points_dir = None if points else outfolder.side_stage(out, "points")
        with dask.config.set({"distributed.comm.timeouts.connect": "10s"}):
            result = scale.run_region(sc, inputs, graph=graph, n_workers=workers, scheduler=scheduler,
                                      memory_limit=memory_limit, per_point=points,
                                      points_dir=points_dir, progress=quiet < 1)
        written = scale.write_region(result, out, admin_areas=inputs.admin_areas, force=force)
    except CareplanError as exc:
        _fail(exc, verbose)
    except OSError as exc:  # no scheduler at --scheduler, or a worker could not start
        _fail(CareplanError(f"Dask: {exc}; check --scheduler (is `dask scheduler` running there?)"), verbose)
    finally:
        outfolder.discard(points_dir)
    if quiet < 1:
        _say(result.summary.rename(columns=scale.SUMMARY_LABELS_KO).to_string(index=False))
        _say(f"결과 outputs: {', '.join(str(p) for p in written.values())}")


@app.command("network")
def network_(
    source: Annotated[Path, typer.Argument(help="Walk network: .osm.pbf, .osm / .osm.xml or .graphml.")],
    out: Annotated[Path, typer.Argument(help="The careplan walk graph to write (.npz).")],
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """보행 네트워크 변환: read an OSM walk network once and save it as .npz for fast reuse.

    Point a scenario's `network` at OUT to skip parsing the OSM file on every run.
    """
    import time

    from . import network

    _setup_logging(verbose, quiet)
    t0 = time.perf_counter()
    try:
        _check_graph_out(source, out)
        graph = network.walk_graph(network.load_graph(source))  # minutes at 4 km/h; runs rescale
        out.parent.mkdir(parents=True, exist_ok=True)
        graph.save(out)
    except CareplanError as exc:
        _fail(exc, verbose)
    except OSError as exc:
        reason = exc.strerror or exc
        _fail(CareplanError(f"could not write {out} ({reason}); give OUT in a folder you can "
                            "write to (not below a file)"), verbose)
    if quiet < 1:
        _say(f"보행 네트워크 walk graph: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges "
                   f"({time.perf_counter() - t0:.1f} s) → {out}")


def _check_graph_out(source: Path, out: Path) -> None:
    """``careplan network``'s OUT: a new .npz, or an earlier careplan walk graph (a cache it may
    replace); never the source, a folder, a link or a file careplan did not write."""
    import os

    from . import network
    from ._errors import NetworkError

    if out.suffix.lower() != ".npz" or not out.stem:
        base = out.name[:-4] if out.name.lower().endswith(".npz") else out.name
        example = f"{Path(base).stem.strip('.') or 'walk'}.npz"
        msg = f"OUT must be a file name ending in .npz, got {out.name!r}; e.g. {example}"
        raise SettingsError(msg)
    if os.path.lexists(source) and os.path.lexists(out) and os.path.samefile(source, out):
        raise SettingsError(f"OUT {out} is the SOURCE file itself; give a new name for the graph")
    if not os.path.lexists(out):
        return
    if out.is_symlink() or not out.is_file():
        what = "a link" if out.is_symlink() else "a folder or special file"
        msg = f"OUT {out} is {what}, not a walk graph careplan wrote; give a new .npz name"
        raise SettingsError(msg)
    try:
        network.WalkGraph.load(out)
    except NetworkError:
        msg = (f"OUT {out} exists and is not a careplan walk graph, so careplan will not "
               "overwrite it; give a new .npz file name or move that file away")
        raise SettingsError(msg) from None


def _run_and_write(scenario_path: Path, out: Path, data_dir, verbose: int, quiet: int, *,
                   force: bool = False, kind: str = "run") -> None:
    from . import outfolder, pipeline, report

    try:
        outfolder.check(out, kind, force=force)  # refuse before the run, not after it
        scenario = pipeline.load_scenario(scenario_path, data_dir=data_dir)
        result = pipeline.run(scenario, progress=quiet < 1)
        folder = report.write_outputs(result, out, force=force, kind=kind)
    except CareplanError as exc:
        _fail(exc, verbose)
    if quiet < 1:
        if result.synthetic:
            _say("가상 데이터 (synthetic sample data)")
        _say(result.summary().to_string(index=False))
        _say(f"거리 계산: {result.times.method_label}")
        _say(f"결과 outputs: {folder}/ (report.html, planner_map.html, public_map/index.html, careplan.gpkg)")

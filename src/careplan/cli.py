"""The ``careplan`` command line: thin wrappers over the library."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ._errors import CareplanError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="careplan — 초등 돌봄 수요·접근성·입지 계획 (after-school care planning).")
logger = logging.getLogger("careplan")

Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: tracebacks).")]
Quiet = Annotated[int, typer.Option("--quiet", "-q", count=True, help="Less output.")]


def _setup_logging(verbose: int, quiet: int) -> None:
    level = max(10, min(50, 30 - 10 * verbose + 10 * quiet))
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")


def _fail(exc: Exception, verbose: int) -> None:
    if verbose >= 2:
        logger.exception("careplan failed")
    typer.echo(f"오류 error: {exc}", err=True)
    raise typer.Exit(code=2)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="File or raw 학구 JSON folder to check.")],
    kind: Annotated[str | None, typer.Option(help="schools | students | zones | population | admin_areas | "
                                                  "facilities | candidates (detected when omitted).")] = None,
    sigungu: Annotated[str | None, typer.Option(help="Keep one 시군구, e.g. 구로구.")] = None,
    sido: Annotated[str | None, typer.Option(help="시도 (needed for names like 중구).")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Column mapping canonical=file column.")] = None,
    rows: Annotated[bool, typer.Option("--rows", help="List every fixed / rejected / excluded row.")] = False,
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Read FILE like a run would and report every row: kept, fixed (how), rejected (why)."""
    from . import io

    _setup_logging(verbose, quiet)
    options: dict = {}
    try:
        kind = kind or io.detect_kind(file)
        if sigungu or sido:
            if kind in {"students", "zones"}:
                raise typer.BadParameter(f"--sigungu/--sido do not apply to {kind}")
            options.update(sigungu=sigungu, sido=sido)
        if map_:
            options["mapping"] = dict(item.split("=", 1) for item in map_)
        data, report = io.check(file, kind=kind, **options)
    except CareplanError as exc:
        _fail(exc, verbose)
    typer.echo(f"[{kind}] {report.summary()}")
    if rows and (report.fixed or report.rejected or report.excluded):
        typer.echo(report.table().to_string(index=False))
    if report.kept == 0:
        typer.echo("오류 error: no usable rows — nothing in this file can be used.", err=True)
        raise typer.Exit(code=2)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("maps/demo"),
    verbose: Verbose = 0,
    quiet: Quiet = 0,
) -> None:
    """Run careplan on the embedded sample (가상 데이터, synthetic) and print the data summary."""
    from . import sample
    from .io import attach_pupils, read_admin_areas, read_facilities, read_population, read_school_zones
    from .io import read_schools, read_students

    _setup_logging(verbose, quiet)
    try:
        folder = sample.sample_dir()
        schools, r1 = read_schools(folder / "schools.csv")
        students, r2 = read_students(folder / "students.csv")
        schools, r3 = attach_pupils(schools, students)
        zones, r4 = read_school_zones(folder / "school_zones.geojson")
        population, r5 = read_population(folder / "population.csv")
        areas, r6 = read_admin_areas(folder / "admin_areas.geojson", population=population)
        reports = [r1, r2, r3, r4, r5, r6]
        for name in ("kium_centers.csv", "local_child_centers.csv", "dahamkke_centers.csv"):
            kind = "dahamkke" if name.startswith("dahamkke") else None
            reports.append(read_facilities(folder / name, kind=kind).report)
    except CareplanError as exc:
        _fail(exc, verbose)
    if quiet < 1:
        typer.echo("가상 데이터 (synthetic sample) — careplan demo")
        for report in reports:
            typer.echo(report.summary())
        typer.echo(f"학교 {len(schools)} · 학생 {schools['pupils_total'].sum():,.0f} · 학구 {len(zones)} · "
                   f"행정동 {len(areas)} · 6–12세 {areas['children_6_12'].sum():,.0f}")

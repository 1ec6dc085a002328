"""The whole analysis for one scenario: read → demand → walk times → coverage/access → siting.

``Scenario`` holds parameters only (no I/O in its constructor); :func:`run` does
the work and returns a :class:`PlanResult`; :func:`write_outputs` writes one
folder per run (GeoPackage, Excel-friendly CSVs, maps, report) atomically.
"""

from __future__ import annotations

import dataclasses
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from tqdm.auto import tqdm

from . import access, coverage, demand, io, network
from ._errors import InputDataError, SettingsError
from .catalog import get_catalog
from .coverage import DEFAULT_SLOTS, TimeSlot
from .demand import DEFAULT_GRADE_RATES
from .network import DEFAULT_DETOUR_FACTOR, DEFAULT_WALK_SPEED_KMH

__all__ = ["FacilitySource", "PlanResult", "Scenario", "load_scenario", "run"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class FacilitySource:
    """One facility file and how to read it."""

    path: Path
    kind: str | None = None  # catalog kind for every row; None: from the file
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Parameters of one planning run (paths and settings; nothing is read here).

    See ``examples/guro.toml`` and ``data/sample/scenario.toml`` for the TOML form.
    """

    name: str
    schools: Path
    students: Path
    zones: Path
    population: Path
    admin_areas: Path
    facilities: tuple[FacilitySource, ...]
    sigungu: str | None = None
    sido: str | None = None
    candidates: Path | None = None
    network: Path | None = None
    max_walk_min: float = 10.0
    walk_speed_kmh: float = DEFAULT_WALK_SPEED_KMH
    detour_factor: float = DEFAULT_DETOUR_FACTOR
    cell_m: float = 100.0
    grade_rates: tuple[float, ...] = tuple(DEFAULT_GRADE_RATES[g] for g in range(1, 7))
    access_method: str = "2sfca"
    slots: tuple[TimeSlot, ...] = DEFAULT_SLOTS
    siting_kinds: tuple[str, ...] = ("kium_general", "dahamkke")
    siting_sites: int = 3
    siting_slot: str = "학기 18시"
    catalog_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_walk_min <= 0 or self.walk_speed_kmh <= 0 or self.cell_m <= 0:
            msg = "max_walk_min, walk_speed_kmh and cell_m must be > 0"
            raise SettingsError(msg)
        if len(self.grade_rates) != 6 or not all(0 <= r <= 1 for r in self.grade_rates):
            msg = f"grade_rates must be 6 shares between 0 and 1 (grades 1–6), got {self.grade_rates!r}"
            raise SettingsError(msg)
        if self.access_method not in {"2sfca", "e2sfca", "gravity", "3sfca"}:
            msg = f"access_method must be 2sfca, e2sfca, gravity or 3sfca, got {self.access_method!r}"
            raise SettingsError(msg)
        if self.siting_slot not in {s.name for s in self.slots}:
            msg = f"siting_slot {self.siting_slot!r} is not one of the slots {[s.name for s in self.slots]}"
            raise SettingsError(msg)


def load_scenario(path: str | Path, *, data_dir: str | Path | None = None) -> Scenario:
    """Read a scenario TOML file; relative paths are relative to ``[data] dir`` (or the file).

    ``data_dir`` overrides ``[data] dir`` (e.g. where ``../shared/data/korea`` is on this machine).
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        msg = f"scenario file {path} does not exist"
        raise SettingsError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path.name} is not valid TOML: {exc}"
        raise SettingsError(msg) from exc
    data = doc.get("data", {})
    base = Path(data_dir) if data_dir else (path.parent / data.get("dir", ".")).resolve()
    need = ("schools", "students", "zones", "population", "admin_areas", "facilities")
    missing = [key for key in need if key not in data]
    if missing:
        msg = f"{path.name}: [data] needs {', '.join(missing)} (paths relative to [data] dir)"
        raise SettingsError(msg)
    facilities = tuple(
        FacilitySource(path=base / f["path"], kind=f.get("kind"), mapping=dict(f.get("mapping", {})))
        for f in data["facilities"])
    analysis, siting = doc.get("analysis", {}), doc.get("siting", {})
    known = {f.name for f in dataclasses.fields(Scenario)}
    options = {k: v for k, v in analysis.items() if k in known}
    unknown = set(analysis) - known - {"slots"}
    if unknown:
        msg = f"{path.name}: unknown [analysis] settings {sorted(unknown)}"
        raise SettingsError(msg)
    if "grade_rates" in options:
        options["grade_rates"] = tuple(options["grade_rates"])
    if "slots" in analysis:
        options["slots"] = tuple(TimeSlot(s["name"], s["period"], _minutes(s["time"]))
                                 for s in analysis["slots"])
    for key in ("kinds", "sites", "slot"):
        if key in siting:
            options[f"siting_{key}"] = tuple(siting[key]) if key == "kinds" else siting[key]
    return Scenario(
        name=doc.get("name", path.stem), sigungu=data.get("sigungu"), sido=data.get("sido"),
        schools=base / data["schools"], students=base / data["students"], zones=base / data["zones"],
        population=base / data["population"], admin_areas=base / data["admin_areas"],
        facilities=facilities,
        candidates=base / data["candidates"] if data.get("candidates") else None,
        network=base / data["network"] if data.get("network") else None,
        catalog_overrides=doc.get("catalog", {}), **options)


def _minutes(text: str) -> float:
    hours, _, minutes = str(text).partition(":")
    return int(hours) * 60 + int(minutes or 0)


@dataclass(frozen=True)
class PlanResult:
    """Everything one run produced (layers in EPSG:5179, tables, reports)."""

    scenario: Scenario
    schools: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    admin_areas: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame | None
    school_demand: pd.DataFrame
    demand_points: gpd.GeoDataFrame
    times: network.TravelTimes
    coverage: coverage.CoverageResult
    coverage_total: pd.DataFrame
    coverage_by_zone: pd.DataFrame
    coverage_by_adm: pd.DataFrame
    access: pd.DataFrame
    gaps: pd.DataFrame
    gini: float
    lorenz: pd.DataFrame
    zone_summary: pd.DataFrame
    adm_summary: pd.DataFrame
    proposed: gpd.GeoDataFrame | None
    reports: tuple[io.RowReport, ...]
    synthetic: bool
    data_date: str

    def summary(self) -> pd.DataFrame:
        """확인지표: the headline numbers of the run, one row each."""
        total = self.coverage_total
        slot = self.scenario.siting_slot
        covered = total[(total["slot"] == slot) & (total["kind"] == coverage.ALL_KINDS)]
        rows = [
            ("초등학교 수", len(self.schools)),
            ("학생 수", self.schools["pupils_total"].sum()),
            ("6–12세 아동 수", self.admin_areas["children_6_12"].sum()),
            ("돌봄 수요 (추정)", self.demand_points["demand"].sum()),
            ("돌봄시설 수", int(self.facilities["kind"].isin(coverage.default_kinds()).sum())),
            ("상시 정원 합계", self.facilities.loc[self.facilities["kind"].isin(coverage.default_kinds()),
                                              "capacity"].sum()),
            (f"{self.scenario.max_walk_min:g}분 안 수요 비율 ({slot})",
             float(covered["coverage_pct"].iloc[0]) if len(covered) else float("nan")),
            ("미충족 수요 (정원 기준)", self.access["unmet_demand"].sum()),
            ("접근성 지니계수", self.gini),
            ("제안 입지 수", 0 if self.proposed is None else len(self.proposed)),
        ]
        return pd.DataFrame(rows, columns=["지표", "값"])


def run(scenario: Scenario, *, progress: bool = False) -> PlanResult:
    """Run the whole analysis for ``scenario``."""
    steps = tqdm(total=6, desc=scenario.name, disable=not progress, unit="step")
    catalog = get_catalog(scenario.catalog_overrides or None)
    layers, reports = _read_inputs(scenario, catalog)
    steps.update()
    school_dem = demand.school_demand(layers["schools"], grade_rates=scenario.grade_rates)
    points = demand.demand_points(school_dem, layers["zones"], layers["admin_areas"], cell_m=scenario.cell_m,
                                  progress=progress)
    steps.update()
    graph = network.load_graph(scenario.network, walk_speed_kmh=scenario.walk_speed_kmh) if scenario.network else None
    facilities = layers["facilities"]
    destinations = facilities if layers["candidates"] is None else pd.concat(
        [facilities[["geometry"]], layers["candidates"][["geometry"]]])
    times = network.walk_times(points, gpd.GeoDataFrame(destinations, crs=facilities.crs), graph=graph,
                               cutoff_min=max(15.0, scenario.max_walk_min), walk_speed_kmh=scenario.walk_speed_kmh,
                               detour_factor=scenario.detour_factor, progress=progress)
    steps.update()
    cov = coverage.coverage(points, facilities, times, slots=scenario.slots, max_walk_min=scenario.max_walk_min,
                            catalog=catalog)
    tables = {by: coverage.coverage_table(cov, points, by=by) for by in ("zone_id", "adm_code", None)}
    scores = access.access_scores(points, facilities, times, method=scenario.access_method,
                                  max_walk_min=scenario.max_walk_min)
    gap_list = access.gaps(scores)
    steps.update()
    proposed = _propose(scenario, points, facilities, layers["candidates"], times, catalog)
    steps.update()
    zone_summary = demand.summarise(points, school_dem, by="zone_id")
    adm_summary = demand.summarise(points, by="adm_code")
    steps.update()
    steps.close()
    synthetic = any(bool(layer["synthetic"].any()) for layer in layers.values()
                    if layer is not None and "synthetic" in layer)
    return PlanResult(
        scenario=scenario, schools=layers["schools"], zones=layers["zones"], admin_areas=layers["admin_areas"],
        facilities=facilities, candidates=layers["candidates"], school_demand=school_dem, demand_points=points,
        times=times, coverage=cov, coverage_total=tables[None], coverage_by_zone=tables["zone_id"],
        coverage_by_adm=tables["adm_code"], access=scores, gaps=gap_list,
        gini=access.gini(*_equity_inputs(scores)), lorenz=access.lorenz_curve(*_equity_inputs(scores)),
        zone_summary=zone_summary, adm_summary=adm_summary, proposed=proposed, reports=tuple(reports),
        synthetic=synthetic, data_date=_data_date(layers))


def _equity_inputs(scores: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Access over children (no facility in reach = zero access)."""
    weights = scores["children"] if "children" in scores else scores["demand"]
    return scores["access"].fillna(0.0), weights.fillna(0.0)


def _read_inputs(scenario: Scenario, catalog) -> tuple[dict, list]:
    area = {"sigungu": scenario.sigungu, "sido": scenario.sido}
    schools, r_schools = io.read_schools(scenario.schools, **area)
    students, r_students = io.read_students(scenario.students)
    schools, r_join = io.attach_pupils(schools, students)
    zones, r_zones = io.read_school_zones(scenario.zones)
    population, r_pop = io.read_population(scenario.population, **area)
    areas, r_areas = io.read_admin_areas(scenario.admin_areas, population=population, **area)
    reports = [r_schools, r_students, r_join, r_zones, r_pop, r_areas]
    frames = []
    for source in scenario.facilities:
        frame, report = io.read_facilities(source.path, kind=source.kind, mapping=source.mapping or None,
                                           catalog=catalog, **area)
        frames.append(frame)
        reports.append(report)
    facilities = pd.concat(frames)
    repeated = facilities.index[facilities.index.duplicated()].unique()
    if len(repeated):
        msg = (f"facility ids repeat across facility files: {list(repeated[:5])}. Each facility must be listed "
               "once; remove the duplicate file or rows.")
        raise InputDataError(msg)
    facilities = gpd.GeoDataFrame(facilities, crs=frames[0].crs)
    candidates = None
    if scenario.candidates:
        candidates, r_cand = io.read_candidates(scenario.candidates)
        reports.append(r_cand)
    return ({"schools": schools, "zones": zones, "admin_areas": areas, "facilities": facilities,
             "candidates": candidates}, reports)


def _propose(scenario, points, facilities, candidates, times, catalog):
    """Ranked new sites: not wired into the pipeline yet (careplan.siting.propose_sites is called directly)."""
    if candidates is not None and scenario.siting_sites > 0:
        logger.warning("siting is not yet part of the pipeline run: call careplan.siting.propose_sites")
    return None


def _data_date(layers: dict) -> str:
    dates = []
    for layer in layers.values():
        if layer is not None and "data_date" in layer:
            dates += [str(d) for d in layer["data_date"].dropna().unique()]
    return max(dates) if dates else ""

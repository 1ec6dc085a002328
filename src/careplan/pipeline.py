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
from tqdm import tqdm  # not tqdm.auto: its notebook widget warns where ipywidgets is absent

from . import access, coverage, demand, io, network, siting
from . import candidates as candidates_mod
from ._errors import InputDataError, SettingsError
from .catalog import get_catalog
from .coverage import DEFAULT_SLOTS, TimeSlot
from .demand import DEFAULT_GRADE_RATES
from .network import DEFAULT_DETOUR_FACTOR, DEFAULT_WALK_SPEED_KMH

__all__ = ["FacilitySource", "Inputs", "PlanResult", "Scenario", "analyse", "load_scenario", "propose", "read_inputs",
           "run", "site_candidates"]

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
    siting_grid_m: float = 250.0  # candidate grid spacing when no candidates file is given
    siting_min_distance_m: float = 0.0
    siting_capacitated: bool = False
    siting_time_limit_s: float = 60.0
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
        if self.siting_sites < 0 or self.siting_grid_m <= 0 or self.siting_time_limit_s <= 0:
            msg = "[siting] sites must be >= 0, grid_m and time_limit_s > 0"
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
    unknown = {f"siting_{k}" for k in siting} - known
    if unknown:
        msg = f"{path.name}: unknown [siting] settings {sorted(k.removeprefix('siting_') for k in unknown)}"
        raise SettingsError(msg)
    for key, value in siting.items():
        options[f"siting_{key}"] = tuple(value) if key == "kinds" else value
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
    candidates: gpd.GeoDataFrame  # the user's list, or the generated grid (site_type 격자 후보지)
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
            ("도보 기준 (분)", self.scenario.max_walk_min),
            (f"도보권 안 수요 비율 ({slot}, %)",
             float(covered["coverage_pct"].iloc[0]) if len(covered) else float("nan")),
            ("미충족 수요 (정원 기준)", self.access["unmet_demand"].sum()),
            ("접근성 지니계수", self.gini),
            ("제안 입지 수", 0 if self.proposed is None else len(self.proposed)),
        ]
        return pd.DataFrame(rows, columns=["지표", "값"])


@dataclass(frozen=True)
class Inputs:
    """The scenario's layers as read (EPSG:5179) and every reader's row accounting."""

    schools: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    admin_areas: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame | None  # the user's list, or None (a grid is generated for siting)
    reports: tuple[io.RowReport, ...]

    def layers(self) -> dict[str, gpd.GeoDataFrame | None]:
        return {"schools": self.schools, "zones": self.zones, "admin_areas": self.admin_areas,
                "facilities": self.facilities, "candidates": self.candidates}


def run(scenario: Scenario, *, progress: bool = False) -> PlanResult:
    """Run the whole analysis for ``scenario``: read its files, then :func:`analyse`."""
    catalog = get_catalog(scenario.catalog_overrides or None)
    inputs = read_inputs(scenario, catalog=catalog)
    graph = network.load_graph(scenario.network, walk_speed_kmh=scenario.walk_speed_kmh) if scenario.network else None
    return analyse(scenario, inputs, graph=graph, catalog=catalog, progress=progress)


def analyse(scenario: Scenario, inputs: Inputs, *, graph=None, catalog=None, progress: bool = False) -> PlanResult:
    """Demand → walk times → coverage/access → siting on layers already read.

    ``graph`` is a walk network (networkx graph or :class:`careplan.network.WalkGraph`); without one, times
    are straight-line × ``scenario.detour_factor`` (labelled on every output).
    """
    catalog = catalog or get_catalog(scenario.catalog_overrides or None)
    steps = tqdm(total=5, desc=scenario.name, disable=not progress, unit="step")
    school_dem = demand.school_demand(inputs.schools, grade_rates=scenario.grade_rates)
    points = demand.demand_points(school_dem, inputs.zones, inputs.admin_areas, cell_m=scenario.cell_m,
                                  progress=progress)
    steps.update()
    facilities = inputs.facilities
    sites = site_candidates(scenario, inputs)
    destinations = gpd.GeoDataFrame(pd.concat([facilities[["geometry"]], sites[["geometry"]]]), crs=facilities.crs)
    times = network.walk_times(points, destinations, graph=graph, cutoff_min=max(15.0, scenario.max_walk_min),
                               walk_speed_kmh=scenario.walk_speed_kmh, detour_factor=scenario.detour_factor,
                               progress=progress)
    steps.update()
    cov = coverage.coverage(points, facilities, times, slots=scenario.slots, max_walk_min=scenario.max_walk_min,
                            catalog=catalog)
    tables = {by: coverage.coverage_table(cov, points, by=by) for by in ("zone_id", "adm_code", None)}
    scores = access.access_scores(points, facilities, times, method=scenario.access_method,
                                  max_walk_min=scenario.max_walk_min)
    steps.update()
    proposed = propose(scenario, points, facilities, sites, times, inputs.admin_areas, catalog=catalog)
    steps.update()
    zone_summary = demand.summarise(points, school_dem, by="zone_id")
    adm_summary = demand.summarise(points, by="adm_code")
    steps.update()
    steps.close()
    layers = inputs.layers()
    synthetic = any(bool(layer["synthetic"].any()) for layer in layers.values()
                    if layer is not None and "synthetic" in layer)
    equity = _equity_inputs(scores)
    return PlanResult(
        scenario=scenario, schools=inputs.schools, zones=inputs.zones, admin_areas=inputs.admin_areas,
        facilities=facilities, candidates=sites, school_demand=school_dem, demand_points=points,
        times=times, coverage=cov, coverage_total=tables[None], coverage_by_zone=tables["zone_id"],
        coverage_by_adm=tables["adm_code"], access=scores, gaps=access.gaps(scores),
        gini=access.gini(*equity), lorenz=access.lorenz_curve(*equity),
        zone_summary=zone_summary, adm_summary=adm_summary, proposed=proposed, reports=inputs.reports,
        synthetic=synthetic, data_date=_data_date(layers))


def _equity_inputs(scores: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Access over children (no facility in reach = zero access)."""
    weights = scores["children"] if "children" in scores else scores["demand"]
    return scores["access"].fillna(0.0), weights.fillna(0.0)


def read_inputs(scenario: Scenario, *, catalog=None) -> Inputs:
    """Read every file of ``scenario`` with the careplan.io readers (rows accounted in ``reports``)."""
    catalog = catalog or get_catalog(scenario.catalog_overrides or None)
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
        if report.kept == 0:
            msg = (f"no usable row in facility file {source.path} ({report.summary()}); see why with "
                   f"`careplan check {source.path} --rows`, or remove it from the scenario")
            raise InputDataError(msg)
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
    return Inputs(schools=schools, zones=zones, admin_areas=areas, facilities=facilities, candidates=candidates,
                  reports=tuple(reports))


def site_candidates(scenario: Scenario, inputs: Inputs) -> gpd.GeoDataFrame:
    """The user's candidate list, or a grid over the study area (labelled 격자 후보지: not real buildings)."""
    if inputs.candidates is not None:
        return inputs.candidates
    if not (scenario.siting_kinds and scenario.siting_sites):
        return candidates_mod.no_sites()  # no siting: no need to lay a grid over the whole area
    grid = candidates_mod.grid_candidates(inputs.admin_areas, spacing_m=scenario.siting_grid_m)
    # Name each point by its 행정동 so a planner can find it: "격자 후보지 12 (신도림동)".
    areas = inputs.admin_areas[["name", "geometry"]].rename(columns={"name": "adm_name"})
    joined = grid.sjoin(areas, how="left", predicate="within")
    adm = joined.loc[~joined.index.duplicated(), "adm_name"].reindex(grid.index)
    grid["name"] = [f"{n} ({a})" if isinstance(a, str) else n for n, a in zip(grid["name"], adm, strict=True)]
    return grid


def propose(scenario: Scenario, points: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
            sites: gpd.GeoDataFrame, times: network.TravelTimes, area: gpd.GeoDataFrame, *,
            catalog=None) -> gpd.GeoDataFrame | None:
    """Ranked new sites for each kind in ``scenario.siting_kinds`` (ranks per kind; None when nothing to site).

    Existing centres are the eligible ones open at ``scenario.siting_slot``. Kinds are planned in the
    given order, each on top of the existing centres *and* the sites proposed for the kinds before it
    (which leave the candidate pool), so gains add up across kinds and two kinds never get the same
    site. Kinds not allowed in the 시도 (키움센터 outside 서울) are skipped and logged.
    """
    if not len(sites) or scenario.siting_sites == 0 or not scenario.siting_kinds:
        return None
    catalog = catalog or get_catalog(scenario.catalog_overrides or None)
    slot = next(t for t in scenario.slots if t.name == scenario.siting_slot)
    eligible = facilities[facilities["kind"].isin(coverage.default_kinds(catalog))]
    existing = eligible[coverage.open_at(eligible, slot, catalog=catalog)]
    frames, taken = [], set()
    for kind in scenario.siting_kinds:
        try:
            kept = candidates_mod.filter_candidates(
                sites, kind=kind, area=area, existing=existing, min_distance_m=scenario.siting_min_distance_m,
                sido=scenario.sido, catalog=catalog).kept
        except SettingsError as exc:  # e.g. 키움센터 outside 서울: plan the other kinds
            logger.warning("siting skips %s: %s", kind, exc)
            continue
        kept = kept[~kept.index.isin(taken)]
        proposal = siting.propose_sites(
            points, existing, kept, times, kind=kind, n_new=scenario.siting_sites,
            max_walk_min=scenario.max_walk_min, capacitated=scenario.siting_capacitated, sido=scenario.sido,
            catalog=catalog, time_limit_s=scenario.siting_time_limit_s)
        frames.append(_proposal_frame(proposal))
        taken.update(proposal.sites.index)
        existing = pd.concat([existing, proposal.sites[["kind", "capacity", "geometry"]]])
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames), crs=points.crs)


def _proposal_frame(proposal: siting.Proposal) -> gpd.GeoDataFrame:
    """Map/report columns: ``marginal_gain`` (children added), ``cumulative_coverage_pct``, solver status."""
    sites = proposal.sites.rename(columns={"marginal_demand": "marginal_gain"})
    sites["cumulative_coverage_pct"] = 100.0 * sites.pop("cumulative_share")
    res = proposal.result
    sites["solver_status"] = "최적해 (proven optimal)" if res.proven_optimal else f"최적성 차이 {100 * res.gap:.2f}%"
    sites.insert(0, "site_id", sites.index.astype(str))
    sites.index = pd.Index([f"{k}:{i}" for k, i in zip(sites["kind"], sites["site_id"], strict=True)],
                           name="proposal_id")
    return sites


def _data_date(layers: dict) -> str:
    dates = []
    for layer in layers.values():
        if layer is not None and "data_date" in layer:
            dates += [str(d) for d in layer["data_date"].dropna().unique()]
    return max(dates) if dates else ""

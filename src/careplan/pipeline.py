"""The whole analysis for one scenario: read → demand → walk times → coverage/access → siting.

``Scenario`` holds parameters only (no I/O in its constructor); :func:`run` does
the work and returns a :class:`PlanResult`; :func:`write_outputs` writes one
folder per run (GeoPackage, Excel-friendly CSVs, maps, report) atomically.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm import tqdm  # not tqdm.auto: its notebook widget warns where ipywidgets is absent

from . import access, coverage, demand, io, network, siting, sizing
from . import candidates as candidates_mod
from . import scenario as schema
from ._errors import InputDataError, SettingsError
from ._files import special_kind
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
    layer: str | None = None  # GeoPackage layer (None: the file's only layer)


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
    layers: dict[str, str] = field(default_factory=dict)  # GeoPackage layer by input name ("zones": …)

    def __post_init__(self) -> None:
        # a path given as text in code is a path: messages and readers use Path methods on it
        for name in ("schools", "students", "zones", "population", "admin_areas", "candidates", "network"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, Path(getattr(self, name)))
        if isinstance(self.facilities, list | tuple):  # a bare path is a facility file whose rows tell the kind
            object.__setattr__(self, "facilities", tuple(
                FacilitySource(path=Path(f)) if isinstance(f, str | Path) else f for f in self.facilities))
        _objects_only("[data] facilities", self.facilities, FacilitySource)
        _objects_only("[analysis] slots", self.slots, TimeSlot)
        # the rules live once, in the scenario schema (careplan.scenario)
        slots = self.slots
        if isinstance(slots, list | tuple):
            slots = [{"name": s.name, "period": s.period, "time": f"{int(s.minute) // 60:02d}:{int(s.minute) % 60:02d}"}
                     for s in slots]
        schema.check_settings(
            analysis={"max_walk_min": self.max_walk_min, "walk_speed_kmh": self.walk_speed_kmh,
                      "detour_factor": self.detour_factor, "cell_m": self.cell_m,
                      "grade_rates": _plain(self.grade_rates), "access_method": self.access_method, "slots": slots},
            siting={"kinds": _plain(self.siting_kinds), "sites": _plain(self.siting_sites), "slot": self.siting_slot,
                    "grid_m": self.siting_grid_m, "min_distance_m": self.siting_min_distance_m,
                    "capacitated": _plain(self.siting_capacitated), "time_limit_s": self.siting_time_limit_s},
            catalog=get_catalog(self.catalog_overrides or None))


def _objects_only(setting: str, items: Any, cls: type) -> None:
    """In code, entries are objects (the TOML loader builds them); a dict would pass the schema and fail later."""
    for i, item in enumerate(items if isinstance(items, list | tuple) else ()):
        if not isinstance(item, cls):
            msg = (f"{setting}[{i + 1}] = {item!r:.80}: careplan.pipeline.{cls.__name__} 가 필요합니다 "
                   f"(expected a {cls.__name__}, got {type(item).__name__})")
            raise SettingsError(msg)


def _plain(value: Any) -> Any:
    """A value as the schema sees TOML: tuples as arrays, numpy scalars (from a DataFrame) as Python numbers;
    a string stays a string, so ``siting_kinds="dahamkke"`` is named as a string, not split into letters."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def load_scenario(path: str | Path, *, data_dir: str | Path | None = None) -> Scenario:
    """Read a scenario TOML file; relative paths are relative to ``[data] dir`` (or the file).

    ``data_dir`` overrides ``[data] dir`` (e.g. where ``../shared/data/korea`` is on this machine).
    The document is checked by :mod:`careplan.scenario` (every problem listed in one
    :class:`SettingsError`), then every file it names must be there and readable.
    """
    path = Path(path)
    spec = schema.validate(_read_toml(path), source=path.name)
    # "~/data" is what a planner types for their home folder, in the file and on the command line
    base = Path(data_dir).expanduser() if data_dir else (path.parent / Path(spec.data.dir).expanduser()).resolve()
    if not base.is_dir():
        where = "--data-dir" if data_dir else f"[data] dir = {json.dumps(spec.data.dir, ensure_ascii=False)}"
        kind = (special_kind(base.stat().st_mode) or "파일 (a file)") if base.exists() else None
        what = f"폴더가 아니라 {kind}입니다 (not a folder)" if kind else "폴더가 없습니다 (no such folder)"
        msg = (f"{where}: {what}: {base}; 입력 파일이 있는 데이터 폴더를 가리키게 고치세요 (point it at the folder "
               "holding the input files)")
        raise SettingsError(msg)
    files, facility_paths = schema.check_files(spec, lambda ref: base / Path(ref).expanduser(), source=path.name)
    data, analysis, siting = spec.data, spec.analysis, spec.siting
    layers = {key: getattr(data, key).layer for key in schema.FILE_KEYS
              if getattr(data, key) is not None and getattr(data, key).layer}
    facilities = tuple(FacilitySource(path=p, kind=f.kind, mapping=dict(f.mapping), layer=f.layer)
                       for f, p in zip(data.facilities, facility_paths, strict=True))
    return Scenario(
        name=spec.name or path.stem, sigungu=data.sigungu, sido=data.sido,
        schools=files["schools"], students=files["students"], zones=files["zones"],
        population=files["population"], admin_areas=files["admin_areas"], facilities=facilities,
        candidates=files.get("candidates"), network=files.get("network"), layers=layers,
        max_walk_min=analysis.max_walk_min, walk_speed_kmh=analysis.walk_speed_kmh,
        detour_factor=analysis.detour_factor, cell_m=analysis.cell_m, grade_rates=tuple(analysis.grade_rates),
        access_method=analysis.access_method,
        slots=tuple(TimeSlot(s.name, s.period, schema.hhmm_minutes(s.time)) for s in analysis.slots),
        siting_kinds=tuple(siting.kinds), siting_sites=siting.sites, siting_slot=siting.slot,
        siting_grid_m=siting.grid_m, siting_min_distance_m=siting.min_distance_m,
        siting_capacitated=siting.capacitated, siting_time_limit_s=siting.time_limit_s,
        catalog_overrides=schema.catalog_overrides(spec.catalog))


#: A scenario file is a few KB; anything this large is not one (and is not read into memory).
MAX_SCENARIO_BYTES = 1 << 20


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML document, or one :class:`SettingsError` sentence saying why it cannot be read."""
    name = f"시나리오 파일 (scenario file) {path}"
    try:
        info = path.stat()
    except FileNotFoundError:
        msg = f"{name} does not exist (파일이 없습니다); check the path"
        raise SettingsError(msg) from None
    except OSError as exc:
        msg = f"{name} cannot be checked ({exc.strerror}); check the path"
        raise SettingsError(msg) from None
    kind = special_kind(info.st_mode)
    if kind is not None:
        msg = f"{name} is {kind}, expected a .toml file; give the scenario's .toml file (.toml 파일을 주세요)"
        raise SettingsError(msg)
    if info.st_size > MAX_SCENARIO_BYTES:
        msg = (f"{name} is {info.st_size:,} bytes, more than a scenario's {MAX_SCENARIO_BYTES // 1024} KB limit; "
               "give the scenario's .toml file (시나리오 .toml 파일을 주세요)")
        raise SettingsError(msg)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"{name} cannot be read ({exc.strerror}); check its permissions (읽기 권한을 확인하세요)"
        raise SettingsError(msg) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = (f"{name} is not UTF-8 text (byte {exc.start}{_looks_like(raw)}); save it as UTF-8, e.g. in Notepad: "
               "다른 이름으로 저장 → 인코딩 UTF-8 (UTF-8로 저장하세요)")
        raise SettingsError(msg) from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        msg = f"{path.name} is not a scenario: its arrays or tables are nested too deeply (너무 깊게 중첩됨)"
        raise SettingsError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        if str(exc).startswith(("Cannot overwrite", "Cannot declare", "Cannot mutate")):
            # also `analysis.cell_m = 50` at the top beside an [analysis] table: TOML defines it twice
            hint = ("a key or table is written twice, or a dotted key (analysis.cell_m) repeats a [table]; keep "
                    "one, under its [section] (같은 설정이나 섹션을 두 번 썼습니다, 한 곳에만 쓰세요)")
        else:
            hint = 'text values need quotes, e.g. sigungu = "구로구" (문자열은 따옴표로 감싸세요)'
        msg = f"{path.name} is not valid TOML (TOML 문법 오류): {exc}; {hint}"
        raise SettingsError(msg) from None


def _looks_like(raw: bytes) -> str:
    """The encoding a non-UTF-8 scenario was probably saved in (Windows Notepad and Excel offer these)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "; it looks like UTF-16 (유니코드)"
    try:
        raw.decode("cp949")
    except UnicodeDecodeError:
        return ""
    return "; it looks like CP949 / EUC-KR (ANSI)"


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
    sizing.check_run_size(scenario, inputs, network=scenario.network is not None)  # before loading a graph
    graph = network.load_graph(scenario.network, walk_speed_kmh=scenario.walk_speed_kmh) if scenario.network else None
    return analyse(scenario, inputs, graph=graph, catalog=catalog, progress=progress)


def analyse(scenario: Scenario, inputs: Inputs, *, graph=None, catalog=None, progress: bool = False) -> PlanResult:
    """Demand → walk times → coverage/access → siting on layers already read.

    ``graph`` is a walk network (networkx graph or :class:`careplan.network.WalkGraph`); without one, times
    are straight-line × ``scenario.detour_factor`` (labelled on every output).
    """
    catalog = catalog or get_catalog(scenario.catalog_overrides or None)
    sizing.check_run_size(scenario, inputs, network=graph is not None)
    steps = tqdm(total=5, desc=scenario.name, disable=not progress, unit="step")
    school_dem = demand.school_demand(inputs.schools, grade_rates=scenario.grade_rates)
    points = demand.demand_points(school_dem, inputs.zones, inputs.admin_areas, cell_m=scenario.cell_m,
                                  progress=progress)
    if not points["demand"].sum() > 0:
        msg = (f"추정 돌봄 수요가 0입니다, 계획할 것이 없습니다 (the estimated care demand is 0: nothing to plan): "
               f"{len(school_dem)} schools, {school_dem['demand'].notna().sum()} with pupil counts, "
               f"{school_dem['demand'].fillna(0).sum():g} demand; check the students file and [analysis] grade_rates")
        raise InputDataError(msg)
    if not points["adm_code"].notna().any():
        msg = (f"행정동 경계가 학구와 겹치지 않습니다 (no 행정동 of {scenario.admin_areas.name} overlaps a 학구 of "
               f"{scenario.zones.name}), so no demand can be placed by 행정동; check that both files cover "
               f"{scenario.sigungu or 'the same 시군구'} and are in the same coordinates (degrees vs metres)")
        raise InputDataError(msg)
    steps.update()
    facilities = inputs.facilities
    r_cand = next((r for r in inputs.reports if scenario.candidates and inputs.candidates is not None
                   and r.source.startswith(scenario.candidates.name)), None)
    sites = _distinct_ids(site_candidates(scenario, inputs), facilities, r_cand)
    destinations = gpd.GeoDataFrame(pd.concat([facilities[["geometry"]], sites[["geometry"]]]), crs=facilities.crs)
    times = network.walk_times(points, destinations, graph=graph, cutoff_min=max(15.0, scenario.max_walk_min),
                               walk_speed_kmh=scenario.walk_speed_kmh, detour_factor=scenario.detour_factor,
                               progress=progress)
    _check_network_reach(times, points)
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


def _distinct_ids(sites: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                  report: io.RowReport | None) -> gpd.GeoDataFrame:
    """Candidate ids that are also facility ids get a " (후보지)" suffix: walk times are kept by id, so
    a shared id would mix a candidate with a centre."""
    shared = sites.index.isin(facilities.index.astype(str)) | sites.index.isin(facilities.index)
    if not shared.any():
        return sites
    sites = sites.copy()
    sites.index = pd.Index([f"{i} (후보지)" if s else i for i, s in zip(sites.index, shared, strict=True)],
                           name=sites.index.name)
    if report is not None:
        report.note(f"후보지ID {int(shared.sum()):,}개가 시설ID와 같아 ' (후보지)'를 붙였습니다 "
                    "(candidate ids equal to facility ids were suffixed)")
    return sites


def _check_network_reach(times: network.TravelTimes, points: gpd.GeoDataFrame) -> None:
    """Refuse a walk network that misses most of the demand (another city, wrong CRS): its times would
    silently read as "no facility in reach" for everyone."""
    far = times.params.get("unsnapped_origins")
    if times.distance_method != "network" or far is None or not len(far):
        return
    total = float(points["demand"].sum())
    missed = float(points["demand"].reindex(far).fillna(0).sum())
    if missed > 0.5 * total:
        snap = times.params.get("max_snap_m", network.DEFAULT_MAX_SNAP_M)
        msg = (f"도보 네트워크가 수요 지역을 덮지 않습니다 (the walk network does not cover the study area): "
               f"{100 * missed / total:.0f}% of the demand is more than {snap:g} m from every node of "
               f"{times.params.get('graph_source', 'the network')}; give the network of this 시군구, or remove "
               "`network` to use straight-line distance × detour factor")
        raise InputDataError(msg)


def _equity_inputs(scores: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Access over children (no facility in reach = zero access); over demand where no child is counted
    (0 children in every 행정동, or no 행정동 under the 학구): a Gini over zero people means nothing."""
    weights = scores["children"].fillna(0.0) if "children" in scores else pd.Series(0.0, index=scores.index)
    # children of a 학구 without pupil data carry no demand, so their facilities look empty and their
    # access huge: counting them would measure the missing data, not inequality
    weights = weights.where(scores["demand"].fillna(0.0) > 0, 0.0)
    if not weights.sum() > 0:
        weights = scores["demand"].fillna(0.0)
    return scores["access"].fillna(0.0), weights


def read_inputs(scenario: Scenario, *, catalog=None) -> Inputs:
    """Read every file of ``scenario`` with the careplan.io readers (rows accounted in ``reports``)."""
    catalog = catalog or get_catalog(scenario.catalog_overrides or None)
    area = {"sigungu": scenario.sigungu, "sido": scenario.sido}
    if not scenario.facilities:
        msg = "[data] facilities is empty: list at least one facility file (시설 파일을 하나 이상 적으세요)"
        raise SettingsError(msg)

    def layer(name: str | None) -> dict[str, str]:  # only when chosen: readers without `layer=` keep working
        return {"layer": name} if name else {}

    schools, r_schools = io.read_schools(scenario.schools, **area, **layer(scenario.layers.get("schools")))
    where = " ".join(filter(None, [scenario.sido, scenario.sigungu])) or "the file"
    if not len(schools):
        msg = (f"{scenario.schools.name}: {where}에 운영 중인 초등학교가 없습니다, 계획할 것이 없습니다 (no operating "
               f"초등학교 in {where}: nothing to plan; {r_schools.summary().splitlines()[0]}); check [data] sigungu "
               f"and sido, or see `careplan check {scenario.schools} --rows`")
        raise InputDataError(msg)
    students, r_students = io.read_students(scenario.students, **layer(scenario.layers.get("students")))
    schools, r_join = io.attach_pupils(schools, students)
    if r_join.kept == 0:
        msg = (f"{scenario.students.name}: 학생수 행이 어느 학교와도 이어지지 않습니다, 계획할 것이 없습니다 (no pupil "
               f"row joins a school of {scenario.schools.name} — the join is by 학교명 within the 시군구 — so there "
               f"is no demand to plan); check that both files cover {where}")
        raise InputDataError(msg)
    zones, r_zones = io.read_school_zones(scenario.zones, **layer(scenario.layers.get("zones")))
    population, r_pop = io.read_population(scenario.population, **area, **layer(scenario.layers.get("population")))
    areas, r_areas = io.read_admin_areas(scenario.admin_areas, population=population, **area,
                                         **layer(scenario.layers.get("admin_areas")))
    for path, frame, report, what in ((scenario.zones, zones, r_zones, "학구 (school zones)"),
                                      (scenario.admin_areas, areas, r_areas, "행정동 경계 (admin areas)")):
        if not len(frame):
            reasons = "; ".join(line.strip() for line in report.summary().splitlines()[1:] if "제외" in line)
            msg = (f"{path.name}: 쓸 수 있는 {what}가 하나도 없습니다 (no usable {what.split('(')[1].rstrip(')')} "
                   f"row: {reasons or report.summary().splitlines()[0]}); see why with "
                   f"`careplan check {path} --rows` and fix the file (e.g. its CRS)")
            raise InputDataError(msg)
    reports = [r_schools, r_students, r_join, r_zones, r_pop, r_areas]
    frames = []
    for source in scenario.facilities:
        frame, report = io.read_facilities(source.path, kind=source.kind, mapping=source.mapping or None,
                                           catalog=catalog, **area, **layer(source.layer))
        if report.kept == 0:
            msg = (f"시설 파일에 쓸 수 있는 행이 없습니다 (no usable row in facility file {source.path}: "
                   f"{report.summary().splitlines()[0]}); see why with "
                   f"`careplan check {source.path} --rows`, or remove it from the scenario")
            raise InputDataError(msg)
        frames.append(frame)
        reports.append(report)
    facilities = pd.concat(frames)
    repeated = facilities.index[facilities.index.duplicated()].unique()
    if len(repeated):
        msg = (f"시설 ID가 여러 시설 파일에 거듭 나옵니다 (facility ids repeat across facility files): "
               f"{', '.join(map(str, repeated[:5]))}; 시설마다 한 번만 있게 중복 파일이나 행을 빼세요 (each facility "
               "must be listed once: remove the duplicate file or rows; files without an ID column get ids from their "
               "file name, so give two different lists different file names)")
        raise InputDataError(msg)
    facilities = gpd.GeoDataFrame(facilities, crs=frames[0].crs)
    study = areas.union_all() if len(areas) else None
    for frame, report in zip([schools, *frames], [r_schools, *reports[6:]], strict=True):
        _note_far(frame, study, report)
    candidates = None
    if scenario.candidates:
        candidates, r_cand = io.read_candidates(scenario.candidates, **layer(scenario.layers.get("candidates")))
        _note_far(candidates, study, r_cand)
        if r_cand.kept == 0 and scenario.siting_kinds and scenario.siting_sites:
            msg = (f"{scenario.candidates.name}: 쓸 수 있는 후보지가 없어 입지를 제안할 수 없습니다 (no usable "
                   f"candidate site, so no site can be proposed: {r_cand.summary().splitlines()[0]}); see why "
                   f"with `careplan check {scenario.candidates} --rows`, or remove [data] candidates to use a "
                   "grid of 격자 후보지")
            raise InputDataError(msg)
        if scenario.siting_kinds and scenario.siting_sites > r_cand.kept:  # before any work: run, compare, region
            raise _too_few_sites(scenario, scenario.siting_kinds[0], r_cand.kept, r_cand.kept, 0)
        reports.append(r_cand)
    return Inputs(schools=schools, zones=zones, admin_areas=areas, facilities=facilities, candidates=candidates,
                  reports=tuple(reports))


#: Points further than this outside the 행정동 boundaries cannot matter for a 10–20 minute walk: they are
#: almost always wrong coordinates (a typo, a 100 km shift), so the row report names them.
FAR_FROM_AREA_M = 5_000.0


def _note_far(frame: gpd.GeoDataFrame, study, report: io.RowReport) -> None:
    """Name in ``report`` the points far outside the study area (kept: their rows stay accounted)."""
    if study is None or not len(frame) or study.is_empty:
        return
    distance = frame.geometry.distance(study)
    far = distance[distance > FAR_FROM_AREA_M].sort_values(ascending=False)
    if len(far):
        shown = ", ".join(f"{i} ({d / 1000:,.0f} km)" for i, d in far.head(5).items())
        report.note(f"좌표 확인 필요: {len(far)}곳이 행정동 경계에서 {FAR_FROM_AREA_M / 1000:g} km 넘게 "
                    "떨어져 있습니다, 좌표를 확인하세요 "
                    "(points far outside the study area: no child there walks to them): "
                    f"{shown}{' …' if len(far) > 5 else ''}")


def site_candidates(scenario: Scenario, inputs: Inputs) -> gpd.GeoDataFrame:
    """The user's candidate list, or a grid over the study area (labelled 격자 후보지: not real buildings)."""
    if inputs.candidates is not None:
        return inputs.candidates
    if not (scenario.siting_kinds and scenario.siting_sites):
        return candidates_mod.no_sites()  # no siting: no need to lay a grid over the whole area
    grid = candidates_mod.grid_candidates(inputs.admin_areas, spacing_m=scenario.siting_grid_m)
    if len(grid) < scenario.siting_sites:  # a coarse grid over a small area: fewer points than sites asked for
        raise _too_few_sites(scenario, scenario.siting_kinds[0], len(grid), len(grid), 0)
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
        if len(kept) < scenario.siting_sites:
            raise _too_few_sites(scenario, kind, len(kept), len(sites), len(taken))
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


def _too_few_sites(scenario: Scenario, kind: str, left: int, total: int, taken: int) -> SettingsError:
    """More new sites asked for than candidates remain: the solver would fail with p > candidates."""
    source = "[data] candidates" if scenario.candidates else f"[siting] grid_m = {scenario.siting_grid_m:g} 격자"
    fix = f"sites ≤ {left}" if left else "sites = 0 (입지 제안 없이, no siting)"
    return SettingsError(
        f"[siting] sites = {scenario.siting_sites}: {kind}에 남은 후보지는 {left}곳뿐입니다 (only {left} candidate "
        f"site(s) remain for {kind}, of {total} from {source}; {taken} taken by the kinds before it, the rest "
        f"refused by the kind's rules or [siting] min_distance_m); {fix} 로 줄이거나 후보지를 더 주세요 "
        f"(lower it to {fix}, add candidates, or use a smaller grid_m / min_distance_m)")


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

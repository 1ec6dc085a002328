"""Read back a run folder (``careplan run`` / ``careplan demo`` output) and re-make its maps.

Cities edit facility data in QGIS (the run's ``careplan.gpkg``) and then publish the
public 돌봄지도 again without re-running the analysis. Everything needed is read
from the folder: the GeoPackage layers, and the run's settings from ``run.json``
when the run wrote one, else from ``report.md`` and ``coverage_by_slot.csv``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from . import outfolder
from ._errors import CareplanError, InputDataError, SettingsError, UnreadableFileError
from ._files import special_kind
from .catalog import CareKind, get_catalog
from .io._parse import KOREA_LAT, KOREA_LON

__all__ = ["GPKG_NAME", "RunFolder", "read_run_folder", "remake_maps"]

logger = logging.getLogger(__name__)

GPKG_NAME = "careplan.gpkg"
#: GeoPackage layer -> index column, as ``report.write_outputs`` writes them.
_INDEX = {
    "facilities": "facility_id",
    "schools": "school_id",
    "school_zones": "zone_id",
    "admin_areas": "adm_code",
    "demand_points": "point_id",
    "proposed_sites": None,
}
_REQUIRED = ("facilities", "schools", "school_zones")
_HOURS = tuple(f"{slot}_{end}" for slot in ("term", "vac", "sat") for end in ("open", "close"))
#: Columns careplan writes as numbers, per layer: QGIS lets a user retype them as text.
_NUMBERS = {
    "facilities": ("capacity", "capacity_temp", "enrolled", *_HOURS, "fee_month", "fee_day",
                   "area_m2", "min_grade", "max_grade"),
    "schools": (*(f"pupils_g{g}" for g in range(1, 7)), "pupils_special", "pupils_total"),
    "school_zones": ("pupils", "children", "demand", "priority_demand", "n_points",
                     "demand_per_child", "n_schools"),
    "admin_areas": (*(f"age_{a}" for a in range(13)), "population_total", "children_6_12"),
    "demand_points": ("children", "pupils", "demand", "priority_demand", "area_m2"),
    "proposed_sites": ("rank", "area_m2", "floor", "cost", "capacity", "marginal_gain",
                       "cumulative_demand", "cumulative_coverage_pct"),
}
_FLAGS = ("synthetic", "shared")
_POINTS = ("facilities", "schools", "demand_points", "proposed_sites")
_POLYGONS = ("school_zones", "admin_areas")
_CODES = {"facilities": ("kind", "status"), "proposed_sites": ("kind",)}
_NEEDED = {"facilities": ("name", "kind"), "schools": ("name",)}
_TRUE = {"true", "t", "yes", "y", "1", "예", "참"}
_FALSE = {"false", "f", "no", "n", "0", "아니오", "아니요", "거짓", ""}
_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_MAX_RUN_JSON_BYTES = 2**20  # run.json is a few hundred bytes
_MAX_WALK_MIN = 120.0  # as run.json's own bound


@dataclass(frozen=True)
class RunFolder:
    """The layers and settings of one finished run, as read back from its folder."""

    path: Path
    name: str
    layers: dict[str, gpd.GeoDataFrame]
    max_walk_min: float
    distance_method_label: str
    data_date: str
    synthetic: bool
    catalog: dict[str, CareKind]


def _ids(values) -> str:
    """The first ids of a message, each cut short (an id may be 5,000 characters)."""
    return ", ".join(repr(str(v)[:40]) for v in list(values)[:3])


def _number(value: object, hours: bool) -> float | None:
    """A cell as a number (``"1,200"``, ``" 20 "``; ``"09:00"`` as minutes in hour columns); None
    when it is text that is not one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip().replace(",", "")
    if not text:
        return math.nan
    clock = _HHMM.match(text) if hours else None
    if clock and int(clock[1]) <= 24 and int(clock[2]) < 60:
        return int(clock[1]) * 60.0 + int(clock[2])
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _flag(value: object) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, bool | int | float):
        return bool(value) if value in (0, 1) else None
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _typed(frame: gpd.GeoDataFrame, name: str, gpkg: Path, index: str) -> gpd.GeoDataFrame:
    """Numbers and yes/no flags back to their types, as QGIS users retype columns as text; a cell
    that is neither is refused naming the layer, column, feature and value."""
    for column in (*_NUMBERS.get(name, ()), *_FLAGS):
        if column not in frame.columns:
            continue
        hours = column in _HOURS
        parse = _flag if column in _FLAGS else (lambda v, h=hours: _number(v, h))
        values = [parse(v) for v in frame[column].tolist()]
        bad = [i for i, v in enumerate(values) if v is None]
        if bad:
            ids = _ids(frame[index].iloc[bad])
            shown = repr(str(frame[column].iloc[bad[0]])[:40])
            what = ("yes/no (true/false, 1/0)" if column in _FLAGS
                    else "a number or HH:MM" if hours else "a finite number")
            msg = (f"layer {name!r} of {gpkg}: column {column!r} must hold {what}, but {len(bad)} "
                   f"feature(s) hold {shown} ({index} {ids}); correct them in QGIS and save again")
            raise InputDataError(msg)
        dtype = bool if column in _FLAGS else float
        frame[column] = pd.Series(values, index=frame.index, dtype=dtype)
    for column in _CODES.get(name, ()):  # codes: spaces typed around them in QGIS are noise
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v: v.strip() if isinstance(v, str) else v)
    absent = [c for c in _NEEDED.get(name, ()) if c not in frame.columns]
    if absent:
        msg = (f"layer {name!r} of {gpkg} lacks column(s) {absent}, which the maps show; restore "
               "them in QGIS (careplan run wrote them) and save again")
        raise InputDataError(msg)
    if name == "proposed_sites" and "rank" in frame.columns and frame["rank"].isna().any():
        msg = (f"layer {name!r} of {gpkg}: {int(frame['rank'].isna().sum())} feature(s) have no "
               "rank; give every proposed site its rank (1, 2, …) in QGIS and save again")
        raise InputDataError(msg)
    return frame


def _shaped(frame: gpd.GeoDataFrame, name: str, gpkg: Path, index: str) -> gpd.GeoDataFrame:
    """Geometries as the maps need them: QGIS saves points as one-part MultiPoints and lets a
    hand-drawn ring cross itself; both are repaired. Other types are refused in one sentence."""
    if name not in _POINTS and name not in _POLYGONS:
        return frame
    geoms = np.asarray(frame.geometry.values)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kinds = shapely.get_type_id(geoms)
    if name in _POINTS:
        single = present & (kinds == 4) & (shapely.get_num_geometries(geoms) == 1)
        geoms[single] = shapely.get_geometry(geoms[single], 0)
        wrong = present & (shapely.get_type_id(geoms) != 0)
        want, fix = "points", "keep one point per feature (QGIS: Vector ▸ Geometry ▸ Centroids)"
    else:
        broken = present & np.isin(kinds, (3, 6)) & ~shapely.is_valid(geoms)
        repaired = shapely.make_valid(geoms[broken])
        geoms[broken] = [shapely.union_all(  # make_valid may add the crossing as a line: drop it
            [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")])
            for g in repaired]
        wrong = present & ~np.isin(shapely.get_type_id(geoms), (3, 6))
        want, fix = "polygons", "keep polygons only (QGIS: Vector ▸ Geometry ▸ Fix geometries)"
    if wrong.any():
        shown = sorted({g.geom_type for g in geoms[wrong]})
        msg = (f"layer {name!r} of {gpkg} must hold {want}, but {int(wrong.sum())} feature(s) are "
               f"{', '.join(shown)} ({index} {_ids(frame[index][wrong])}); {fix} and save again")
        raise InputDataError(msg)
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def _placed(frame: gpd.GeoDataFrame, name: str, gpkg: Path, index: str) -> None:
    """Refuse a layer without CRS, or with features outside Korea (moved 10,000 km, or a CRS
    set to the wrong one in QGIS): the maps would frame the world around one stray feature."""
    if frame.crs is None:
        msg = (f"layer {name!r} of {gpkg} has no coordinate system; in QGIS set the layer's CRS "
               "to EPSG:5179 (Korea 2000 / Unified CS) and save again")
        raise InputDataError(msg)
    geoms = frame.geometry
    array = np.asarray(geoms.values)
    usable = ~(shapely.is_missing(array) | shapely.is_empty(array))
    if not usable.any():
        return
    try:
        bounds = geoms[usable].to_crs(4326).bounds
    except Exception as err:  # pyproj cannot transform: a CRS QGIS wrote that PROJ cannot use
        msg = (f"layer {name!r} of {gpkg}: its coordinate system {frame.crs.to_string()!r} cannot "
               f"be converted to longitude/latitude ({err}); save the layer in EPSG:5179")
        raise InputDataError(msg) from err
    finite = np.isfinite(bounds.to_numpy()).all(axis=1)
    inside = (bounds["minx"].ge(KOREA_LON[0]) & bounds["maxx"].le(KOREA_LON[1])
              & bounds["miny"].ge(KOREA_LAT[0]) & bounds["maxy"].le(KOREA_LAT[1])).to_numpy()
    outside = finite & ~inside
    if outside.any():
        rows = frame[usable][outside]
        ids = _ids(rows[index])
        first = bounds[outside].iloc[0]
        msg = (f"layer {name!r} of {gpkg}: {int(outside.sum())} feature(s) lie outside Korea "
               f"({index} {ids}; e.g. longitude {first['minx']:.4g}, "
               f"latitude {first['miny']:.4g}); "
               "move them back or fix the layer's CRS in QGIS (careplan writes EPSG:5179)")
        raise InputDataError(msg)


def _unreadable(gpkg: Path, err: Exception) -> UnreadableFileError:
    reason = " ".join(str(err).replace(str(gpkg), "the file").split(";")[0].split())[:160]
    msg = (f"{gpkg} cannot be read as a GeoPackage ({reason}); it is damaged or not a GeoPackage: "
           "restore it from a backup (or QGIS' saved copy) or re-run `careplan run`")
    return UnreadableFileError(msg)


def _layer(gpkg: Path, name: str) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(gpkg, layer=name, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError,
            ValueError, RuntimeError) as err:
        raise _unreadable(gpkg, err) from err
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = (f"layer {name!r} of {gpkg} is a table without geometry; the maps need its "
               "features: restore the layer with its geometry (re-run `careplan run`)")
        raise InputDataError(msg)
    index = _INDEX.get(name) or frame.columns[0]
    if index not in frame.columns:
        msg = (
            f"layer {name!r} of {gpkg} has no {index!r} column (the id written by careplan run); "
            "keep that column when editing the layer in QGIS"
        )
        raise InputDataError(msg)
    ids = frame[index]
    bad = ids.isna() | ids.astype(str).str.strip().eq("") | ids.duplicated(keep=False)
    if bad.any():
        rows = [int(i) + 1 for i in frame.index[bad][:5]]
        msg = (
            f"layer {name!r} of {gpkg}: {int(bad.sum())} row(s) with an empty or repeated {index} "
            f"(rows {rows}). Give every feature a unique {index} in QGIS (e.g. F90001) "
            "and save again."
        )
        raise InputDataError(msg)
    frame = _shaped(_typed(frame, name, gpkg, index), name, gpkg, index)
    _placed(frame, name, gpkg, index)
    return frame.set_index(frame[index].astype(str)).drop(columns=index).rename_axis(index)


def _run_settings(folder: Path) -> dict:
    """Name, walk minutes, distance label … from the ``run.json`` every run writes."""
    meta_path = folder / "run.json"
    _regular(meta_path, "written by every `careplan run`; re-run the scenario into this folder")
    damaged = (f"{meta_path} is damaged (it is written by `careplan run`, not meant to be edited); "
               "re-run the scenario to make a new one")
    try:
        if meta_path.stat().st_size > _MAX_RUN_JSON_BYTES:
            raise InputDataError(damaged)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputDataError(damaged) from exc
    walk = meta.get("max_walk_min", 10.0) if isinstance(meta, dict) else None
    texts = ("name", "distance_method_label", "data_date")
    if (not isinstance(meta, dict) or isinstance(walk, bool) or not isinstance(walk, int | float)
            or not 0 < walk <= _MAX_WALK_MIN
            or any(not isinstance(meta.get(k, ""), str) for k in texts)
            or not isinstance(meta.get("catalog", {}), dict)):
        raise InputDataError(damaged)
    return meta


def _catalog(meta: dict, meta_path: Path) -> dict[str, CareKind]:
    """The run's catalog: defaults with the scenario's ``[catalog]`` overrides kept in run.json,
    checked with the scenario's own rules (run.json holds hours in minutes, so they are shown to
    the rules as HH:MM)."""
    from pydantic import ValidationError

    from .scenario import KindOverride

    overrides = meta.get("catalog") or {}
    try:
        for values in overrides.values():
            shown = {k: _clock(v) if k.endswith("_hours") else v
                     for k, v in values.items() if v is not None}
            KindOverride.model_validate(shown)
        return get_catalog(overrides or None)
    except (CareplanError, ValidationError, TypeError, ValueError, KeyError, IndexError,
            AttributeError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            exc_text = f"{where}: {first['msg']}, got {str(first.get('input'))[:40]!r}"
        else:
            exc_text = str(exc)
        reason = " ".join(exc_text.split())[:200]
        msg = f"{meta_path}: its catalog overrides are damaged ({reason}); re-run the scenario"
        raise InputDataError(msg) from exc


def _clock(minutes: object) -> object:
    """``[780, 1200]`` → ``["13:00", "20:00"]``; anything else as is (for the rules to refuse)."""
    def is_minute(m: object) -> bool:
        return isinstance(m, int | float) and not isinstance(m, bool) and 0 <= m <= 1440

    if not isinstance(minutes, list) or not all(map(is_minute, minutes)):
        return minutes
    return [f"{int(m) // 60:02d}:{int(m) % 60:02d}" for m in minutes]


def _data_date(layers: dict[str, gpd.GeoDataFrame]) -> str:
    dates = [
        str(d)
        for layer in layers.values()
        if "data_date" in layer
        for d in layer["data_date"].dropna().unique()
    ]
    return max(dates) if dates else ""


def _regular(path: Path, fix: str) -> None:
    """Refuse a missing ``path``, or one that is a folder, device, FIFO or dangling link."""
    if not os.path.lexists(path):
        raise InputDataError(f"{path.parent} has no {path.name} ({fix})")
    try:
        special = special_kind(path.stat().st_mode)
    except OSError:
        special = "깨진 링크 (a link to nothing)"
    if special:
        raise InputDataError(f"{path} is {special}, not a file ({fix})")


def read_run_folder(folder: str | Path, *, max_walk_min: float | None = None) -> RunFolder:
    """Read the layers of ``folder/careplan.gpkg`` and the run's settings.

    Parameters
    ----------
    folder
        A folder written by ``careplan run`` / ``careplan demo`` (``report.write_outputs``).
    max_walk_min
        Walk minutes of the public map; default: the run's own (10 when it cannot be read).

    Raises
    ------
    InputDataError
        The folder or its GeoPackage is missing, a required layer
        (facilities, schools, school_zones) is absent, or ids are empty or repeated.
    """
    folder = Path(folder)
    gpkg = folder / GPKG_NAME
    if not folder.is_dir():
        what = "is a file, not a folder" if os.path.lexists(folder) else "does not exist"
        msg = (
            f"run folder {folder} {what}; pass a folder written by `careplan run` "
            "or `careplan demo`"
        )
        raise InputDataError(msg)
    _regular(gpkg, "expected the GeoPackage `careplan run` writes; restore it or re-run the run")
    try:
        present = {name for name, _ in pyogrio.list_layers(gpkg)}
    except (pyogrio.errors.DataSourceError, OSError, ValueError, RuntimeError) as err:
        raise _unreadable(gpkg, err) from err
    missing = [name for name in _REQUIRED if name not in present]
    if missing:
        msg = (
            f"{gpkg} lacks layer(s) {missing}; found {sorted(present)}. The maps need facilities, "
            "schools and school_zones: restore the layer (QGIS: 'Save as' into the same "
            "GeoPackage) "
            "or re-run `careplan run`."
        )
        raise InputDataError(msg)
    layers = {name: _layer(gpkg, name) for name in _INDEX if name in present}
    meta = _run_settings(folder)
    # a run on synthetic data stays labelled so even when QGIS dropped or cleared the column
    synthetic = meta.get("synthetic") is True or any(
        bool(layer["synthetic"].fillna(False).astype(bool).any())
        for layer in layers.values()
        if "synthetic" in layer
    )
    catalog = _catalog(meta, folder / "run.json")
    kinds = layers["facilities"]["kind"]
    unknown = kinds.isna() | ~kinds.isin(list(catalog))
    if unknown.any():
        shown = sorted({str(k)[:40] for k in kinds[unknown].fillna("(empty)")})[:5]
        ids = _ids(kinds.index[unknown])
        msg = (f"layer 'facilities' of {gpkg}: {int(unknown.sum())} feature(s) have a kind "
               f"careplan does not know ({shown}; facility_id {ids}); the kind column holds its "
               f"codes ({', '.join(sorted(catalog))}): correct it in QGIS and save again")
        raise InputDataError(msg)
    run = RunFolder(
        path=folder,
        name=str(meta.get("name", folder.name)),
        layers=layers,
        max_walk_min=float(max_walk_min or meta.get("max_walk_min", 10.0)),
        distance_method_label=str(meta.get("distance_method_label", "미상")),
        data_date=str(meta.get("data_date") or _data_date(layers)),
        synthetic=synthetic,
        catalog=catalog,
    )
    logger.info(
        "read run folder %s: %s", folder, ", ".join(f"{k} {len(v):,}" for k, v in layers.items())
    )
    return run


def _same_folder(a: str | os.PathLike, b: Path) -> bool:
    """Whether ``a`` names the folder ``b`` (also through a link or ``..``)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _refuse_other_output(out: Path) -> None:
    """``map --out``, even with ``--force``, replaces only an earlier map output: a run's folder
    holds its GeoPackage (maybe edited in QGIS for hours), its report and tables."""
    marker = outfolder.read_marker(out) if out.is_dir() and not out.is_symlink() else None
    if marker is not None and marker["kind"] != "map":
        msg = (f"--out {out} holds a careplan {marker['kind']} output (its careplan.gpkg, report "
               "and tables), which `careplan map` never replaces; to update its maps run "
               f"`careplan map {out}` without --out, or choose a new folder for --out")
        raise SettingsError(msg)


def remake_maps(
    folder: str | Path,
    out_dir: str | Path | None = None,
    *,
    public: bool = True,
    planner: bool = True,
    title: str | None = None,
    max_walk_min: float | None = None,
    attributions: Sequence[str] | None = None,
    force: bool = False,
) -> list[Path]:
    """Draw the maps of a finished run again from its (possibly edited) GeoPackage.

    The planner map shows the layers as they are now (facilities, schools, 학구,
    행정동, demand, proposed sites); coverage choropleths are left out because they
    depend on walk times that an edit in QGIS makes stale (re-run for those).

    In the run folder itself, the maps careplan wrote there (listed in its ``.careplan.json``)
    are replaced; a ``planner_map.html`` or ``public_map/`` it did not write is refused, and
    files the user added inside ``public_map/`` are kept. Another ``out_dir`` follows the rules
    of :mod:`careplan.outfolder` (absent or empty; an earlier output only with ``force``).

    Parameters
    ----------
    folder
        The run folder (holds ``careplan.gpkg``).
    out_dir
        Where to write ``planner_map.html`` and ``public_map/`` (default: ``folder``).
    public, planner
        Which maps to make.
    title
        Map title (default: the run's planner title / "우리동네 초등 돌봄지도").
    max_walk_min
        Walk minutes of the public map (default: the run's own).
    attributions
        Data sources (default: those of ``careplan.report``).
    force
        Replace an earlier careplan output at ``out_dir`` (not needed in the run folder itself).

    Returns
    -------
    list of pathlib.Path
        The files written (``planner_map.html``, ``public_map/index.html``).
    """
    from . import maps, report

    if max_walk_min is not None and not (
        isinstance(max_walk_min, int | float) and 0 < max_walk_min <= _MAX_WALK_MIN
    ):
        msg = (f"walk minutes (--walk-min) must be a number above 0 and at most {_MAX_WALK_MIN:g}, "
               f"got {max_walk_min!r}; e.g. 10")
        raise SettingsError(msg)
    run = read_run_folder(folder, max_walk_min=max_walk_min)
    in_place = out_dir is None or _same_folder(out_dir, run.path)
    out = run.path if in_place else Path(out_dir)
    if not in_place:
        _refuse_other_output(out)
    staging = None if in_place else outfolder.begin(out, "map", force=force)
    stage = outfolder.stage_inside(run.path) if staging is None else staging.path
    sources = tuple(attributions) if attributions is not None else report.ATTRIBUTIONS
    lay = run.layers
    try:
        if planner:
            m = maps.planner_map(
                facilities=lay["facilities"],
                schools=lay["schools"],
                zones=lay["school_zones"],
                admin_areas=lay.get("admin_areas"),
                demand_points=lay.get("demand_points"),
                proposed=lay.get("proposed_sites"),
                distance_method_label=run.distance_method_label,
                synthetic=run.synthetic,
                title=title or f"{run.name} — 초등 돌봄 계획 지도",
                attributions=sources,
                catalog=run.catalog,
            )
            maps.save_planner_map(m, stage / "planner_map.html")
        if public:
            options = {"title": title} if title else {}
            maps.public_care_map(
                stage / "public_map",
                facilities=lay["facilities"],
                schools=lay["schools"],
                zones=lay["school_zones"],
                admin_areas=lay.get("admin_areas"),
                data_date=run.data_date,
                synthetic=run.synthetic,
                distance_method_label=run.distance_method_label,
                attributions=sources,
                walk_minutes=run.max_walk_min,
                catalog=run.catalog,
                **options,
            )
        names = [name for name in ("planner_map.html", "public_map") if (stage / name).exists()]
        if staging is None:
            outfolder.replace_entries(out, stage, names)
        else:
            staging.commit()
        written = [out / n if n.endswith(".html") else out / n / "index.html" for n in names]
    finally:
        if staging is None:
            outfolder.discard(stage)
        else:
            staging.discard()
    logger.info("re-made %d map(s) of %s in %s", len(written), run.path, out)
    return written

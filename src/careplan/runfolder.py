"""Read back a run folder (``careplan run`` / ``careplan demo`` output) and re-make its maps.

Cities edit facility data in QGIS (the run's ``careplan.gpkg``) and then publish the
public 돌봄지도 again without re-running the analysis. Everything needed is read
from the folder: the GeoPackage layers, and the run's settings from ``run.json``
when the run wrote one, else from ``report.md`` and ``coverage_by_slot.csv``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pyogrio

from . import outfolder
from ._errors import CareplanError, InputDataError
from .catalog import CareKind, get_catalog

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


def _layer(gpkg: Path, name: str) -> gpd.GeoDataFrame:
    frame = gpd.read_file(gpkg, layer=name, engine="pyogrio")
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
    return frame.set_index(frame[index].astype(str)).drop(columns=index).rename_axis(index)


def _run_settings(folder: Path) -> dict:
    """Name, walk minutes, distance label … from the ``run.json`` every run writes."""
    meta_path = folder / "run.json"
    if not meta_path.is_file():
        msg = f"{folder} has no run.json (written by every `careplan run`); re-run the scenario into this folder"
        raise InputDataError(msg)
    damaged = (f"{meta_path} is damaged (it is written by `careplan run`, not meant to be edited); "
               "re-run the scenario to make a new one")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputDataError(damaged) from exc
    walk = meta.get("max_walk_min", 10.0) if isinstance(meta, dict) else None
    texts = ("name", "distance_method_label", "data_date")
    if (not isinstance(meta, dict) or isinstance(walk, bool) or not isinstance(walk, int | float)
            or not 0 < walk <= 120 or any(not isinstance(meta.get(k, ""), str) for k in texts)
            or not isinstance(meta.get("catalog", {}), dict)):
        raise InputDataError(damaged)
    return meta


def _catalog(meta: dict, meta_path: Path) -> dict[str, CareKind]:
    """The run's catalog: defaults with the scenario's ``[catalog]`` overrides kept in run.json."""
    try:
        return get_catalog(meta.get("catalog") or None)
    except (CareplanError, TypeError, ValueError, KeyError, IndexError) as exc:
        msg = f"{meta_path}: its catalog overrides are damaged ({exc}); re-run the scenario"
        raise InputDataError(msg) from exc


def _data_date(layers: dict[str, gpd.GeoDataFrame]) -> str:
    dates = [
        str(d)
        for layer in layers.values()
        if "data_date" in layer
        for d in layer["data_date"].dropna().unique()
    ]
    return max(dates) if dates else ""


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
        msg = (
            f"run folder {folder} does not exist; pass a folder written by `careplan run` "
            "or `careplan demo`"
        )
        raise InputDataError(msg)
    if not gpkg.is_file():
        msg = (
            f"{folder} has no {GPKG_NAME}; expected a folder written by `careplan run` "
            "(re-run it to make one)"
        )
        raise InputDataError(msg)
    present = {name for name, _ in pyogrio.list_layers(gpkg)}
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
    synthetic = any(
        bool(layer["synthetic"].fillna(False).astype(bool).any())
        for layer in layers.values()
        if "synthetic" in layer
    )
    run = RunFolder(
        path=folder,
        name=str(meta.get("name", folder.name)),
        layers=layers,
        max_walk_min=float(max_walk_min or meta.get("max_walk_min", 10.0)),
        distance_method_label=str(meta.get("distance_method_label", "미상")),
        data_date=str(meta.get("data_date") or _data_date(layers)),
        synthetic=synthetic,
        catalog=_catalog(meta, folder / "run.json"),
    )
    logger.info(
        "read run folder %s: %s", folder, ", ".join(f"{k} {len(v):,}" for k, v in layers.items())
    )
    return run


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

    run = read_run_folder(folder, max_walk_min=max_walk_min)
    in_place = out_dir is None or os.path.abspath(out_dir) == os.path.abspath(run.path)
    out = run.path if in_place else Path(out_dir)
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

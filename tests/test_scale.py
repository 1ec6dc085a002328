"""careplan.scale: a region partitioned by 시군구 on Dask gives the single-process results."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import pickle
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from careplan import demand, pipeline, sample, scale
from careplan._errors import CareplanError, CRSError, InputDataError, SettingsError

dask_distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def region():
    # 4 시군구 of 3 km; many shared 학구 so some link schools across a border.
    return sample.generate_region(
        4,
        schools_per_sigungu=10,
        sigungu_km=3.0,
        facilities_per_sigungu=8,
        shared_zone_share=0.3,
        walk_graph=True,
        seed=7,
        cell_m=150.0,
        siting_sites=2,
        siting_time_limit_s=20.0,
    )


@pytest.fixture(scope="module")
def client():
    with scale.local_client(2) as cl:  # the LocalCluster `careplan region` starts
        yield cl


@pytest.fixture(scope="module", params=["straight_line", "network"])
def both(request, region, client):
    graph = region.graph if request.param == "network" else None
    single = pipeline.analyse(region.scenario, region.inputs, graph=graph)
    parted = scale.run_region(
        region.scenario, region.inputs, graph=graph, client=client, keep_times=True
    )
    return request.param, single, parted


def _same_rows(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    assert set(frame.index) == set(like.index)
    return frame.reindex(like.index)


# --------------------------------------------------------------------------- equality with one process


def test_region_has_borders_to_cross(region, both):
    """The test region really exercises the halo: 학구 and catchments straddle 시군구 borders."""
    _, _, parted = both
    owner = parted.point_sigungu
    per_zone = owner.groupby(parted.demand_points["zone_id"]).nunique()
    assert (per_zone > 1).sum() >= 5  # 학구 with points in two cores
    links = region.inputs.zones["school_ids"].str.contains(",")
    assert links.sum() >= 3  # 공동통학구역
    stats = parted.partitions.set_index("sigungu_code")
    assert (stats["halo_points"] > stats["core_points"]).all()
    assert stats["core_points"].sum() == len(parted.demand_points)


def test_demand_points_equal(both):
    _, single, parted = both
    a = single.demand_points
    b = _same_rows(parted.demand_points, a)
    for col in ("zone_id", "adm_code", "basis"):
        assert b[col].equals(a[col])
    for col in ("children", "pupils", "demand", "priority_demand", "area_m2"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-12, atol=1e-12)
    assert shapely.equals_exact(b.geometry.array, a.geometry.array, tolerance=0).all()
    assert parted.demand_points["demand"].sum() == pytest.approx(
        single.school_demand["demand"].sum(), rel=1e-12
    )


def test_times_coverage_access_equal(both):
    mode, single, parted = both
    assert parted.distance_method == single.times.distance_method == mode
    # the whole travel-time matrix: same pairs, same minutes
    ts, tp = single.times, parted.times
    rows = pd.Index(ts.origin_ids).get_indexer(tp.origin_ids)
    cols = pd.Index(ts.destination_ids).get_indexer(tp.destination_ids)
    assert (rows >= 0).all() and (cols >= 0).all()
    reordered = ts.matrix[rows][:, cols].tocsr()
    reordered.sort_indices()
    assert np.array_equal(reordered.indptr, tp.matrix.indptr)
    assert np.array_equal(reordered.indices, tp.matrix.indices)
    np.testing.assert_allclose(tp.matrix.data, reordered.data, rtol=1e-9)

    idx = single.demand_points.index
    near_s, near_p = single.coverage.nearest_min, parted.coverage.nearest_min.reindex(idx)
    assert list(near_p.columns) == list(near_s.columns)
    np.testing.assert_allclose(near_p.to_numpy(), near_s.to_numpy(), rtol=1e-9)  # NaN where NaN
    assert parted.coverage.covered.reindex(idx).equals(single.coverage.covered)
    assert single.coverage.covered.to_numpy().any()  # some points covered, some not
    assert not single.coverage.covered.to_numpy().all()

    acc_s, acc_p = single.access, parted.access.reindex(idx)
    np.testing.assert_allclose(acc_p["access"], acc_s["access"], rtol=1e-9)
    np.testing.assert_allclose(acc_p["unmet_demand"], acc_s["unmet_demand"], rtol=1e-9, atol=1e-9)
    assert parted.gini == pytest.approx(single.gini, rel=1e-9)


@pytest.mark.parametrize("table", ["coverage_total", "coverage_by_zone", "coverage_by_adm", "gaps"])
def test_region_tables_equal(both, table):
    _, single, parted = both
    a, b = getattr(single, table), getattr(parted, table)
    key = [
        c
        for c in a.columns
        if c in {"area", "zone_id", "adm_code", "slot", "kind", "level", "area_id"}
    ]
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(b, a, rtol=1e-9, check_dtype=False)


def test_three_sfca_needs_and_gets_the_wider_halo(region, client):
    """3SFCA selection weights of halo points need facilities 3·R(A) away; still equal."""
    scenario = dataclasses.replace(region.scenario, access_method="3sfca", siting_sites=0)
    single = pipeline.analyse(scenario, region.inputs)
    parted = scale.run_region(scenario, region.inputs, client=client)
    idx = single.demand_points.index
    np.testing.assert_allclose(
        parted.access.reindex(idx)["access"], single.access["access"], rtol=1e-9
    )


def test_a_too_small_halo_changes_access(region, client, monkeypatch):
    """Shrinking the demand halo to R(A) breaks the 2SFCA equality: the 2·R(A) halo is needed."""
    single = pipeline.analyse(dataclasses.replace(region.scenario, siting_sites=0), region.inputs)
    real = scale.halo_radii

    def narrow(scenario, **kw):
        r = real(scenario, **kw)
        return dataclasses.replace(r, demand_m=r.demand_m / 2)

    monkeypatch.setattr(scale, "halo_radii", narrow)
    parted = scale.run_region(
        dataclasses.replace(region.scenario, siting_sites=0), region.inputs, client=client
    )
    got = parted.access.reindex(single.demand_points.index)["access"].to_numpy()
    want = single.access["access"].to_numpy()
    with np.errstate(invalid="ignore"):
        off = np.abs(got - want) > 1e-6 * np.abs(want)
    assert off.sum() > 10  # core points near borders see too little demand at their facilities


# --------------------------------------------------------------------------- siting and summary


def _sites_inside_their_sigungu(region, proposed) -> None:
    """Each 시군구 sites only inside itself (its square)."""
    bounds = region.sigungu.loc[proposed["sigungu_code"]]
    x, y = proposed.geometry.x.to_numpy(), proposed.geometry.y.to_numpy()
    assert (
        (x >= bounds["minx"].to_numpy())
        & (x <= bounds["maxx"].to_numpy())
        & (y >= bounds["miny"].to_numpy())
        & (y <= bounds["maxy"].to_numpy())
    ).all()


def test_siting_per_sigungu_and_summary(region, both):
    _, single, parted = both
    sc = region.scenario
    proposed = parted.proposed
    assert proposed is not None
    per = proposed.groupby(["sigungu_code", "kind"]).size()
    assert (per <= sc.siting_sites).all() and len(per) == len(region.sigungu)
    _sites_inside_their_sigungu(region, proposed)
    summary = parted.summary.set_index("sigungu_code")
    total = summary.loc[scale.TOTAL_LABEL]
    rows = summary.drop(index=scale.TOTAL_LABEL)
    assert total["schools"] == len(region.inputs.schools) == rows["schools"].sum()
    assert total["demand"] == pytest.approx(single.demand_points["demand"].sum(), rel=1e-12)
    # per 시군구 demand: points by the 시군구 of their 행정동 (adm codes start with the 시군구 code)
    by_code = single.demand_points.groupby(single.demand_points["adm_code"].str[:5])["demand"].sum()
    np.testing.assert_allclose(rows["demand"], by_code.reindex(rows.index), rtol=1e-12)
    # the region coverage % equals the single-process headline number
    headline = single.summary().set_index("지표")["값"]
    key = f"도보권 안 수요 비율 ({sc.siting_slot}, %)"
    assert total["coverage_pct"] == pytest.approx(headline[key], rel=1e-9)
    assert total["proposed_sites"] == len(proposed)
    eligible = region.inputs.facilities["kind"].isin(["dahamkke", "local_child_center"])
    assert total["capacity"] == region.inputs.facilities.loc[eligible, "capacity"].sum()


@pytest.fixture(scope="module")
def tables_only(region, both, client, tmp_path_factory):
    mode, _, _ = both
    graph = region.graph if mode == "network" else None
    folder = tmp_path_factory.mktemp("points")
    (folder / "points-99999.parquet").write_text("from an earlier run")  # cleared, not read
    return scale.run_region(
        region.scenario,
        region.inputs,
        graph=graph,
        client=client,
        per_point=False,
        points_dir=folder,
    )


def test_a_tables_only_run_gives_the_same_tables(both, tables_only, tmp_path):
    """per_point=False: the points stay on the workers; every region table is unchanged."""
    _, single, parted = both
    for name in (
        "summary",
        "coverage_total",
        "coverage_by_zone",
        "coverage_by_adm",
        "coverage_by_sigungu",
        "gaps",
        "proposals_by_sigungu",
    ):
        pd.testing.assert_frame_equal(getattr(tables_only, name), getattr(parted, name), rtol=1e-12)
    drop = ["seconds", "worker_pid"]
    pd.testing.assert_frame_equal(
        tables_only.partitions.drop(columns=drop), parted.partitions.drop(columns=drop)
    )
    assert tables_only.gini == pytest.approx(single.gini, rel=1e-9)
    assert list(tables_only.proposed["site_id"]) == list(parted.proposed["site_id"])
    for name in ("demand_points", "point_sigungu", "coverage", "access", "times"):
        assert getattr(tables_only, name) is None
    written = scale.write_region(tables_only, tmp_path)
    assert "access.csv" not in written and "summary.csv" in written


def test_the_workers_write_every_point_with_its_results(region, both, tables_only):
    """points_dir: each access task's GeoParquet file; together, every point once, with the
    gathered run's rows, geometry and results."""
    _, single, parted = both
    files = tables_only.point_files
    assert len(files) == len(set(tables_only.partitions["task"]))
    assert sorted(p.name for p in Path(files[0]).parent.iterdir()) == sorted(Path(f).name for f in files)
    layer = pd.concat([gpd.read_parquet(f) for f in files])
    assert layer.crs == single.demand_points.crs
    idx = single.demand_points.index
    assert layer.index.is_unique and set(layer.index) == set(idx)
    layer = layer.reindex(idx)
    for col in ("zone_id", "adm_code"):
        assert layer[col].equals(single.demand_points[col])
    assert shapely.equals_exact(layer.geometry.array, single.demand_points.geometry.array, 0).all()
    assert (layer["sigungu_code"] == parted.point_sigungu.reindex(idx)).all()
    np.testing.assert_allclose(layer["access"], single.access["access"], rtol=1e-9)
    np.testing.assert_allclose(layer["unmet_demand"], single.access["unmet_demand"], atol=1e-9)
    key = (region.scenario.siting_slot, "all")
    np.testing.assert_allclose(layer["walk_min"], single.coverage.nearest_min[key], rtol=1e-9)
    assert (layer["covered"] == single.coverage.covered[key]).all()
    assert 0 < layer["covered"].sum() < len(layer)


def test_an_unwritable_points_dir_is_refused_before_the_run(region, threads, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SettingsError, match="cannot write the point files to .*file"):
        scale.run_region(
            region.scenario, region.inputs, client=threads, per_point=False, points_dir=blocker
        )


def test_travel_times_need_the_points(region, threads):
    with pytest.raises(SettingsError, match="keep_times needs per_point"):
        scale.run_region(
            region.scenario, region.inputs, client=threads, keep_times=True, per_point=False
        )


def test_halo_radii_hand_computed(region):
    sc = region.scenario  # 10 min, 4 km/h (66.67 m/min), detour 1.3
    line = scale.halo_radii(sc, network_mode=False)
    assert line.cutoff_min == 15.0
    assert line.demand_m == pytest.approx(2 * (10 * 4000 / 60 / 1.3 + 1), rel=1e-8)
    assert line.destination_m == pytest.approx(15 * 4000 / 60 / 1.3 + 1, rel=1e-8)
    assert line.graph_m == 0.0
    net = scale.halo_radii(sc, network_mode=True, max_snap_m=250.0)
    assert net.destination_m == pytest.approx(1000 + 1, rel=1e-8)
    assert net.graph_m == pytest.approx(3 * (2000 / 3 + 1) + 250 + 1, rel=1e-8)
    three = scale.halo_radii(dataclasses.replace(sc, access_method="3sfca"), network_mode=False)
    assert three.destination_m == pytest.approx(3 * (10 * 4000 / 60 / 1.3 + 1), rel=1e-8)


def test_demand_owners_keep_linked_zones_together(region):
    zone_owner, school_owner = scale.demand_owners(region.inputs)
    links = region.inputs.zones["school_ids"].str.split(",").explode()
    for zone_id, school_id in links.items():
        assert zone_owner[zone_id] == school_owner[school_id]
    assert set(zone_owner) <= set(region.sigungu.index)


# --------------------------------------------------------------------------- engine: failures, scheduler address


#: What _flaky does; module-level so the in-process workers see the same dict (pickled by reference).
FAULT: dict = {"code": None, "times": 0, "attempts": 0}


def _flaky(region_, codes_, *args):
    if FAULT["code"] in codes_:
        FAULT["attempts"] += 1
        if FAULT["attempts"] <= FAULT["times"]:
            msg = f"deliberate failure {FAULT['attempts']}"
            raise InputDataError(msg)
    return REAL_ANALYSE(region_, codes_, *args)


REAL_ANALYSE = scale._analyse_partition


def _fail(monkeypatch, code: str, times: int) -> None:
    monkeypatch.setitem(FAULT, "code", code)
    monkeypatch.setitem(FAULT, "times", times)
    monkeypatch.setitem(FAULT, "attempts", 0)
    monkeypatch.setattr(scale, "_analyse_partition", _flaky)


@pytest.fixture(scope="module")
def threads():
    """In-process workers, so a monkeypatched task is the one that runs."""
    with (
        dask_distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as c,
        dask_distributed.Client(c) as cl,
    ):
        yield cl


def test_failed_partition_is_retried(region, threads, monkeypatch):
    _fail(monkeypatch, "99002", times=1)
    sc = dataclasses.replace(region.scenario, siting_sites=0)
    parted = scale.run_region(sc, region.inputs, client=threads, retries=1)
    assert FAULT["attempts"] == 2
    assert set(parted.partitions["sigungu_code"]) == set(region.sigungu.index)


def test_failing_partition_is_reported_by_name(region, threads, monkeypatch):
    _fail(monkeypatch, "99001", times=99)
    sc = dataclasses.replace(region.scenario, siting_sites=0)
    name = region.sigungu.loc["99001", "sigungu"]
    with pytest.raises(
        CareplanError, match=f"1 of 4 .*{name} \\(99001\\): InputDataError: deliberate failure 3"
    ):
        scale.run_region(sc, region.inputs, client=threads, retries=2)
    assert FAULT["attempts"] == 3


def test_scheduler_address(region, client):
    sc = dataclasses.replace(region.scenario, siting_sites=0)
    single = pipeline.analyse(sc, region.inputs)
    parted = scale.run_region(sc, region.inputs, scheduler=client.scheduler.address)
    idx = single.demand_points.index
    assert parted.coverage.covered.reindex(idx).equals(single.coverage.covered)
    np.testing.assert_allclose(
        parted.access.reindex(idx)["access"], single.access["access"], rtol=1e-9
    )
    assert parted.partitions["worker_pid"].nunique() >= 1


# --------------------------------------------------------------------------- the generator


def test_generated_region_layout():
    r = sample.generate_region(
        9,
        schools_per_sigungu=5,
        sigungu_km=2.0,
        dong_per_side=2,
        facilities_per_sigungu=20,
        border_share=0.5,
        seed=3,
    )
    inp = r.inputs
    assert len(r.sigungu) == 9 and len(inp.schools) == 45 and len(inp.admin_areas) == 36
    for layer in (inp.schools, inp.zones, inp.admin_areas, inp.facilities):
        assert layer["synthetic"].all() and layer.crs.to_epsg() == 5179 and layer.index.is_unique
    # 행정동 tile each 2 km square exactly; 학구 tile the whole region
    assert inp.admin_areas.area.sum() == pytest.approx(9 * 4e6)
    own = ~inp.zones["shared"]
    assert inp.zones[own].area.sum() == pytest.approx(9 * 4e6)
    # borders at multiples of 2 km: some facilities stand within 150 m of one
    fx, fy = inp.facilities.geometry.x - 900_000, inp.facilities.geometry.y - 1_800_000
    to_border = np.minimum(
        np.abs(fx - np.round(fx / 2000) * 2000), np.abs(fy - np.round(fy / 2000) * 2000)
    )
    assert (to_border <= 150).sum() >= 40
    pupils = (
        inp.schools[[f"pupils_g{g}" for g in range(1, 7)]].sum(axis=1)
        + inp.schools["pupils_special"]
    )
    np.testing.assert_array_equal(pupils, inp.schools["pupils_total"])
    assert math.isclose(
        sample.generate_region(9, seed=3).inputs.schools.geometry.x.iloc[7],
        sample.generate_region(9, seed=3).inputs.schools.geometry.x.iloc[7],
    )


# --------------------------------------------------------------------------- per-partition work stays per partition


def test_demand_notes_are_shared_not_copied(region):
    """pandas deep-copies attrs on every operation; the demand notes must be shared, read-only."""
    school_dem = demand.school_demand(region.inputs.schools)
    pts = demand.demand_points(
        school_dem, region.inputs.zones, region.inputs.admin_areas, cell_m=300.0
    )
    notes = pts.attrs["demand"]
    assert isinstance(notes, demand.DemandNotes)
    links = region.inputs.zones["school_ids"].str.split(",").explode()
    # the region-sized list that pandas used to copy on every operation
    assert len(notes["school_zone_split"]) == links.isin(school_dem.index).sum()
    for derived in (pts.iloc[:3], pts[["demand"]], pts.assign(x=1.0), pts.copy(deep=True)):
        assert derived.attrs["demand"] is notes
    assert copy.deepcopy(notes) is notes
    with pytest.raises(TypeError, match="read-only"):
        notes["cell_m"] = 50.0
    with pytest.raises(TypeError, match="read-only"):
        notes.update(cell_m=50.0)
    assert notes["cell_m"] == 300.0
    back = pickle.loads(pickle.dumps(notes))
    assert isinstance(back, demand.DemandNotes) and back == notes
    private = dict(notes)
    private["cell_m"] = 50.0  # a plain copy is the caller's to change
    assert notes["cell_m"] == 300.0


def test_band_index_equals_brute_force():
    rng = np.random.default_rng(5)
    xy = rng.uniform(0, 10_000, size=(3000, 2))
    core_xy = rng.uniform(4000, 5000, size=(40, 2))
    index = scale._BandIndex(xy)
    for radius in (0.0, 150.0, 900.0):
        got = index.near(scale.cKDTree(core_xy), core_xy, radius)
        dist = np.sqrt(((xy[:, None, :] - core_xy[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        np.testing.assert_array_equal(got, np.flatnonzero(dist <= radius))
    assert len(index.near(scale.cKDTree(core_xy), core_xy, 900.0)) > 100


def test_a_window_of_one_partition_gives_the_same_results(region, threads, monkeypatch):
    """Partitions submitted one at a time (the window refilled from results) change nothing."""
    monkeypatch.setattr(scale, "_in_flight", lambda client: 1)
    sc = dataclasses.replace(region.scenario, siting_sites=0)
    single = pipeline.analyse(sc, region.inputs)
    parted = scale.run_region(sc, region.inputs, client=threads)
    idx = single.demand_points.index
    assert set(parted.demand_points.index) == set(idx)
    # merged tables come back in the demand points' order (positions, not a label lookup)
    for table in (parted.access, parted.coverage.covered, parted.coverage.nearest_min):
        assert table.index.equals(parted.demand_points.index)
    assert parted.coverage.covered.reindex(idx).equals(single.coverage.covered)
    got = parted.access.reindex(idx)["access"]
    np.testing.assert_allclose(got, single.access["access"], rtol=1e-9)
    assert len(parted.partitions) == 4


# --------------------------------------------------------------------------- tasks: several 시군구 on one halo


def test_tasks_are_whole_compact_balanced_groups():
    r = sample.generate_region(16, schools_per_sigungu=4, sigungu_km=2.0, seed=5)
    admin = r.inputs.admin_areas
    codes = sorted(set(admin["sigungu_code"].astype(str)))
    weight = pd.Series(1.0, index=codes)
    # 6 tasks for one worker: 16 시군구 in strips of a 4 × 4 grid, 2–3 each, every one exactly once
    tasks = scale._tasks(admin, weight, n_workers=1)
    assert len(tasks) == 6
    assert sorted(c for t in tasks for c in t) == codes
    assert sorted(map(len, tasks)) == [2, 2, 3, 3, 3, 3]
    # compact: the squares of a task touch (edge or corner: neighbours differ by at most one grid step)
    box = r.sigungu.loc[codes, ["minx", "miny"]]
    cell = ((box - box.min()) / 2000.0).round().astype(int)
    for task in tasks:
        cells = {tuple(cell.loc[c]) for c in task}
        seen, todo = set(), [next(iter(cells))]
        while todo:
            x, y = todo.pop()
            seen.add((x, y))
            todo += [
                (x + dx, y + dy)
                for dx in (-1, 0, 1)
                for dy in (-1, 0, 1)
                if (x + dx, y + dy) in cells and (x + dx, y + dy) not in seen
            ]
        assert seen == cells, task
    # weights count: a heavy 시군구 gets a task of its own
    heavy = weight.copy()
    heavy[codes[5]] = 14.0
    assert (codes[5],) in scale._tasks(admin, heavy, n_workers=1)
    # at least one task per 시군구 when there are more tasks than 시군구
    assert scale._tasks(admin, weight, n_workers=3) == [(c,) for c in codes]


def test_several_sigungu_per_task_equal_single_process(region, client, monkeypatch):
    """Tasks of two 시군구 each (one halo around both) give the single-process numbers and
    still site each 시군구 on its own budget inside itself."""
    monkeypatch.setattr(scale, "_TASKS_PER_WORKER", 1)  # 2 workers → 2 tasks for 4 시군구
    # demand runs in 4 tasks of one 시군구 (12 per worker): not the access phase's grouping
    sc = region.scenario
    single = pipeline.analyse(sc, region.inputs)
    parted = scale.run_region(sc, region.inputs, client=client)
    stats = parted.partitions
    assert len(stats) == 4 and stats["task"].nunique() == 2
    assert (stats.groupby("task")["sigungu_code"].size() == 2).all()
    assert stats["core_points"].sum() == len(single.demand_points)
    idx = single.demand_points.index
    assert parted.coverage.covered.reindex(idx).equals(single.coverage.covered)
    np.testing.assert_allclose(
        parted.access.reindex(idx)["access"], single.access["access"], rtol=1e-9
    )
    for name in ("coverage_total", "coverage_by_zone", "coverage_by_adm"):
        a, b = getattr(single, name), getattr(parted, name)
        key = [c for c in a.columns if c in {"area", "zone_id", "adm_code", "slot", "kind"}]
        pd.testing.assert_frame_equal(
            b.sort_values(key).reset_index(drop=True),
            a.sort_values(key).reset_index(drop=True),
            rtol=1e-9,
            check_dtype=False,
        )
    per = parted.proposed.groupby(["sigungu_code", "kind"]).size()
    assert (per <= sc.siting_sites).all() and set(per.index.get_level_values(0)) == set(
        region.sigungu.index
    )
    _sites_inside_their_sigungu(region, parted.proposed)


def test_demand_task_returns_sort_key_and_core_owner(monkeypatch):
    """Each demand task works out its points' region order key and core 시군구."""
    pts = gpd.GeoDataFrame(
        {"zone_id": ["Z2", None, "Z1", None], "adm_code": ["A1", "A2", None, None]},
        index=["Z2_a", "S9_school", "Z1_a", "S8_school"],
        geometry=gpd.points_from_xy([0, 1, 2, 3], [0, 0, 0, 0]),
    )
    monkeypatch.setattr(scale.demand, "demand_points", lambda *a, **k: pts)
    admin = pd.DataFrame({"sigungu_index": [0, 1]}, index=["A1", "A2"])
    owners = (
        pd.Series({"Z1": 5, "Z2": 7}),
        10,
        pd.Series({"Z1": 1, "Z2": 0}),
        pd.Series({"S9": 0}),
    )
    frame, caught, key, owner, xy = scale._demand_task(None, None, admin, 100.0, owners)
    # columns without geometry, plus exact coordinates (cheaper to ship than WKB)
    pd.testing.assert_frame_equal(frame, pd.DataFrame(pts.drop(columns="geometry")))
    np.testing.assert_array_equal(xy, [[0, 0], [1, 0], [2, 0], [3, 0]])
    assert caught == []
    # 학구 position in the region; points without 학구 sort last (= number of 학구)
    np.testing.assert_array_equal(key, [7, 10, 5, 10])
    # 행정동's 시군구 first; outside every 행정동: the zone's owner; unknown: -1 (nearest 행정동 later)
    np.testing.assert_array_equal(owner, [0, 1, 1, -1])


def test_local_cluster_workers_run_without_profiler(client):
    import dask

    settings = client.run(
        lambda: (
            dask.config.get("distributed.worker.profile.enabled"),
            dask.config.get("distributed.admin.tick.interval"),
        )
    )
    assert len(settings) == 2
    assert set(settings.values()) == {(False, "500ms")}
    # results come straight from the workers, not through the scheduler in the client's process
    assert client.direct_to_workers is True


class _Chain:
    """A run of two jobs: the second is made from the first's result; two pieces of spare work."""

    def __init__(self, first):
        self.first, self.results, self.spare, self.queue = first, {}, [], [first]

    def totals(self):
        return {"demand": 1, "access": 1}

    def counts(self):
        return {"demand": 1, "access": 1}

    def next_job(self):
        return self.queue.pop() if self.queue else None

    def spare_time(self):
        if len(self.spare) < 2:
            self.spare.append(len(self.spare))
            return True
        return False

    def finished(self, job, future, held):
        assert held is future  # no fetch: the client gets the result itself
        self.results[job.task] = future.result()
        if job.desc == "demand":
            self.queue.append(scale._Job("access", ("b",), 0, lambda x: x + 1, (), (future,)))


class _Fetching(_Chain):
    def finished(self, job, future, held):
        self.results[job.task] = (future.result(), held.result())


def test_a_fetched_job_hands_the_client_what_it_fetches_and_keeps_the_result(threads):
    """A job with ``fetch``: the client is handed fetch(result); the result itself stays held."""
    run = _Fetching(scale._Job("access", ("a",), 0, lambda n: list(range(n)), (5,), fetch=len))
    scale._run_jobs(threads, run, {}, retries=0, progress=False)
    assert run.results == {("a",): (5, [0, 1, 2, 3, 4])}


#: Values of the _Revived unpickled in this process (the client's, which also runs the scheduler).
UNPICKLED: list = []


class _Revived:
    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return _revive, (self.value,)


def _revive(value):
    UNPICKLED.append(value)
    return _Revived(value)


def test_a_jobs_inputs_are_unpickled_only_on_the_worker():
    """The scheduler, in the client's process, passes a job's inputs on as bytes: unpickling
    them there (every GeoDataFrame from WKB) and pickling them again for the worker cost the
    client's process more CPU than the tasks' own submission."""
    UNPICKLED.clear()
    run = _Chain(scale._Job("demand", ("a",), 0, lambda r: 2 * r.value, (_Revived(21),)))
    with scale.local_client(1, memory_limit="1GiB") as client:
        scale._run_jobs(client, run, {}, retries=0, progress=False)
    assert run.results == {("a",): 42, ("b",): 43}
    assert UNPICKLED == []  # the worker process unpickled it (else the task had failed)


def test_local_client_does_not_warn_when_the_dashboard_port_is_taken():
    """Another Dask cluster (a notebook's) usually holds port 8787."""
    with socket.socket() as taken:
        with contextlib.suppress(OSError):  # already taken by something else: just as good
            taken.bind(("127.0.0.1", 8787))
            taken.listen()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with scale.local_client(1, memory_limit="1GiB") as client:
                assert client.submit(sum, [1, 2]).result() == 3
    assert [str(w.message) for w in caught if "already in use" in str(w.message)] == []


def test_a_failed_task_leaves_no_worker_traceback_on_stderr():
    """The failure reaches the client as its exception (one sentence in the CLI); the worker
    processes' own "Compute Failed" logs would put tracebacks on the planner's console."""
    script = (
        "from careplan import scale\n"
        "def boom(x):\n    raise ValueError('bad partition')\n"
        "if __name__ == '__main__':\n"
        "    with scale.local_client(1, memory_limit='1GiB') as client:\n"
        "        try:\n            client.submit(boom, 1).result()\n"
        "        except ValueError as exc:\n            print('caught', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "caught bad partition"
    assert "Compute Failed" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_jobs_become_ready_from_results_and_spare_work_runs_once(threads):
    run = _Chain(scale._Job("demand", ("a",), 0, lambda x: 2 * x, (21,)))
    scale._run_jobs(threads, run, {}, retries=0, progress=False)
    # (21 * 2) + 1, the second job taking the first's future as its input
    assert run.results == {("a",): 42, ("b",): 43}
    assert run.spare == [0, 1]


def test_a_failed_job_is_named_and_what_needed_it_does_not_run(threads):
    def broken(x):
        raise InputDataError(f"bad row {x}")

    run = _Chain(scale._Job("demand", ("99001",), 0, broken, (7,)))
    with pytest.raises(
        CareplanError,
        match=r"1 of 1 partition tasks failed in the demand phase after their retries: "
        r"구 \(99001\): InputDataError: bad row 7\. .*needed the failed demand did not run",
    ):
        scale._run_jobs(threads, run, {"99001": "구"}, retries=0, progress=False)
    assert run.results == {}


def _region_run(region, client):
    sc = dataclasses.replace(region.scenario, siting_sites=0)
    prepared = (
        scale._Deferred(lambda: None),
        scale._Deferred(pipeline.site_candidates, sc, region.inputs),
        scale._Deferred(scale._located, region.inputs),
    )
    return scale._RegionRun(
        client,
        sc,
        region.inputs,
        demand.school_demand(region.inputs.schools),
        scale.demand_owners(region.inputs),
        prepared,
        scale.halo_radii(sc, network_mode=False),
        {},
        retries=0,
    )


@pytest.fixture()
def grid_run(threads, monkeypatch):
    """16 시군구 in 16 demand tasks and 4 access tasks, demand computed here (no Dask)."""
    monkeypatch.setattr(scale, "_TASKS_PER_WORKER", 2)
    monkeypatch.setattr(scale, "_DEMAND_TASKS_PER_WORKER", 8)
    r = sample.generate_region(16, schools_per_sigungu=4, sigungu_km=2.0, seed=5, cell_m=150.0)
    run = _region_run(r, threads)
    assert (len(run.demand_jobs), len(run.access_jobs)) == (16, 4)
    results = [scale._demand_task(*run._demand_args(task)) for task in run.demand_jobs]
    return run, results


def test_access_tasks_are_ready_once_the_demand_they_need_is_in(grid_run):
    run, results = grid_run
    # brute force: the demand tasks holding an access task's core points or points within the
    # halo radius of them
    xy = np.concatenate([r[4] for r in results])
    source = np.repeat(np.arange(len(results)), [len(r[4]) for r in results])
    owner = np.asarray(run.codes, dtype=object)[np.concatenate([r[3] for r in results])]
    needs = []
    for task in run.access_jobs:
        core = np.isin(owner, task)
        dist, _ = scale.cKDTree(xy[core]).query(xy, distance_upper_bound=run.radii.demand_m)
        needs.append(set(source[core | np.isfinite(dist)]))
    ready_after = {}
    for d, result in enumerate(results):
        run._add_demand(d, result)
        for i in run._ready:
            ready_after.setdefault(i, d)
    assert sorted(ready_after) == [0, 1, 2, 3]
    for i, d in ready_after.items():
        assert needs[i] <= set(range(d + 1)), (i, d)
    # pipelined: some access task is ready before the last demand result is in ...
    assert min(ready_after.values()) < len(results) - 1
    # ... and not sooner than its brute-force needs allow (the gate is not trivially late either)
    assert min(ready_after.values()) == min(max(n) for n in needs)


def test_a_demand_result_outside_its_box_stops_the_run(grid_run):
    """The boxes that gate the access tasks are checked: a wrong one is an error, never a
    silently short halo."""
    run, results = grid_run
    run.demand_box[:] = [-9e9, -9e9, -9e9 + 1, -9e9 + 1]  # as if every 학구 lay far away
    with pytest.raises(CareplanError, match="careplan bug"):
        for d, result in enumerate(results):
            run._add_demand(d, result)


def test_points_far_from_the_network_are_warned_once_for_the_region(region, client):
    """With the streets of a 700 m strip removed, the region run names the far points in one
    warning per side (origins, destinations), with the single process's counts."""
    graph = region.graph.copy()
    west = min(x for _, x in graph.nodes(data="x")) + 700.0
    graph.remove_nodes_from([n for n, x in graph.nodes(data="x") if x < west])
    sc = dataclasses.replace(region.scenario, siting_sites=0)

    def far_warnings(run):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run()
        far = [w for w in caught if "walk network" in str(w.message)]
        if run is not single_run:  # a region run's warnings point at the line that called it
            assert {w.filename for w in far} == {__file__}
        return result, [str(w.message) for w in far]

    def single_run():
        return pipeline.analyse(sc, region.inputs, graph=graph)

    one_run, single = far_warnings(single_run)
    region_run, parted = far_warnings(
        lambda: scale.run_region(sc, region.inputs, graph=graph, client=client)
    )
    # the points without network times are the same, and so is every number
    idx = one_run.demand_points.index
    assert region_run.coverage.covered.reindex(idx).equals(one_run.coverage.covered)
    np.testing.assert_allclose(
        region_run.access.reindex(idx)["access"], one_run.access["access"], rtol=1e-9
    )
    assert len(single) == 2 and len(parted) == 2  # the strip spans two 시군구: one warning, not two
    for side in ("origins", "destinations"):
        (one,) = [m for m in single if f" {side} are" in m]
        (many,) = [m for m in parted if f" {side} are" in m]
        assert one.split(" are ")[0] == many.split(" are ")[0]  # "K of N origins"
        assert int(one.split(" of ")[0]) > 0
    dest = [m for m in single if " destinations are" in m]
    assert dest == [m for m in parted if " destinations are" in m]  # same distances named


def test_a_graph_in_degrees_is_refused_with_the_fix(region, threads):
    """The walk graph is converted while demand runs; a bad one still stops the run with its error."""
    graph = region.graph.copy()
    graph.graph["crs"] = "EPSG:4326"
    sc = dataclasses.replace(region.scenario, siting_sites=0)
    with pytest.raises(CRSError, match="must be projected"):
        scale.run_region(sc, region.inputs, graph=graph, client=threads)

"""The ``careplan`` commands through typer's CliRunner: outputs' contents and error exits.

``tests/test_pipeline.py`` already checks that ``demo`` writes the public map, that
``check`` reads the sample schools and refuses an HTML page, and that ``run`` exits 2
for a missing scenario or bad ``grade_rates``; this file covers the rest.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from jinja2.utils import htmlsafe_json_dumps
from typer.testing import CliRunner

from careplan import maps, network, pipeline, runfolder, sample
from careplan._errors import SettingsError
from careplan.cli import app
from careplan.maps.compare import run_counts

runner = CliRunner()
SAMPLE = sample.sample_dir()
NAME_B = "가온구 B (지역아동센터 제외)"


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def write_scenario(
    path: Path, *, drop: str | None = None, name: str | None = None, walk_min: int | None = None
) -> Path:
    """The sample scenario with absolute paths, optionally without one facility file."""
    text = (SAMPLE / "scenario.toml").read_text(encoding="utf-8")
    text = text.replace('dir = "."', f'dir = "{SAMPLE.as_posix()}"')
    if drop:
        text = "\n".join(line for line in text.splitlines() if drop not in line)
    if name:
        text = re.sub(r'^name = ".*"$', f'name = "{name}"', text, count=1, flags=re.MULTILINE)
    if walk_min:
        text = text.replace("max_walk_min = 10 ", f"max_walk_min = {walk_min} ")
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scenarios")
    return {
        "A": write_scenario(folder / "a.toml"),
        "B": write_scenario(folder / "b.toml", drop="local_child_centers.csv", name=NAME_B),
    }


@pytest.fixture(scope="module")
def results(scenarios):
    return {tag: pipeline.run(pipeline.load_scenario(path)) for tag, path in scenarios.items()}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo"
    result = invoke("demo", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def summary_values(frame: pd.DataFrame) -> dict[str, float]:
    return dict(zip(frame["지표"], frame["값"].astype(float), strict=True))


# ---------------------------------------------------------------- demo / run


def test_demo_prints_and_writes_the_sample_summary(demo_dir, results):
    expected = summary_values(results["A"].summary())
    written = summary_values(pd.read_csv(demo_dir / "summary_확인지표.csv", encoding="utf-8-sig"))
    assert written == pytest.approx(expected)
    assert written["돌봄시설 수"] == 16 and written["초등학교 수"] == 8
    report = (demo_dir / "report.md").read_text(encoding="utf-8")
    assert "가상 데이터" in report and f"{expected['접근성 지니계수']:.3f}" in report


def test_run_writes_the_scenario_it_was_given(scenarios, results, tmp_path):
    result = invoke("run", scenarios["B"], "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "가상 데이터" in result.stdout and "도보 네트워크" in result.stdout
    facilities = pd.read_csv(tmp_path / "b" / "facilities.csv", encoding="utf-8-sig")
    assert len(facilities) == len(results["B"].facilities) == 36 - 7
    assert "local_child_center" not in set(facilities["kind"])
    written = summary_values(
        pd.read_csv(tmp_path / "b" / "summary_확인지표.csv", encoding="utf-8-sig")
    )
    assert written == pytest.approx(summary_values(results["B"].summary()))
    assert (tmp_path / "b" / "report.md").read_text(encoding="utf-8").startswith(f"# {NAME_B} — ")


def test_run_refuses_a_bad_toml_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data\nschools = "schools.csv"\n', encoding="utf-8")
    result = invoke("run", bad, "--out", tmp_path / "o", "-q")
    assert result.exit_code == 2
    assert error_lines(result) == [error_lines(result)[0]]
    assert error_lines(result)[0].startswith("오류 error: bad.toml is not valid TOML")
    assert not (tmp_path / "o").exists()


def test_run_refuses_an_unusable_input_file(tmp_path):
    # a portal's error page saved as the 학교 CSV (a common download accident)
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    (folder / "schools.csv").write_text(
        "<html><body>서비스 점검 중</body></html>", encoding="utf-8"
    )
    scenario = tmp_path / "s.toml"
    scenario.write_text((SAMPLE / "scenario.toml").read_text(encoding="utf-8"), encoding="utf-8")
    result = invoke("run", scenario, "--data-dir", folder, "--out", tmp_path / "o", "-q")
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("오류 error:") and "HTML" in lines[0], lines
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- check


def test_check_lists_the_rejected_row_with_its_reason(tmp_path):
    rows = list(csv.reader((SAMPLE / "kium_centers.csv").open(encoding="utf-8-sig")))
    rows[3][8], rows[3][9] = "abc", ""  # data row 3
    bad = tmp_path / "kium.csv"
    with bad.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    result = invoke("check", bad, "--rows")
    assert result.exit_code == 0, result.output
    assert f"읽음 read {len(rows) - 1} · 유지 kept {len(rows) - 2}" in result.stdout
    assert re.search(r"^\s*3\s+rejected\s+좌표가 숫자가 아님", result.stdout, flags=re.MULTILINE)
    for row in rows[1:]:
        row[8] = "x"
    with bad.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    result = invoke("check", bad)
    assert result.exit_code == 2
    assert error_lines(result) == ["오류 error: no usable rows — nothing in this file can be used."]


# ---------------------------------------------------------------- compare


def layer_name(html: str, name: str) -> bool:
    """Folium writes layer-control names as JSON (non-ASCII escaped)."""
    return json.dumps(name) in html


def test_compare_writes_table_and_map(scenarios, results, tmp_path):
    a, b = results["A"], results["B"]
    out = tmp_path / "cmp"
    result = invoke("compare", scenarios["A"], scenarios["B"], "--out", out, "-q")
    assert result.exit_code == 0, result.output
    raw = (out / "compare_확인지표.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(out / "compare_확인지표.csv", encoding="utf-8-sig").set_index("지표")
    col_a, col_b = f"A: {a.scenario.name}", f"B: {NAME_B}"
    assert list(table.columns) == [col_a, col_b, "차이 (B − A)"]
    for tag, col in (("A", col_a), ("B", col_b)):
        expected = results[tag].summary().set_index("지표")["값"]
        assert table[col].to_numpy() == pytest.approx(expected.reindex(table.index).to_numpy())
    cov = "도보권 안 수요 비율 (학기 18시, %)"
    assert table.loc[cov, col_a] == pytest.approx(run_counts(a).coverage_pct)
    assert table.loc[cov, col_b] == pytest.approx(run_counts(b).coverage_pct)
    assert table.loc["돌봄시설 수", "차이 (B − A)"] == -7

    html = (out / "compare_map.html").read_text(encoding="utf-8")
    ca, cb = run_counts(a), run_counts(b)
    assert (ca.facilities, cb.facilities) == (16, 9)
    assert layer_name(html, "A · 돌봄시설 (16)") and layer_name(html, "B · 돌봄시설 (9)")
    assert layer_name(html, "A에만 있는 시설 (7, B에는 없음)")
    assert not layer_name(html, "B에만 있는 시설 (0, A에는 없음)")  # nothing only in B: no layer
    outside_a = (
        f"A · 도보권 밖 수요 ({ca.uncovered_points:,}곳, {ca.demand - ca.covered_demand:,.1f}명)"
    )
    assert layer_name(html, outside_a)
    assert f"<td>{ca.coverage_pct:.1f}%</td><td>{cb.coverage_pct:.1f}%</td>" in html
    assert f"<b>A</b> = {a.scenario.name}" in html and f"<b>B</b> = {NAME_B}" in html
    assert "가상 데이터 (synthetic)" in html and "OpenStreetMap contributors" in html
    assert "왼쪽 A · 오른쪽 B" in html and ".sync(" in html  # the default dual layout


def test_compare_refuses_a_missing_scenario(scenarios, tmp_path):
    result = invoke(
        "compare", scenarios["A"], tmp_path / "nope.toml", "--out", tmp_path / "o", "-q"
    )
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"오류 error: 시나리오 파일 (scenario file) {tmp_path / 'nope.toml'} does not exist (파일이 없습니다); "
        "check the path"
    ]
    assert not (tmp_path / "o").exists()


def test_compare_map_overlay_counts_escaping_and_walk_minutes(results, tmp_path):
    a = results["A"]
    b = dataclasses.replace(
        results["B"],
        scenario=dataclasses.replace(results["B"].scenario, name="B <script>alert(1)</script>"),
    )
    m = maps.compare_map(a, b, layout="overlay", title="비교 <b>")
    html = maps.save_compare_map(m, tmp_path / "c.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "B &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "비교 &lt;b&gt;" in html
    # both runs on one map, each run's proposed sites counted
    assert layer_name(html, f"A · 제안 입지 ({len(a.proposed)})")
    assert layer_name(html, f"B · 제안 입지 ({len(b.proposed)})")
    assert layer_name(html, "A · 돌봄시설 (16)") and layer_name(html, "B · 돌봄시설 (9)")
    assert ".sync(" not in html
    again = maps.save_compare_map(
        maps.compare_map(a, b, layout="overlay", title="비교 <b>"), tmp_path / "d.html"
    ).read_bytes()
    assert again == (tmp_path / "c.html").read_bytes()  # deterministic page
    with pytest.raises(SettingsError, match="slot '밤 23시' is not in run"):
        maps.compare_map(a, b, slot="밤 23시")


# ---------------------------------------------------------------- map


def edit_facilities(gpkg: Path) -> gpd.GeoDataFrame:
    """What a city does in QGIS: close one centre, rename another, add a new one."""
    fac = gpd.read_file(gpkg, layer="facilities")
    kium = fac.index[fac["kind"] == "kium_general"]
    fac = fac.drop(index=kium[0])
    fac.loc[kium[1], "name"] = "새이름 <키움> 센터"
    new = fac.loc[[kium[2]]].copy()
    new["facility_id"] = "F90001"
    new["name"] = "신설 다함께돌봄센터"
    new["kind"] = "dahamkke"
    new["geometry"] = new.geometry.translate(150, 150)
    fac = pd.concat([fac, new], ignore_index=True)
    pyogrio.write_dataframe(fac, gpkg, layer="facilities", driver="GPKG")
    return fac


def test_map_remakes_public_map_from_the_edited_geopackage(demo_dir, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(demo_dir, run_dir)
    fac = edit_facilities(run_dir / "careplan.gpkg")
    planner_before = (run_dir / "planner_map.html").read_bytes()
    result = invoke("map", run_dir, "--public", "--title", "가온구 돌봄지도 (수정)")
    assert result.exit_code == 0, result.output
    assert (run_dir / "planner_map.html").read_bytes() == planner_before  # --public only
    text = (run_dir / "public_map" / "data.js").read_text(encoding="utf-8")
    data = json.loads(text[text.index("{") : text.rstrip().rstrip(";").rindex("}") + 1])
    assert sorted(f["name"] for f in data["facilities"]) == sorted(fac["name"])  # 36 − 1 + 1
    assert len(data["facilities"]) == 36
    names = {f["id"]: f["name"] for f in data["facilities"]}
    assert names["F90001"] == "신설 다함께돌봄센터"
    assert "새이름 <키움> 센터" in names.values()  # kept as data: the page escapes it when drawing
    assert data["meta"]["title"] == "가온구 돌봄지도 (수정)" and data["meta"]["synthetic"] is True
    assert data["meta"]["data_date"] == "2025-05-31"
    # no staging left behind; .careplan.json is the run's marker (careplan.outfolder)
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == [".careplan.json"]


def test_map_planner_only_into_another_folder(demo_dir, tmp_path):
    out = tmp_path / "maps"
    result = invoke("map", demo_dir, "--planner", "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [".careplan.json", "planner_map.html"]
    html = (out / "planner_map.html").read_text(encoding="utf-8")
    run = runfolder.read_run_folder(demo_dir)
    assert (
        run.max_walk_min == 10
        and run.distance_method_label == "도보 네트워크 경로 (보행속도 4 km/h)"
    )
    assert "도보 네트워크 경로 (보행속도 4 km/h)" in html and "가상 데이터 (synthetic)" in html
    kium = int((run.layers["facilities"]["kind"] == "kium_general").sum())
    assert layer_name(html, f"시설: 우리동네키움센터(일반형) ({kium})")
    proposed = len(run.layers["proposed_sites"])
    assert proposed > 0 and layer_name(html, f"제안 입지 (proposed, {proposed})")
    # coverage choropleths depend on walk times an edit makes stale: left out (documented)
    assert not layer_name(html, "학구: 돌봄 충족률 (%)")
    assert layer_name(html, "학구: 돌봄 충족률 (%)") != (
        layer_name(
            (demo_dir / "planner_map.html").read_text(encoding="utf-8"), "학구: 돌봄 충족률 (%)"
        )
    )


def test_map_errors_exit_2_with_one_line(demo_dir, tmp_path):
    result = invoke("map", tmp_path / "missing")
    assert result.exit_code == 2
    assert error_lines(result) == [
        f"오류 error: run folder {tmp_path / 'missing'} does not exist; pass a "
        "folder written by `careplan run` or `careplan demo`"
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("map", empty)
    assert result.exit_code == 2 and "has no careplan.gpkg" in result.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    schools = gpd.read_file(demo_dir / "careplan.gpkg", layer="schools")
    pyogrio.write_dataframe(schools, broken / "careplan.gpkg", layer="schools", driver="GPKG")
    result = invoke("map", broken)
    lines = error_lines(result)
    assert result.exit_code == 2 and len(lines) == 1
    assert "lacks layer(s) ['facilities', 'school_zones']" in lines[0]
    dup = tmp_path / "dup"
    shutil.copytree(demo_dir, dup)
    fac = gpd.read_file(dup / "careplan.gpkg", layer="facilities")
    fac.loc[1, "facility_id"] = fac.loc[0, "facility_id"]
    pyogrio.write_dataframe(fac, dup / "careplan.gpkg", layer="facilities", driver="GPKG")
    result = invoke("map", dup)
    assert (
        result.exit_code == 2
        and "2 row(s) with an empty or repeated facility_id (rows [1, 2])" in result.stderr
    )


# ---------------------------------------------------------------- real 구로구 data


@pytest.mark.shared
@pytest.mark.slow  # two real-data runs and their maps (~20–40 s)
def test_guro_compare_and_map_on_real_data(korea, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    guro = repo / "examples" / "guro.toml"
    text = guro.read_text(encoding="utf-8")
    without = "\n".join(line for line in text.splitlines() if "지역아동센터.csv" not in line)
    b = tmp_path / "guro_b.toml"
    b.write_text(
        without.replace('name = "서울특별시 구로구"', 'name = "구로구 지역아동센터 제외"'), "utf-8"
    )
    check = invoke("check", korea / "facilities" / "지역아동센터.csv", "--sigungu", "구로구")
    local = int(re.search(r"유지 kept (\d+)", check.stdout).group(1))
    assert local == 24

    out = tmp_path / "cmp"
    result = invoke("compare", guro, b, "--data-dir", korea, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "compare_확인지표.csv", encoding="utf-8-sig").set_index("지표")
    counts = table.loc["돌봄시설 수"].to_numpy()
    assert list(counts) == [43, 43 - local, -local]
    html = (out / "compare_map.html").read_text(encoding="utf-8")
    assert layer_name(html, "A · 돌봄시설 (43)") and layer_name(
        html, f"B · 돌봄시설 ({43 - local})"
    )
    assert layer_name(html, f"A에만 있는 시설 ({local}, B에는 없음)")
    cov = table.loc["도보권 안 수요 비율 (학기 18시, %)"]
    assert f"<td>{cov.iloc[0]:.1f}%</td><td>{cov.iloc[1]:.1f}%</td>" in html
    assert "가상 데이터" not in html and "직선거리" in html

    run_dir = tmp_path / "guro"
    result = invoke("run", guro, "--data-dir", korea, "--out", run_dir, "-q")
    assert result.exit_code == 0, result.output
    result = invoke("map", run_dir, "--out", tmp_path / "maps")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "maps" / "public_map" / "data.js").read_text(encoding="utf-8")
    data = json.loads(text[text.index("{") : text.rstrip().rstrip(";").rindex("}") + 1])
    fac = gpd.read_file(run_dir / "careplan.gpkg", layer="facilities")
    assert len(data["facilities"]) == int((fac["status"].isna() | (fac["status"] == "정상")).sum())
    text_cols = [c for c in fac.columns if c != "geometry" and not pd.api.types.is_numeric_dtype(fac[c])]
    assert not (fac[text_cols] == "nan").any().any()  # missing values stay NULL in the GeoPackage
    assert data["meta"]["synthetic"] is False and data["meta"]["data_date"] == fac["data_date"].dropna().max()
    planner = (tmp_path / "maps" / "planner_map.html").read_text(encoding="utf-8")
    assert "직선거리 × 우회계수 1.3" in planner and "가상 데이터" not in planner


def test_region_on_one_sigungu_equals_run(scenarios, results, tmp_path):
    """`careplan region` on a real Dask LocalCluster: one 시군구 partition gives the single-process numbers."""
    out = tmp_path / "region"
    result = invoke("region", scenarios["A"], "--workers", "1", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(out / "summary.csv", encoding="utf-8-sig", dtype={"시군구 코드": str}).set_index("시군구")
    single = results["A"]
    slot = single.scenario.siting_slot
    total = single.coverage_total.set_index(["slot", "kind"]).loc[(slot, "all")]
    row = summary.loc["가온구"]
    assert row["돌봄 수요 (명)"] == pytest.approx(single.demand_points["demand"].sum(), rel=1e-12)
    assert row["도보권 안 수요"] == pytest.approx(total["covered_demand"], rel=1e-12)
    assert row["미충족 수요 (정원 기준)"] == pytest.approx(single.access["unmet_demand"].sum(), rel=1e-9)
    assert row["제안 입지 수"] == len(single.proposed)
    assert row["제안 입지로 늘어나는 도보권 수요"] == pytest.approx(single.proposed["marginal_gain"].sum(), rel=1e-9)
    assert summary.loc["합계", "도보권 안 수요"] == pytest.approx(row["도보권 안 수요"])
    # the QGIS layers: the 시군구 polygon (its 행정동 dissolved) with the summary, and the proposed sites
    layer = gpd.read_file(out / "region.gpkg", layer="sigungu_summary")
    assert list(layer["sigungu"]) == ["가온구"] and layer.crs.to_epsg() == 5179
    admin = gpd.read_file(SAMPLE / "admin_areas.geojson").to_crs(5179)
    assert layer.area.iloc[0] == pytest.approx(admin.area.sum(), rel=1e-6)
    assert layer["covered_demand"].iloc[0] == pytest.approx(row["도보권 안 수요"], rel=1e-12)
    sites = gpd.read_file(out / "region.gpkg", layer="proposed_sites")
    assert len(sites) == row["제안 입지 수"]


def test_region_without_points_writes_the_same_tables(scenarios, results, tmp_path):
    """`--no-points`: the same 시군구 summary and coverage tables; the points with their access come
    from the workers' GeoParquet files instead of access.csv."""
    result = invoke("region", scenarios["A"], "--workers", "1", "--no-points", "--out", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "access.csv").exists()
    points = pd.concat([gpd.read_parquet(f) for f in (tmp_path / "points").glob("points-*.parquet")])
    assert len(points) == len(results["A"].demand_points)
    assert points["access"].sum() == pytest.approx(results["A"].access["access"].sum(), rel=1e-9)
    summary = pd.read_csv(tmp_path / "summary.csv", encoding="utf-8-sig").set_index("시군구")
    single = results["A"]
    assert summary.loc["가온구", "미충족 수요 (정원 기준)"] == pytest.approx(
        single.access["unmet_demand"].sum(), rel=1e-9
    )
    by_zone = pd.read_csv(tmp_path / "coverage_by_zone.csv", encoding="utf-8-sig", dtype={"zone_id": str})
    expected = single.coverage_by_zone.sort_values(["zone_id", "slot", "kind"])
    got = by_zone.sort_values(["zone_id", "slot", "kind"])
    np.testing.assert_allclose(got["covered_demand"], expected["covered_demand"], rtol=1e-9)


def test_network_saves_a_walk_graph_that_runs_load(tmp_path):
    graphml = network.save_graph(
        network.add_walk_minutes(network.synthetic_walk_graph(n_nodes_target=300, seed=1)), tmp_path / "walk.graphml"
    )
    res = invoke("network", graphml, tmp_path / "out" / "walk.npz")
    assert res.exit_code == 0, res.output
    expected = network.walk_graph(network.load_graph(graphml))
    assert f"{expected.n_nodes:,} nodes, {expected.n_edges:,} edges" in res.output
    loaded = network.load_graph(tmp_path / "out" / "walk.npz")
    assert (loaded.adjacency != expected.adjacency).nnz == 0 and loaded.node_ids.equals(expected.node_ids)
    bad = invoke("network", graphml, tmp_path / "walk.txt")
    assert bad.exit_code == 2 and error_lines(bad) == [
        "오류 error: OUT must be a file name ending in .npz, got 'walk.txt'; e.g. walk.npz"]


def test_region_with_a_dead_scheduler_exits_2(scenarios):
    result = invoke("region", scenarios["A"], "--scheduler", "tcp://127.0.0.1:9", "-q")
    assert result.exit_code == 2 and len(error_lines(result)) == 1, result.output


# ---------------------------------------------------------------- the scenario's catalog on its maps


def test_catalog_labels_of_the_scenario_reach_every_map(tmp_path):
    """A [catalog] label override shows on the planner and public maps, and after `careplan map`."""
    label = "구 지정 돌봄센터 {{ 7*7 }}"
    scenario = write_scenario(tmp_path / "s.toml")
    with scenario.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[catalog.kium_general]\nlabel_ko = "{label}"\n')
    out = tmp_path / "run"
    result = invoke("run", scenario, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    kium = int((gpd.read_file(out / "careplan.gpkg", layer="facilities")["kind"] == "kium_general").sum())
    shown = htmlsafe_json_dumps(f"시설: {maps.escape_text(label)} ({kium})")  # as the layer control
    assert shown in (out / "planner_map.html").read_text("utf-8")
    text = (out / "public_map" / "data.js").read_text("utf-8")
    data = json.loads(text[text.index("{") : text.rstrip().rstrip(";").rindex("}") + 1])
    assert data["kinds"]["kium_general"]["label"] == label
    again = tmp_path / "again"
    assert invoke("map", out, "--planner", "--out", again).exit_code == 0
    assert shown in (again / "planner_map.html").read_text("utf-8")


def test_map_refuses_a_damaged_run_json(demo_dir, tmp_path):
    for damage in ("{not json", "[1, 2]", '{"max_walk_min": "10"}', '{"catalog": {"kium_general": 5}}'):
        run = tmp_path / f"run{len(damage)}"
        shutil.copytree(demo_dir, run)
        (run / "run.json").write_text(damage, encoding="utf-8")
        result = invoke("map", run, "--out", tmp_path / f"maps{len(damage)}")
        lines = error_lines(result)
        assert result.exit_code == 2 and len(lines) == 1, (damage, result.output)
        assert "run.json" in lines[0] and "re-run the scenario" in lines[0]


def test_control_characters_from_files_are_shown_not_obeyed(tmp_path, capsys):
    """An ESC sequence in a file's text could rewrite the planner's console: it is printed escaped."""
    esc = "\x1b[2J\x1b[31m"
    bad = tmp_path / f"x{esc}.csv"
    bad.write_bytes(b"")  # empty: the error sentence names the file
    result = invoke("check", bad)
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "x\\x1b[2J\\x1b[31m.csv" in result.stderr
    from careplan.cli import _say

    _say(f"이름 {esc}\x9b31m\tA\nB")
    assert capsys.readouterr().out == "이름 \\x1b[2J\\x1b[31m\\x9b31m\tA\nB\n"  # tab, newline kept

"""End to end: scenario files, the pipeline, outputs, the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from careplan import candidates, pipeline, report, sample
from careplan._errors import SettingsError
from careplan.cli import app

REPO = Path(__file__).resolve().parents[1]
RATES = [0.35, 0.35, 0.25, 0.25, 0.12, 0.12]
runner = CliRunner()


def expected_demand(schools: pd.DataFrame) -> float:
    grades = sum(schools[f"pupils_g{g}"] * RATES[g - 1] for g in range(1, 7))
    return float((grades + schools["pupils_special"] * 0.24).sum())


@pytest.fixture(scope="module")
def sample_result():
    return pipeline.run(pipeline.load_scenario(sample.sample_dir() / "scenario.toml"))


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sample_run_numbers(sample_result):
    r = sample_result
    assert r.synthetic and r.times.distance_method == "network"
    assert r.demand_points["demand"].sum() == pytest.approx(expected_demand(r.schools), abs=1e-6)
    summary = r.summary().set_index("지표")["값"]
    assert summary["초등학교 수"] == len(r.schools) == 8
    covered = r.coverage.covered[("학기 18시", "all")]
    share = 100 * r.demand_points.loc[covered[covered].index, "demand"].sum() / r.demand_points["demand"].sum()
    assert summary["도보권 안 수요 비율 (학기 18시, %)"] == pytest.approx(share)
    # later slots can only lose facilities that close earlier
    total = r.coverage_total[r.coverage_total["kind"] == "all"].set_index("slot")["coverage_pct"]
    assert total["학기 22시"] <= total["학기 20시"] <= total["학기 18시"]


def test_outputs_are_complete_deterministic_and_excel_friendly(sample_result, tmp_path):
    first = report.write_outputs(sample_result, tmp_path / "a")
    again = report.write_outputs(pipeline.run(sample_result.scenario), tmp_path / "b")
    assert digest(first) == digest(again)
    for name in ("careplan.gpkg", "planner_map.html", "public_map/index.html", "report.md", "report.html",
                 "coverage_by_slot.csv", "gaps.csv"):
        assert (first / name).is_file(), name
    assert (first / "gaps.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    text = (first / "report.md").read_text(encoding="utf-8")
    assert "가상 데이터" in text and "도보 네트워크" in text and "vuski/admdongkor" in text
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(first / "careplan.gpkg")}
    assert {"facilities", "schools", "school_zones", "admin_areas", "demand_points"} <= layers


def test_interrupted_write_leaves_the_previous_run(sample_result, tmp_path, monkeypatch):
    out = report.write_outputs(sample_result, tmp_path / "run")
    before = digest(out)

    def boom(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "_write_maps", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        report.write_outputs(sample_result, tmp_path / "run", force=True)
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging left


def test_compare_identical_runs_is_zero(sample_result):
    table = report.compare(sample_result, sample_result)
    assert (table["차이 (B − A)"].fillna(0) == 0).all()


def test_bad_scenario_settings(tmp_path):
    text = (sample.sample_dir() / "scenario.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('dir = "."', f'dir = "{sample.sample_dir()}"').replace(
        "grade_rates = [0.35, 0.35, 0.25, 0.25, 0.12, 0.12]", "grade_rates = [0.35, 2]"), encoding="utf-8")
    with pytest.raises(SettingsError, match="grade_rates"):
        pipeline.load_scenario(bad)
    result = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "grade_rates" in result.output


def test_cli_demo(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "public_map" / "index.html").is_file()


def test_cli_check_reports_rows_and_fails_on_html(tmp_path):
    result = runner.invoke(app, ["check", str(sample.sample_dir() / "schools.csv")])
    assert result.exit_code == 0 and "[schools]" in result.output and "kept" in result.output
    page = tmp_path / "list.csv"
    page.write_text("<html><body>오류</body></html>", encoding="utf-8")
    result = runner.invoke(app, ["check", str(page)])
    assert result.exit_code == 2 and "HTML" in result.output
    result = runner.invoke(app, ["run", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "does not exist" in result.output


def reach_sets(result, ids) -> dict[str, set[int]]:
    """Demand-point rows within the walk threshold of each destination id, from the run's own times."""
    mat = result.times.matrix.tocsc()
    col = {str(d): j for j, d in enumerate(result.times.destination_ids)}
    limit = result.scenario.max_walk_min
    out = {}
    for i in ids:
        j = col[str(i)]
        rows, vals = mat.indices[mat.indptr[j]:mat.indptr[j + 1]], mat.data[mat.indptr[j]:mat.indptr[j + 1]]
        out[str(i)] = set(rows[vals <= limit].tolist())
    return out


def best_cover(sets: dict[str, set[int]], base: set[int], w: np.ndarray, k: int) -> float:
    """Brute force: the most demand k sites can add on top of ``base``."""
    return max(w[list(base.union(*(sets[c] for c in combo)))].sum()
               for combo in itertools.combinations(sorted(sets), min(k, len(sets))))


def test_proposed_sites_are_optimal_and_ranked_by_marginal_gain(sample_result):
    r = sample_result
    w = r.demand_points["demand"].to_numpy()
    have = set(np.flatnonzero(r.coverage.covered[(r.scenario.siting_slot, "all")].to_numpy()).tolist())
    proposed = r.proposed
    assert list(proposed["kind"].unique()) == list(r.scenario.siting_kinds)  # planned in the scenario's order
    earlier: set[str] = set()
    for kind in r.scenario.siting_kinds:
        kept = candidates.filter_candidates(r.candidates, kind=kind, area=r.admin_areas, sido=r.scenario.sido).kept
        sets = reach_sets(r, [c for c in kept.index if c not in earlier])  # a later kind never reuses a site
        rows = proposed[proposed["kind"] == kind].sort_values("rank")
        assert len(rows) == r.scenario.siting_sites and set(rows["site_id"]) <= set(sets)
        optimum = best_cover(sets, have, w, r.scenario.siting_sites)
        assert rows["cumulative_coverage_pct"].iloc[-1] == pytest.approx(100 * optimum / w.sum(), rel=1e-9)
        chosen = list(rows["site_id"])
        for site, gain in zip(list(chosen), rows["marginal_gain"], strict=True):
            # rank k adds the most of the chosen sites, given the existing ones and ranks < k
            assert gain == pytest.approx(w[list(sets[site] - have)].sum(), rel=1e-9)
            assert gain == pytest.approx(max(w[list(sets[c] - have)].sum() for c in chosen), rel=1e-9)
            have |= sets[site]
            chosen.remove(site)
        earlier |= set(rows["site_id"])
        assert (rows["solver_status"] == "최적해 (proven optimal)").all()


def test_kium_is_skipped_outside_seoul(sample_result, caplog):
    r = sample_result
    scenario = dataclasses.replace(r.scenario, sido="경상북도")
    with caplog.at_level(logging.WARNING, logger="careplan.pipeline"):
        proposed = pipeline.propose(scenario, r.demand_points, r.facilities, r.candidates, r.times, r.admin_areas)
    assert set(proposed["kind"]) == {"dahamkke"} and "kium_general" in caplog.text
    dahamkke_alone = dataclasses.replace(r.scenario, siting_kinds=("dahamkke",))
    alone = pipeline.propose(dahamkke_alone, r.demand_points, r.facilities, r.candidates, r.times, r.admin_areas)
    assert proposed["site_id"].tolist() == alone["site_id"].tolist()


def test_unknown_siting_setting_is_refused(tmp_path):
    text = (sample.sample_dir() / "scenario.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('dir = "."', f'dir = "{sample.sample_dir()}"').replace("sites = 3", "sitez = 3"),
                   encoding="utf-8")
    with pytest.raises(SettingsError, match="sitez"):
        pipeline.load_scenario(bad)


@pytest.mark.shared
def test_guro_end_to_end(korea, tmp_path):
    scenario = pipeline.load_scenario(REPO / "examples/guro.toml", data_dir=korea)
    result = pipeline.run(scenario)
    assert result.times.distance_method == "straight_line" and not result.synthetic
    assert len(result.schools) == 26 and result.schools["pupils_total"].sum() == 14_193
    assert result.demand_points["demand"].sum() == pytest.approx(expected_demand(result.schools), abs=1e-6)
    after_school = result.facilities[result.facilities["kind"] != "daycare"]
    assert len(after_school) == 43 and (result.facilities["kind"] == "daycare").sum() == 217
    out = report.write_outputs(result, tmp_path / "guro")
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "직선거리" in text and "격자 후보지는 실제 건물이 아닌 가상 위치" in text
    # ranked sites for both kinds, gains falling within a kind, shares continuing across kinds
    proposed = result.proposed
    total = result.demand_points["demand"].sum()
    covered = result.coverage.covered[(scenario.siting_slot, "all")]
    share = 100 * result.demand_points.loc[covered.to_numpy(), "demand"].sum() / total
    assert proposed.groupby("kind").size().to_dict() == {"kium_general": 5, "dahamkke": 5}
    for _kind, rows in proposed.groupby("kind", sort=False):
        assert rows["rank"].tolist() == [1, 2, 3, 4, 5]
        assert (np.diff(rows["marginal_gain"]) <= 1e-9).all() and (rows["marginal_gain"] > 0).all()
    assert np.allclose(proposed["cumulative_coverage_pct"],
                       share + 100 * np.cumsum(proposed["marginal_gain"]) / total, rtol=1e-9)
    inside = proposed.within(result.admin_areas.union_all().buffer(1))
    assert inside.all()
    sites = pd.read_csv(out / "proposed_sites.csv", encoding="utf-8-sig")
    assert len(sites) == 10 and sites["marginal_gain"].sum() == pytest.approx(proposed["marginal_gain"].sum())
    result = runner.invoke(app, ["check", str(korea / "facilities/우리동네키움센터.csv"), "--sigungu", "구로구"])
    assert result.exit_code == 0 and "kept 19" in result.output


def test_site_candidates_without_siting_lay_no_grid(monkeypatch):
    """Without siting the candidate grid is never laid (a union of every 행정동 on a large region)."""
    region = sample.generate_region(4, schools_per_sigungu=4, sigungu_km=2.0, seed=5)
    sc, inputs = dataclasses.replace(region.scenario, siting_sites=0), region.inputs
    assert inputs.candidates is None and len(pipeline.site_candidates(region.scenario, inputs)) > 0

    def no_grid(*args, **kwargs):
        raise AssertionError("grid laid although nothing is sited")

    monkeypatch.setattr(candidates, "grid_candidates", no_grid)
    sites = pipeline.site_candidates(sc, inputs)
    pd.testing.assert_frame_equal(sites, candidates.no_sites())

"""careplan.candidates and the planning layer (propose_sites, care_clusters), hand-computed cases."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import Point, box

from careplan import candidates as cd
from careplan import siting
from careplan._errors import CRSError, SettingsError
from careplan.network import TravelTimes


def _points(xy, ids, **cols):
    return gpd.GeoDataFrame(dict(cols), index=pd.Index(ids, name=None),
                            geometry=[Point(x, y) for x, y in xy], crs=5179)


def test_grid_candidates_inside_area():
    area = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 500)], crs=5179)
    g = cd.grid_candidates(area, spacing_m=250)
    assert len(g) == 8 and g.index.name == "site_id" and g.index[0] == "G00000"
    assert sorted(set(g.geometry.x)) == [125, 375, 625, 875] and sorted(set(g.geometry.y)) == [125, 375]
    assert g["area_m2"].isna().all() and g.crs.to_epsg() == 5179
    with pytest.raises(CRSError):
        cd.grid_candidates(area.set_crs(4326, allow_override=True))


def test_no_sites_has_the_columns_and_types_of_a_grid():
    area = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 500)], crs=5179)
    pd.testing.assert_frame_equal(cd.no_sites(), cd.grid_candidates(area).iloc[:0])
    assert len(cd.no_sites()) == 0


def test_cluster_candidates_weighted_centres():
    xy = [(0, 0), (100, 0), (5000, 5000), (5000, 5300)]
    demand = _points(xy, ["a", "b", "c", "d"], demand=[1.0, 3.0, 2.0, 1.0])
    k = cd.cluster_candidates(demand, n_sites=2, random_state=0)
    centres = sorted(zip(k.geometry.x.round(6), k.geometry.y.round(6), strict=True))
    assert centres == [(75.0, 0.0), (5000.0, 5100.0)]  # weighted means: (0·1+100·3)/4, (5000·2+5300)/3
    # unmet weights move the centre: only b and d are unmet
    k = cd.cluster_candidates(demand, n_sites=2, unmet=pd.Series([0, 1, 0, 1], index=demand.index))
    assert sorted(zip(k.geometry.x, k.geometry.y, strict=True)) == [(100, 0), (5000, 5300)]


def test_filter_candidates_rules():
    cands = _points([(0, 0), (10, 0), (500, 0), (600, 0), (700, 0), (5000, 0)],
                    ["s1", "s2", "s3", "s4", "s5", "s6"],
                    area_m2=[100, 100, 60, np.nan, 100, 100], floor=[1, 1, 1, 1, 6, 1],
                    allowed_kinds=["", "", "", "", "", ""])
    cands.loc["s4", "allowed_kinds"] = "kium_general, dahamkke"
    cands.loc["s1", "allowed_kinds"] = "kium_general"
    existing = _points([(0, 30)], ["F1"])
    area = gpd.GeoDataFrame(geometry=[box(-100, -100, 1000, 100)], crs=5179)
    out = cd.filter_candidates(cands, kind="dahamkke", area=area, existing=existing, min_distance_m=100)
    assert out.kept.index.tolist() == ["s4"]  # NaN area is unknown, so kept
    assert out.rejected["reason"].to_dict() == {
        "s1": "기존 시설과 100m 미만", "s2": "기존 시설과 100m 미만", "s3": "면적 66㎡ 미만",
        "s5": "5층 초과", "s6": "대상 지역 밖"}
    out = cd.filter_candidates(cands, kind="kium_general", sido="서울특별시")
    assert "s3" in out.rejected.index and out.rejected.loc["s3", "reason"] == "면적 80㎡ 미만"
    with pytest.raises(SettingsError, match="Seoul programme"):
        cd.filter_candidates(cands, kind="kium_general", sido="경상북도")
    assert cd.kind_capacity("dahamkke") == 20 and cd.kind_capacity("kium_general", include_temporary=True) == 25


def _line_plan():
    # demand points on a line at x = 0..9 km-ish; walk minutes = |x_i − x_j| / 100
    xs = np.array([0, 100, 200, 1000, 1100, 1200, 1300, 3000, 3100, 5000], float)
    demand = _points([(x, 0) for x in xs], [f"P{i}" for i in range(10)],
                     demand=[5, 5, 5, 10, 10, 10, 10, 4, 4, 30.0])
    existing = _points([(100, 0)], ["F1"], kind=["dahamkke"], capacity=[12.0])
    cands = _points([(1150, 0), (3050, 0), (5000, 0), (150, 0)], ["C1", "C2", "C3", "C4"],
                    cost=[1.0, 1.0, 2.0, 1.0])
    sx = np.array([100, 1150, 3050, 5000, 150], float)
    cost = np.abs(xs[:, None] - sx[None, :]) / 100.0
    return demand, existing, cands, cost


def test_propose_sites_ranked_with_explanation():
    demand, existing, cands, cost = _line_plan()
    prop = siting.propose_sites(demand, existing, cands, cost, kind="dahamkke", n_new=2, max_walk_min=2)
    # existing covers P0–P2 (15); C1 adds P3–P6 (40), C3 adds P9 (30), C2 adds only 8
    assert prop.sites.index.tolist() == ["C1", "C3"]
    assert prop.sites["rank"].tolist() == [1, 2]
    assert prop.sites["marginal_demand"].tolist() == [40.0, 30.0]
    assert prop.sites["cumulative_demand"].tolist() == [55.0, 85.0]
    assert prop.sites["cumulative_share"].iloc[-1] == pytest.approx(85 / 93)
    assert prop.sites["explanation"].iloc[0] == "2분 거리 안 돌봄 수요 40명 추가 (20시 운영 기준)"
    assert prop.covered_by_existing == 15 and prop.result.objective == 85 and prop.result.proven_optimal
    assert prop.sites.crs.to_epsg() == 5179
    # budget 2: C3 costs 2, so the best is C1 + C2 (40 + 8) rather than C3 alone (30)
    prop = siting.propose_sites(demand, existing, cands, cost, kind="dahamkke", budget=2, max_walk_min=2)
    assert prop.sites.index.tolist() == ["C1", "C2"] and prop.sites["marginal_demand"].tolist() == [40, 8]


def test_propose_sites_from_travel_times_with_zero_and_shuffled_ids():
    demand, existing, cands, cost = _line_plan()
    dest = ["C4", "C3", "F1", "C2", "C1"]  # another order than [existing, candidates]
    col = {"F1": 0, "C1": 1, "C2": 2, "C3": 3, "C4": 4}
    dense = np.stack([cost[:, col[d]] for d in dest], axis=1)
    rows, cols = np.nonzero(dense <= 5)
    mat = sp.csr_matrix((dense[rows, cols], (rows, cols)), shape=dense.shape)
    assert (mat.data == 0).sum() == 2  # P1–F1 and P9–C3, stored explicitly
    tt = TravelTimes(mat, demand.index, pd.Index(dest), cutoff_min=5, distance_method="straight_line")
    prop = siting.propose_sites(demand, existing, cands, tt, kind="dahamkke", n_new=2, max_walk_min=2)
    assert prop.sites.index.tolist() == ["C1", "C3"] and prop.result.objective == 85


def test_propose_sites_capacitated_and_kium_rule():
    demand, existing, cands, cost = _line_plan()
    prop = siting.propose_sites(demand, existing, cands, cost, kind="dahamkke", n_new=2, max_walk_min=2,
                                capacitated=True)
    # existing holds 12 of its 15; each new dahamkke takes 20: C1 (40 in reach) and C3 (30) → 12 + 20 + 20
    assert prop.result.objective == 52 and prop.sites["marginal_demand"].tolist() == [20, 20]
    assert prop.sites["explanation"].iloc[0] == "2분 거리 안 돌봄 수요 20명 배정 (20시 운영 기준)"
    with pytest.raises(SettingsError):
        siting.propose_sites(demand, existing, cands, cost, kind="kium_general", n_new=1, sido="경상북도")
    prop = siting.propose_sites(demand, existing, cands, cost, kind="kium_general", n_new=1, sido="서울특별시",
                                max_walk_min=2)
    assert prop.sites["explanation"].iloc[0] == "2분 거리 안 돌봄 수요 40명 추가 (19시 운영 기준)"


def test_care_clusters_pmedian_hubs_and_given_hubs():
    xs = np.array([0, 1, 2, 10, 11, 30.0])
    fac = _points([(x, 0) for x in xs], ["A", "B", "C", "D", "E", "F"])
    cost = np.abs(xs[:, None] - xs[None, :])
    out = siting.care_clusters(fac, cost, n_hubs=2)
    best = min(itertools.combinations(range(6), 2), key=lambda s: cost[:, list(s)].min(axis=1).sum())
    assert out["time_to_hub"].sum() == cost[:, list(best)].min(axis=1).sum()
    assert out["is_hub"].sum() == 2 and out.loc[out["is_hub"], "time_to_hub"].eq(0).all()
    out = siting.care_clusters(fac, cost, hubs=["B", "E"])
    assert out["hub_id"].tolist() == ["B", "B", "B", "E", "E", "E"]
    assert out["time_to_hub"].tolist() == [1, 0, 1, 1, 0, 19]

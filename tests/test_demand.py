"""careplan.demand: school demand, dasymetric demand points, population demand, summaries.

Hand cases are built as contract layers in EPSG:5179 around an origin that is a
multiple of 1 km, so 100 m grid cells fall on whole numbers and every expected
value can be worked out on paper (the arithmetic is in the comments).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from careplan import CareplanWarning, CRSError, InputDataError, MissingColumnError, SettingsError
from careplan import demand as dm

X0, Y0 = 950_000.0, 1_950_000.0  # EPSG:5179, multiples of 1 km
CRS = 5179


def box(x1, y1, x2, y2):
    """A box in metres relative to (X0, Y0)."""
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def admin(parts: dict[str, tuple[shapely.Geometry, float]]) -> gpd.GeoDataFrame:
    """행정동 layer from {adm_code: (polygon, children_6_12)}."""
    return gpd.GeoDataFrame(
        {"name": list(parts), "children_6_12": [c for _, c in parts.values()]},
        geometry=[g for g, _ in parts.values()],
        index=pd.Index(list(parts), name="adm_code"), crs=CRS,
    )


def zones(parts: dict[str, tuple[shapely.Geometry, str]]) -> gpd.GeoDataFrame:
    """학구 layer from {zone_id: (polygon, "B1,B2")}."""
    ids = [s for _, s in parts.values()]
    return gpd.GeoDataFrame(
        {"name": list(parts), "shared": [("," in s) for s in ids], "school_ids": ids},
        geometry=[g for g, _ in parts.values()],
        index=pd.Index(list(parts), name="zone_id"), crs=CRS,
    )


def schools(pupils: dict[str, tuple[list[float], float]], where=None) -> gpd.GeoDataFrame:
    """Schools from {school_id: ([g1..g6], special)}; located at ``where`` or (10, 10) m."""
    where = where or {}
    rows = {sid: {**{f"pupils_g{g}": v for g, v in zip(range(1, 7), grades, strict=True)},
                  "pupils_special": special}
            for sid, (grades, special) in pupils.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "school_id"
    frame["name"] = [f"학교{sid}" for sid in frame.index]
    geometry = [shapely.Point(X0 + where.get(s, (10, 10))[0], Y0 + where.get(s, (10, 10))[1])
                for s in frame.index]
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)


G1 = [100, 0, 0, 0, 0, 0]  # 100 first-graders -> demand 35


def two_dong(boundary_x=1050.0, kids_a=None, kids_b=None):
    """행정동 A = [0, b] × [0, 1000] at 1e-4 children/m², B = [b, 2000] × [0, 1000] at 4e-4."""
    a_area, b_area = boundary_x * 1000, (2000 - boundary_x) * 1000
    return admin({
        "1100000001": (box(0, 0, boundary_x, 1000), a_area * 1e-4 if kids_a is None else kids_a),
        "1100000002": (box(boundary_x, 0, 2000, 1000), b_area * 4e-4 if kids_b is None else kids_b),
    })


def inside_zone(points: gpd.GeoDataFrame, zone_layer: gpd.GeoDataFrame) -> np.ndarray:
    geoms = zone_layer.geometry.reindex(points["zone_id"]).to_numpy()
    return shapely.contains_properly(geoms, points.geometry.to_numpy())


# ---------------------------------------------------------------------------------------------
# school demand


def test_school_demand_by_grade_hand_computed():
    s = schools({"B1": ([10, 20, 30, 40, 50, 60], 5), "B2": ([0, 0, 0, 0, 0, 100], 0)})
    out = dm.school_demand(s)
    # B1: 0.35*(10+20) + 0.25*(30+40) + 0.12*(50+60) + 0.24*5 = 10.5 + 17.5 + 13.2 + 1.2 = 42.4
    assert out.loc["B1", "demand"] == pytest.approx(42.4, abs=1e-12)
    assert out.loc["B2", "demand"] == pytest.approx(12.0, abs=1e-12)
    assert out.loc["B1", "pupils"] == 215
    assert list(out["rate_basis"]) == ["grade", "grade"]
    assert isinstance(out, gpd.GeoDataFrame) and out.index.equals(s.index)
    assert out.attrs["demand"]["grade_rates"][1] == 0.35


def test_school_demand_custom_rates_and_served_clipped_at_zero():
    s = schools({"B1": (G1, 0), "B2": (G1, 0), "B3": (G1, 0)})
    served = pd.Series({"B1": 10.0, "B2": 80.0})  # B2 serves more than its estimate
    out = dm.school_demand(s, grade_rates=[0.5, 0, 0, 0, 0, 0], served=served)
    assert out["demand_gross"].tolist() == [50.0, 50.0, 50.0]
    assert out["demand"].tolist() == [40.0, 0.0, 50.0]
    assert out["served"].tolist() == [10.0, 80.0, 0.0]


def test_school_demand_served_for_unknown_school_warns():
    s = schools({"B1": (G1, 0)})
    with pytest.warns(CareplanWarning, match="not in schools"):
        out = dm.school_demand(s, served=pd.Series({"B9": 5.0}))
    assert out.loc["B1", "demand"] == pytest.approx(35.0)


def test_school_demand_total_only_and_missing_counts():
    s = schools({"B1": (G1, 0), "B2": (G1, 0), "B3": (G1, 0)})
    s.loc["B2", "pupils_g3"] = np.nan
    s.loc["B3", [f"pupils_g{g}" for g in range(1, 7)] + ["pupils_special"]] = np.nan
    s["pupils_total"] = [100.0, 200.0, np.nan]
    with pytest.warns(CareplanWarning, match="no pupil counts"):
        out = dm.school_demand(s)
    assert out.loc["B2", "demand"] == pytest.approx(200 * 0.24)
    assert out.loc["B2", "rate_basis"] == "total"
    assert np.isnan(out.loc["B3", "demand"]) and out.loc["B3", "rate_basis"] == "none"


@pytest.mark.parametrize("rates", [{1: 0.35}, [35, 25, 12, 0, 0, 0], [0.3] * 5])
def test_bad_rates_raise(rates):
    with pytest.raises(SettingsError, match="rate"):
        dm.school_demand(schools({"B1": (G1, 0)}), grade_rates=rates)


def test_bad_pupils_raise():
    s = schools({"B1": (G1, 0)})
    s.loc["B1", "pupils_g2"] = -3
    with pytest.raises(InputDataError, match=">= 0"):
        dm.school_demand(s)
    with pytest.raises(MissingColumnError, match="attach_pupils"):
        dm.school_demand(s[["name", "geometry"]])


def test_default_rates_average_to_overall_rate():
    rates = dm.DemandRates()
    assert np.mean(rates.grade_rates) == pytest.approx(dm.DEFAULT_SPECIAL_RATE)
    with pytest.raises(SettingsError):
        dm.DemandRates(special_rate=1.5)


# ---------------------------------------------------------------------------------------------
# demand points: hand cases


def test_dasymetric_two_dong_two_zones_by_hand():
    adm = two_dong(1050.0)  # A: 1.05 km² × 1e-4/m² = 105 children; B: 0.95 km² × 4e-4 = 380
    z = zones({"Z1": (box(0, 0, 1500, 1000), "B1"), "Z2": (box(1500, 0, 2000, 1000), "B2")})
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    pts = dm.demand_points(sd, z, adm)

    # Z1 holds 105 children in A and 0.45 km² × 4e-4 = 180 in B -> 35 × 105/285 and 35 × 180/285
    by = pts.groupby(["zone_id", "adm_code"])["demand"].sum()
    assert by[("Z1", "1100000001")] == pytest.approx(35 * 105 / 285, rel=1e-12)
    assert by[("Z1", "1100000002")] == pytest.approx(35 * 180 / 285, rel=1e-12)
    assert by[("Z2", "1100000002")] == pytest.approx(35.0, rel=1e-12)
    kids = pts.groupby(["zone_id", "adm_code"])["children"].sum()
    assert kids.to_dict() == pytest.approx(
        {("Z1", "1100000001"): 105.0, ("Z1", "1100000002"): 180.0, ("Z2", "1100000002"): 200.0})
    # 150 cells in Z1 plus 10 cells of column x∈[1000,1100] split by the 행정동 border; 50 in Z2
    assert (pts["zone_id"] == "Z1").sum() == 160 and (pts["zone_id"] == "Z2").sum() == 50
    # a whole cell in A holds 1 child and 35/285 demand; a half cell in B holds 2 children
    whole_a = pts.loc[f"Z1_{X0 + 300:.0f}_{Y0 + 500:.0f}_1100000001"]
    half_b = pts.loc[f"Z1_{X0 + 1000:.0f}_{Y0 + 500:.0f}_1100000002"]
    assert whole_a["children"] == pytest.approx(1.0)
    assert whole_a["demand"] == pytest.approx(35 / 285)
    assert half_b["children"] == pytest.approx(2.0) and half_b["area_m2"] == pytest.approx(5000)
    assert (half_b.geometry.x, half_b.geometry.y) == pytest.approx((X0 + 1075, Y0 + 550))
    assert pts["demand"].sum() == pytest.approx(70.0, rel=1e-12)
    assert inside_zone(pts, z).all()
    assert (pts["priority_demand"] == pts["demand"]).all()
    assert set(pts["basis"]) == {"children"}


def test_shared_zone_split_by_children_in_each_zone():
    adm = two_dong(1000.0)  # A 100 children (1e-4), B 400 children (4e-4)
    z = zones({
        "Z1": (box(0, 0, 1000, 1000), "B1"),         # 100 children
        "Z3": (box(1000, 0, 1500, 1000), "B1,B2"),   # shared, 200 children
        "Z2": (box(1500, 0, 2000, 1000), "B2"),      # 200 children
    })
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": ([200, 0, 0, 0, 0, 0], 0)}))
    assert sd["demand"].tolist() == pytest.approx([35.0, 70.0])
    pts = dm.demand_points(sd, z, adm)
    # B1: Z1 gets 100/300, Z3 200/300; B2: Z3 200/400, Z2 200/400 — not by area (would be 2/3 : 1/3)
    totals = pts.groupby("zone_id")["demand"].sum()
    assert totals["Z1"] == pytest.approx(35 / 3)
    assert totals["Z3"] == pytest.approx(35 * 2 / 3 + 70 / 2)
    assert totals["Z2"] == pytest.approx(35.0)
    split = {(s, zid): share for s, zid, share in pts.attrs["demand"]["school_zone_split"]}
    assert split == pytest.approx({("B1", "Z1"): 1 / 3, ("B1", "Z3"): 2 / 3,
                                   ("B2", "Z3"): 0.5, ("B2", "Z2"): 0.5})
    summary = dm.summarise(pts, sd, by="zone_id")
    assert summary.loc["Z3", "school_ids"] == "B1,B2" and summary.loc["Z3", "n_schools"] == 2
    assert summary.loc["Z3", "pupils"] == pytest.approx(100 * 2 / 3 + 200 / 2)


def test_school_with_no_zone_becomes_one_point_at_school():
    adm = two_dong(1000.0)
    z = zones({"Z1": (box(0, 0, 2000, 1000), "B1")})
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}, where={"B2": (1500, 500)}))
    with pytest.warns(CareplanWarning, match="no 학구"):
        pts = dm.demand_points(sd, z, adm)
    point = pts.loc["B2_school"]
    assert point["demand"] == pytest.approx(35.0) and point["adm_code"] == "1100000002"
    assert pd.isna(point["zone_id"]) and point["basis"] == "school_point"
    assert point.geometry.equals(sd.loc["B2", "geometry"])
    assert pts["demand"].sum() == pytest.approx(70.0)
    assert pts.attrs["demand"]["schools_without_zone"] == ["B2"]


def test_zone_with_no_school_data_keeps_children_without_demand():
    adm = two_dong(1000.0)
    z = zones({"Z1": (box(0, 0, 1000, 1000), "B1"), "Z2": (box(1000, 0, 2000, 1000), "B9")})
    sd = dm.school_demand(schools({"B1": (G1, 0)}))
    with pytest.warns(CareplanWarning, match="no school with pupil data"):
        pts = dm.demand_points(sd, z, adm)
    z2 = pts[pts["zone_id"] == "Z2"]
    assert len(z2) == 100 and (z2["demand"] == 0).all()
    assert z2["children"].sum() == pytest.approx(400.0)
    assert pts["demand"].sum() == pytest.approx(35.0)
    assert pts.attrs["demand"]["zones_without_school_data"] == ["Z2"]
    assert pts.attrs["demand"]["zone_school_ids_unknown"] == ["B9"]


def test_dong_with_zero_children():
    adm = two_dong(1000.0, kids_a=0.0)  # A has no children, B 400
    z = zones({"Z1": (box(0, 0, 1000, 1000), "B1"),     # all in A: area fallback
               "Z2": (box(500, 0, 2000, 1000), "B2")})  # half km² in A gets nothing
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    pts = dm.demand_points(sd, z, adm)
    z1 = pts[pts["zone_id"] == "Z1"]
    assert (z1["basis"] == "area").all() and z1["demand"].to_numpy() == pytest.approx(0.35)
    assert (z1["children"] == 0).all()
    z2 = pts[pts["zone_id"] == "Z2"].groupby("adm_code")["demand"].sum()
    assert z2["1100000001"] == 0 and z2["1100000002"] == pytest.approx(35.0)
    assert pts.attrs["demand"]["zones_area_weighted"] == ["Z1"]


def test_zone_crossing_sigungu_border_imputes_zone_density():
    adm = two_dong(1000.0)  # 행정동 cover x ∈ [0, 2000] only
    z = zones({"Z1": (box(1500, 0, 2300, 1000), "B1"),   # 0.3 km² outside every 행정동
               "Z2": (box(2500, 0, 3000, 1000), "B2")})  # wholly outside
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    pts = dm.demand_points(sd, z, adm)
    z1 = pts[pts["zone_id"] == "Z1"]
    outside = z1[z1["adm_code"].isna()]
    # known part: 0.5 km² × 4e-4 = 200 children; outside 0.3 km² at the same density = 120
    assert outside["demand"].sum() == pytest.approx(35 * 120 / 320)
    assert (outside["basis"] == "imputed").all() and outside["children"].isna().all()
    assert len(outside) == 30 and outside.index[0].endswith("_out")
    z2 = pts[pts["zone_id"] == "Z2"]
    assert (z2["basis"] == "area").all() and z2["demand"].sum() == pytest.approx(35.0)
    attrs = pts.attrs["demand"]
    assert attrs["zones_imputed_outside"] == ["Z1"] and attrs["zones_area_weighted"] == ["Z2"]
    by_adm = dm.summarise(pts, by="adm_code")
    assert by_adm.loc["(없음)", "demand"] == pytest.approx(35 * 120 / 320 + 35)


def test_irregular_zone_points_inside_and_slivers_dropped():
    # a triangle zone cuts cells diagonally; the 행정동 stops 0.05 m short of the zone's edge
    adm = admin({"1100000001": (box(0, 0, 999.95, 1000), 500.0)})
    tri = shapely.Polygon([(X0, Y0), (X0 + 1000, Y0), (X0, Y0 + 1000)])
    z = zones({"Z1": (tri, "B1")})
    sd = dm.school_demand(schools({"B1": (G1, 0)}))
    pts = dm.demand_points(sd, z, adm)
    assert inside_zone(pts, z).all()
    assert pts["adm_code"].notna().all()  # the 0.05 m × ~0.05 m sliver is no demand point
    assert pts["demand"].sum() == pytest.approx(35.0, rel=1e-12)
    # the triangle's 10 diagonal cells are half cells: centroid at 1/3 of the cell
    assert len(pts) == 55
    # the triangle minus its 0.05 m × 0.05 m corner beyond the 행정동, at 500 / 999,950 m²
    expected = 500.0 * (0.5e6 - 0.05**2 / 2) / 999_950
    assert pts["children"].sum() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cell_m, n_z1, n_z2",
                         [(50.0, 600, 200), (100.0, 160, 50), (200.0, 45, 15)])
def test_cell_size_changes_counts_not_totals(cell_m, n_z1, n_z2):
    adm = two_dong(1050.0)
    z = zones({"Z1": (box(0, 0, 1500, 1000), "B1"), "Z2": (box(1500, 0, 2000, 1000), "B2")})
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    pts = dm.demand_points(sd, z, adm, cell_m=cell_m)
    # Z1 at 50 m: 30 × 20 cells, the border x = 1050 runs along cell edges; at 100 m: 15 × 10 + 10
    # cells split by the border; at 200 m: 8 columns (the last one half) × 5 rows + 5 split cells.
    # Z2 at 200 m: columns [1400, 1600] (half), [1600, 1800], [1800, 2000] × 5 rows.
    assert (pts["zone_id"] == "Z1").sum() == n_z1 and (pts["zone_id"] == "Z2").sum() == n_z2
    by = pts.groupby("adm_code")["demand"].sum()
    assert by["1100000001"] == pytest.approx(35 * 105 / 285)
    assert by["1100000002"] == pytest.approx(35 * 180 / 285 + 35)
    assert pts.attrs["demand"]["cell_m"] == cell_m


def test_chunked_grid_gives_the_same_points(monkeypatch):
    adm = two_dong(1050.0)
    z = zones({"Z1": (box(0, 0, 1500, 1000), "B1"), "Z2": (box(1500, 0, 2000, 1000), "B2"),
               "Z3": (box(2000, 0, 2300, 1000), "B1")})
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    whole = dm.demand_points(sd, z, adm)
    monkeypatch.setattr(dm, "MAX_CELLS_PER_CHUNK", 7)  # one zone per chunk, Z1 alone > budget
    chunked = dm.demand_points(sd, z, adm)
    pd.testing.assert_frame_equal(pd.DataFrame(chunked.drop(columns="geometry")),
                                  pd.DataFrame(whole.drop(columns="geometry")))
    assert chunked.geometry.geom_equals(whole.geometry).all()


def test_priority_weighting_by_dong_and_by_zone():
    adm = two_dong(1000.0)
    z = zones({"Z1": (box(0, 0, 1500, 1000), "B1"), "Z2": (box(1500, 0, 2000, 1000), "B2")})
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    share = pd.Series({"1100000001": 0.2, "1100000002": 0.5})
    pts = dm.demand_points(sd, z, adm, priority_share=share, priority_weight=2.0)
    by = pts.groupby("adm_code")[["demand", "priority_demand"]].sum()
    # demand × (1 + share × (2 − 1)): A 1.2×, B 1.5×
    ratio = by["priority_demand"] / by["demand"]
    assert ratio.to_dict() == pytest.approx({"1100000001": 1.2, "1100000002": 1.5})
    assert pts.attrs["demand"]["priority_by"] == "adm_code"

    pts_z = dm.demand_points(sd, z, adm, priority_share=pd.Series({"Z2": 1.0}))
    by_z = pts_z.groupby("zone_id")["priority_demand"].sum()
    assert by_z["Z2"] == pytest.approx(35 * 1.5) and by_z["Z1"] == pytest.approx(35.0)
    assert pts_z.attrs["demand"]["priority_share_missing"] == ["Z1"]
    with pytest.raises(InputDataError, match="between 0 and 1"):
        dm.demand_points(sd, z, adm, priority_share=pd.Series({"Z2": 30.0}))
    with pytest.raises(SettingsError, match="priority_weight"):
        dm.demand_points(sd, z, adm, priority_weight=0.5)


def test_layers_must_share_a_metric_crs():
    adm = two_dong()
    z = zones({"Z1": (box(0, 0, 1500, 1000), "B1")})
    sd = dm.school_demand(schools({"B1": (G1, 0)}))
    with pytest.raises(CRSError, match="projected"):
        dm.demand_points(sd, z.to_crs(4326), adm)
    with pytest.raises(CRSError, match="reproject"):
        dm.demand_points(sd, z.to_crs(5186), adm)
    with pytest.raises(MissingColumnError, match="children_6_12"):
        dm.demand_points(sd, z, adm.drop(columns="children_6_12"))
    with pytest.raises(SettingsError, match="cell_m"):
        dm.demand_points(sd, z, adm, cell_m=0)


# ---------------------------------------------------------------------------------------------
# population demand and summaries


def test_population_demand_spreads_children_times_rate():
    adm = two_dong(1050.0, kids_a=0.0)
    adm.loc["1100000002", "geometry"] = shapely.Polygon(
        [(X0 + 1050, Y0), (X0 + 2000, Y0), (X0 + 1050, Y0 + 1000)])  # a triangle, area 0.475 km²
    adm.loc["1100000002", "children_6_12"] = 333.0
    pts = dm.population_demand(adm, rate=0.3)
    by = pts.groupby("adm_code")[["children", "demand"]].sum()
    assert by.loc["1100000002", "demand"] == pytest.approx(333 * 0.3, rel=1e-12)
    assert by.loc["1100000001", "demand"] == 0.0
    assert by["children"].sum() == pytest.approx(333.0, rel=1e-12)
    geoms = adm.geometry.reindex(pts["adm_code"]).to_numpy()
    assert shapely.contains_properly(geoms, pts.geometry.to_numpy()).all()
    # A is 10.5 × 10 cells -> 110 pieces; interior whole cells of the triangle carry equal shares
    assert (pts["adm_code"] == "1100000001").sum() == 110
    whole = pts[(pts["adm_code"] == "1100000002") & np.isclose(pts["area_m2"], 1e4)]
    assert whole["children"].to_numpy() == pytest.approx(333 * 1e4 / 475_000)


def test_population_demand_unknown_children_warns():
    adm = two_dong(1000.0)
    adm.loc["1100000001", "children_6_12"] = np.nan
    with pytest.warns(CareplanWarning, match="place no demand"):
        pts = dm.population_demand(adm)
    assert set(pts["adm_code"]) == {"1100000002"}
    assert pts["demand"].sum() == pytest.approx(400 * 0.24)


def test_summarise_by_dong_with_korean_labels():
    adm = two_dong(1050.0)
    z = zones({"Z1": (box(0, 0, 1500, 1000), "B1"), "Z2": (box(1500, 0, 2000, 1000), "B2")})
    sd = dm.school_demand(schools({"B1": (G1, 0), "B2": (G1, 0)}))
    pts = dm.demand_points(sd, z, adm)
    table = dm.summarise(pts, sd, by="adm_code", korean=True)
    assert table.index.name == "행정동 코드"
    row = table.loc["1100000001"]
    assert row["돌봄 수요 (명)"] == pytest.approx(35 * 105 / 285)
    assert row["아동 수 (6–12세)"] == pytest.approx(105.0)
    assert row["학생 수"] == pytest.approx(100 * 105 / 285)
    assert row["수요점 수"] == 110
    with pytest.raises(SettingsError, match="zone_id"):
        dm.summarise(pts, by="school")


# ---------------------------------------------------------------------------------------------
# real 구로구 data


@pytest.fixture(scope="module")
def guro(korea):
    from careplan.io import (
        attach_pupils,
        read_admin_areas,
        read_population,
        read_school_zones,
        read_schools,
        read_students,
    )

    s, _ = read_schools(korea / "schools/전국초중등학교위치표준데이터.csv", sigungu="구로구")
    students, _ = read_students(korea / "students/2025_학년별학생수_초_서울_구로구.csv")
    s, _ = attach_pupils(s, students)
    z, _ = read_school_zones(korea / "school_zones/guro_school_zones.geojson")
    pop, _ = read_population(korea / "population/202505_202505_연령별인구현황_월간.csv",
                             sigungu="구로구")
    a, _ = read_admin_areas(korea / "boundaries/hangjeongdong_서울특별시.geojson", population=pop,
                            sigungu="구로구")
    sd = dm.school_demand(s)
    return sd, z, a, dm.demand_points(sd, z, a)


def _overlay_children(z: gpd.GeoDataFrame, a: gpd.GeoDataFrame) -> pd.DataFrame:
    """Brute-force dasymetric children per (zone, 행정동) with geopandas.overlay, no grid."""
    density = a["children_6_12"] / a.area
    ov = gpd.overlay(z.reset_index()[["zone_id", "geometry"]],
                     a.reset_index()[["adm_code", "geometry"]], keep_geom_type=True)
    ov["children"] = ov.area * ov["adm_code"].map(density)
    ov["area"] = ov.area
    return ov


@pytest.mark.shared
def test_guro_totals_equal_pupils_times_rates(guro):
    sd, z, a, pts = guro
    assert len(sd) == 26 and sd["pupils"].sum() == 14_193
    grades = sd[[f"pupils_g{g}" for g in range(1, 7)]].sum()
    expected = (0.35 * (grades.iloc[0] + grades.iloc[1]) + 0.25 * (grades.iloc[2] + grades.iloc[3])
                + 0.12 * (grades.iloc[4] + grades.iloc[5]) + 0.24 * sd["pupils_special"].sum())
    assert pts["demand"].sum() == pytest.approx(expected, abs=1e-6)
    assert sd["demand"].sum() == pytest.approx(expected, abs=1e-6)
    assert a["children_6_12"].sum() == 16_934
    assert inside_zone(pts, z).all()
    assert pts["zone_id"].notna().all() and len(pts) > 1500


@pytest.mark.shared
def test_guro_zone_totals_and_shared_split(guro):
    sd, z, a, pts = guro
    ov = _overlay_children(z, a)
    known_kids = ov.groupby("zone_id")["children"].sum()
    known_area = ov.groupby("zone_id")["area"].sum()
    # children in each zone incl. the part across the 구 border at the zone's own density
    est = known_kids * z.area.reindex(known_kids.index) / known_area
    totals = pts.groupby("zone_id")["demand"].sum()
    shared = z.index[z["shared"]]
    assert len(shared) == 1
    own = {sid: zid for zid, ids in z["school_ids"].items() if zid not in shared
           for sid in ids.split(",")}
    for zid, ids in z["school_ids"].items():
        if zid in shared:
            continue
        (sid,) = ids.split(",")
        if sid not in z.loc[shared[0], "school_ids"]:
            assert totals[zid] == pytest.approx(sd.loc[sid, "demand"], rel=1e-9)
    # the shared zone gets, from each of its two schools, own/shared split ∝ children per zone
    expect_shared = 0.0
    for sid in z.loc[shared[0], "school_ids"].split(","):
        share = est[shared[0]] / (est[shared[0]] + est[own[sid]])
        expect_shared += sd.loc[sid, "demand"] * share
        assert totals[own[sid]] == pytest.approx(sd.loc[sid, "demand"] * (1 - share), rel=1e-3)
    assert totals[shared[0]] == pytest.approx(expect_shared, rel=1e-3)


@pytest.mark.shared
def test_guro_per_dong_children_follow_dasymetric_rule(guro):
    sd, z, a, pts = guro
    ov = _overlay_children(z, a)
    by_dong = pts.groupby("adm_code")["children"].sum()
    expected = ov.groupby("adm_code")["children"].sum()
    got_kids = by_dong.reindex(expected.index).to_numpy()
    assert got_kids == pytest.approx(expected.to_numpy(), rel=1e-6)
    # demand per 행정동: Σ over zones of zone demand × children(zone ∩ 동) / children estimate(zone)
    known_kids = ov.groupby("zone_id")["children"].sum()
    est = known_kids * z.area.reindex(known_kids.index) / ov.groupby("zone_id")["area"].sum()
    zone_dem = pts.groupby("zone_id")["demand"].sum()
    ov["demand"] = ov["children"] * ov["zone_id"].map(zone_dem / est)
    want = ov.groupby("adm_code")["demand"].sum()
    got = pts.groupby("adm_code")["demand"].sum()
    assert got.reindex(want.index).to_numpy() == pytest.approx(want.to_numpy(), rel=2e-3)


@pytest.mark.shared
def test_guro_coarser_grid_keeps_totals(guro):
    sd, z, a, pts = guro
    coarse = dm.demand_points(sd, z, a, cell_m=200)
    assert coarse["demand"].sum() == pytest.approx(pts["demand"].sum(), abs=1e-6)
    zone_fine = pts.groupby("zone_id")["demand"].sum()
    zone_coarse = coarse.groupby("zone_id")["demand"].sum()
    fine = zone_fine.reindex(zone_coarse.index).to_numpy()
    assert zone_coarse.to_numpy() == pytest.approx(fine, rel=1e-3)
    # 17.3 km² of zones need at least 1,730 cells of 100 m and 433 of 200 m; border pieces add
    # more, relatively more on the coarse grid, so the count falls by less than 4×
    area = z.area.sum()
    assert len(pts) >= area / 100**2 and len(coarse) >= area / 200**2
    assert 2.3 < len(pts) / len(coarse) < 4.0

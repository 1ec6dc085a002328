"""Readers: the real Korean files, and bad input of every kind."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from careplan import io
from careplan._errors import (
    CRSError,
    EmptyInputError,
    InputDataError,
    MissingColumnError,
    UnreadableFileError,
)
from careplan.io._parse import clock_minutes, parse_hours_text, parse_numbers

TO_5179 = Transformer.from_crs(4326, 5179, always_xy=True)


def accounted(report) -> bool:
    return report.rows_read == report.kept + len(report.rejected) + len(report.excluded)


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def guro(korea):
    schools, r_schools = io.read_schools(korea / "schools/전국초중등학교위치표준데이터.csv", sigungu="구로구")
    students, _ = io.read_students(korea / "students/2025_학년별학생수_초_서울_구로구.csv")
    joined, r_join = io.attach_pupils(schools, students)
    zones, _ = io.read_school_zones(korea / "school_zones/guro_school_zones.geojson")
    return {"schools": joined, "r_schools": r_schools, "r_join": r_join, "zones": zones}


@pytest.mark.shared
def test_guro_schools_and_pupils(guro):
    schools = guro["schools"]
    assert len(schools) == 26
    assert (schools["level"] == "초등학교").all() and (schools["sigungu"] == "구로구").all()
    assert schools["pupils_total"].sum() == 14_193
    assert schools["pupils_total"].notna().sum() == 26
    grades = schools[[f"pupils_g{g}" for g in range(1, 7)]].sum(axis=1) + schools["pupils_special"]
    assert (grades == schools["pupils_total"]).all()
    assert guro["r_join"].kept == 26 and not guro["r_join"].rejected
    assert schools.crs.to_epsg() == 5179
    assert schools.index.str.startswith("B").all() and schools["alimi_code"].str.startswith("S").all()


@pytest.mark.shared
def test_guro_zones_contain_their_schools(guro):
    zones, schools = guro["zones"], guro["schools"]
    assert len(zones) == 27 and zones.is_valid.all()
    assert zones["shared"].sum() == 1
    shared = zones[zones["shared"]].iloc[0]
    names = set(schools.loc[shared["school_ids"].split(","), "name"])
    assert names == {"서울천왕초등학교", "서울하늘숲초등학교"}
    links = io.zone_school_links(zones)
    own = links[~links["zone_id"].isin(zones.index[zones["shared"]])]
    assert own["school_id"].nunique() == 26
    for zone_id, school_id in own.itertuples(index=False):
        assert zones.geometry[zone_id].contains(schools.geometry[school_id]), school_id


@pytest.mark.shared
def test_raw_zone_json_decodes_to_the_released_polygons(korea, guro):
    raw, report = io.read_school_zones(korea / "school_zones/raw_guro")
    assert report.rows_read == 28 and report.kept == 27 and len(report.excluded) == 1
    released = guro["zones"].sort_index()
    raw = raw.sort_index()
    assert list(raw.index) == list(released.index)
    assert (raw["school_ids"] == released["school_ids"]).all()
    assert raw.geometry.symmetric_difference(released.geometry).area.max() < 1e-6


def test_decode_rings_by_hand():
    # a 2 x 1 (×1e-6 degree) rectangle starting at (127.0, 37.5)
    geometry = io.decode_rings([[127_000_000, 37_500_000, 2, 0, 0, 1, -2, 0, 0, -1]])
    assert list(geometry.geoms[0].exterior.coords) == [
        (127.0, 37.5), (127.000002, 37.5), (127.000002, 37.500001), (127.0, 37.500001), (127.0, 37.5)]


@pytest.mark.shared
def test_guro_population_and_boundaries(korea):
    population, report = io.read_population(korea / "population/202505_202505_연령별인구현황_월간.csv",
                                            sigungu="구로구")
    assert len(population) == 16 and population["children_6_12"].sum() == 16_934
    assert accounted(report) and report.rows_read == 3_910
    areas, _ = io.read_admin_areas(korea / "boundaries/hangjeongdong_서울특별시.geojson",
                                   population=population, sigungu="구로구")
    assert len(areas) == 16 and areas["children_6_12"].sum() == 16_934
    assert areas.crs.to_epsg() == 5179 and areas.is_valid.all()
    for sigungu, count, children in (("금정구", 16, 8_807), ("김천시", 22, 7_144)):
        other, _ = io.read_population(korea / "population/202505_202505_연령별인구현황_월간.csv",
                                      sigungu=sigungu)
        assert (len(other), other["children_6_12"].sum()) == (count, children)


@pytest.mark.shared
def test_guro_facilities(korea):
    kium, report = io.read_facilities(korea / "facilities/우리동네키움센터.csv", sigungu="구로구")
    assert len(kium) == 19 and kium["capacity"].sum() == 470
    assert (kium["capacity_source"] == "data").all()
    assert kium["kind"].value_counts().to_dict() == {"kium_general": 16, "kium_fusion": 3}
    hangdong = kium.loc["GR221001"]  # 구로19호점 항동융합형: 학기 0900–2000, 토 0800–1400
    assert (hangdong["term_open"], hangdong["term_close"], hangdong["sat_open"], hangdong["sat_close"]) == (
        540, 1200, 480, 840)
    assert accounted(report)
    centres, _ = io.read_facilities(korea / "facilities/지역아동센터.csv", sigungu="구로구")
    assert len(centres) == 24 and (centres["kind"] == "local_child_center").all()
    assert (centres["capacity_source"] == "catalog").all()  # the Seoul list has no 정원
    daycare, report = io.read_facilities(korea / "facilities/서울시_어린이집_정보_표준데이터.csv",
                                         sigungu="구로구")
    assert ((daycare["status"] == "정상") & (daycare["kind"] == "daycare")).sum() == 213
    assert accounted(report)


@pytest.mark.shared
def test_national_school_file_every_row_accounted(korea):
    schools, report = io.read_schools(korea / "schools/전국초중등학교위치표준데이터.csv")
    assert report.rows_read == 12_011 and len(schools) == 6_303
    assert accounted(report) and not report.rejected
    everything, report = io.read_schools(korea / "schools/전국초중등학교위치표준데이터.csv", level=None,
                                         include_closed=True)
    assert len(everything) == 12_011 and report.kept == 12_011
    for sigungu, sido, count in (("금정구", "부산광역시", 21), ("김천시", None, 27)):
        local, _ = io.read_schools(korea / "schools/전국초중등학교위치표준데이터.csv", sigungu=sigungu, sido=sido)
        assert len(local) == count


@pytest.mark.shared
def test_merged_list_without_ids(korea):
    merged, report = io.read_facilities(korea / "facilities/돌봄센터.csv", sigungu="구로구")
    assert len(merged) == 43 and accounted(report)
    assert merged.index.str.startswith("돌봄센터-").all()


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "minutes"), [
    ("0900", 540), ("09:00", 540), ("9:30", 570), ("1330", 810), ("24:00", 1440), ("9시", 540), ("", np.nan)])
def test_clock_minutes(text, minutes):
    assert clock_minutes(text) == minutes or (np.isnan(minutes) and np.isnan(clock_minutes(text)))


@pytest.mark.parametrize("text", ["25:00", "오후", "12:75"])
def test_clock_minutes_rejects(text):
    with pytest.raises(ValueError, match="clock"):
        clock_minutes(text)


def test_hours_text_forms():
    assert parse_hours_text("학기중: 10:00~19:00 방학중 : 12:00~17:00") == {
        "term": (600, 1140), "vacation": (720, 1020)}
    assert parse_hours_text("13:00 ~ 19:00") == {"term": (780, 1140)}
    assert parse_hours_text("00:00 ~ 00:00") == {}
    assert parse_hours_text("토요일 09:00-13:00") == {"saturday": (540, 780)}
    with pytest.raises(ValueError, match="opening hours"):
        parse_hours_text("상시 운영")


def test_numbers_with_separators():
    values, bad = parse_numbers(pd.Series(["1,234", " 20명", "", None, "abc"]))
    assert values[:2].tolist() == [1234.0, 20.0] and values[2:].isna().all()
    assert bad.tolist() == [False, False, False, False, True]


# ---------------------------------------------------------------- bad input

HEADER = "시설명,유형,주소,정원,학기운영시간,경도,위도\n"
ROW = "해님센터,다함께돌봄센터,서울특별시 구로구 해님로 1,20,14:00 ~ 20:00,126.85,37.49\n"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_empty_file(tmp_path):
    with pytest.raises(EmptyInputError, match="empty"):
        io.read_facilities(write(tmp_path, "a.csv", ""))


def test_header_only(tmp_path):
    with pytest.raises(EmptyInputError, match="no data rows"):
        io.read_facilities(write(tmp_path, "a.csv", HEADER))


def test_html_saved_as_csv(tmp_path):
    page = "<!DOCTYPE html><html><head><title>오류</title></head><body>서비스 점검 중</body></html>"
    with pytest.raises(UnreadableFileError, match="HTML"):
        io.read_facilities(write(tmp_path, "a.csv", page))


def test_missing_required_column(tmp_path):
    with pytest.raises(MissingColumnError, match="lat"):
        io.read_facilities(write(tmp_path, "a.csv", "시설명,경도\n해님센터,126.85\n"))


def test_swapped_lat_lon_is_fixed(tmp_path):
    swapped = ROW.replace("126.85,37.49", "37.49,126.85")
    data, report = io.read_facilities(write(tmp_path, "a.csv", HEADER + ROW + swapped))
    assert report.kept == 2 and [r for r, _ in report.fixed] == [2]
    assert "swapped" in report.fixed[0][1]
    x, y = TO_5179.transform(126.85, 37.49)
    assert np.allclose(data.geometry.x, x) and np.allclose(data.geometry.y, y)


def test_point_outside_korea_rejected(tmp_path):
    tokyo = ROW.replace("126.85,37.49", "139.69,35.68")
    data, report = io.read_facilities(write(tmp_path, "a.csv", HEADER + ROW + tokyo))
    assert len(data) == 1 and report.rejected[0][0] == 2 and "outside Korea" in report.rejected[0][1]
    assert accounted(report)


def test_duplicate_ids_rejected(tmp_path):
    header = "시설ID," + HEADER
    text = header + "A1," + ROW + "A1," + ROW.replace("해님", "달님") + "A2," + ROW
    data, report = io.read_facilities(write(tmp_path, "a.csv", text))
    assert list(data.index) == ["A1", "A2"] and data.loc["A1", "name"] == "해님센터"
    assert report.rejected == [(2, "중복 ID A1 (duplicate id; first at row 1)")]


def test_negative_capacity_fixed_to_default(tmp_path):
    bad = ROW.replace(",20,", ",-5,")
    data, report = io.read_facilities(write(tmp_path, "a.csv", HEADER + bad), kind="dahamkke")
    assert data["capacity"].iloc[0] == 20 and data["capacity_source"].iloc[0] == "catalog"
    assert report.fixed[0][0] == 1 and "-5" in report.fixed[0][1]


def test_unparseable_hours_fall_back_to_catalog(tmp_path):
    bad = ROW.replace("14:00 ~ 20:00", "오후 내내")
    data, report = io.read_facilities(write(tmp_path, "a.csv", HEADER + bad))
    assert (data["term_open"].iloc[0], data["term_close"].iloc[0]) == (840, 1200)  # 다함께 default 14–20
    assert data["hours_source"].iloc[0] == "catalog"
    assert "unparseable" in report.fixed[0][1]


def test_hours_from_text_column(tmp_path):
    data, _ = io.read_facilities(write(tmp_path, "a.csv", HEADER + ROW.replace("14:00 ~ 20:00", "13:00~19:00")))
    assert (data["term_open"].iloc[0], data["term_close"].iloc[0]) == (780, 1140)


def test_invalid_polygon_repaired(tmp_path):
    bowtie = Polygon([(126.80, 37.48), (126.82, 37.50), (126.82, 37.48), (126.80, 37.50)])
    square = Polygon([(126.83, 37.48), (126.84, 37.48), (126.84, 37.49), (126.83, 37.49)])
    gdf = gpd.GeoDataFrame({"HAKGUDO_ID": ["Z1", "Z2"], "HAKGUDO_NM": ["가", "나"], "school_ids": ["B1", "B2"]},
                           geometry=[bowtie, square], crs=4326)
    gdf.to_file(tmp_path / "z.geojson")
    zones, report = io.read_school_zones(tmp_path / "z.geojson")
    assert zones.is_valid.all() and len(zones) == 2
    assert report.fixed and report.fixed[0][0] == 1 and "repaired" in report.fixed[0][1]
    # the repaired bow-tie keeps both triangles: half of the bounding box
    box = gpd.GeoSeries([bowtie.envelope], crs=4326).to_crs(5179).area.iloc[0]
    assert zones.geometry["Z1"].area == pytest.approx(box / 2, rel=1e-3)


def test_metres_without_crs(tmp_path):
    x, y = Transformer.from_crs(4326, 5186, always_xy=True).transform(126.85, 37.49)
    with pytest.raises(CRSError, match="several Korean CRSs"):
        io.read_facilities(write(tmp_path, "a.csv", f"시설명,x,y\n가,{x:.1f},{y:.1f}\n"), kind="dahamkke")
    data, _ = io.read_facilities(write(tmp_path, "b.csv", f"시설명,x,y\n가,{x:.1f},{y:.1f}\n"), kind="dahamkke",
                                 crs=5186)
    ex, ey = TO_5179.transform(126.85, 37.49)
    assert data.geometry.x.iloc[0] == pytest.approx(ex, abs=0.1)  # input rounded to 0.1 m
    u, v = TO_5179.transform(126.85, 37.49)
    data, report = io.read_facilities(write(tmp_path, "c.csv", f"시설명,x,y\n가,{u:.2f},{v:.2f}\n"), kind="dahamkke")
    assert data.geometry.y.iloc[0] == pytest.approx(ey, abs=0.01) and "5179" in " ".join(report.notes)


def test_utf8_and_cp949_read_the_same(tmp_path):
    text = HEADER + ROW + ROW.replace("해님", "별빛")
    a, ra = io.read_facilities(write(tmp_path, "u.csv", text))
    b, rb = io.read_facilities(write(tmp_path, "c.csv", text, encoding="cp949"))
    c, _ = io.read_facilities(write(tmp_path, "s.csv", "\ufeff" + text))
    assert "utf-8" in ra.notes[0] and "cp949" in rb.notes[0]
    b.index = a.index
    c.index = a.index
    for other in (b, c):
        other["source"] = a["source"]
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(other))


def test_unknown_encoding(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(bytes(range(128, 256)) * 40)
    with pytest.raises(UnreadableFileError):
        io.read_facilities(path)


def test_ambiguous_sigungu_needs_sido(tmp_path):
    text = HEADER + ROW.replace("구로구", "중구") + ROW.replace("서울특별시 구로구", "부산광역시 중구").replace(
        "126.85,37.49", "129.03,35.10")
    with pytest.raises(InputDataError, match="several 시도"):
        io.read_facilities(write(tmp_path, "a.csv", text), sigungu="중구")
    data, report = io.read_facilities(write(tmp_path, "a.csv", text), sigungu="중구", sido="부산광역시")
    assert len(data) == 1 and len(report.excluded) == 1


def test_zones_from_shapefile_with_link_table(tmp_path):
    square = Polygon([(190_000, 440_000), (191_000, 440_000), (191_000, 441_000), (190_000, 441_000)])
    gdf = gpd.GeoDataFrame({"HAKGUDO_ID": ["Z1"], "HAKGUDO_NM": ["가온초통학구역"], "HAKGUDO_GB": ["0"]},
                           geometry=[square], crs=5186)
    gdf.to_file(tmp_path / "zones.shp")
    links = pd.DataFrame({"학구ID": ["Z1", "Z1"], "학교ID": ["B1", "B2"]})
    zones, _ = io.read_school_zones(tmp_path / "zones.shp", links=links)
    assert zones.loc["Z1", "school_ids"] == "B1,B2" and zones.crs.to_epsg() == 5179
    assert zones.geometry["Z1"].area == pytest.approx(1e6, rel=1e-3)
    (tmp_path / "zones.prj").unlink()
    with pytest.raises(CRSError, match="5186"):
        io.read_school_zones(tmp_path / "zones.shp", links=links)


def test_students_total_mismatch_is_reported(tmp_path):
    cols = ["학교명", *[f"{g}학년 학생수" for g in range(1, 7)], "특수학급 학생수", "학생수(계)"]
    rows = [["가온초등학교", 10, 10, 10, 10, 10, 10, 2, 62], ["나래초등학교", 1, 1, 1, 1, 1, 1, 0, 9]]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "s.csv", index=False)
    students, report = io.read_students(tmp_path / "s.csv")
    assert students["pupils_total"].tolist() == [62, 6]
    assert report.fixed == [(2, "학생수(계) 9 ≠ 학년 합 6 → 학년 합 사용")]


def test_facility_geojson_input(tmp_path):
    gdf = gpd.GeoDataFrame({"시설명": ["가", "나"], "정원": ["25", None]},
                           geometry=[Point(126.85, 37.49), Point(126.86, 37.50)], crs=4326)
    gdf.to_file(tmp_path / "f.geojson")
    data, report = io.read_facilities(tmp_path / "f.geojson", kind="dahamkke")
    assert data["capacity"].tolist() == [25, 20] and data["capacity_source"].tolist() == ["data", "catalog"]
    assert report.kept == 2


def test_detect_kind_refuses_unknown_columns(tmp_path):
    with pytest.raises(UnreadableFileError, match="--kind"):
        io.detect_kind(write(tmp_path, "a.csv", "foo,bar\n1,2\n"))


def test_raw_zone_folder_with_shared_zone(tmp_path):
    ring = [127_000_000, 37_500_000, 1000, 0, 0, 1000, -1000, 0, 0, -1000]
    own = {"id": "Z1", "name": "가초통학구역", "shared": False, "rings": [ring]}
    shared = {"id": "Z9", "name": "공동통학구역", "shared": True, "rings": [[v + (2000 if i == 0 else 0)
                                                                      for i, v in enumerate(ring)]]}
    (tmp_path / "B1.json").write_text(json.dumps({"zones": [own, shared]}), encoding="utf-8")
    (tmp_path / "B2.json").write_text(json.dumps({"zones": [shared]}), encoding="utf-8")
    zones, report = io.read_school_zones(tmp_path)
    assert zones.loc["Z9", "school_ids"] == "B1,B2" and zones.loc["Z9", "shared"]
    assert zones.loc["Z1", "school_ids"] == "B1"
    assert (report.rows_read, report.kept, len(report.excluded)) == (3, 2, 1)

"""The embedded 가온구 sample (가상 데이터): determinism, formats, internal consistency."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape

from careplan import sample
from careplan._errors import InputDataError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
TO_5179 = Transformer.from_crs(4326, 5179, always_xy=True)

# File -> (encoding that decodes it, has BOM, real counterpart under ../shared/data/korea, its encoding)
FORMATS = {
    "schools.csv": ("cp949", False, "schools/전국초중등학교위치표준데이터.csv", "cp949"),
    "students.csv": ("utf-8", False, "students/2025_학년별학생수_초_서울_구로구.csv", "utf-8"),
    "population.csv": ("cp949", False, "population/202505_202505_연령별인구현황_월간.csv", "cp949"),
    "kium_centers.csv": ("utf-8", True, "facilities/우리동네키움센터.csv", "utf-8-sig"),
    "local_child_centers.csv": ("utf-8", True, "facilities/지역아동센터.csv", "utf-8-sig"),
    "daycare.csv": ("cp949", False, "facilities/서울시_어린이집_정보_표준데이터.csv", "cp949"),
    "dahamkke_centers.csv": ("utf-8", False, None, None),
    "candidates.csv": ("utf-8", True, None, None),
}
BOM = b"\xef\xbb\xbf"


def _rows(name: str, folder: Path = SAMPLE) -> list[list[str]]:
    enc, bom, _, _ = FORMATS[name]
    text = (folder / name).read_bytes().decode("utf-8-sig" if bom else enc)
    return list(csv.reader(io.StringIO(text)))


def _table(name: str, folder: Path = SAMPLE) -> pd.DataFrame:
    rows = _rows(name, folder)
    return pd.DataFrame(rows[1:], columns=rows[0])


def _geo(name: str, folder: Path = SAMPLE) -> list[tuple[dict, shapely.Geometry]]:
    data = json.loads((folder / name).read_text(encoding="utf-8"))
    assert data["crs"]["properties"]["name"] == "urn:ogc:def:crs:OGC:1.3:CRS84"
    out = []
    for feature in data["features"]:
        geom = shapely.transform(shape(feature["geometry"]), lambda xy: np.column_stack(
            TO_5179.transform(xy[:, 0], xy[:, 1])))
        out.append((feature["properties"], geom))
    return out


def _point(lon: str, lat: str) -> Point:
    return Point(*TO_5179.transform(float(lon), float(lat)))


def _int(text: str) -> int:
    return int(text.replace(",", ""))


# --------------------------------------------------------------------------- determinism


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    sample.generate(out, walk_graph=(SAMPLE / "walk.graphml").exists())
    return out


def test_regenerating_gives_the_committed_bytes(regenerated):
    committed = sorted(p.name for p in SAMPLE.iterdir() if p.name in sample.SAMPLE_FILES)
    fresh = sorted(p.name for p in regenerated.iterdir())
    assert fresh == committed
    for name in committed:
        assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes(), name


def test_another_seed_gives_another_place(tmp_path, regenerated):
    sample.generate(tmp_path, seed=7, walk_graph=False)
    assert (tmp_path / "schools.csv").read_bytes() != (regenerated / "schools.csv").read_bytes()
    # ... but the same layout: 8 elementary schools and 8 행정동 again.
    schools = pd.read_csv(tmp_path / "schools.csv", encoding="cp949")
    assert (schools["학교급구분"] == "초등학교").sum() == 8
    assert len(json.loads((tmp_path / "admin_areas.geojson").read_text())["features"]) == 8


def test_sample_dir_points_at_the_checked_in_folder(monkeypatch, tmp_path):
    assert sample.sample_dir() == SAMPLE.resolve()
    monkeypatch.setattr(sample, "_SAMPLE_DIR", tmp_path / "nowhere")
    with pytest.raises(InputDataError, match="python -m careplan.sample"):
        sample.sample_dir()


# --------------------------------------------------------------------------- encodings and layout


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_encoding(name):
    enc, bom, _, _ = FORMATS[name]
    raw = (SAMPLE / name).read_bytes()
    assert raw.startswith(BOM) == bom
    text = raw.decode("utf-8-sig" if bom else enc)
    assert any("\uac00" <= ch <= "\ud7a3" for ch in text)  # has Hangul
    if enc == "cp949":
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if f[2]])
def test_header_and_quoting_match_the_real_file(name, korea):
    _, _, real_path, real_enc = FORMATS[name]
    with open(korea / real_path, "rb") as fh:
        real_head = fh.readline().decode(real_enc).rstrip("\n")
    enc, bom, _, _ = FORMATS[name]
    ours = (SAMPLE / name).read_bytes().decode("utf-8-sig" if bom else enc)
    assert ours.split("\n", 1)[0] == real_head  # same columns, same quoting, same order


def test_column_counts():
    expected = {"schools.csv": 20, "students.csv": 38, "population.csv": 104,
                "kium_centers.csv": 38,
                "local_child_centers.csv": 24, "daycare.csv": 62, "dahamkke_centers.csv": 9,
                "candidates.csv": 7}
    for name, width in expected.items():
        rows = _rows(name)
        assert {len(r) for r in rows} == {width}, name


def test_schools_unquoted_and_without_final_newline():
    raw = (SAMPLE / "schools.csv").read_bytes()
    assert b'"' not in raw and not raw.endswith(b"\n") and b"\r" not in raw


def test_synthetic_label_everywhere():
    label = sample.SYNTHETIC_LABEL
    assert set(_table("schools.csv")["제공기관명"]) == {f"careplan {label}"}
    assert all(label in v for v in _table("candidates.csv")["비고"])
    assert all(label in v for v in _table("kium_centers.csv")["상세주소"])
    assert all(label in v for v in _table("local_child_centers.csv")["상세주소"])
    assert all(label in v for v in _table("daycare.csv")["상세주소"])
    assert all(label in v for v in _table("dahamkke_centers.csv")["주소"])
    for name in ("school_zones.geojson", "admin_areas.geojson"):
        assert label in json.loads((SAMPLE / name).read_text())["name"]
    assert label in (SAMPLE / "README.md").read_text(encoding="utf-8")


def test_names_are_not_real_school_names(korea):
    text = (korea / "schools/전국초중등학교위치표준데이터.csv").read_bytes().decode("cp949")
    real = {row[1] for row in csv.reader(io.StringIO(text))}
    ours = set(_table("schools.csv")["학교명"])
    assert len(ours) == 12
    assert not ours & real


# --------------------------------------------------------------------------- consistency


def test_students_grade_sums_and_join_by_name():
    students, schools = _table("students.csv"), _table("schools.csv")
    assert len(students) == 8
    for _, row in students.iterrows():
        grades = [int(row[f"{g}학년 학생수"]) for g in range(1, 7)]
        special = int(row["특수학급 학생수"]) + int(row["순회학급 학생수"])
        assert sum(grades) + special == int(row["학생수(계)"])
        classes = [int(row[f"{g}학년 학급수"]) for g in range(1, 7)]
        assert sum(classes) + int(row["특수학급 학급수"]) + int(row["순회학급 학급수"]) == int(row["학급수(계)"])
        assert 200 <= int(row["학생수(계)"]) <= 1000
        assert float(row["1학년 학급당 학생수"]) == pytest.approx(grades[0] / classes[0], abs=0.051)
    assert (students["특수학급 학생수"].astype(int) > 0).sum() >= 3  # a few special-class pupils
    elementary = schools[schools["학교급구분"] == "초등학교"]
    assert sorted(students["학교명"]) == sorted(elementary["학교명"])
    assert set(schools["학교급구분"]) == {"초등학교", "중학교", "고등학교"}


def test_population_rows_sum_and_nest():
    rows = _rows("population.csv")
    header, body = rows[0], rows[1:]
    assert header[-1].endswith("100세 이상")
    assert body[0][0] == "서울특별시  (1100000000)"
    assert body[1][0] == "서울특별시 가온구 (1199000000)"
    dongs = body[2:]
    assert len(dongs) == 8
    assert all(r[0].startswith("서울특별시 가온구 ") and r[0].endswith("000)") for r in dongs)
    for row in body:
        ages = [_int(v) for v in row[3:]]
        assert sum(ages) == _int(row[1]) == _int(row[2])
    dong_ages = np.array([[_int(v) for v in r[1:]] for r in dongs])
    for total_row in body[:2]:  # the 시도 and 구 rows are the sums of the 행정동
        assert [_int(v) for v in total_row[1:]] == dong_ages.sum(axis=0).tolist()
    assert any("," in v for v in body[0][1:])  # thousands separators are there


def test_children_are_about_1_1_times_pupils():
    pupils = _table("students.csv")["학생수(계)"].astype(int).sum()
    dongs = _rows("population.csv")[3:]
    children = sum(_int(v) for r in dongs for v in r[3 + 6: 3 + 13])
    assert 1.05 * pupils <= children <= 1.15 * pupils


def test_each_school_lies_in_its_own_zone():
    zones = _geo("school_zones.geojson")
    schools = _table("schools.csv").set_index("학교ID")
    elementary = schools[schools["학교급구분"] == "초등학교"]
    own = {p["school_ids"]: g for p, g in zones if not p["shared"]}
    assert sorted(own) == sorted(elementary.index)
    for sid, row in elementary.iterrows():
        point = _point(row["경도"], row["위도"])
        assert own[sid].contains(point), sid
        assert not any(g.contains(point) for p, g in zones if p["school_ids"] != sid)


def test_one_shared_zone_of_two_neighbouring_schools():
    zones = _geo("school_zones.geojson")
    shared = [(p, g) for p, g in zones if p["shared"]]
    assert len(shared) == 1
    props, geom = shared[0]
    ids = props["school_ids"].split(",")
    assert len(ids) == 2 and props["HAKGUDO_NM"].endswith("공동통학구역")
    own = {p["school_ids"]: g for p, g in zones if not p["shared"]}
    for sid in ids:  # it borders both schools' own zones
        assert geom.distance(own[sid]) < 1.0
    assert all(p["HAKGUDO_ID"].startswith("Z") and len(p["HAKGUDO_ID"]) == 10 for p, _ in zones)


@pytest.mark.parametrize("name", ["school_zones.geojson", "admin_areas.geojson"])
def test_polygons_tile_the_gu(name):
    geoms = [g for _, g in _geo(name)]
    assert all(g.is_valid and g.geom_type == "MultiPolygon" for g in geoms)
    union = shapely.union_all(geoms)
    total = sum(g.area for g in geoms)
    assert union.area == pytest.approx(total, rel=1e-6)  # no overlaps
    parts = shapely.get_parts(union)
    assert len(parts) == 1 and shapely.get_num_interior_rings(parts[0]) == 0  # one piece, no holes
    assert 10e6 < union.area < 14e6  # about 3 km × 4 km


def test_zones_and_dongs_cover_the_same_gu_differently():
    zones = shapely.union_all([g for _, g in _geo("school_zones.geojson")])
    dongs_geo = _geo("admin_areas.geojson")
    dongs = shapely.union_all([g for _, g in dongs_geo])
    assert zones.symmetric_difference(dongs).area < 1e-5 * zones.area
    # Independent tilings: no 행정동 coincides with a 학구.
    for _, d in dongs_geo:
        for _, z in _geo("school_zones.geojson"):
            assert d.symmetric_difference(z).area > 0.05 * d.area


def test_admin_areas_join_population():
    props = [p for p, _ in _geo("admin_areas.geojson")]
    codes = {row[0][-11:-1] for row in _rows("population.csv")[3:]}
    assert {p["adm_cd2"] for p in props} == codes
    assert {(p["sgg"], p["sggnm"], p["sidonm"]) for p in props} == {("11990", "가온구", "서울특별시")}
    assert all(p["adm_nm"].startswith("서울특별시 가온구 ") for p in props)


def _inside_gu(points: list[Point]) -> bool:
    gu = shapely.union_all([g for _, g in _geo("admin_areas.geojson")])
    return all(gu.contains(p) for p in points)


def test_facilities_match_the_brief():
    kium = _table("kium_centers.csv")
    assert len(kium) == 6 and (kium["서비스분류명"] == "융합형키움센터").sum() == 1
    assert set(kium["자치구명"]) == {"가온구"} and set(kium["자치구코드"]) == {"11990"}
    assert kium["학기시작시간"].str.fullmatch(r"\d{4}").all()
    assert kium["시설ID"].is_unique
    local = _table("local_child_centers.csv")
    assert len(local) == 8
    assert (local["학기종료시간"] == "2200").sum() == 1
    assert (local["토요일운영여부"] == "Y").sum() == 1
    no_xy = local[local["X좌표값"] == ""]
    assert list(no_xy["시설명"]) == ["디딤돌지역아동센터"]
    assert list(local.loc[local["학기시작시간"] == "", "시설명"]) == ["열매지역아동센터"]
    daham = _table("dahamkke_centers.csv")
    assert len(daham) == 3 and set(daham["학기운영시간"]) == {"14:00 ~ 20:00"}
    daycare = _table("daycare.csv")
    assert len(daycare) >= 20 and (daycare["운영현황"] == "폐지").sum() == 3
    assert (daycare.loc[daycare["운영현황"] == "폐지", "현원"] == "0").all()
    points = [_point(x, y) for x, y in zip(kium["X좌표값"], kium["Y좌표값"], strict=True)]
    local_xy = local.drop(no_xy.index)
    points += [_point(x, y) for x, y in zip(local_xy["X좌표값"], local_xy["Y좌표값"], strict=True)]
    points += [_point(x, y) for x, y in zip(daham["경도"], daham["위도"], strict=True)]
    points += [_point(x, y) for x, y in
               zip(daycare["시설 경도(좌표값)"], daycare["시설 위도(좌표값)"], strict=True)]
    assert _inside_gu(points)


def test_candidates():
    cand = _table("candidates.csv")
    assert len(cand) == 25
    assert set(cand["유형"]) == {"주민센터", "작은도서관", "경로당", "공공시설"}
    assert (cand["유형"] == "주민센터").sum() == 8
    area = cand["전용면적(㎡)"].astype(float)
    assert area.between(40, 300).all()
    assert cand["층"].astype(int).between(1, 4).all()
    assert cand["후보지명"].is_unique
    assert _inside_gu([_point(x, y) for x, y in zip(cand["경도"], cand["위도"], strict=True)])


@pytest.mark.parametrize("seed", [1, 2, 3, 7])
def test_invariants_hold_for_other_seeds(tmp_path, seed):
    sample.generate(tmp_path, seed=seed, walk_graph=False)
    zones = _geo("school_zones.geojson", tmp_path)
    schools = _table("schools.csv", tmp_path)
    own = {p["school_ids"]: g for p, g in zones if not p["shared"]}
    shared = [g for p, g in zones if p["shared"]]
    assert len(shared) == 1
    for _, row in schools[schools["학교급구분"] == "초등학교"].iterrows():
        point = _point(row["경도"], row["위도"])
        assert own[row["학교ID"]].contains(point) and not shared[0].contains(point)
    for name in ("school_zones.geojson", "admin_areas.geojson"):
        geoms = [g for _, g in _geo(name, tmp_path)]
        assert all(g.is_valid for g in geoms)
        assert shapely.union_all(geoms).area == pytest.approx(sum(g.area for g in geoms), rel=1e-6)
    pupils = _table("students.csv", tmp_path)["학생수(계)"].astype(int).sum()
    children = sum(_int(v) for r in _rows("population.csv", tmp_path)[3:] for v in r[9:16])
    assert 1.05 * pupils <= children <= 1.15 * pupils


# --------------------------------------------------------------------------- through careplan.io

cio = pytest.importorskip("careplan.io")


def _rows_of(pairs) -> list[int]:
    return sorted(row for row, _ in pairs)


def test_readers_keep_every_row_but_the_deliberate_ones():
    schools, report = cio.read_schools(SAMPLE / "schools.csv", sigungu="가온구")
    assert len(schools) == 8 and report.rejected == [] and report.fixed == []
    assert _rows_of(report.excluded) == [9, 10, 11, 12]  # the 중·고등학교 rows
    students, report = cio.read_students(SAMPLE / "students.csv")
    assert report.rejected == [] and report.kept == 8
    joined, report = cio.attach_pupils(schools, students)
    assert report.rejected == [] and joined["alimi_code"].notna().all()
    pupils = _table("students.csv").set_index("학교명")["학생수(계)"].astype(float)
    joined_pupils = joined.set_index("name")["pupils_total"].sort_index()
    assert joined_pupils.tolist() == pupils.sort_index().tolist()
    assert joined["synthetic"].all()

    zones, report = cio.read_school_zones(SAMPLE / "school_zones.geojson")
    assert report.rejected == [] and report.fixed == [] and len(zones) == 9
    links = cio.zone_school_links(zones)
    assert len(links) == 10 and set(links["school_id"]) == set(schools.index)
    for zone_id, school_id in links.itertuples(index=False):  # each school inside its own zone
        if not zones.loc[zone_id, "shared"]:
            assert zones.loc[zone_id, "geometry"].contains(schools.loc[school_id, "geometry"])

    population, report = cio.read_population(SAMPLE / "population.csv")
    assert report.rejected == [] and len(population) == 10
    assert population["level"].tolist() == ["시도", "시군구"] + ["읍면동"] * 8
    areas, report = cio.read_admin_areas(SAMPLE / "admin_areas.geojson", population=population)
    assert report.rejected == [] and len(areas) == 8
    children = areas["children_6_12"].sum()
    assert children == population.loc["1199000000", "children_6_12"]
    assert 1.05 * joined["pupils_total"].sum() <= children <= 1.15 * joined["pupils_total"].sum()


def test_facility_readers_report_exactly_the_messy_rows():
    kium, report = cio.read_facilities(SAMPLE / "kium_centers.csv")
    assert report.rejected == [] and report.excluded == []
    assert sorted(kium["kind"]) == ["kium_fusion"] + ["kium_general"] * 5
    fusion = kium[kium["kind"] == "kium_fusion"]
    assert fusion[["sat_open", "sat_close"]].values.tolist() == [[540, 840]]

    local, report = cio.read_facilities(SAMPLE / "local_child_centers.csv")
    assert [row for row, _ in report.rejected] == [8]  # 디딤돌지역아동센터: no coordinates
    assert report.excluded == [] and len(local) == 7
    by_name = local.set_index("name")
    assert by_name.loc["새싹지역아동센터", "term_close"] == 22 * 60
    assert by_name.loc["무지개지역아동센터", ["sat_open", "sat_close"]].tolist() == [600, 900]
    assert np.isnan(by_name.loc["한마음지역아동센터", "sat_open"])
    # Blank 학기 hours -> the catalog's 14:00–19:00; the others' "1300" comes from the data.
    assert by_name.loc["열매지역아동센터", ["term_open", "term_close"]].tolist() == [840, 1140]
    assert by_name.loc["푸른꿈지역아동센터", ["term_open", "term_close"]].tolist() == [780, 1140]

    daham, report = cio.read_facilities(SAMPLE / "dahamkke_centers.csv", kind="dahamkke")
    assert report.rejected == [] and len(daham) == 3
    assert daham["capacity"].tolist() == [20, 25, 20] and set(daham["term_open"]) == {14 * 60}

    daycare, report = cio.read_facilities(SAMPLE / "daycare.csv")
    assert report.rejected == []
    closed = _table("daycare.csv").reset_index().query("운영현황 == '폐지'")["index"] + 1
    assert _rows_of(report.excluded) == closed.tolist()
    assert len(daycare) == 20 and set(daycare["kind"]) == {"daycare"}

    sites, report = cio.read_candidates(SAMPLE / "candidates.csv")
    assert report.rejected == [] and len(sites) == 25
    assert sites["area_m2"].between(40, 300).all() and sites["synthetic"].all()
    for layer in (kium, local, daham, daycare, sites):
        assert layer.crs.to_epsg() == 5179


def test_walk_graph_covers_the_gu_and_loads_like_osmnx():
    path = SAMPLE / "walk.graphml"
    if not path.exists():
        pytest.skip("walk.graphml not generated (careplan.network.synthetic_walk_graph missing)")
    assert path.stat().st_size <= 5 * 1024 * 1024
    import networkx as nx
    import osmnx as ox

    raw = ox.load_graphml(path)
    assert raw.graph["crs"].upper() == "EPSG:4326"  # like a downloaded OSMnx graph
    assert sample.SYNTHETIC_LABEL in raw.graph["careplan_label"]
    assert nx.is_weakly_connected(raw)
    xy = np.array([[d["x"], d["y"]] for _, d in raw.nodes(data=True)])
    nodes = shapely.points(np.column_stack(TO_5179.transform(xy[:, 0], xy[:, 1])))
    gu = shapely.union_all([g for _, g in _geo("admin_areas.geojson")])
    assert shapely.contains(gu.buffer(500 + 1), nodes).all()  # nothing beyond the 500 m margin
    # Every part of the 구 is within a block of a street node.
    probe = shapely.points(np.array([[x, y] for x in np.linspace(*gu.bounds[0::2], 30)
                                     for y in np.linspace(*gu.bounds[1::2], 40)]))
    probe = probe[shapely.contains(gu, probe)]
    nearest = shapely.STRtree(nodes).query_nearest(probe, return_distance=True)[1]
    assert nearest.max() < 150
    from careplan import network

    G = network.load_graph(path)
    assert "5179" in str(G.graph["crs"]) and len(G) == len(raw)
    assert all("walk_min" in d for _, _, d in G.edges(data=True))

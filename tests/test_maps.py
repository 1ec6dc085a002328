"""careplan.maps: the planner's Folium map and the public 돌봄지도 folder (no browser here).

The layers are built here as small contract-conforming GeoDataFrames in EPSG:5179,
placed on a grid so every distance and filter count can be worked out by hand
(see ``EXPECTED`` below); tests/test_public_map_browser.py reuses them.
"""

from __future__ import annotations

import json
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from careplan._errors import (
    CareplanWarning,
    CRSError,
    EmptyInputError,
    InputDataError,
    MissingColumnError,
    SettingsError,
)
from careplan.maps import (
    escape_text,
    facility_popup_html,
    format_capacity,
    format_fee,
    format_span,
    planner_map,
    public_care_map,
    school_facility_walk_times,
)

NAN = math.nan
X0, Y0 = 945_000.0, 1_945_000.0  # 서울개명초 (B001), Korea 2000 / Unified CS metres
XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "융합 키움 <script>alert(2)</script>"
XSS_TEMPLATE = "`${alert(3)}` 백틱 키움\\"
XSS_SCHOOL = "<b>신도림</b>초등학교"

# id, kind, name, dx, dy (metres from B001), term, vac, sat, fee_month, grades,
# capacity, temp, status
_FAC = [
    (
        "F01",
        "kium_general",
        "구로1호 키움센터",
        100,
        0,
        (780, 1140),
        (540, 1140),
        None,
        50_000,
        (1, 6),
        20,
        5,
        "정상",
    ),
    (
        "F02",
        "dahamkke",
        "개봉 다함께돌봄센터",
        0,
        300,
        (840, 1200),
        (540, 1080),
        None,
        100_000,
        (1, 4),
        20,
        5,
        "정상",
    ),
    (
        "F03",
        "local_child_center",
        XSS_IMG,
        400,
        0,
        (840, 1140),
        (720, 1020),
        (600, 840),
        0,
        (1, 6),
        29,
        0,
        "정상",
    ),
    (
        "F04",
        "kium_fusion",
        XSS_SCRIPT,
        0,
        -500,
        (780, 1200),
        (540, 1200),
        (540, 840),
        50_000,
        (1, 6),
        40,
        10,
        "정상",
    ),
    (
        "F05",
        "school_care",
        "개명초 돌봄교실",
        0,
        0,
        (720, 1020),
        (540, 1020),
        None,
        0,
        (1, 2),
        20,
        0,
        "정상",
    ),
    (
        "F06",
        "dahamkke",
        "멀리 다함께돌봄센터",
        600,
        0,
        (840, 1320),
        (540, 1080),
        (540, 780),
        80_000,
        (3, 6),
        25,
        0,
        "정상",
    ),
    (
        "F07",
        "daycare",
        "해님 어린이집",
        2100,
        0,
        (450, 1170),
        (450, 1170),
        None,
        NAN,
        None,
        40,
        0,
        "정상",
    ),
    (
        "F08",
        "care_119",
        "119 돌봄센터",
        2000,
        200,
        (0, 1439),
        (0, 1439),
        (0, 1439),
        NAN,
        (1, 3),
        0,
        5,
        "정상",
    ),
    (
        "F09",
        "kium_general",
        XSS_TEMPLATE,
        3000,
        1000,
        (780, 1140),
        None,
        None,
        50_000,
        (1, 6),
        20,
        5,
        "정상",
    ),
    (
        "F10",
        "dahamkke",
        "폐지된 돌봄센터",
        300,
        300,
        (840, 1200),
        (540, 1080),
        None,
        100_000,
        (1, 6),
        20,
        0,
        "폐지",
    ),
]

# Hand-computed answers for the 9 published facilities (F10 is closed).
# Straight-line reach: 10 min × 4 km/h / 1.3 = 512.8 m.
EXPECTED = {
    "all": 9,
    "until_18": 8,  # term_close >= 1080: all but F05 (17:00)
    "until_20": 4,  # >= 1200: F02, F04, F06, F08
    "until_22": 2,  # >= 1320: F06, F08
    "vacation": 8,  # all but F09
    "saturday": 4,  # F03, F04, F06, F08
    "grade_1_2": 7,  # serves a grade in 1–2: not F06 (3–6), not F07 (preschool)
    "grade_3_4": 7,  # not F05 (1–2), not F07
    "grade_5_6": 5,  # F01, F03, F04, F06, F09
    "fee_free": 2,  # F03, F05
    "fee_50k": 5,  # F01, F03, F04, F05, F09
    "fee_100k": 7,  # + F02, F06
    "no_dahamkke": 7,  # F02, F06 unchecked
    "until_20_and_saturday": 3,  # F04, F06, F08
    "near_B001": ["F05", "F01", "F02", "F03", "F04"],  # 0, 100, 300, 400, 500 m
    "near_B001_min": [0.0, 1.95, 5.85, 7.8, 9.75],
    "near_B002": ["F07", "F08"],  # 100 m, 200 m
    "adm_gaebong": 6,  # F01–F06
    "adm_cheonwang": 3,  # F07–F09
}
ADM_GAEBONG, ADM_CHEONWANG = "1153051000", "1153060000"


def make_facilities() -> gpd.GeoDataFrame:
    rows = []
    for fid, kind, name, dx, dy, term, vac, sat, fee, grades, cap, temp, status in _FAC:
        term, vac, sat = (t or (NAN, NAN) for t in (term, vac, sat))
        rows.append(
            {
                "facility_id": fid,
                "name": name,
                "kind": kind,
                "sido": "서울특별시",
                "sigungu": "구로구",
                "sigungu_code": "11530",
                "address": f"서울특별시 구로구 개봉로 {fid[1:]}길",
                "capacity": float(cap),
                "capacity_temp": float(temp),
                "capacity_source": "data",
                "enrolled": NAN,
                "term_open": float(term[0]),
                "term_close": float(term[1]),
                "vac_open": float(vac[0]),
                "vac_close": float(vac[1]),
                "sat_open": float(sat[0]),
                "sat_close": float(sat[1]),
                "hours_source": "data",
                "fee_month": float(fee),
                "fee_day": NAN,
                "area_m2": 100.0,
                "min_grade": float(grades[0]) if grades else NAN,
                "max_grade": float(grades[1]) if grades else NAN,
                "status": status,
                "source": "test",
                "data_date": "2025-05-31",
                "synthetic": False,
                # Columns a source may carry that must never be published:
                "phone": "02-123-4567",
                "staff_name": "홍길동",
                "staff_email": "hong@example.com",
                "geometry": Point(X0 + dx, Y0 + dy),
            }
        )
    return gpd.GeoDataFrame(rows, crs=5179).set_index("facility_id")


def make_schools() -> gpd.GeoDataFrame:
    rows = [
        ("B001", "서울개명초등학교", "서울특별시 구로구 개봉로 1", X0, Y0),
        ("B002", "서울천왕초등학교", "서울특별시 구로구 천왕로 2", X0 + 2000, Y0),
        ("B003", XSS_SCHOOL, "서울특별시 구로구 신도림로 3", X0 + 5000, Y0 + 3000),
    ]
    return gpd.GeoDataFrame(
        [
            {
                "school_id": i,
                "name": n,
                "level": "초등학교",
                "address": a,
                "status": "운영",
                "pupils_total": 600.0,
                "source": "test",
                "data_date": "2025-05-31",
                "synthetic": False,
                "geometry": Point(x, y),
            }
            for i, n, a, x, y in rows
        ],
        crs=5179,
    ).set_index("school_id")


def make_zones() -> gpd.GeoDataFrame:
    rows = [
        ("Z001", "서울개명초통학구역", False, "B001", box(X0 - 500, Y0 - 500, X0 + 500, Y0 + 500)),
        (
            "Z002",
            "개명·천왕 공동통학구역",
            True,
            "B001,B002",
            box(X0 + 500, Y0 - 500, X0 + 2500, Y0 + 500),
        ),
        (
            "Z003",
            "신도림초 <통학구역>",
            False,
            "B003",
            box(X0 + 4500, Y0 + 2500, X0 + 5500, Y0 + 3500),
        ),
    ]
    return gpd.GeoDataFrame(
        [
            {
                "zone_id": z,
                "name": n,
                "shared": s,
                "school_ids": ids,
                "sigungu": "구로구",
                "geometry": g,
            }
            for z, n, s, ids, g in rows
        ],
        crs=5179,
    ).set_index("zone_id")


def make_admin_areas() -> gpd.GeoDataFrame:
    rows = [
        (ADM_GAEBONG, "개봉1동", box(X0 - 1000, Y0 - 1000, X0 + 1000, Y0 + 1000)),
        (ADM_CHEONWANG, "천왕동", box(X0 + 1000, Y0 - 1000, X0 + 4000, Y0 + 2000)),
    ]
    return gpd.GeoDataFrame(
        [
            {
                "adm_code": c,
                "name": n,
                "full_name": f"서울특별시 구로구 {n}",
                "sido": "서울특별시",
                "sigungu": "구로구",
                "sigungu_code": "11530",
                "level": "행정동",
                "children_6_12": 900.0,
                "data_date": "2025-05",
                "geometry": g,
            }
            for c, n, g in rows
        ],
        crs=5179,
    ).set_index("adm_code")


def make_demand_points() -> gpd.GeoDataFrame:
    pts = [
        ("P1", "Z001", ADM_GAEBONG, 30.0, X0 - 200, Y0),
        ("P2", "Z002", ADM_CHEONWANG, 12.5, X0 + 1500, Y0),
        ("P3", "Z002", ADM_CHEONWANG, 0.0, X0 + 1800, Y0),
    ]
    return gpd.GeoDataFrame(
        [
            {
                "point_id": p,
                "zone_id": z,
                "adm_code": a,
                "children": d / 0.24,
                "demand": d,
                "priority_demand": d,
                "geometry": Point(x, y),
            }
            for p, z, a, d, x, y in pts
        ],
        crs=5179,
    ).set_index("point_id")


def make_proposed() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "name": ["천왕동 주민센터", "개봉 작은도서관"],
            "kind": ["dahamkke", "kium_general"],
            "rank": [2, 1],
            "marginal_gain": [10.25, 23.5],
            "cumulative_coverage_pct": [71.0, 62.5],
            "explanation": ["10분 거리 안 돌봄 수요 10명 추가 <b>", "10분 거리 안 돌봄 수요 24명 추가"],
        },
        geometry=[Point(X0 + 1500, Y0 + 300), Point(X0 - 700, Y0 + 600)],
        index=pd.Index(["S2", "S1"], name="site_id"),
        crs=5179,
    )


def layers() -> dict:
    return {
        "facilities": make_facilities(),
        "schools": make_schools(),
        "zones": make_zones(),
        "admin_areas": make_admin_areas(),
    }


def build_public(out_dir, **kw):
    """The public map of the test layers (used by the browser tests too)."""
    args = dict(
        layers(),
        data_date="2025-05-31",
        synthetic=False,
        attributions=["공공데이터포털 — 공공누리", "© OpenStreetMap contributors (ODbL)"],
    )
    args.update(kw)
    return public_care_map(out_dir, **args)


def read_data_js(index_path) -> dict:
    text = (index_path.parent / "data.js").read_text("utf-8")
    assert text.startswith("window.CAREPLAN_DATA = ") and text.rstrip().endswith(";")
    return json.loads(text[len("window.CAREPLAN_DATA = ") :].rstrip().rstrip(";"))


# ---------------------------------------------------------------- formatting


def test_formatting_helpers_give_korean_text():
    assert format_span(780, 1140) == "13:00–19:00"
    assert format_span(450, 1170) == "07:30–19:30"
    assert format_span(0, 1440) == "00:00–24:00"
    assert format_span(NAN, NAN) == "운영 안 함"
    assert format_fee(0) == "무료"
    assert format_fee(50_000) == "월 50,000원"
    assert format_fee(NAN, 2_500) == "일시 1일 2,500원"
    assert format_fee(NAN) == "미공개"
    assert format_capacity(20, 5) == "정원 20명 (상시) · 일시 5명"
    assert format_capacity(27, 0) == "정원 27명 (상시)"


def test_escape_text_neutralises_html_and_js_template_syntax():
    assert escape_text(XSS_IMG) == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape_text("`${x}`\\") == "&#96;&#36;&#123;x&#125;&#96;&#92;"
    assert escape_text("{{ 7*7 }} {%x%} {#") == (
        "&#123;&#123; 7*7 &#125;&#125; &#123;%x%&#125; &#123;#"
    )
    assert escape_text("\"a\" & 'b'") == "&quot;a&quot; &amp; &#x27;b&#x27;"
    assert escape_text(None, missing="미공개") == "미공개"
    assert escape_text(NAN) == ""


# ---------------------------------------------------------------- walk times


def test_straight_line_walk_times_match_hand_computation():
    times = school_facility_walk_times(make_schools(), make_facilities(), max_walk_min=10)
    b1 = times[times["school_id"] == "B001"]
    # F10 (closed, at 424 m) is still a facility here; the public map drops it later.
    assert list(b1["facility_id"]) == ["F05", "F01", "F02", "F03", "F10", "F04"]
    np.testing.assert_allclose(
        b1["walk_min"], [0.0, 1.95, 5.85, 7.8, math.hypot(300, 300) * 1.3 / (4000 / 60), 9.75]
    )
    b2 = times[times["school_id"] == "B002"]
    assert list(b2["facility_id"]) == ["F07", "F08"]
    np.testing.assert_allclose(b2["walk_min"], [1.95, 3.9])
    assert "B003" not in set(times["school_id"])


def test_walk_times_brute_force_on_random_points():
    rng = np.random.default_rng(7)
    s = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*rng.uniform(0, 3000, (2, 40))), crs=5179)
    f = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*rng.uniform(0, 3000, (2, 60))), crs=5179)
    s.index = [f"S{i}" for i in range(40)]
    f.index = [f"F{i}" for i in range(60)]
    times = school_facility_walk_times(s, f, max_walk_min=12, walk_speed_kmh=4.5, detour_factor=1.4)
    d = (
        np.hypot(
            s.geometry.x.to_numpy()[:, None] - f.geometry.x.to_numpy()[None],
            s.geometry.y.to_numpy()[:, None] - f.geometry.y.to_numpy()[None],
        )
        * 1.4
        / 75.0
    )
    expect = {(s.index[i], f.index[j]): d[i, j] for i, j in zip(*np.nonzero(d <= 12), strict=True)}
    got = {(a, b): w for a, b, w in times.itertuples(index=False)}
    assert set(got) == set(expect)
    np.testing.assert_allclose([got[k] for k in expect], list(expect.values()))


def test_walk_times_reject_bad_settings():
    with pytest.raises(SettingsError, match="walk_speed_kmh > 0"):
        school_facility_walk_times(make_schools(), make_facilities(), walk_speed_kmh=0)


# ---------------------------------------------------------------- planner map


def _planner(**kw):
    zone_stats = pd.DataFrame(
        {"coverage_pct": [80.0, 35.5], "unmet_demand": [4.0, 22.0]},
        index=pd.Index(["Z001", "Z002"], name="zone_id"),
    )
    adm_stats = pd.DataFrame(
        {"access_score": [1.2, 0.4]}, index=pd.Index([ADM_GAEBONG, ADM_CHEONWANG], name="adm_code")
    )
    service = make_facilities().loc[["F01"]].copy()
    service["geometry"] = service.buffer(500)
    service["walk_min"] = 10.0
    args = dict(
        layers(),
        demand_points=make_demand_points(),
        service_areas=service,
        proposed=make_proposed(),
        zone_stats=zone_stats,
        adm_stats=adm_stats,
        distance_method_label="직선거리 × 우회계수 1.3 (도보 네트워크 없음, 보행속도 4 km/h)",
        synthetic=False,
        title="구로구 돌봄 계획 <시안>",
    )
    args.update(kw)
    return planner_map(**args)


def _js(text: str) -> str:
    """How folium/branca write a Python string into the page (JSON, non-ASCII escaped)."""
    return json.dumps(text)[1:-1]


@pytest.fixture(scope="module")
def planner_html() -> str:
    return _planner().get_root().render()


def test_planner_map_has_every_layer_and_legend(planner_html):
    expected_layers = [
        "시설: 우리동네키움센터(일반형) (2)",
        "시설: 다함께돌봄센터 (3)",
        "시설: 지역아동센터 (1)",
        "시설: 우리동네키움센터(융합형) (1)",
        "시설: 초등돌봄교실·늘봄 (1)",
        "시설: 어린이집 (1)",
        "시설: 119 돌봄센터 (1)",
        "초등학교 (3)",
        "학구 경계",
        "행정동 경계",
        "학구: 돌봄 충족률 (%)",
        "학구: 미충족 수요 (명)",
        "행정동: 접근성 점수 (access score)",
        "돌봄 수요 (수요점 demand points, 합계 42명)",
        "시설 도보권 (service areas)",
        "제안 입지 (proposed, 2)",
    ]
    for name in expected_layers:
        assert _js(name) in planner_html, name
    # Stats columns that were not given make no layer.
    assert _js("행정동: 돌봄 충족률 (%)") not in planner_html
    assert _js("학구: 접근성 점수 (access score)") not in planner_html
    # One branca legend per choropleth, captioned with the layer name, bound to its layer.
    captions = re.findall(r'\.attr\("class", "caption"\)[^;]*?\.text\(("[^"]*")\)', planner_html)
    assert sorted(json.loads(c) for c in captions) == sorted(
        ["학구: 돌봄 충족률 (%)", "학구: 미충족 수요 (명)", "행정동: 접근성 점수 (access score)"]
    )
    assert planner_html.count('map.on("overlayadd"') == 3
    for control in ("L.control.layers", "L.control.careplanFullscreen", "L.control.scale()"):
        assert control in planner_html, control
    # The CDN plugins are gone (docs/design-changes.md): no measure tool, minimap or heat layer.
    for plugin in ("L.Control.Measure", "L.Control.MiniMap", "L.heatLayer", "L.control.fullscreen"):
        assert plugin not in planner_html, plugin


def test_planner_popups_show_korean_labels_and_values(planner_html):
    for text in (
        "정원 20명 (상시) · 일시 5명",
        "13:00–19:00",
        "09:00–19:00",
        "월 50,000원",
        "무료",
        "운영 안 함",
        "시설명",
        "이용료",
        "학기 운영",
        "방학 운영",
        "토요일",
        "주소",
        "서울특별시 구로구 개봉로 01길",
        "초등 1–2학년",
        "데이터 기준일 2025-05-31",
        "제안 순위",
        "+23.5명 (marginal gain)",
        "+10.2명 (marginal gain)",
        "누적 충족률",
        "다함께돌봄센터 제안 2순위",
        "우리동네키움센터(일반형) 제안 1순위",
        "10분 거리 안 돌봄 수요 10명 추가 &lt;b&gt;",
        "거리 산정: 직선거리 × 우회계수 1.3",
    ):
        assert text in planner_html, text
    assert "정원 20명" in planner_html and "정원 29명 (상시)" in planner_html


def test_planner_escapes_every_data_string(planner_html):
    assert "&lt;img src=x onerror=alert(1)&gt;" in planner_html
    assert "융합 키움 &lt;script&gt;alert(2)&lt;/script&gt;" in planner_html
    assert "&#96;&#36;&#123;alert(3)&#125;&#96; 백틱 키움&#92;" in planner_html
    assert "구로구 돌봄 계획 &lt;시안&gt;" in planner_html
    for raw in (XSS_IMG, "<script>alert(2)", "${alert(3)}", "<시안>", "<b>신도림</b>"):
        assert raw not in planner_html, raw
    # Zone names travel as GeoJSON properties, escaped before they reach a tooltip's innerHTML.
    assert _js("신도림초 &lt;통학구역&gt;").replace("&", "\\u0026") in planner_html


def test_planner_info_box_synthetic_and_attributions():
    html_real = _planner().get_root().render()
    assert "가상 데이터 (synthetic)" not in html_real
    assert _js("\u00a9 OpenStreetMap contributors (ODbL)") in html_real
    assert _js("행정동 경계: github.com/vuski/admdongkor") in html_real
    html_syn = _planner(synthetic=True).get_root().render()
    assert "가상 데이터 (synthetic)" in html_syn


def test_planner_turns_synthetic_rows_into_a_label_with_a_warning():
    fac = make_facilities()
    fac["synthetic"] = True
    with pytest.warns(CareplanWarning, match="synthetic=True"):
        m = planner_map(facilities=fac, distance_method_label="x", synthetic=False)
    assert "가상 데이터 (synthetic)" in m.get_root().render()


def test_planner_popup_html_for_one_row():
    row = make_facilities().loc["F06"]
    html_text = facility_popup_html(row, None)
    assert (
        "<th style='text-align:left;padding-right:8px'>토요일</th><td>09:00–13:00</td>" in html_text
    )
    assert "월 80,000원" in html_text and "초등 3–6학년" in html_text
    assert "홍길동" not in html_text and "hong@example.com" not in html_text


def test_planner_rejects_bad_inputs():
    fac = make_facilities()
    with pytest.raises(CRSError, match="no CRS"):
        planner_map(
            facilities=fac.set_crs(None, allow_override=True),
            distance_method_label="x",
            synthetic=False,
        )
    bad = fac.copy()
    bad.loc["F01", "kind"] = "kium"
    with pytest.raises(InputDataError, match=r"\['kium'\] are not in the catalog"):
        planner_map(facilities=bad, distance_method_label="x", synthetic=False)
    with pytest.raises(MissingColumnError, match="kind"):
        planner_map(facilities=fac.drop(columns="kind"), distance_method_label="x", synthetic=False)
    stats = pd.DataFrame({"coverage_pct": [1.0]}, index=["nope"])
    with pytest.raises(InputDataError, match="share no index value"):
        planner_map(
            facilities=fac,
            zones=make_zones(),
            zone_stats=stats,
            distance_method_label="x",
            synthetic=False,
        )


def test_planner_choropleth_colours_follow_values():
    m = _planner()
    html_text = m.get_root().render()
    # Z001 80 % and Z002 35.5 % on a 0–100 viridis scale, Z003 has no data (grey).
    import branca.colormap as bcm

    cmap = bcm.linear.viridis.scale(0, 100)
    assert cmap(80.0)[:7].lower() in html_text.lower()
    assert cmap(35.5)[:7].lower() in html_text.lower()
    assert "#bdbdbd" in html_text.lower()


def test_save_planner_map(tmp_path):
    from careplan.maps import save_planner_map

    path = save_planner_map(_planner(), tmp_path / "sub" / "plan.html")
    text = path.read_text("utf-8")
    assert path.name == "plan.html" and "정원 20명" in text and text.startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------- public map (files)


@pytest.fixture(scope="module")
def public_index(tmp_path_factory):
    return build_public(tmp_path_factory.mktemp("public"))


def test_public_folder_layout(public_index):
    files = sorted(p.relative_to(public_index.parent).as_posix()
                   for p in public_index.parent.rglob("*"))
    assert files == [
        "data.js", "images", "images/layers-2x.png", "images/layers.png",
        "images/marker-icon-2x.png", "images/marker-icon.png", "images/marker-shadow.png",
        "index.html", "leaflet.css", "leaflet.js", "public_map.css", "public_map.js",
    ]
    html_text = public_index.read_text("utf-8")
    assert (
        '<script src="data.js"></script>' in html_text
        and '<script src="public_map.js"></script>' in html_text
    )
    # The app never loads Leaflet with a blocking <script> tag (it is optional); by default
    # it loads the copy written beside the page.
    assert '<script src="https://' not in html_text
    assert 'data-leaflet-js="leaflet.js" data-leaflet-css="leaflet.css"' in html_text
    assert (public_index.parent / "leaflet.js").read_text("utf-8").find('version="1.9.3"') > 0


def test_public_data_whitelist_and_no_personal_data(public_index):
    text = (public_index.parent / "data.js").read_text("utf-8")
    for secret in ("홍길동", "hong@example.com", "staff"):
        assert secret not in text
    data = read_data_js(public_index)
    fac = {f["id"]: f for f in data["facilities"]}
    assert sorted(fac) == [f"F0{i}" for i in range(1, 10)]  # F10 (폐지) left out
    assert set(fac["F01"]) == {
        "id",
        "name",
        "kind",
        "address",
        "phone",
        "lat",
        "lon",
        "term_close",
        "vacation",
        "saturday",
        "fee_month",
        "min_grade",
        "max_grade",
        "capacity_txt",
        "term_txt",
        "vacation_txt",
        "saturday_txt",
        "fee_txt",
        "grades_txt",
        "defaults_used",
        "data_date",
        "adm",
    }
    assert fac["F03"]["name"] == XSS_IMG  # raw in data; the page escapes with textContent
    assert (
        fac["F01"]["term_txt"] == "13:00–19:00"
        and fac["F01"]["capacity_txt"] == "정원 20명 (상시) · 일시 5명"
    )
    assert fac["F09"]["vacation"] is False and fac["F09"]["vacation_txt"] == "운영 안 함"
    assert fac["F07"]["min_grade"] is None and fac["F07"]["fee_txt"] == "미공개"


def test_public_data_is_wgs84(public_index):
    data = read_data_js(public_index)
    f01 = next(f for f in data["facilities"] if f["id"] == "F01")
    expect = gpd.GeoSeries([Point(X0 + 100, Y0)], crs=5179).to_crs(4326).iloc[0]
    assert f01["lon"] == pytest.approx(expect.x, abs=1e-6) and f01["lat"] == pytest.approx(
        expect.y, abs=1e-6
    )
    assert 126 < f01["lon"] < 128 and 37 < f01["lat"] < 38
    ring = data["zones"]["Z001"]["geometry"]["coordinates"][0]
    assert all(126 < x < 128 and 37 < y < 38 for x, y in ring)


def test_public_schools_near_facilities_and_zones(public_index):
    data = read_data_js(public_index)
    schools = {s["id"]: s for s in data["schools"]}
    near = schools["B001"]["near"]
    assert [fid for fid, _ in near] == EXPECTED["near_B001"]
    np.testing.assert_allclose([w for _, w in near], EXPECTED["near_B001_min"])
    assert [fid for fid, _ in schools["B002"]["near"]] == EXPECTED["near_B002"]
    assert schools["B001"]["zones"] == ["Z001", "Z002"] and schools["B002"]["zones"] == ["Z002"]
    assert data["meta"]["distance_label"].startswith("직선거리 × 우회계수 1.3")


def test_public_print_groups_by_admin_area(public_index):
    data = read_data_js(public_index)
    adms = {a["code"]: a for a in data["adms"]}
    assert adms[ADM_GAEBONG]["count"] == EXPECTED["adm_gaebong"]
    assert adms[ADM_CHEONWANG]["count"] == EXPECTED["adm_cheonwang"]
    per = pd.Series([f["adm"] for f in data["facilities"]]).value_counts()
    assert per[ADM_GAEBONG] == 6 and per[ADM_CHEONWANG] == 3


def test_public_index_escapes_title_and_attributions(tmp_path):
    index = build_public(
        tmp_path,
        title="<script>alert('t')</script> 돌봄지도",
        attributions=["<img src=x onerror=alert(9)> 출처"],
    )
    text = index.read_text("utf-8")
    assert "<script>alert('t')" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; 돌봄지도" in text
    assert "&lt;img src=x onerror=alert(9)&gt; 출처" in text


def test_public_uses_given_times_and_label(tmp_path):
    times = pd.DataFrame(
        {
            "school_id": ["B001", "B001", "B002"],
            "facility_id": ["F06", "F01", "F09"],
            "walk_min": [8.0, 12.0, 3.0],
        }
    )
    index = build_public(
        tmp_path, school_facility_times=times, distance_method_label="도보 네트워크 경로 (4 km/h)"
    )
    data = read_data_js(index)
    schools = {s["id"]: s for s in data["schools"]}
    assert schools["B001"]["near"] == [["F06", 8.0]]  # F01 at 12 min is beyond 10
    assert schools["B002"]["near"] == [["F09", 3.0]]
    assert data["meta"]["distance_label"] == "도보 네트워크 경로 (4 km/h)"
    assert "도보 네트워크 경로 (4 km/h)" in index.read_text("utf-8")


def test_public_synthetic_banner(tmp_path):
    assert "가상 데이터" not in build_public(tmp_path / "a").read_text("utf-8")
    assert "가상 데이터 (synthetic)" in build_public(tmp_path / "b", synthetic=True).read_text(
        "utf-8"
    )
    fac = make_facilities()
    fac["synthetic"] = True
    with pytest.warns(CareplanWarning, match="labelled"):
        index = build_public(tmp_path / "c", facilities=fac)
    assert "가상 데이터 (synthetic)" in index.read_text("utf-8")


def test_public_rejects_bad_inputs(tmp_path):
    fac = make_facilities()
    with pytest.raises(EmptyInputError, match="no facilities"):
        build_public(tmp_path, facilities=fac[fac["status"] == "폐지"])
    with pytest.raises(InputDataError, match="Point"):
        build_public(tmp_path, facilities=fac.set_geometry(fac.buffer(10)))
    with pytest.raises(SettingsError, match="walk_minutes"):
        build_public(tmp_path, walk_minutes=0)

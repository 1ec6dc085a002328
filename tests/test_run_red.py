"""`careplan run` on input files the readers accept but a later stage used to break.

Each case copies the embedded sample, changes one input, and runs the real pipeline: it either
refuses with one sentence (a CareplanError; exit 2 through the CLI) or runs with honest outputs —
no NaN, no double counting, every fallback named in the report, rows accounted for.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from careplan import pipeline, report
from careplan._errors import CareplanError, InputDataError, NetworkError, SettingsError

# hostile inputs warn (far points, zones without schools …); what is checked here is the outcome
pytestmark = pytest.mark.filterwarnings("ignore::careplan._errors.CareplanWarning")

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
CP949 = {"schools.csv", "population.csv", "daycare.csv"}
SUMMARY = re.compile(
    r"read ([\d,]+) · 유지 kept ([\d,]+) · 수정 fixed ([\d,]+) · "
    r"오류 제외 rejected ([\d,]+) · 범위 밖 excluded ([\d,]+)"
)


# ------------------------------------------------------------------ mutations of the sample


def _rows(folder: Path, name: str) -> list[list[str]]:
    encoding = "cp949" if name in CP949 else "utf-8-sig"
    with open(folder / name, encoding=encoding, newline="") as fh:
        return list(csv.reader(fh))


def _write(folder: Path, name: str, rows: list[list[str]]) -> None:
    encoding = "cp949" if name in CP949 else "utf-8-sig"
    with open(folder / name, "w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)


def _column(name: str, header: str, value: Callable[[str, int], object]) -> Callable[[Path], None]:
    """Set ``header`` of every data row of ``name`` to ``value(old, row index)``."""

    def mutate(folder: Path) -> None:
        rows = _rows(folder, name)
        i = rows[0].index(header)
        for k, row in enumerate(rows[1:]):
            row[i] = str(value(row[i], k))
        _write(folder, name, rows)

    return mutate


def _both(*mutations: Callable[[Path], None]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        for m in mutations:
            m(folder)

    return mutate


def _shift(name: str, dlon: float) -> Callable[[Path], None]:
    """Move every polygon of a GeoJSON file ``dlon`` degrees east."""

    def move(coords):
        return (
            [coords[0] + dlon, coords[1]]
            if isinstance(coords[0], int | float)
            else [move(c) for c in coords]
        )

    def mutate(folder: Path) -> None:
        doc = json.loads((folder / name).read_text(encoding="utf-8"))
        for feature in doc["features"]:
            feature["geometry"]["coordinates"] = move(feature["geometry"]["coordinates"])
        (folder / name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    return mutate


def _metres_without_crs(folder: Path) -> None:
    """행정동 in EPSG:5186 metres, written as a GeoJSON without a CRS (so read as degrees)."""
    from pyproj import Transformer

    to_5186 = Transformer.from_crs(4326, 5186, always_xy=True)

    def move(coords):
        return (
            list(to_5186.transform(*coords[:2]))
            if isinstance(coords[0], int | float)
            else [move(c) for c in coords]
        )

    doc = json.loads((folder / "admin_areas.geojson").read_text(encoding="utf-8"))
    doc.pop("crs", None)
    for feature in doc["features"]:
        feature["geometry"]["coordinates"] = move(feature["geometry"]["coordinates"])
    (folder / "admin_areas.geojson").write_text(json.dumps(doc), encoding="utf-8")


def _zone_property(
    value: Callable[[dict, int], object], key: str = "school_ids"
) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        doc = json.loads((folder / "school_zones.geojson").read_text(encoding="utf-8"))
        for i, feature in enumerate(doc["features"]):
            feature["properties"][key] = value(feature["properties"], i)
        (folder / "school_zones.geojson").write_text(
            json.dumps(doc, ensure_ascii=False), encoding="utf-8"
        )

    return mutate


def _graph(edit: Callable[[str], str]) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        path = folder / "walk.graphml"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")

    return mutate


def _length_key(text: str) -> str:
    return re.search(r'<key id="(d\d+)" for="edge" attr.name="length"', text).group(1)


def _no_edges(text: str) -> str:
    return re.sub(r"<edge .*?</edge>", "", text, flags=re.S)


def _nan_lengths(text: str) -> str:
    return re.sub(rf'(<data key="{_length_key(text)}">)[^<]*', r"\1nan", text)


def _node_without_x(text: str) -> str:
    x_key = re.search(r'<key id="(d\d+)" for="node" attr.name="x"', text).group(1)
    return re.sub(rf'<data key="{x_key}">[^<]*</data>', "", text, count=1)


def _graph_in_japan(text: str) -> str:
    """Every node 10° east (the network of another country)."""
    x_key = re.search(r'<key id="(d\d+)" for="node" attr.name="x"', text).group(1)
    return re.sub(
        rf'(<data key="{x_key}">)([-\d.]+)', lambda m: f"{m.group(1)}{float(m.group(2)) + 10}", text
    )


def _first_rows(name: str, n: int) -> Callable[[Path], None]:
    def mutate(folder: Path) -> None:
        _write(folder, name, _rows(folder, name)[: n + 1])

    return mutate


def _population(value: str) -> Callable[[Path], None]:
    """Every number of every 읍면동 row (not the 시도/시군구 total rows) set to ``value``."""

    def mutate(folder: Path) -> None:
        rows = _rows(folder, "population.csv")
        for row in rows[3:]:
            row[1:] = [value] * (len(row) - 1)
        _write(folder, "population.csv", rows)

    return mutate


FACILITY_XY = (
    ("kium_centers.csv", "X좌표값"),
    ("local_child_centers.csv", "X좌표값"),
    ("dahamkke_centers.csv", "경도"),
)
far_facilities = _both(
    *[_column(f, x, lambda v, k: float(v) + 1.2 if v else v) for f, x in FACILITY_XY]
)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    return folder


def _run(folder: Path) -> pipeline.PlanResult:
    return pipeline.run(pipeline.load_scenario(folder / "scenario.toml"))


def _report(result, source: str):
    return next(r for r in result.reports if r.source.startswith(source))


# ------------------------------------------------------------------ refused: one sentence

REFUSED = [
    # id, mutation, error class, fragments of the sentence
    (
        "graph-without-edges",
        _graph(_no_edges),
        NetworkError,
        ["no ways (edges)", "walk.graphml"],
    ),
    # fewer usable candidates than [siting] sites: refused before the work (the scenario rule)
    (
        "fewer-candidates-than-sites",
        _first_rows("candidates.csv", 2),
        SettingsError,
        ["sites = 3", "2곳뿐", "sites ≤ 2"],
    ),
    (
        "candidates-outside-area",
        _column("candidates.csv", "경도", lambda v, k: float(v) + 1.2),
        SettingsError,
        ["0곳뿐", "sites = 0"],
    ),
    ("graph-nan-lengths", _graph(_nan_lengths), NetworkError, ["`length`", "NaN", "rebuild"]),
    (
        "graph-of-another-country",
        _graph(_graph_in_japan),
        InputDataError,
        ["does not cover the study area", "100%", "remove `network`"],
    ),
    (
        "admin-areas-elsewhere",
        _shift("admin_areas.geojson", 1.0),
        InputDataError,
        ["겹치지 않습니다", "admin_areas.geojson", "school_zones.geojson"],
    ),
    ("zones-elsewhere", _shift("school_zones.geojson", 1.0), InputDataError, ["겹치지 않습니다"]),
    (
        "admin-areas-in-metres-without-crs",
        _metres_without_crs,
        InputDataError,
        ["admin_areas.geojson", "no usable admin areas", "polygon outside Korea", "careplan check"],
    ),
    (
        "graph-node-without-x",
        _graph(_node_without_x),
        NetworkError,
        ["1 of 1,393 nodes", "x/y", "rebuild"],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "error", "fragments"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_with_one_sentence(sample, mutate, error, fragments):
    mutate(sample)
    with pytest.raises(error) as caught:
        _run(sample)
    text = str(caught.value)
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize("case", ["graph-without-edges", "admin-areas-elsewhere"])
def test_cli_exit_2_without_traceback(sample, case):
    mutate, _, fragments = next(c[1:] for c in REFUSED if c[0] == case)
    mutate(sample)
    env = {**os.environ, "PYTHONPATH": str(Path(pipeline.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "careplan", "run", "scenario.toml", "--out", "out"],
        cwd=sample,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert fragments[0] in proc.stderr
    assert not (sample / "out").exists()


# ------------------------------------------------------------------ runs: honest outputs


def _far_candidates_named(result) -> None:
    notes = _report(result, "candidates.csv").notes
    assert any(note.startswith("좌표 확인 필요: 3곳") for note in notes)
    assert not result.proposed["site_id"].isin(["C00001", "C00002", "C00003"]).any()


def _gini_over_demand(result) -> None:
    assert result.admin_areas["children_6_12"].sum() == 0
    assert math.isfinite(result.gini) and 0 < result.gini < 1
    assert "형평성 가중치" in report.report_markdown(result)


def _same_name_not_double_counted(result) -> None:
    join = _report(result, "학교알리미")
    assert any("같은 이름의 학교가 여럿" in why for _, why in join.rejected)
    # 누리 (501) and 하람 (356) are gone from the demand; nobody's pupils are counted twice
    assert result.schools["pupils_total"].sum() == 4157 - 356 - 501
    assert result.schools["pupils_total"].isna().sum() == 2


def _implausible_pupils_rejected(result) -> None:
    students = _report(result, "students.csv")
    assert [why for _, why in students.rejected] == [
        next(w for _, w in students.rejected if "비현실적" in w)
    ]
    assert result.schools["pupils_total"].max() < 2_000 * 6


def _implausible_capacity_default(result) -> None:
    kium = _report(result, "kium_centers.csv")
    assert len([how for _, how in kium.fixed if "비현실적" in how]) == 6
    assert result.facilities["capacity"].max() <= 1_000


def _implausible_population_rejected(result) -> None:
    population = _report(result, "population.csv")
    assert len([why for _, why in population.rejected if "비현실적" in why]) == 8
    assert result.admin_areas["children_6_12"].sum() == 0
    assert math.isfinite(result.gini)


def _far_points_named(result) -> None:
    md = report.report_markdown(result)
    assert md.count("좌표 확인 필요") == 3  # one note per facility file
    assert "GA191001 (10" in md  # id and distance in km


def _numeric_zone_ids_matched(result) -> None:
    notes = result.demand_points.attrs["demand"]["notes"]
    assert any("1→0001" in n for n in notes)
    assert result.demand_points.attrs["demand"]["schools_without_zone"] == []
    assert "1→0001" in report.report_markdown(result)


def _unknown_zone_schools_named(result) -> None:
    md = report.report_markdown(result)
    assert "수요 배치 예외 (demand fallback): 학구 없는 학교" in md
    assert "학교 자료 없는 학구" in md


def _reversed_hours_default(result) -> None:
    for source, n in (("kium_centers.csv", 6), ("dahamkke_centers.csv", 3)):
        fixed = [how for _, how in _report(result, source).fixed]
        assert len([h for h in fixed if "closes before it opens" in h]) == n, fixed
    eligible = result.facilities[result.facilities["kind"] != "daycare"]
    assert (eligible["term_close"] > eligible["term_open"]).all()
    assert eligible["term_close"].max() <= 24 * 60


reversed_hours = _both(
    _column("kium_centers.csv", "학기시작시간", lambda v, k: "1900"),
    _column("kium_centers.csv", "학기종료시간", lambda v, k: "1300"),
    _column("dahamkke_centers.csv", "학기운영시간", lambda v, k: "20:00 ~ 14:00"),
)


def _unknown_demand_left_out_of_gini(result) -> None:
    # 누리's pupil row is rejected, so its 학구 has children but no demand: without the rule its
    # centres looked empty (access ~75 places per child) and the Gini jumped from 0.57 to 0.92
    points = result.demand_points
    assert points.loc[points["zone_id"] == "Z990000101", "demand"].sum() == 0
    assert 0.5 < result.gini < 0.75
    assert "아동 536명은 지니계수" in report.report_markdown(result)


def _missing_hours_named(result) -> None:
    for source, n in (("kium_centers.csv", 6), ("dahamkke_centers.csv", 3)):
        notes = _report(result, source).notes
        named = [note for note in notes if note.startswith("학기 운영시간 없음 → 유형 기본값")]
        assert len(named) == 1 and named[0].endswith(f"the kind's default assumed): {n}곳")
    assert "학기 운영시간 없음" in report.report_markdown(result)


KOREA_BOX = {
    "type": "Polygon",
    "coordinates": [[[125, 34], [129.5, 34], [129.5, 38.5], [125, 38.5], [125, 34]]],
}


def _box_as_first(name: str) -> Callable[[Path], None]:
    """The first feature of ``name`` becomes a box over the whole country."""

    def mutate(folder: Path) -> None:
        doc = json.loads((folder / name).read_text(encoding="utf-8"))
        doc["features"][0]["geometry"] = KOREA_BOX
        (folder / name).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    return mutate


def _country_box_rejected(result) -> None:
    rejected = [why for r in result.reports for _, why in r.rejected if "폴리곤이 너무 큼" in why]
    assert len(rejected) == 1 and "201,706 km²" in rejected[0]
    assert (
        result.demand_points.geometry.total_bounds[2] - result.demand_points.total_bounds[0]
        < 10_000
    )


def _only_daycare(folder: Path) -> None:
    """Only the 어린이집 file: no after-school centre at all."""
    path = folder / "scenario.toml"
    text = path.read_text(encoding="utf-8")
    for name in ("kium_centers.csv", "local_child_centers.csv"):
        text = text.replace(f'  {{ path = "{name}" }},\n', "")
    text = text.replace('  { path = "dahamkke_centers.csv", kind = "dahamkke" },\n', "")
    path.write_text(text, encoding="utf-8")


def _no_access_anywhere(result) -> None:
    assert set(result.facilities["kind"]) == {"daycare"}
    assert result.gini == 0.0 and result.access["access"].fillna(0).max() == 0
    assert "지니계수 0은 '고르게 좋음'이 아니라 '모두 없음'" in report.report_markdown(result)


def _candidate_ids_of_facilities(folder: Path) -> None:
    """The first six candidates carry the ids of the six 키움센터."""
    rows, centres = _rows(folder, "candidates.csv"), _rows(folder, "kium_centers.csv")[1:]
    rows[0].insert(0, "후보지ID")
    for k, row in enumerate(rows[1:]):
        row.insert(0, centres[k][0] if k < len(centres) else f"X{k}")
    _write(folder, "candidates.csv", rows)


def _candidate_ids_suffixed(result) -> None:
    assert "GA191001 (후보지)" in result.candidates.index
    assert not result.candidates.index.isin(result.facilities.index).any()
    notes = _report(result, "candidates.csv").notes
    assert any(note.startswith("후보지ID 6개가 시설ID와 같아") for note in notes)


RUNS = [
    ("candidate-ids-equal-facility-ids", _candidate_ids_of_facilities, _candidate_ids_suffixed),
    ("no-after-school-centre", _only_daycare, _no_access_anywhere),
    ("zone-over-the-whole-country", _box_as_first("school_zones.geojson"), _country_box_rejected),
    (
        "admin-area-over-the-whole-country",
        _box_as_first("admin_areas.geojson"),
        _country_box_rejected,
    ),
    (
        "term-hours-missing",
        _both(
            _column("kium_centers.csv", "학기시작시간", lambda v, k: ""),
            _column("kium_centers.csv", "학기종료시간", lambda v, k: ""),
            _column("dahamkke_centers.csv", "학기운영시간", lambda v, k: ""),
        ),
        _missing_hours_named,
    ),
    (
        "negative-pupils-one-school",
        _column("students.csv", "1학년 학생수", lambda v, k: -50 if k == 0 else v),
        _unknown_demand_left_out_of_gini,
    ),
    ("hours-close-before-open", reversed_hours, _reversed_hours_default),
    (
        "three-candidates-100-km-away",
        _column("candidates.csv", "경도", lambda v, k: float(v) + 1.2 if k < 3 else v),
        _far_candidates_named,
    ),
    ("no-children-anywhere", _population("0"), _gini_over_demand),
    (
        "two-schools-one-name",
        _column("schools.csv", "학교명", lambda v, k: "누리초등학교" if k == 1 else v),
        _same_name_not_double_counted,
    ),
    (
        "school-with-100000-pupils",
        _column("students.csv", "1학년 학생수", lambda v, k: 100000 if k == 0 else v),
        _implausible_pupils_rejected,
    ),
    (
        "pupils-1e300",
        _column("students.csv", "2학년 학생수", lambda v, k: "1e300" if k == 0 else v),
        _implausible_pupils_rejected,
    ),
    (
        "capacity-1e12",
        _column("kium_centers.csv", "상시돌봄정원수", lambda v, k: "1e12"),
        _implausible_capacity_default,
    ),
    ("population-30-digits", _population("9" * 30), _implausible_population_rejected),
    ("facilities-100-km-away", far_facilities, _far_points_named),
    (
        "zone-school-ids-as-numbers",
        _both(
            _column("schools.csv", "학교ID", lambda v, k: f"{k + 1:04d}"),
            _zone_property(lambda p, i: i + 1),
        ),
        _numeric_zone_ids_matched,
    ),
    (
        "zones-name-unknown-schools",
        _zone_property(lambda p, i: "NOPE123"),
        _unknown_zone_schools_named,
    ),
]


@pytest.mark.parametrize(("mutate", "check"), [c[1:] for c in RUNS], ids=[c[0] for c in RUNS])
def test_runs_with_honest_outputs(sample, mutate, check):
    mutate(sample)
    result = _run(sample)
    check(result)
    summary = result.summary().set_index("지표")["값"]
    assert all(math.isfinite(float(v)) for v in summary)  # no NaN / inf headline
    assert result.access["unmet_demand"].min() >= 0
    for row_report in result.reports:
        read, *parts = (
            int(n.replace(",", "")) for n in SUMMARY.search(row_report.summary()).groups()
        )
        assert read == sum(parts), row_report.summary()


def test_huge_numbers_do_not_reach_outputs(sample):
    """Sanity of the bounds: the sample itself is far below every one of them."""
    from careplan.io._parse import MAX_CAPACITY, MAX_PEOPLE_PER_AGE, MAX_PUPILS_PER_GRADE

    result = _run(sample)
    assert result.facilities["capacity"].max() < MAX_CAPACITY
    assert result.schools[[f"pupils_g{g}" for g in range(1, 7)]].max().max() < MAX_PUPILS_PER_GRADE
    assert result.admin_areas["children_6_12"].max() < MAX_PEOPLE_PER_AGE
    assert not any(
        r.rejected for r in result.reports if r.source.startswith(("students", "population"))
    )
    # 0 pupils in every grade still plans nothing: one sentence, not a NaN run
    for header in [f"{g}학년 학생수" for g in range(1, 7)] + [
        "특수학급 학생수",
        "순회학급 학생수",
        "학생수(계)",
    ]:
        _column("students.csv", header, lambda v, k: 0)(sample)
    with pytest.raises(CareplanError, match="돌봄 수요가 0"):
        _run(sample)

"""Hostile text in every output: maps never evaluate it, CSVs never hold a live formula,
report.md / report.html never read it as markup (issue 18, items 1, 2 and 4).

Unit level: layers and results are built through the library with a payload in each text
field; the end-to-end corpus in headless Chromium lives in tests/test_hostile_*.py.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import json
import re
from pathlib import Path

import folium
import pandas as pd
import pytest
from jinja2.utils import htmlsafe_json_dumps

from careplan import _csv, maps, pipeline, report, runfolder, sample
from careplan._errors import InputDataError
from careplan.catalog import get_catalog
from careplan.maps._common import script_json
from test_maps import (
    make_admin_areas,
    make_demand_points,
    make_facilities,
    make_proposed,
    make_schools,
    make_zones,
)

LONG = "가" * 4_990 + "{{ 7*7 }}"


def payloads(marker: Path) -> list[str]:
    """One of each kind of hostile text; the RCE one would create ``marker``."""
    return [
        "{{ 7*7 }}",
        f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}",
        "{% for x in range(3) %}X{% endfor %}",
        "{#",
        "#} %} }} {",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "back`tick`",
        "${x}",
        "back\\slash\\\\",
        "quote \" and ' '",
        "new\nline\r\nand CR\r",
        "line\u2028sep\u2029",
        '=HYPERLINK("http://x","y")',
        "+1",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "이름 x\n![img](http://x/a.png)",
        "0123456789abcdef0123456789abcdef",  # looks like a folium element id
        LONG,
    ]


JINJA = ("{{", "{%", "{#")


def assert_not_evaluated(page: str, marker: Path) -> None:
    assert not marker.exists(), "a template in the data ran a shell command"
    assert "XXX" not in page, "a {% for %} in the data was evaluated"
    for syntax in JINJA:
        assert syntax not in page, syntax
    for raw in ("<script>alert", "<img src=x", "${x}"):
        assert raw not in page, raw


# ---------------------------------------------------------------- escaping helpers


def test_escape_text_round_trips_and_leaves_no_syntax(tmp_path):
    for text in payloads(tmp_path / "m"):
        escaped = maps.escape_text(text)
        assert html.unescape(escaped) == text
        assert not set(escaped) & set("{}<>`$\\\"'\u2028\u2029"), escaped


def test_script_json_keeps_values_and_hides_braces(tmp_path):
    value = [[1.5, -2, "a"], {"k{": payloads(tmp_path / "m")}]
    text = script_json(value)
    assert json.loads(text) == value
    assert "<" not in text and "\u2028" not in text
    for syntax in JINJA:
        assert syntax not in text
    # braces survive only as JSON structure, never inside a string
    strings = re.findall(r'"(?:[^"\\]|\\.)*"', text)
    assert strings and not any("{" in s or "}" in s for s in strings)


# ---------------------------------------------------------------- planner map


def hostile_layers(texts: list[str]) -> dict:
    def cycle(n: int, shift: int = 0) -> list[str]:
        return [texts[(i + shift) % len(texts)] for i in range(n)]

    fac = make_facilities()
    fac["name"] = cycle(len(fac))
    fac["address"] = cycle(len(fac), 3)
    fac["data_date"] = cycle(len(fac), 5)
    schools = make_schools()
    schools["name"] = cycle(len(schools), 7)
    schools["address"] = cycle(len(schools), 9)
    zones = make_zones()
    zones["name"] = cycle(len(zones), 11)
    zones.index = pd.Index([texts[0], texts[2], texts[3]], name="zone_id")  # ids from the data too
    adm = make_admin_areas()
    adm["name"] = cycle(len(adm), 13)
    proposed = make_proposed()
    proposed["name"] = cycle(len(proposed), 1)
    proposed["explanation"] = cycle(len(proposed), 4)
    service = fac.iloc[:3].copy()
    service["geometry"] = service.buffer(300)
    return {
        "facilities": fac,
        "schools": schools,
        "zones": zones,
        "admin_areas": adm,
        "demand_points": make_demand_points(),
        "proposed": proposed,
        "service_areas": service,
        "zone_stats": pd.DataFrame({"coverage_pct": [10.0, 20.0, 30.0]}, index=zones.index),
    }


@pytest.fixture
def hostile_planner(tmp_path):
    marker = tmp_path / "marker"
    texts = payloads(marker)
    layers = hostile_layers(texts)
    catalog = get_catalog(
        {"kium_general": {"label_ko": texts[2]}, "dahamkke": {"label_ko": texts[1]}}
    )
    m = maps.planner_map(
        **layers,
        distance_method_label=texts[4],
        synthetic=False,
        title=texts[1] + texts[5],
        attributions=texts,
        catalog=catalog,
    )
    path = maps.save_planner_map(m, tmp_path / "planner_map.html")
    return path.read_text("utf-8"), texts, layers, marker


def test_planner_map_never_evaluates_data_text(hostile_planner):
    page, texts, layers, marker = hostile_planner
    assert_not_evaluated(page, marker)
    # every text is in the page, escaped the way its context needs
    for text in texts:
        assert maps.escape_text(text) in page or htmlsafe_json_dumps(maps.escape_text(text)) in page
    # title and method in the info box: unescaping gives back exactly the input
    h1 = re.search(r'<div class="careplan-info" role="note"><h1>(.*?)</h1>', page, re.S).group(1)
    assert html.unescape(h1) == texts[1] + texts[5]
    # layer names (FeatureGroup -> layer control) carry the catalog labels, escaped
    assert htmlsafe_json_dumps(f"시설: {maps.escape_text(texts[2])} (2)") in page
    # zone ids from the data never reach the page (GeoJSON features are numbered)
    assert htmlsafe_json_dumps(texts[0]) not in page


def test_planner_popups_and_tooltips_round_trip(hostile_planner):
    page, texts, layers, _ = hostile_planner
    batches = [json.loads(b) for b in re.findall(r"var rows = (\[.*?\]);\n", page)]
    tooltips = [html.unescape(r[3]) for rows in batches for r in rows]
    popups = [html.unescape(r[2]) for rows in batches for r in rows]
    fac, schools = layers["facilities"], layers["schools"]
    assert set(fac["name"]) <= set(tooltips) and set(schools["name"]) <= set(tooltips)
    for _fid, row in fac.iterrows():
        shown = (row["name"], row["address"], f"데이터 기준일 {row['data_date']}")
        assert any(all(text in popup for text in shown) for popup in popups), shown
    # GeoJSON labels (zone and 행정동 names) travel as escaped JSON strings
    found = re.findall(r'"label": ("(?:[^"\\]|\\.)*")', page)
    labels = {html.unescape(json.loads(v)) for v in found}
    assert set(layers["zones"]["name"]) <= labels and set(layers["admin_areas"]["name"]) <= labels


def test_planner_page_is_deterministic_without_rewriting_data(tmp_path):
    texts = payloads(tmp_path / "marker")
    hexlike = "0123456789abcdef0123456789abcdef"
    pages = []
    for _ in range(2):
        m = maps.planner_map(**hostile_layers(texts), distance_method_label=hexlike, synthetic=False)
        pages.append(maps.save_planner_map(m, tmp_path / "p.html").read_text("utf-8"))
    assert pages[0] == pages[1]
    # element ids are numbered in tree order; the hex-looking name is shown as typed
    ids = set(re.findall(r"[a-z_]+_([0-9a-f]{32})\b", pages[0]))
    assert ids and all(int(i, 16) < 10_000 for i in ids)
    assert f"거리 산정: {hexlike}</div>" in pages[0]


def test_guard_stops_unescaped_text_before_it_runs(tmp_path):
    marker = tmp_path / "marker"
    m = maps.planner_map(facilities=make_facilities(), distance_method_label="x", synthetic=False)
    evil = f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}"
    folium.Marker((37.5, 126.9), tooltip=evil).add_to(m)  # a path that skipped escape_text
    with pytest.raises(InputDataError, match="reached the map's template engine unescaped"):
        maps.save_planner_map(m, tmp_path / "a.html")
    assert not marker.exists() and not (tmp_path / "a.html").exists()
    # a plain m.save() is guarded as well (the check is part of the page)
    with pytest.raises(InputDataError):
        m.save(str(tmp_path / "b.html"))
    assert not marker.exists()
    broken = maps.planner_map(
        facilities=make_facilities(), distance_method_label="x", synthetic=False
    )
    folium.Marker((37.5, 126.9), popup=folium.Popup("{# never closed")).add_to(broken)
    with pytest.raises(InputDataError, match="read as a template"):
        maps.save_planner_map(broken, tmp_path / "c.html")


# ---------------------------------------------------------------- compare map, report, CSV


@pytest.fixture(scope="module")
def hostile_result(tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / "marker"
    texts = payloads(marker)
    scenario = pipeline.load_scenario(sample.sample_dir() / "scenario.toml")
    slots = tuple(
        dataclasses.replace(s, name=f"{s.name} {texts[i]}") for i, s in enumerate(scenario.slots)
    )
    siting = next(s.name for s in slots if s.name.startswith(scenario.siting_slot))
    scenario = dataclasses.replace(
        scenario,
        name="시나리오 " + texts[2] + texts[5],
        slots=slots,
        siting_slot=siting,
        catalog_overrides={
            "kium_general": {"label_ko": texts[1]},
            "dahamkke": {"label_ko": texts[-2]},
        },
    )
    result = pipeline.run(scenario)

    def named(frame, shift):
        frame = frame.copy()
        frame["name"] = [texts[(i + shift) % len(texts)] for i in range(len(frame))]
        return frame

    facilities = named(result.facilities, 0)
    facilities["address"] = [texts[(i + 4) % len(texts)] for i in range(len(facilities))]
    result = dataclasses.replace(
        result,
        facilities=facilities,
        schools=named(result.schools, 6),
        zones=named(result.zones, 8),
        admin_areas=named(result.admin_areas, 10),
        proposed=named(result.proposed, 12).assign(explanation=texts[3] + texts[6]),
        data_date=texts[1] + texts[4],
    )
    return result, texts, marker


def test_compare_map_never_evaluates_data_text(hostile_result, tmp_path):
    result, texts, marker = hostile_result
    other = dataclasses.replace(result, facilities=result.facilities.iloc[1:])
    for layout in ("dual", "overlay"):
        path = maps.save_compare_map(
            maps.compare_map(
                result, other, layout=layout, title=texts[0] + texts[19], attributions=texts
            ),
            tmp_path / f"{layout}.html",
        )
        page = path.read_text("utf-8")
        assert_not_evaluated(page, marker)
        legend = re.search(r"<div class='careplan-compare' role='note'><h1>(.*?)</h1>", page, re.S)
        assert html.unescape(legend.group(1)) == texts[0] + texts[19]
        assert maps.escape_text(result.scenario.name) in page  # scenario names in the legend
        assert maps.escape_text(result.scenario.siting_slot) in page  # the slot row
        assert maps.escape_text(texts[1]) in page  # catalog label in a proposed-site popup
        assert maps.escape_text(result.facilities["name"].iloc[0]) in page  # only in A


@pytest.fixture(scope="module")
def hostile_run(hostile_result, tmp_path_factory):
    result, texts, marker = hostile_result
    return (
        report.write_outputs(result, tmp_path_factory.mktemp("run") / "out"),
        result,
        texts,
        marker,
    )


def test_run_outputs_never_evaluate_data_text(hostile_run):
    folder, result, texts, marker = hostile_run
    assert_not_evaluated((folder / "planner_map.html").read_text("utf-8"), marker)
    index = (folder / "public_map" / "index.html").read_text("utf-8")
    assert "XXX" not in index and "<script>alert" not in index
    script = (folder / "public_map" / "data.js").read_text("utf-8")
    data = json.loads(script.removeprefix("window.CAREPLAN_DATA = ").rstrip().rstrip(";"))
    assert {f["name"] for f in data["facilities"]} <= set(result.facilities["name"])
    assert data["meta"]["data_date"] == result.data_date


def test_map_command_path_with_a_hostile_title(hostile_run, tmp_path):
    folder, _result, texts, marker = hostile_run
    title = texts[1] + texts[2] + texts[3]
    written = runfolder.remake_maps(folder, tmp_path / "maps", title=title)
    page = written[0].read_text("utf-8")
    assert_not_evaluated(page, marker)
    h1 = re.search(r'<div class="careplan-info" role="note"><h1>(.*?)</h1>', page, re.S).group(1)
    assert html.unescape(h1) == title
    public_title = re.search(r"<title>(.*?)</title>", written[1].read_text("utf-8"), re.S).group(1)
    assert html.unescape(public_title) == title


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def live_formulas(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        cells = [cell for row in csv.reader(fh) for cell in row]
    return [c for c in cells if c.startswith(FORMULA) and not is_number(c)]


def test_run_csvs_hold_no_live_formula(hostile_run):
    folder, result, texts, _ = hostile_run
    files = sorted(folder.glob("*.csv"))
    assert {
        "facilities.csv",
        "proposed_sites.csv",
        "summary_확인지표.csv",
        "coverage_by_slot.csv",
    } <= {p.name for p in files}
    for path in files:
        assert live_formulas(path) == [], path.name
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") >= 2
    facilities = pd.read_csv(folder / "facilities.csv", encoding="utf-8-sig", keep_default_na=False)
    assert facilities["name"].iloc[13] == "'" + texts[13]  # =HYPERLINK(…) is text
    assert facilities["name"].iloc[5] == texts[5]  # nothing else changes
    assert pd.api.types.is_float_dtype(facilities["capacity"])
    summary = pd.read_csv(folder / "summary_확인지표.csv", encoding="utf-8-sig")
    assert pd.api.types.is_float_dtype(summary["값"])  # numbers stay numbers


def test_compare_csv_header_from_scenario_names(hostile_result, tmp_path):
    result, _texts, _ = hostile_result
    a = dataclasses.replace(result, scenario=dataclasses.replace(result.scenario, name="=1+1"))
    b = dataclasses.replace(result, scenario=dataclasses.replace(result.scenario, name="@B"))
    path = _csv.write_csv(report.compare(a, b), tmp_path / "compare.csv")
    assert live_formulas(path) == []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        assert next(csv.reader(fh)) == ["지표", "'=1+1", "'@B", "차이 (B − A)"]


def test_write_csv_rule_on_every_dtype(tmp_path):
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "-5", "ok", None, "@x", "\tt", "\rr", "+1", "a=b"],
            "num": [-1.5, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, float("nan")],
            "int": [-1, 2, 3, 4, 5, 6, 7, 8, 9],
            "mixed": [-3, "=x", 1.5, True, None, "-", "a", "b", "c"],
            "=head": pd.Categorical(["=a"] * 9),
            "s": pd.array(["-x"] * 9, dtype="string"),
        }
    )
    path = _csv.write_csv(frame, tmp_path / "t.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 10
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["text", "num", "int", "mixed", "'=head", "s"]
    assert [r[0] for r in rows[1:]] == [
        "'=1+1",
        "'-5",
        "ok",
        "",
        "'@x",
        "'\tt",
        "'\rr",
        "'+1",
        "a=b",
    ]
    assert [r[1] for r in rows[1:3]] == ["-1.5", "-2.0"] and rows[1][2] == "-1"
    assert [r[3] for r in rows[1:7]] == ["-3", "'=x", "1.5", "True", "", "'-"]
    assert {r[4] for r in rows[1:]} == {"'=a"} and {r[5] for r in rows[1:]} == {"'-x"}
    assert live_formulas(path) == []


def test_every_csv_in_src_goes_through_write_csv():
    src = Path(__file__).parents[1] / "src" / "careplan"
    writers = [
        f"{path.relative_to(src)}:{n}"
        for path in src.rglob("*.py")
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if ".to_csv(" in line and path.name != "_csv.py"
    ]
    assert writers == []


def test_report_md_is_safe_markdown(hostile_run):
    folder, result, texts, _ = hostile_run
    text = (folder / "report.md").read_text("utf-8")
    for raw in ("<script", "<img", "![img]"):
        assert raw not in text, raw
    heading = text.splitlines()[0]
    assert heading.startswith("# 시나리오 ") and heading.endswith(
        " — 초등 돌봄 수요·접근성 분석 보고서"
    )
    assert "\u2028" not in text and "\r" not in text
    # every table row has as many cells as its header: no pipe or newline from the data split a row
    for block in re.findall(r"((?:^\|.*\|\n)+)", text, re.M):
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in block.splitlines()}
        assert len(widths) == 1, block[:200]
    assert report.md_text("a|b\n![x](y)<b>&") == "a\\|b \\!\\[x\\](y)&lt;b&gt;&amp;"


def test_report_html_escapes_and_builds_with_newline_image_name(hostile_run):
    folder, result, texts, _ = hostile_run
    page = (folder / "report.html").read_text("utf-8")
    for raw in ("<script>alert", "<img src=x", '<img alt="img"'):
        assert raw not in page, raw
    assert page.count("<img ") == 2  # only the two charts careplan drew
    h1 = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    assert html.unescape(h1) == result.scenario.name + " — 초등 돌봄 수요·접근성 분석 보고서"
    assert html.escape(texts[-2]) in page  # the "\n![" name, shown as text


def test_report_with_a_newline_image_scenario_name(hostile_result, tmp_path):
    result, _texts, _ = hostile_result
    name = "가온구\n![x](chart_lorenz.png)\r\n# 제목 <b>"
    named = dataclasses.replace(result, scenario=dataclasses.replace(result.scenario, name=name))
    charts = report._charts(named, tmp_path)
    text = report.report_markdown(named, charts)
    heading = "# 가온구 \\!\\[x\\](chart_lorenz.png) \\# 제목 &lt;b&gt;"
    assert text.splitlines()[0] == heading + " — 초등 돌봄 수요·접근성 분석 보고서"
    page = report._report_html(named, charts)
    assert page.count("<img ") == 2
    assert f"<h1>{html.escape(name)} — 초등 돌봄 수요·접근성 분석 보고서</h1>" in page


def test_md_text_and_list_lines():
    assert report.md_text("area_id _x_ a*b* `c` $m$ ~s~ #h") == (
        "area_id \\_x\\_ a\\*b\\* \\`c\\` \\$m\\$ \\~s\\~ \\#h"
    )
    assert report.md_text("l1\nl2\r\nl3\u2028l4\rl5") == "l1 l2 l3 l4 l5"
    assert report._md_line(report.md_text("- x.csv")) == "\\- x.csv"
    assert report._md_line(report.md_text("12. x")) == "12\\. x"
    assert report._md_line(report.md_text("x-1")) == "x-1"


def test_chart_tick_labels_take_any_slot_name(tmp_path):
    """matplotlib reads ``$…$`` as math and stops on a malformed one (``$\\frac$`` crashed the run)."""
    from types import SimpleNamespace

    from careplan.report import _chart_label, _charts

    names = ["$\\frac$ x", "a$b$c", "가" * 5_000, "가" * 5_000 + "2", "학기\n18시"]
    result = SimpleNamespace(
        coverage_total=pd.DataFrame(
            {"kind": "all", "slot": names, "coverage_pct": [10.0, 20.0, 30.0, 40.0, 50.0]}
        ),
        scenario=SimpleNamespace(max_walk_min=10.0),
        lorenz=pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}),
        gini=0.0,
    )
    charts = _charts(result, tmp_path)
    assert charts["coverage"].stat().st_size > 1_000
    assert [_chart_label(n) for n in names[:2]] == ["\\$\\frac\\$ x", "a\\$b\\$c"]
    assert _chart_label(names[2]) == "가" * 15 + "…" and _chart_label(names[4]) == "학기 18시"

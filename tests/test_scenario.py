"""The scenario schema (careplan.scenario): every bad setting is one SettingsError naming it, through the
library and the CLI (exit 2, the sentence on stderr, no traceback); size guards; runs that plan nothing."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import datetime, time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from careplan import demand, pipeline, sample, scale, scenario, sizing
from careplan._errors import CareplanError, InputDataError, SettingsError
from careplan.cli import app

REPO = Path(__file__).resolve().parents[1]
SAMPLE = sample.sample_dir()
TEXT = (SAMPLE / "scenario.toml").read_text(encoding="utf-8").replace('dir = "."', f'dir = "{SAMPLE.as_posix()}"')
runner = CliRunner()


def write(tmp_path: Path, *replacements: tuple[str, str], name: str = "bad.toml") -> Path:
    """The sample scenario (absolute data dir) with each ``old`` text replaced once by ``new``."""
    text = TEXT
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, tmp_path: Path, *expected: str) -> str:
    """Library and CLI both refuse ``path`` with the same message holding every ``expected`` text."""
    with pytest.raises(SettingsError) as info:
        pipeline.load_scenario(path)
    message = str(info.value)
    for text in expected:
        assert text in message, (text, message)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
    for jargon in ("pydantic", "errors.pydantic.dev", "Input should", "model_type", "extra_forbidden"):
        assert jargon not in message
    return message


def test_wrong_types_are_listed_with_the_setting_value_type_and_expectation(tmp_path):
    path = write(tmp_path, ("max_walk_min = 10 ", 'max_walk_min = "10" '), ("sites = 3", 'sites = "five"'),
                 ('kinds = ["kium_general", "dahamkke"]', 'kinds = "dahamkke"'), ("cell_m = 100 ", "cell_m = true "),
                 ("grade_rates = [0.35, 0.35, 0.25, 0.25, 0.12, 0.12]", "grade_rates = [0.35, 2]"))
    message = refused(path, tmp_path,
                      '[analysis] max_walk_min = "10" (문자열 string) — 필요 (expected): 숫자 (a number)',
                      "[analysis] cell_m = true (불리언 boolean) — 필요 (expected): 숫자 (a number)",
                      '[siting] kinds = "dahamkke" (문자열 string) — 필요 (expected): 배열 [ … ] (an array)',
                      '[siting] sites = "five" (문자열 string) — 필요 (expected): 정수 (a whole number)',
                      "[analysis] grade_rates[2] = 2 (정수 integer) — 필요 (expected): ≤ 1 인 숫자 (a number ≤ 1)")
    lines = message.splitlines()
    assert len(lines) == 6 and "5 problem(s)" in lines[0] and lines[0].startswith("bad.toml: ")
    # sections in file order: [analysis] lines before [siting] lines
    assert [line.split()[1] for line in lines[1:]] == ["[analysis]"] * 3 + ["[siting]"] * 2


def test_integers_are_fine_numbers_and_wrong_lengths_are_named(tmp_path):
    sc = pipeline.load_scenario(write(tmp_path, ("max_walk_min = 10 ", "max_walk_min = 12 "),
                                      ("detour_factor = 1.3", "detour_factor = 2")))
    assert sc.max_walk_min == 12.0 and sc.detour_factor == 2.0
    path = write(tmp_path, ("grade_rates = [0.35, 0.35, 0.25, 0.25, 0.12, 0.12]", "grade_rates = [0.3, 0.3]"),
                 ("sites = 3", "sites = 3.0"), ("detour_factor = 1.3", "detour_factor = nan"))
    refused(path, tmp_path, "[analysis] grade_rates = [0.3, 0.3] (배열 array) — 학년별 6개 값 필요 (expected 6 values",
            "[siting] sites = 3.0 (실수 float) — 필요 (expected): 정수 (a whole number)",
            "[analysis] detour_factor = nan (실수 float) — 필요 (expected): 유한한 숫자")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("[analysis]", "[analysys]", "[analysys] — 알 수 없는 섹션 (unknown section); [analysis]을(를) 뜻했나요? "
                                 "(did you mean [analysis]?)"),
    ("candidates = ", "candidate = ", '[data]: candidate = "candidates.csv" — 알 수 없는 설정 (unknown setting); '
                                      "candidates을(를) 뜻했나요? (did you mean candidates?)"),
    ('schools = "schools.csv"', 'schools = { path = "schools.csv", layr = "x" }',
     "[data] schools: layr = \"x\" — 알 수 없는 설정 (unknown setting); layer을(를) 뜻했나요?"),
    ("sites = 3", "sites = 3\ncell_m = 50", "[siting]: cell_m = 50 — 알 수 없는 설정 (unknown setting); "
                                            "[analysis] 아래에 쓰세요 (it belongs under [analysis])"),
    ("sites = 3", "sitez = 3", "sitez = 3 — 알 수 없는 설정 (unknown setting); sites을(를) 뜻했나요?"),
])
def test_misspelt_names_are_refused_with_the_closest_valid_name(tmp_path, old, new, expected):
    message = refused(write(tmp_path, (old, new)), tmp_path, expected)
    assert len(message.splitlines()) == 2


def test_facility_entries_need_a_path_and_a_known_kind(tmp_path):
    path = write(tmp_path, ('{ path = "daycare.csv" }', '{ kind = "daycare" }'),
                 ('kind = "dahamkke"', 'kind = "dahamke"'))
    refused(path, tmp_path, "[data] facilities[4].path: 필수 설정이 없음 (required setting is missing)",
            '[data] facilities[3].kind = "dahamke" (문자열 string) — 알 수 없는 유형 (unknown kind); dahamkke을(를) '
            "뜻했나요?")
    refused(write(tmp_path, ("facilities = [", 'facilities = "kium_centers.csv"\nold = [')), tmp_path,
            '[data] facilities = "kium_centers.csv" (문자열 string) — 필요 (expected): 배열')
    empty = TEXT.split("facilities = [")[0] + "facilities = []\n[analysis]\n"
    (tmp_path / "empty.toml").write_text(empty, encoding="utf-8")
    refused(tmp_path / "empty.toml", tmp_path,
            "[data] facilities = [] (배열 array) — 필요 (expected): 항목 1개 이상 (at least 1 entries)")


def test_siting_kinds_must_be_sitable_catalog_kinds_including_new_ones(tmp_path):
    kinds = 'kinds = ["kium_general", "dahamkke"]'
    refused(write(tmp_path, (kinds, 'kinds = ["daycare", "dahamkk", "home_visit"]')), tmp_path,
            "[siting] kinds[1]: 입지 계획할 수 없는 유형 (a kind that cannot be sited): daycare",
            "[siting] kinds[2]: 알 수 없는 유형 (unknown kind): dahamkk; dahamkke을(를) 뜻했나요?",
            "[siting] kinds[3]: 입지 계획할 수 없는 유형 (a kind that cannot be sited): home_visit")
    new_kind = ('[catalog.village_care]\nlabel_ko = "마을돌봄"\nlabel_en = "Village care"\ngroup = "after_school"\n'
                "capacity_regular = 15\ncapacity_temporary = 0\nterm_hours = [\"13:00\", \"19:00\"]\n"
                'vacation_hours = ["09:00", "18:00"]\nsaturday_hours = []\nage_min = 6\nage_max = 12\n'
                'eligibility_ko = "누구나"\nmin_grade = 1\nmax_grade = 6\n')
    path = write(tmp_path, (kinds, 'kinds = ["village_care"]'), ('kind = "dahamkke"', 'kind = "village_care"'))
    path.write_text(path.read_text(encoding="utf-8") + new_kind, encoding="utf-8")
    sc = pipeline.load_scenario(path)
    assert sc.siting_kinds == ("village_care",) and sc.facilities[2].kind == "village_care"
    assert sc.catalog_overrides["village_care"]["term_hours"] == (780, 1140)
    assert sc.catalog_overrides["village_care"]["saturday_hours"] is None
    refused(write(tmp_path, ("[siting]", '[catalog.dahamke]\ncapacity_regular = 25\n[siting]')), tmp_path,
            "[catalog.dahamke]: 새 유형에 필요한 값 없음 (a new kind needs): label_ko", "did you mean dahamkke?")


def test_slots_times_names_and_the_siting_slot(tmp_path):
    slots = ('access_method = "2sfca"', 'access_method = "2sfca"\nslots = [{ name = "a", period = "term", time = '
             '"25:00" }, { name = "a", period = "night", time = 18 }, { name = "b", period = "term", time = "18.00" }]')
    refused(write(tmp_path, slots), tmp_path,
            '[analysis] slots[1].time = "25:00" (문자열 string) — 00:00–24:00 범위 밖',
            "[analysis] slots[2].period = \"night\" (문자열 string) — 필요 (expected): 다음 중 하나 (one of): term",
            '[analysis] slots[2].time = 18 (정수 integer) — 필요 (expected): "HH:MM" 형식 문자열',
            '[analysis] slots[3].time = "18.00" (문자열 string) — "HH:MM" 형식이 아님')
    ok = ('access_method = "2sfca"', 'access_method = "2sfca"\nslots = [{ name = "a", period = "term", time = '
          '"24:00" }, { name = "a", period = "saturday", time = "10:00" }]')
    refused(write(tmp_path, ok), tmp_path, "[analysis] slots[2].name: 시간대 이름 중복 (slot name used twice): a")
    good = ('access_method = "2sfca"', 'access_method = "2sfca"\nslots = [{ name = "늦은 저녁", period = "term", '
            'time = "21:30" }]')
    refused(write(tmp_path, good), tmp_path, "[siting] slot: [analysis] slots에 없는 시간대 (not one of the slots): "
                                             "학기 18시")
    # 21:30 is after 키움/다함께 close: only a kind open then can be sited for it (see test_scenario_red)
    sc = pipeline.load_scenario(write(tmp_path, good, ('slot = "학기 18시"', 'slot = "늦은 저녁"'),
                                      ('kinds = ["kium_general", "dahamkke"]', 'kinds = ["care_119"]')))
    assert [(s.name, s.period, s.minute) for s in sc.slots] == [("늦은 저녁", "term", 21 * 60 + 30)]


def test_files_must_exist_and_be_regular(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    (tmp_path / "folder.csv").mkdir()
    path = write(tmp_path, ('"schools.csv"', f'"{(tmp_path / "none.csv").as_posix()}"'),
                 ('"students.csv"', f'"{(tmp_path / "folder.csv").as_posix()}"'),
                 ('"kium_centers.csv"', f'"{fifo.as_posix()}"'),
                 ('"school_zones.geojson"', f'"{tmp_path.as_posix()}"'))
    message = refused(path, tmp_path, "bad.toml: 입력 파일 4개를 쓸 수 없습니다",
                      f'[data] schools = "{tmp_path.as_posix()}/none.csv": 파일이 없음 (no such file)',
                      "[data] students = ", "폴더 (a folder), 파일이 필요 (expected a file)",
                      "[data] facilities[1].path = ", "이름 있는 파이프 (a named pipe, FIFO), 파일이 필요",
                      "[data] zones = ", "학구 JSON 파일(B….json)이 없는 폴더")
    assert f'— "{fifo}"' in message
    # the raw 학구 JSON folder that io/zones.py reads is accepted
    zones = tmp_path / "raw"
    zones.mkdir()
    (zones / "B000000001.json").write_text('{"zones": []}', encoding="utf-8")
    sc = pipeline.load_scenario(write(tmp_path, ('"school_zones.geojson"', f'"{zones.as_posix()}"')))
    assert sc.zones == zones
    refused(write(tmp_path, (f'dir = "{SAMPLE.as_posix()}"', 'dir = "no/such/folder"')), tmp_path,
            '[data] dir = "no/such/folder": 폴더가 없습니다 (no such folder)')


@pytest.mark.parametrize(("content", "expected"), [
    (b'name = "x"\n[data\n', "is not valid TOML (TOML 문법 오류)"),
    (b'name = "\xb0\xa1"\n', "is not UTF-8 text (byte 8; it looks like CP949 / EUC-KR (ANSI)); save it as UTF-8"),
    (b"sigungu = \xea\xb5\xac\xeb\xa1\x9c\xea\xb5\xac\n", "text values need quotes"),
    (None, "is 폴더 (a folder), expected a .toml file"),
    (b"", "[data]: 필수 설정이 없음 (required setting is missing)"),
    (b"a = " + b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
])
def test_unreadable_scenario_files(tmp_path, content, expected):
    path = tmp_path / "s.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(SettingsError, match=re.escape(expected)):
        pipeline.load_scenario(path)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and expected in result.stderr and "Traceback" not in result.output


def test_a_nul_in_a_path_is_named(tmp_path):
    path = write(tmp_path, ('"population.csv"', '"pop\\u0000.csv"'),
                 (f'dir = "{SAMPLE.as_posix()}"', 'dir = "\\u0000"'))
    refused(path, tmp_path, '[data] dir = "\\u0000" (문자열 string) — 경로에 NUL 문자가 있음 (the path holds a NUL',
            '[data] population = "pop\\u0000.csv" (문자열 string) — 경로에 NUL 문자가 있음')


def test_a_fifo_scenario_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "s.toml"
    os.mkfifo(fifo)
    with pytest.raises(
        SettingsError, match=re.escape("is 이름 있는 파이프 (a named pipe, FIFO), expected a .toml file")
    ):
        pipeline.load_scenario(fifo)


def test_cell_m_1_is_refused_with_the_cell_count_before_allocating(tmp_path):
    path = write(tmp_path, ("cell_m = 100 ", "cell_m = 1 "))
    sc = pipeline.load_scenario(path)  # a valid setting: the estimate needs the 학구 extent
    inputs = pipeline.read_inputs(sc)
    cells = sizing.grid_cells(inputs.zones.geometry.to_numpy(), 1)
    assert cells > sizing.MAX_GRID_CELLS
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"[analysis] cell_m = 1 → 학구 범위 (the 학구 extent)에 격자 약 {cells:,}칸" in result.stderr
    fit = int(re.search(r"use cell_m ≥ (\d+)", result.stderr).group(1))
    assert sizing.grid_cells(inputs.zones.geometry.to_numpy(), fit) <= sizing.MAX_GRID_CELLS
    assert fit == 5 or sizing.grid_cells(inputs.zones.geometry.to_numpy(), fit - 5) > sizing.MAX_GRID_CELLS
    refused(write(tmp_path, ("cell_m = 100 ", "cell_m = 0.5 ")), tmp_path, "[analysis] cell_m = 0.5 (실수 float) — "
                                                                          "필요 (expected): ≥ 1 인 숫자")


def test_grid_cells_counts_the_cells_demand_points_visits():
    sc = pipeline.load_scenario(SAMPLE / "scenario.toml")
    zones = pipeline.read_inputs(sc).zones.geometry.to_numpy()
    for cell in (100.0, 37.5):
        visited = sum(len(owner) for owner, _, _ in demand._grid_cells(zones, cell, max_cells=10_000))
        assert sizing.grid_cells(zones, cell) == visited


def test_too_much_walk_time_work_is_refused(tmp_path):
    path = write(tmp_path, ('candidates = "candidates.csv"', "# no candidates"),
                 ("sites = 3", "sites = 3\ngrid_m = 10"))
    message = str(pytest.raises(SettingsError, pipeline.run, pipeline.load_scenario(path)).value)
    pairs = int(re.search(r"about ([\d,]+) point–destination pairs", message).group(1).replace(",", ""))
    assert pairs > sizing.MAX_TIME_PAIRS and "use a larger cell_m or grid_m" in message


@pytest.mark.parametrize(("replacements", "expected"), [
    ([('sigungu = "가온구"', 'sigungu = "나온구"')], "no operating 초등학교 in 서울특별시 나온구: nothing to plan"),
    ([("grade_rates = [0.35, 0.35, 0.25, 0.25, 0.12, 0.12]", "grade_rates = [0, 0, 0, 0, 0, 0]"),
      ('"students.csv"', '"{tmp}/students.csv"')], "the estimated care demand is 0: nothing to plan"),
])
def test_runs_that_can_plan_nothing_exit_2(tmp_path, replacements, expected):
    students = pd.read_csv(SAMPLE / "students.csv", dtype=str)
    counts = [c for c in students.columns if c.endswith("학생수") or c == "학생수(계)"]
    students[counts] = "0"  # no special pupils either: every rate × 0
    students.to_csv(tmp_path / "students.csv", index=False)
    path = write(tmp_path, *[(old, new.format(tmp=tmp_path.as_posix())) for old, new in replacements])
    with pytest.raises(InputDataError, match=re.escape(expected)):
        pipeline.run(pipeline.load_scenario(path))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and expected in result.stderr and "Traceback" not in result.output


def test_no_pupil_row_joining_a_school_exits_2(tmp_path):
    students = (SAMPLE / "students.csv").read_text(encoding="utf-8").replace("초등학교", "중학교X")
    (tmp_path / "students.csv").write_text(students, encoding="utf-8")
    path = write(tmp_path, ('"students.csv"', f'"{(tmp_path / "students.csv").as_posix()}"'))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "students.csv: 학생수 행이 어느 학교와도 이어지지 않습니다" in result.stderr
    assert "no pupil row joins a school of schools.csv" in result.stderr


def test_the_cli_prints_one_sentence_and_no_traceback(tmp_path):
    path = write(tmp_path, ("[analysis]", "[analysys]"))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "careplan", "run", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "did you mean [analysis]?" in proc.stderr and proc.stdout == ""


def test_layers_are_stored_and_passed_only_when_chosen(tmp_path, monkeypatch):
    path = write(tmp_path, ('schools = "schools.csv"', 'schools = { path = "schools.csv", layer = "학교" }'),
                 ('{ path = "daycare.csv" }', '{ path = "daycare.csv", layer = "어린이집" }'))
    sc = pipeline.load_scenario(path)
    assert sc.layers == {"schools": "학교"} and sc.schools == SAMPLE / "schools.csv"
    assert sc.facilities[3].layer == "어린이집" and sc.facilities[0].layer is None
    calls = {}

    def spy(name):
        def read(path, **options):
            calls[name] = options
            raise CareplanError("stop")
        return read

    monkeypatch.setattr(pipeline.io, "read_schools", spy("schools"))
    with pytest.raises(CareplanError, match="stop"):
        pipeline.read_inputs(sc)
    assert calls["schools"]["layer"] == "학교"
    with pytest.raises(CareplanError, match="stop"):
        pipeline.read_inputs(dataclasses.replace(sc, layers={}))
    assert "layer" not in calls["schools"]


def test_scenario_built_in_code_uses_the_same_rules(tmp_path):
    sc = pipeline.load_scenario(SAMPLE / "scenario.toml")
    with pytest.raises(SettingsError, match=re.escape("[analysis] max_walk_min = -1 (정수 integer)")):
        dataclasses.replace(sc, max_walk_min=-1)
    with pytest.raises(SettingsError, match=re.escape("[siting] kinds[1]: 알 수 없는 유형 (unknown kind): dahamke")):
        dataclasses.replace(sc, siting_kinds=("dahamke",))
    with pytest.raises(SettingsError, match=re.escape("[siting] slot: [analysis] slots에 없는 시간대")):
        dataclasses.replace(sc, siting_slot="밤")


def test_text_settings_keep_any_characters(tmp_path):
    name = 'x{{ 7*7 }}\n"\\ \u2028 <script>' + "가" * 5000
    path = write(tmp_path, ('name = "가온구 샘플 (가상 데이터)"', f"name = {json.dumps(name, ensure_ascii=False)}"))
    assert pipeline.load_scenario(path).name == name
    message = refused(write(tmp_path, ("cell_m = 100 ", f"cell_m = {json.dumps(name, ensure_ascii=False)} ")),
                      tmp_path, r'[analysis] cell_m = "x{{ 7*7 }}\n\"\\ \u2028 <script>가')
    assert len(message.splitlines()) == 2 and "…" in message


@pytest.mark.parametrize("example", ["data/sample/scenario.toml", "examples/guro.toml"])
def test_the_shipped_scenarios_load(example, request):
    data_dir = request.getfixturevalue("korea") if example.startswith("examples") else None  # guro: real data
    sc = pipeline.load_scenario(REPO / example, data_dir=data_dir)
    assert sc.siting_kinds == ("kium_general", "dahamkke") and sc.access_method == "2sfca"
    assert all(f.path.is_file() for f in sc.facilities) and sc.cell_m == 100.0


def test_the_published_json_schema_is_current():
    committed = (REPO / "docs" / "scenario.schema.json").read_text(encoding="utf-8")
    assert committed == scenario.schema_json(), "regenerate: PYTHONPATH=src python -m careplan.scenario > docs/…"
    schema = json.loads(committed)
    assert schema["additionalProperties"] is False and schema["required"] == ["data"]
    assert schema["$defs"]["AnalysisSection"]["properties"]["access_method"]["enum"] == ["2sfca", "e2sfca",
                                                                                        "gravity", "3sfca"]


WRONG = ["", "x", "10", 0, -1, 10**30, 1.5, float("nan"), float("inf"), True, [], [1], ["a"], {}, {"a": 1},
         datetime(2024, 1, 1, 10), time(18), "a\nb", "/dev/zero", [{"name": 1}]]
SECTIONS = {None: scenario.ScenarioSpec, "data": scenario.DataSection, "analysis": scenario.AnalysisSection,
            "siting": scenario.SitingSection, "catalog.dahamkke": scenario.KindOverride}


@pytest.mark.parametrize(("section", "key"), [(s, k) for s, model in SECTIONS.items() for k in model.model_fields
                                              if (s, k) not in {(None, "data"), (None, "analysis"), (None, "siting"),
                                                                (None, "catalog")}])
def test_every_setting_refuses_wrong_values_by_name(section, key):
    """Any value in any setting: valid, or one SettingsError naming that setting (never another exception)."""
    base = tomllib.loads(TEXT)
    for value in WRONG:
        doc = copy.deepcopy(base)
        table = doc if section is None else doc.setdefault("catalog", {}).setdefault("dahamkke", {}) \
            if section.startswith("catalog") else doc[section]
        table[key] = value
        try:
            spec = scenario.validate(doc, source="fuzz.toml")
            scenario.check_files(spec, lambda ref: SAMPLE / ref)
        except SettingsError as exc:
            assert key in str(exc) and "Traceback" not in str(exc), (key, value, str(exc))


def test_a_region_run_holds_each_sigungu_to_the_grid_limit():
    region = sample.generate_region(2, schools_per_sigungu=2, sigungu_km=2.0, seed=5)
    zone_owner, _ = scale.demand_owners(region.inputs)
    zones = region.inputs.zones
    biggest = max(sizing.grid_cells(zones.geometry[zone_owner == code].to_numpy(), 1.0)
                  for code in zone_owner.unique())
    assert biggest > sizing.MAX_GRID_CELLS
    with pytest.raises(SettingsError, match=re.escape(f"격자 약 {biggest:,}칸")) as info:
        scale.run_region(dataclasses.replace(region.scenario, cell_m=1.0), region.inputs, n_workers=1)
    assert "use cell_m ≥" in str(info.value)
    sizing.check_region_size(region.scenario, zones, zone_owner, {})  # cell_m = 100 fits


def test_a_seoul_programme_written_for_another_sido_is_refused(tmp_path):
    refused(write(tmp_path, ('sido = "서울특별시"', 'sido = "경상북도"')), tmp_path,
            "[data] sido: [siting] kinds의 kium_general은(는) 이 시도에 없는 사업 (not run in this 시도)",
            "is a Seoul programme, but the study area's sido is '경상북도'")
    # the default kinds are not the planner's choice: kium is skipped (with a warning) at run time instead
    text = TEXT.replace('sido = "서울특별시"', 'sido = "경상북도"')
    text = text.replace('kinds = ["kium_general", "dahamkke"]\n', "")
    (tmp_path / "default.toml").write_text(text, encoding="utf-8")
    assert pipeline.load_scenario(tmp_path / "default.toml").siting_kinds == ("kium_general", "dahamkke")

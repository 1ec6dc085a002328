"""Red-team cases of the scenario path: settings that loaded but planned nonsense or stopped deep in a run.

Each class of defect is one table: a scenario edit and the sentence that must refuse it, through the
library and the CLI (exit 2, no traceback, no --out written); or an equivalent TOML form that must load.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path

import pytest

from careplan import pipeline, scenario
from careplan._errors import CareplanError, InputDataError, SettingsError
from careplan.cli import app
from test_scenario import SAMPLE, TEXT, refused, runner, write

KINDS = 'kinds = ["kium_general", "dahamkke"]'
FACILITY = '{ path = "daycare.csv" },'
SLOTS = ('access_method = "2sfca"', 'access_method = "2sfca"\nslots = [{ name = "토 10시", period = "saturday", '
         'time = "10:00" }, { name = "학기 18시", period = "term", time = "18:00" }]')


@pytest.mark.parametrize(("replacements", "expected"), [
    # text that is only spaces is a slip, never a name, a place or a path
    ([('name = "가온구 샘플 (가상 데이터)"', 'name = "  "')],
     ['name = "  " (문자열 string) — 필요 (expected): 공백만이 아닌 문자열 (text, not only spaces)']),
    ([('sigungu = "가온구"', 'sigungu = "\\t"')], ["[data] sigungu = \"\\t\" (문자열 string)", "not only spaces"]),
    ([('schools = "schools.csv"', 'schools = " "')],  # named as written: not "schools.path"
     ['[data] schools = " " (문자열 string) — 필요 (expected): 공백만이 아닌 문자열']),
    # a 시도 that is no 시도: files matched nothing, and 키움 was "not run in this 시도" for "서울"
    ([('sido = "서울특별시"', 'sido = "Seoul"')],
     ['[data] sido = "Seoul" (문자열 string) — 알 수 없는 시도 (unknown 시도)', "서울특별시, 부산광역시"]),
    ([('sido = "서울특별시"', 'sido = "서울특별"')], ["서울특별시을(를) 뜻했나요? (did you mean 서울특별시?)"]),
    # a value in the wrong case is a near miss like any other
    ([('access_method = "2sfca"', 'access_method = "2SFCA"')], ["2sfca을(를) 뜻했나요? (did you mean 2sfca?)"]),
    ([(KINDS, 'kinds = ["Dahamkke"]')], ["[siting] kinds[1]: 알 수 없는 유형 (unknown kind): Dahamkke; dahamkke을"]),
    # a kind listed twice was planned twice, on top of itself
    ([(KINDS, 'kinds = ["dahamkke", "dahamkke"]')],
     ["[siting] kinds[2]: 유형 중복 (kind listed twice): dahamkke; 한 번만 쓰세요 (list it once)"]),
    # a misspelt canonical column mapped nothing, silently
    ([(FACILITY, '{ path = "daycare.csv", mapping = { nmae = "시설명" } },')],
     ["[data] facilities[4].mapping.nmae: 알 수 없는 열 이름 (unknown column name): nmae",
      "did you mean name?"]),
    # a new kind sited at an hour it is closed: the proposals served nobody at that slot
    ([SLOTS, ('slot = "학기 18시"', 'slot = "토 10시"')],
     ['[siting] kinds[1]: kium_general은(는) [siting] slot "토 10시" (saturday 10:00)에 운영하지 않음',
      "is closed at the siting slot: saturday 휴무 (closed in saturday)",
      "or set [catalog.dahamkke] saturday_hours"]),
    ([(KINDS, 'kinds = ["dahamkke"]'), ("[siting]", "[catalog.dahamkke]\nterm_hours = []\n[siting]")],
     ["[siting] kinds[1]: dahamkke", "term 휴무 (closed in term)", "set [catalog.dahamkke] term_hours"]),
    # the default kinds: the slot is what the planner wrote, so the slot is named
    ([SLOTS, (KINDS + "\n", ""), ('slot = "학기 18시"', 'slot = "토 10시"')],
     ['[siting] slot: kium_general은(는) [siting] slot "토 10시"']),
])
def test_settings_that_planned_nonsense_are_refused(tmp_path, replacements, expected):
    refused(write(tmp_path, *replacements), tmp_path, *expected)


@pytest.mark.parametrize(("catalog", "expected"), [
    # reversed hours: one bilingual sentence on the setting, not CareKind's English minutes
    ('[catalog.dahamkke]\nterm_hours = ["20:00", "13:00"]',
     ['[catalog.dahamkke] term_hours = ["20:00", "13:00"] (배열 array) — 여는 시각이 닫는 시각보다 늦음',
      "opens at 20:00, not before it closes at 13:00"]),
    ('[catalog.dahamkke]\nvacation_hours = ["09:00", "09:00"]', ["[catalog.dahamkke] vacation_hours"]),
    # a range reversed, also against the built-in end the planner did not write
    ("[catalog.dahamkke]\nmin_grade = 5\nmax_grade = 2",
     ["[catalog.dahamkke]: min_grade = 5 > max_grade = 2: 범위가 거꾸로임 (the range is reversed)"]),
    ("[catalog.school_care]\nmin_grade = 4", ["[catalog.school_care]: min_grade = 4 > max_grade = 2"]),
    ("[catalog.dahamkke]\nage_min = 13", ["[catalog.dahamkke]: age_min = 13 > age_max = 12"]),
    ("[catalog.daycare]\nmin_grade = 1", ["[catalog.daycare]: min_grade, max_grade 둘 다 쓰거나 둘 다 빼세요"]),
    # capacities are places in one centre, not 10^300
    ("[catalog.dahamkke]\ncapacity_regular = 1e300",
     ["[catalog.dahamkke] capacity_regular = 1e+300 (실수 float) — 필요 (expected): ≤ 10000 인 숫자"]),
])
def test_catalog_changes_are_checked_on_the_setting(tmp_path, catalog, expected):
    message = refused(write(tmp_path, ("[siting]", catalog + "\n[siting]")), tmp_path, *expected)
    assert "must be (open, close) minutes" not in message


def test_one_facility_file_twice_is_named_whatever_its_spelling(tmp_path):
    (tmp_path / "link.csv").symlink_to(SAMPLE / "daycare.csv")
    path = write(tmp_path, (FACILITY, FACILITY + ' { path = "./daycare.csv" }, { path = "' +
                            (tmp_path / "link.csv").as_posix() + '" },'))
    message = refused(path, tmp_path,
                      '[data] facilities[5].path = "./daycare.csv": facilities[4].path와 같은 파일 (the same file '
                      "as facilities[4].path); 한 번만 쓰세요 (list it once)",
                      "[data] facilities[6].path")
    assert "2 input file(s) cannot be used" in message


@pytest.mark.parametrize(("text", "expected"), [
    # a key twice, or a dotted key beside its [table]: TOML refuses, the hint says which slip it is
    (TEXT.replace("sites = 3", "sites = 3\nsites = 4"), "Cannot overwrite a value"),
    (TEXT.replace("[data]", "analysis.cell_m = 50\n[data]"), "Cannot declare ('analysis',) twice"),
])
def test_keys_written_twice_get_the_duplicate_hint(tmp_path, text, expected):
    path = tmp_path / "twice.toml"
    path.write_text(text, encoding="utf-8")
    message = refused(path, tmp_path, expected, "a key or table is written twice", "한 곳에만 쓰세요")
    assert "need quotes" not in message


FACILITIES = TEXT[TEXT.index("facilities = ["):TEXT.index("\n\n[analysis]")]
ANALYSIS = TEXT[TEXT.index("[analysis]"):TEXT.index("\n\n[siting]")]
AOT = "".join(f'\n[[data.facilities]]\npath = "{name}"\n' + (f'kind = "{kind}"\n' if kind else "")
              for name, kind in [("kium_centers.csv", None), ("local_child_centers.csv", None),
                                 ("dahamkke_centers.csv", "dahamkke"), ("daycare.csv", None)])
DOTTED = "\n".join("analysis." + line.split("#")[0].strip() for line in ANALYSIS.splitlines()[1:])


@pytest.mark.parametrize("form", [
    TEXT.replace(FACILITIES, "").replace("[analysis]", AOT + "\n[analysis]"),  # [[data.facilities]] tables
    DOTTED + "\n" + TEXT.replace(ANALYSIS, ""),  # analysis.max_walk_min = … at the top, no [analysis]
    "\ufeff" + TEXT.replace("\n", "\r\n"),  # Notepad: BOM and CRLF
])
def test_equivalent_toml_forms_load_the_same_scenario(tmp_path, form):
    path = tmp_path / "form.toml"
    path.write_bytes(form.encode("utf-8"))
    base = tmp_path / "base.toml"
    base.write_text(TEXT, encoding="utf-8")
    got, want = pipeline.load_scenario(path), pipeline.load_scenario(base)
    assert dataclasses.replace(got, name=want.name) == want
    assert [f.kind for f in got.facilities] == [None, None, "dahamkke", None] and got.cell_m == 100


def test_a_home_folder_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(SAMPLE.parent))
    path = write(tmp_path, (f'dir = "{SAMPLE.as_posix()}"', f'dir = "~/{SAMPLE.name}"'),
                 ('schools = "schools.csv"', f'schools = "~/{SAMPLE.name}/schools.csv"'))
    sc = pipeline.load_scenario(path)
    assert sc.schools == SAMPLE / "schools.csv" and sc.students == SAMPLE / "students.csv"
    assert pipeline.load_scenario(write(tmp_path, (SAMPLE.as_posix(), "nowhere")),
                                  data_dir=f"~/{SAMPLE.name}").zones == SAMPLE / "school_zones.geojson"


def test_a_data_dir_that_is_a_device_is_named():
    with pytest.raises(SettingsError, match=r"--data-dir: 폴더가 아니라 문자 장치 \(a character device\)입니다"):
        pipeline.load_scenario(SAMPLE / "scenario.toml", data_dir="/dev/null")


@pytest.mark.parametrize("how", ["file", "option"])
def test_a_data_dir_that_is_a_file_is_called_a_file(tmp_path, how):
    target = (SAMPLE / "schools.csv").as_posix()
    path = write(tmp_path, *([(f'dir = "{SAMPLE.as_posix()}"', f'dir = "{target}"')] if how == "file" else []))
    extra = ["--data-dir", target] if how == "option" else []
    with pytest.raises(SettingsError, match=r"폴더가 아니라 파일 \(a file\)입니다 \(not a folder\)"):
        pipeline.load_scenario(path, data_dir=target if how == "option" else None)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q", *extra])
    assert result.exit_code == 2 and "(a file)입니다 (not a folder)" in result.stderr and result.exception is not None
    assert not (tmp_path / "out").exists()


def _no_output(tmp_path: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("out.*"))


@pytest.mark.parametrize("command", ["run", "compare", "region"])
def test_more_sites_than_candidates_stops_before_any_work(tmp_path, command):
    path = write(tmp_path, ("sites = 3", "sites = 1000"))
    args = {"run": ["run", str(path)], "compare": ["compare", str(path), str(path)],
            "region": ["region", str(path), "--workers", "1"]}[command]
    _no_output(tmp_path, args, "[siting] sites = 1000: kium_general에 남은 후보지는 25곳뿐입니다 (only 25 candidate")


def test_sites_beyond_what_a_kind_keeps_name_the_kind_and_the_count(tmp_path):
    # 25 candidates: 10 go to kium_general, and dahamkke's rules leave 9 of the rest
    sc = pipeline.load_scenario(write(tmp_path, ("sites = 3", "sites = 10")))
    with pytest.raises(SettingsError) as info:
        pipeline.run(sc)
    assert ("[siting] sites = 10: dahamkke에 남은 후보지는 9곳뿐입니다 (only 9 candidate site(s) remain for "
            "dahamkke, of 25 from [data] candidates; 10 taken by the kinds before it") in str(info.value)
    assert "lower it to sites ≤ 9" in str(info.value)


NO_CANDIDATES = ('candidates = "candidates.csv"  # 후보지: 주민센터, 작은도서관, 경로당 …\n', "")


@pytest.mark.parametrize(("replacements", "expected"), [
    # a 10 km grid over a small 구 has no point: the run proposed nothing and exited 0
    ([NO_CANDIDATES, ("sites = 3", "sites = 3\ngrid_m = 10000")],
     "of 0 from [siting] grid_m = 10000 격자"),
    # every candidate too close to an existing centre
    ([("sites = 3", "sites = 3\nmin_distance_m = 10000")], "of 25 from [data] candidates"),
])
def test_siting_left_with_no_candidate_exits_2(tmp_path, replacements, expected):
    path = write(tmp_path, *replacements)
    _no_output(tmp_path, ["run", str(path)], "[siting] sites = 3: kium_general에 남은 후보지는 0곳뿐입니다")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert expected in result.stderr and "lower it to sites = 0 (입지 제안 없이, no siting)" in result.stderr


@pytest.mark.parametrize(("rows", "sites", "expected"), [
    ("name,x,y\n기관,abc,def\n", 3, "쓸 수 있는 후보지가 없어 입지를 제안할 수 없습니다 (no usable candidate site"),
    ("name,lon,lat\n구민회관,126.99,37.55\n", 3, "[siting] sites = 3: kium_general에 남은 후보지는 1곳뿐입니다"),
])
def test_a_candidates_file_that_cannot_give_the_sites_exits_2(tmp_path, rows, sites, expected):
    (tmp_path / "cand.csv").write_text(rows, encoding="utf-8")
    path = write(tmp_path, ('candidates = "candidates.csv"', f'candidates = "{tmp_path.as_posix()}/cand.csv"'))
    with pytest.raises(CareplanError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        pipeline.read_inputs(pipeline.load_scenario(path))
    _no_output(tmp_path, ["run", str(path)], expected)


def test_no_siting_needs_no_candidates(tmp_path):
    (tmp_path / "cand.csv").write_text("name,x,y\n기관,abc,def\n", encoding="utf-8")
    path = write(tmp_path, ('candidates = "candidates.csv"', f'candidates = "{tmp_path.as_posix()}/cand.csv"'),
                 ("sites = 3", "sites = 0"))
    inputs = pipeline.read_inputs(pipeline.load_scenario(path))
    assert len(inputs.candidates) == 0 and inputs.reports[-1].rows_read == 1


def test_facility_ids_repeating_across_files_is_one_bilingual_sentence(tmp_path):
    (tmp_path / "copy.csv").write_bytes((SAMPLE / "daycare.csv").read_bytes())
    path = write(tmp_path, (FACILITY, FACILITY + f' {{ path = "{tmp_path.as_posix()}/copy.csv" }},'))
    with pytest.raises(InputDataError, match=r"시설 ID가 여러 시설 파일에 거듭 나옵니다 \(facility ids repeat"):
        pipeline.read_inputs(pipeline.load_scenario(path))


TEXT_SETTINGS = [(s, k) for s, model in {None: scenario.ScenarioSpec, "data": scenario.DataSection,
                                         "siting": scenario.SitingSection}.items()
                 for k, f in model.model_fields.items() if f.annotation in (str, str | None) or k in scenario.FILE_KEYS]


@pytest.mark.parametrize(("section", "key"), TEXT_SETTINGS)
@pytest.mark.parametrize("blank", [" ", "\u3000", "\n\t"])
def test_every_text_setting_refuses_blank_text(section, key, blank):
    doc = copy.deepcopy(tomllib.loads(TEXT))
    (doc if section is None else doc[section])[key] = blank
    with pytest.raises(SettingsError, match="not only spaces") as info:
        scenario.validate(doc)
    assert key in str(info.value) and len(str(info.value).splitlines()) == 2


@pytest.mark.parametrize(("change", "expected"), [
    # a string where an array belongs was split into letters ("d", "a", …: "kind listed twice")
    ({"siting_kinds": "dahamkke"}, '[siting] kinds = "dahamkke" (문자열 string) — 필요 (expected): 배열'),
    ({"grade_rates": None}, "[analysis] grade_rates = None (NoneType) — 필요 (expected): 배열"),
    ({"slots": None}, "[analysis] slots = None (NoneType) — 필요 (expected): 배열"),
    # a dict passed the schema and failed deep in the run (s.name, source.path)
    ({"slots": ({"name": "a", "period": "term", "time": "18:00"},)}, "[analysis] slots[1] = {'name': 'a'"),
    ({"facilities": ({"path": "x.csv"},)}, "[data] facilities[1] = {'path': 'x.csv'}: careplan.pipeline"),
])
def test_a_scenario_built_in_code_names_wrong_containers(change, expected):
    sc = pipeline.load_scenario(SAMPLE / "scenario.toml")
    with pytest.raises(SettingsError) as info:
        dataclasses.replace(sc, **change)
    assert expected in str(info.value) and len(str(info.value).splitlines()) <= 2


def test_a_scenario_built_in_code_takes_numpy_numbers_and_text_paths():
    import numpy as np

    sc = pipeline.load_scenario(SAMPLE / "scenario.toml")
    sc = dataclasses.replace(sc, siting_sites=np.int64(2), max_walk_min=np.float64(12), schools=str(sc.schools),
                             facilities=[str(SAMPLE / "daycare.csv")])
    assert sc.siting_sites == 2 and sc.schools == SAMPLE / "schools.csv" and sc.schools.name == "schools.csv"
    assert sc.facilities == (pipeline.FacilitySource(path=SAMPLE / "daycare.csv"),)


def test_compare_checks_both_scenarios_before_running_either(tmp_path, monkeypatch):
    good, bad = write(tmp_path, name="a.toml"), write(tmp_path, ("sites = 3", 'sites = "x"'), name="b.toml")
    ran = []
    monkeypatch.setattr(pipeline, "run", lambda sc, **_: ran.append(sc))
    _no_output(tmp_path, ["compare", str(good), str(bad)], '[siting] sites = "x" (문자열 string)')
    assert ran == []


@pytest.mark.parametrize(("encoding", "expected"), [("utf-16", "it looks like UTF-16"),
                                                    ("cp949", "it looks like CP949 / EUC-KR")])
def test_a_scenario_saved_in_a_windows_encoding_is_named(tmp_path, encoding, expected):
    path = tmp_path / "win.toml"
    path.write_bytes(TEXT.encode(encoding, errors="replace"))  # CP949 has no — or –: "?" is fine here
    message = refused(path, tmp_path, "is not UTF-8 text", expected, "UTF-8로 저장하세요")
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(("written", "official"), [("서울", "서울특별시"), ("강원도", "강원특별자치도"),
                                                   ("전라북도", "전북특별자치도"), ("경상북도", "경상북도")])
def test_a_short_or_former_sido_name_is_the_official_one(tmp_path, written, official):
    text = TEXT.replace('sido = "서울특별시"', f'sido = "{written}"').replace(KINDS, 'kinds = ["dahamkke"]')
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    assert pipeline.load_scenario(tmp_path / "s.toml").sido == official


@pytest.mark.parametrize(("sido", "sigungu", "expected"), [
    ("서울특별시", " 가온구 ", ("서울특별시", "가온구")),  # matched no row with the spaces
    (None, "서울특별시 가온구", ("서울특별시", "가온구")),  # as an address writes it
    ("서울특별시", "서울 가온구", ("서울특별시", "가온구")),
    ("경기도", "수원시  장안구", ("경기도", "수원시 장안구")),
])
def test_sido_and_sigungu_are_read_as_files_write_them(tmp_path, sido, sigungu, expected):
    text = TEXT.replace(KINDS, 'kinds = ["dahamkke"]')
    text = text.replace('sido = "서울특별시"', f'sido = "{sido}"' if sido else "")
    (tmp_path / "s.toml").write_text(text.replace('sigungu = "가온구"', f'sigungu = "{sigungu}"'), encoding="utf-8")
    sc = pipeline.load_scenario(tmp_path / "s.toml")
    assert (sc.sido, sc.sigungu) == expected


def test_a_sigungu_naming_another_sido_is_refused(tmp_path):
    refused(write(tmp_path, ('sigungu = "가온구"', 'sigungu = "부산광역시 중구"')), tmp_path,
            '[data] sigungu: "부산광역시 중구"의 시도가 sido = "서울특별시"와 다름 (the sigungu names another')

"""The hostile payload corpus: the embedded sample with payloads in every text field and setting.

``build_corpus`` copies data/sample/ and rewrites the display text of every input kind
(schools, pupils, 학구, 행정동, population, every facility list, candidates) and every
free-text scenario setting (name, slot names, catalog labels). Ids, codes, categories,
numbers, hours and coordinates stay intact so every join and filter still works: the
payloads go into what a planner reads, not into keys.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
AREA = "서울특별시 가온구 "
LONG = "<i>긴</i>" * 625  # 5,000 characters, with markup in it


def payloads(marker: Path) -> list[str]:
    """The corpus; ``marker`` is the path the Jinja RCE payloads try to create.

    ``marker.name`` must be a Python identifier (the quote-free payload spells it as one).
    """
    return [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '"><svg onload=alert(1)>',
        "{{ 7*7 }}",
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}",
        # The same without quotes, which HTML escaping would have broken: creates the marker
        # (as a folder) in the working directory, which the tests set to the marker's folder.
        "{{ cycler.__init__.__globals__.os.mkdir(dict(" + marker.name + "=1)|first) }}",
        "{% for x in range(3) %}XYZ{% endfor %}",
        "{#",
        '=HYPERLINK("http://example.invalid","click")',
        "+1+1",
        "-1+1",
        "@SUM(1)",
        "\t=1+2 탭으로 시작",
        "\r@SUM(2) CR로 시작",
        "첫 줄\n둘째 줄",
        "그림\n![x](y)",
        "줄\u2028구분",
        LONG,
        "따옴표 ' \" 역슬래시 \\ \\\\ 끝",
        "백틱 ` ${alert(1)}",
        "</script>",
    ]


def norm(text: str) -> str:
    """Text as compared on a page: every whitespace character removed.

    HTML collapses runs of whitespace, readers strip leading tabs and CRs, and a map may
    show a newline or U+2028 as a line break (``<br>``, no text node); everything else
    — every < > & { } % # quote, backtick and backslash — must survive exactly.
    """
    return "".join(ch for ch in text if not ch.isspace())


def encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


class _Table:
    """A CSV of the sample read and written back in its own encoding, BOM and quoting."""

    def __init__(self, path: Path):
        raw = path.read_bytes()
        self.path = path
        self.bom = raw.startswith(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8-sig")
            self.encoding = "utf-8"
        except UnicodeDecodeError:
            text = raw.decode("cp949")
            self.encoding = "cp949"
        self.quote_all = text.lstrip('"').count('","') > 0 and text.startswith('"')
        rows = list(csv.reader(io.StringIO(text, newline="")))
        self.header, self.rows = rows[0], rows[1:]

    def col(self, name: str) -> int:
        return self.header.index(name)

    def write(self) -> None:
        out = io.StringIO(newline="")
        quoting = csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL
        csv.writer(out, quoting=quoting, lineterminator="\r\n").writerows([self.header, *self.rows])
        data = out.getvalue().encode(self.encoding)
        self.path.write_bytes((b"\xef\xbb\xbf" if self.bom else b"") + data)


class Corpus:
    """Hands out payloads in turn so that each lands in many different fields."""

    def __init__(self, marker: Path):
        self.all = payloads(marker)
        self._next = itertools.cycle(range(len(self.all)))
        self.schools: list[str] = []  # the 초등학교 names, as written

    def take(self, *, encoding: str = "utf-8", spaceless: bool = False) -> str:
        while True:
            p = self.all[next(self._next)]
            if encodable(p, encoding) and not (spaceless and any(c.isspace() for c in p)):
                return p

    def fill(self, table: _Table, columns: list[str], *, prefix: str = "") -> None:
        for name in columns:
            j = table.col(name)
            for row in table.rows:
                row[j] = prefix + self.take(encoding=table.encoding)


# Display-text columns per facility list; 자치구명/시군구명, 서비스분류, 연령구분, 운영현황,
# 어린이집유형 and 제공서비스 decide area, kind and status, so they stay.
_FACILITY_TEXT = {
    "kium_centers.csv": ["상세주소", "설립일", "등록일시", "수정일시"],
    "local_child_centers.csv": ["상세주소", "연락처", "등록일시", "수정일시"],
    "dahamkke_centers.csv": [],
    "daycare.csv": ["전화번호", "팩스번호", "홈페이지주소", "통학차량운영여부",
                    "인가일자", "데이터기준일자", "데이터수집일"],
}
# The address the reader takes tells the 시도 (no 시도 column): it keeps "서울특별시 가온구 ".
_ADDRESS = {"kium_centers.csv": "기본주소", "local_child_centers.csv": "기본주소",
            "dahamkke_centers.csv": "주소", "daycare.csv": "상세주소"}
_NAME_COLUMN = {"kium_centers.csv": "시설명", "local_child_centers.csv": "시설명",
                "dahamkke_centers.csv": "시설명", "daycare.csv": "어린이집명"}


def _schools(dst: Path, corpus: Corpus) -> None:
    schools = _Table(dst / "schools.csv")
    students = _Table(dst / "students.csv")
    # School names join 학교알리미 rows by name: one distinct payload per school, in both files.
    name_j = schools.col("학교명")
    renamed = {}
    used: set[str] = set()
    for row in schools.rows:
        for _ in range(len(corpus.all)):
            new = corpus.take(encoding=schools.encoding)
            if norm(new) not in used:
                break
        else:
            raise ValueError("fewer distinct payloads than schools")
        used.add(norm(new))
        renamed[row[name_j]] = new
        row[name_j] = new
        if row[schools.col("학교급구분")] == "초등학교":
            corpus.schools.append(new)
    corpus.fill(schools, ["소재지도로명주소", "시도교육청명", "교육지원청명", "데이터기준일자",
                          "제공기관명", "설립형태", "본교분교구분"])
    # The lot address tells the 시군구: keep its 시·구 words in front of the payload.
    corpus.fill(schools, ["소재지지번주소"], prefix=AREA)
    s_name = students.col("학교명")
    for row in students.rows:
        row[s_name] = renamed[row[s_name]]
    corpus.fill(students, ["시도교육청", "교육지원청", "제외사유"])
    schools.write()
    students.write()


def _areas(dst: Path, corpus: Corpus) -> None:
    # 행정구역 is "시도 시군구 동(코드)" and 동 names are its last space-separated word, so
    # 행정동 names take the payloads without whitespace.
    areas_path = dst / "admin_areas.geojson"
    areas = json.loads(areas_path.read_text(encoding="utf-8"))
    names = {}
    for feature in areas["features"]:
        props = feature["properties"]
        new = corpus.take(encoding="cp949", spaceless=True)
        names[props["adm_cd2"]] = new
        props["adm_nm"] = f"{props['sidonm']} {props['sggnm']} {new}"
    areas["name"] = corpus.take()
    areas_path.write_text(json.dumps(areas, ensure_ascii=False), encoding="utf-8")
    population = _Table(dst / "population.csv")
    j = population.col("행정구역")
    for row in population.rows:
        m = re.match(r"^(.*?)\s*\((\d{10})\)\s*$", row[j])
        if m and m.group(2) in names:
            row[j] = f"{AREA}{names[m.group(2)]}({m.group(2)})"
    population.write()


def _zones(dst: Path, corpus: Corpus) -> None:
    path = dst / "school_zones.geojson"
    zones = json.loads(path.read_text(encoding="utf-8"))
    for feature in zones["features"]:
        feature["properties"]["HAKGUDO_NM"] = corpus.take()
    zones["name"] = corpus.take()
    path.write_text(json.dumps(zones, ensure_ascii=False), encoding="utf-8")


def _facilities(dst: Path, corpus: Corpus) -> None:
    # Names first, in one run over every list, so each payload is a facility name somewhere.
    tables = {name: _Table(dst / name) for name in _FACILITY_TEXT}
    for name, table in tables.items():
        j = table.col(_NAME_COLUMN[name])
        for row in table.rows:
            row[j] = corpus.take(encoding=table.encoding)
    for name, table in tables.items():
        corpus.fill(table, _FACILITY_TEXT[name])
        corpus.fill(table, [_ADDRESS[name]], prefix=AREA)
    for table in tables.values():
        table.write()
    candidates = _Table(dst / "candidates.csv")
    corpus.fill(candidates, ["후보지명", "유형", "비고"])
    candidates.write()


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def scenario(corpus: Corpus, *, name: str, sites: int) -> str:
    """The sample scenario with payload slot names, catalog labels and scenario name."""
    slot_names = [corpus.take() for _ in range(3)]
    slots = "\n".join(
        f"[[analysis.slots]]\nname = {_toml(n)}\nperiod = \"{period}\"\ntime = \"{time}\"\n"
        for n, (period, time) in zip(
            slot_names, [("term", "15:00"), ("term", "18:00"), ("vacation", "09:00")], strict=True
        )
    )
    catalog = "\n".join(
        f"[catalog.{kind}]\nlabel_ko = {_toml(corpus.take())}\nlabel_en = {_toml(corpus.take())}\n"
        f"eligibility_ko = {_toml(corpus.take())}\nbasis = {_toml(corpus.take())}\n"
        for kind in ("kium_general", "kium_fusion", "local_child_center", "dahamkke", "daycare")
    )
    return f"""name = {_toml(name)}

[data]
dir = "."
sido = "서울특별시"
sigungu = "가온구"
schools = "schools.csv"
students = "students.csv"
zones = "school_zones.geojson"
population = "population.csv"
admin_areas = "admin_areas.geojson"
candidates = "candidates.csv"
network = "walk.graphml"
facilities = [
  {{ path = "kium_centers.csv" }},
  {{ path = "local_child_centers.csv" }},
  {{ path = "dahamkke_centers.csv", kind = "dahamkke" }},
  {{ path = "daycare.csv" }},
]

[analysis]
max_walk_min = 10
walk_speed_kmh = 4.0
cell_m = 100
grade_rates = [0.35, 0.35, 0.25, 0.25, 0.12, 0.12]
access_method = "2sfca"
{slots}
[siting]
kinds = ["kium_general", "dahamkke"]
sites = {sites}
slot = {_toml(slot_names[1])}

{catalog}"""


def build_corpus(dst: Path, marker: Path) -> tuple[Corpus, Path, Path]:
    """Write the hostile sample into ``dst``; return the corpus and scenarios A and B."""
    shutil.copytree(SAMPLE, dst, dirs_exist_ok=True)
    corpus = Corpus(marker)
    _schools(dst, corpus)
    _areas(dst, corpus)
    _zones(dst, corpus)
    _facilities(dst, corpus)
    a, b = dst / "hostile_a.toml", dst / "hostile_b.toml"
    a.write_text(scenario(corpus, name="A " + " ".join(corpus.all[:11]), sites=3), encoding="utf-8")
    b.write_text(scenario(corpus, name="B " + " ".join(corpus.all[11:]), sites=4), encoding="utf-8")
    return corpus, a, b

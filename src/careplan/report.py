"""Run outputs: GeoPackage, Excel-friendly CSVs, maps, and the council report (확인지표).

Everything of one run goes into one folder, written first to a hidden staging
folder and then swapped in, so an interrupted run never leaves half-written
files. Outputs are deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import base64
import html
import json
import re
import warnings
from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pyogrio  # noqa: E402

from . import outfolder  # noqa: E402
from ._csv import write_csv  # noqa: E402
from ._errors import CareplanWarning  # noqa: E402
from .candidates import GRID_SITE_TYPE  # noqa: E402
from .catalog import KIND_LABELS, get_catalog  # noqa: E402

__all__ = ["ATTRIBUTIONS", "compare", "md_text", "report_markdown", "write_outputs"]

ATTRIBUTIONS = (
    "공공데이터포털 (data.go.kr) 전국초중등학교위치표준데이터·초등학교통학구역 — 한국교육시설안전원, 공공누리",
    "학교알리미 학년별·학급별 학생수 — 공공누리",
    "행정안전부 주민등록 연령별 인구현황 — 공공누리",
    "서울 열린데이터광장 우리동네키움센터·지역아동센터·어린이집 — 공공누리",
    "행정동 경계: github.com/vuski/admdongkor (통계청 SGIS 기반)",
    "도로망: © OpenStreetMap contributors (ODbL)",
)
_FIXED_DATE = "2000-01-01T00:00:00Z"  # GeoPackage timestamps: fixed so runs are byte-identical


def write_outputs(result, out_dir: str | Path, *, force: bool = False, kind: str = "run") -> Path:
    """Write every output of ``result`` (a :class:`careplan.pipeline.PlanResult`) to ``out_dir``.

    ``out_dir`` follows the rules of :mod:`careplan.outfolder`: absent or empty, or an earlier
    careplan output, replaced only with ``force`` (files the user added there are kept).
    ``kind`` goes into the folder's marker: ``"run"``, or ``"demo"`` (an earlier demo output is
    replaced without ``force``).

    Raises
    ------
    SettingsError
        ``out_dir`` holds files careplan did not write, or an earlier output and not ``force``.
    """
    outfolder.write(out_dir, kind, lambda stage: _fill(result, stage), force=force)
    return Path(out_dir)


def _fill(result, stage: Path) -> None:
    """Write the run's outputs into the staging folder ``stage``."""
    _write_geopackage(result, stage / "careplan.gpkg")
    for name, table in _tables(result).items():
        write_csv(table, stage / f"{name}.csv")
    charts = _charts(result, stage)
    _write_maps(result, stage)
    markdown = report_markdown(result, charts)
    (stage / "report.md").write_text(markdown, encoding="utf-8")
    (stage / "report.html").write_text(_report_html(result, charts), encoding="utf-8")
    (stage / "run.json").write_text(json.dumps(_run_meta(result), ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                    encoding="utf-8")


def _run_meta(result) -> dict:
    """What `careplan map` needs to re-make the maps from the folder without re-running."""
    s = result.scenario
    return {"name": s.name, "max_walk_min": s.max_walk_min, "distance_method_label": result.times.method_label,
            "distance_method": result.times.distance_method, "data_date": result.data_date,
            "synthetic": result.synthetic, "siting_slot": s.siting_slot, "catalog": s.catalog_overrides}


def _layers(result) -> dict[str, gpd.GeoDataFrame]:
    zones = result.zones.join(result.zone_summary.drop(columns="geometry", errors="ignore"), suffixes=("", "_sum"))
    areas = result.admin_areas.drop(columns=[f"age_{a}" for a in range(13, 101)], errors="ignore")
    layers = {"facilities": result.facilities, "schools": result.schools, "school_zones": zones,
              "admin_areas": areas, "demand_points": result.demand_points}
    if result.proposed is not None and len(result.proposed):
        layers["proposed_sites"] = result.proposed
    if result.candidates is not None:
        layers["candidate_sites"] = result.candidates
    return layers


def _write_geopackage(result, path: Path) -> None:
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _FIXED_DATE})
    for name, layer in _layers(result).items():
        frame = layer.reset_index()
        for column in frame.columns:
            if frame[column].dtype == object and column != "geometry":
                # NaN stays a GeoPackage NULL (not the text "nan"); other objects (lists, dates) become text
                frame[column] = frame[column].map(
                    lambda v: v if v is None or isinstance(v, str) or (not isinstance(v, list | tuple | dict)
                                                                      and pd.isna(v)) else str(v))
        frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


def _tables(result) -> dict[str, pd.DataFrame]:
    """CSV tables (UTF-8 with BOM: Korean Excel opens them correctly)."""
    reports = pd.concat([r.table().assign(file=r.source) for r in result.reports], ignore_index=True)
    tables = {
        "summary_확인지표": result.summary(),
        "coverage_by_slot": result.coverage_total,
        "coverage_by_zone": result.coverage_by_zone,
        "coverage_by_adm": result.coverage_by_adm,
        "gaps": result.gaps,
        "zone_summary": pd.DataFrame(result.zone_summary.drop(columns="geometry", errors="ignore")).reset_index(),
        "adm_summary": pd.DataFrame(result.adm_summary.drop(columns="geometry", errors="ignore")).reset_index(),
        "facilities": pd.DataFrame(result.facilities.drop(columns="geometry")).reset_index(),
        "row_report": reports[["file", "row", "action", "detail"]],
    }
    if result.proposed is not None and len(result.proposed):
        tables["proposed_sites"] = pd.DataFrame(result.proposed.drop(columns="geometry")).reset_index()
    return tables


def _charts(result, folder: Path) -> dict[str, Path]:
    plt.rcParams["font.family"] = _korean_font()
    charts = {}
    total = result.coverage_total
    allk = total[total["kind"] == "all"]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    # bars by position: two slot names alike in their first characters stay two bars
    positions = range(len(allk))
    ax.bar(positions, allk["coverage_pct"], color="#0072B2")
    ax.set_xticks(list(positions), [_chart_label(name) for name in allk["slot"]])
    ax.set_ylabel("수요 대비 %")
    ax.set_ylim(0, 100)
    ax.set_title(f"시간대별 {result.scenario.max_walk_min:g}분 도보권 수요 비율 (coverage by slot)")
    for x, y in zip(positions, allk["coverage_pct"], strict=True):
        ax.text(x, y + 1, f"{y:.0f}%", ha="center", fontsize=8)
    charts["coverage"] = _save(fig, folder / "chart_coverage_by_slot.png")
    fig, ax = plt.subplots(figsize=(4, 4), dpi=110)
    ax.plot(result.lorenz.iloc[:, 0], result.lorenz.iloc[:, 1], color="#D55E00", label="로렌츠 곡선")
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", label="완전 균등")
    ax.set_xlabel("아동 누적 비율")
    ax.set_ylabel("접근성 누적 비율")
    ax.set_title(f"접근성 형평성 (Gini {result.gini:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    charts["lorenz"] = _save(fig, folder / "chart_lorenz.png")
    return charts


def _chart_label(text: str, limit: int = 16) -> str:
    """A slot name as a tick label: one short line, ``$`` literal (matplotlib reads ``$…$`` as
    math and stops on a malformed one); the report's tables carry the full name."""
    flat = " ".join(str(text).split())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return flat.replace("$", r"\$")


def _save(fig, path: Path) -> Path:
    with warnings.catch_warnings():
        # without a Korean font (fonts-nanum) labels fall back to boxes: the numbers stay right
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
        fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def _korean_font() -> str:
    from matplotlib import font_manager

    for name in ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "UnDotum", "Malgun Gothic"):
        if any(f.name == name for f in font_manager.fontManager.ttflist):
            return name
    return "DejaVu Sans"


def _write_maps(result, folder: Path) -> None:
    from . import maps

    label = result.times.method_label
    stats = _area_stats(result)
    catalog = get_catalog(result.scenario.catalog_overrides or None)  # the scenario's own labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CareplanWarning)  # synthetic labelling is decided here
        m = maps.planner_map(
            facilities=result.facilities, schools=result.schools, zones=result.zones,
            admin_areas=result.admin_areas, demand_points=result.demand_points, proposed=result.proposed,
            zone_stats=stats["zone_id"], adm_stats=stats["adm_code"], distance_method_label=label,
            synthetic=result.synthetic, title=f"{result.scenario.name} — 초등 돌봄 계획 지도",
            attributions=ATTRIBUTIONS, catalog=catalog)
        maps.save_planner_map(m, folder / "planner_map.html")
        maps.public_care_map(folder / "public_map", facilities=result.facilities, schools=result.schools,
                             zones=result.zones, admin_areas=result.admin_areas, data_date=result.data_date,
                             synthetic=result.synthetic, distance_method_label=label,
                             attributions=ATTRIBUTIONS, walk_minutes=result.scenario.max_walk_min,
                             catalog=catalog)


def _area_stats(result) -> dict[str, pd.DataFrame]:
    slot = result.scenario.siting_slot
    stats = {}
    for by, table in (("zone_id", result.coverage_by_zone), ("adm_code", result.coverage_by_adm)):
        cov = table[(table["slot"] == slot) & (table["kind"] == "all")].set_index(by)["coverage_pct"]
        grouped = result.access.groupby(by)
        frame = pd.DataFrame({"coverage_pct": cov, "unmet_demand": grouped["unmet_demand"].sum(),
                              "access_score": grouped["access"].mean()})
        stats[by] = frame[frame.index.isin(result.zones.index if by == "zone_id" else result.admin_areas.index)]
    return stats


# ---------------------------------------------------------------- report.md and report.html
#
# The report is built once as a list of blocks, then written as Markdown and as HTML; report.html is
# never parsed back out of the Markdown, so no data text is ever read as markup. Inside a block,
# careplan's own text is a plain ``str`` (it may use ``**bold**``) and every text that comes from the
# data or the scenario is wrapped in ``_Data``, escaped for the format it lands in.


class _Data(str):
    """A text from the input data or the scenario (names, slots, dates, labels)."""


# Markdown line breaks (CommonMark's and what str.splitlines breaks on): a data text stays on its line.
_LINE_BREAKS = re.compile("\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# Punctuation that can start Markdown markup mid-line (links, images, emphasis, code, tables, math);
# an ``_`` between two letters or digits cannot (CommonMark: intraword), so ``area_id`` stays readable.
_MD_PUNCTUATION = re.compile(r"[\\`*\[\]|~!#$]|(?<![^\W_])_|_(?![^\W_])")
_MD_LIST_START = re.compile(r"^(\s*\d*)([-+.)])")


def md_text(value) -> str:
    """``value`` as Markdown that every viewer shows as exactly that text, on one line.

    Line breaks become spaces; ``&``, ``<``, ``>`` become entities (no raw HTML);
    Markdown punctuation is backslash-escaped (no link, image, emphasis or table cell break).
    """
    text = _LINE_BREAKS.sub(" ", str(value))
    return _MD_PUNCTUATION.sub(lambda hit: "\\" + hit.group(0), html.escape(text, quote=False))


def _md_line(text: str) -> str:
    """``text`` (escaped) made safe at the start of a line: a leading "-", "+" or "1." from a
    data text would open a (nested) list."""
    return _MD_LIST_START.sub(lambda hit: hit.group(1) + "\\" + hit.group(2), text, count=1)


def _md_inline(pieces) -> str:
    return "".join(md_text(p) if isinstance(p, _Data) else p for p in pieces)


def _html_inline(pieces) -> str:
    return "".join(html.escape(p) if isinstance(p, _Data) else html.escape(p).replace("**", "") for p in pieces)


def _table_cells(frame: pd.DataFrame, digits: int) -> tuple[list[str], list[list[str]]]:
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.{digits}f}")
    return [str(c) for c in shown.columns], [[str(v) for v in row] for row in shown.to_numpy()]


def _md_table(frame: pd.DataFrame, *, digits: int = 1) -> str:
    header, rows = _table_cells(frame, digits)
    lines = ["| " + " | ".join(md_text(c) for c in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame, *, digits: int = 1) -> str:
    header, rows = _table_cells(frame, digits)
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


PROPOSED_COLUMNS_KO = {"kind_label": "유형", "rank": "순위", "name": "후보지", "site_type": "후보지 구분",
                       "marginal_gain": "추가 도보권 수요(명)", "cumulative_coverage_pct": "누적 도보권 비율(%)",
                       "explanation": "설명", "solver_status": "해의 상태"}


def _proposed_section(result) -> list[tuple]:
    s = result.scenario
    if result.proposed is None or not len(result.proposed):
        return [("p", ["후보지가 없거나 입지 분석을 하지 않았습니다 (no candidate sites or siting not requested)."])]
    table = pd.DataFrame(result.proposed)[list(PROPOSED_COLUMNS_KO)].rename(columns=PROPOSED_COLUMNS_KO)
    blocks = [
        ("p", [f"유형별로 새 센터 최대 {s.siting_sites}곳을 최대 포괄 입지 모형(MCLP, HiGHS)으로 고르고, 기존 센터(",
               _Data(s.siting_slot),
               f"에 운영 중)에 더해 {s.max_walk_min:g}분 도보권 수요를 가장 많이 늘리는 순서로 순위를 매겼습니다. "
               "유형은 표의 순서대로 계획했습니다: 뒤 유형은 앞 유형의 제안 입지까지 있다고 보고 남은 수요를 채웁니다 "
               "(누적 비율은 표 전체에 걸쳐 이어집니다)."]),
        ("blank",),
        ("table", table, 1),
    ]
    if (result.proposed["site_type"] == GRID_SITE_TYPE).any():
        blocks += [("blank",), ("note", [f"후보지 목록이 없어 {s.siting_grid_m:g} m 격자점을 후보지로 썼습니다. "
                                         "**격자 후보지는 실제 건물이 아닌 가상 위치**이므로, 제안 지점 주변의 "
                                         "주민센터·작은도서관·경로당 등 공공시설을 찾아 검토하세요."])]
    return blocks


def _report_blocks(result, charts: dict[str, Path] | None) -> list[tuple]:
    """The council report as blocks: ("h", level, pieces), ("p" | "note" | "li", pieces),
    ("table", frame, digits), ("img", alt, file name, chart key), ("reports",), ("blank",)."""
    s = result.scenario
    fac = result.facilities
    supply = fac.groupby("kind").agg(시설수=("name", "size"), 상시정원=("capacity", "sum"),
                                     일시정원=("capacity_temp", "sum")).reset_index()
    supply.insert(0, "유형", supply.pop("kind").map(KIND_LABELS))
    total = result.coverage_total
    by_slot = total[total["kind"] == "all"][["slot", "demand", "covered_demand", "coverage_pct"]].rename(
        columns={"slot": "시간대", "demand": "수요", "covered_demand": "도보권 수요", "coverage_pct": "비율(%)"})

    def chart(alt: str, name: str, key: str) -> tuple:
        return ("img", alt, name, key) if charts else ("blank",)

    return [
        ("h", 1, [_Data(s.name), " — 초등 돌봄 수요·접근성 분석 보고서"]),
        ("blank",),
        ("note", ["**가상 데이터 (synthetic data)**: 이 보고서의 수치는 가상의 지역으로 만든 예시입니다."])
        if result.synthetic else ("note", ["실제 공공데이터로 계산한 결과입니다 (자료 기준일은 아래 참조)."]),
        ("blank",),
        ("h", 2, ["1. 확인지표 (key indicators)"]),
        ("table", result.summary(), 1),
        ("blank",),
        ("h", 2, ["2. 유형별 돌봄시설과 정원 (facilities by kind)"]),
        ("table", supply, 0),
        ("blank",),
        ("p", ["어린이집은 0–5세 보육 시설로 참고 레이어이며 초등 돌봄 공급에는 포함하지 않습니다."]),
        ("blank",),
        ("h", 2, [f"3. 시간대별 {s.max_walk_min:g}분 도보권 수요 (coverage by time slot)"]),
        ("table", by_slot.reset_index(drop=True), 1),
        ("blank",),
        chart("시간대별 도보권", "chart_coverage_by_slot.png", "coverage"),
        ("blank",),
        ("h", 2, ["4. 미충족 수요 상위 학구·행정동 (unmet demand, ranked)"]),
        ("table", result.gaps.head(10), 1),
        ("blank",),
        ("h", 2, [f"5. 접근성 형평성: 지니계수 {result.gini:.3f}"]),
        *_equity_note(result),
        chart("로렌츠 곡선", "chart_lorenz.png", "lorenz"),
        ("blank",),
        ("h", 2, ["6. 제안 입지 (proposed sites)"]),
        *_proposed_section(result),
        ("blank",),
        ("h", 2, ["7. 방법과 매개변수 (method and parameters)"]),
        ("li", ["거리 계산: **", _Data(result.times.method_label), "** (", _Data(result.times.distance_method), ")"]),
        ("li", [f"도보 기준: {s.max_walk_min:g}분, 보행속도 {s.walk_speed_kmh:g} km/h, 수요 격자 {s.cell_m:g} m"]),
        ("li", [f"수요율 (1–6학년): {', '.join(f'{r:g}' for r in s.grade_rates)} — 학생 수 × 학년별 수요율, "
                "학구 안에서 행정동 6–12세 아동 밀도로 배분 (dasymetric)"]),
        ("li", [f"접근성: {s.access_method.upper()} (정원 기준), 시간대: ", _Data(", ".join(t.name for t in s.slots))]),
        *[("li", ["수요 배치 예외 (demand fallback): ", _Data(note if len(note) <= 400 else note[:400] + " …")])
          for note in result.demand_points.attrs.get("demand", {}).get("notes", [])],
        ("li", ["자료 기준일: ", _Data(result.data_date or "미상")]),
        ("blank",),
        ("h", 2, ["8. 자료 출처 (attributions)"]),
        *[("li", [_Data(a)]) for a in ATTRIBUTIONS],
        ("blank",),
        ("h", 2, ["9. 입력 자료 점검 (row accounting)"]),
        ("reports",),
    ]


def _equity_note(result) -> list[tuple]:
    """Name how the Gini is weighted when children are left out (no demand data) or none is counted."""
    scores = result.access
    if not scores["access"].fillna(0).gt(0).any():
        return [("li", ["형평성: 도보권 안에 정원이 있는 시설이 어디에도 없어 모든 아동의 접근성이 0입니다. "
                        "지니계수 0은 '고르게 좋음'이 아니라 '모두 없음'을 뜻합니다 "
                        "(no access anywhere: a Gini of 0 means equally none)"])]
    children = scores["children"].fillna(0) if "children" in scores else pd.Series(0.0, index=scores.index)
    counted = children.where(scores["demand"].fillna(0) > 0, 0)
    if not counted.sum() > 0:
        return [("li", ["형평성 가중치: 6–12세 아동 수가 모두 0이라 지니계수·로렌츠 곡선은 추정 수요로 가중했습니다 "
                        "(no children counted: Gini weighted by estimated demand)"])]
    if counted.sum() < children.sum():
        return [("li", [f"형평성 가중치: 수요 자료가 없는 곳의 아동 {children.sum() - counted.sum():,.0f}명은 "
                        "지니계수·로렌츠 곡선에서 제외했습니다 (children where demand is unknown are left out)"])]
    return []


def _md_reports(result) -> list[str]:
    """Each row report as a list (file line, then its notes and reasons), every line escaped."""
    lines = []
    for report in result.reports:
        first, *rest = report.summary().split("\n")
        lines.append(f"- {_md_line(md_text(first))}")
        lines += [f"  - {_md_line(md_text(line.strip().removeprefix('- ')))}" for line in rest if line.strip()]
    return lines


def report_markdown(result, charts: dict[str, Path] | None = None) -> str:
    """The council report in Markdown (Korean, with method, parameters, data dates, attributions).

    Every data text is escaped (:func:`md_text`): no raw HTML, no Markdown markup, one line.
    """
    lines = []
    for block in _report_blocks(result, charts):
        kind = block[0]
        if kind == "h":
            lines.append("#" * block[1] + " " + _md_inline(block[2]))
        elif kind in {"p", "note", "li"}:
            lines.append({"p": "", "note": "> ", "li": "- "}[kind] + _md_line(_md_inline(block[1])))
        elif kind == "table":
            lines.append(_md_table(block[1], digits=block[2]))
        elif kind == "img":
            lines.append(f"![{block[1]}]({block[2]})")
        elif kind == "reports":
            lines += _md_reports(result)
        else:
            lines.append("")
    return "\n".join(lines) + "\n"


def _report_html(result, charts: dict[str, Path]) -> str:
    """The same report as one self-contained HTML page (charts embedded, all text escaped)."""
    body = []
    for block in _report_blocks(result, charts):
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{_html_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{_html_inline(block[1])}</p>")
        elif kind == "note":
            body.append(f"<p class='note'>{_html_inline(block[1])}</p>")
        elif kind == "li":
            body.append(f"<li>{_html_inline(block[1])}</li>")
        elif kind == "table":
            body.append(_html_table(block[1], digits=block[2]))
        elif kind == "img":
            data = base64.b64encode(charts[block[3]].read_bytes()).decode()
            body.append(f'<img alt="{html.escape(block[1])}" src="data:image/png;base64,{data}">')
        elif kind == "reports":
            body += [f"<pre>{html.escape(r.summary())}</pre>" for r in result.reports]
    style = ("body{font-family:'Noto Sans KR','Malgun Gothic',sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;"
             "padding:.2rem .5rem;text-align:right}th{background:#eef}.note{background:#fff3cd;padding:.5rem}"
             "img{max-width:100%}")
    title = html.escape(result.scenario.name)
    return (f"<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>{title} 보고서</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def compare(a, b) -> pd.DataFrame:
    """Side-by-side 확인지표 of two runs (A, B, B − A)."""
    left = a.summary().set_index("지표")["값"]
    right = b.summary().set_index("지표")["값"]
    table = pd.DataFrame({a.scenario.name: left, b.scenario.name: right})
    table["차이 (B − A)"] = right - left
    return table.reset_index()

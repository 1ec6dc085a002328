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
from ._errors import CareplanWarning  # noqa: E402
from .candidates import GRID_SITE_TYPE  # noqa: E402
from .catalog import KIND_LABELS  # noqa: E402

__all__ = ["ATTRIBUTIONS", "compare", "report_markdown", "stable_ids", "write_outputs"]

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
        table.to_csv(stage / f"{name}.csv", index=False, encoding="utf-8-sig", lineterminator="\r\n")
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
            "synthetic": result.synthetic, "siting_slot": s.siting_slot}


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
    ax.bar(allk["slot"], allk["coverage_pct"], color="#0072B2")
    ax.set_ylabel("수요 대비 %")
    ax.set_ylim(0, 100)
    ax.set_title(f"시간대별 {result.scenario.max_walk_min:g}분 도보권 수요 비율 (coverage by slot)")
    for x, y in zip(allk["slot"], allk["coverage_pct"], strict=True):
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CareplanWarning)  # synthetic labelling is decided here
        m = maps.planner_map(
            facilities=result.facilities, schools=result.schools, zones=result.zones,
            admin_areas=result.admin_areas, demand_points=result.demand_points, proposed=result.proposed,
            zone_stats=stats["zone_id"], adm_stats=stats["adm_code"], distance_method_label=label,
            synthetic=result.synthetic, title=f"{result.scenario.name} — 초등 돌봄 계획 지도",
            attributions=ATTRIBUTIONS)
        maps.save_planner_map(m, folder / "planner_map.html")
        maps.public_care_map(folder / "public_map", facilities=result.facilities, schools=result.schools,
                             zones=result.zones, admin_areas=result.admin_areas, data_date=result.data_date,
                             synthetic=result.synthetic, distance_method_label=label,
                             attributions=ATTRIBUTIONS, walk_minutes=result.scenario.max_walk_min)
    for page in [folder / "planner_map.html", *sorted((folder / "public_map").glob("*.html"))]:
        stable_ids(page)


def stable_ids(path: Path) -> None:
    """Folium names elements with random hex ids; number them in order so runs are identical."""
    content = path.read_text(encoding="utf-8")
    ids: dict[str, str] = {}
    content = re.sub(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])",
                     lambda m: ids.setdefault(m.group(0), f"{len(ids):032x}"), content)
    path.write_text(content, encoding="utf-8")


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


def _md_table(frame: pd.DataFrame, *, digits: int = 1) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.{digits}f}")
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |" for row in shown.to_numpy()]
    return "\n".join([header, rule, *body])


PROPOSED_COLUMNS_KO = {"kind_label": "유형", "rank": "순위", "name": "후보지", "site_type": "후보지 구분",
                       "marginal_gain": "추가 도보권 수요(명)", "cumulative_coverage_pct": "누적 도보권 비율(%)",
                       "explanation": "설명", "solver_status": "해의 상태"}


def _proposed_section(result) -> list[str]:
    s = result.scenario
    if result.proposed is None or not len(result.proposed):
        return ["후보지가 없거나 입지 분석을 하지 않았습니다 (no candidate sites or siting not requested)."]
    table = pd.DataFrame(result.proposed)[list(PROPOSED_COLUMNS_KO)].rename(columns=PROPOSED_COLUMNS_KO)
    lines = [
        f"유형별로 새 센터 최대 {s.siting_sites}곳을 최대 포괄 입지 모형(MCLP, HiGHS)으로 고르고, 기존 센터"
        f"({s.siting_slot}에 운영 중)에 더해 {s.max_walk_min:g}분 도보권 수요를 가장 많이 늘리는 순서로 순위를 매겼습니다. "
        "유형은 표의 순서대로 계획했습니다: 뒤 유형은 앞 유형의 제안 입지까지 있다고 보고 남은 수요를 채웁니다 "
        "(누적 비율은 표 전체에 걸쳐 이어집니다).",
        "",
        _md_table(table, digits=1),
    ]
    if (result.proposed["site_type"] == GRID_SITE_TYPE).any():
        lines += ["", f"> 후보지 목록이 없어 {s.siting_grid_m:g} m 격자점을 후보지로 썼습니다. **격자 후보지는 실제 건물이 "
                      "아닌 가상 위치**이므로, 제안 지점 주변의 주민센터·작은도서관·경로당 등 공공시설을 찾아 검토하세요."]
    return lines


def report_markdown(result, charts: dict[str, Path] | None = None) -> str:
    """The council report in Markdown (Korean, with method, parameters, data dates, attributions)."""
    s = result.scenario
    fac = result.facilities
    supply = fac.groupby("kind").agg(시설수=("name", "size"), 상시정원=("capacity", "sum"),
                                     일시정원=("capacity_temp", "sum")).reset_index()
    supply.insert(0, "유형", supply.pop("kind").map(KIND_LABELS))
    total = result.coverage_total
    by_slot = total[total["kind"] == "all"][["slot", "demand", "covered_demand", "coverage_pct"]].rename(
        columns={"slot": "시간대", "demand": "수요", "covered_demand": "도보권 수요", "coverage_pct": "비율(%)"})
    gaps = result.gaps.head(10)
    parts = [
        f"# {s.name} — 초등 돌봄 수요·접근성 분석 보고서",
        "",
        "> **가상 데이터 (synthetic data)**: 이 보고서의 수치는 가상의 지역으로 만든 예시입니다." if result.synthetic
        else "> 실제 공공데이터로 계산한 결과입니다 (자료 기준일은 아래 참조).",
        "",
        "## 1. 확인지표 (key indicators)",
        _md_table(result.summary(), digits=1),
        "",
        "## 2. 유형별 돌봄시설과 정원 (facilities by kind)",
        _md_table(supply, digits=0),
        "",
        "어린이집은 0–5세 보육 시설로 참고 레이어이며 초등 돌봄 공급에는 포함하지 않습니다.",
        "",
        f"## 3. 시간대별 {s.max_walk_min:g}분 도보권 수요 (coverage by time slot)",
        _md_table(by_slot.reset_index(drop=True), digits=1),
        "",
        "![시간대별 도보권](chart_coverage_by_slot.png)" if charts else "",
        "",
        "## 4. 미충족 수요 상위 학구·행정동 (unmet demand, ranked)",
        _md_table(gaps, digits=1),
        "",
        f"## 5. 접근성 형평성: 지니계수 {result.gini:.3f}",
        "![로렌츠 곡선](chart_lorenz.png)" if charts else "",
        "",
        "## 6. 제안 입지 (proposed sites)",
        *_proposed_section(result),
        "",
        "## 7. 방법과 매개변수 (method and parameters)",
        f"- 거리 계산: **{result.times.method_label}** ({result.times.distance_method})",
        f"- 도보 기준: {s.max_walk_min:g}분, 보행속도 {s.walk_speed_kmh:g} km/h, 수요 격자 {s.cell_m:g} m",
        f"- 수요율 (1–6학년): {', '.join(f'{r:g}' for r in s.grade_rates)} — 학생 수 × 학년별 수요율, "
        "학구 안에서 행정동 6–12세 아동 밀도로 배분 (dasymetric)",
        f"- 접근성: {s.access_method.upper()} (정원 기준), 시간대: {', '.join(t.name for t in s.slots)}",
        f"- 자료 기준일: {result.data_date or '미상'}",
        "",
        "## 8. 자료 출처 (attributions)",
        *[f"- {a}" for a in ATTRIBUTIONS],
        "",
        "## 9. 입력 자료 점검 (row accounting)",
        *[f"```\n{r.summary()}\n```" for r in result.reports],
    ]
    return "\n".join(parts) + "\n"


def _report_html(result, charts: dict[str, Path]) -> str:
    """The same report as one self-contained HTML page (charts embedded, all text escaped)."""
    body = []
    in_table = False
    for line in report_markdown(result, charts).splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set(line) <= {"|", "-"}:
                continue
            if not in_table:
                body.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
                in_table = True
            else:
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("!["):
            name = line[line.index("(") + 1:-1]
            data = base64.b64encode((charts[_chart_key(name)]).read_bytes()).decode()
            body.append(f'<img alt="{html.escape(line[2:line.index("]")])}" src="data:image/png;base64,{data}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line.startswith("> "):
            body.append(f"<p class='note'>{html.escape(line[2:]).replace('**', '')}</p>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:]).replace('**', '')}</li>")
        elif line.strip() and not line.startswith("```"):
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    reports = "".join(f"<pre>{html.escape(r.summary())}</pre>" for r in result.reports)
    style = ("body{font-family:'Noto Sans KR','Malgun Gothic',sans-serif;max-width:60rem;margin:2rem auto;"
             "padding:0 1rem}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #bbb;"
             "padding:.2rem .5rem;text-align:right}th{background:#eef}.note{background:#fff3cd;padding:.5rem}"
             "img{max-width:100%}")
    title = html.escape(result.scenario.name)
    return (f"<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>{title} 보고서</title>"
            f"<style>{style}</style></head><body>{''.join(body)}{reports}</body></html>\n")


def _chart_key(name: str) -> str:
    return "coverage" if "coverage" in name else "lorenz"


def compare(a, b) -> pd.DataFrame:
    """Side-by-side 확인지표 of two runs (A, B, B − A)."""
    left = a.summary().set_index("지표")["값"]
    right = b.summary().set_index("지표")["값"]
    table = pd.DataFrame({a.scenario.name: left, b.scenario.name: right})
    table["차이 (B − A)"] = right - left
    return table.reset_index()

"""Scenario comparison map: two runs side by side (synced maps) or overlaid as toggled layers.

Planners compare before/after proposed sites, 2018 vs 2022 supply, or a closure
what-if. Each run contributes the same layers (학구 coverage, demand outside a
walk, facilities, facilities only in this run, proposed sites), tagged ``A`` or
``B`` in the layer names and in a Korean legend that names both scenarios.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import branca.colormap as bcm
import folium
import geopandas as gpd
import pandas as pd
from folium.plugins import DualMap
from folium.template import Template

from .._errors import SettingsError
from ..catalog import CareKind, get_catalog
from ..coverage import ALL_KINDS, default_kinds
from ._common import (
    DEFAULT_ATTRIBUTIONS,
    OKABE_ITO,
    LiteralMacroElement,
    LiteralText,
    escape_text,
    guard_templates,
    kind_style,
    marker_svg,
    render_page,
    resolve_catalog,
    to_wgs84,
)
from .planner import (
    _bounds,
    _choropleth_style,
    _geojson,
    _PointBatch,
    _polygon_frame,
    facility_popup_html,
)

__all__ = ["RUN_COLOURS", "RunCounts", "compare_map", "run_counts", "save_compare_map"]

logger = logging.getLogger(__name__)

#: Colour of each run in the legend, the proposed-site badges and the uncovered-demand dots
#: (Okabe–Ito blue / vermillion: distinguishable for colour-blind readers).
RUN_COLOURS: dict[str, str] = {"A": OKABE_ITO["blue"], "B": OKABE_ITO["vermillion"]}


@dataclass(frozen=True)
class RunCounts:
    """The numbers the comparison map shows for one run (also returned for reports and tests)."""

    name: str
    facilities: int  # after-school facilities (the kinds counted as 초등 돌봄 supply)
    capacity: float  # their regular places
    proposed: int
    slot: str
    max_walk_min: float
    demand: float
    covered_demand: float
    coverage_pct: float
    uncovered_points: int
    distance_method_label: str


def run_counts(result, *, slot: str | None = None) -> RunCounts:
    """Headline numbers of one :class:`careplan.PlanResult` at ``slot`` (default: its siting slot).

    The facility count and capacity use the same kinds as ``PlanResult.summary()``
    (어린이집 is a context layer, not after-school supply), so the map and the
    comparison table agree.
    """
    slot = slot or result.scenario.siting_slot
    total = result.coverage_total
    row = total[(total["slot"] == slot) & (total["kind"] == ALL_KINDS)]
    if row.empty:
        msg = (
            f"slot {slot!r} is not in run {result.scenario.name!r}; expected one of "
            f"{sorted(total['slot'].unique())}. Pass one of those as slot=."
        )
        raise SettingsError(msg)
    fac = result.facilities[result.facilities["kind"].isin(default_kinds())]
    covered = result.coverage.covered[(slot, ALL_KINDS)]
    return RunCounts(
        name=str(result.scenario.name),
        facilities=len(fac),
        capacity=float(fac["capacity"].sum()),
        proposed=0 if result.proposed is None else len(result.proposed),
        slot=slot,
        max_walk_min=float(result.scenario.max_walk_min),
        demand=float(row["demand"].iloc[0]),
        covered_demand=float(row["covered_demand"].iloc[0]),
        coverage_pct=float(row["coverage_pct"].iloc[0]),
        uncovered_points=int((~covered.astype(bool)).sum()),
        distance_method_label=result.times.method_label,
    )


class _Attributions(LiteralMacroElement):
    """Add the data sources to one map's attribution line (texts already escaped)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {% for text in this.texts %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ text|tojson }});
        {% endfor %}
        {% endmacro %}
        """
    )

    def __init__(self, texts: Sequence[str]):
        super().__init__()
        self._name = "CareplanAttributions"
        self.texts = list(texts)


_LEGEND_CSS = """<style>
/* bottom centre: clear of both maps' layer controls (top right) and zoom buttons (top left) */
.careplan-compare {position: fixed; bottom: 60px; left: 50%; transform: translateX(-50%);
  z-index: 1000;
  background: rgba(255,255,255,0.95); padding: 6px 10px; border-radius: 4px; max-width: 520px;
  font: 12px/1.35 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,.3);}
.careplan-compare h1 {font-size: 14px; margin: 0 0 3px 0;}
.careplan-compare table {border-collapse: collapse;}
.careplan-compare td, .careplan-compare th {padding: 1px 6px; text-align: right;}
.careplan-compare th:first-child, .careplan-compare td:first-child {text-align: left;}
.careplan-swatch {display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 3px;}
.careplan-synthetic {color: #B00020; font-weight: 700;}
</style>"""


def _legend_html(
    title: str,
    counts: Mapping[str, RunCounts],
    only: Mapping[str, int],
    layout: str,
    synthetic: bool,
) -> str:
    """The legend: which scenario is A and which is B, and their numbers (all data text escaped)."""
    a, b = counts["A"], counts["B"]
    head = "".join(
        f"<th><span class='careplan-swatch' style='background:{RUN_COLOURS[t]}'></span>{t}</th>"
        for t in counts
    )
    place = {
        "dual": "왼쪽 A · 오른쪽 B",
        "overlay": "한 지도에 A·B 레이어 (오른쪽 위에서 켜고 끄기)",
    }[layout]

    def row(label: str, fmt, attr: str) -> str:
        cells = "".join(f"<td>{fmt(getattr(c, attr))}</td>" for c in (a, b))
        return f"<tr><td>{label}</td>{cells}</tr>"

    rows = [
        row("돌봄시설 수", lambda v: f"{v:,}곳", "facilities"),
        row("상시 정원 합계", lambda v: f"{v:,.0f}명", "capacity"),
        row("제안 입지 수", lambda v: f"{v:,}곳", "proposed"),
        row("기준 시간대", escape_text, "slot"),
        row("도보 기준", lambda v: f"{v:g}분", "max_walk_min"),
        row("도보권 안 수요 비율", lambda v: f"{v:.1f}%", "coverage_pct"),
        f"<tr><td>도보권 밖 수요</td><td>{a.demand - a.covered_demand:,.1f}명</td>"
        f"<td>{b.demand - b.covered_demand:,.1f}명</td></tr>",
        f"<tr><td>한쪽에만 있는 시설</td><td>{only['A']:,}곳</td><td>{only['B']:,}곳</td></tr>",
    ]
    names = "".join(
        f"<div><span class='careplan-swatch' style='background:{RUN_COLOURS[t]}'></span>"
        f"<b>{t}</b> = {escape_text(c.name)}</div>"
        for t, c in counts.items()
    )
    methods = {c.distance_method_label for c in counts.values()}
    method = (
        " / ".join(f"{t}: {escape_text(c.distance_method_label)}" for t, c in counts.items())
        if len(methods) > 1
        else escape_text(methods.pop())
    )
    flag = "<div class='careplan-synthetic'>가상 데이터 (synthetic)</div>" if synthetic else ""
    return (
        f"<div class='careplan-compare' role='note'><h1>{escape_text(title)}</h1>{flag}{names}"
        f"<div>{place}</div><table><tr><th>지표</th>{head}</tr>{''.join(rows)}</table>"
        f"<div>거리 산정: {method}</div></div>"
    )


def _coverage_colormap() -> bcm.LinearColormap:
    cmap = bcm.linear.viridis.scale(0, 100)
    cmap.caption = "학구별 도보권 안 수요 비율 (%)"
    return cmap


def _zone_coverage(result, slot: str) -> gpd.GeoDataFrame:
    table = result.coverage_by_zone
    pct = table[(table["slot"] == slot) & (table["kind"] == ALL_KINDS)].set_index("zone_id")[
        "coverage_pct"
    ]
    zones = _polygon_frame(to_wgs84(result.zones, "zones"), "zones")
    zones["value"] = pct.reindex(zones.index).to_numpy()
    zones["value_txt"] = ["자료 없음" if pd.isna(v) else f"{v:.1f}%" for v in zones["value"]]
    return zones


def _add_zone_coverage(m: folium.Map, result, tag: str, slot: str, cmap) -> None:
    zones = _zone_coverage(result, slot)
    _geojson(
        zones[["label", "value", "value_txt", "geometry"]],
        name=f"{tag} · 학구별 도보권 수요 비율 ({escape_text(slot)})",
        show=True,
        style_function=_choropleth_style(cmap, fill_opacity=0.45),
        tooltip=folium.GeoJsonTooltip(
            fields=["label", "value_txt"], aliases=["학구", f"{tag} 비율"]
        ),
    ).add_to(m)


def _add_uncovered(m: folium.Map, result, tag: str, counts: RunCounts) -> None:
    covered = result.coverage.covered[(counts.slot, ALL_KINDS)].astype(bool)
    points = to_wgs84(result.demand_points.loc[covered.index[~covered.to_numpy()]], "demand_points")
    rows = [
        [
            round(p.y, 7),
            round(p.x, 7),
            f"{tag} 도보권 밖 수요 {float(d):,.1f}명 · 학구 {escape_text(z)}",
            f"{tag} {float(d):,.1f}명",
        ]
        for p, d, z in zip(points.geometry, points["demand"], points["zone_id"], strict=True)
    ]
    outside = counts.demand - counts.covered_demand
    layer = folium.FeatureGroup(
        name=f"{tag} · 도보권 밖 수요 ({counts.uncovered_points:,}곳, {outside:,.1f}명)", show=False
    )
    style = {
        "radius": 4,
        "color": RUN_COLOURS[tag],
        "weight": 1,
        "fillColor": RUN_COLOURS[tag],
        "fillOpacity": 0.7,
    }
    _PointBatch(rows, circle_style=style).add_to(layer)
    layer.add_to(m)


def _add_facilities(m: folium.Map, fac: gpd.GeoDataFrame, tag: str, catalog) -> None:
    layer = folium.FeatureGroup(name=f"{tag} · 돌봄시설 ({len(fac):,})", show=True)
    for kind_key, group in fac.groupby("kind", sort=True):
        kind = catalog.get(kind_key)
        rows = [
            [
                round(r.geometry.y, 7),
                round(r.geometry.x, 7),
                facility_popup_html(r, kind),
                f"{tag} · {escape_text(r.get('name'), missing='이름 없음')}",
            ]
            for _i, r in group.iterrows()
        ]
        _PointBatch(rows, icon_html=marker_svg(kind_style(kind_key))).add_to(layer)
    layer.add_to(m)


def _add_only_here(m: folium.Map, fac: gpd.GeoDataFrame, tag: str, other: str) -> None:
    """Rings around facilities present in this run and not in the other (by facility_id)."""
    layer = folium.FeatureGroup(
        name=f"{tag}에만 있는 시설 ({len(fac):,}, {other}에는 없음)", show=True
    )
    rows = [
        [
            round(r.geometry.y, 7),
            round(r.geometry.x, 7),
            f"{tag}에만 있는 시설: {escape_text(r.get('name'), missing='이름 없음')}",
            f"{tag}에만: {escape_text(r.get('name'), missing='이름 없음')}",
        ]
        for _i, r in fac.iterrows()
    ]
    style = {"radius": 16, "color": RUN_COLOURS[tag], "weight": 4, "fill": False}
    _PointBatch(rows, circle_style=style).add_to(layer)
    layer.add_to(m)


def _add_proposed(m: folium.Map, proposed: gpd.GeoDataFrame, tag: str) -> None:
    layer = folium.FeatureGroup(name=f"{tag} · 제안 입지 ({len(proposed):,})", show=True)
    colour = RUN_COLOURS[tag]
    for _sid, row in proposed.iterrows():
        rank = int(row["rank"]) if "rank" in row and not pd.isna(row["rank"]) else 0
        label = escape_text(row.get("kind_label", row.get("kind")), missing="")
        # ranks restart per kind, so the badge carries the kind's letter too (A키1, A다1)
        kind = row.get("kind")
        letter = kind_style(kind).letter if isinstance(kind, str) else ""
        badge = f"{tag}{letter}{rank}"
        name = escape_text(row.get("name"), missing="후보지")
        why = escape_text(row.get("explanation"), missing="")
        icon = (
            f"<div style='background:{colour};color:#fff;border:2px solid #000;border-radius:4px;"
            "width:40px;height:22px;line-height:18px;text-align:center;font:700 12px sans-serif'>"
            f"{badge}</div>"
        )
        folium.Marker(
            location=(row.geometry.y, row.geometry.x),
            icon=folium.DivIcon(html=icon, icon_size=(40, 22), icon_anchor=(20, 11)),
            popup=folium.Popup(
                f"<b>{tag} 제안 {rank}순위</b> · {label} · {name}<br>{why}", max_width=300
            ),
            tooltip=folium.Tooltip(f"{tag} 제안 {rank}순위 {label}"),
        ).add_to(layer)
    layer.add_to(m)


def _add_run(
    m: folium.Map, result, tag: str, counts: RunCounts, only_here: gpd.GeoDataFrame, cmap, catalog
) -> None:
    fac = to_wgs84(result.facilities[result.facilities["kind"].isin(default_kinds())], "facilities")
    _add_zone_coverage(m, result, tag, counts.slot, cmap)
    _add_uncovered(m, result, tag, counts)
    _add_facilities(m, fac, tag, catalog)
    if len(only_here):
        _add_only_here(m, to_wgs84(only_here, "facilities"), tag, "B" if tag == "A" else "A")
    if result.proposed is not None and len(result.proposed):
        _add_proposed(m, to_wgs84(result.proposed, "proposed"), tag)


def compare_map(
    result_a,
    result_b,
    *,
    layout: Literal["dual", "overlay"] = "dual",
    slot: str | None = None,
    title: str = "시나리오 비교 지도 (scenario comparison)",
    attributions: Sequence[str] = DEFAULT_ATTRIBUTIONS,
    catalog: Mapping[str, CareKind] | None = None,
) -> folium.Map | DualMap:
    """Map two runs for comparison: 학구 coverage, demand outside a walk, facilities, proposals.

    Parameters
    ----------
    result_a, result_b
        Two :class:`careplan.PlanResult` (A is the baseline, B the alternative).
    layout
        {"dual", "overlay"}
        ``"dual"``: two synced maps, A left and B right (folium ``DualMap``).
        ``"overlay"``: one map with A and B layers toggled in the layer control.
    slot
        Time slot whose coverage is shown (default: each run's ``siting_slot``).
    title, attributions
        Legend heading and the data sources on the maps' attribution line.
    catalog
        Kinds of care for popup labels (default: each run's own, with its scenario's
        ``[catalog]`` overrides).

    Returns
    -------
    folium.Map or folium.plugins.DualMap
        Save it with :func:`save_compare_map`. The legend names A and B, shows each run's
        counts (:func:`run_counts`) and says "가상 데이터" when either run is synthetic.
    """
    if layout not in {"dual", "overlay"}:
        msg = f"layout must be 'dual' or 'overlay', got {layout!r}"
        raise SettingsError(msg)
    results = {"A": result_a, "B": result_b}
    catalogs = {
        t: resolve_catalog(catalog)
        if catalog is not None
        else get_catalog(r.scenario.catalog_overrides or None)
        for t, r in results.items()
    }
    counts = {t: run_counts(r, slot=slot) for t, r in results.items()}
    kinds = default_kinds()
    ids = {t: r.facilities.index[r.facilities["kind"].isin(kinds)] for t, r in results.items()}
    only = {"A": ids["A"].difference(ids["B"]), "B": ids["B"].difference(ids["A"])}
    if layout == "dual":
        m = DualMap(tiles="OpenStreetMap", control_scale=True)
        maps = {"A": m.m1, "B": m.m2}
    else:
        m = folium.Map(tiles="OpenStreetMap", control_scale=True)
        maps = {"A": m, "B": m}
    # one legend per map: the same 0–100 scale on both sides so colours compare directly
    cmaps = {id(target): _coverage_colormap() for target in maps.values()}
    for tag, result in results.items():
        fac = result.facilities
        _add_run(
            maps[tag], result, tag, counts[tag], fac.loc[only[tag]], cmaps[id(maps[tag])],
            catalogs[tag],
        )
    for target in {id(x): x for x in maps.values()}.values():
        cmaps[id(target)].add_to(target)
        _Attributions([escape_text(a) for a in attributions]).add_to(target)
        folium.LayerControl(collapsed=False).add_to(target)
    synthetic = bool(result_a.synthetic or result_b.synthetic)
    root = m.get_root()
    root.header.add_child(LiteralText(_LEGEND_CSS), name="careplan_compare_css")
    root.html.add_child(
        LiteralText(
            _legend_html(title, counts, {t: len(v) for t, v in only.items()}, layout, synthetic)
        ),
        name="careplan_compare_legend",
    )
    bounds = _bounds([to_wgs84(r.zones, "zones") for r in results.values()])
    if bounds is not None:
        m.fit_bounds(bounds)
    guard_templates(m)
    logger.info(
        "compare map (%s): A %d facilities, B %d facilities, %d/%d only in A/B",
        layout,
        counts["A"].facilities,
        counts["B"].facilities,
        len(only["A"]),
        len(only["B"]),
    )
    return m


def save_compare_map(m: folium.Map | DualMap, path: str | Path) -> Path:
    """Write ``m`` as one HTML file (parent folders created); the same runs give a
    byte-identical page (:func:`render_page` numbers the element ids)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_page(m)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(page.encode("utf-8"))
    tmp.replace(path)
    return path

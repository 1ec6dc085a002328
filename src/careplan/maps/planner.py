"""The planner's interactive Folium map: supply, demand, gaps and proposals in one page."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import branca.colormap as bcm
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.template import Template

from .._errors import InputDataError
from ..catalog import CareKind
from ._assets import FullscreenControl
from ._common import (
    DEFAULT_ATTRIBUTIONS,
    LiteralMacroElement,
    check_kinds,
    col,
    escape_text,
    format_capacity,
    format_fee,
    format_grades,
    format_span,
    guard_templates,
    kind_style,
    marker_svg,
    render_page,
    require_columns,
    require_geom_type,
    resolve_catalog,
    resolve_synthetic,
    script_json,
    to_wgs84,
)

__all__ = ["STAT_METRICS", "facility_popup_html", "planner_map", "save_planner_map"]

logger = logging.getLogger(__name__)

#: Choropleth metrics: column -> (Korean label, branca colormap). Sequential,
#: colour-blind-safe scales: viridis for "more is better", YlOrRd for unmet need.
STAT_METRICS: dict[str, tuple[str, str]] = {
    "coverage_pct": ("돌봄 충족률 (%)", "viridis"),
    "unmet_demand": ("미충족 수요 (명)", "YlOrRd_09"),
    "access_score": ("접근성 점수 (access score)", "viridis"),
}
_NO_DATA_COLOUR = "#BDBDBD"


def _choropleth_style(cmap, *, fill_opacity: float):
    """Folium style function: fill by the feature's ``value`` (grey where there is none)."""

    def style(feature: dict) -> dict:
        value = feature["properties"]["value"]
        return {
            "fillColor": _NO_DATA_COLOUR if value is None else cmap(value),
            "color": "#444444",
            "weight": 0.8,
            "fillOpacity": fill_opacity,
        }

    return style


class _InfoBox(LiteralMacroElement):
    """A fixed box with the title, the distance method and the synthetic flag; adds attributions."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .careplan-info {position: fixed; bottom: 28px; left: 10px; z-index: 1000;
            background: rgba(255,255,255,0.93); padding: 6px 10px; border-radius: 4px;
            font: 13px/1.4 sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 360px;}
          .careplan-info h1 {font-size: 15px; margin: 0 0 2px 0;}
          .careplan-synthetic {color: #B00020; font-weight: 700;}
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div class="careplan-info" role="note">{{ this.body }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        {% for text in this.attributions %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ text|tojson }});
        {% endfor %}
        {% endmacro %}
        """
    )

    def __init__(self, body: str, attributions: Sequence[str]):
        super().__init__()
        self._name = "CareplanInfo"
        self.body = body  # already escaped
        self.attributions = list(attributions)  # already escaped


class _BindLegend(LiteralMacroElement):
    """Show a colormap's legend only while its overlay layer is on."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var map = {{ this._parent.get_name() }}, layer = {{ this.layer.get_name() }},
              legend = {{ this.colormap.get_name() }};
          function show(on) { if (legend.svg) { legend.svg.style("display", on ? null : "none"); } }
          map.on("overlayadd", function (e) { if (e.layer === layer) { show(true); } });
          map.on("overlayremove", function (e) { if (e.layer === layer) { show(false); } });
          show(map.hasLayer(layer));
        })();
        {% endmacro %}
        """
    )

    def __init__(self, layer, colormap):
        super().__init__()
        self._name = "BindLegend"
        self.layer = layer
        self.colormap = colormap


class _PointBatch(LiteralMacroElement):
    """Many markers of one layer created by one JS loop.

    One folium Marker + Icon + Popup + Tooltip per facility makes ~5 Python
    elements and ~1.2 KB of JS each (13 s and 5 MB for 2,000 facilities); one
    array of ``[lat, lon, popup_html, tooltip_html]`` is several times smaller and
    faster. Popup and tooltip strings must already be escaped (Leaflet sets them
    as HTML).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var layer = {{ this._parent.get_name() }};
          var rows = {{ this.rows_json }};
          {% if this.icon_html %}
          var icon = L.divIcon({html: {{ this.icon_html|tojson }}, className: "careplan-marker",
                                iconSize: [{{ this.size_px }}, {{ this.size_px }}],
                                iconAnchor: [{{ this.size_px // 2 }}, {{ this.size_px // 2 }}]});
          {% endif %}
          rows.forEach(function (r) {
            {% if this.icon_html %}
            var m = L.marker([r[0], r[1]], {icon: icon});
            {% else %}
            var m = L.circleMarker([r[0], r[1]], {{ this.circle_style|tojson }});
            {% endif %}
            m.bindPopup(r[2], {maxWidth: 340}).bindTooltip(r[3]).addTo(layer);
          });
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        rows: list[list],
        *,
        icon_html: str | None = None,
        circle_style: dict | None = None,
        size_px: int = 24,
    ):
        super().__init__()
        self._name = "PointBatch"
        self.rows_json = script_json(rows)
        self.icon_html = icon_html
        self.circle_style = circle_style or {}
        self.size_px = size_px


def _rows(label: str, value: str) -> str:
    return f"<tr><th style='text-align:left;padding-right:8px'>{label}</th><td>{value}</td></tr>"


def facility_popup_html(row: Mapping, kind: CareKind | None) -> str:
    """Korean popup HTML for one facility row; every data value is escaped.

    Parameters
    ----------
    row
        A facilities row (data contract); optional columns may be absent.
    kind
        Its catalog entry (for the Korean type label), or None.
    """
    label = kind.label_ko if kind is not None else col(row, "kind")
    body = [
        _rows("시설명", escape_text(col(row, "name"), missing="이름 없음")),
        _rows("유형", escape_text(label)),
        _rows(
            "정원", escape_text(format_capacity(col(row, "capacity"), col(row, "capacity_temp")))
        ),
        _rows("학기 운영", format_span(col(row, "term_open"), col(row, "term_close"))),
        _rows("방학 운영", format_span(col(row, "vac_open"), col(row, "vac_close"))),
        _rows("토요일", format_span(col(row, "sat_open"), col(row, "sat_close"))),
        _rows("이용료", escape_text(format_fee(col(row, "fee_month"), col(row, "fee_day")))),
        _rows("대상", escape_text(format_grades(col(row, "min_grade"), col(row, "max_grade")))),
        _rows("주소", escape_text(col(row, "address"), missing="미공개")),
    ]
    if not pd.isna(col(row, "enrolled")):
        body.insert(3, _rows("현원", f"{float(row['enrolled']):g}명"))
    note = ""
    if col(row, "hours_source") == "catalog" or col(row, "capacity_source") == "catalog":
        note = (
            "<div style='color:#555;font-size:11px'>"
            "일부 값은 유형별 기본값입니다 (catalog default)</div>"
        )
    date = escape_text(col(row, "data_date"), missing="미상")
    return (
        f"<div style='font-size:13px;min-width:220px'><table>{''.join(body)}</table>{note}"
        f"<div style='color:#555;font-size:11px'>데이터 기준일 {date}</div></div>"
    )


def _add_facilities(m: folium.Map, facilities: gpd.GeoDataFrame, catalog) -> None:
    for kind_key, group in facilities.groupby("kind", sort=False):
        kind = catalog.get(kind_key)
        label = kind.label_ko if kind is not None else kind_key
        layer = folium.FeatureGroup(name=f"시설: {escape_text(label)} ({len(group)})", show=True)
        rows = [
            [
                round(row.geometry.y, 7),
                round(row.geometry.x, 7),
                facility_popup_html(row, kind),
                escape_text(row.get("name"), missing="이름 없음"),
            ]
            for _fid, row in group.iterrows()
        ]
        _PointBatch(rows, icon_html=marker_svg(kind_style(kind_key))).add_to(layer)
        layer.add_to(m)


def _add_schools(m: folium.Map, schools: gpd.GeoDataFrame) -> None:
    layer = folium.FeatureGroup(name=f"초등학교 ({len(schools)})", show=True)
    rows = []
    for _sid, row in schools.iterrows():
        pupils = col(row, "pupils_total")
        pupils_txt = "미공개" if pd.isna(pupils) else f"{float(pupils):,.0f}명"
        popup = (
            "<table>"
            + _rows("학교명", escape_text(col(row, "name"), missing="이름 없음"))
            + _rows("학생수", pupils_txt)
            + _rows("주소", escape_text(col(row, "address"), missing="미공개"))
            + "</table>"
        )
        rows.append(
            [
                round(row.geometry.y, 7),
                round(row.geometry.x, 7),
                popup,
                escape_text(col(row, "name"), missing="학교"),
            ]
        )
    style = {
        "radius": 5,
        "color": "#000000",
        "weight": 2,
        "fillColor": "#FFFFFF",
        "fillOpacity": 1.0,
    }
    _PointBatch(rows, circle_style=style).add_to(layer)
    layer.add_to(m)


def _polygon_frame(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    require_geom_type(gdf, {"Polygon", "MultiPolygon"}, what)
    # Rounding to 1e-6° (≈0.1 m) only shortens the numbers written into the page.
    geoms = (
        shapely.set_precision(gdf.geometry.values, 1e-6, mode="pointwise")
        if gdf.crs.is_geographic
        else gdf.geometry.values
    )
    out = gpd.GeoDataFrame(
        {
            "label": [
                escape_text(v, missing=escape_text(i))
                for i, v in zip(gdf.index, gdf.get("name", gdf.index), strict=True)
            ]
        },
        geometry=geoms,
        crs=gdf.crs,
        index=gdf.index,
    )
    return out


def _geojson(frame: gpd.GeoDataFrame, **kwargs) -> folium.GeoJson:
    """A GeoJson layer of ``frame`` numbered 0…n-1: folium writes feature ids into its JS
    (style ``switch`` cases), so ids from the data never reach the page."""
    if frame.empty:  # folium's tooltip asserts that its fields occur in some feature
        kwargs.pop("tooltip", None)
    return folium.GeoJson(frame.reset_index(drop=True), **kwargs)


def _add_outline(
    m: folium.Map, polygons: gpd.GeoDataFrame, name: str, colour: str, show: bool
) -> None:
    _geojson(
        polygons[["label", "geometry"]],
        name=name,
        show=show,
        style_function=lambda _f: {"color": colour, "weight": 1.5, "fillOpacity": 0.0},
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    ).add_to(m)


def _add_choropleths(
    m: folium.Map,
    polygons: gpd.GeoDataFrame,
    stats: pd.DataFrame | None,
    level_ko: str,
    *,
    first_shown: bool,
) -> bool:
    """One overlay + legend per metric present in ``stats``; returns whether one is shown."""
    if stats is None:
        return first_shown
    common = polygons.index.intersection(stats.index)
    if len(common) == 0:
        msg = (
            f"{level_ko} stats share no index value with the {level_ko} layer "
            f"(stats index e.g. {list(stats.index[:3])}, "
            f"layer index e.g. {list(polygons.index[:3])}); "
            "index the stats by zone_id / adm_code"
        )
        raise InputDataError(msg)
    for metric, (label_ko, scale) in STAT_METRICS.items():
        if metric not in stats.columns:
            continue
        values = pd.to_numeric(stats[metric], errors="coerce").reindex(polygons.index)
        finite = values.dropna()
        if finite.empty:
            continue
        vmin, vmax = float(finite.min()), float(finite.max())
        if metric == "coverage_pct":
            vmin, vmax = 0.0, max(100.0, vmax)
        if vmax <= vmin:
            vmax = vmin + 1.0
        cmap = getattr(bcm.linear, scale).scale(vmin, vmax)
        name = f"{level_ko}: {label_ko}"
        cmap.caption = name
        frame = polygons[["label", "geometry"]].copy()
        frame["value"] = values.values
        frame["value_txt"] = [("자료 없음" if pd.isna(v) else f"{v:,.1f}") for v in values.values]
        show = not first_shown
        first_shown = True
        layer = _geojson(
            frame[["label", "value", "value_txt", "geometry"]],
            name=name,
            show=show,
            overlay=True,
            style_function=_choropleth_style(cmap, fill_opacity=0.65),
            tooltip=folium.GeoJsonTooltip(
                fields=["label", "value_txt"], aliases=[level_ko, label_ko]
            ),
        )
        layer.add_to(m)
        cmap.add_to(m)
        _BindLegend(layer, cmap).add_to(m)
    return first_shown


class _DemandCircles(LiteralMacroElement):
    """Demand points as circles whose area grows with demand (plain Leaflet, no heat plugin)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var layer = {{ this._parent.get_name() }};
          {{ this.rows_json }}.forEach(function (r) {
            L.circleMarker([r[0], r[1]], {radius: r[2], color: "#D55E00", weight: 1,
                                          fillColor: "#D55E00", fillOpacity: 0.35})
              .bindTooltip(r[3]).addTo(layer);
          });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, rows: list[list]):
        super().__init__()
        self._name = "DemandCircles"
        self.rows_json = script_json(rows)


def _add_demand(m: folium.Map, demand_points: gpd.GeoDataFrame) -> None:
    require_columns(demand_points, ["demand"], "demand_points")
    weights = pd.to_numeric(demand_points["demand"], errors="coerce").fillna(0.0).to_numpy()
    top = weights.max() if len(weights) else 0.0
    total = float(weights.sum())
    layer = folium.FeatureGroup(name=f"돌봄 수요 (수요점 demand points, 합계 {total:,.0f}명)", show=False)
    rows = [
        # radius 3–15 px, area proportional to demand
        [round(p.y, 7), round(p.x, 7), round(3 + 12 * float(np.sqrt(w / top)), 2),
         f"돌봄 수요 {float(w):,.1f}명"]
        for p, w in zip(demand_points.geometry, weights, strict=True)
        if w > 0
    ]
    _DemandCircles(rows).add_to(layer)
    layer.add_to(m)


def _add_service_areas(m: folium.Map, service_areas: gpd.GeoDataFrame) -> None:
    require_geom_type(service_areas, {"Polygon", "MultiPolygon"}, "service_areas")
    frame = _polygon_frame(service_areas, "service_areas")
    if "walk_min" in service_areas.columns:
        frame["label"] = [
            f"{lab} · 도보 {float(w):g}분" if not pd.isna(w) else lab
            for lab, w in zip(frame["label"], service_areas["walk_min"], strict=True)
        ]
    _geojson(
        frame,
        name="시설 도보권 (service areas)",
        show=False,
        style_function=lambda _f: {
            "color": "#0072B2",
            "weight": 1,
            "fillColor": "#56B4E9",
            "fillOpacity": 0.2,
        },
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
    ).add_to(m)


def _add_proposed(m: folium.Map, proposed: gpd.GeoDataFrame, catalog) -> None:
    require_columns(proposed, ["rank", "marginal_gain"], "proposed")
    layer = folium.FeatureGroup(name=f"제안 입지 (proposed, {len(proposed)})", show=True)
    for sid, row in proposed.sort_values("rank").iterrows():
        rank = int(row["rank"])
        kind = catalog.get(col(row, "kind")) if isinstance(col(row, "kind"), str) else None
        lines = [
            _rows("제안 순위", f"{rank}"),
            _rows("후보지", escape_text(col(row, "name"), missing=escape_text(sid))),
            _rows("추가 충족 수요", f"+{float(row['marginal_gain']):,.1f}명 (marginal gain)"),
        ]
        if kind is not None:
            lines.insert(2, _rows("유형", escape_text(kind.label_ko)))
        if not pd.isna(col(row, "cumulative_coverage_pct")):
            lines.append(_rows("누적 충족률", f"{float(row['cumulative_coverage_pct']):.1f}%"))
        if isinstance(col(row, "explanation"), str):
            lines.append(_rows("설명", escape_text(row["explanation"])))
        icon = (
            "<div style='background:#D55E00;color:#fff;border:2px solid #000;border-radius:50%;"
            "width:26px;height:26px;line-height:22px;text-align:center;font:700 13px sans-serif'>"
            f"{rank}</div>"
        )
        folium.Marker(
            location=(row.geometry.y, row.geometry.x),
            icon=folium.DivIcon(html=icon, icon_size=(26, 26), icon_anchor=(13, 13)),
            popup=folium.Popup(f"<table>{''.join(lines)}</table>", max_width=300),
            tooltip=folium.Tooltip(
                escape_text(f"{kind.label_ko} " if kind is not None else "") + f"제안 {rank}순위"
            ),
        ).add_to(layer)
    layer.add_to(m)


def _info_body(title: str, distance_method_label: str, synthetic: bool) -> str:
    parts = [
        f"<h1>{escape_text(title)}</h1>",
        f"<div>거리 산정: {escape_text(distance_method_label)}</div>",
    ]
    if synthetic:
        parts.append("<div class='careplan-synthetic'>가상 데이터 (synthetic)</div>")
    return "".join(parts)


def _bounds(layers: Sequence[gpd.GeoDataFrame]) -> list[list[float]] | None:
    boxes = np.array([lay.total_bounds for lay in layers if lay is not None and len(lay)])
    boxes = boxes[np.isfinite(boxes).all(axis=1)] if len(boxes) else boxes
    if not len(boxes):
        return None
    return [
        [float(boxes[:, 1].min()), float(boxes[:, 0].min())],
        [float(boxes[:, 3].max()), float(boxes[:, 2].max())],
    ]


def planner_map(
    *,
    facilities: gpd.GeoDataFrame,
    distance_method_label: str,
    synthetic: bool,
    schools: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    admin_areas: gpd.GeoDataFrame | None = None,
    demand_points: gpd.GeoDataFrame | None = None,
    service_areas: gpd.GeoDataFrame | None = None,
    proposed: gpd.GeoDataFrame | None = None,
    zone_stats: pd.DataFrame | None = None,
    adm_stats: pd.DataFrame | None = None,
    title: str = "초등 돌봄 계획 지도",
    attributions: Sequence[str] = DEFAULT_ATTRIBUTIONS,
    catalog: Mapping[str, CareKind] | None = None,
) -> folium.Map:
    """The planner's map: facilities by kind, schools, 학구/행정동 choropleths, demand, proposals.

    Parameters
    ----------
    facilities
        Facilities layer (data contract, any projected CRS; EPSG:5179 expected).
    distance_method_label
        How walk times were measured, shown in a box on the map
        (e.g. ``TravelTimes.method_label``).
    synthetic
        Label the map "가상 데이터 (synthetic)". Switched on (with a CareplanWarning)
        when any input row has ``synthetic=True``.
    schools, zones, admin_areas, demand_points
        Contract layers; each is drawn when given.
    service_areas
        Polygons of facility walk areas; optional ``name`` and ``walk_min`` columns.
    proposed
        Proposed sites (points) with ``rank`` and ``marginal_gain`` (demand newly
        covered), optional ``name``, ``kind``, ``cumulative_coverage_pct``.
    zone_stats, adm_stats
        Indexed by ``zone_id`` / ``adm_code``; any of ``coverage_pct``,
        ``unmet_demand``, ``access_score``. Each column present becomes an overlay
        with its own legend (a missing column omits that layer).
    title, attributions
        Shown in the info box and the map's attribution line.
    catalog
        Kinds of care (default: ``careplan.catalog.get_catalog()``).

    Returns
    -------
    folium.Map
        Save it with :func:`save_planner_map`.
    """
    catalog = resolve_catalog(catalog)
    require_columns(facilities, ["name", "kind"], "facilities")
    check_kinds(facilities, catalog)
    synthetic = resolve_synthetic(synthetic, facilities, schools, zones, demand_points)
    fac = to_wgs84(facilities, "facilities")
    require_geom_type(fac, {"Point"}, "facilities")
    layers = {"facilities": fac}
    for name, layer in (
        ("schools", schools),
        ("zones", zones),
        ("admin_areas", admin_areas),
        ("demand_points", demand_points),
        ("service_areas", service_areas),
        ("proposed", proposed),
    ):
        if layer is not None:
            layers[name] = to_wgs84(layer, name)

    m = folium.Map(tiles="OpenStreetMap", control_scale=True, prefer_canvas=False)
    # Choropleths first so points stay on top of polygons.
    shown = False
    if "admin_areas" in layers:
        adm = _polygon_frame(layers["admin_areas"], "admin_areas")
        shown = _add_choropleths(m, adm, adm_stats, "행정동", first_shown=shown)
        _add_outline(m, adm, "행정동 경계", "#555555", show=False)
    if "zones" in layers:
        zon = _polygon_frame(layers["zones"], "zones")
        shown = _add_choropleths(m, zon, zone_stats, "학구", first_shown=shown)
        _add_outline(m, zon, "학구 경계", "#0072B2", show=not shown)
    if "service_areas" in layers:
        _add_service_areas(m, layers["service_areas"])
    if "demand_points" in layers:
        _add_demand(m, layers["demand_points"])
    if "schools" in layers:
        _add_schools(m, layers["schools"])
    _add_facilities(m, fac, catalog)
    if "proposed" in layers:
        _add_proposed(m, layers["proposed"], catalog)

    _InfoBox(
        _info_body(title, distance_method_label, synthetic), [escape_text(a) for a in attributions]
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    FullscreenControl().add_to(m)  # scale bar: control_scale=True; no minimap (no tiles offline)
    bounds = _bounds(list(layers.values()))
    if bounds is not None:
        m.fit_bounds(bounds)
    guard_templates(m)
    logger.info("planner map with %d facilities and %d layers", len(fac), len(layers))
    return m


def save_planner_map(m: folium.Map, path: str | Path) -> Path:
    """Write ``m`` as one HTML file (parent folders are created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_page(m).encode("utf-8"))
    return path

"""Shared pieces of the planner map and the public 돌봄지도: escaping, formatting, styles.

Everything that turns data into text for a map lives here, so both maps show a
facility the same way ("13:00–19:00", "월 50,000원", "정원 20명 (상시) · 일시 5명").
"""

from __future__ import annotations

import html
import json
import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import folium
import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement

from .._errors import CareplanWarning, CRSError, InputDataError, MissingColumnError
from ..catalog import CareKind, get_catalog

__all__ = [
    "DEFAULT_ATTRIBUTIONS",
    "KIND_STYLES",
    "KindStyle",
    "LiteralText",
    "LiteralMacroElement",
    "OKABE_ITO",
    "check_kinds",
    "col",
    "escape_text",
    "format_capacity",
    "format_fee",
    "format_grades",
    "format_hhmm",
    "format_span",
    "guard_templates",
    "kind_style",
    "marker_svg",
    "render_page",
    "require_columns",
    "require_geom_type",
    "resolve_catalog",
    "resolve_synthetic",
    "script_json",
    "to_wgs84",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}

#: Sources a careplan map normally draws on; pass your own list when the data differ.
DEFAULT_ATTRIBUTIONS: tuple[str, ...] = (
    "공공데이터포털 (data.go.kr) — 공공누리",
    "학교알리미 (schoolinfo.go.kr) — 공공누리",
    "행정안전부 주민등록 인구통계 — 공공누리",
    "서울 열린데이터광장 (data.seoul.go.kr) — 공공누리",
    "© OpenStreetMap contributors (ODbL)",
    "행정동 경계: github.com/vuski/admdongkor",
)


@dataclass(frozen=True)
class KindStyle:
    """How one kind of care is drawn: colour, shape and a one-letter Korean mark."""

    colour: str
    shape: str  # "circle" | "square" | "diamond" | "triangle"
    letter: str
    text_colour: str


# Colour alone is not enough for colour-blind readers or greyscale prints, so
# every kind also has its own shape + letter pair.
KIND_STYLES: dict[str, KindStyle] = {
    "kium_general": KindStyle(OKABE_ITO["blue"], "circle", "키", "#FFFFFF"),
    "kium_fusion": KindStyle(OKABE_ITO["sky_blue"], "circle", "융", "#000000"),
    "kium_hub": KindStyle(OKABE_ITO["black"], "circle", "거", "#FFFFFF"),
    "dahamkke": KindStyle(OKABE_ITO["orange"], "square", "다", "#000000"),
    "local_child_center": KindStyle(OKABE_ITO["green"], "diamond", "지", "#FFFFFF"),
    "school_care": KindStyle(OKABE_ITO["purple"], "triangle", "교", "#000000"),
    "daycare": KindStyle(OKABE_ITO["yellow"], "square", "어", "#000000"),
    "daycare_365": KindStyle(OKABE_ITO["vermillion"], "square", "야", "#FFFFFF"),
    "toy_library": KindStyle(OKABE_ITO["yellow"], "diamond", "장", "#000000"),
    "care_119": KindStyle(OKABE_ITO["vermillion"], "diamond", "긴", "#FFFFFF"),
    "home_visit": KindStyle(OKABE_ITO["grey"], "triangle", "방", "#000000"),
}
_FALLBACK_STYLE = KindStyle(OKABE_ITO["grey"], "circle", "기", "#000000")


def kind_style(kind: str) -> KindStyle:
    """The drawing style of ``kind`` (grey circle for a user-defined kind)."""
    return KIND_STYLES.get(kind, _FALLBACK_STYLE)


_SHAPES = {
    "circle": '<circle cx="12" cy="12" r="10"',
    "square": '<rect x="2.5" y="2.5" width="19" height="19" rx="2"',
    "diamond": '<polygon points="12,0.8 23.2,12 12,23.2 0.8,12"',
    "triangle": '<polygon points="12,1 23.5,22 0.5,22"',
}


def marker_svg(style: KindStyle, *, size_px: int = 24) -> str:
    """An inline SVG marker for ``style``; built only from constants, never from data."""
    shape = _SHAPES[style.shape]
    y_text = 16.5 if style.shape != "triangle" else 19
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_px}" height="{size_px}" '
        f'viewBox="0 0 24 24" aria-hidden="true">'
        f'{shape} fill="{style.colour}" stroke="#FFFFFF" stroke-width="1.5"/>'
        f'<text x="12" y="{y_text}" text-anchor="middle" font-size="11" font-weight="700" '
        f'fill="{style.text_colour}">{style.letter}</text></svg>'
    )


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


#: Characters that mean something to the layers a data text passes through after ``html.escape``:
#: JS template literals (folium pastes popups and tooltips into backtick strings), Jinja (branca
#: compiles every element's rendered output as a new template, so a ``{{``, ``{%`` or ``{#`` in
#: it would run or crash) and JS line terminators. Each becomes a numeric entity, which the
#: browser shows as the original character.
_ENTITIES = str.maketrans(
    {
        "`": "&#96;",
        "$": "&#36;",
        "\\": "&#92;",
        "{": "&#123;",
        "}": "&#125;",
        "\u2028": "&#8232;",
        "\u2029": "&#8233;",
    }
)


def escape_text(value, *, missing: str = "") -> str:
    """Text from data as HTML that shows exactly that text and that no later pass re-interprets.

    Safe inside HTML, inside a JavaScript template literal and inside a Jinja template:
    ``html.escape`` covers ``< > & " '``; backtick, ``$``, backslash, ``{``, ``}`` and the
    line separators U+2028/U+2029 become numeric entities (see ``_ENTITIES``). This is the one
    door through which data text reaches folium; :func:`guard_templates` checks at render
    time that nothing came in another way. ``missing`` is returned as is (callers pass
    constants).
    """
    if _missing(value):
        return missing
    return html.escape(str(value), quote=True).translate(_ENTITIES)


def _escape_json_strings(match: re.Match) -> str:
    return match.group(0).replace("{", "\\u007b").replace("}", "\\u007d")


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def script_json(value) -> str:
    """JSON for an inline ``<script>`` (Korean kept literal).

    ``<`` and U+2028/U+2029 are escaped so no text closes the script or breaks a line,
    and ``{`` / ``}`` inside strings become ``\\u007b`` / ``\\u007d`` so no string can
    form a Jinja delimiter should the output ever be compiled (the JS value is unchanged).
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = _JSON_STRING.sub(_escape_json_strings, text)
    for char, code in (("<", "\\u003c"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def format_hhmm(minutes: float) -> str:
    """Minutes after midnight as ``"13:00"`` (1440 -> ``"24:00"``)."""
    total = int(round(float(minutes)))
    return f"{total // 60:02d}:{total % 60:02d}"


def format_span(open_min: float, close_min: float, *, closed: str = "운영 안 함") -> str:
    """``(780, 1140)`` -> ``"13:00–19:00"``; a missing end means not operating."""
    if _missing(open_min) or _missing(close_min):
        return closed
    return f"{format_hhmm(open_min)}–{format_hhmm(close_min)}"


def _won(amount: float) -> str:
    return f"{int(round(float(amount))):,}원"


def format_fee(fee_month: float, fee_day: float = math.nan) -> str:
    """``0`` -> ``"무료"``, ``50000`` -> ``"월 50,000원"``; nothing known -> ``"미공개"``."""
    parts = []
    if not _missing(fee_month):
        parts.append("무료" if float(fee_month) == 0 else f"월 {_won(fee_month)}")
    if not _missing(fee_day) and not (parts == ["무료"] and float(fee_day) == 0):
        parts.append("무료 (일시)" if float(fee_day) == 0 else f"일시 1일 {_won(fee_day)}")
    return " · ".join(parts) if parts else "미공개"


def format_capacity(capacity: float, capacity_temp: float = math.nan) -> str:
    """``(20, 5)`` -> ``"정원 20명 (상시) · 일시 5명"``."""
    parts = []
    if not _missing(capacity):
        parts.append(f"정원 {float(capacity):g}명 (상시)")
    if not _missing(capacity_temp) and float(capacity_temp) > 0:
        parts.append(f"일시 {float(capacity_temp):g}명")
    return " · ".join(parts) if parts else "정원 미공개"


def format_grades(min_grade: float, max_grade: float) -> str:
    """``(1, 6)`` -> ``"초등 1–6학년"``; no grades -> ``"취학 전 (초등 아님)"``."""
    if _missing(min_grade) or _missing(max_grade):
        return "취학 전 (초등 아님)"
    return f"초등 {int(min_grade)}–{int(max_grade)}학년"


def to_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """``gdf`` in EPSG:4326 (the CRS maps publish in); a layer without CRS is refused."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"`{what}` must be a GeoDataFrame (data contract), got {type(gdf).__name__}"
        raise InputDataError(msg)
    if gdf.crs is None:
        msg = (
            f"`{what}` has no CRS; expected EPSG:5179 as readers return it. "
            f"Set it with `{what}.set_crs(5179)` if the coordinates are Korea 2000 metres."
        )
        raise CRSError(msg)
    # NaN or infinite coordinates (a hand-edited file) are as unusable as none, and would break
    # the maps' bounds and nearest-facility searches
    coords = shapely.get_coordinates(np.asarray(gdf.geometry.values), include_z=False)
    parts = shapely.get_num_coordinates(np.asarray(gdf.geometry.values))
    finite = np.isfinite(coords).all(axis=1)
    owner = np.repeat(np.arange(len(gdf)), parts)
    broken = np.zeros(len(gdf), dtype=bool)
    broken[owner[~finite]] = True
    bad_rows = gdf.geometry.isna().to_numpy() | gdf.geometry.is_empty.to_numpy() | broken
    if bad_rows.any():
        bad = list(gdf.index[bad_rows][:5])
        msg = (f"`{what}` has {int(bad_rows.sum())} row(s) without usable geometry (empty, or "
               f"coordinates that are not numbers; ids {bad}); drop or geocode them first")
        raise InputDataError(msg)
    return gdf.to_crs(4326)


def require_columns(gdf: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise MissingColumnError naming every absent column."""
    absent = [c for c in columns if c not in gdf.columns]
    if absent:
        msg = (
            f"`{what}` lacks column(s) {absent}; expected the data-contract columns "
            f"(docs/data-contract.md). Present: {list(gdf.columns)}"
        )
        raise MissingColumnError(msg)


def require_geom_type(gdf: gpd.GeoDataFrame, allowed: set[str], what: str) -> None:
    """Raise InputDataError when ``gdf`` holds geometry types outside ``allowed``."""
    found = set(gdf.geom_type.unique())
    if not found <= allowed:
        msg = f"`{what}` must hold {sorted(allowed)} geometries, got {sorted(found - allowed)}"
        raise InputDataError(msg)


def check_kinds(facilities: pd.DataFrame, catalog: Mapping[str, CareKind]) -> None:
    """Every facility kind must be a catalog key."""
    unknown = sorted(set(facilities["kind"].dropna()) - set(catalog))
    if unknown or facilities["kind"].isna().any():
        msg = (
            f"facility kind(s) {unknown or ['<missing>']} are not in the catalog; expected one of "
            f"{sorted(catalog)}. Map the source's 유형 to a catalog key or add the kind with "
            "`careplan.catalog.get_catalog(overrides)` and pass `catalog=`."
        )
        raise InputDataError(msg)


def resolve_catalog(catalog: Mapping[str, CareKind] | None) -> Mapping[str, CareKind]:
    return get_catalog() if catalog is None else catalog


def resolve_synthetic(synthetic: bool, *layers: pd.DataFrame | None) -> bool:
    """``synthetic`` or-ed with the layers' own ``synthetic`` flags.

    A caller may forget the flag; a published map must never present 가상
    data as real, so the banner is switched on and the caller is told.
    """
    flagged = any(
        layer is not None
        and "synthetic" in layer.columns
        and layer["synthetic"].fillna(False).astype(bool).any()
        for layer in layers
    )
    if flagged and not synthetic:
        warnings.warn(
            "some input rows have synthetic=True but synthetic=False was passed; "
            "the map is labelled '가상 데이터 (synthetic)'. Pass synthetic=True to silence this.",
            CareplanWarning,
            stacklevel=3,
        )
    return bool(synthetic or flagged)


def col(row: Mapping, name: str):
    """``row[name]`` or NaN when the optional column is absent."""
    return row.get(name, math.nan)


# ---------------------------------------------------------------- keeping data out of Jinja
#
# branca renders a page in two passes. First every element renders its own template, with data
# as *values* (safe), and MacroElement.render / folium's Popup.render wrap each result in
# ``Element(text)``, which compiles that text as a *new* Jinja template under the page's
# header/html/script. Then the page template renders those, so any ``{{ }}``, ``{% %}`` or
# ``{# #}`` in a rendered name would run (or crash the run). Three layers keep data out:
#   1. escape_text / script_json: no data text carries a raw ``{`` or ``}`` (entities or \u007b);
#   2. careplan's own elements (LiteralMacroElement, LiteralText) hand their output to the page as a
#      plain value that is never compiled;
#   3. guard_templates: between the two passes, every text branca compiled must be free of Jinja
#      syntax, or the render stops with InputDataError before anything is evaluated.

_JINJA_SYNTAX = ("{{", "{%", "{#")


class LiteralText(Element):
    """Text added to a page as is: rendered as a value, never compiled as a template."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "LiteralText"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class LiteralMacroElement(MacroElement):
    """A MacroElement whose rendered macros reach the page as :class:`LiteralText` values."""

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        module = self._template.module.__dict__
        for part in ("header", "html", "script"):
            macro = module.get(part)
            if macro is not None:
                getattr(figure, part).add_child(
                    LiteralText(str(macro(self, kwargs))), name=self.get_name()
                )
        for child in self._children.values():
            child.render(**kwargs)


def _compiled_texts(element: Element):
    """Source texts of the templates compiled from rendered output under ``element``."""
    for child in element._children.values():
        if child._template_str is not None:
            yield child._template_str
        yield from _compiled_texts(child)


class _TemplateGuard(Element):
    """The page's last child: checks branca's compiled texts before the page renders them."""

    def __init__(self):
        super().__init__()
        self._name = "CareplanTemplateGuard"

    def render(self, **kwargs) -> str:
        root = self.get_root()
        for part in (root.header, root.html, root.script):
            for text in _compiled_texts(part):
                hit = next((text.find(s) for s in _JINJA_SYNTAX if s in text), -1)
                if hit >= 0:
                    msg = (
                        "the map was not written: a text from the input reached the map's "
                        "template engine unescaped near "
                        f"{text[max(0, hit - 40) : hit + 40]!r} (a careplan bug: please report it "
                        "with the input file); escaped text was expected"
                    )
                    raise InputDataError(msg)
        return ""


_GUARD_NAME = "careplan_template_guard"


def guard_templates(m: folium.Map | Element) -> None:
    """Make the offline-asset swap and then the template check the last children of ``m``'s
    page (idempotent): every careplan map is saved without CDN links (see ``_assets``)."""
    from ._assets import add_offline_assets

    root = m.get_root()
    add_offline_assets(root)
    root._children.pop(_GUARD_NAME, None)
    root.add_child(_TemplateGuard(), name=_GUARD_NAME)


def _number_ids(root: Element) -> None:
    """Give every element an id numbered in tree order instead of branca's random one.

    The same runs then give byte-identical pages, without rewriting hex strings in the
    rendered text (which would also have changed a data text that happens to be hex).
    """
    # Besides children, folium keeps elements in attributes (a popup's inner html, a
    # minimap's tile layer) that are rendered into the page too.
    # Children are also keyed by their name (folium prints some keys as JS variables), so
    # the keys are renamed with them.
    stack, order, seen = [root], [], set()
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        order.append(element)
        inner = [v for k, v in vars(element).items() if k != "_parent" and isinstance(v, Element)]
        stack.extend(reversed([*element._children.values(), *inner]))
    old_names = {id(e): e.get_name() for e in order}
    for number, element in enumerate(order):
        element._id = f"{number:032x}"
    for element in order:
        element._children = type(element._children)(
            (child.get_name() if key == old_names.get(id(child)) else key, child)
            for key, child in element._children.items()
        )


def render_page(m: folium.Map | Element) -> str:
    """The page of ``m`` as HTML, with the template check in place.

    A Jinja syntax error can only come from data text compiled as a template (the
    ``{#`` case); it is reported like the guard's finding instead of as a traceback.
    """
    guard_templates(m)
    _number_ids(m.get_root())
    try:
        return m.get_root().render()
    except jinja2.TemplateSyntaxError as exc:
        msg = (
            "the map was not written: a text from the input was read as a template "
            f"({exc.message}; a careplan bug: please report it with the input file)"
        )
        raise InputDataError(msg) from exc

"""Care maps: the planner's Folium map and the static public 돌봄지도.

``planner_map`` / ``save_planner_map`` draw supply, demand, gaps and proposals for
planners; ``public_care_map`` writes a folder of static files a city can publish
for parents (works from ``file://`` and degrades to a list when the map library
or tiles cannot load). Both take contract layers in EPSG:5179 and publish EPSG:4326.
"""

from __future__ import annotations

from ._common import (
    DEFAULT_ATTRIBUTIONS,
    KIND_STYLES,
    OKABE_ITO,
    KindStyle,
    escape_text,
    format_capacity,
    format_fee,
    format_grades,
    format_hhmm,
    format_span,
)
from .compare import compare_map, save_compare_map
from .planner import STAT_METRICS, facility_popup_html, planner_map, save_planner_map
from .public import public_care_map, school_facility_walk_times

__all__ = [
    "DEFAULT_ATTRIBUTIONS",
    "KIND_STYLES",
    "OKABE_ITO",
    "STAT_METRICS",
    "KindStyle",
    "compare_map",
    "escape_text",
    "facility_popup_html",
    "format_capacity",
    "format_fee",
    "format_grades",
    "format_hhmm",
    "format_span",
    "planner_map",
    "public_care_map",
    "save_compare_map",
    "save_planner_map",
    "school_facility_walk_times",
]

"""Readers for the files Korean planners have, returning contract layers and row reports.

Every reader returns ``ReadResult(data, report)``: the layer in EPSG:5179 (see
``docs/data-contract.md``) and a :class:`RowReport` accounting for every input row.
"""

from ._report import ReadResult, RowReport
from ._table import decode_bytes, read_raw_table
from .areas import read_admin_areas, read_population
from .check import check, detect_kind
from .facilities import kind_of, read_candidates, read_facilities
from .schools import attach_pupils, read_schools, read_students
from .zones import decode_rings, read_school_zones, zone_school_links

__all__ = [
    "ReadResult",
    "RowReport",
    "attach_pupils",
    "check",
    "decode_bytes",
    "decode_rings",
    "detect_kind",
    "kind_of",
    "read_admin_areas",
    "read_candidates",
    "read_facilities",
    "read_population",
    "read_raw_table",
    "read_school_zones",
    "read_schools",
    "read_students",
    "zone_school_links",
]

"""``careplan check FILE``: recognise what a file is and read it with its reader."""

from __future__ import annotations

import inspect
from pathlib import Path

from .._errors import SettingsError, UnreadableFileError
from ._common import find_column, guarded
from ._report import ReadResult
from ._sniff import one_line
from ._table import read_header
from .areas import read_admin_areas, read_population
from .facilities import _CANDIDATE_COLUMNS, FACILITY_COLUMNS, read_candidates, read_facilities
from .schools import (
    _SCHOOL_COLUMNS,
    _SCHOOL_OPTIONAL,
    _SCHOOL_POINT,
    _STUDENT_COLUMNS,
    _STUDENT_OPTIONAL,
    read_schools,
    read_students,
)
from .zones import _is_raw_zone_file, is_raw_zone_folder, read_school_zones

__all__ = ["KINDS", "MAPPING_KEYS", "check", "detect_kind", "options_for"]

KINDS = {
    "schools": read_schools,
    "students": read_students,
    "zones": read_school_zones,
    "population": read_population,
    "admin_areas": read_admin_areas,
    "facilities": read_facilities,
    "candidates": read_candidates,
}
#: The canonical names a column mapping may use, by kind.
MAPPING_KEYS = {
    "schools": [*_SCHOOL_COLUMNS, *_SCHOOL_POINT, *_SCHOOL_OPTIONAL],
    "students": [*_STUDENT_COLUMNS, *_STUDENT_OPTIONAL],
    "facilities": list(FACILITY_COLUMNS),
    "candidates": list(_CANDIDATE_COLUMNS),
}

_SIGNATURES = [  # (kind, any of these columns)
    ("students", ["정보공시 학교코드", "1학년 학생수", "COL_S1"]),
    ("schools", ["학교ID", "schoolId"]),
    ("zones", ["HAKGUDO_ID", "학구ID"]),
    ("population", ["행정구역"]),
    ("admin_areas", ["adm_cd2", "ADM_DR_CD"]),
    ("candidates", ["후보지명", "후보지ID"]),
    ("facilities", ["시설명", "어린이집명", "기관명", "센터명", "name"]),
]
#: The layers of a run's careplan.gpkg, known by their first column (the id careplan writes first).
_OWN_IDS = {"facility_id": "facilities", "school_id": "schools", "zone_id": "zones",
            "adm_code": "admin_areas", "site_id": "candidates", "proposal_id": "candidates"}


@guarded("a careplan input")
def detect_kind(path: str | Path, *, layer: str | None = None) -> str:
    """Which reader fits ``path``, from its columns (or a raw 학구 JSON folder or file)."""
    path = Path(path)
    if path.is_dir():
        if is_raw_zone_folder(path):
            return "zones"
        msg = (f"{path} is a folder; careplan check expects a file (CSV, XLSX, GeoJSON, GPKG, SHP) or a folder "
               "of raw 학구 JSON files (B….json holding a \"zones\" list), and this folder holds none.")
        raise UnreadableFileError(msg)
    if path.suffix.lower() == ".json" and _is_raw_zone_file(path):
        return "zones"
    raw = read_header(path, layer=layer)  # the columns only: the reader reads the rows once
    first = str(raw.frame.columns[0]) if len(raw.frame.columns) else ""
    if first in _OWN_IDS:
        return _OWN_IDS[first]
    for kind, columns in _SIGNATURES:
        if find_column(raw.frame, columns):
            return kind
    delimiter = next((n for n in raw.notes if n.startswith("구분자")), None)
    read_as = f" (read with {delimiter})" if delimiter else ""
    columns = one_line(", ".join(map(str, list(raw.frame.columns)[:10])), 200)
    msg = (f"{path.name}: cannot tell what this file is from its columns{read_as}: {columns}. Say it with --kind "
           f"({' | '.join(KINDS)}), and map columns with --map if their names differ.")
    raise UnreadableFileError(msg)


def options_for(kind: str) -> set[str]:
    """The keyword options the reader of ``kind`` accepts."""
    return set(inspect.signature(KINDS[kind]).parameters) - {"path"}


def check(path: str | Path, *, kind: str | None = None, **options) -> ReadResult:
    """Read ``path`` with the reader for ``kind`` (detected when not given)."""
    kind = kind or detect_kind(path, layer=options.get("layer"))
    if kind not in KINDS:
        msg = f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}."
        raise SettingsError(msg)
    unknown = sorted(set(options) - options_for(kind))
    if unknown:
        msg = f"{', '.join(unknown)} do(es) not apply to {kind} files; it takes {', '.join(sorted(options_for(kind)))}."
        raise SettingsError(msg)
    return KINDS[kind](path, **options)

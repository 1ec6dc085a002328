"""``careplan check FILE``: recognise what a file is and read it with its reader."""

from __future__ import annotations

from pathlib import Path

from .._errors import UnreadableFileError
from ._common import find_column
from ._report import ReadResult
from ._table import read_raw_table
from .areas import read_admin_areas, read_population
from .facilities import read_candidates, read_facilities
from .schools import read_schools, read_students
from .zones import read_school_zones

__all__ = ["KINDS", "check", "detect_kind"]

KINDS = {
    "schools": read_schools,
    "students": read_students,
    "zones": read_school_zones,
    "population": read_population,
    "admin_areas": read_admin_areas,
    "facilities": read_facilities,
    "candidates": read_candidates,
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


def detect_kind(path: str | Path) -> str:
    """Which reader fits ``path``, from its columns (or a raw 학구 JSON folder)."""
    path = Path(path)
    if path.is_dir() or (path.suffix.lower() == ".json" and b'"zones"' in path.read_bytes()[:200]):
        return "zones"
    frame = read_raw_table(path).frame
    for kind, columns in _SIGNATURES:
        if find_column(frame, columns):
            return kind
    msg = (f"{path.name}: cannot tell what this file is from its columns "
           f"({', '.join(map(str, list(frame.columns)[:10]))}). Say it with --kind "
           f"({' | '.join(KINDS)}).")
    raise UnreadableFileError(msg)


def check(path: str | Path, *, kind: str | None = None, **options) -> ReadResult:
    """Read ``path`` with the reader for ``kind`` (detected when not given)."""
    kind = kind or detect_kind(path)
    if kind not in KINDS:
        msg = f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}"
        raise UnreadableFileError(msg)
    return KINDS[kind](path, **options)

"""Readers for the files Korean planners have, returning contract layers and row reports.

Every reader returns ``ReadResult(data, report)``: the layer in EPSG:5179 (see
``docs/data-contract.md``) and a :class:`RowReport` accounting for every input row.
"""

from ._report import ReadResult, RowReport
from .schools import attach_pupils, read_schools, read_students

__all__ = [
    "ReadResult",
    "RowReport",
    "attach_pupils",
    "read_schools",
    "read_students",
]

"""Line separators inside a CSV field are text: the row stays whole and the name exact.

The csv module (like Excel) quotes a field with CR or LF but writes U+2028, U+2029,
U+0085 and a form feed bare; none of them ends a row.
"""

from __future__ import annotations

import csv
import io

import pytest

from _hostile import encodable
from careplan.io import read_candidates

NAMES = ["줄\u2028구분", "문단\u2029구분", "다음\x85줄", "쪽\x0c넘김", "캐리지\r리턴",
         "첫 줄\n둘째 줄"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_separators_in_names_keep_rows_whole(tmp_path, encoding):
    names = [n for n in NAMES if encodable(n, encoding)]
    text = io.StringIO(newline="")
    csv.writer(text).writerows([["후보지명", "경도", "위도"]] + [[n, 126.87, 37.51] for n in names])
    path = tmp_path / "candidates.csv"
    path.write_bytes(text.getvalue().encode(encoding))
    result = read_candidates(path)
    assert result.report.rows_read == len(names)
    assert result.report.rejected == []
    # The reader may show a CR inside a name as a space (no viewer shows a bare CR).
    assert [n.replace("\r", " ") for n in result.data["name"]] == [
        n.replace("\r", " ") for n in names
    ]


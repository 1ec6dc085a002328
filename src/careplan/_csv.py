"""CSV tables for Excel, with formula injection neutralised.

Every CSV careplan writes goes through :func:`write_csv`: UTF-8 with BOM (Korean Excel
opens it correctly), CRLF line ends, no index. A spreadsheet runs a cell that starts
with ``=``, ``+``, ``-``, ``@``, tab or CR as a formula (``=HYPERLINK(…)`` in a
facility name would become a live link), so, following OWASP's rule, every *text*
cell and header that starts with one of them is written with a leading ``'``.
Numbers (numeric columns, and numbers held in mixed columns) are left alone, so a
negative number stays a number. Text that merely looks like a number (a text
``"-5"`` from a source file) is text and gets the ``'`` too: one rule, no guessing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["FORMULA_START", "neutralise", "write_csv"]

#: First characters a spreadsheet reads as the start of a formula (OWASP, CSV Injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """``value`` with a leading ``'`` when it is text starting like a formula; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as an Excel-ready CSV (BOM, CRLF, no index) with text cells neutralised."""
    path = Path(path)
    safe = frame.copy(deep=False)
    for position in range(safe.shape[1]):
        values = safe.iloc[:, position]
        # only columns that can hold text: numbers, booleans and dates are written as before
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype | pd.CategoricalDtype):
            safe.isetitem(position, values.astype(object).map(neutralise))
    safe.columns = [neutralise(column) for column in safe.columns]
    safe.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path

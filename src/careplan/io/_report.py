"""Row accounting: every reader says what happened to every input row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import geopandas as gpd
import pandas as pd

__all__ = ["ReadResult", "RowReport"]


@dataclass
class RowReport:
    """What a reader did with each input row.

    ``row`` numbers are 1-based data-row numbers in the input (the header is
    not counted; in a spreadsheet the row is ``row + 1``). A row is either kept
    or rejected; a kept row may also have been fixed, and ``fixed`` says how.
    """

    source: str
    rows_read: int = 0
    fixed: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.rows_read - len(self.rejected)

    def fix(self, rows, how: str) -> None:
        """Record that ``rows`` (one number or an iterable) were kept after ``how``."""
        for row in _as_rows(rows):
            self.fixed.append((row, how))

    def reject(self, rows, why: str) -> None:
        """Record that ``rows`` were dropped because ``why``."""
        for row in _as_rows(rows):
            self.rejected.append((row, why))

    def note(self, text: str) -> None:
        """Record a file-level remark (encoding, CRS, filters applied)."""
        self.notes.append(text)

    def table(self) -> pd.DataFrame:
        """One line per fixed or rejected row: ``row``, ``action``, ``detail``."""
        rows = [(r, "fixed", how) for r, how in self.fixed]
        rows += [(r, "rejected", why) for r, why in self.rejected]
        frame = pd.DataFrame(rows, columns=["row", "action", "detail"])
        return frame.sort_values(["row", "action"], kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        """A short Korean/English text for the terminal and logs."""
        lines = [
            f"{self.source}: 읽음 read {self.rows_read:,} · 유지 kept {self.kept:,} · "
            f"수정 fixed {len({r for r, _ in self.fixed}):,} · 제외 rejected {len(self.rejected):,}"
        ]
        lines += [f"  - {text}" for text in self.notes]
        for label, items in (("수정 fixed", self.fixed), ("제외 rejected", self.rejected)):
            for reason, count in pd.Series([r for _, r in items], dtype=object).value_counts(sort=True).items():
                lines.append(f"  {label}: {reason} ({count:,} rows)")
        return "\n".join(lines)

    def merge(self, other: RowReport) -> RowReport:
        """Combine two reports over the same input rows (e.g. a join step)."""
        merged = RowReport(self.source, self.rows_read, [*self.fixed, *other.fixed],
                           [*self.rejected, *other.rejected], [*self.notes, *other.notes])
        return merged


class ReadResult(NamedTuple):
    """What every reader returns: the layer and its row report."""

    data: gpd.GeoDataFrame | pd.DataFrame
    report: RowReport


def _as_rows(rows) -> list[int]:
    if isinstance(rows, int):
        return [rows]
    return [int(r) for r in rows]

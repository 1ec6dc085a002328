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
    not counted; in a spreadsheet the row is ``row + 1``). A row is kept,
    rejected (bad data, with the reason) or excluded (valid but outside what
    was asked for, e.g. another 시군구); a kept row may also have been fixed,
    and ``fixed`` says how. ``rows_read == kept + len(rejected) + len(excluded)``;
    :meth:`summary` splits ``kept`` into rows kept as they were and rows fixed,
    so its four counts add up to ``rows_read``.
    """

    source: str
    rows_read: int = 0
    fixed: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    excluded: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    max_reasons: int = field(default=12, repr=False)

    @property
    def kept(self) -> int:
        return self.rows_read - len(self._dropped())

    @property
    def fixed_rows(self) -> int:
        """Kept rows that were fixed (a row fixed twice counts once)."""
        return len({r for r, _ in self.fixed} - self._dropped())

    def _dropped(self) -> set[int]:
        return {r for r, _ in self.rejected} | {r for r, _ in self.excluded}

    def fix(self, rows, how: str) -> None:
        """Record that ``rows`` (one number or an iterable) were kept after ``how``."""
        for row in _as_rows(rows):
            self.fixed.append((row, how))

    def reject(self, rows, why: str) -> None:
        """Record that ``rows`` were dropped because ``why``."""
        for row in _as_rows(rows):
            self.rejected.append((row, why))

    def exclude(self, rows, why: str) -> None:
        """Record that valid ``rows`` were left out on purpose (filters)."""
        for row in _as_rows(rows):
            self.excluded.append((row, why))

    def note(self, text: str) -> None:
        """Record a file-level remark (encoding, CRS, filters applied)."""
        self.notes.append(text)

    def table(self) -> pd.DataFrame:
        """One line per fixed or rejected row: ``row``, ``action``, ``detail``."""
        rows = [(r, "fixed", how) for r, how in self.fixed]
        rows += [(r, "rejected", why) for r, why in self.rejected]
        rows += [(r, "excluded", why) for r, why in self.excluded]
        frame = pd.DataFrame(rows, columns=["row", "action", "detail"])
        return frame.sort_values(["row", "action"], kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        """A short Korean/English text for the terminal and logs."""
        rejected = {r for r, _ in self.rejected}
        excluded = {r for r, _ in self.excluded} - rejected
        lines = [  # read = kept (unchanged) + fixed + rejected + excluded
            f"{self.source}: 읽음 read {self.rows_read:,} · 유지 kept {self.kept - self.fixed_rows:,} · "
            f"수정 fixed {self.fixed_rows:,} · 오류 제외 rejected {len(rejected):,} · "
            f"범위 밖 excluded {len(excluded):,}"
        ]
        lines += [f"  - {text}" for text in self.notes]
        groups = (("수정 fixed", self.fixed), ("오류 제외 rejected", self.rejected),
                  ("범위 밖 excluded", self.excluded))
        for label, items in groups:
            counts = pd.Series([r for _, r in items], dtype=object).value_counts(sort=True)
            for reason, count in counts.head(self.max_reasons).items():
                lines.append(f"  {label}: {reason} ({count:,} rows)")
            if len(counts) > self.max_reasons:
                lines.append(f"  {label}: … {len(counts) - self.max_reasons:,} more reasons (see table())")
        return "\n".join(lines)


class ReadResult(NamedTuple):
    """What every reader returns: the layer and its row report."""

    data: gpd.GeoDataFrame | pd.DataFrame
    report: RowReport


def _as_rows(rows) -> list[int]:
    if isinstance(rows, int):
        return [rows]
    return [int(r) for r in rows]

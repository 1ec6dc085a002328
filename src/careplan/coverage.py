"""Who can walk to care that is open when they need it: schedules and coverage by kind and slot.

A centre that closes at 17시 does not serve a family whose parents come home
at 19시, so coverage is measured per **time slot** (학기 18시, 방학 09시, 토요일
10시 …) and per **kind of care**.

Rules
-----
* A facility serves a slot iff ``open <= minute <= close`` in the slot's period
  (inclusive at both ends: "open until 20시" serves the 20시 slot). Where
  ``close < open`` the hours run past midnight (e.g. 19:00–02:00) and the facility
  serves ``minute >= open`` or ``minute <= close``.
* ``NaN`` hours mean *not operating* in that period (data contract). Only when
  a layer has no hour columns at all are the catalog defaults of the kind used
  (source ``"catalog"``).
* A demand point is covered at a slot by a kind iff some facility of that kind,
  open at the slot, is within ``max_walk_min`` (``time <= max_walk_min``; an
  explicit ``0.0`` travel time is a reachable co-located pair).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._errors import (
    CareplanWarning,
    DuplicateIdError,
    InputDataError,
    MissingColumnError,
    SettingsError,
)
from .catalog import KIND_LABELS, CareKind, get_catalog
from .network import TravelTimes

__all__ = [
    "ALL_KINDS",
    "COLUMN_LABELS_KO",
    "DEFAULT_SLOTS",
    "PERIODS",
    "CoverageResult",
    "TimeSlot",
    "coverage",
    "coverage_sums",
    "coverage_table",
    "default_kinds",
    "facility_schedule",
    "open_at",
    "table_from_sums",
]

logger = logging.getLogger(__name__)

#: period -> (open column, close column, CareKind attribute, Korean label)
PERIODS: dict[str, tuple[str, str, str, str]] = {
    "term": ("term_open", "term_close", "term_hours", "학기"),
    "vacation": ("vac_open", "vac_close", "vacation_hours", "방학"),
    "saturday": ("sat_open", "sat_close", "saturday_hours", "토요일"),
}

#: Pseudo-kind in coverage results: any eligible kind.
ALL_KINDS = "all"

#: Korean labels for report columns of :func:`coverage_table` and :func:`facility_schedule`.
COLUMN_LABELS_KO = {
    "zone_id": "학구",
    "adm_code": "행정동",
    "area": "구역",
    "kind": "시설 유형",
    "kind_label": "시설 유형(한글)",
    "slot": "시간대",
    "period": "운영 기간",
    "minute": "시각(분)",
    "demand": "돌봄 수요(명)",
    "covered_demand": "도보권 내 이용 가능 수요(명)",
    "coverage_pct": "충족률(%)",
    "max_walk_min": "도보 기준(분)",
    "distance_method": "거리 산정 방식",
    "open": "개시",
    "close": "종료",
    "source": "출처",
}


@dataclass(frozen=True)
class TimeSlot:
    """A moment families need care: a period and a time of day.

    Parameters
    ----------
    name
        Label for tables and maps, e.g. ``"학기 18시"``.
    period
        {"term", "vacation", "saturday"}
    minute
        Minutes after midnight (18시 = 1080).
    """

    name: str
    period: str
    minute: float

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            msg = f"TimeSlot period must be one of {sorted(PERIODS)}, got {self.period!r}"
            raise SettingsError(msg)
        if not 0 <= self.minute <= 24 * 60:
            msg = (
                "TimeSlot minute must be within 0..1440 (minutes after midnight), "
                f"got {self.minute!r}"
            )
            raise SettingsError(msg)


#: Default slots: 15시 (after class), 18시 (parents' peak need 17–19시), 20시
#: (extended hours), 22시 (야간돌봄), vacation morning and evening, Saturday.
DEFAULT_SLOTS: tuple[TimeSlot, ...] = (
    TimeSlot("학기 15시", "term", 15 * 60),
    TimeSlot("학기 18시", "term", 18 * 60),
    TimeSlot("학기 20시", "term", 20 * 60),
    TimeSlot("학기 22시", "term", 22 * 60),
    TimeSlot("방학 09시", "vacation", 9 * 60),
    TimeSlot("방학 18시", "vacation", 18 * 60),
    TimeSlot("토요일 10시", "saturday", 10 * 60),
)


def default_kinds(catalog: dict[str, CareKind] | None = None) -> list[str]:
    """Kinds that count for school-age coverage: serve 초등 grades and have a walk catchment."""
    catalog = catalog if catalog is not None else get_catalog()
    return [k for k, v in catalog.items() if v.serves_school_age and v.has_catchment]


# --------------------------------------------------------------------------- schedules


def facility_schedule(
    facilities: pd.DataFrame, catalog: dict[str, CareKind] | None = None
) -> pd.DataFrame:
    """Opening hours per facility and period, with where each value came from.

    Parameters
    ----------
    facilities
        Facilities layer (index ``facility_id``, ``kind``; hour columns and
        ``hours_source`` optional).
    catalog
        Kinds and defaults; default :func:`careplan.catalog.get_catalog`.

    Returns
    -------
    pandas.DataFrame
        Long table, one row per facility × period: ``facility_id``, ``kind``,
        ``period``, ``open``, ``close`` (minutes; NaN = not operating),
        ``operating`` and ``source``: ``"data"`` or ``"catalog"``. A column pair
        absent from the layer is filled from the catalog. With ``hours_source ==
        "data+catalog"`` a period whose hours equal the kind default is taken to be
        the filled one (``"catalog"``) — an inference, the reader does not say
        which period it filled.
    """
    catalog = catalog if catalog is not None else get_catalog()
    if "kind" not in facilities.columns:
        msg = "facilities need a 'kind' column (a careplan.catalog key); see docs/data-contract.md"
        raise MissingColumnError(msg)
    kinds = facilities["kind"]
    hours_source = facilities["hours_source"] if "hours_source" in facilities.columns else None
    frames = []
    for period, (open_col, close_col, attr, _) in PERIODS.items():
        default_open, default_close = _catalog_hours(kinds, catalog, attr)
        have = open_col in facilities.columns and close_col in facilities.columns
        if have:
            opens = facilities[open_col].astype(float).to_numpy()
            closes = facilities[close_col].astype(float).to_numpy()
            half = np.isnan(opens) != np.isnan(closes)
            if half.any():
                ids = list(facilities.index[half][:3])
                warnings.warn(
                    f"{int(half.sum())} facilities have only one of {open_col}/{close_col} "
                    f"(e.g. {ids}); treated as not operating in {period}. Give both or neither.",
                    CareplanWarning,
                    stacklevel=2,
                )
                opens, closes = np.where(half, np.nan, opens), np.where(half, np.nan, closes)
            source = _source(hours_source, opens, closes, default_open, default_close)
        else:
            opens, closes = default_open, default_close
            source = np.full(len(facilities), "catalog", dtype=object)
        frames.append(
            pd.DataFrame(
                {
                    "facility_id": facilities.index,
                    "kind": kinds.to_numpy(),
                    "period": period,
                    "open": opens,
                    "close": closes,
                    "operating": ~np.isnan(opens),
                    "source": source,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    # facility by facility, periods in PERIODS order (term, vacation, saturday)
    order = np.argsort(np.tile(np.arange(len(facilities)), len(PERIODS)), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def _catalog_hours(
    kinds: pd.Series, catalog: dict[str, CareKind], attr: str
) -> tuple[np.ndarray, np.ndarray]:
    unknown = sorted(set(kinds.dropna()) - set(catalog))
    spans = [getattr(catalog[k], attr) if k in catalog else None for k in kinds]
    opens = np.array([s[0] if s else np.nan for s in spans], dtype=float)
    closes = np.array([s[1] if s else np.nan for s in spans], dtype=float)
    if unknown:
        logger.debug("kinds without catalog hours: %s", unknown)
    return opens, closes


def _source(hours_source, opens, closes, default_open, default_close) -> np.ndarray:
    if hours_source is None:
        return np.full(len(opens), "data", dtype=object)
    src = hours_source.fillna("data").astype(str).to_numpy()
    same = ((opens == default_open) | (np.isnan(opens) & np.isnan(default_open))) & (
        (closes == default_close) | (np.isnan(closes) & np.isnan(default_close))
    )
    mixed = np.where(same, "catalog", "data")
    plain = np.where(src == "catalog", "catalog", "data")
    return np.where(src == "data+catalog", mixed, plain).astype(object)


def _serves(opens: np.ndarray, closes: np.ndarray, minute: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        day = (opens <= minute) & (minute <= closes)
        overnight = (closes < opens) & ((minute >= opens) | (minute <= closes))
    return day | overnight  # NaN hours compare False: not operating


def open_at(
    facilities: pd.DataFrame, slot: TimeSlot, *, catalog: dict[str, CareKind] | None = None
) -> pd.Series:
    """Whether each facility is open at ``slot`` (inclusive ``open <= minute <= close``).

    Returns a boolean Series indexed like ``facilities``.
    """
    open_col, close_col, attr, _ = PERIODS[slot.period]
    if open_col in facilities.columns and close_col in facilities.columns:
        opens = facilities[open_col].astype(float).to_numpy()
        closes = facilities[close_col].astype(float).to_numpy()
        half = np.isnan(opens) != np.isnan(closes)
        opens = np.where(half, np.nan, opens)
    else:
        if "kind" not in facilities.columns:
            msg = (
                f"facilities have neither {open_col}/{close_col} nor 'kind' "
                "to take catalog hours from"
            )
            raise MissingColumnError(msg)
        opens, closes = _catalog_hours(facilities["kind"], catalog or get_catalog(), attr)
    return pd.Series(_serves(opens, closes, slot.minute), index=facilities.index, name=slot.name)


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True)
class CoverageResult:
    """Per demand point: nearest open facility by slot and kind, and covered flags.

    Attributes
    ----------
    nearest_min
        Index ``point_id``; columns MultiIndex (``slot``, ``kind``) with kind
        :data:`ALL_KINDS` = any eligible kind. Minutes to the nearest facility of
        that kind open at that slot; NaN when none is within the travel-time cutoff.
    covered
        Same shape, bool: ``nearest_min <= max_walk_min``.
    slots, kinds, max_walk_min, distance_method, method_label
        What was measured and how distances were obtained.
    """

    nearest_min: pd.DataFrame
    covered: pd.DataFrame
    slots: tuple[TimeSlot, ...]
    kinds: tuple[str, ...]
    max_walk_min: float
    distance_method: str
    method_label: str = ""
    params: dict = field(default_factory=dict)


def _align(times: TravelTimes, demand: pd.DataFrame, facilities: pd.DataFrame) -> sp.csr_matrix:
    """Rows in demand order, columns in facilities order (subsets allowed)."""
    for what, ids in (("demand points", demand.index), ("facilities", facilities.index)):
        if not ids.is_unique:
            dup = list(ids[ids.duplicated()][:3])
            msg = f"{what} ids must be unique, got repeats such as {dup}; fix or drop them first"
            raise DuplicateIdError(msg)
    rows = pd.Index(times.origin_ids).get_indexer(demand.index)
    cols = pd.Index(times.destination_ids).get_indexer(facilities.index)
    checks = (("demand point", rows, demand.index), ("facility", cols, facilities.index))
    for what, pos, ids in checks:
        if (pos < 0).any():
            missing = list(ids[pos < 0][:3])
            msg = (
                f"{int((pos < 0).sum())} {what} id(s) are not in the travel times "
                f"(e.g. {missing}); "
                "compute travel times for these layers (careplan.network)"
            )
            raise InputDataError(msg)
    matrix = times.matrix.tocsr()
    if not np.array_equal(rows, np.arange(matrix.shape[0])):
        matrix = matrix[rows]
    if not np.array_equal(cols, np.arange(matrix.shape[1])):
        matrix = matrix[:, cols]
    return matrix.tocsr()


def _row_min(matrix: sp.csr_matrix, col_mask: np.ndarray) -> np.ndarray:
    """Row-wise minimum over stored entries in masked columns (NaN where none); zeros count."""
    vals = np.where(col_mask[matrix.indices], np.asarray(matrix.data, dtype=float), np.inf)
    vals = np.append(vals, np.inf)  # so a trailing empty row's start index is valid
    out = np.minimum.reduceat(vals, matrix.indptr[:-1])
    # reduceat returns vals[start] for an empty row: mask those.
    out[np.diff(matrix.indptr) == 0] = np.inf
    out[np.isinf(out)] = np.nan
    return out


def coverage(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    times: TravelTimes,
    *,
    slots: Sequence[TimeSlot] = DEFAULT_SLOTS,
    max_walk_min: float = 10.0,
    kinds: Iterable[str] | None = None,
    catalog: dict[str, CareKind] | None = None,
) -> CoverageResult:
    """Nearest open facility by kind and slot, and whether it is within a walk.

    Parameters
    ----------
    demand
        Demand points (index ``point_id``).
    facilities
        Facilities (index ``facility_id``; ``kind`` and hour columns).
    times
        Walk times demand points × facilities (subsets of its ids are fine).
    slots
        Time slots to measure.
    max_walk_min
        Walk threshold in minutes, inclusive; must not exceed ``times.cutoff_min``.
    kinds
        Eligible kinds; default :func:`default_kinds` (school-age, with catchment).
    catalog
        For kind defaults when hour columns are absent.

    Returns
    -------
    CoverageResult
    """
    if max_walk_min > times.cutoff_min:
        msg = (
            f"max_walk_min={max_walk_min!r} exceeds the travel-time cutoff "
            f"{times.cutoff_min!r} min, so points beyond the cutoff would look uncovered; "
            "recompute travel times with a larger cutoff"
        )
        raise SettingsError(msg)
    if not slots:
        msg = "slots is empty; pass at least one TimeSlot (e.g. careplan.coverage.DEFAULT_SLOTS)"
        raise SettingsError(msg)
    if "kind" not in facilities.columns:
        msg = "facilities need a 'kind' column; see docs/data-contract.md"
        raise MissingColumnError(msg)
    kinds = tuple(kinds) if kinds is not None else tuple(default_kinds(catalog))
    matrix = _align(times, demand, facilities)
    kind_arr = facilities["kind"].to_numpy()
    # One column block per kind, so each slot scans every stored pair once, not once per kind.
    blocks = {k: np.flatnonzero(kind_arr == k) for k in kinds}
    sub = {k: matrix[:, cols].tocsr() for k, cols in blocks.items()}
    columns, values = [], []
    for slot in slots:
        is_open = open_at(facilities, slot, catalog=catalog).to_numpy()
        per_kind = [_row_min(sub[k], is_open[blocks[k]]) for k in kinds]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no facility at all
            any_kind = np.nanmin(np.column_stack(per_kind), axis=1) if per_kind else np.full(len(demand), np.nan)
        for kind, vals in zip((*kinds, ALL_KINDS), (*per_kind, any_kind), strict=True):
            columns.append((slot.name, kind))
            values.append(vals)
    index = pd.MultiIndex.from_tuples(columns, names=["slot", "kind"])
    nearest = pd.DataFrame(np.column_stack(values), index=demand.index, columns=index)
    with np.errstate(invalid="ignore"):
        flags = nearest.to_numpy() <= max_walk_min  # NaN (no facility) compares False
    covered = pd.DataFrame(flags, index=demand.index, columns=index)
    for frame in (nearest, covered):
        frame.attrs.update(distance_method=times.distance_method, max_walk_min=max_walk_min)
    logger.info(
        "coverage of %s points by %d kinds at %d slots (%s)",
        f"{len(demand):,}",
        len(kinds),
        len(slots),
        times.distance_method,
    )
    return CoverageResult(
        nearest,
        covered,
        tuple(slots),
        kinds,
        float(max_walk_min),
        times.distance_method,
        times.method_label,
        dict(times.params),
    )


def coverage_table(
    cov: CoverageResult,
    demand: pd.DataFrame,
    *,
    by: Literal["zone_id", "adm_code"] | None = "zone_id",
    weight_col: str = "demand",
) -> pd.DataFrame:
    """Demand, covered demand and coverage % per area × kind × slot (long, tidy).

    Parameters
    ----------
    cov
        Output of :func:`coverage`.
    demand
        The same demand points (index ``point_id``) with ``weight_col`` and ``by``.
    by
        {"zone_id", "adm_code", None} — 학구, 행정동, or ``None`` for the whole
        area (시군구 total, ``area = "전체"``).
    weight_col
        Demand column to sum (``"demand"``, ``"children"``, ``"priority_demand"``).

    Returns
    -------
    pandas.DataFrame
        Columns: the area column (``by`` or ``"area"``), ``slot``, ``period``,
        ``minute``, ``kind``, ``kind_label``, ``demand``, ``covered_demand``,
        ``coverage_pct`` (NaN where demand is 0), ``max_walk_min``,
        ``distance_method``. Korean headers: ``df.rename(columns=COLUMN_LABELS_KO)``.
    """
    covered_sum, totals = coverage_sums(cov, demand, by=by, weight_col=weight_col)
    return table_from_sums(cov, covered_sum, totals, by=by)


def coverage_sums(
    cov: CoverageResult,
    demand: pd.DataFrame,
    *,
    by: Literal["zone_id", "adm_code", "sigungu_code"] | None = "zone_id",
    weight_col: str = "demand",
) -> tuple[pd.DataFrame, pd.Series]:
    """Covered demand per area (rows) × (slot, kind) (columns), and demand per area.

    The additive half of :func:`coverage_table`: sums over disjoint sets of points add up,
    so partitions of a region can each return theirs (see :mod:`careplan.scale`).
    """
    need = [weight_col] + ([by] if by else [])
    missing = [c for c in need if c not in demand.columns]
    if missing:
        msg = f"demand lacks column(s) {missing} for coverage_table; see docs/data-contract.md"
        raise MissingColumnError(msg)
    if not demand.index.equals(cov.covered.index):
        demand = demand.reindex(cov.covered.index)
        if demand[weight_col].isna().any():
            msg = "demand points differ from those in the coverage result; pass the same layer"
            raise InputDataError(msg)
    weights = demand[weight_col].astype(float).fillna(0.0).to_numpy()
    groups = demand[by].to_numpy() if by else np.full(len(demand), "전체", dtype=object)
    # one factorisation and a sparse product instead of two pandas groupbys over the points
    codes, areas = pd.factorize(groups, sort=True)
    rows = np.flatnonzero(codes >= 0)  # points with no area (NaN) are left out, as in a groupby
    member = sp.csr_matrix((weights[rows], (codes[rows], rows)), shape=(len(areas), len(codes)))
    covered_sum = pd.DataFrame(
        member @ cov.covered.to_numpy(dtype=float), index=areas, columns=cov.covered.columns
    )
    totals = pd.Series(np.asarray(member.sum(axis=1)).ravel(), index=areas)
    return covered_sum, totals


def _repeated(values: np.ndarray, positions: np.ndarray) -> Any:
    """``values[positions]`` as the column pandas would make of it: the type is inferred from
    the few distinct values, not from every row (building text columns row by row was most
    of a region run's merge)."""
    return pd.Series(values).array.take(positions)


def table_from_sums(
    cov: CoverageResult,
    covered_sum: pd.DataFrame,
    totals: pd.Series,
    *,
    by: str | None = "zone_id",
) -> pd.DataFrame:
    """The long :func:`coverage_table` from :func:`coverage_sums` (possibly summed over partitions)."""
    area_col = by or "area"
    covered_sum = covered_sum.sort_index()
    n_areas, n_cols = covered_sum.shape
    # one row per (area, slot, kind), areas sorted, columns in their order: built from arrays,
    # per-column values looked up once and tiled (a stack + map over every row is 10× slower)
    slots = covered_sum.columns.get_level_values("slot")
    kinds = covered_sum.columns.get_level_values("kind")
    slot_info = {t.name: t for t in cov.slots}
    labels = {**KIND_LABELS, ALL_KINDS: "전체(적격 시설)"}
    demand = np.repeat(totals.reindex(covered_sum.index).to_numpy(dtype=float), n_cols)
    covered = covered_sum.to_numpy(dtype=float).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(demand > 0, 100.0 * covered / demand, np.nan)
    per_area = np.repeat(np.arange(n_areas), n_cols)
    per_col = np.tile(np.arange(n_cols), n_areas)
    long = pd.DataFrame(
        {
            area_col: _repeated(covered_sum.index.to_numpy(), per_area),
            "slot": _repeated(np.asarray(slots, dtype=object), per_col),
            "period": _repeated(
                np.array([slot_info[n].period for n in slots], dtype=object), per_col
            ),
            "minute": np.array([slot_info[n].minute for n in slots])[per_col],
            "kind": _repeated(np.asarray(kinds, dtype=object), per_col),
            "kind_label": _repeated(
                np.array([labels.get(k, k) for k in kinds], dtype=object), per_col
            ),
            "demand": demand,
            "covered_demand": covered,
            "coverage_pct": pct,
            "max_walk_min": cov.max_walk_min,
            "distance_method": cov.distance_method,
        }
    )
    long.attrs.update(distance_method=cov.distance_method, max_walk_min=cov.max_walk_min)
    return long

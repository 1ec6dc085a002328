"""Spatial access to care places: 2SFCA family, unmet demand, gaps and equity.

Floating-catchment measures share supply among the demand that can reach it
(Luo & Wang 2003; enhanced 2SFCA, Luo & Qi 2009; 3SFCA, Wan et al. 2012). For a
pair ``i`` (demand point) and ``j`` (facility) with cost ``c_ij <= max_cost``
and weight ``w_ij = f(c_ij)``::

    D_j = sum_i w_ij * demand_i          # weighted demand in j's catchment
    R_j = supply_j / D_j                 # places per child at j
    A_i = sum_j w_ij * R_j               # places per child reachable from i

so that ``sum_i demand_i * A_i == sum_j supply_j`` over facilities that some
demand can reach. The weight is applied in both steps.

Conventions (chosen to equal PySAL ``access`` 1.1.10, checked in the tests):

* a pair exists where the cost matrix stores a value ``<= max_cost``
  (inclusive); an explicit ``0.0`` is a pair (co-located), so reachability is
  read from the sparsity structure, never from ``.nonzero()``;
* ``A_i`` is ``NaN`` for a demand point with no pair at all (no facility in its
  catchment); a pair whose weight is 0 gives ``0.0``, not ``NaN``;
* **deliberate difference**: where ``D_j == 0`` (only zero-demand points reach
  ``j``) careplan takes ``R_j = 0`` — the places serve nobody — while ``access``
  divides by zero and returns ``inf`` for those points. Finite scores keep
  Gini and unmet demand meaningful.

Everything works on ``scipy.sparse`` CSR matrices with vectorised operations
(no Python loop over points or facilities). Functions take arrays or
``pandas.Series``; with :class:`careplan.network.TravelTimes` input the result
keeps the origin ids and ``.attrs["distance_method"]``.

Examples
--------
From the canonical layers (see ``docs/data-contract.md``)::

    scores = careplan.access.access_scores(points, facilities, times, method="e2sfca",
                                           max_walk_min=10)
    ranked = careplan.access.gaps(scores, top=10)            # 학구 and 행정동 by unmet demand
    g = careplan.access.gini(scores["access"].fillna(0), scores["children"])
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._errors import DuplicateIdError, InputDataError, MissingColumnError, SettingsError
from .network import TravelTimes

__all__ = [
    "DEFAULT_E2SFCA_WEIGHTS",
    "GAP_LABELS_KO",
    "WeightFn",
    "access_scores",
    "e2sfca",
    "gap_sums",
    "gaps",
    "gaps_from_sums",
    "gaussian_weights",
    "gini",
    "gravity_2sfca",
    "gravity_weights",
    "lorenz_curve",
    "step_weights",
    "supply_demand_ratio",
    "three_sfca",
    "two_sfca",
    "unmet_demand",
    "weighted_catchment",
]

logger = logging.getLogger(__name__)

#: A vectorised weight function: costs (ndarray) -> weights (ndarray, same shape).
WeightFn = Callable[[np.ndarray], np.ndarray]

#: Luo & Qi (2009) zone weights, used by :func:`e2sfca` for thirds of ``max_cost``.
DEFAULT_E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)

#: Korean labels of :func:`gaps` / :func:`access_scores` columns, for reports.
GAP_LABELS_KO = {
    "level": "단위",
    "area_id": "구역 코드",
    "rank": "순위",
    "children": "아동 수(6–12세)",
    "demand": "돌봄 수요(명)",
    "unmet_demand": "미충족 수요(명)",
    "unmet_pct": "미충족 비율(%)",
    "mean_access": "아동 1명당 이용 가능 정원 (수요 가중 평균)",
    "no_access_demand": "도보권 내 시설 없음 수요(명)",
    "access": "접근성 (아동 1명당 정원)",
    "distance_method": "거리 산정 방식",
}

_LEVEL_KO = {"zone_id": "학구", "adm_code": "행정동"}


# --------------------------------------------------------------------------- weights


def step_weights(steps: Sequence[tuple[float, float]]) -> WeightFn:
    """Step weights: ``weight_k`` for ``upper_{k-1} < cost <= upper_k``, 0 beyond the last.

    Parameters
    ----------
    steps
        ``[(upper_cost, weight), ...]``, e.g. ``[(5, 1.0), (10, 0.68), (15, 0.22)]``
        (minutes) — the same rule as ``access.weights.step_fn`` but vectorised.
    """
    if not steps:
        msg = "steps must hold at least one (upper_cost, weight) pair, got an empty sequence"
        raise SettingsError(msg)
    ordered = sorted((float(c), float(w)) for c, w in steps)
    uppers = np.array([c for c, _ in ordered])
    values = np.array([w for _, w in ordered] + [0.0])
    if (values < 0).any():
        msg = f"step weights must be >= 0, got {steps!r}"
        raise SettingsError(msg)

    def weight(cost: np.ndarray) -> np.ndarray:
        # side="left": the first upper with cost <= upper, as access.step_fn does.
        return values[np.searchsorted(uppers, cost, side="left")]

    return weight


def gaussian_weights(sigma: float) -> WeightFn:
    """Gaussian decay ``exp(-cost**2 / (2 sigma**2))`` (1 at cost 0, not normalised)."""
    if not sigma > 0:
        msg = f"sigma must be > 0 (same units as the cost), got {sigma!r}"
        raise SettingsError(msg)
    return lambda cost: np.exp(-np.square(cost) / (2.0 * sigma**2))


def gravity_weights(scale: float, alpha: float, *, min_cost: float = 0.0) -> WeightFn:
    """Power decay ``(max(cost, min_cost) / scale) ** alpha`` (``access.weights.gravity``).

    With a negative ``alpha`` a zero cost gives an infinite weight; set
    ``min_cost`` (e.g. 1 minute) when co-located pairs exist.
    """
    if not scale > 0:
        msg = f"scale must be > 0 (same units as the cost), got {scale!r}"
        raise SettingsError(msg)
    return lambda cost: np.power(np.maximum(cost, min_cost) / scale, alpha)


def _thirds(max_cost: float) -> list[tuple[float, float]]:
    """Steps at 1/3, 2/3 and 3/3 of ``max_cost`` with the Luo & Qi weights."""
    return [(max_cost * k / 3.0, w) for k, w in zip((1, 2, 3), DEFAULT_E2SFCA_WEIGHTS, strict=True)]


# --------------------------------------------------------------------------- inputs


def _filter_pairs(matrix: sp.csr_matrix, max_cost: float | None) -> sp.csr_matrix:
    """Keep stored entries with cost <= max_cost, explicit zeros included."""
    matrix = matrix.tocsr()
    matrix.sort_indices()
    data = np.asarray(matrix.data, dtype=float)
    if data.size and np.nanmin(data) < 0:
        msg = (
            f"costs must be >= 0, got a minimum of {np.nanmin(data)!r}; check the travel-time input"
        )
        raise InputDataError(msg)
    keep = np.isfinite(data)
    if max_cost is not None:
        keep &= data <= max_cost
    if keep.all():
        return sp.csr_matrix((data, matrix.indices, matrix.indptr), shape=matrix.shape)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    row_counts = np.bincount(rows[keep], minlength=matrix.shape[0])
    indptr = np.concatenate([[0], np.cumsum(row_counts)]).astype(np.int64)
    return sp.csr_matrix((data[keep], matrix.indices[keep], indptr), shape=matrix.shape)


def _as_pairs(
    times_or_cost: Any, max_cost: float | None
) -> tuple[sp.csr_matrix, pd.Index | None, pd.Index | None, str]:
    """Cost input -> (pairs within max_cost as CSR, origin ids, destination ids, method)."""
    if max_cost is not None and not max_cost >= 0:
        msg = f"max_cost must be >= 0 (or None for every stored pair), got {max_cost!r}"
        raise SettingsError(msg)
    if isinstance(times_or_cost, TravelTimes):
        if max_cost is not None and max_cost > times_or_cost.cutoff_min:
            msg = (
                f"max_cost={max_cost!r} exceeds the travel-time cutoff "
                f"{times_or_cost.cutoff_min!r} min: "
                "pairs beyond the cutoff were never computed, so access would be wrong. "
                "Recompute travel times with a larger cutoff or lower max_cost."
            )
            raise SettingsError(msg)
        pairs = _filter_pairs(times_or_cost.matrix, max_cost)
        return (
            pairs,
            pd.Index(times_or_cost.origin_ids),
            pd.Index(times_or_cost.destination_ids),
            times_or_cost.distance_method,
        )
    if sp.issparse(times_or_cost):
        return _filter_pairs(sp.csr_matrix(times_or_cost), max_cost), None, None, "given_cost"
    rows = cols = None
    if isinstance(times_or_cost, pd.DataFrame):
        rows, cols = times_or_cost.index, times_or_cost.columns
    dense = np.asarray(times_or_cost, dtype=float)
    if dense.ndim != 2:
        msg = f"expected a 2-D cost matrix (demand × supply), got shape {dense.shape}"
        raise InputDataError(msg)
    # Dense input: every finite entry is a pair (NaN / inf = unreachable).
    keep = np.isfinite(dense)
    if max_cost is not None:
        keep &= dense <= max_cost
    r, c = np.nonzero(keep)
    pairs = _filter_pairs(sp.csr_matrix((dense[r, c], (r, c)), shape=dense.shape), None)
    return pairs, rows, cols, "given_cost"


def _values(
    values: Any, ids: pd.Index | None, n: int, what: str, *, fill_missing: bool
) -> tuple[np.ndarray, pd.Index]:
    """Align supply or demand to the matrix axis; returns (array, ids)."""
    if isinstance(values, pd.Series) and not values.index.is_unique:
        dup = list(values.index[values.index.duplicated()][:3])
        msg = f"{what} ids must be unique, got repeats such as {dup}; fix or drop them first"
        raise DuplicateIdError(msg)
    if isinstance(values, pd.Series) and ids is not None:
        unknown = values.index.difference(ids)
        if len(unknown):
            msg = (
                f"{len(unknown)} {what} id(s) are not in the travel-time matrix "
                f"(e.g. {list(unknown[:3])}); compute travel times for the same layer"
            )
            raise InputDataError(msg)
        if not fill_missing:
            return values.to_numpy(dtype=float), values.index
        # Facilities without a supply value (e.g. closed at a slot) offer 0 places.
        return values.reindex(ids).fillna(0.0).to_numpy(dtype=float), ids
    arr = np.asarray(values, dtype=float)
    if arr.shape != (n,):
        axis = "row" if what == "demand" else "column"
        msg = f"{what} must have one value per matrix {axis} ({n}), got shape {arr.shape}"
        raise InputDataError(msg)
    if isinstance(values, pd.Series):  # noqa: SIM108 -- a nested ternary would read worse
        index = values.index
    else:
        index = ids if ids is not None else pd.RangeIndex(n)
    return np.nan_to_num(arr, nan=0.0) if fill_missing else arr, index


def _prepare(
    supply: Any,
    demand: Any,
    times_or_cost: Any,
    max_cost: float | None,
    *,
    with_supply_index: bool = False,
):
    pairs, row_ids, col_ids, method = _as_pairs(times_or_cost, max_cost)
    n_rows, n_cols = pairs.shape
    s, s_index = _values(supply, col_ids, n_cols, "supply", fill_missing=True)
    d, d_index = _values(demand, row_ids, n_rows, "demand", fill_missing=False)
    if isinstance(demand, pd.Series) and row_ids is not None and not d_index.equals(row_ids):
        pairs = pairs[row_ids.get_indexer(d_index)]
    d = np.nan_to_num(d, nan=0.0)
    if (s < 0).any() or (d < 0).any():
        msg = "supply and demand must be >= 0; negative values arrived"
        raise InputDataError(msg)
    if with_supply_index:
        return pairs, s, d, d_index, method, s_index
    return pairs, s, d, d_index, method


def _weighted(pairs: sp.csr_matrix, weight_fn: WeightFn | None) -> sp.csr_matrix:
    if weight_fn is None:
        w = np.ones_like(pairs.data)
    else:
        w = np.asarray(weight_fn(pairs.data), dtype=float)
        if w.shape != pairs.data.shape:
            msg = (
                "weight_fn must be vectorised: ndarray of costs -> ndarray of weights; "
                f"got shape {w.shape} for {pairs.data.shape} costs "
                "(wrap a scalar function with np.vectorize)"
            )
            raise SettingsError(msg)
    return sp.csr_matrix((w, pairs.indices, pairs.indptr), shape=pairs.shape)


def _ratio(supply: np.ndarray, weighted_demand: np.ndarray) -> np.ndarray:
    # D_j == 0: the places serve nobody; 0 instead of access's inf (module docstring).
    out = np.zeros_like(supply)
    np.divide(supply, weighted_demand, out=out, where=weighted_demand > 0)
    return out


def _result(
    values: np.ndarray, pairs: sp.csr_matrix, index: pd.Index, name: str, method: str
) -> pd.Series:
    values = np.where(np.diff(pairs.indptr) > 0, values, np.nan)  # no pair at all -> NaN
    out = pd.Series(values, index=index, name=name)
    out.attrs["distance_method"] = method
    return out


# --------------------------------------------------------------------------- FCA family


def two_sfca(
    supply: Any,
    demand: Any,
    times_or_cost: Any,
    *,
    max_cost: float | None,
    weight_fn: WeightFn | None = None,
) -> pd.Series:
    """Two-step floating catchment access: places per child within reach of each demand point.

    Parameters
    ----------
    supply
        Places per facility: a Series indexed by facility id (ids missing from it
        count as 0 places) or an array with one value per matrix column.
    demand
        Children per demand point: a Series indexed by point id or an array, one
        per matrix row.
    times_or_cost
        :class:`~careplan.network.TravelTimes`, a scipy sparse matrix (stored
        entries are pairs, explicit zeros included), or a dense array / DataFrame
        (finite entries are pairs; NaN or inf = unreachable). Rows are demand,
        columns supply.
    max_cost
        Catchment size in the cost's units, inclusive (``cost <= max_cost``).
        ``None`` uses every stored pair.
    weight_fn
        Vectorised distance decay applied in both steps (see
        :func:`step_weights`, :func:`gaussian_weights`, :func:`gravity_weights`);
        ``None`` = 1 inside the catchment (classic 2SFCA).

    Returns
    -------
    pandas.Series
        ``A_i`` per demand point (index = demand ids), ``NaN`` where no facility is
        within ``max_cost``; ``.attrs["distance_method"]`` names the cost source.
    """
    pairs, s, d, index, method = _prepare(supply, demand, times_or_cost, max_cost)
    w = _weighted(pairs, weight_fn)
    ratio = _ratio(s, w.T @ d)
    return _result(w @ ratio, pairs, index, "2sfca", method)


def e2sfca(
    supply: Any,
    demand: Any,
    times_or_cost: Any,
    *,
    max_cost: float,
    steps: Sequence[tuple[float, float]] | None = None,
    sigma: float | None = None,
) -> pd.Series:
    """Enhanced 2SFCA: 2SFCA with zone (step) weights or a Gaussian decay.

    Parameters
    ----------
    max_cost
        Catchment size (inclusive).
    steps
        ``[(upper_cost, weight), ...]``. Default: thirds of ``max_cost`` with
        weights 1, 0.68, 0.22 (Luo & Qi 2009) — unit-free, so a 1,500 m catchment
        gives ``[(500, 1), (1000, .68), (1500, .22)]`` and a 15-minute walk
        ``[(5, 1), (10, .68), (15, .22)]``.
    sigma
        Use a Gaussian decay of this width instead of steps (Dai 2010).

    See :func:`two_sfca` for the other parameters and the result.
    """
    if steps is not None and sigma is not None:
        msg = "give either steps or sigma, not both"
        raise SettingsError(msg)
    if sigma is not None:
        weight_fn = gaussian_weights(sigma)
    else:
        if steps is None:
            steps = _thirds(max_cost)
        weight_fn = step_weights(steps)
    out = two_sfca(supply, demand, times_or_cost, max_cost=max_cost, weight_fn=weight_fn)
    return out.rename("e2sfca")


def gravity_2sfca(
    supply: Any,
    demand: Any,
    times_or_cost: Any,
    *,
    max_cost: float | None,
    scale: float = 1.0,
    alpha: float = -1.0,
    min_cost: float = 0.0,
) -> pd.Series:
    """Gravity-type 2SFCA: 2SFCA with power decay ``(max(c, min_cost)/scale)**alpha`` in both steps.

    Equals ``access`` ``two_stage_fca(weight_fn=weights.gravity(scale, alpha, min_cost))``.
    Set ``min_cost`` (e.g. 1 minute) when travel times hold explicit zeros and
    ``alpha < 0``, otherwise a co-located pair weighs infinity.
    """
    fn = gravity_weights(scale, alpha, min_cost=min_cost)
    out = two_sfca(supply, demand, times_or_cost, max_cost=max_cost, weight_fn=fn)
    return out.rename("gravity_2sfca")


def three_sfca(
    supply: Any,
    demand: Any,
    times_or_cost: Any,
    *,
    max_cost: float | None,
    weight_fn: WeightFn | None = None,
    selection_over: Literal["catchment", "all_pairs"] = "catchment",
) -> pd.Series:
    """Three-step FCA (Wan et al. 2012): demand split among facilities by selection weight.

    ``G_ij = w_ij / sum_k w_ik`` is the share of point ``i``'s demand that goes to
    ``j``; both steps use ``w_ij * G_ij``.

    Parameters
    ----------
    weight_fn
        Default: ``step_weights`` at thirds of ``max_cost`` with 1, 0.68, 0.22.
    selection_over
        ``"catchment"`` (default, as in Wan et al.): ``sum_k`` runs over the
        facilities within ``max_cost``. ``"all_pairs"`` runs over every stored
        pair, including those beyond ``max_cost`` — what ``access`` 1.1.10 does
        (its ``three_stage_fca`` computes ``G`` before applying ``max_cost``).
    """
    if selection_over not in {"catchment", "all_pairs"}:
        msg = f"selection_over must be 'catchment' or 'all_pairs', got {selection_over!r}"
        raise SettingsError(msg)
    if weight_fn is None:
        if max_cost is None:
            msg = "three_sfca needs max_cost or an explicit weight_fn"
            raise SettingsError(msg)
        weight_fn = step_weights(_thirds(max_cost))
    pairs, s, d, index, method = _prepare(supply, demand, times_or_cost, max_cost)
    w = _weighted(pairs, weight_fn)
    if selection_over == "all_pairs":
        every, *_ = _prepare(supply, demand, times_or_cost, None)
        row_sum = np.asarray(_weighted(every, weight_fn).sum(axis=1)).ravel()
    else:
        row_sum = np.asarray(w.sum(axis=1)).ravel()
    share = np.zeros_like(row_sum)
    np.divide(1.0, row_sum, out=share, where=row_sum > 0)
    # w_ij * G_ij = w_ij**2 / sum_k w_ik
    wg_data = w.data**2 * np.repeat(share, np.diff(w.indptr))
    wg = sp.csr_matrix((wg_data, w.indices, w.indptr), shape=w.shape)
    ratio = _ratio(s, wg.T @ d)
    return _result(wg @ ratio, pairs, index, "3sfca", method)


def weighted_catchment(
    supply: Any,
    times_or_cost: Any,
    *,
    max_cost: float | None = None,
    weight_fn: WeightFn | None = None,
) -> pd.Series:
    """Supply potential without demand: ``sum_j w_ij * supply_j`` (Hansen-type when decayed).

    Equals ``access`` ``weighted_catchment``. Rows with no pair get ``NaN``. The
    ``demand`` argument of the other measures is not needed; rows are the
    matrix rows (origin ids with :class:`TravelTimes`).
    """
    pairs, row_ids, col_ids, method = _as_pairs(times_or_cost, max_cost)
    s, _ = _values(supply, col_ids, pairs.shape[1], "supply", fill_missing=True)
    w = _weighted(pairs, weight_fn)
    index = row_ids if row_ids is not None else pd.RangeIndex(pairs.shape[0])
    return _result(w @ s, pairs, index, "catchment", method)


def supply_demand_ratio(
    supply: Any,
    demand: Any,
    times_or_cost: Any,
    *,
    max_cost: float | None,
    weight_fn: WeightFn | None = None,
) -> pd.Series:
    """First 2SFCA step per facility: places per child in its catchment, ``R_j``.

    ``NaN`` where no demand (or only zero demand) lies in the catchment. Index =
    facility ids with :class:`TravelTimes` or a Series supply, else 0..n-1.
    """
    pairs, s, d, _, method, s_index = _prepare(
        supply, demand, times_or_cost, max_cost, with_supply_index=True
    )
    dj = _weighted(pairs, weight_fn).T @ d
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dj > 0, s / np.where(dj > 0, dj, 1.0), np.nan)
    out = pd.Series(ratio, index=s_index, name="supply_demand_ratio")
    out.attrs["distance_method"] = method
    return out


# --------------------------------------------------------------------------- unmet demand


def unmet_demand(demand: Any, access: Any) -> pd.Series | np.ndarray:
    """Children whose catchment-shared places fall short: ``demand_i * (1 - min(1, A_i))``.

    ``A_i`` is the 2SFCA-family score in places per child; ``NaN`` (no facility
    within reach) counts as 0, so all of that demand is unmet. Because
    ``sum_i demand_i * A_i`` equals the reachable supply, the total unmet demand
    is at least ``total demand - total reachable places``; it is larger where
    places sit where demand is already served (their surplus cannot walk).

    Returns a Series (index of ``access`` or ``demand``) when given Series, else an array.
    """
    a = np.nan_to_num(np.asarray(access, dtype=float), nan=0.0)
    d = np.asarray(demand, dtype=float)
    if a.shape != d.shape:
        msg = f"demand and access must have the same length, got {d.shape} and {a.shape}"
        raise InputDataError(msg)
    out = d * (1.0 - np.minimum(1.0, a))
    for like in (access, demand):
        if isinstance(like, pd.Series):
            series = pd.Series(out, index=like.index, name="unmet_demand")
            series.attrs.update(getattr(access, "attrs", {}))
            return series
    return out


# --------------------------------------------------------------------------- GeoDataFrame level

_METHODS = {"2sfca", "e2sfca", "gravity", "3sfca"}


def access_scores(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    times: TravelTimes,
    *,
    method: Literal["2sfca", "e2sfca", "gravity", "3sfca"] = "2sfca",
    max_walk_min: float = 10.0,
    capacity_cols: Sequence[str] = ("capacity",),
    demand_col: str = "demand",
    kinds: Iterable[str] | None = None,
    slot: Any = None,
    **method_options: Any,
) -> pd.DataFrame:
    """Access per demand point from the canonical layers, with unmet demand.

    Parameters
    ----------
    demand
        Demand points (index ``point_id``; ``demand_col``, ``children``,
        ``zone_id``, ``adm_code`` are carried over when present).
    facilities
        Facilities (index ``facility_id``; ``kind`` and ``capacity_cols``).
    times
        Walk times, demand points × facilities.
    method
        {"2sfca", "e2sfca", "gravity", "3sfca"}
    max_walk_min
        Catchment, minutes (inclusive).
    capacity_cols
        Columns summed into places; ``("capacity", "capacity_temp")`` adds 일시 places.
    kinds
        Kinds of care that count; default: school-age kinds with a walk
        catchment (see :func:`careplan.coverage.default_kinds`).
    slot
        A :class:`careplan.coverage.TimeSlot`: only facilities open then count.
    **method_options
        Passed on: ``steps`` / ``sigma`` (e2sfca), ``scale`` / ``alpha`` /
        ``min_cost`` (gravity), ``weight_fn``, ``selection_over`` (3sfca).

    Returns
    -------
    pandas.DataFrame
        Index ``point_id``: ``access`` (places per child, NaN = no eligible facility
        (of ``kinds``, open at ``slot``) in reach), ``unmet_demand``, the carried columns, ``distance_method``;
        ``.attrs`` hold ``distance_method``, ``method``, ``max_walk_min``, ``slot``.
    """
    from . import coverage as _coverage  # coverage imports nothing from here

    if method not in _METHODS:
        msg = f"method must be one of {sorted(_METHODS)}, got {method!r}"
        raise SettingsError(msg)
    missing = [c for c in (*capacity_cols, "kind") if c not in facilities.columns]
    if demand_col not in demand.columns:
        missing.append(demand_col)
    if missing:
        msg = f"missing column(s) {missing} for access; see docs/data-contract.md"
        raise MissingColumnError(msg)
    kinds = list(kinds) if kinds is not None else _coverage.default_kinds()
    eligible = facilities["kind"].isin(kinds)
    if slot is not None:
        eligible &= _coverage.open_at(facilities, slot)
    places = facilities.loc[eligible, list(capacity_cols)].sum(axis=1, min_count=1).fillna(0.0)
    times = _only_destinations(times, places.index)
    d = demand[demand_col].astype(float)
    funcs: dict[str, Callable[..., pd.Series]] = {
        "2sfca": two_sfca,
        "e2sfca": e2sfca,
        "gravity": gravity_2sfca,
        "3sfca": three_sfca,
    }
    score = funcs[method](places, d, times, max_cost=max_walk_min, **method_options)
    out = pd.DataFrame(index=demand.index)
    out["access"] = score.to_numpy()
    out["unmet_demand"] = unmet_demand(d.to_numpy(), score.to_numpy())
    for col in ("zone_id", "adm_code", "children", demand_col):
        if col in demand.columns:
            out[col] = demand[col].to_numpy()
    out["distance_method"] = times.distance_method
    out.attrs.update(
        distance_method=times.distance_method,
        method=method,
        max_walk_min=max_walk_min,
        slot=getattr(slot, "name", None),
        demand_col=demand_col,
    )
    logger.info(
        "%s access for %s points: %s without a facility in %.0f min",
        method,
        f"{len(out):,}",
        f"{int(out['access'].isna().sum()):,}",
        max_walk_min,
    )
    return out


def _only_destinations(times: TravelTimes, ids: pd.Index) -> TravelTimes:
    """Keep the eligible facilities' columns, so "in reach" means an eligible facility (NaN access otherwise),
    not a candidate site, a 0–5세 daycare or a centre closed at the slot."""
    cols = pd.Index(times.destination_ids).get_indexer(ids)
    if (cols < 0).any():
        msg = (
            f"{int((cols < 0).sum())} facility id(s) are not in the travel times (e.g. {list(ids[cols < 0][:3])}); "
            "compute travel times for the same facilities"
        )
        raise InputDataError(msg)
    return dataclasses.replace(
        times,
        matrix=times.matrix.tocsc()[:, cols].tocsr(),
        destination_ids=pd.Index(times.destination_ids)[cols],
    )


def gaps(
    scores: pd.DataFrame,
    *,
    by: Sequence[str] = ("zone_id", "adm_code"),
    top: int | None = None,
) -> pd.DataFrame:
    """Ranked gap list of 학구 and 행정동 by unmet demand.

    Parameters
    ----------
    scores
        Output of :func:`access_scores` (needs ``access``, ``unmet_demand`` and
        the demand column; ``children`` is summed when present).
    by
        Area columns, one ranking each: ``"zone_id"`` (학구), ``"adm_code"`` (행정동).
    top
        Keep the first ``top`` rows per level.

    Returns
    -------
    pandas.DataFrame
        One row per area: ``level`` (학구/행정동), ``area_id``, ``rank`` (1 = most
        unmet demand), ``demand``, ``unmet_demand``, ``unmet_pct``,
        ``mean_access`` (demand-weighted, no-access points as 0),
        ``no_access_demand``, ``children``, ``distance_method``. Korean labels in
        :data:`GAP_LABELS_KO`.
    """
    sums = gap_sums(scores, by=by)
    method = scores.attrs.get("distance_method")
    if method is None:
        method = scores["distance_method"].iloc[0] if "distance_method" in scores else "unknown"
    return gaps_from_sums(sums, distance_method=method, top=top)


def gap_sums(
    scores: pd.DataFrame, *, by: Sequence[str] = ("zone_id", "adm_code")
) -> dict[str, pd.DataFrame]:
    """Per area column, the sums :func:`gaps` ranks by (additive over disjoint sets of points,
    so partitions can each return theirs; see :mod:`careplan.scale`)."""
    demand_col = scores.attrs.get("demand_col", "demand")
    need = ["access", "unmet_demand", demand_col, *by]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        msg = (
            f"scores lacks column(s) {missing}; "
            "pass the output of access_scores() on demand points that have them"
        )
        raise MissingColumnError(msg)
    work = pd.DataFrame(
        {
            "demand": scores[demand_col].astype(float),
            "unmet_demand": scores["unmet_demand"].astype(float),
            "weighted_access": scores[demand_col].astype(float) * scores["access"].fillna(0.0),
            "no_access_demand": scores[demand_col]
            .astype(float)
            .where(scores["access"].isna(), 0.0),
            "children": scores["children"].astype(float) if "children" in scores else np.nan,
        }
    )
    return {col: work.groupby(scores[col].to_numpy(), sort=True).sum(min_count=1) for col in by}


def gaps_from_sums(
    sums: dict[str, pd.DataFrame], *, distance_method: str, top: int | None = None
) -> pd.DataFrame:
    """The ranked :func:`gaps` table from :func:`gap_sums` (possibly summed over partitions)."""
    frames = []
    for col, g in sums.items():
        g = g.copy()
        g.index.name = "area_id"
        g = g.reset_index()
        g.insert(0, "level", _LEVEL_KO.get(col, col))
        with np.errstate(divide="ignore", invalid="ignore"):
            g["unmet_pct"] = 100.0 * g["unmet_demand"] / g["demand"]
            g["mean_access"] = g["weighted_access"] / g["demand"]
        g = g.drop(columns="weighted_access").sort_values(
            ["unmet_demand", "unmet_pct", "area_id"],
            ascending=[False, False, True],
            kind="mergesort",
        )
        g.insert(2, "rank", np.arange(1, len(g) + 1))
        frames.append(g.head(top) if top else g)
    out = pd.concat(frames, ignore_index=True)
    out = out[
        [
            "level",
            "area_id",
            "rank",
            "demand",
            "unmet_demand",
            "unmet_pct",
            "mean_access",
            "no_access_demand",
            "children",
        ]
    ]
    out["distance_method"] = distance_method
    out.attrs["distance_method"] = distance_method
    return out


# --------------------------------------------------------------------------- equity


def _floats(values: Any) -> np.ndarray:
    # np.asarray on a Series probes attributes that pandas then looks up in its index: with
    # 584k string ids the first lookup took 0.24 s; to_numpy does not look
    if isinstance(values, (pd.Series, pd.Index)):
        return values.to_numpy(dtype=float).ravel()
    return np.asarray(values, dtype=float).ravel()


def _clean(values: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    x = _floats(values)
    w = np.ones_like(x) if weights is None else _floats(weights)
    if w.shape != x.shape:
        msg = f"values and weights must have the same length, got {x.shape} and {w.shape}"
        raise InputDataError(msg)
    if np.isnan(x).any() or np.isnan(w).any():
        msg = (
            "values / weights contain NaN; for access scores NaN means no facility in reach — "
            "pass scores.fillna(0) to count it as zero access, or drop those points"
        )
        raise InputDataError(msg)
    if (x < 0).any() or (w < 0).any():
        msg = "Gini / Lorenz need values >= 0 and weights >= 0"
        raise InputDataError(msg)
    if w.sum() <= 0:
        msg = "weights sum to 0: nothing to measure"
        raise InputDataError(msg)
    return x, w


def gini(values: Any, weights: Any = None) -> float:
    """Weighted Gini coefficient of ``values`` over a population given by ``weights``.

    ``G = sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mu)``, computed in
    ``O(n log n)`` from the sorted values (exact, no binning). 0 = every child
    has the same access, → 1 = all access with few children. Returns 0 when
    every value is 0.
    """
    x, w = _clean(values, weights)
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    total_w = w.sum()
    mean = np.dot(w, x) / total_w
    if mean == 0:
        return 0.0
    # sum_{i,j} w_i w_j |x_i - x_j| = 2 sum_i w_i x_i (W_before_i - W_after_i), x sorted ascending.
    cum_w = np.cumsum(w)
    before = cum_w - w
    after = total_w - cum_w
    pair_sum = 2.0 * np.dot(w * x, before - after)
    return float(pair_sum / (2.0 * total_w**2 * mean))


def lorenz_curve(values: Any, weights: Any = None) -> pd.DataFrame:
    """Lorenz curve: cumulative share of population vs share of access, poorest first.

    Returns a DataFrame with ``population_share`` and ``value_share`` starting at
    ``(0, 0)`` and ending at ``(1, 1)`` (one row per point plus the origin).
    """
    x, w = _clean(values, weights)
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order]
    mass = w * x
    total = mass.sum()
    pop = np.concatenate([[0.0], np.cumsum(w) / w.sum()])
    val = np.concatenate([[0.0], np.cumsum(mass) / total]) if total > 0 else pop.copy()
    pop[-1], val[-1] = 1.0, 1.0  # exact endpoint despite rounding
    return pd.DataFrame({"population_share": pop, "value_share": val})

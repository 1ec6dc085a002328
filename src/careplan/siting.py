"""Location models for new care centres, solved directly with HiGHS.

Models work on a cost matrix (demand points × candidate sites), dense or
``scipy.sparse`` (a pair that is not stored is unreachable; a stored ``0.0`` is a
co-located pair). They follow the conventions of PySAL spopt so results can be
checked against it:

* a site covers a demand point iff ``cost <= service_radius`` (inclusive);
* MCLP objective = covered weight; LSCP objective = number of sites (fixed ones
  included); p-median objective = ``Σ w_i · min_j∈chosen cost_ij``; p-center
  objective = ``max_i min_j∈chosen cost_ij``.

Every model reduces the problem first (drop demand nobody can cover, merge demand
points with identical coverage sets, drop dominated candidates), starts HiGHS from
a greedy + interchange solution, and returns the best solution with its gap when
the time limit hits, so a call never hangs.

The p-median uses a level ("radius") formulation: one variable per distinct cost
level of each demand point, which is far smaller and tighter than the classical
assignment model, and only the levels up to the distance of a good incumbent are
generated; levels are added where the solution needs them until the model proves
optimality for the full problem.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from ._errors import InfeasibleError, InputDataError, SettingsError

__all__ = [
    "Proposal",
    "SitingResult",
    "care_clusters",
    "cmclp",
    "lscp",
    "mclp",
    "pcenter",
    "pmedian",
    "propose_sites",
]

logger = logging.getLogger(__name__)

_INF = highspy.kHighsInf
#: Exactness by default: HiGHS's own default (1e-4) may stop short of the optimum.
DEFAULT_MIP_REL_GAP = 0.0
DEFAULT_TIME_LIMIT_S = 60.0


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class SitingResult:
    """Outcome of one siting model.

    Attributes
    ----------
    model
        ``"lscp"``, ``"mclp"``, ``"pmedian"``, ``"pcenter"``, ``"cmclp"``, ``"clscp"``, ``"cpmedian"``.
    selected
        Chosen site column indices (fixed sites included), sorted ascending.
    objective
        Objective of ``selected`` recomputed on the original data.
    best_bound
        Best proven bound on the optimum (upper bound for maximisation).
    gap
        Relative gap ``|objective − best_bound| / max(|objective|, 1e-9)``; 0 when proven.
    status
        Solver status string (HiGHS model status, or ``"Optimal"`` when solved by reduction).
    proven_optimal
        True only when the optimum is proven for the full (unreduced) problem.
    runtime_s
        Wall time of the whole call.
    assignment
        Per demand point: index of the chosen site serving it (nearest chosen site
        for uncapacitated models; the site with the largest share when split), −1 if none.
    allocation
        Capacitated models: sparse demand × site matrix of allocated demand.
    covered
        Coverage models: covered weight of each demand point.
    params
        The options the model ran with, and reduction statistics.
    """

    model: str
    selected: np.ndarray
    objective: float
    best_bound: float
    gap: float
    status: str
    proven_optimal: bool
    runtime_s: float
    assignment: np.ndarray | None = None
    allocation: sp.csr_matrix | None = None
    covered: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_selected(self) -> int:
        return int(len(self.selected))


# --------------------------------------------------------------------------- inputs


def _as_csr(cost: Any) -> sp.csr_matrix:
    """Cost as csr: dense non-finite entries and absent sparse entries are unreachable."""
    if sp.issparse(cost):
        mat = sp.csr_matrix(cost, dtype=np.float64, copy=True)
        mat.sum_duplicates()
        mat.sort_indices()
        data = mat.data
    else:
        arr = np.asarray(cost, dtype=np.float64)
        if arr.ndim != 2:
            msg = (
                f"cost must be a 2-D (demand × site) matrix, got shape {arr.shape}; "
                "reshape it or pass a scipy.sparse matrix"
            )
            raise InputDataError(msg)
        mask = np.isfinite(arr)
        indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int64)
        indices = np.nonzero(mask)[1].astype(np.int32)
        data = arr[mask]
        mat = sp.csr_matrix((data, indices, indptr), shape=arr.shape)
    if data.size and (not np.all(np.isfinite(data)) or data.min() < 0):
        msg = (
            "cost must hold finite values >= 0 (travel minutes or metres); "
            "found negative or non-finite stored entries — "
            "store unreachable pairs as absent (sparse) or inf (dense)"
        )
        raise InputDataError(msg)
    return mat


def _row_of(mat: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))


def _filter(mat: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """Entries of ``mat`` where ``keep`` (aligned with ``mat.data``), explicit zeros kept."""
    counts = np.bincount(_row_of(mat)[keep], minlength=mat.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((mat.data[keep], mat.indices[keep], indptr), shape=mat.shape)


def _cols(mat: sp.csr_matrix, cols: np.ndarray) -> sp.csr_matrix:
    """Entries of ``mat`` in the given columns (original column numbering kept)."""
    mask = np.zeros(mat.shape[1], dtype=bool)
    mask[cols] = True
    return _filter(mat, mask[mat.indices])


def _row_min(mat: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per row: minimum stored value (inf if none) and its column (−1 if none)."""
    n = mat.shape[0]
    best = np.full(n, np.inf)
    arg = np.full(n, -1, dtype=np.int64)
    if mat.nnz == 0:
        return best, arg
    order = np.lexsort((mat.indices, mat.data, _row_of(mat)))
    counts = np.diff(mat.indptr)
    nonempty = counts > 0
    first = order[mat.indptr[:-1][nonempty]]
    best[nonempty] = mat.data[first]
    arg[nonempty] = mat.indices[first]
    return best, arg


def _weights(weights: Any, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != (n,):
        msg = f"weights must have one value per demand point ({n}), got shape {w.shape}"
        raise InputDataError(msg)
    if not np.all(np.isfinite(w)) or (w.size and w.min() < 0):
        msg = "weights must be finite and >= 0; replace missing demand with 0"
        raise InputDataError(msg)
    return w


def _site_vector(values: Any, m: int, name: str, default: float) -> np.ndarray:
    if values is None:
        return np.full(m, default, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.shape != (m,):
        msg = f"{name} must have one value per site ({m}), got shape {v.shape}"
        raise InputDataError(msg)
    if not np.all(np.isfinite(v)) or (v.size and v.min() < 0):
        msg = f"{name} must be finite and >= 0, got min {v.min() if v.size else None!r}"
        raise InputDataError(msg)
    return v


def _fixed(fixed: Any, m: int) -> np.ndarray:
    """Fixed (existing) site indices, sorted; accepts indices or a 0/1 mask of length m."""
    if fixed is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(fixed).ravel()
    if arr.dtype == bool:  # a 0/1 mask over sites (spopt's "dummies")
        if arr.size != m:
            msg = f"a boolean fixed mask needs one value per site ({m}), got {arr.size}"
            raise InputDataError(msg)
        arr = np.flatnonzero(arr)
    arr = np.unique(arr.astype(np.int64))
    if arr.size and (arr.min() < 0 or arr.max() >= m):
        msg = f"fixed site indices must be within 0..{m - 1}, got {arr.min()}..{arr.max()}"
        raise InputDataError(msg)
    return arr


def _check_p(p: int | None, m: int, n_fixed: int, *, required: bool) -> int | None:
    if p is None:
        if required:
            msg = "p (number of sites) is required for this model"
            raise SettingsError(msg)
        return None
    p = int(p)
    if p < 1 or p > m:
        msg = (
            f"no feasible solution: p = {p} sites requested "
            f"but the model needs 1 <= p <= {m} (number of candidate sites)"
        )
        raise InfeasibleError(msg)
    if p < n_fixed:
        msg = (
            f"no feasible solution: p = {p} is smaller than the {n_fixed} fixed (existing) sites; "
            "raise p or fix fewer sites"
        )
        raise InfeasibleError(msg)
    return p


# --------------------------------------------------------------------------- solver


@dataclass
class _Mip:
    """A MIP in HiGHS's row-wise form (built by the model functions)."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray  # bool per column
    rows: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    maximize: bool = False
    offset: float = 0.0


@dataclass
class _Solved:
    x: np.ndarray | None
    objective: float
    bound: float
    status: str
    optimal: bool
    col_dual: np.ndarray | None = None


def _run_highs(
    mip: _Mip,
    *,
    start: np.ndarray | None,
    time_limit_s: float,
    mip_rel_gap: float,
    threads: int | None,
    what: str,
    ipm: bool = False,
    options: dict[str, Any] | None = None,
) -> _Solved:
    n_col = len(mip.cost)
    rows = mip.rows.tocsr()
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = rows.shape[0]
    lp.col_cost_ = np.asarray(mip.cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(mip.lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(mip.upper, dtype=np.float64)
    lp.row_lower_ = np.asarray(mip.row_lower, dtype=np.float64)
    lp.row_upper_ = np.asarray(mip.row_upper, dtype=np.float64)
    lp.offset_ = float(mip.offset)
    lp.sense_ = highspy.ObjSense.kMaximize if mip.maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = rows.shape[0]
    lp.a_matrix_.start_ = rows.indptr.astype(np.int32)
    lp.a_matrix_.index_ = rows.indices.astype(np.int32)
    lp.a_matrix_.value_ = rows.data.astype(np.float64)
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
        for flag in mip.integer
    ]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit_s), 0.01))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    # Integer objectives are common (counts, integer metres); an absolute gap below 1e-6 keeps exactness.
    h.setOptionValue("mip_abs_gap", 1e-7)
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    if ipm:  # large degenerate LPs (p-median levels): interior point + crossover beats simplex here
        h.setOptionValue("solver", "ipm")
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    h.passModel(lp)
    if start is not None:
        h.setSolution(n_col, np.arange(n_col, dtype=np.int32), np.asarray(start, dtype=np.float64))
    h.run()
    status = h.getModelStatus()
    label = h.modelStatusToString(status)
    info = h.getInfo()
    if status in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        msg = f"{what}: the solver proved the model infeasible"
        raise InfeasibleError(msg)
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_x else None
    optimal = status == highspy.HighsModelStatus.kOptimal and has_x
    objective = float(info.objective_function_value) if has_x else float("nan")
    bound = float(info.mip_dual_bound) if any(mip.integer) else objective
    if optimal and mip_rel_gap == 0:
        bound = objective if not np.isfinite(bound) else bound
    logger.debug("%s: HiGHS %s, objective %s, bound %s", what, label, objective, bound)
    col_dual = None
    if optimal and not any(mip.integer) and info.dual_solution_status == 2:
        col_dual = np.asarray(h.getSolution().col_dual)
    return _Solved(x, objective, bound, label, optimal, col_dual)


def _solver_time(t0: float, time_limit_s: float) -> float:
    """Time to give HiGHS so the whole call ends by ``time_limit_s``.

    HiGHS checks its clock between LP solves, so a large root LP overshoots the
    limit (by 2–5 s at 20000×1000); keep a margin for that and for post-processing.
    """
    left = time_limit_s - (time.perf_counter() - t0)
    return max(0.01, 0.85 * left - min(1.0, 0.05 * time_limit_s))


def _gap(objective: float, bound: float) -> float:
    if not np.isfinite(bound) or not np.isfinite(objective):
        return float("inf")
    return abs(objective - bound) / max(abs(objective), 1e-9)


def _stack_rows(blocks: list[sp.spmatrix]) -> sp.csr_matrix:
    return sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, 0))


# --------------------------------------------------------------------------- reductions


def _coverage(mat: sp.csr_matrix, service_radius: float) -> sp.csr_matrix:
    """0/1 coverage matrix (inclusive: cost <= radius)."""
    if not np.isfinite(service_radius) or service_radius < 0:
        msg = (
            f"service_radius must be a finite value >= 0 in the cost's unit, got {service_radius!r}"
        )
        raise SettingsError(msg)
    cov = _filter(mat, mat.data <= service_radius)
    cov.data = np.ones_like(cov.data)
    return cov


def _merge_rows(cov: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge demand rows with identical coverage sets (summing weights).

    Returns the group × site matrix, the group weights and the group of every
    original row (−1 for rows with an empty coverage set).
    """
    groups: dict[bytes, int] = {}
    group_of = np.full(cov.shape[0], -1, dtype=np.int64)
    first_row: list[int] = []
    for i in range(cov.shape[0]):
        lo, hi = cov.indptr[i], cov.indptr[i + 1]
        if lo == hi:
            continue
        key = cov.indices[lo:hi].tobytes()
        g = groups.get(key)
        if g is None:
            g = groups[key] = len(first_row)
            first_row.append(i)
        group_of[i] = g
    merged = (
        cov[np.asarray(first_row, dtype=np.int64)]
        if first_row
        else sp.csr_matrix((0, cov.shape[1]))
    )
    gw = np.bincount(group_of[group_of >= 0], weights=w[group_of >= 0], minlength=len(first_row))
    return sp.csr_matrix(merged), gw, group_of


def _undominated(
    cov: sp.csr_matrix,
    candidates: np.ndarray,
    site_cost: np.ndarray,
    site_cap: np.ndarray | None = None,
) -> np.ndarray:
    """Candidate sites not dominated by another candidate.

    Site j is dominated by k when k covers every group j covers, costs no more,
    (and has no less capacity) — and is strictly better or has the lower index,
    so exactly one of a set of twins survives. Dropping j is exact for coverage
    models with a site-count and/or budget limit: any solution using j stays
    feasible and no worse with k instead (or without j if k is already used).
    """
    if candidates.size == 0:
        return candidates
    sub = cov[:, candidates].tocsc()
    size = np.diff(sub.indptr)
    overlap = (sub.T @ sub).tocoo()
    j, k, val = overlap.row, overlap.col, overlap.data
    c = site_cost[candidates]
    sel = (j != k) & (val == size[j]) & (c[k] <= c[j])
    strict = (size[k] > size[j]) | (c[k] < c[j]) | (k < j)
    if site_cap is not None:
        cap = site_cap[candidates]
        sel &= cap[k] >= cap[j]
        strict |= cap[k] > cap[j]
    dominated = np.zeros(len(candidates), dtype=bool)
    dominated[j[sel & strict]] = True
    dominated |= size == 0  # covers nothing that is left to cover
    return candidates[~dominated]


# --------------------------------------------------------------------------- heuristics


def _greedy_cover(
    groups: sp.csr_matrix,
    gw: np.ndarray,
    site_cost: np.ndarray,
    *,
    p: int | None,
    budget: float | None,
    start: list[int] | None = None,
    banned: Any = (),
) -> list[int]:
    """Greedy max-coverage (gain per cost under a budget), columns of ``groups``.

    ``start`` sites are kept and ``banned`` ones never added (the refill step of the
    iterated local search).
    """
    cov_t = groups.T.tocsr()
    chosen: list[int] = list(start or [])
    uncovered = gw.copy()
    for j in chosen:
        uncovered[groups[:, j].indices] = 0.0
    spent = float(site_cost[chosen].sum()) if chosen else 0.0
    limit = groups.shape[1] if p is None else p
    while len(chosen) < limit:
        gain = cov_t @ uncovered
        gain[chosen] = -1
        gain[list(banned)] = -1
        if budget is not None:
            fits = site_cost + spent <= budget + 1e-9
            score = np.where(fits, gain / np.maximum(site_cost, 1e-12), -1)
        else:
            score = gain
        k = int(np.argmax(score))
        if score[k] <= 0:
            break
        chosen.append(k)
        spent += site_cost[k]
        uncovered[groups[:, k].indices] = 0.0
    return chosen


def _cover_value(groups: sp.csr_matrix, gw: np.ndarray, chosen: list[int]) -> float:
    y = np.zeros(groups.shape[1])
    y[list(chosen)] = 1.0
    return float(gw[groups @ y > 0].sum())


def _swap_cover(
    groups: sp.csr_matrix,
    gw: np.ndarray,
    chosen: list[int],
    site_cost: np.ndarray,
    *,
    budget: float | None,
    max_swaps: int = 500,
) -> list[int]:
    """1-opt interchange for max coverage: swap a chosen site for an unchosen one while it gains."""
    if not chosen:
        return chosen
    csc = groups.tocsc()
    cov_t = groups.T.tocsr()
    y = np.zeros(groups.shape[1], dtype=bool)
    y[chosen] = True
    count = np.asarray(csc[:, y].sum(axis=1)).ravel()
    spent = float(site_cost[y].sum())
    swaps = 0
    improved = True
    while improved and swaps < max_swaps:
        improved = False
        for j in np.flatnonzero(y):
            rows_j = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
            only_j = np.zeros_like(count, dtype=bool)
            only_j[rows_j] = count[rows_j] == 1
            loss = gw[only_j].sum()
            value = gw * ((count == 0) | only_j)
            gain = cov_t @ value
            gain[y] = -np.inf
            if budget is not None:
                gain[spent - site_cost[j] + site_cost > budget + 1e-9] = -np.inf
            k = int(np.argmax(gain))
            if gain[k] - loss > 1e-9:
                y[j], y[k] = False, True
                count[rows_j] -= 1
                count[csc.indices[csc.indptr[k] : csc.indptr[k + 1]]] += 1
                spent += site_cost[k] - site_cost[j]
                swaps += 1
                improved = True
    return list(np.flatnonzero(y))


def _nearest_two(
    mat: sp.csr_matrix, chosen: np.ndarray, big: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per demand: nearest chosen cost, its site, and the second-nearest cost (``big`` if absent)."""
    n = mat.shape[0]
    sub = _cols(mat, chosen)
    dense = np.full((n, len(chosen)), big)
    pos = np.full(mat.shape[1], -1, dtype=np.int64)
    pos[chosen] = np.arange(len(chosen))
    dense[_row_of(sub), pos[sub.indices]] = np.minimum(sub.data, big)
    return _two_smallest(dense, np.asarray(chosen), big)


def _two_smallest(
    dense: np.ndarray, chosen: np.ndarray, big: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``dense`` (points × chosen sites): smallest value, its site, second smallest."""
    n = dense.shape[0]
    if len(chosen) == 1:
        return dense[:, 0], np.full(n, chosen[0]), np.full(n, big)
    part = np.argpartition(dense, 1, axis=1)[:, :2]
    a = np.take_along_axis(dense, part, axis=1)
    swap = a[:, 0] > a[:, 1]
    first = np.where(swap, part[:, 1], part[:, 0])
    d1 = np.where(swap, a[:, 1], a[:, 0])
    d2 = np.where(swap, a[:, 0], a[:, 1])
    return d1, chosen[first], d2


def _median_heuristic(
    mat: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    big: float,
    *,
    deadline: float,
    max_passes: int = 30,
) -> np.ndarray:
    """Greedy add then fast interchange (Teitz–Bart style) for the p-median."""
    rows = _row_of(mat)
    m = mat.shape[1]
    current = np.full(mat.shape[0], big)
    chosen = list(fixed)
    if chosen:
        current, _, _ = _nearest_two(mat, np.asarray(chosen), big)
    is_chosen = np.zeros(m, dtype=bool)
    is_chosen[chosen] = True
    while len(chosen) < p:
        saving = np.bincount(
            mat.indices, weights=w[rows] * np.maximum(current[rows] - mat.data, 0), minlength=m
        )
        saving[is_chosen] = -1
        k = int(np.argmax(saving))
        chosen.append(k)
        is_chosen[k] = True
        col = mat.indices == k
        current[rows[col]] = np.minimum(current[rows[col]], mat.data[col])
    chosen_arr = np.asarray(chosen)
    fixed_set = {int(f) for f in fixed}
    for _ in range(max_passes):
        if time.perf_counter() > deadline:
            break
        improved = False
        d1, s1, d2 = _nearest_two(mat, chosen_arr, big)
        total = float(w @ d1)
        for j in chosen_arr:
            if int(j) in fixed_set:
                continue
            # Cost of each demand without j, then the best site to add instead of j.
            without = np.where(s1 == j, d2, d1)
            base = float(w @ without)
            saving = np.bincount(
                mat.indices, weights=w[rows] * np.maximum(without[rows] - mat.data, 0), minlength=m
            )
            saving[chosen_arr] = -1
            k = int(np.argmax(saving))
            if base - saving[k] < total - 1e-9 * max(total, 1):
                chosen_arr = np.where(chosen_arr == j, k, chosen_arr)
                improved = True
                break
        if not improved:
            break
    return np.sort(chosen_arr)


#: Dense row blocks of at most this many entries bound the interchange's memory (~32 MB each).
_DENSE_BLOCK = 4_000_000


def _dense_blocks(mat: sp.csr_matrix, big: float) -> list[tuple[int, int, np.ndarray]]:
    """Row blocks of ``mat`` as dense arrays, unreachable pairs at ``big``."""
    n, m = mat.shape
    step = max(1, _DENSE_BLOCK // max(m, 1))
    out = []
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        block = np.full((hi - lo, m), big)
        sub = mat[lo:hi]
        block[_row_of(sub), sub.indices] = np.minimum(sub.data, big)
        out.append((lo, hi, block))
    return out


def _median_swap(
    mat: sp.csr_matrix,
    w: np.ndarray,
    chosen: np.ndarray,
    fixed: np.ndarray,
    big: float,
    *,
    deadline: float,
    max_swaps: int = 10_000,
) -> np.ndarray:
    """Best-improvement interchange for the p-median, all p × m swaps priced at once.

    With the nearest (d1, site s1) and second-nearest (d2) open costs of each point,
    swapping open j for closed k changes the objective by
    ``−gain_k + loss_j − extra_jk`` where ``gain_k = Σ w·max(0, d1 − d_k)``,
    ``loss_j = Σ_{s1=j} w·(d2 − d1)`` and ``extra_jk = Σ_{s1=j} w·max(0, d2 − max(d_k, d1))``
    (the Resende–Werneck decomposition), so one pass over the matrix prices every swap.
    """
    n, m = mat.shape
    chosen = np.asarray(chosen, dtype=np.int64).copy()
    p = len(chosen)
    if p == 0 or p >= m:
        return np.sort(chosen)
    cached = _dense_blocks(mat, big) if n * m <= 3 * _DENSE_BLOCK else None
    is_fixed = np.zeros(m, dtype=bool)
    is_fixed[fixed] = True
    for _ in range(max_swaps):
        if time.perf_counter() > deadline:
            break
        if cached is not None:  # a column gather of the cached blocks: ~20× cheaper than from csr
            d1, s1, d2 = _two_smallest(
                np.concatenate([block[:, chosen] for _, _, block in cached]), chosen, big
            )
        else:
            d1, s1, d2 = _nearest_two(mat, chosen, big)
        pos = np.full(m, -1)
        pos[chosen] = np.arange(p)
        slot = pos[s1]
        gain = np.zeros(m)
        extra = np.zeros((p, m))
        for lo, hi, block in cached if cached is not None else _dense_blocks(mat, big):
            wb, d1b, d2b = w[lo:hi, None], d1[lo:hi, None], d2[lo:hi, None]
            gain += (wb * np.maximum(d1b - block, 0.0)).sum(axis=0)
            e = wb * np.maximum(d2b - np.maximum(block, d1b), 0.0)
            onehot = sp.csr_matrix(
                (np.ones(hi - lo), (slot[lo:hi], np.arange(hi - lo))), shape=(p, hi - lo)
            )
            extra += onehot @ e
        loss = np.bincount(slot, weights=w * (d2 - d1), minlength=p)
        delta = loss[:, None] - gain[None, :] - extra
        delta[:, chosen] = np.inf
        delta[is_fixed[chosen], :] = np.inf
        j, k = np.unravel_index(int(np.argmin(delta)), delta.shape)
        total = float(w @ d1)
        if not delta[j, k] < -1e-9 * max(abs(total), 1.0):
            break
        chosen[j] = k
    return np.sort(chosen)


def _median_greedy_fill(
    mat: sp.csr_matrix, w: np.ndarray, chosen: list[int], p: int, big: float, banned: Any = ()
) -> np.ndarray:
    """Add the site with the largest saving until ``p`` sites are open."""
    rows = _row_of(mat)
    m = mat.shape[1]
    current = (
        _nearest_two(mat, np.asarray(chosen), big)[0] if chosen else np.full(mat.shape[0], big)
    )
    out = list(chosen)
    while len(out) < p:
        saving = np.bincount(
            mat.indices, weights=w[rows] * np.maximum(current[rows] - mat.data, 0), minlength=m
        )
        saving[out] = -1
        saving[list(banned)] = -1
        k = int(np.argmax(saving))
        out.append(k)
        col = mat.indices == k
        current[rows[col]] = np.minimum(current[rows[col]], mat.data[col])
    return np.asarray(out, dtype=np.int64)


def _median_local_search(
    mat: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    big: float,
    *,
    deadline: float,
    max_rounds: int = 200,
    stall_rounds: int = 25,
    seed: int = 0,
) -> np.ndarray:
    """Greedy, interchange, then kicks: close 1–3 random open sites, refill greedily, interchange again.

    Clustered demand traps plain interchange with two sites in one cluster and none
    in another (1–2 % above the optimum at 5000×300); the kicks move them out.
    Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)

    def value(sel: np.ndarray) -> float:
        return float(w @ _nearest_two(mat, sel, big)[0])

    best = _median_swap(
        mat, w, _median_greedy_fill(mat, w, list(fixed), p, big), fixed, big, deadline=deadline
    )
    best_val, stale = value(best), 0
    movable = np.setdiff1d(best, fixed)
    for _ in range(max_rounds):
        movable = np.setdiff1d(best, fixed)
        if movable.size == 0 or stale >= stall_rounds or time.perf_counter() > deadline:
            break
        drop = rng.choice(
            movable, size=int(rng.integers(1, min(3, movable.size) + 1)), replace=False
        )
        kept = [int(j) for j in best if j not in set(drop.tolist())]
        trial = _median_swap(
            mat,
            w,
            _median_greedy_fill(mat, w, kept, p, big, banned=drop),
            fixed,
            big,
            deadline=deadline,
        )
        val = value(trial)
        stale = 0 if val < best_val - 1e-9 * max(abs(best_val), 1.0) else stale + 1
        if val <= best_val:
            best, best_val = trial, val
    return np.sort(best)


# --------------------------------------------------------------------------- LSCP


def _minimal_rows(cov: sp.csr_matrix, block: int = 2000) -> np.ndarray:
    """Rows whose coverage set contains no other row's set (distinct sets assumed).

    In a set cover a row that is a superset of another is covered whenever the
    smaller one is, so only minimal rows need a constraint. Overlaps are counted by
    dense float32 products (exact below 2**24 sites) over blocks of ``block`` rows,
    which bounds the memory to ``block`` × rows floats besides the dense matrix.
    """
    cov = sp.csr_matrix(cov)
    size = np.diff(cov.indptr).astype(np.float32)
    dense = cov.astype(np.float32).toarray()
    dominated = np.zeros(cov.shape[0], dtype=bool)
    for lo in range(0, cov.shape[0], block):
        inter = dense[lo : lo + block] @ dense.T  # |A ∩ B| for rows A of the block, all rows B
        a_size = size[lo : lo + block, None]
        # A ⊂ B strictly: equal sizes mean equal sets, which merging already made one row
        dominated |= ((inter == a_size) & (size[None, :] > a_size)).any(axis=0)
    return np.flatnonzero(~dominated)


def _lscp_core(
    cov: sp.csr_matrix,
    fixed: np.ndarray,
    *,
    time_limit_s: float,
    mip_rel_gap: float,
    threads: int | None,
    what: str,
) -> tuple[np.ndarray, float, str, bool, dict[str, int]]:
    """Minimum set cover given fixed sites; returns (selected, lower bound, status, proven, stats)."""
    n, m = cov.shape
    covered_by_fixed = np.zeros(n, dtype=bool)
    if fixed.size:
        covered_by_fixed = np.asarray(cov[:, fixed].sum(axis=1)).ravel() > 0
    free = np.setdiff1d(np.arange(m), fixed)
    rest = cov[np.flatnonzero(~covered_by_fixed)]
    groups, gw, _ = _merge_rows(_cols(rest, free), np.ones(rest.shape[0]))
    n_groups = groups.shape[0]
    keep = _undominated(groups, free, np.ones(m))
    for _ in range(10):  # row and column dominance feed each other; a few rounds reach the fixpoint
        groups = groups[_minimal_rows(_cols(groups, keep))]
        smaller = _undominated(groups, keep, np.ones(m))
        if len(smaller) == len(keep):
            break
        keep = smaller
    stats = {
        "demand_rows": int(rest.shape[0]),
        "groups": int(n_groups),
        "rows_after_dominance": int(groups.shape[0]),
        "sites": int(len(keep)),
    }
    if groups.shape[0] == 0:
        return fixed, float(len(fixed)), "Optimal", True, stats
    g = groups[:, keep]
    start_cols = _greedy_cover(g, np.ones(g.shape[0]), np.ones(len(keep)), p=None, budget=None)
    # Drop redundant greedy picks (latest first) so the start is a minimal cover.
    counts = np.asarray(g[:, start_cols].sum(axis=1)).ravel()
    gcsc = g.tocsc()
    for k in reversed(list(start_cols)):
        rows_k = gcsc.indices[gcsc.indptr[k] : gcsc.indptr[k + 1]]
        if np.all(counts[rows_k] >= 2):
            counts[rows_k] -= 1
            start_cols.remove(k)
    start = np.zeros(len(keep))
    start[start_cols] = 1
    mip = _Mip(
        cost=np.ones(len(keep)),
        lower=np.zeros(len(keep)),
        upper=np.ones(len(keep)),
        integer=np.ones(len(keep), dtype=bool),
        rows=g,
        row_lower=np.ones(g.shape[0]),
        row_upper=np.full(g.shape[0], _INF),
    )
    res = _run_highs(
        mip,
        start=start,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        threads=threads,
        what=what,
    )
    x = res.x if res.x is not None else start
    chosen = keep[x > 0.5]
    bound = float(np.ceil(res.bound - 1e-6)) if np.isfinite(res.bound) else 0.0
    return (
        np.sort(np.concatenate([fixed, chosen])),
        bound + len(fixed),
        res.status,
        res.optimal,
        stats,
    )


def lscp(
    cost: Any,
    *,
    service_radius: float,
    fixed: Any = None,
    demand: Any = None,
    capacities: Any = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    threads: int | None = None,
) -> SitingResult:
    """Location set covering: the fewest sites that cover every demand point.

    Parameters
    ----------
    cost
        Demand × site costs (dense, inf = unreachable; or sparse, absent = unreachable).
    service_radius
        A site covers a demand point iff ``cost <= service_radius``.
    fixed
        Indices of sites that are open already (existing centres); they count in the objective.
    demand, capacities
        Capacitated variant (spopt's CLSCP-SO): each point's ``demand`` must be served in full by
        covering sites, split allowed, within each site's capacity. ``demand`` defaults to ones.
    time_limit_s, mip_rel_gap, threads
        HiGHS options; on the time limit the best cover is returned with ``proven_optimal=False``.

    Returns
    -------
    SitingResult
        ``objective`` = number of selected sites (fixed ones included).

    Raises
    ------
    InfeasibleError
        Some demand point has no site within ``service_radius`` (the message gives how many and
        the smallest radius that would work), or capacities cannot serve the demand.
    """
    t0 = time.perf_counter()
    mat = _as_csr(cost)
    n, m = mat.shape
    fixed_idx = _fixed(fixed, m)
    cov = _coverage(mat, service_radius)
    empty = np.flatnonzero(np.diff(cov.indptr) == 0)
    if capacities is not None:
        d = _weights(np.ones(n) if demand is None else demand, n)
        empty = empty[d[empty] > 0]
    if empty.size:
        nearest, _ = _row_min(mat)
        need = float(np.max(nearest))
        hint = (
            f"the smallest radius covering every point is {need:g}"
            if np.isfinite(need)
            else "some points reach no site at all"
        )
        msg = (
            f"LSCP infeasible: {empty.size} demand point(s) have no site within service_radius={service_radius:g} "
            f"(first indices {empty[:10].tolist()}); {hint} — raise the radius or add candidate sites"
        )
        raise InfeasibleError(msg)
    if capacities is not None:
        return _clscp(
            cov,
            d,
            _site_vector(capacities, m, "capacities", 0),
            fixed_idx,
            t0=t0,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
            service_radius=service_radius,
        )
    selected, bound, status, proven, stats = _lscp_core(
        cov,
        fixed_idx,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        threads=threads,
        what="LSCP",
    )
    objective = float(len(selected))
    logger.info("LSCP: %d sites (%d fixed), %s", len(selected), len(fixed_idx), status)
    _, assign = _row_min(_cols(mat, selected))
    return SitingResult(
        "lscp",
        selected,
        objective,
        bound,
        _gap(objective, bound),
        status,
        proven,
        time.perf_counter() - t0,
        assignment=assign,
        params={"service_radius": service_radius, "n_fixed": len(fixed_idx), **stats},
    )


def _clscp(
    cov: sp.csr_matrix,
    d: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    *,
    t0: float,
    time_limit_s: float,
    mip_rel_gap: float,
    threads: int | None,
    service_radius: float,
) -> SitingResult:
    n, m = cov.shape
    if d.sum() > cap.sum() + 1e-9:
        msg = (
            f"capacitated LSCP infeasible: total demand {d.sum():g} exceeds total capacity {cap.sum():g}; "
            "add sites or capacity"
        )
        raise InfeasibleError(msg)
    pairs = cov.tocoo()
    keep = d[pairs.row] > 0
    pi, pj = pairs.row[keep], pairs.col[keep]
    n_x = len(pi)
    # Columns: y (m) then x_e = demand of point i served by site j.
    serve = sp.csr_matrix((np.ones(n_x), (pi, m + np.arange(n_x))), shape=(n, m + n_x))
    load = sp.csr_matrix(
        (
            np.concatenate([-cap, np.ones(n_x)]),
            (
                np.concatenate([np.arange(m), pj]),
                np.concatenate([np.arange(m), m + np.arange(n_x)]),
            ),
        ),
        shape=(m, m + n_x),
    )
    lower = np.zeros(m + n_x)
    lower[fixed] = 1
    mip = _Mip(
        cost=np.concatenate([np.ones(m), np.zeros(n_x)]),
        lower=lower,
        upper=np.concatenate([np.ones(m), np.full(n_x, _INF)]),
        integer=np.concatenate([np.ones(m, dtype=bool), np.zeros(n_x, dtype=bool)]),
        rows=_stack_rows([serve, load]),
        row_lower=np.concatenate([d, np.full(m, -_INF)]),
        row_upper=np.concatenate([d, np.zeros(m)]),
    )
    res = _run_highs(
        mip,
        start=None,
        time_limit_s=time_limit_s - (time.perf_counter() - t0),
        mip_rel_gap=mip_rel_gap,
        threads=threads,
        what="capacitated LSCP",
    )
    if res.x is None:
        msg = f"capacitated LSCP: no feasible cover found within {time_limit_s:g} s ({res.status}); raise time_limit_s"
        raise InfeasibleError(msg)
    selected = np.flatnonzero(res.x[:m] > 0.5)
    alloc = sp.csr_matrix((res.x[m:], (pi, pj)), shape=(n, m))
    alloc.eliminate_zeros()
    objective = float(len(selected))
    bound = float(np.ceil(res.bound - 1e-6))
    return SitingResult(
        "clscp",
        selected,
        objective,
        bound,
        _gap(objective, bound),
        res.status,
        res.optimal,
        time.perf_counter() - t0,
        assignment=_main_share(alloc),
        allocation=alloc,
        covered=np.asarray(alloc.sum(axis=1)).ravel(),
        params={"service_radius": service_radius, "n_fixed": len(fixed)},
    )


def _main_share(alloc: sp.csr_matrix) -> np.ndarray:
    """Site with the largest allocated share per demand row (−1 if none)."""
    neg = alloc.copy()
    neg.data = -neg.data
    _, arg = _row_min(_filter(neg, neg.data < 0))
    return arg


# --------------------------------------------------------------------------- MCLP


#: HiGHS options for the MCLP. A restart throws away the root's search state; with
#: a strong incumbent, one tree proved 5000×300 instances 2–4× faster on several
#: seeds (see benchmarks/results/siting.md).
_MCLP_HIGHS_OPTIONS: dict[str, Any] = {"mip_allow_restart": False}


def _mclp_mip(
    g: sp.csr_matrix, gw: np.ndarray, kc: np.ndarray, p_free: int | None, budget: float | None
) -> _Mip:
    """Columns: y (sites, binary) then u (groups, continuous in [0, 1]) with u_k <= Σ_{j covers k} y_j."""
    mg, ms = g.shape
    link = sp.hstack([-g, sp.identity(mg, format="csr")], format="csr")
    blocks, lo, hi = [link], [np.full(mg, -_INF)], [np.zeros(mg)]
    if p_free is not None:
        blocks.append(sp.csr_matrix(np.concatenate([np.ones(ms), np.zeros(mg)])[None, :]))
        lo.append([-_INF])
        hi.append([p_free])
    if budget is not None:
        blocks.append(sp.csr_matrix(np.concatenate([kc, np.zeros(mg)])[None, :]))
        lo.append([-_INF])
        hi.append([budget])
    return _Mip(
        cost=np.concatenate([np.zeros(ms), gw]),
        lower=np.zeros(ms + mg),
        upper=np.ones(ms + mg),
        integer=np.concatenate([np.ones(ms, dtype=bool), np.zeros(mg, dtype=bool)]),
        rows=_stack_rows(blocks),
        row_lower=np.concatenate(lo),
        row_upper=np.concatenate(hi),
        maximize=True,
    )


def _cover_start(g: sp.csr_matrix, chosen: list[int]) -> np.ndarray:
    y = np.zeros(g.shape[1])
    y[list(chosen)] = 1.0
    return np.concatenate([y, np.minimum(g @ y, 1.0)])


def _reduced_cost_fixing(
    lp_value: float,
    x: np.ndarray,
    dual: np.ndarray,
    target: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary columns whose value is the same in every solution reaching ``target``.

    A column at a bound of the LP optimum with reduced cost ``d`` gives every
    solution that moves it to the other bound an objective of at most
    ``lp_value − |d|``; when that is below ``target`` the column keeps its LP value.
    """
    tol = 1e-7 * max(1.0, abs(lp_value))
    out = lp_value - np.abs(dual) < target - tol
    return out & (x <= 1e-9), out & (x >= 1 - 1e-9)


#: Exact reduced-cost fixing before the MCLP MIP. Measured off: on six 5000×300 seeds
#: (two runs each) it closed 6–83 sites yet made HiGHS 18 % slower in total and slower on
#: 4 of 6 seeds (HiGHS fixes by reduced cost itself at the root). Kept, tested, for instances
#: where the LP gap is small relative to the reduced costs.
_MCLP_RC_FIXING = False

#: Share of the remaining time the support sub-MIP may use (it usually needs < 3 s).
_SUPPORT_SHARE = 0.25


def _support_cover(
    g: sp.csr_matrix,
    gw: np.ndarray,
    kc: np.ndarray,
    y_lp: np.ndarray,
    dual: np.ndarray | None,
    incumbent: list[int],
    *,
    p_free: int | None,
    budget: float | None,
    time_limit_s: float,
    threads: int | None,
) -> list[int]:
    """Best cover among the sites the LP likes: its support, the incumbent, the smallest reduced costs.

    On 5000×300 instances that is a quarter of the sites and the sub-MIP finds the
    optimum or comes within 0.3 % in about a second, where interchange heuristics
    stall 1–3 % below it.
    """
    ms = g.shape[1]
    pick = np.zeros(ms, dtype=bool)
    pick[y_lp > 1e-6] = True
    pick[list(incumbent)] = True
    if dual is not None:
        pick[np.argsort(np.abs(dual[:ms]), kind="stable")[: max(1, int(pick.sum()) // 3)]] = True
    cols = np.flatnonzero(pick)
    sub, sw, _ = _merge_rows(sp.csr_matrix(g[:, cols]), gw)
    pos_of = np.full(ms, -1)
    pos_of[cols] = np.arange(len(cols))
    mip = _mclp_mip(sub, sw, kc[cols], p_free, budget)
    res = _run_highs(
        mip,
        start=_cover_start(sub, [int(pos_of[j]) for j in incumbent]),
        time_limit_s=time_limit_s,
        mip_rel_gap=0.0,
        threads=threads,
        what="MCLP support",
        options=_MCLP_HIGHS_OPTIONS,
    )
    if res.x is None:
        return list(incumbent)
    return [int(j) for j in cols[res.x[: len(cols)] > 0.5]]


def _mclp_core(
    g: sp.csr_matrix,
    gw: np.ndarray,
    kc: np.ndarray,
    *,
    p_free: int | None,
    budget: float | None,
    integral: bool,
    t0: float,
    time_limit_s: float,
    mip_rel_gap: float,
    threads: int | None,
) -> tuple[np.ndarray, str, bool, float, dict[str, Any]]:
    """Solve the reduced MCLP on groups × sites: returns chosen columns, status, proven, bound, stats.

    Steps: greedy + interchange; LP relaxation; a small MIP on the LP's support
    for a strong incumbent; exact reduced-cost fixing (sites whose LP value holds in
    every solution better than the incumbent; off by default, ``_MCLP_RC_FIXING``);
    re-merge the groups on the remaining sites; HiGHS MIP (no restarts) on what is left.
    """
    start = _greedy_cover(g, gw, kc, p=p_free, budget=budget)
    best = _swap_cover(g, gw, start, kc, budget=budget)
    best_val = _cover_value(g, gw, best)
    stats: dict[str, Any] = {"greedy_swap": best_val}
    lp = _mclp_mip(g, gw, kc, p_free, budget)
    lp.integer = np.zeros_like(lp.integer)
    left = _solver_time(t0, time_limit_s)
    res = _run_highs(
        lp, start=None, time_limit_s=left, mip_rel_gap=0.0, threads=threads, what="MCLP LP"
    )
    # A valid upper bound even when the MIP stops before its root: the LP relaxation,
    # or failing that all coverable weight.
    lp_bound = res.objective if res.optimal else float(gw.sum())
    if res.optimal:
        stats["lp_bound"] = res.objective
        sub = _support_cover(
            g,
            gw,
            kc,
            res.x[: g.shape[1]],
            res.col_dual,
            best,
            p_free=p_free,
            budget=budget,
            time_limit_s=_SUPPORT_SHARE * _solver_time(t0, time_limit_s),
            threads=threads,
        )
        sub = _swap_cover(g, gw, sub, kc, budget=budget)
        if _cover_value(g, gw, sub) > best_val:
            best, best_val = sub, _cover_value(g, gw, sub)
    stats["incumbent"] = best_val
    # Better solutions must reach best_val + 1 when every weight is an integer.
    target = best_val + (1.0 if integral else 0.0)
    if res.optimal and res.objective < target - 1e-7 * max(1.0, abs(res.objective)):
        return np.sort(np.asarray(best, dtype=np.int64)), "Optimal", True, best_val, stats
    ms = g.shape[1]
    fix0 = fix1 = np.zeros(ms, dtype=bool)
    if _MCLP_RC_FIXING and res.col_dual is not None:
        fix0, fix1 = _reduced_cost_fixing(res.objective, res.x[:ms], res.col_dual[:ms], target)
    stats.update(fixed_closed=int(fix0.sum()), fixed_open=int(fix1.sum()))
    ones = np.flatnonzero(fix1)
    covered = np.asarray(g[:, ones].sum(axis=1)).ravel() > 0
    free = np.flatnonzero(~fix0 & ~fix1)
    rest = np.flatnonzero(~covered)
    groups, rw, _ = _merge_rows(_cols(g[rest], free), gw[rest])
    cols = _undominated(groups, free, kc)
    p_rest = None if p_free is None else p_free - len(ones)
    b_rest = None if budget is None else budget - float(kc[ones].sum())
    extra = float(gw[covered].sum())
    stats.update(groups_after_fixing=int(groups.shape[0]), sites_after_fixing=int(len(cols)))
    red_chosen = np.zeros(0, dtype=np.int64)
    status, proven, bound = "Optimal", True, extra
    if (
        groups.shape[0]
        and len(cols)
        and (p_rest is None or p_rest > 0)
        and (b_rest is None or b_rest >= 0)
    ):
        rg = sp.csr_matrix(groups[:, cols])
        pos_of = np.full(ms, -1)
        pos_of[cols] = np.arange(len(cols))
        seed_cols = [int(pos_of[j]) for j in best if pos_of[j] >= 0]
        rstart = _greedy_cover(rg, rw, kc[cols], p=p_rest, budget=b_rest, start=seed_cols)
        rstart = _swap_cover(rg, rw, rstart, kc[cols], budget=b_rest)
        mip = _mclp_mip(rg, rw, kc[cols], p_rest, b_rest)
        left = _solver_time(t0, time_limit_s)
        res = _run_highs(
            mip,
            start=_cover_start(rg, rstart),
            time_limit_s=left,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
            what="MCLP",
            options=_MCLP_HIGHS_OPTIONS,
        )
        x = res.x[: len(cols)] if res.x is not None else _cover_start(rg, rstart)[: len(cols)]
        red_chosen = cols[x > 0.5]
        status, proven = res.status, res.optimal
        # HiGHS reports an infinite dual bound when a limit stops it before the root LP.
        bound = min(extra + res.bound, lp_bound) if np.isfinite(res.bound) else lp_bound
    found = np.concatenate([ones, red_chosen]).astype(np.int64)
    found_val = _cover_value(g, gw, list(found))
    if found_val < best_val:  # every solution better than the incumbent lies in the reduced space
        found, found_val = np.asarray(best, dtype=np.int64), best_val
    if integral:  # the optimum is a whole number
        bound = float(np.floor(bound + 1e-6))
    return np.sort(found), status, proven, (found_val if proven else max(bound, found_val)), stats


def mclp(
    cost: Any,
    weights: Any,
    *,
    service_radius: float,
    p: int | None = None,
    budget: float | None = None,
    site_costs: Any = None,
    fixed: Any = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    threads: int | None = None,
) -> SitingResult:
    """Maximal covering location: open sites to cover the most demand weight.

    Parameters
    ----------
    cost
        Demand × site costs (dense, inf = unreachable; or sparse, absent = unreachable).
    weights
        Demand weight per point (children needing care).
    service_radius
        A site covers a point iff ``cost <= service_radius``.
    p
        Total number of sites open, fixed ones included (spopt's ``p_facilities``).
    budget, site_costs
        Instead of (or as well as) ``p``: the opening costs of the new sites may not exceed
        ``budget``. ``site_costs`` defaults to 1 per site; fixed sites cost nothing.
    fixed
        Indices of sites that stay open (existing centres).

    Returns
    -------
    SitingResult
        ``objective`` = covered weight; ``covered`` = covered weight per point;
        ``assignment`` = nearest covering selected site.
    """
    t0 = time.perf_counter()
    mat = _as_csr(cost)
    n, m = mat.shape
    w = _weights(weights, n)
    fixed_idx = _fixed(fixed, m)
    if p is None and budget is None:
        msg = "mclp needs p (number of sites) or budget (with site_costs)"
        raise SettingsError(msg)
    p = _check_p(p, m, len(fixed_idx), required=False)
    c = _site_vector(site_costs, m, "site_costs", 1.0)
    if budget is not None and budget < 0:
        msg = f"no feasible solution: budget must be >= 0, got {budget!r}"
        raise InfeasibleError(msg)
    cov = _coverage(mat, service_radius)
    is_fixed_cov = np.zeros(n, dtype=bool)
    if fixed_idx.size:
        is_fixed_cov = np.asarray(cov[:, fixed_idx].sum(axis=1)).ravel() > 0
    base = float(w[is_fixed_cov].sum())
    free = np.setdiff1d(np.arange(m), fixed_idx)
    if budget is not None:
        free = free[c[free] <= budget + 1e-9]
    live = np.flatnonzero(~is_fixed_cov & (w > 0))
    groups, gw, _ = _merge_rows(_cols(cov[live], free), w[live])
    keep = _undominated(groups, free, c)
    p_free = None if p is None else p - len(fixed_idx)
    stats = {
        "demand_rows": int(len(live)),
        "groups": int(groups.shape[0]),
        "sites": int(len(keep)),
        "sites_before": int(len(free)),
    }
    chosen = np.zeros(0, dtype=np.int64)
    status, proven, bound = "Optimal", True, base
    if groups.shape[0] and len(keep) and (p_free is None or p_free > 0):
        g = sp.csr_matrix(groups[:, keep])
        integral = bool(np.all(gw == np.rint(gw)))
        pos, status, proven, core_bound, core_stats = _mclp_core(
            g,
            gw,
            c[keep],
            p_free=p_free,
            budget=budget,
            integral=integral,
            t0=t0,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
        )
        chosen = keep[pos]
        bound = base + core_bound
        stats.update(core_stats)
    selected = np.concatenate([fixed_idx, chosen])
    if p is not None and len(selected) < p:
        # spopt opens exactly p; extra sites add nothing once the cover is optimal.
        spare = np.setdiff1d(np.arange(m), selected)
        selected = np.concatenate([selected, spare[: p - len(selected)]])
    selected = np.sort(selected)
    covered_mask = np.asarray(cov[:, selected].sum(axis=1)).ravel() > 0
    objective = float(w[covered_mask].sum())
    # The re-scored objective may differ from the core's sum by rounding; the bound stays above it.
    bound = objective if proven else max(bound, objective)
    _, assign = _row_min(_cols(_filter(mat, mat.data <= service_radius), selected))
    logger.info(
        "MCLP: %d sites, covered weight %.6g (bound %.6g), %s",
        len(selected),
        objective,
        bound,
        status,
    )
    return SitingResult(
        "mclp",
        selected,
        objective,
        float(bound),
        _gap(objective, bound),
        status,
        proven,
        time.perf_counter() - t0,
        assignment=assign,
        covered=np.where(covered_mask, w, 0.0),
        params={
            "service_radius": service_radius,
            "p": p,
            "budget": budget,
            "n_fixed": len(fixed_idx),
            **stats,
        },
    )


# --------------------------------------------------------------------------- p-median


def _check_reachable(mat: sp.csr_matrix, w: np.ndarray | None, model: str) -> None:
    empty = np.diff(mat.indptr) == 0
    if w is not None:
        empty &= w > 0
    if empty.any():
        idx = np.flatnonzero(empty)
        msg = (
            f"{model} infeasible: {idx.size} demand point(s) reach no site at all (first indices "
            f"{idx[:10].tolist()}); raise the travel-time cutoff, add candidate sites, or drop those points"
        )
        raise InfeasibleError(msg)


def _level_model(
    mat: sp.csr_matrix,
    w: np.ndarray,
    radius: np.ndarray,
    p: int,
    fixed: np.ndarray,
    tail: np.ndarray | None = None,
) -> tuple[_Mip, np.ndarray, np.ndarray, np.ndarray]:
    """Level ("radius") p-median model truncated at ``radius`` per demand point.

    z_l = 1 means "no open site within the level's cost t_l of the point". The
    rows ``z_l >= z_{l-1} − Σ_{j in (t_{l-1}, t_l]} y_j`` (``z_0 = 1``) telescope
    to the textbook level constraints and are tighter. A point whose nearest
    open site is farther than t_l pays at least the next cost after t_l, written
    t_l⁺, so the objective ``Σ w·(c_first + Σ_l z_l·(t_l⁺ − t_{l-1}⁺))`` is a
    lower bound for any subset of levels, and exact with every level up to the
    point's cost. Kept are all costs up to ``radius`` and, where ``tail`` is
    larger, one coarse level at ``tail``: a cheap row that charges points left
    far from every open site much more than the next cost beyond the radius,
    so fewer spurious (relaxed) solutions reach the MIP. The model is a
    relaxation of the full p-median, exact when no point is served beyond its radius.
    """
    n, m = mat.shape
    rows_all = _row_of(mat)
    inside = mat.data <= radius[rows_all]
    key = np.where(inside, mat.data, np.inf)
    if tail is not None:
        # Every pair in (radius, tail] belongs to one coarse level: the farthest such cost.
        in_tail = ~inside & (mat.data <= tail[rows_all])
        tail_cost = np.full(n, -np.inf)
        np.maximum.at(tail_cost, rows_all[in_tail], mat.data[in_tail])
        key[in_tail] = tail_cost[rows_all[in_tail]]
    kept = np.isfinite(key)
    next_beyond, _ = _row_min(_filter(mat, ~kept))
    kr, kk, kd, kj = rows_all[kept], key[kept], mat.data[kept], mat.indices[kept]
    order = np.lexsort((kj, kd, kk, kr))
    sd, sr, sj, sk = kd[order], kr[order], kj[order], kk[order]
    new = np.ones(len(sd), dtype=bool)
    new[1:] = (sr[1:] != sr[:-1]) | (sk[1:] != sk[:-1])
    level = np.cumsum(new) - 1
    n_lev = int(level[-1]) + 1 if len(level) else 0
    lev_row, lev_cost = sr[new], sk[new]
    lev_min = sd[new]  # cheapest actual cost in each level (sorted by cost within a level)
    first = np.ones(n_lev, dtype=bool)
    first[1:] = lev_row[1:] != lev_row[:-1]
    last = np.ones(n_lev, dtype=bool)
    last[:-1] = lev_row[1:] != lev_row[:-1]
    nxt = np.empty(n_lev)  # t_l⁺: the next actual cost after the level
    nxt[:-1] = lev_min[1:]
    nxt[last] = next_beyond[lev_row[last]]
    prev_nxt = np.empty(n_lev)
    prev_nxt[1:] = nxt[:-1]
    prev_nxt[first] = lev_min[first]
    reachable = np.isfinite(nxt)
    coef = np.where(reachable, w[lev_row] * (nxt - np.where(reachable, prev_nxt, 0)), 0.0)
    ids = np.arange(n_lev)
    prev = ids[~first]
    r_idx = np.concatenate([ids, prev, level])
    c_idx = np.concatenate([m + ids, m + prev - 1, sj])
    vals = np.concatenate([np.ones(n_lev), -np.ones(len(prev)), np.ones(len(sj))])
    rows = sp.csr_matrix((vals, (r_idx, c_idx)), shape=(n_lev, m + n_lev))
    card = sp.csr_matrix(
        (np.ones(m), (np.zeros(m, dtype=np.int64), np.arange(m))), shape=(1, m + n_lev)
    )
    lower = np.zeros(m + n_lev)
    lower[fixed] = 1
    upper = np.concatenate([np.ones(m), np.where(reachable, 1.0, 0.0)])
    offset = float(w[lev_row[first]] @ lev_min[first])  # every point pays at least its nearest cost
    mip = _Mip(
        cost=np.concatenate([np.zeros(m), coef]),
        lower=lower,
        upper=upper,
        integer=np.concatenate([np.ones(m, dtype=bool), np.zeros(n_lev, dtype=bool)]),
        rows=_stack_rows([rows, card]),
        row_lower=np.concatenate([first.astype(float), [p]]),
        row_upper=np.concatenate([np.full(n_lev, _INF), [p]]),
        offset=offset,
    )
    return mip, lev_row, lev_cost, last & reachable


def _extend_radius(mat: sp.csr_matrix, rows: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Radius that doubles the number of cost levels (at least +4) of the given rows."""
    out = radius.copy()
    for i in rows:
        levels = np.unique(mat.data[mat.indptr[i] : mat.indptr[i + 1]])
        k = int(np.searchsorted(levels, radius[i], side="right"))
        out[i] = levels[min(len(levels) - 1, max(2 * k, k + 4) - 1)]
    return out


def _next_levels(mat: sp.csr_matrix, radius: np.ndarray, extra: int) -> np.ndarray:
    """Per row, the radius moved out past ``extra`` more stored costs (ties count once each)."""
    if extra <= 0 or mat.nnz == 0:
        return radius
    rows = _row_of(mat)
    sorted_data = mat.data[np.lexsort((mat.data, rows))]
    inside = np.bincount(rows[mat.data <= radius[rows]], minlength=mat.shape[0])
    pos = np.minimum(mat.indptr[:-1] + inside + extra - 1, mat.indptr[1:] - 1)
    has = mat.indptr[1:] > mat.indptr[:-1]
    out = radius.copy()
    out[has] = np.maximum(radius[has], sorted_data[pos[has]])
    return out


def _nearest_cost(mat: sp.csr_matrix, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _row_min(_cols(mat, np.asarray(chosen, dtype=np.int64)))


#: Seconds at most for greedy + interchange + kicks before the Lagrangian (which polishes further).
_HEURISTIC_S = 4.0

#: The Lagrangian polishes its open set by interchange every this many iterations. Rarer
#: polishing (80–100) or a 2 s heuristic saves 1–3 s but leaves a worse incumbent on some
#: seeds, which closes fewer sites (5000×300 seed 5000: 188–196 instead of 208; seed 3 with
#: a 2 s heuristic: 164 instead of 203), and the MIP pays more than was saved.
_POLISH_EVERY = 40

#: Levels start at this multiple of each point's Lagrangian reach λ_i / w_i.
_REACH_FACTOR = 1.0

#: Share of the time limit the Lagrangian bound may use (it usually stops far sooner).
_LAGRANGE_SHARE = 0.3

#: Coarse tail level of the level model at this multiple of each point's radius (None: no tail).
_TAIL_FACTOR: float | None = None

#: Grow the levels on the LP relaxation before the first MIP round. Off: at 5000×300 the
#: grown levels still left relaxed MIP optima beyond the radius (2 MIP rounds on 3 of 3 seeds,
#: 6–18 s of LPs); a fixed margin of ``_EXTRA_LEVELS`` costs less.
_LP_GROWTH = False

#: Levels kept beyond max(incumbent cost, Lagrangian reach) of each point before the first
#: MIP round: relaxed optima that serve a point just beyond its radius cost a whole MIP round
#: (seeds 5000/3/1 at 5000×300, CPU s of the MIP rounds: 0 extra 36.6/30.6/–,
#: 1 extra 29.7/15.1/10.8, 2 extra 26.2/21.4/16.8).
_EXTRA_LEVELS = 1

#: HiGHS options for the p-median MIP rounds: interior point for the large, degenerate
#: level LPs (17.6 -> 10.3 s on one 5000×300 MIP, seed 5000), and no RINS/RENS sub-MIPs:
#: HiGHS's other heuristics find the relaxed optimum as fast, and the sub-MIPs re-solve
#: large LPs (CPU s of the MIP rounds, seeds 5000/3/1: 33.9/17.6/11.2 and 27.9/15.7/11.0
#: with them, 19.9/15.6/8.3 and 21.8/16.8/8.3 without). ``mip_pscost_minreliable=0`` and
#: ``mip_heuristic_effort=0`` measured no better.
_PMEDIAN_MIP_OPTIONS: dict[str, Any] = {
    "mip_lp_solver": "ipm",
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
}

#: Polish each MIP round's solution by interchange (a better incumbent for the next round).
_POLISH_ROUNDS = True


@dataclass(frozen=True)
class _Lagrange:
    bound: float
    proven: bool
    closed: np.ndarray  # sites closed in every solution better than the incumbent
    opened: np.ndarray  # sites open in every such solution
    iterations: int
    incumbent: np.ndarray  # best sites found (the input or better)
    upper: float
    multipliers: np.ndarray  # λ of the best bound; λ_i / w_i is the LP's reach of point i


def _median_lagrangian(
    mat: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    incumbent: np.ndarray,
    big: float,
    *,
    integral: bool,
    deadline: float,
    max_iterations: int = 600,
    radius_factor: float | None = None,
    heuristic_every: int = 40,
) -> _Lagrange:
    """Lagrangian bound of the p-median (assignment rows relaxed) and exact site fixing.

    For multipliers λ, site j costs ``ρ_j = Σ_i min(0, w_i·c_ij − λ_i)`` and the
    bound is ``Σ λ + Σ_{p cheapest open} ρ``: the LP bound at the best λ, found by
    subgradient steps towards ``upper`` (the incumbent). Forcing a site in or out of
    the cheapest set raises the bound by a known amount; when the raised bound
    exceeds every value better than the incumbent, the site's state is fixed. The
    fixings hold for any λ, so they accumulate over the iterations.

    Optional speed-up: ``radius_factor`` caps λ_i at ``w_i·R_i`` with ``R_i = radius_factor ×``
    the point's incumbent cost; pairs beyond ``R_i`` then never price below zero and
    are dropped (any λ gives a valid bound). Off by default: at 5000×300 a cap of 4×
    halved the time but lowered the bound from 190.7 M to 189.1 M and fixed half as many sites.
    Every ``heuristic_every`` iterations the Lagrangian's open set is polished by
    interchange, which often improves the incumbent (and so the fixing).
    """
    n, m = mat.shape
    inc = np.sort(np.asarray(incumbent, dtype=np.int64))
    inc_cost = _nearest_two(mat, inc, big)[0]
    upper = float(w @ inc_cost)
    full = mat
    cap = np.full(n, np.inf)
    if radius_factor is not None:
        cap = radius_factor * inc_cost
        mat = _filter(mat, mat.data < cap[_row_of(mat)])
    all_rows = _row_of(mat)
    all_wc = w[all_rows] * mat.data
    is_fixed = np.zeros(m, dtype=bool)
    is_fixed[fixed] = True
    k = p - len(fixed)  # free sites to open
    free = np.flatnonzero(~is_fixed)
    # Better solutions are at most upper − 1 when weights and costs are integers; slack for float sums.
    target = upper - (1.0 if integral else 0.0) + 1e-9 * max(abs(upper), 1.0) * 100
    closed = np.zeros(m, dtype=bool)
    opened = np.zeros(m, dtype=bool)
    lam_cap = w * cap
    lam = np.minimum(w * inc_cost, lam_cap)
    # Only pairs with w_i·c_ij < λ_i price below zero. Keep the pairs under a per-point
    # threshold above λ (a fraction of the 1.5 M pairs at 5000×300) and re-select them
    # whenever some λ_i passes its threshold, so every step stays exact.
    slack = 0.5 * w * float(np.median(inc_cost)) + 1e-12
    thresh = np.full(n, -np.inf)
    best, step, stale, it, best_lam = -np.inf, 2.0, 0, 0, lam.copy()
    for it in range(1, max_iterations + 1):
        if np.any(lam >= thresh):
            thresh = np.maximum(thresh, 1.5 * lam + slack)
            near = all_wc < thresh[all_rows]
            wc, rows, cols = all_wc[near], all_rows[near], mat.indices[near]
        v = wc - lam[rows]
        neg = v < 0
        rho = np.bincount(cols[neg], weights=v[neg], minlength=m)
        order = free[np.argsort(rho[free], kind="stable")]
        open_ = np.concatenate([fixed, order[:k]]).astype(np.int64)
        value = float(lam.sum() + rho[open_].sum())
        if k > 0:
            last = rho[order[k - 1]]
            nxt = rho[order[k]] if k < len(order) else np.inf
            out = np.ones(m, dtype=bool)
            out[open_] = False
            closed |= out & (value + rho - last > target)
            inside = np.zeros(m, dtype=bool)
            inside[order[:k]] = True
            opened |= inside & (value - rho + nxt > target)
        if value > best + 1e-9 * abs(best if np.isfinite(best) else 1.0):
            best, stale, best_lam = value, 0, lam.copy()
        else:
            stale += 1
            if stale >= 15:
                step, stale = step / 2, 0
        if best > target or step < 1e-3 or time.perf_counter() > deadline:
            break
        if heuristic_every and it % heuristic_every == 0 and k > 0:
            trial = _median_swap(full, w, open_, fixed, big, deadline=deadline)
            val = float(w @ _nearest_two(full, trial, big)[0])
            if (
                val < upper
            ):  # earlier fixings stay valid: they covered every value below the old incumbent
                inc, upper = trial, val
                target = upper - (1.0 if integral else 0.0) + 1e-9 * max(abs(upper), 1.0) * 100
        is_open = np.zeros(m, dtype=bool)
        is_open[open_] = True
        grad = 1.0 - np.bincount(rows[neg & is_open[cols]], minlength=n)
        grad[((lam >= lam_cap) & (grad > 0)) | ((lam <= 0) & (grad < 0))] = (
            0.0  # projected on the box
        )
        norm = float(grad @ grad)
        if norm == 0:  # λ is optimal: every point served exactly once
            break
        lam = np.clip(
            lam + step * max(upper - value, 1e-9 * abs(upper)) / norm * grad, 0.0, lam_cap
        )
    logger.debug(
        "p-median Lagrangian: bound %.10g after %d iterations, %d sites closed, %d opened",
        best,
        it,
        closed.sum(),
        opened.sum(),
    )
    return _Lagrange(float(best), bool(best > target), closed, opened, it, inc, upper, best_lam)


def _pmedian_levels(
    sub: sp.csr_matrix,
    wl: np.ndarray,
    p: int,
    fixed_idx: np.ndarray,
    best_y: np.ndarray,
    *,
    t0: float,
    time_limit_s: float,
    mip_rel_gap: float,
    threads: int | None,
    reach: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float, str, bool, int]:
    """Exact p-median by the level model, grown from the incumbent ``best_y``.

    Row generation in the manner of García, Labbé & Marín (2011): each round solves
    the level MIP truncated at a per-point radius, a relaxation (``_level_model``).
    When its optimum's true cost equals its relaxed value, it is optimal for the full
    problem; otherwise the points it serves beyond their radius get their levels up
    to that cost and the MIP is solved again. ``reach`` (per point, e.g. λ_i / w_i of
    a Lagrangian) starts the levels further out, and ``_EXTRA_LEVELS`` more costs per
    point spare most of the rounds that relaxed optima just beyond the radius cost.

    Returns (sites, objective, lower bound, status, proven, rounds).
    """
    m = sub.shape[1]
    big = float(sub.data.max() * 10 + 1) if sub.nnz else 1.0
    d_best, _ = _nearest_cost(sub, best_y)
    best_val = float(wl @ d_best)
    radius = d_best.copy() if reach is None else np.maximum(d_best, reach)
    radius = _next_levels(sub, radius, _EXTRA_LEVELS)
    lower_bound, status, proven, rounds = -np.inf, "Heuristic", False, 0
    # Grow levels on the LP relaxation first (cheap): stop when the LP uses no truncated level,
    # so the truncated LP bound equals the full radius-formulation bound.
    lp_deadline = t0 + 0.5 * time_limit_s  # leave the MIP rounds at least half of the time
    for _ in range(60 if _LP_GROWTH else 0):
        left = lp_deadline - time.perf_counter()
        if left <= 0.05:
            break
        mip, lev_row, _, last = _level_model(sub, wl, radius, p, fixed_idx)
        mip.integer = np.zeros_like(mip.integer)
        res = _run_highs(
            mip,
            start=None,
            time_limit_s=left,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
            what="p-median LP",
            ipm=True,
        )
        if not res.optimal:
            break
        lower_bound = max(
            lower_bound, res.objective
        )  # a relaxation of a relaxation: still a valid bound
        active = np.unique(lev_row[last & (res.x[m:] > 1e-7)])
        if active.size == 0:
            lower_bound = res.objective
            break
        radius = _extend_radius(sub, active, radius)
    while True:
        left = _solver_time(t0, time_limit_s)
        if left <= 0.05:
            status = "Time limit reached"
            break
        rounds += 1
        tail = None if _TAIL_FACTOR is None else _TAIL_FACTOR * radius
        mip, lev_row, lev_cost, _ = _level_model(sub, wl, radius, p, fixed_idx, tail)
        y0 = np.zeros(m)
        y0[best_y] = 1
        z0 = (d_best[lev_row] > lev_cost).astype(float)
        res = _run_highs(
            mip,
            start=np.concatenate([y0, z0]),
            time_limit_s=left,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
            what="p-median",
            options=_PMEDIAN_MIP_OPTIONS,
        )
        status = res.status
        if np.isfinite(res.bound):
            lower_bound = max(lower_bound, res.bound)
        if res.x is None:
            break
        y = np.flatnonzero(res.x[:m] > 0.5)
        d, _ = _nearest_cost(sub, y)
        val = float(wl @ d)
        if val < best_val:
            best_y, best_val, d_best = y, val, d
        tol = 1e-9 * max(abs(best_val), 1.0)
        if _POLISH_ROUNDS and res.optimal and best_val > res.objective + tol:
            # A relaxed optimum that serves points beyond their radius is often a few swaps from
            # a better incumbent, which tightens HiGHS's cut-off in the next round.
            polished = _median_swap(
                sub,
                wl,
                y,
                fixed_idx,
                big,
                deadline=min(time.perf_counter() + 2.0, t0 + 0.9 * time_limit_s),
            )
            d_pol, _ = _nearest_cost(sub, polished)
            if float(wl @ d_pol) < best_val:
                best_y, best_val, d_best = polished, float(wl @ d_pol), d_pol
        tol = 1e-9 * max(abs(best_val), 1.0)
        if res.optimal and best_val <= res.objective + tol:
            proven, lower_bound = True, best_val
            break
        if not res.optimal:
            break
        grow = d > radius
        if not grow.any():  # cannot happen for an exact relaxation; guard against a loop
            break
        radius = np.maximum(radius, d)
    return np.sort(best_y), best_val, float(lower_bound), status, proven, rounds


def pmedian(
    cost: Any,
    weights: Any,
    *,
    p: int,
    fixed: Any = None,
    capacities: Any = None,
    fill_fixed: bool = False,
    split: bool = False,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    threads: int | None = None,
) -> SitingResult:
    """p-median: open ``p`` sites minimising total weighted cost to the nearest open site.

    Parameters
    ----------
    cost
        Demand × site costs (dense, inf = unreachable; or sparse, absent = unreachable).
        Every point with weight > 0 must reach some site.
    weights
        Demand weight per point.
    p
        Total number of sites open, fixed ones included.
    fixed
        Indices of sites that stay open.
    capacities
        Capacitated p-median (spopt's capacitated ``PMedian``): each site serves at most its
        capacity, demand may be split. Solved with the assignment formulation (small cases).
    fill_fixed
        With ``capacities``: fixed sites must be used to exactly their capacity
        (spopt's ``fulfill_predefined_fac``).
    split
        With ``capacities``: allow a point's demand to be split across sites. The
        default (False) assigns each point to one site, as spopt does.

    Returns
    -------
    SitingResult
        ``objective = Σ w_i · cost to the nearest chosen site``; ``assignment`` = that site.
    """
    t0 = time.perf_counter()
    mat = _as_csr(cost)
    n, m = mat.shape
    w = _weights(weights, n)
    fixed_idx = _fixed(fixed, m)
    p = _check_p(p, m, len(fixed_idx), required=True)
    _check_reachable(mat, w, "p-median")
    if capacities is not None:
        return _cpmedian(
            mat,
            w,
            _site_vector(capacities, m, "capacities", 0),
            p,
            fixed_idx,
            fill_fixed=fill_fixed,
            split=split,
            t0=t0,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
        )
    live = np.flatnonzero(w > 0)
    sub = mat[live]
    wl = w[live]
    big = float(sub.data.max() * 10 + 1) if sub.nnz else 1.0
    best_y = _median_local_search(
        sub, wl, p, fixed_idx, big, deadline=t0 + min(0.1 * time_limit_s, _HEURISTIC_S)
    )
    best_val = float(wl @ _nearest_cost(sub, best_y)[0])
    integral = bool(np.all(wl == np.rint(wl)) and np.all(sub.data == np.rint(sub.data)))
    lag = _median_lagrangian(
        sub,
        wl,
        p,
        fixed_idx,
        best_y,
        big,
        integral=integral,
        deadline=t0 + _LAGRANGE_SHARE * time_limit_s,
        heuristic_every=_POLISH_EVERY,
    )
    stats = {
        "heuristic": best_val,
        "lagrangian_incumbent": lag.upper,
        "lagrangian_bound": lag.bound,
        "fixed_closed": int(lag.closed.sum()),
        "fixed_open": int(lag.opened.sum()),
        "lagrangian_iterations": lag.iterations,
    }
    best_y, best_val = lag.incumbent, lag.upper
    keep_cols = np.flatnonzero(~lag.closed)
    red = _cols(sub, keep_cols)[:, keep_cols] if keep_cols.size else None
    lower_bound, status, proven, rounds = lag.bound, "Optimal", True, 0
    if not lag.proven and red is not None and np.all(np.diff(red.indptr) > 0):
        # Every solution better than the incumbent opens only kept sites, and the opened ones.
        red_fixed = np.flatnonzero(
            np.isin(keep_cols, np.union1d(fixed_idx, np.flatnonzero(lag.opened)))
        )
        pos_of = np.full(m, -1)
        pos_of[keep_cols] = np.arange(keep_cols.size)
        start = [int(pos_of[j]) for j in best_y if pos_of[j] >= 0]
        start = _median_greedy_fill(red, wl, sorted(set(start) | set(red_fixed.tolist())), p, big)
        start = _median_swap(
            red, wl, start, red_fixed, big, deadline=time.perf_counter() + 0.05 * time_limit_s
        )
        reach = _REACH_FACTOR * lag.multipliers / np.maximum(wl, 1e-300)
        y, val, bound, status, proven, rounds = _pmedian_levels(
            red,
            wl,
            p,
            red_fixed,
            start,
            t0=t0,
            time_limit_s=time_limit_s,
            mip_rel_gap=mip_rel_gap,
            threads=threads,
            reach=reach,
        )
        lower_bound = max(lower_bound, min(bound, best_val))
        if val < best_val:
            best_y, best_val = keep_cols[y], val
        if proven:
            lower_bound = best_val
    selected = np.sort(best_y)
    d_all, assign = _nearest_cost(mat, selected)
    objective = float(w[live] @ d_all[live])
    bound = objective if proven else float(lower_bound)
    logger.info(
        "p-median: p=%d, objective %.10g, bound %.10g, %d level round(s), %s",
        p,
        objective,
        bound,
        rounds,
        status,
    )
    return SitingResult(
        "pmedian",
        selected,
        objective,
        bound,
        _gap(objective, bound),
        status,
        proven,
        time.perf_counter() - t0,
        assignment=assign,
        params={"p": p, "n_fixed": len(fixed_idx), "rounds": rounds, **stats},
    )


def _cpmedian(
    mat: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    p: int,
    fixed: np.ndarray,
    *,
    fill_fixed: bool,
    split: bool,
    t0: float,
    time_limit_s: float,
    mip_rel_gap: float,
    threads: int | None,
) -> SitingResult:
    n, m = mat.shape
    top = np.sort(cap)[-p:].sum()
    if top < w.sum() - 1e-9:
        msg = (
            f"capacitated p-median infeasible: the {p} largest capacities hold {top:g} but demand totals "
            f"{w.sum():g}; raise p or the capacities"
        )
        raise InfeasibleError(msg)
    if fill_fixed and cap[fixed].sum() > w.sum() + 1e-9:
        msg = (
            f"capacitated p-median infeasible: fixed sites must be filled to {cap[fixed].sum():g} but demand "
            f"totals only {w.sum():g}; set fill_fixed=False"
        )
        raise InfeasibleError(msg)
    coo = mat.tocoo()
    pi, pj, pc = coo.row, coo.col, coo.data
    e = len(pi)
    ye = np.arange(e)
    assign_rows = sp.csr_matrix((np.ones(e), (pi, m + ye)), shape=(n, m + e))
    load = sp.csr_matrix(
        (
            np.concatenate([w[pi], -cap]),
            (np.concatenate([pj, np.arange(m)]), np.concatenate([m + ye, np.arange(m)])),
        ),
        shape=(m, m + e),
    )
    open_rows = sp.csr_matrix(
        (
            np.concatenate([np.ones(e), -np.ones(e)]),
            (np.concatenate([ye, ye]), np.concatenate([m + ye, pj])),
        ),
        shape=(e, m + e),
    )
    card = sp.csr_matrix(
        (np.ones(m), (np.zeros(m, dtype=np.int64), np.arange(m))), shape=(1, m + e)
    )
    load_lo = np.full(m, -_INF)
    if fill_fixed:
        load_lo[fixed] = 0.0
    lower = np.zeros(m + e)
    lower[fixed] = 1
    mip = _Mip(
        cost=np.concatenate([np.zeros(m), w[pi] * pc]),
        lower=lower,
        upper=np.ones(m + e),
        integer=np.concatenate([np.ones(m, dtype=bool), np.full(e, not split)]),
        rows=_stack_rows([assign_rows, load, open_rows, card]),
        row_lower=np.concatenate([np.ones(n), load_lo, np.full(e, -_INF), [p]]),
        row_upper=np.concatenate([np.ones(n), np.zeros(m), np.zeros(e), [p]]),
    )
    res = _run_highs(
        mip,
        start=None,
        time_limit_s=time_limit_s - (time.perf_counter() - t0),
        mip_rel_gap=mip_rel_gap,
        threads=threads,
        what="capacitated p-median",
    )
    if res.x is None:
        msg = f"capacitated p-median: no feasible solution found within {time_limit_s:g} s ({res.status})"
        raise InfeasibleError(msg)
    selected = np.flatnonzero(res.x[:m] > 0.5)
    share = sp.csr_matrix((res.x[m:], (pi, pj)), shape=(n, m))
    share.eliminate_zeros()
    alloc = sp.csr_matrix(sp.diags(w) @ share)
    objective = float(np.asarray(share.multiply(mat).sum(axis=1)).ravel() @ w)
    bound = objective if res.optimal else res.bound
    return SitingResult(
        "cpmedian",
        selected,
        objective,
        float(bound),
        _gap(objective, bound),
        res.status,
        res.optimal,
        time.perf_counter() - t0,
        assignment=_main_share(share),
        allocation=alloc,
        params={"p": p, "n_fixed": len(fixed), "fill_fixed": fill_fixed, "split": split},
    )


# --------------------------------------------------------------------------- p-center


def pcenter(
    cost: Any,
    *,
    p: int,
    fixed: Any = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    threads: int | None = None,
) -> SitingResult:
    """p-center: open ``p`` sites minimising the largest cost from a point to its nearest open site.

    Solved exactly as a search over the distinct cost values: the optimum is the
    smallest value ``r`` for which a set cover of radius ``r`` needs at most ``p``
    sites (each cover is a small LSCP, proven by HiGHS). This avoids the weak
    big-M formulation that makes p-center slow in general MIP solvers.

    Returns
    -------
    SitingResult
        ``objective = max_i min_{j chosen} cost_ij``; ``assignment`` = nearest chosen site.
    """
    t0 = time.perf_counter()
    mat = _as_csr(cost)
    n, m = mat.shape
    fixed_idx = _fixed(fixed, m)
    p = _check_p(p, m, len(fixed_idx), required=True)
    _check_reachable(mat, None, "p-center")
    nearest, _ = _row_min(mat)
    lo_value = float(nearest.max())  # no solution beats every point's own nearest site
    big = float(mat.data.max() * 10 + 1)
    heur = _median_heuristic(mat, np.ones(n), p, fixed_idx, big, deadline=t0 + 0.1 * time_limit_s)
    best_sel = heur
    best_val = float(_nearest_cost(mat, heur)[0].max())
    values = np.unique(mat.data)
    values = values[(values >= lo_value) & (values < best_val)]
    lo, hi = 0, len(values)  # answer index in [lo, hi]; hi means "best_val itself"
    status, undecided, solves = "Optimal", False, 0
    while lo < hi:
        left = time_limit_s - (time.perf_counter() - t0)
        if left <= 0.05:
            undecided, status = True, "Time limit reached"
            break
        mid = (lo + hi) // 2
        r = float(values[mid])
        cov = _coverage(mat, r)
        sel, count_lb, st, proven, _ = _lscp_core(
            cov,
            fixed_idx,
            time_limit_s=left,
            mip_rel_gap=0.0,
            threads=threads,
            what="p-center cover",
        )
        solves += 1
        if len(sel) <= p:
            best_sel, best_val, hi = sel, float(_nearest_cost(mat, sel)[0].max()), mid
            # the cover's real radius may be below r: skip values above it
            hi = min(hi, int(np.searchsorted(values, best_val)))
        elif proven or count_lb > p:
            lo = mid + 1
        else:
            undecided, status = True, st
            break
    if len(best_sel) < p:
        # Pad to exactly p sites (spopt opens p); extra sites never raise the maximum.
        spare = np.setdiff1d(np.arange(m), best_sel)
        best_sel = np.concatenate([best_sel, spare[: p - len(best_sel)]])
    selected = np.sort(best_sel)
    d, assign = _nearest_cost(mat, selected)
    objective = float(d.max())
    bound = objective if not undecided else float(values[lo]) if lo < len(values) else objective
    proven = not undecided
    logger.info(
        "p-center: p=%d, objective %.10g after %d cover solve(s), %s", p, objective, solves, status
    )
    return SitingResult(
        "pcenter",
        selected,
        objective,
        bound,
        _gap(objective, bound),
        "Optimal" if proven else status,
        proven,
        time.perf_counter() - t0,
        assignment=assign,
        params={"p": p, "n_fixed": len(fixed_idx), "cover_solves": solves},
    )


# --------------------------------------------------------------------------- capacitated MCLP


def _greedy_capacitated(
    groups: sp.csr_matrix,
    gw: np.ndarray,
    cap: np.ndarray,
    site_cost: np.ndarray,
    start: np.ndarray,
    *,
    p: int | None,
    budget: float | None,
) -> np.ndarray:
    """Greedy start for the capacitated MCLP: add the site that can take the most residual demand."""
    csc = groups.tocsc()
    residual = gw.copy()
    load = np.zeros(groups.shape[1])
    chosen = list(start)
    spent = 0.0

    def fill(j: int) -> None:
        rows = csc.indices[csc.indptr[j] : csc.indptr[j + 1]]
        room = cap[j] - load[j]
        for g in rows[np.argsort(-residual[rows])]:
            if room <= 0:
                break
            take = min(room, residual[g])
            residual[g] -= take
            room -= take
            load[j] += take

    for j in chosen:
        fill(j)
    limit = groups.shape[1] if p is None else p
    is_chosen = np.zeros(groups.shape[1], dtype=bool)
    is_chosen[chosen] = True
    while len(chosen) < limit:
        reach = groups.T @ residual
        gain = np.minimum(reach, cap)
        gain[is_chosen] = -1
        if budget is not None:
            gain = np.where(
                site_cost + spent <= budget + 1e-9, gain / np.maximum(site_cost, 1e-12), -1
            )
        k = int(np.argmax(gain))
        if gain[k] <= 0:
            break
        chosen.append(k)
        is_chosen[k] = True
        spent += site_cost[k]
        fill(k)
    return is_chosen


def cmclp(
    cost: Any,
    weights: Any,
    capacities: Any,
    *,
    service_radius: float,
    p: int | None = None,
    budget: float | None = None,
    site_costs: Any = None,
    fixed: Any = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    mip_rel_gap: float = DEFAULT_MIP_REL_GAP,
    threads: int | None = None,
) -> SitingResult:
    """Capacitated maximal covering: cover the most demand that open sites can actually take.

    Demand of a point may be split across the open sites that cover it; a site
    serves at most its capacity. Covered demand = demand assigned within capacity.

    Parameters
    ----------
    cost, weights, service_radius, p, budget, site_costs, fixed
        As in :func:`mclp`; ``p`` counts fixed sites too, and fixed sites use their capacity.
    capacities
        Places per site (existing centres and candidates alike).

    Returns
    -------
    SitingResult
        ``objective`` = assigned demand; ``allocation`` = demand × site matrix of assigned
        children; ``covered`` = assigned demand per point.
    """
    t0 = time.perf_counter()
    mat = _as_csr(cost)
    n, m = mat.shape
    w = _weights(weights, n)
    cap = _site_vector(capacities, m, "capacities", 0.0)
    fixed_idx = _fixed(fixed, m)
    if p is None and budget is None:
        msg = "cmclp needs p (number of sites) or budget (with site_costs)"
        raise SettingsError(msg)
    p = _check_p(p, m, len(fixed_idx), required=False)
    c = _site_vector(site_costs, m, "site_costs", 1.0)
    c[fixed_idx] = 0.0  # existing centres are paid for already
    cov = _coverage(mat, service_radius)
    live = np.flatnonzero(w > 0)
    groups, gw, group_of_live = _merge_rows(cov[live], w[live])
    is_fixed = np.zeros(m, dtype=bool)
    is_fixed[fixed_idx] = True
    free = np.flatnonzero(~is_fixed & (cap > 0))
    if budget is not None:
        free = free[c[free] <= budget + 1e-9]
    keep = np.sort(np.concatenate([fixed_idx, _undominated(groups, free, c, cap)]))
    g = sp.csr_matrix(groups[:, keep])
    mg, ms = g.shape
    kc, kcap = c[keep], cap[keep]
    fixed_pos = np.flatnonzero(is_fixed[keep])
    start_y = _greedy_capacitated(g, gw, kcap, kc, fixed_pos, p=p, budget=budget)
    coo = g.tocoo()
    gi, gj = coo.row, coo.col
    e = len(gi)
    xe = ms + np.arange(e)
    # Columns: y (ms) then x_e = demand of group gi[e] served by site gj[e].
    demand_rows = sp.csr_matrix((np.ones(e), (gi, xe)), shape=(mg, ms + e))
    cap_rows = sp.csr_matrix(
        (
            np.concatenate([np.ones(e), -kcap]),
            (np.concatenate([gj, np.arange(ms)]), np.concatenate([xe, np.arange(ms)])),
        ),
        shape=(ms, ms + e),
    )
    # x_e <= min(w_g, C_j)·y_j: redundant for integers, but it tightens the LP bound a lot.
    link = sp.csr_matrix(
        (
            np.concatenate([np.ones(e), -np.minimum(gw[gi], kcap[gj])]),
            (np.concatenate([np.arange(e), np.arange(e)]), np.concatenate([xe, gj])),
        ),
        shape=(e, ms + e),
    )
    blocks = [demand_rows, cap_rows, link]
    lo = [np.full(mg, -_INF), np.full(ms, -_INF), np.full(e, -_INF)]
    hi = [gw, np.zeros(ms), np.zeros(e)]
    if p is not None:
        blocks.append(
            sp.csr_matrix(
                (np.ones(ms), (np.zeros(ms, dtype=np.int64), np.arange(ms))), shape=(1, ms + e)
            )
        )
        lo.append([-_INF])
        hi.append([p])
    if budget is not None:
        blocks.append(
            sp.csr_matrix((kc, (np.zeros(ms, dtype=np.int64), np.arange(ms))), shape=(1, ms + e))
        )
        lo.append([-_INF])
        hi.append([budget])
    lower = np.zeros(ms + e)
    lower[fixed_pos] = 1
    mip = _Mip(
        cost=np.concatenate([np.zeros(ms), np.ones(e)]),
        lower=lower,
        upper=np.concatenate([np.ones(ms), np.full(e, _INF)]),
        integer=np.concatenate([np.ones(ms, dtype=bool), np.zeros(e, dtype=bool)]),
        rows=_stack_rows(blocks),
        row_lower=np.concatenate(lo),
        row_upper=np.concatenate(hi),
        maximize=True,
    )
    start = _allocation_start(g, gw, kcap, start_y)
    res = _run_highs(
        mip,
        start=np.concatenate([start_y.astype(float), start]),
        time_limit_s=time_limit_s - (time.perf_counter() - t0),
        mip_rel_gap=mip_rel_gap,
        threads=threads,
        what="capacitated MCLP",
    )
    x = res.x if res.x is not None else np.concatenate([start_y.astype(float), start])
    chosen_pos = np.flatnonzero(x[:ms] > 0.5)
    group_alloc = sp.csr_matrix((np.maximum(x[ms:], 0), (gi, keep[gj])), shape=(mg, m))
    # Split each group's allocation back over its member points in proportion to their demand.
    member_share = np.zeros(n)
    member_share[live] = w[live] / gw[group_of_live].clip(min=1e-300)
    member_group = np.full(n, -1)
    member_group[live] = group_of_live
    has = member_group >= 0
    alloc = sp.csr_matrix(
        sp.diags(np.where(has, member_share, 0.0)) @ group_alloc[np.where(has, member_group, 0)]
    )
    alloc.eliminate_zeros()
    selected = np.sort(keep[chosen_pos])
    if p is not None and len(selected) < p:
        spare = np.setdiff1d(np.arange(m), selected)
        selected = np.sort(np.concatenate([selected, spare[: p - len(selected)]]))
    covered = np.asarray(alloc.sum(axis=1)).ravel()
    objective = float(covered.sum())
    bound = objective if res.optimal else res.bound
    logger.info(
        "capacitated MCLP: %d sites, assigned demand %.6g (bound %.6g), %s",
        len(selected),
        objective,
        bound,
        res.status,
    )
    return SitingResult(
        "cmclp",
        selected,
        objective,
        float(bound),
        _gap(objective, bound),
        res.status,
        res.optimal,
        time.perf_counter() - t0,
        assignment=_main_share(alloc),
        allocation=alloc,
        covered=covered,
        params={
            "service_radius": service_radius,
            "p": p,
            "budget": budget,
            "n_fixed": len(fixed_idx),
            "groups": int(mg),
            "sites": int(ms),
        },
    )


def _allocation_start(
    g: sp.csr_matrix, gw: np.ndarray, cap: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Max assignment for fixed open sites (an LP), giving HiGHS a complete start vector."""
    coo = g.tocoo()
    e = len(coo.row)
    if e == 0:
        return np.zeros(0)
    ub = np.where(y[coo.col], np.minimum(gw[coo.row], cap[coo.col]), 0.0)
    rows = _stack_rows(
        [
            sp.csr_matrix((np.ones(e), (coo.row, np.arange(e))), shape=(g.shape[0], e)),
            sp.csr_matrix((np.ones(e), (coo.col, np.arange(e))), shape=(g.shape[1], e)),
        ]
    )
    lp = _Mip(
        cost=np.ones(e),
        lower=np.zeros(e),
        upper=ub,
        integer=np.zeros(e, dtype=bool),
        rows=rows,
        row_lower=np.full(rows.shape[0], -_INF),
        row_upper=np.concatenate([gw, cap]),
        maximize=True,
    )
    res = _run_highs(
        lp, start=None, time_limit_s=30.0, mip_rel_gap=0.0, threads=None, what="allocation"
    )
    return np.zeros(e) if res.x is None else np.clip(res.x, 0, ub)


# --------------------------------------------------------------------------- planning layer


@dataclass(frozen=True, eq=False)
class Proposal:
    """Ranked proposed sites (GeoDataFrame, EPSG:5179) and the model result behind them."""

    sites: Any  # geopandas.GeoDataFrame, index site_id
    result: SitingResult
    covered_by_existing: float
    total_demand: float


def _cost_for(travel: Any, origin_ids: Any, dest_ids: list[str]) -> sp.csr_matrix:
    """Cost matrix (demand × [existing, candidates]) from a TravelTimes or a matrix in that column order."""
    from .network import TravelTimes

    if not isinstance(travel, TravelTimes):
        mat = _as_csr(travel)
        if mat.shape != (len(origin_ids), len(dest_ids)):
            msg = (
                f"cost matrix shape {mat.shape} does not match demand × (existing + candidates) "
                f"= ({len(origin_ids)}, {len(dest_ids)}); pass a TravelTimes or reorder the columns"
            )
            raise InputDataError(msg)
        return mat
    if not travel.origin_ids.astype(str).equals(origin_ids.astype(str)):
        msg = "travel times' origin ids differ from the demand points' index; compute travel times for these points"
        raise InputDataError(msg)
    col_of = {str(d): j for j, d in enumerate(travel.destination_ids)}
    missing = [d for d in dest_ids if d not in col_of]
    if missing:
        msg = (
            f"{len(missing)} site id(s) are not destinations of the travel times (first {missing[:5]}); "
            "recompute them"
        )
        raise InputDataError(msg)
    new_of_old = np.full(len(travel.destination_ids), -1)
    new_of_old[[col_of[d] for d in dest_ids]] = np.arange(len(dest_ids))
    mat = travel.matrix.tocsr()
    keep = new_of_old[mat.indices] >= 0
    rows = _row_of(mat)[keep]
    # Build through COO: explicit 0.0 (co-located) entries survive, nothing is eliminated.
    out = sp.coo_matrix(
        (mat.data[keep], (rows, new_of_old[mat.indices[keep]])), shape=(mat.shape[0], len(dest_ids))
    )
    return _as_csr(out)


def _hour_label(minutes: float | None) -> str:
    if minutes is None:
        return "운영시간 미정"
    h, m = divmod(int(minutes), 60)
    return f"{h}시 운영 기준" if m == 0 else f"{h}시 {m}분 운영 기준"


def propose_sites(
    demand: Any,
    existing: Any,
    candidates: Any,
    travel: Any,
    *,
    kind: str,
    n_new: int | None = None,
    budget: float | None = None,
    max_walk_min: float = 10.0,
    capacitated: bool = False,
    weight_col: str = "demand",
    sido: str | None = None,
    default_site_cost: float = 1.0,
    catalog: dict | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Proposal:
    """Propose and rank new centres of one kind that add the most demand within a walk.

    Parameters
    ----------
    demand
        ``demand_points`` (index ``point_id``, column ``weight_col``).
    existing
        Existing facilities (index ``facility_id``); they stay open. ``capacity`` is used when
        ``capacitated`` (missing → the catalog default of the facility's ``kind``).
    candidates
        ``candidate_sites`` (see :mod:`careplan.candidates`), already filtered.
    travel
        ``careplan.network.TravelTimes`` with origins = demand points and destinations
        including every existing and candidate id; or a matrix with columns
        ``[existing…, candidates…]``.
    kind
        Catalog kind of the new centres (capacity, closing hour, 키움 Seoul-only rule).
    n_new, budget
        Number of new centres, and/or a budget over the candidates' ``cost`` column
        (missing → ``default_site_cost``).
    max_walk_min
        Walk threshold: a point is served iff its walk time is ``<= max_walk_min``.
    capacitated
        Use the capacitated MCLP (covered = demand the centres can actually take).

    Returns
    -------
    Proposal
        ``sites``: ranked GeoDataFrame (EPSG:5179) with ``rank``, ``kind``, ``kind_label``,
        ``capacity``, ``marginal_demand`` (added covered demand given the existing centres and
        the higher-ranked new ones), ``cumulative_demand``, ``cumulative_share`` and a Korean
        ``explanation``; ``result``: the :class:`SitingResult`.
    """
    import geopandas as gpd

    from .candidates import check_kind_allowed, kind_capacity, prepare_candidates
    from .catalog import get_catalog

    cat = catalog or get_catalog()
    check_kind_allowed(kind, sido, cat)
    cands = prepare_candidates(candidates)
    if weight_col not in demand:
        from ._errors import MissingColumnError

        msg = f"demand points need a {weight_col!r} column; got {list(demand.columns)}"
        raise MissingColumnError(msg)
    w = demand[weight_col].fillna(0).to_numpy(float)
    ex_ids = [str(i) for i in existing.index]
    dest = ex_ids + [str(i) for i in cands.index]
    mat = _cost_for(travel, demand.index, dest)
    n_ex = len(ex_ids)
    fixed = np.arange(n_ex)
    costs = np.concatenate(
        [np.zeros(n_ex), cands["cost"].fillna(default_site_cost).to_numpy(float)]
    )
    cap_new = kind_capacity(kind, cat)
    # fewer candidates than asked: every candidate may be proposed (the ranking says which help)
    p = None if n_new is None else n_ex + min(int(n_new), len(cands))
    if capacitated:
        ex_cap = existing["capacity"] if "capacity" in existing else np.full(n_ex, np.nan)
        default = np.array(
            [
                kind_capacity(k, cat) if k in cat else 0.0
                for k in existing.get("kind", [kind] * n_ex)
            ]
        )
        caps = np.concatenate(
            [
                np.where(np.isnan(np.asarray(ex_cap, float)), default, np.asarray(ex_cap, float)),
                np.full(len(cands), cap_new),
            ]
        )
        res = cmclp(
            mat,
            w,
            caps,
            service_radius=max_walk_min,
            p=p,
            budget=budget,
            site_costs=costs,
            fixed=fixed,
            time_limit_s=time_limit_s,
        )
    else:
        res = mclp(
            mat,
            w,
            service_radius=max_walk_min,
            p=p,
            budget=budget,
            site_costs=costs,
            fixed=fixed,
            time_limit_s=time_limit_s,
        )
    cov = _coverage(mat, max_walk_min)
    base_mask = (
        np.asarray(cov[:, fixed].sum(axis=1)).ravel() > 0 if n_ex else np.zeros(len(w), dtype=bool)
    )
    new_cols = [int(j) for j in res.selected if j >= n_ex]
    if capacitated:
        loads = np.asarray(res.allocation.sum(axis=0)).ravel()
        base = float(loads[:n_ex].sum())
        order = sorted(new_cols, key=lambda j: -loads[j])
        gains = [float(loads[j]) for j in order]
    else:
        base = float(w[base_mask].sum())
        order, gains = _rank_by_gain(cov, w, base_mask, new_cols)
    entry = cat[kind]
    close = entry.term_hours[1] if entry.term_hours else None
    keep = [i for i, g in enumerate(gains) if g > 0]  # padding sites (gain 0) are not proposals
    order = [order[i] for i in keep]
    gains = [gains[i] for i in keep]
    total = float(w.sum())
    sites = cands.iloc[[j - n_ex for j in order]].copy()
    sites.insert(0, "rank", np.arange(1, len(order) + 1))
    sites["kind"] = kind
    sites["kind_label"] = entry.label_ko
    sites["capacity"] = cap_new
    sites["marginal_demand"] = gains
    sites["cumulative_demand"] = base + np.cumsum(gains) if gains else []
    sites["cumulative_share"] = sites["cumulative_demand"] / total if total > 0 else np.nan
    verb = "배정" if capacitated else "추가"
    sites["explanation"] = [
        f"{max_walk_min:g}분 거리 안 돌봄 수요 {g:,.0f}명 {verb} ({_hour_label(close)})"
        for g in gains
    ]
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=cands.crs)
    logger.info(
        "propose_sites: %d new %s, demand within %g min %.6g → %.6g of %.6g",
        len(order),
        kind,
        max_walk_min,
        base,
        base + sum(gains),
        total,
    )
    return Proposal(sites, res, base, total)


def _rank_by_gain(
    cov: sp.csr_matrix, w: np.ndarray, base_mask: np.ndarray, cols: list[int]
) -> tuple[list[int], list[float]]:
    """Order chosen sites greedily by the demand each adds given the existing and higher-ranked ones."""
    covered = base_mask.copy()
    csc = cov.tocsc()
    left, order, gains = list(cols), [], []
    while left:
        best = max(
            left,
            key=lambda j: (
                w[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]]
                * ~covered[csc.indices[csc.indptr[j] : csc.indptr[j + 1]]]
            ).sum(),
        )
        rows = csc.indices[csc.indptr[best] : csc.indptr[best + 1]]
        gains.append(float((w[rows] * ~covered[rows]).sum()))
        covered[rows] = True
        order.append(best)
        left.remove(best)
    return order, gains


def care_clusters(
    facilities: Any,
    cost: Any,
    *,
    n_hubs: int | None = None,
    hubs: Any = None,
    weight_col: str | None = None,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Any:
    """Group facilities into 돌봄클러스터 around hubs (one intake desk per cluster, 김천 plan).

    Parameters
    ----------
    facilities
        Facilities (index ``facility_id``).
    cost
        Facility × facility travel times: a ``TravelTimes`` (origins = destinations =
        facilities) or a square matrix in the facilities' order.
    n_hubs
        Choose this many hubs among the facilities by a p-median (total time of every
        facility to its hub, weighted by ``weight_col`` if given).
    hubs
        Or give the hub facility ids; each facility joins its nearest hub.

    Returns
    -------
    pandas.DataFrame
        Index ``facility_id``; ``hub_id``, ``time_to_hub`` (cost units, minutes for TravelTimes),
        ``is_hub``.
    """
    import pandas as pd

    ids = [str(i) for i in facilities.index]
    mat = _cost_for(cost, facilities.index, ids)
    n = len(ids)
    # every facility reaches itself at no cost, whatever the travel-time table stored
    diag = sp.csr_matrix((np.zeros(n), (np.arange(n), np.arange(n))), shape=(n, n))
    coo = mat.tocoo()
    off = coo.row != coo.col
    mat = _as_csr(
        sp.coo_matrix(
            (
                np.concatenate([coo.data[off], diag.data]),
                (
                    np.concatenate([coo.row[off], np.arange(n)]),
                    np.concatenate([coo.col[off], np.arange(n)]),
                ),
            ),
            shape=(n, n),
        )
    )
    if (n_hubs is None) == (hubs is None):
        msg = "care_clusters needs exactly one of n_hubs (choose hubs) or hubs (given hub ids)"
        raise SettingsError(msg)
    if hubs is not None:
        pos = {d: j for j, d in enumerate(ids)}
        unknown = [h for h in map(str, hubs) if h not in pos]
        if unknown:
            msg = f"hub id(s) {unknown[:5]} are not facility ids; pick hubs from the facilities' index"
            raise InputDataError(msg)
        chosen = np.array(sorted(pos[h] for h in map(str, hubs)))
        _check_reachable(_cols(mat, chosen), None, "care clusters (no hub within reach)")
    else:
        w = np.ones(n) if weight_col is None else facilities[weight_col].fillna(0).to_numpy(float)
        chosen = pmedian(mat, np.maximum(w, 1e-9), p=n_hubs, time_limit_s=time_limit_s).selected
    d, arg = _nearest_cost(mat, chosen)
    out = pd.DataFrame(
        {"hub_id": [ids[j] for j in arg], "time_to_hub": d}, index=pd.Index(ids, name="facility_id")
    )
    out["is_hub"] = out.index == out["hub_id"]
    return out

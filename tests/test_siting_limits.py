"""MCLP stopped early by a solver limit reports a finite, valid bound and its gap.

HiGHS's node limit stands in for the time limit: it stops the branch and bound at
the same point on every machine, where a wall-clock limit depends on the CPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from careplan import siting


@pytest.fixture(scope="module")
def instance():
    rng = np.random.default_rng(0)
    cost = rng.random((800, 120)) * 10
    w = rng.integers(1, 20, 800).astype(float)
    return cost, w, 0.3, 8


def _lp_relaxation(cost, w, radius, p):
    """max Σ w_i u_i  s.t. u_i ≤ Σ_{j covers i} y_j, Σ y_j = p, 0 ≤ y, u ≤ 1."""
    a = (cost <= radius).astype(float)
    n, m = a.shape
    link = sp.hstack([-sp.csr_matrix(a), sp.identity(n)])
    res = linprog(
        np.concatenate([np.zeros(m), -w]),
        A_ub=link,
        b_ub=np.zeros(n),
        A_eq=np.concatenate([np.ones(m), np.zeros(n)])[None, :],
        b_eq=[p],
        bounds=(0, 1),
        method="highs",
    )
    assert res.status == 0
    return -res.fun


def _limited(monkeypatch, instance, nodes):
    monkeypatch.setattr(
        siting, "_MCLP_HIGHS_OPTIONS", {**siting._MCLP_HIGHS_OPTIONS, "mip_max_nodes": nodes}
    )
    cost, w, radius, p = instance
    return siting.mclp(cost, w, service_radius=radius, p=p, time_limit_s=60)


def _check_gap(r, cost, w, radius):
    assert not r.proven_optimal
    assert np.isfinite(r.best_bound) and np.isfinite(r.gap)
    assert r.best_bound >= r.objective
    assert r.gap == pytest.approx((r.best_bound - r.objective) / r.objective, rel=1e-12)
    covered = (cost[:, r.selected] <= radius).any(axis=1)
    assert r.objective == float(w[covered].sum())


def test_stopped_before_root_reports_lp_bound(monkeypatch, instance):
    # With no node HiGHS has no dual bound (it reports inf); the LP relaxation is still one.
    cost, w, radius, p = instance
    r = _limited(monkeypatch, instance, 0)
    _check_gap(r, cost, w, radius)
    assert r.status == "Solution limit reached"
    # Integer weights: the optimum is a whole number, so the LP bound is rounded down.
    assert r.best_bound == np.floor(_lp_relaxation(cost, w, radius, p) + 1e-6) == 2477.0
    assert r.objective == 2341.0 and r.gap == pytest.approx(136 / 2341)


def test_stopped_in_tree_reports_highs_bound(monkeypatch, instance):
    cost, w, radius, p = instance
    r = _limited(monkeypatch, instance, 1)
    _check_gap(r, cost, w, radius)
    # HiGHS's dual bound after the root is tighter than the LP relaxation and is the one reported.
    assert r.best_bound < np.floor(_lp_relaxation(cost, w, radius, p))
    exact = siting.mclp(cost, w, service_radius=radius, p=p, time_limit_s=60)
    assert r.best_bound >= exact.objective >= r.objective


def test_exact_optimum_unchanged(instance):
    cost, w, radius, p = instance
    r = siting.mclp(cost, w, service_radius=radius, p=p, time_limit_s=60)
    assert r.proven_optimal and r.status == "Optimal"
    assert r.gap == 0 and r.best_bound == r.objective == 2373.0

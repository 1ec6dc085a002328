"""careplan.siting against spopt's peer answers, brute force, and the infeasible cases."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from careplan import siting
from careplan._errors import InfeasibleError, InputDataError

REL = 1e-9


def _load(peer_cases, name):
    return np.load(peer_cases / "instances" / name, allow_pickle=True)


def _json(peer_cases, name):
    return json.loads((peer_cases / "expected" / name).read_text())


# --------------------------------------------------------------------------- spopt San Francisco


@pytest.fixture(scope="module")
def sf(peer_cases):
    z = _load(peer_cases, "spopt_sf_205x16.npz")
    return z["cost"], z["weights"], _json(peer_cases, "spopt_sf_205x16.json")


@pytest.mark.parametrize("block", ["models", "models_highs"])
def test_sf_main_models_match_spopt(sf, block):
    cost, w, exp = sf
    m = exp[block]
    r = siting.mclp(cost, w, service_radius=5000, p=4)
    assert r.proven_optimal and r.objective == m["MCLP"]["objective"] == 875247.0
    assert (
        int((r.covered == 0).sum())
        == exp["asserted_by_peer_tests"]["MCLP(S=5000,p=4).n_cli_uncov"]
        == 21
    )
    r = siting.lscp(cost, service_radius=5000)
    assert r.objective == m["LSCP"]["objective"] == 8
    # every point is covered by the returned sites
    assert np.all((cost[:, r.selected] <= 5000).any(axis=1))
    r = siting.pmedian(cost, w, p=4)
    assert r.objective == pytest.approx(m["PMedian"]["objective"], rel=REL)
    assert r.objective / w.sum() == pytest.approx(
        exp["asserted_by_peer_tests"]["PMedian(p=4).mean_dist"], rel=REL
    )
    r = siting.pcenter(cost, p=4)
    assert r.objective == pytest.approx(m["PCenter"]["objective"], abs=1e-4)
    assert r.proven_optimal and r.gap == 0


@pytest.mark.parametrize("family", ["MCLP_S5000", "MCLP_S3000", "PMedian", "PCenter"])
def test_sf_p_sweeps_match_spopt(sf, family):
    cost, w, exp = sf
    for p_text, case in exp["p_sweep_CBC"][family].items():
        p = int(p_text)
        if family.startswith("MCLP"):
            r = siting.mclp(cost, w, service_radius=float(family[6:]), p=p)
            assert r.objective == case["objective"], p
        elif family == "PMedian":
            r = siting.pmedian(cost, w, p=p)
            assert r.objective == pytest.approx(case["objective"], rel=REL), p
        else:
            r = siting.pcenter(cost, p=p)
            assert r.objective == pytest.approx(case["objective"], abs=1e-4), p
        assert r.proven_optimal and len(r.selected) == p


def test_sf_infeasible_cases_raise(sf):
    cost, w, exp = sf
    assert set(exp["infeasible_cases"]) == {"MCLP_p1000", "LSCP_S20", "PMedian_p0", "PCenter_p0"}
    with pytest.raises(InfeasibleError, match="p = 1000"):
        siting.mclp(cost, w, service_radius=5000, p=1000)
    with pytest.raises(
        InfeasibleError, match=r"205 demand point\(s\) have no site within service_radius=20"
    ) as err:
        siting.lscp(cost, service_radius=20)
    # the message names the radius that would work (the peers' min feasible LSCP radius)
    assert f"{exp['min_feasible_lscp_radius']:g}" in str(err.value)
    with pytest.raises(InfeasibleError):
        siting.pmedian(cost, w, p=0)
    with pytest.raises(InfeasibleError):
        siting.pcenter(cost, p=0)
    # just above / at the minimum radius LSCP becomes feasible
    assert siting.lscp(cost, service_radius=exp["min_feasible_lscp_radius"]).objective >= 1


# --------------------------------------------------------------------------- spopt lattice


def _lattice_case(name):
    m = re.match(
        r"(MCLP|LSCP|PMedian|PCenter)_(cost|euclid)(?:_S(\d+))?(?:_p(\d+))?(?:_predef_(\d+))?$",
        name,
    )
    model, metric, radius, p, bits = m.groups()
    fixed = None if bits is None else [i for i, b in enumerate(bits) if b == "1"]
    return model, metric, radius and float(radius), p and int(p), fixed


def test_lattice_cases_match_spopt(peer_cases):
    z = _load(peer_cases, "spopt_lattice_100x5.npz")
    exp = _json(peer_cases, "spopt_lattice_100x5.json")["cases"]
    assert len(exp) == 9
    for name, case in exp.items():
        model, metric, radius, p, fixed = _lattice_case(name)
        cost = z["cost"] if metric == "cost" else z["cost_euclid"]
        w = z["weights"]
        if model == "MCLP":
            r = siting.mclp(cost, w, service_radius=radius, p=p, fixed=fixed)
            if "n_cli_uncov" in case:
                assert int((r.covered == 0).sum()) == case["n_cli_uncov"]
        elif model == "LSCP":
            r = siting.lscp(cost, service_radius=radius, fixed=fixed)
        elif model == "PMedian":
            r = siting.pmedian(cost, w, p=p, fixed=fixed)
        else:
            r = siting.pcenter(cost, p=p, fixed=fixed)
        assert r.objective == pytest.approx(case["objective"], rel=1e-7), name
        assert r.proven_optimal, name
        if fixed:
            assert set(fixed) <= set(r.selected.tolist()), name
        if "selected" in case.get("peer_asserts", {}) and model == "PMedian":
            assert r.selected.tolist() == case["peer_asserts"]["selected"]


# --------------------------------------------------------------------------- synthetic instances


@pytest.mark.parametrize("size", ["100x20", "1000x100"])
def test_synth_optima_match_peer(peer_cases, size):
    z = _load(peer_cases, f"synth_{size}.npz")
    exp = _json(peer_cases, f"synth_{size}.json")
    exact = _json(peer_cases, f"exact_synth_{size}.json")["runs"]
    meta = exp["meta"]
    cost, w = z["cost"], z["weights"]
    models = exp["models"]
    r = siting.mclp(cost, w, service_radius=meta["service_radius_mclp"], p=meta["p"])
    assert r.objective == models["MCLP"]["objective"] == exact["MCLP"]["objective"]
    r = siting.lscp(cost, service_radius=meta["service_radius_lscp"])
    assert r.objective == models["LSCP"]["objective"]
    r = siting.pmedian(cost, w, p=meta["p"])
    assert r.objective == models["PMedian"]["objective"] == exact["PMedian"]["objective"]
    assert r.proven_optimal
    # p-center has a proven peer optimum only where the peer run finished (not for 1000x100)
    proven_runs = [
        run
        for run in exp["runs"]
        if run["model"] == "PCenter" and run["solve_s"] < 0.9 * run["time_limit_s"]
    ]
    r = siting.pcenter(cost, p=meta["p"])
    assert r.proven_optimal
    for run in proven_runs:
        assert r.objective == run["objective"]
    for run in exp["runs"]:  # never worse than anything the peer found
        if run["model"] == "PCenter":
            assert r.objective <= run["objective"]


def test_synth_existing_centres_fixed(peer_cases):
    z = _load(peer_cases, "synth_100x20.npz")
    cost, w, fixed = z["cost"], z["weights"], z["existing_idx"]
    r = siting.mclp(cost, w, service_radius=1000, p=7, fixed=fixed)
    assert set(fixed.tolist()) <= set(r.selected.tolist()) and len(r.selected) == 7
    assert r.objective == _brute_mclp(cost, w, 1000, 7, fixed)


# --------------------------------------------------------------------------- capacitated peer cases


def test_clscp_so_cases(peer_cases):
    cost = _load(peer_cases, "spopt_clscpso_5x2.npz")["cost"]
    for name, case in _json(peer_cases, "spopt_clscpso_5x2.json")["cases"].items():
        d = np.asarray(case["demand"], float)
        cap = np.asarray(case["capacity"], float)
        r = siting.lscp(cost, service_radius=case["service_radius"], demand=d, capacities=cap)
        assert r.objective == case["objective"], name
        alloc = r.allocation.toarray()
        np.testing.assert_allclose(alloc.sum(axis=1), d)
        assert np.all(alloc.sum(axis=0) <= cap * np.isin(np.arange(2), r.selected) + 1e-9)
        assert np.all(alloc[cost > case["service_radius"]] == 0)


def test_capacitated_pmedian_toy(peer_cases):
    cost = _load(peer_cases, "spopt_cpmedian_2x3.npz")["cost"]
    exp = _json(peer_cases, "spopt_cpmedian_2x3.json")
    prm = exp["params"]
    r = siting.pmedian(cost, prm["demand"], p=prm["p"], capacities=prm["capacities"])
    assert r.objective == pytest.approx(exp["objective"], rel=REL)
    assert [[int(a)] for a in r.assignment] == exp["cli2fac"]


def test_capacitated_pmedian_schools_with_filled_existing(peer_cases):
    z = _load(peer_cases, "spopt_schools.npz")
    exp = _json(peer_cases, "spopt_schools.json")
    r = siting.pmedian(
        z["cost"],
        z["weights"],
        p=exp["params"]["p"],
        capacities=z["capacities"],
        fixed=z["predefined"],
        fill_fixed=True,
    )
    assert r.objective == exp["objective"] == 872.0
    assert r.objective / z["weights"].sum() == exp["peer_asserts"]["mean_dist"]
    loads = np.asarray(r.allocation.sum(axis=0)).ravel()
    np.testing.assert_allclose(loads[z["predefined"]], z["capacities"][z["predefined"]])


def test_knearest_capacitated_pmedian(peer_cases):
    exp = _json(peer_cases, "spopt_knearest_2x3.json")
    cost = cdist(np.asarray(exp["demand_xy"]), np.asarray(exp["facility_xy"]))
    r = siting.pmedian(cost, exp["demand"], p=exp["p"], capacities=exp["capacity"])
    assert r.objective / sum(exp["demand"]) == pytest.approx(exp["mean_dist"], rel=REL)
    # {0, 1} and {0, 2} are both optimal (mirror images); capacity 1 forces distinct sites
    assert len(set(r.assignment.tolist())) == 2 and set(r.assignment.tolist()) <= set(
        r.selected.tolist()
    )


# --------------------------------------------------------------------------- brute force


def _instance(seed, n=12, m=7, sparse_holes=False):
    rng = np.random.default_rng(seed)
    cost = np.rint(rng.uniform(0, 100, (n, m)))
    w = rng.integers(1, 20, n).astype(float)
    if sparse_holes:
        cost[rng.random((n, m)) < 0.3] = np.inf
        cost[np.arange(n), rng.integers(0, m, n)] = rng.integers(
            0, 60, n
        )  # everyone reaches someone
        cost[0, 0] = 0.0  # an explicit co-located pair
    return cost, w


def _subsets(m, size, fixed=()):
    for s in itertools.combinations(range(m), size):
        if set(fixed) <= set(s):
            yield list(s)


def _brute_mclp(cost, w, radius, p, fixed=(), site_costs=None, budget=None):
    m = cost.shape[1]
    best = -1.0
    sizes = [p] if budget is None else range(0, m + 1)
    for size in sizes:
        for s in _subsets(m, size, list(fixed)):
            if budget is not None and site_costs[[j for j in s if j not in fixed]].sum() > budget:
                continue
            best = max(best, float(w[(cost[:, s] <= radius).any(axis=1)].sum()))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_mclp_brute_force(seed):
    cost, w = _instance(seed)
    for p, fixed in [(2, None), (3, [1]), (4, [0, 5])]:
        r = siting.mclp(cost, w, service_radius=30, p=p, fixed=fixed)
        assert r.objective == _brute_mclp(cost, w, 30, p, fixed or ())
        assert r.proven_optimal and len(r.selected) == p
    site_costs = np.array([3, 1, 2, 5, 1, 4, 2], float)
    r = siting.mclp(cost, w, service_radius=30, budget=5, site_costs=site_costs, fixed=[6])
    assert r.objective == _brute_mclp(cost, w, 30, None, (6,), site_costs, 5)
    assert site_costs[np.setdiff1d(r.selected, [6])].sum() <= 5


@pytest.mark.parametrize("seed", range(4))
def test_lscp_brute_force(seed):
    cost, _ = _instance(seed)
    radius = float(np.sort(cost, axis=1)[:, 1].max())  # every point has two sites in range
    for fixed in [None, [3]]:
        r = siting.lscp(cost, service_radius=radius, fixed=fixed)
        best = min(
            size
            for size in range(1, 8)
            for s in _subsets(7, size, fixed or ())
            if (cost[:, s] <= radius).any(axis=1).all()
        )
        assert r.objective == best


@pytest.mark.parametrize("holes", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_pmedian_and_pcenter_brute_force(seed, holes):
    cost, w = _instance(seed, sparse_holes=holes)
    mat = sp.csr_matrix(np.where(np.isfinite(cost), cost, 0))
    if holes:  # sparse input: absent = unreachable, stored 0.0 = co-located
        rows, cols = np.nonzero(np.isfinite(cost))
        mat = sp.csr_matrix((cost[rows, cols], (rows, cols)), shape=cost.shape)
        assert mat[0, 0] == 0 and mat.nnz == np.isfinite(cost).sum()
    for p, fixed in [(2, None), (3, [4])]:
        best_med = min(float(w @ cost[:, s].min(axis=1)) for s in _subsets(7, p, fixed or ()))
        best_cen = min(float(cost[:, s].min(axis=1).max()) for s in _subsets(7, p, fixed or ()))
        r = siting.pmedian(mat if holes else cost, w, p=p, fixed=fixed)
        assert r.objective == pytest.approx(best_med, rel=REL) and r.proven_optimal
        r = siting.pcenter(mat if holes else cost, p=p, fixed=fixed)
        assert r.objective == best_cen and r.proven_optimal


def _max_assigned(cost, w, cap, radius, s):
    """Transportation LP: the most demand the open sites s can take within the radius."""
    pairs = [(i, j) for i in range(cost.shape[0]) for j in s if cost[i, j] <= radius]
    if not pairs:
        return 0.0
    a_ub, b_ub = [], []
    for i in range(cost.shape[0]):
        a_ub.append([1.0 if pi == i else 0.0 for pi, _ in pairs])
        b_ub.append(w[i])
    for j in s:
        a_ub.append([1.0 if pj == j else 0.0 for _, pj in pairs])
        b_ub.append(cap[j])
    res = linprog(-np.ones(len(pairs)), A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    return -res.fun


@pytest.mark.parametrize("seed", range(3))
def test_cmclp_brute_force(seed):
    cost, w = _instance(seed)
    cap = np.array([15, 30, 25, 10, 40, 20, 35], float)
    for p, fixed in [(2, None), (3, [2])]:
        best = max(_max_assigned(cost, w, cap, 35, s) for s in _subsets(7, p, fixed or ()))
        r = siting.cmclp(cost, w, cap, service_radius=35, p=p, fixed=fixed)
        assert r.objective == pytest.approx(best, rel=1e-9) and r.proven_optimal
        alloc = r.allocation.toarray()
        assert np.all(alloc.sum(axis=1) <= w + 1e-9)
        assert np.all(alloc.sum(axis=0) <= cap + 1e-9)
        assert np.all(alloc[cost > 35] == 0)
        assert np.all(alloc[:, np.setdiff1d(np.arange(7), r.selected)] == 0)


def test_cmclp_with_huge_capacity_equals_mclp(peer_cases):
    z = _load(peer_cases, "synth_1000x100.npz")
    r = siting.cmclp(z["cost"], z["weights"], np.full(100, 1e9), service_radius=1000, p=10)
    assert r.objective == 43672.0 and r.proven_optimal


# --------------------------------------------------------------------------- behaviour


def test_time_limit_returns_best_with_gap():
    rng = np.random.default_rng(3)
    demand = rng.uniform(0, 10000, (3000, 2))
    sites = rng.uniform(0, 10000, (250, 2))
    cost = np.rint(cdist(demand, sites))
    w = rng.integers(1, 120, 3000).astype(float)
    r = siting.pmedian(cost, w, p=25, time_limit_s=0.3)
    assert not r.proven_optimal and r.gap > 0 and len(r.selected) == 25
    assert r.best_bound < r.objective
    d = cost[:, r.selected].min(axis=1)
    assert r.objective == pytest.approx(float(w @ d), rel=REL)


def test_bad_inputs_raise_with_fix():
    with pytest.raises(InputDataError, match="weights must have one value per demand point"):
        siting.mclp(np.ones((3, 2)), [1, 2], service_radius=1, p=1)
    with pytest.raises(InputDataError, match=">= 0"):
        siting.lscp(np.array([[-1.0, 2.0]]), service_radius=1)
    unreachable = sp.csr_matrix(([5.0], ([0], [0])), shape=(2, 2))
    with pytest.raises(InfeasibleError, match=r"1 demand point\(s\) reach no site"):
        siting.pmedian(unreachable, [1, 1], p=1)
    with pytest.raises(InfeasibleError, match="smaller than the 2 fixed"):
        siting.mclp(np.ones((2, 3)), [1, 1], service_radius=1, p=1, fixed=[0, 1])


# --------------------------------------------------------------------------- reductions and heuristics
# (issue #6 speed-ups)


def _clustered(seed, n, m):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3000, (6, 2))
    demand = centres[rng.integers(0, 6, n)] + rng.normal(0, 300, (n, 2))
    sites = rng.uniform(0, 3000, (m, 2))
    return np.rint(cdist(demand, sites)), rng.integers(1, 50, n).astype(float)


@pytest.mark.parametrize("seed", range(5))
def test_reduced_cost_fixing_keeps_every_better_solution(seed):
    """Brute force: every site set reaching the target agrees with each fixing."""
    cost, w = _clustered(seed, 60, 9)
    cov = siting._coverage(siting._as_csr(cost), 400.0)
    g, gw, _ = siting._merge_rows(cov, w)
    m, p = g.shape[1], 3
    lp = siting._mclp_mip(g, gw, np.ones(m), p, None)
    lp.integer[:] = False
    res = siting._run_highs(
        lp, start=None, time_limit_s=10, mip_rel_gap=0, threads=None, what="test LP"
    )
    values = {
        s: float(gw[(g[:, list(s)].toarray() > 0).any(axis=1)].sum())
        for s in itertools.combinations(range(m), p)
    }
    best = max(values.values())
    n_fixed = 0
    for target in (best, best - 30, best - 80):  # strong and weak incumbents
        fix0, fix1 = siting._reduced_cost_fixing(res.objective, res.x[:m], res.col_dual[:m], target)
        n_fixed += int(fix0.sum() + fix1.sum())
        for s, v in values.items():
            if v >= target:
                assert not set(np.flatnonzero(fix0)) & set(s), (target, s)
                assert set(np.flatnonzero(fix1)) <= set(s), (target, s)
    assert n_fixed > 0  # the test exercises the fixing rule, not only the empty case


def _unreduced_mclp(cost, w, radius, p, fixed=()):
    """The textbook MCLP (one u per point, no reduction, no start) solved by scipy's HiGHS."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    a = (cost <= radius).astype(float)
    n, m = a.shape
    rows = [
        LinearConstraint(np.hstack([-a, np.eye(n)]), -np.inf, 0),
        LinearConstraint(np.concatenate([np.ones(m), np.zeros(n)])[None, :], p, p),
    ]
    lower = np.zeros(m + n)
    lower[list(fixed)] = 1
    res = milp(
        -np.concatenate([np.zeros(m), w]),
        constraints=rows,
        bounds=Bounds(lower, np.ones(m + n)),
        integrality=np.concatenate([np.ones(m), np.zeros(n)]),
        options={"mip_rel_gap": 0},
    )
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("rc_fixing", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_mclp_reductions_match_unreduced_model(seed, rc_fixing, monkeypatch):
    monkeypatch.setattr(siting, "_MCLP_RC_FIXING", rc_fixing)
    cost, w = _clustered(seed, 400, 40)
    fixed = [] if seed % 2 else [3, 17]
    r = siting.mclp(cost, w, service_radius=450.0, p=8, fixed=fixed)
    assert r.proven_optimal and r.objective == pytest.approx(
        _unreduced_mclp(cost, w, 450.0, 8, fixed), abs=1e-6
    )
    assert r.objective == float(w[(cost[:, r.selected] <= 450).any(axis=1)].sum())
    assert set(fixed) <= set(r.selected.tolist()) and len(r.selected) == 8


def test_mclp_reductions_fire_on_a_clustered_instance(monkeypatch):
    monkeypatch.setattr(siting, "_MCLP_RC_FIXING", True)
    cost, w = _clustered(11, 1500, 120)
    r = siting.mclp(cost, w, service_radius=350.0, p=12)
    prm = r.params
    assert r.proven_optimal and prm["incumbent"] <= r.objective <= prm["lp_bound"] + 1e-6
    assert prm["fixed_closed"] > 0 and prm["sites_after_fixing"] < prm["sites"]
    assert r.objective == pytest.approx(_unreduced_mclp(cost, w, 350.0, 12), abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_median_swap_ends_in_a_1_swap_local_optimum(seed):
    cost, w = _clustered(seed, 80, 12)
    mat = siting._as_csr(cost)
    big = float(cost.max() * 10 + 1)
    start = np.arange(4)
    sel = siting._median_swap(mat, w, start, np.array([0]), big, deadline=1e18)
    assert 0 in sel and len(set(sel.tolist())) == 4

    def value(s):
        return float(w @ cost[:, list(s)].min(axis=1))

    assert value(sel) <= value(start)
    for j in sel[sel != 0]:  # no single swap of a non-fixed site improves (brute force)
        for k in np.setdiff1d(np.arange(12), sel):
            assert value(np.where(sel == j, k, sel)) >= value(sel) - 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_median_local_search_finds_brute_force_optimum_on_small_cases(seed):
    cost, w = _clustered(seed, 60, 10)
    best = min(
        float(w @ cost[:, list(s)].min(axis=1)) for s in itertools.combinations(range(10), 3)
    )
    sel = siting._median_local_search(
        siting._as_csr(cost),
        w,
        3,
        np.zeros(0, dtype=np.int64),
        float(cost.max() * 10 + 1),
        deadline=1e18,
    )
    assert float(w @ cost[:, sel].min(axis=1)) == best


def test_minimal_rows_keeps_exactly_the_rows_without_a_subset_row():
    sets = [{0, 1}, {0, 1, 2}, {2}, {1, 3}, {0, 3}, {0, 1, 3}]
    cov = sp.csr_matrix(np.array([[int(j in s) for j in range(4)] for s in sets], float))
    brute = [a for a, sa in enumerate(sets) if not any(sb < sa for sb in sets)]
    assert siting._minimal_rows(cov).tolist() == brute == [0, 2, 3, 4]
    assert siting._minimal_rows(cov, block=2).tolist() == brute  # block boundaries change nothing


@pytest.mark.parametrize("seed", range(4))
def test_lscp_dominance_matches_unreduced_set_cover(seed):
    from scipy.optimize import Bounds, LinearConstraint, milp

    cost, _ = _clustered(seed, 400, 40)
    radius = float(np.sort(cost, axis=1)[:, 0].max()) + 50.0
    a = (cost <= radius).astype(float)
    res = milp(
        np.ones(40),
        constraints=[LinearConstraint(a, 1, np.inf)],
        bounds=Bounds(0, 1),
        integrality=np.ones(40),
        options={"mip_rel_gap": 0},
    )
    r = siting.lscp(cost, service_radius=radius)
    assert r.proven_optimal and r.objective == round(res.fun)
    assert r.params["rows_after_dominance"] < r.params["groups"]
    assert np.all((cost[:, r.selected] <= radius).any(axis=1))


@pytest.mark.parametrize("seed", range(5))
def test_lagrangian_site_fixing_keeps_every_better_solution(seed):
    """Brute force: every p-set cheaper than the incumbent opens no closed site and every opened one."""
    cost, w = _clustered(seed, 70, 10)
    mat = siting._as_csr(cost)
    big = float(cost.max() * 10 + 1)
    p = 3
    values = {
        s: float(w @ cost[:, list(s)].min(axis=1)) for s in itertools.combinations(range(10), p)
    }
    ranked = sorted(values, key=values.get)
    n_fixed = 0
    for incumbent in (ranked[0], ranked[5], ranked[40]):  # optimal, good and poor incumbents
        lag = siting._median_lagrangian(
            mat,
            w,
            p,
            np.zeros(0, dtype=np.int64),
            np.array(incumbent),
            big,
            integral=True,
            deadline=1e18,
            heuristic_every=0,
        )
        assert lag.bound <= values[ranked[0]] + 1e-6  # a valid lower bound
        assert lag.upper == values[incumbent]
        n_fixed += int(lag.closed.sum() + lag.opened.sum())
        for s, v in values.items():
            if v < values[incumbent]:
                assert not set(np.flatnonzero(lag.closed)) & set(s), (incumbent, s)
                assert set(np.flatnonzero(lag.opened)) <= set(s), (incumbent, s)
    assert n_fixed > 0


@pytest.mark.parametrize("seed", range(3))
def test_pmedian_with_lagrangian_fixing_matches_brute_force(seed):
    cost, w = _clustered(seed, 150, 11)
    for p, fixed in [(3, None), (4, [2])]:
        best = min(float(w @ cost[:, s].min(axis=1)) for s in _subsets(11, p, fixed or ()))
        r = siting.pmedian(cost, w, p=p, fixed=fixed)
        assert r.proven_optimal and r.objective == best
        assert r.params["fixed_closed"] > 0 or r.params["lagrangian_bound"] >= best - 1


# --------------------------------------------------------------------------- p-median round 3


def _level_value(mip, lev_row, lev_cost, cost, s):
    """The level model's objective at open sites ``s`` (z_l = 1 iff nothing open within level l)."""
    nearest = cost[:, s].min(axis=1)
    z = nearest[lev_row] > lev_cost
    m = cost.shape[1]
    return mip.offset + float(mip.cost[m:] @ z)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("with_tail", [False, True])
def test_level_model_is_a_relaxation_exact_within_the_radius(seed, with_tail):
    """Brute force over every 3-set: value <= true cost, equal when no point is served beyond
    its radius; the HiGHS optimum of the model is the smallest such value."""
    cost, w = _clustered(seed, 40, 8)
    mat = siting._as_csr(cost)
    rng = np.random.default_rng(seed)
    radius = np.sort(cost, axis=1)[np.arange(40), rng.integers(0, 4, 40)]
    tail = 2.5 * radius if with_tail else None
    mip, lev_row, lev_cost, _ = siting._level_model(mat, w, radius, 3, np.zeros(0, int), tail)
    values = []
    for s in itertools.combinations(range(8), 3):
        s = list(s)
        nearest = cost[:, s].min(axis=1)
        true, relaxed = float(w @ nearest), _level_value(mip, lev_row, lev_cost, cost, s)
        assert relaxed <= true + 1e-6
        if np.all(nearest <= radius):
            assert relaxed == pytest.approx(true, rel=1e-12)
        if with_tail:  # the tail level only raises what points beyond their radius pay
            plain, r2, c2, _ = siting._level_model(mat, w, radius, 3, np.zeros(0, int))
            assert relaxed >= _level_value(plain, r2, c2, cost, s) - 1e-6
        values.append(relaxed)
    res = siting._run_highs(
        mip, start=None, time_limit_s=30, mip_rel_gap=0, threads=None, what="test"
    )
    assert res.optimal and res.objective == pytest.approx(min(values), rel=1e-9)


def test_next_levels_moves_each_radius_past_more_costs():
    cost = np.array([[5.0, 1.0, 3.0, 9.0], [2.0, 2.0, 7.0, np.inf], [4.0, np.inf, np.inf, np.inf]])
    mat = siting._as_csr(cost)
    radius = np.array([1.0, 2.0, 4.0])
    # row 0: costs 1 3 5 9, radius 1 -> +2 costs = 5; row 1: 2 2 7, radius 2 -> +2 = past the end (7);
    # row 2: only 4, stays 4
    assert siting._next_levels(mat, radius, 2).tolist() == [5.0, 7.0, 4.0]
    assert siting._next_levels(mat, radius, 1).tolist() == [3.0, 7.0, 4.0]
    assert siting._next_levels(mat, radius, 0).tolist() == radius.tolist()


@pytest.mark.parametrize("seed", range(3))
def test_lagrangian_bound_reaches_the_lp_bound_from_below(seed):
    """The pruned subgradient never prices a pair it dropped wrongly: its bound is at most the
    assignment LP's optimum and, given iterations, gets within 0.5 % of it."""
    cost, w = _clustered(seed, 60, 12)
    n, m, p = 60, 12, 3
    # Assignment LP: x_ij (n·m) then y_j (m); Σ_j x_ij = 1, x_ij <= y_j, Σ y = p.
    c = np.concatenate([(w[:, None] * cost).ravel(), np.zeros(m)])
    a_eq = sp.vstack(
        [
            sp.hstack([sp.kron(sp.identity(n), np.ones((1, m))), sp.csr_matrix((n, m))]),
            sp.hstack([sp.csr_matrix((1, n * m)), np.ones((1, m))]),
        ]
    )
    a_ub = sp.hstack([sp.identity(n * m), -sp.kron(np.ones((n, 1)), sp.identity(m))])
    lp = linprog(
        c,
        A_ub=a_ub,
        b_ub=np.zeros(n * m),
        A_eq=a_eq,
        b_eq=np.concatenate([np.ones(n), [p]]),
        bounds=(0, 1),
        method="highs",
    )
    assert lp.status == 0
    big = float(cost.max() * 10 + 1)
    greedy = np.argsort(w @ cost)[:p]  # a poor incumbent: the bound must not depend on it
    lag = siting._median_lagrangian(
        siting._as_csr(cost),
        w,
        p,
        np.zeros(0, dtype=np.int64),
        greedy,
        big,
        integral=True,
        deadline=1e18,
        max_iterations=3000,
        heuristic_every=0,
    )
    assert lag.bound <= lp.fun + 1e-6 * lp.fun
    assert lag.bound >= lp.fun * 0.995


@pytest.mark.parametrize("seed", [1, 2, 3, 5])  # seeds where the plain relaxation needs >= 2 rounds
def test_pmedian_level_rounds_match_brute_force(seed, monkeypatch):
    """Exact with no Lagrangian fixing and no extra levels (several relaxed MIP rounds), with a
    coarse tail level, with LP growth first, and with the defaults."""
    cost, w = _clustered(seed, 120, 12)
    p = 4
    best = min(float(w @ cost[:, s].min(axis=1)) for s in _subsets(12, p))
    rounds = []
    for extra, tail, growth in [
        (0, None, False),
        (0, 2.0, False),
        (0, None, True),
        (1, None, False),
    ]:
        monkeypatch.setattr(siting, "_EXTRA_LEVELS", extra)
        monkeypatch.setattr(siting, "_TAIL_FACTOR", tail)
        monkeypatch.setattr(siting, "_LP_GROWTH", growth)
        r = siting.pmedian(cost, w, p=p, fixed=[3])
        best_fixed = min(float(w @ cost[:, s].min(axis=1)) for s in _subsets(12, p, [3]))
        assert r.proven_optimal and r.objective == best_fixed and 3 in r.selected
        sites, val, bound, status, proven, n_rounds = siting._pmedian_levels(
            siting._as_csr(cost),
            w,
            p,
            np.zeros(0, dtype=np.int64),
            np.arange(p),  # a poor start, so the level model has work to do
            t0=__import__("time").perf_counter(),
            time_limit_s=60,
            mip_rel_gap=0,
            threads=None,
        )
        assert proven and val == best and bound == best
        assert float(w @ cost[:, sites].min(axis=1)) == best
        rounds.append(n_rounds)
    assert rounds[0] >= 2  # without extra levels the relaxation really was grown

"""careplan.coverage: schedules, slots, coverage by kind and slot vs brute force, hand examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from careplan import coverage as C
from careplan._errors import (
    CareplanWarning,
    DuplicateIdError,
    InputDataError,
    SettingsError,
)
from careplan.catalog import get_catalog
from careplan.network import TravelTimes


def _times(dense: np.ndarray, rows, cols, cutoff=15.0, method="straight_line") -> TravelTimes:
    r, c = np.nonzero(np.isfinite(dense))  # explicit zeros are kept as stored entries
    m = sp.csr_matrix((dense[r, c], (r, c)), shape=dense.shape)
    rows, cols = pd.Index(rows, name="point_id"), pd.Index(cols, name="facility_id")
    return TravelTimes(m, rows, cols, cutoff, method)


# --------------------------------------------------------------------------- brute force


def _serves_brute(o, c, minute):
    if math.isnan(o) or math.isnan(c):
        return False
    if o <= c:
        return o <= minute <= c
    return minute >= o or minute <= c  # past midnight


def _random_instance(seed=11, n_p=40, n_f=15):
    rng = np.random.default_rng(seed)
    kinds = ["dahamkke", "kium_general", "local_child_center", "school_care", "daycare"]
    # hour values sit on the slot minutes to exercise inclusive boundaries
    opens = [540.0, 600.0, 780.0, 840.0, 900.0, np.nan]
    closes = [900.0, 1020.0, 1080.0, 1140.0, 1200.0, 1320.0, np.nan]
    fac = pd.DataFrame(index=pd.Index([f"F{j:02d}" for j in range(n_f)], name="facility_id"))
    fac["kind"] = rng.choice(kinds, n_f)
    for p in ("term", "vac", "sat"):
        o = rng.choice(opens, n_f)
        c = rng.choice(closes, n_f)
        c = np.where(np.isnan(o), np.nan, c)
        o = np.where(np.isnan(c), np.nan, o)
        fac[f"{p}_open"], fac[f"{p}_close"] = o, c
    fac.loc["F00", ["term_open", "term_close"]] = [1140.0, 120.0]  # 19:00–02:00
    fac.loc["F00", "kind"] = "dahamkke"
    dense = rng.uniform(0, 15, (n_p, n_f)).round(0)  # integer minutes: ties with 10.0 happen
    dense[rng.random((n_p, n_f)) < 0.6] = np.nan
    dense[rng.random((n_p, n_f)) < 0.05] = 0.0  # explicit zeros
    dense[0, :] = np.nan
    dense[1, :] = np.nan
    dense[1, 0] = 0.0  # only a co-located F00
    dense[2, :] = np.nan
    dense[2, 3] = 10.0  # exactly on the threshold
    points = pd.Index([f"P{i:03d}" for i in range(n_p)], name="point_id")
    demand = pd.DataFrame({"zone_id": rng.choice(["Z1", "Z2", "Z3"], n_p),
                           "adm_code": rng.choice(["1153051000", "1153052000"], n_p),
                           "demand": rng.integers(0, 20, n_p).astype(float)}, index=points)
    return demand, fac, dense


def test_coverage_equals_brute_force():
    demand, fac, dense = _random_instance()
    times = _times(dense, demand.index, fac.index)
    kinds = ("dahamkke", "kium_general", "local_child_center", "school_care")
    cov = C.coverage(demand, fac, times, kinds=kinds, max_walk_min=10.0)
    period_cols = {"term": "term", "vacation": "vac", "saturday": "sat"}
    fac_kind = fac["kind"].tolist()
    hours = {p: (fac[f"{p}_open"].tolist(), fac[f"{p}_close"].tolist())
             for p in period_cols.values()}
    checked = 0
    for slot in C.DEFAULT_SLOTS:
        opens, closes = hours[period_cols[slot.period]]
        for kind in (*kinds, C.ALL_KINDS):
            for i, pid in enumerate(demand.index):
                best = math.inf
                for j in range(len(fac)):
                    k = fac_kind[j]
                    if k not in kinds or (kind != C.ALL_KINDS and k != kind):
                        continue
                    if not _serves_brute(opens[j], closes[j], slot.minute):
                        continue
                    t = dense[i, j]
                    if not math.isnan(t):
                        best = min(best, t)
                got = cov.nearest_min.loc[pid, (slot.name, kind)]
                if math.isinf(best):
                    assert math.isnan(got)
                else:
                    assert got == best
                assert bool(cov.covered.loc[pid, (slot.name, kind)]) == (best <= 10.0)
                checked += best <= 10.0
    assert checked > 50  # the instance really covers some points
    # the special rows: P001 reaches only the co-located overnight F00 (open 19:00–02:00 in term)
    assert cov.covered.loc["P001", ("학기 20시", "dahamkke")]
    assert cov.nearest_min.loc["P001", ("학기 20시", "all")] == 0.0
    assert not cov.covered.loc["P001", ("학기 18시", "dahamkke")]
    assert cov.nearest_min.loc["P000"].isna().all()


def test_coverage_table_equals_brute_force_sums():
    demand, fac, dense = _random_instance(seed=5)
    times = _times(dense, demand.index, fac.index, method="network")
    cov = C.coverage(demand, fac, times, max_walk_min=8.0)
    for by in ("zone_id", "adm_code", None):
        table = C.coverage_table(cov, demand, by=by)
        area_col = by or "area"
        n_areas = demand[by].nunique() if by else 1
        assert len(table) == n_areas * len(C.DEFAULT_SLOTS) * (len(cov.kinds) + 1)
        for _, row in table.sample(25, random_state=1).iterrows():
            members = demand.index if by is None else demand.index[demand[by] == row[area_col]]
            flags = cov.covered.loc[members, (row["slot"], row["kind"])]
            expected_cov = float((demand.loc[members, "demand"] * flags).sum())
            assert row["covered_demand"] == pytest.approx(expected_cov)
            assert row["demand"] == pytest.approx(demand.loc[members, "demand"].sum())
        assert (table["distance_method"] == "network").all()
        assert table.attrs["distance_method"] == "network"


def test_coverage_sums_add_up_over_disjoint_parts():
    """Partitions may each return coverage_sums; their sum gives the whole table (careplan.scale)."""
    demand, fac, dense = _random_instance(seed=8)
    demand.loc[demand.index[:3], "zone_id"] = np.nan  # a point with no 학구 is left out of the 학구 table
    cov = C.coverage(demand, fac, _times(dense, demand.index, fac.index), max_walk_min=10.0)
    half = demand.index[: len(demand) // 2]
    for by in ("zone_id", "adm_code", None):
        parts = [C.coverage_sums(_sub(cov, rows), demand.loc[rows], by=by)
                 for rows in (half, demand.index.difference(half, sort=False))]
        covered = pd.concat([c for c, _ in parts]).groupby(level=0).sum()
        totals = pd.concat([t for _, t in parts]).groupby(level=0).sum()
        got = C.table_from_sums(cov, covered, totals, by=by)
        pd.testing.assert_frame_equal(got, C.coverage_table(cov, demand, by=by), rtol=1e-12)
    zones = C.coverage_table(cov, demand, by="zone_id").drop_duplicates("zone_id")
    assert zones["demand"].sum() == pytest.approx(demand["demand"].iloc[3:].sum())  # the 3 without 학구 left out


def _sub(cov: C.CoverageResult, rows: pd.Index) -> C.CoverageResult:
    return C.CoverageResult(cov.nearest_min.loc[rows], cov.covered.loc[rows], cov.slots, cov.kinds,
                            cov.max_walk_min, cov.distance_method, cov.method_label, cov.params)


# --------------------------------------------------------------------------- hand examples


def _hand():
    fac = pd.DataFrame({
        "kind": ["dahamkke", "kium_general", "school_care"],
        "term_open": [840.0, 780.0, 720.0], "term_close": [1200.0, 1140.0, 1020.0],
        "vac_open": [540.0, np.nan, 540.0], "vac_close": [1080.0, np.nan, 1020.0],
        "sat_open": [np.nan, 600.0, np.nan], "sat_close": [np.nan, 840.0, np.nan],
        "hours_source": ["data", "data", "catalog"],
    }, index=pd.Index(["F1", "F2", "F3"], name="facility_id"))
    demand = pd.DataFrame({"zone_id": ["Z1", "Z1", "Z2"], "adm_code": ["A", "B", "B"],
                           "demand": [10.0, 20.0, 30.0]},
                          index=pd.Index(["P1", "P2", "P3"], name="point_id"))
    dense = np.array([[0.0, 12.0, np.nan], [np.nan, 5.0, 9.0], [np.nan, np.nan, 11.0]])
    return demand, fac, _times(dense, demand.index, fac.index)


def test_hand_example_slots_and_table():
    demand, fac, times = _hand()
    cov = C.coverage(demand, fac, times, max_walk_min=10.0)
    covered = cov.covered.xs("all", level="kind", axis=1)
    # 학기 15시: F1 (P1, 0 min) F2 (P2, 5) F3 (P2, 9; P3 11 > 10)
    assert covered["학기 15시"].tolist() == [True, True, False]
    # 학기 20시: only F1 (closes 20:00 inclusive) -> P1
    assert covered["학기 20시"].tolist() == [True, False, False]
    assert covered["학기 22시"].tolist() == [False, False, False]
    # 방학 18시: F1 (to 18:00 inclusive) and not F3 (to 17:00); F2 closed in vacation
    assert covered["방학 18시"].tolist() == [True, False, False]
    # 토요일 10시: only F2 (opens 10:00 inclusive) -> P2
    assert covered["토요일 10시"].tolist() == [False, True, False]
    assert cov.nearest_min.loc["P1", ("학기 18시", "kium_general")] == 12.0
    table = C.coverage_table(cov, demand, by="zone_id")
    z1_all = table[(table.zone_id == "Z1") & (table.kind == "all")].set_index("slot")
    row = z1_all.loc["학기 15시"]
    assert (row.demand, row.covered_demand, row.coverage_pct) == (30.0, 30.0, 100.0)
    row = z1_all.loc["학기 20시"]
    assert row.coverage_pct == pytest.approx(100 * 10 / 30)
    total = C.coverage_table(cov, demand, by=None)
    row = total[(total.slot == "토요일 10시") & (total.kind == "kium_general")].iloc[0]
    assert (row.area, row.demand, row.covered_demand) == ("전체", 60.0, 20.0)
    assert row.kind_label == "우리동네키움센터(일반형)"
    assert set(C.COLUMN_LABELS_KO) >= set(table.columns) - {"kind_label"} | {"zone_id"}


def test_times_with_other_ids_are_aligned():
    demand, fac, times = _hand()
    # reversed and subset layers: result keeps the layers' ids and order
    cov = C.coverage(demand.iloc[::-1], fac.iloc[[1, 0]], times, max_walk_min=10.0,
                     slots=[C.DEFAULT_SLOTS[0]])
    assert list(cov.nearest_min.index) == ["P3", "P2", "P1"]
    assert cov.nearest_min[("학기 15시", "all")].tolist()[1:] == [5.0, 0.0]
    assert math.isnan(cov.nearest_min.loc["P3", ("학기 15시", "all")])  # F3 was dropped
    with pytest.raises(DuplicateIdError, match="unique"):
        C.coverage(demand.iloc[[0, 0]], fac, times)
    missing = fac.rename(index={"F1": "F9"})
    with pytest.raises(InputDataError, match="not in the travel times"):
        C.coverage(demand, missing, times)


def test_bad_settings_raise():
    demand, fac, times = _hand()
    with pytest.raises(SettingsError, match="cutoff"):
        C.coverage(demand, fac, times, max_walk_min=20.0)
    with pytest.raises(SettingsError, match="period"):
        C.TimeSlot("x", "weekend", 600)
    with pytest.raises(SettingsError, match="0..1440"):
        C.TimeSlot("x", "term", 1500)


# --------------------------------------------------------------------------- schedules


def test_open_at_inclusive_and_nan():
    _, fac, _ = _hand()
    assert C.open_at(fac, C.TimeSlot("a", "term", 1200)).tolist() == [True, False, False]
    assert C.open_at(fac, C.TimeSlot("b", "term", 780)).tolist() == [False, True, True]
    assert C.open_at(fac, C.TimeSlot("c", "vacation", 600)).tolist() == [True, False, True]
    assert list(C.open_at(fac, C.TimeSlot("d", "term", 900)).index) == ["F1", "F2", "F3"]


def test_facility_schedule_sources_and_catalog_fill():
    fac = pd.DataFrame({
        "kind": ["dahamkke", "kium_fusion", "local_child_center"],
        "term_open": [840.0, 780.0, 600.0], "term_close": [1200.0, 1200.0, 1140.0],
        "hours_source": ["data", "data+catalog", "catalog"],
    }, index=pd.Index(["F1", "F2", "F3"], name="facility_id"))
    sched = C.facility_schedule(fac).set_index(["facility_id", "period"])
    cat = get_catalog()
    # term given: sources from hours_source; data+catalog equal to the default -> "catalog"
    assert sched.loc[("F1", "term"), "source"] == "data"
    assert sched.loc[("F2", "term"), "source"] == "catalog"  # 13–20 is the kium_fusion default
    assert sched.loc[("F3", "term"), "source"] == "catalog"
    # vacation / Saturday columns absent -> catalog defaults
    fusion = cat["kium_fusion"]
    assert tuple(sched.loc[("F2", "vacation"), ["open", "close"]]) == fusion.vacation_hours
    assert tuple(sched.loc[("F2", "saturday"), ["open", "close"]]) == fusion.saturday_hours
    assert not sched.loc[("F1", "saturday"), "operating"]  # dahamkke: no Saturday default
    assert math.isnan(sched.loc[("F1", "saturday"), "open"])
    assert (sched.xs("vacation", level="period")["source"] == "catalog").all()
    assert len(sched) == 9
    # coverage uses the same catalog hours: kium_fusion is open on Saturday 10시
    assert C.open_at(fac, C.TimeSlot("토", "saturday", 600)).tolist() == [False, True, False]


def test_half_given_hours_warn_and_count_as_closed():
    fac = pd.DataFrame({"kind": ["dahamkke"], "term_open": [840.0], "term_close": [np.nan]},
                       index=pd.Index(["F1"], name="facility_id"))
    with pytest.warns(CareplanWarning, match="only one of term_open/term_close"):
        sched = C.facility_schedule(fac)
    assert not sched.loc[sched.period == "term", "operating"].iloc[0]
    assert not C.open_at(fac, C.TimeSlot("a", "term", 900)).iloc[0]


def test_default_kinds_are_school_age_with_catchment():
    kinds = C.default_kinds()
    assert "dahamkke" in kinds and "kium_general" in kinds and "school_care" in kinds
    assert "daycare" not in kinds and "home_visit" not in kinds

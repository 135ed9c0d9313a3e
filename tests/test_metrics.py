"""Metric functions against hand-computed and published values (sources in each test)."""

import numpy as np
import pytest

from healthmap import comparisons, metrics, standardization


def test_crude_rate_by_hand():
    assert metrics.crude_rate([5, 0], [25000, 1000]).tolist() == [20.0, 0.0]
    assert np.isnan(metrics.crude_rate([1], [0])[0])


@pytest.mark.parametrize("x, lo, hi", [
    # Exact Poisson 95 % limits for an observed count (Garwood 1936; the standard table
    # reproduced e.g. in Ulm, Am J Epidemiol 1990): 0 → 0–3.689, 5 → 1.623–11.668,
    # 10 → 4.795–18.390.
    (0, 0.0, 3.689), (5, 1.623, 11.668), (10, 4.795, 18.390)])
def test_crude_rate_ci_matches_garwood_table(x, lo, hi):
    low, high = metrics.crude_rate_ci([x], [1], per=1)
    assert low[0] == pytest.approx(lo, abs=1e-3)
    assert high[0] == pytest.approx(hi, abs=1e-3)


def test_asr_point_estimate_by_hand():
    # weights 0.6/0.4; rates 100 and 600 per 100,000 → 0.6*100 + 0.4*600 = 300
    r, lo, hi = metrics.age_standardized_rate([10, 30], [10000, 5000], [60, 40])
    assert float(r) == pytest.approx(300.0)
    assert lo < r < hi


def test_asr_gamma_interval_by_hand():
    # Fay & Feuer (1997) formulas evaluated by hand for d=(10,30), n=(10000,5000), w=(.6,.4):
    # y = 0.003, v = 0.6²·10/1e8 + 0.4²·30/2.5e7 = 3.6e-8 + 1.92e-7 = 2.28e-7,
    # w_M = max(0.6/10000, 0.4/5000) = 8e-5.
    from scipy import stats
    y, v, wm = 0.003, 2.28e-7, 8e-5
    lo = stats.gamma.ppf(0.025, y * y / v, scale=v / y) * 1e5
    hi = stats.gamma.ppf(0.975, (y + wm) ** 2 / (v + wm ** 2), scale=(v + wm ** 2) / (y + wm)) * 1e5
    r, l2, h2 = metrics.age_standardized_rate([10, 30], [10000, 5000], [0.6, 0.4])
    assert float(l2) == pytest.approx(lo) and float(h2) == pytest.approx(hi)


def test_asr_one_group_equals_exact_poisson():
    r, lo, hi = metrics.age_standardized_rate([10], [100000], [1])
    clo, chi = metrics.crude_rate_ci([10], [100000])
    assert float(lo) == pytest.approx(clo[0]) and float(hi) == pytest.approx(chi[0])


def test_tiwari_upper_limit_is_narrower_and_matches_formula():
    # Tiwari, Clegg & Zou (2006): the upper limit uses the mean of w_i/n_i (equivalently
    # 1/k added to each count) instead of the maximum.
    d, n, w = np.array([0, 8, 63]), np.array([327.0, 30666, 123419]), np.array([0.2, 0.3, 0.5])
    r, lo, ff = metrics.age_standardized_rate(d, n, w)
    _, lo2, tw = metrics.age_standardized_rate(d, n, w, method="tiwari")
    from scipy import stats
    wn = w / n
    yj, vj = (wn * (d + 1 / 3)).sum(), (wn ** 2 * (d + 1 / 3)).sum()
    assert float(tw) == pytest.approx(stats.gamma.ppf(0.975, yj ** 2 / vj, scale=vj / yj) * 1e5)
    assert float(lo2) == pytest.approx(float(lo)) and float(tw) < float(ff)


def test_asr_zero_events_has_zero_lower_limit():
    r, lo, hi = metrics.age_standardized_rate([0, 0], [1000, 1000], [1, 1])
    assert float(r) == 0 and float(lo) == 0 and float(hi) > 0


def test_asr_rejects_mismatched_groups():
    with pytest.raises(ValueError):
        metrics.age_standardized_rate([1, 2], [10, 20], [1, 2, 3])


def test_empirical_bayes_matches_esda_and_hand_formula():
    from esda.smoothing import Empirical_Bayes
    e = np.array([2, 40, 7, 0.0])
    n = np.array([1000, 10000, 3000, 500.0])
    ours = metrics.empirical_bayes(e, n)
    ref = Empirical_Bayes(e.reshape(-1, 1), n.reshape(-1, 1)).r.ravel()
    assert ours == pytest.approx(ref)
    # hand: b = 49/14500; small areas shrink more than large ones
    b = 49 / 14500
    assert abs(ours[3] - b) < abs(ours[1] - b) or ours[1] > b


def test_empirical_bayes_shrinks_fully_without_between_area_variance():
    sm = metrics.empirical_bayes([10, 20], [1000, 2000])
    assert sm == pytest.approx([0.01, 0.01])


@pytest.mark.parametrize("x, n, lo, hi", [
    # Newcombe (1998) Stat Med 17:857, Table I, method 3 (Wilson score):
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718)])
def test_wilson_interval_matches_newcombe(x, n, lo, hi):
    l, h = metrics.proportion_ci([x], [n])
    assert l[0] == pytest.approx(lo, abs=1e-4) and h[0] == pytest.approx(hi, abs=1e-4)


def test_funnel_limits_narrow_and_bracket_target():
    f = metrics.funnel_limits(0.1, [50, 500, 5000])
    assert (f["lower_95"] < 0.1).all() and (f["upper_95"] > 0.1).all()
    assert f["upper_99.8"].is_monotonic_decreasing and f["lower_99.8"].is_monotonic_increasing
    assert (f["upper_99.8"] >= f["upper_95"]).all()


def test_funnel_limits_approach_normal_approximation_for_large_n():
    # Spiegelhalter (2005): for large n the exact limits approach p ± z·sqrt(p(1-p)/n)
    n, p = 100000, 0.1
    f = metrics.funnel_limits(p, [n])
    approx = p + 1.959964 * np.sqrt(p * (1 - p) / n)
    assert f["upper_95"].iloc[0] == pytest.approx(approx, rel=2e-3)
    r = metrics.funnel_limits(0.001, [1e6], kind="rate")
    assert r["upper_95"].iloc[0] == pytest.approx(0.001 + 1.96 * np.sqrt(0.001 / 1e6), rel=5e-3)


def test_mean_ci_by_hand():
    m, lo, hi = metrics.mean_ci([60], [1400], [3])
    # mean 20, sd 10, t(.975, 2) = 4.3027 → 20 ± 24.84
    assert m[0] == 20 and lo[0] == pytest.approx(-4.841, abs=1e-3)


def test_negative_input_is_rejected():
    with pytest.raises(ValueError):
        metrics.crude_rate([-1], [10])
    with pytest.raises(ValueError):
        metrics.proportion_ci([5], [3])


# --- issue 9: cost interval, indirect standardisation, empty age groups -------------------

def test_cost_interval_by_hand_from_chi_square_table():
    # Costs 10, 20, 30 (sum 60, sum of squares 1400, n 3): mean 20, s² 100, gamma shape of
    # the mean a = n·mean²/s² = 12; Gamma(12, 1/12) quantiles are χ²₂₄/24, and the χ² table
    # gives χ²₂₄(0.025) = 12.401, χ²₂₄(0.975) = 39.364, so the limits are 480/39.364 and
    # 480/12.401.
    m, lo, hi, flag = metrics.mean_cost_ci([60], [1400], [3])
    assert m[0] == 20
    assert lo[0] == pytest.approx(480 / 39.364, rel=1e-4)
    assert hi[0] == pytest.approx(480 / 12.401, rel=1e-4)
    assert flag[0]  # n < 20


def test_cost_interval_stays_positive_where_t_goes_negative():
    # Two stays of 1,000 and 100,000 yuan (like the pancreatic cancer cell, n = 2):
    # the t interval reaches below zero, the gamma one does not and is skewed upwards.
    s, ss = 101000.0, 1000.0 ** 2 + 100000.0 ** 2
    _, tlo, _ = metrics.mean_ci([s], [ss], [2])
    m, lo, hi, flag = metrics.mean_cost_ci([s], [ss], [2])
    assert tlo[0] < 0 < lo[0] < m[0] < hi[0]
    assert hi[0] - m[0] > m[0] - lo[0]
    assert flag[0]


def test_cost_interval_edge_cases_and_flag_threshold():
    m, lo, hi, flag = metrics.mean_cost_ci([0, 50, 300, 4000], [0, 2500, 4500, 1e6],
                                           [0, 1, 20, 19])
    assert np.isnan(m[0]) and np.isnan(lo[0])          # nothing selected
    assert m[1] == 50 and np.isnan(lo[1]) and np.isnan(hi[1])  # one episode: no variance
    assert lo[2] == hi[2] == 15  # twenty equal costs of 15: no spread
    assert flag.tolist() == [True, True, False, True]


def test_cost_interval_approaches_t_interval_for_large_n():
    # n = 10,000, mean 5,000, SD 2,000: both intervals ≈ 5000 ± 1.96·20.
    n, mean, sd = 10000, 5000.0, 2000.0
    s, ss = n * mean, (n - 1) * sd ** 2 + n * mean ** 2
    _, lo, hi, flag = metrics.mean_cost_ci([s], [ss], [n])
    assert lo[0] == pytest.approx(5000 - 1.96 * 20, abs=0.5)
    assert hi[0] == pytest.approx(5000 + 1.96 * 20, abs=0.5)
    assert not flag[0]


def test_expected_counts_and_sir_by_hand():
    # Reference (county): 10 cases in 10,000 young (1/1000), 50 in 5,000 old (10/1000).
    # Area A: 2,000 young + 500 old → E = 2 + 5 = 7; observed 12 → SIR 12/7 = 1.714.
    e = standardization.expected_counts([10, 50], [10000, 5000], [[2000, 500], [1000, 100]])
    assert e.tolist() == pytest.approx([7.0, 2.0])
    # Garwood limits for O = 12 (Ulm 1990 table): 6.201 and 20.962; divided by E = 7.
    r, lo, hi = standardization.standardized_ratio([12], [7])
    assert r[0] == pytest.approx(12 / 7)
    assert lo[0] == pytest.approx(6.201 / 7, abs=1e-3)
    assert hi[0] == pytest.approx(20.962 / 7, abs=1e-3)


def test_sir_removes_an_age_effect_that_the_crude_rate_shows():
    # Same age-specific rates as the reference, older population: crude rate is higher,
    # SIR is exactly 1.
    ref_d, ref_n = np.array([10, 50]), np.array([10000, 5000])
    old = np.array([1000, 1000])  # expected 1 + 10 = 11
    t = standardization.indirect_standardization([11], [old], ref_d, ref_n)
    assert t["expected"][0] == pytest.approx(11) and t["sir"][0] == pytest.approx(1)
    assert t["funnel"][0] == "within"
    assert 11 / 2000 > ref_d.sum() / ref_n.sum()  # crude 550 vs 400 per 100,000


def test_sir_funnel_limits_by_hand_from_poisson_table():
    # E = 10: P(O ≤ 16) = 0.97296, P(O ≤ 17) = 0.98572 → upper 95 % limit
    # (17 − (0.98572 − 0.975)/(0.98572 − 0.97296))/10 = 1.616; P(O ≤ 3) = 0.01034,
    # P(O ≤ 4) = 0.02925 → lower 95 % limit (4 − (0.02925 − 0.025)/(0.02925 − 0.01034))/10
    # = 0.378. An area with O = 17 at E = 10 lies above the 95 % but not the 99.8 % limit.
    f = standardization.ratio_funnel_limits([10])
    assert f["upper_95"][0] == pytest.approx(1.616, abs=1e-3)
    assert f["lower_95"][0] == pytest.approx(0.378, abs=1e-3)
    t = standardization.indirect_standardization([17], [[10000]], [1], [1000])
    assert t["expected"][0] == 10 and t["funnel"][0] == "above_95"


def test_expected_counts_refuses_undefined_reference_rates():
    with pytest.raises(ValueError, match="no population"):
        standardization.expected_counts([1, 2], [100, 0], [10, 10])
    with pytest.raises(ValueError, match="reference lacks"):
        standardization.expected_counts([1, 0], [100, 0], [10, 10])


def test_asr_refuses_empty_age_groups_with_their_cases_listed():
    # Group 2 has 3 cases but no population: the old code dropped both silently.
    with pytest.raises(metrics.EmptyAgeGroupsError) as err:
        metrics.age_standardized_rate([[10, 3], [5, 5]], [[10000, 0], [5000, 5000]], [60, 40])
    rep = err.value.report
    assert rep[["row", "age_group", "events"]].values.tolist() == [[0, 1, 3]]
    assert rep["weight"].tolist() == pytest.approx([0.4])
    assert "3 case(s)" in str(err.value)


def test_asr_reweights_over_populated_groups_loudly():
    # Row 0: only group 1 populated → weight 1 on its rate 100/100,000 (was 0.6·100 = 60).
    # Row 1 untouched: 0.6·100 + 0.4·100 = 100.
    with pytest.warns(metrics.EmptyAgeGroupsWarning, match="3 case"):
        r, lo, hi = metrics.age_standardized_rate([[10, 3], [5, 5]],
                                                  [[10000, 0], [5000, 5000]], [60, 40],
                                                  on_empty="reweight")
    assert r.tolist() == pytest.approx([100.0, 100.0])
    # the re-weighted row's interval is the one-group (exact Poisson) interval for 10 cases
    clo, chi = metrics.crude_rate_ci([10], [10000])
    assert lo[0] == pytest.approx(clo[0]) and hi[0] == pytest.approx(chi[0])


def test_asr_without_any_population_is_nan_not_an_error():
    r, lo, hi = metrics.age_standardized_rate([[0, 0]], [[0, 0]], [1, 1])
    assert np.isnan(r[0]) and np.isnan(hi[0])


def test_potential_saving_per_group_and_setting_by_hand():
    # A inpatient: 100 in at 1,000, 10 out at 3,000 → 10 × 2,000 = 20,000.
    # B inpatient: 50 in at 20,000, 50 out at 15,000 → negative, counts 0.
    # A outpatient: 200 in at 100, 20 out at 160 → 20 × 60 = 1,200 (a separate setting).
    # C: only out-of-county episodes → no in-county mean, adds nothing.
    import pandas as pd
    c = pd.DataFrame({
        "group_code": ["A", "A", "B", "B", "A", "A", "C"],
        "setting": ["inpatient"] * 4 + ["outpatient"] * 2 + ["inpatient"],
        "in_county": [True, False, True, False, True, False, False],
        "episodes": [100, 10, 50, 50, 200, 20, 7],
        "cost_sum": [100000, 30000, 1000000, 750000, 20000, 3200, 70000]})
    s = comparisons.potential_saving(c).set_index(["group_code", "setting"])["saving"]
    assert s.to_dict() == {("A", "inpatient"): 20000.0, ("A", "outpatient"): 1200.0,
                           ("B", "inpatient"): 0.0, ("C", "inpatient"): 0.0}
    assert s.sum() == 21200.0
    # pooled over groups (the old way) the inpatient figure would be 60 × (13,000 − 7,333.3)
    pooled = 60 * (780000 / 60 - 1100000 / 150)
    assert pooled == pytest.approx(340000.0)

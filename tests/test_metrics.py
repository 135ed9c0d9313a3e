"""Metric functions against hand-computed and published values (sources in each test)."""

import numpy as np
import pytest

from healthmap import metrics


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

"""Pure rate and proportion functions: arrays in, arrays out (after esda's ``smoothing.py``).

Every function checks its inputs at the entry and names its method after the literature:

* crude rates with exact Poisson (Garwood 1936) intervals — the one-group case of the
  gamma method;
* directly age-standardised rates with the gamma interval of Fay & Feuer (1997), with the
  Tiwari, Clegg & Zou (2006) modification as an option;
* global empirical-Bayes smoothing (Marshall 1991, moment estimator);
* Wilson (1927) score intervals for proportions (Newcombe 1998 recommends them);
* funnel-plot control limits (Spiegelhalter 2005), exact with interpolation;
* mean cost with a t interval from sums and sums of squares, and a gamma interval that
  stays positive for skewed costs (the Fay & Feuer moment-matching idea applied to the
  sample mean; Grice & Bain 1980);
* indirect standardisation (expected counts, SIR, funnel limits on O/E) lives in
  :mod:`healthmap.standardization`.

Definitions and references in full: ``docs/definitions.md``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

UNSTABLE_BELOW = 20  # docs/definitions.md: estimates from fewer than 20 cases are flagged unstable


def _arr(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype="float64")
    if np.any(a[~np.isnan(a)] < 0):
        raise ValueError(f"{name} must not be negative")
    return a


def _alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    return alpha


def crude_rate(events, population, per: float = 100000):
    """Events per ``per`` persons; ``nan`` where the population is zero.

    Examples
    --------
    >>> crude_rate([5, 0], [25000, 1000])
    array([20.,  0.])
    """
    e, n = _arr(events, "events"), _arr(population, "population")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, e / n * per, np.nan)


def crude_rate_ci(events, population, per: float = 100000, alpha: float = 0.05):
    """Exact Poisson (Garwood) interval for crude rates: ``(low, high)`` arrays.

    It is the gamma interval of Fay & Feuer with a single age group.

    Examples
    --------
    >>> lo, hi = crude_rate_ci([10], [100000])
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (4.795, 18.39)
    """
    e, n = _arr(events, "events"), _arr(population, "population")
    a = _alpha(alpha)
    lo = np.where(e > 0, stats.gamma.ppf(a / 2, np.maximum(e, 1e-300)), 0.0)
    hi = stats.gamma.ppf(1 - a / 2, e + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.where(n > 0, lo / n * per, np.nan), np.where(n > 0, hi / n * per, np.nan))


class EmptyAgeGroupsWarning(UserWarning):
    """An age-standardised rate was re-weighted over the populated age groups only."""


class EmptyAgeGroupsError(ValueError):
    """Age groups with no population in a row that has population elsewhere.

    ``report`` (a DataFrame from :func:`empty_age_groups`) lists each such row and age
    group with the cases that would be lost and the standard weight that would go missing.
    """

    def __init__(self, report: pd.DataFrame):
        self.report = report
        lost = int(report["events"].sum())
        groups = ", ".join(f"row {r} group {g}" for r, g in
                           zip(report["row"].head(8), report["age_group"].head(8)))
        more = f" and {len(report) - 8} more" if len(report) > 8 else ""
        super().__init__(
            f"{len(report)} age group(s) have no population ({groups}{more}); {lost} case(s) "
            "in them would be dropped and their standard weight lost. Pass "
            "on_empty='reweight' to standardise over the populated groups only, or fix the "
            "population data.")


def empty_age_groups(events, population, standard_weights) -> pd.DataFrame:
    """Age groups with zero population in rows that have population in other groups.

    Returns one row per (row, age group) with ``row``, ``age_group`` (column index),
    ``events`` (cases there, which no rate can use) and ``weight`` (the normalised standard
    weight that goes missing). Rows with no population at all are not listed: their rate is
    simply undefined. Groups with zero standard weight do not matter and are not listed.

    Examples
    --------
    >>> empty_age_groups([[3, 2], [1, 0]], [[1000, 0], [500, 400]], [1, 1])
       row  age_group  events  weight
    0    0          1     2.0     0.5
    """
    e = np.atleast_2d(_arr(events, "events"))
    n = np.atleast_2d(_arr(population, "population"))
    w = _arr(standard_weights, "standard_weights")
    w = w / w.sum()
    bad = (n <= 0) & (n > 0).any(axis=-1, keepdims=True) & (w > 0)
    rows, groups = np.nonzero(bad)
    return pd.DataFrame({"row": rows, "age_group": groups, "events": e[rows, groups],
                         "weight": w[groups]})


def age_standardized_rate(events, population, standard_weights, per: float = 100000,
                          alpha: float = 0.05, method: str = "fay_feuer",
                          on_empty: str = "raise"):
    """Directly age-standardised rate with the gamma confidence interval.

    Parameters
    ----------
    events, population : array_like, shape (k,) or (m, k)
        Cases and persons (or person-years) per age group; several areas as rows.
    standard_weights : array_like, shape (k,)
        Standard population (any scale; normalised to sum to 1).
    per : float
        Rate multiplier (100,000 by default).
    alpha : float
        1 − confidence level.
    method : {"fay_feuer", "tiwari"}
        ``fay_feuer`` (1997) adds the largest stratum weight wᵢ/nᵢ to the upper limit;
        ``tiwari`` (Tiwari, Clegg & Zou 2006) adds the mean weight, which is less
        conservative and closer to nominal coverage.
    on_empty : {"raise", "reweight"}
        What to do when a row has age groups with zero population but population in
        other groups (their rate is undefined, their cases cannot be used). ``"raise"``
        (default) raises :class:`EmptyAgeGroupsError` listing each group and the cases in
        it. ``"reweight"`` standardises that row over its populated groups only (standard
        weights renormalised to sum to 1 over them) and warns with the same list; use it
        deliberately, e.g. for an age-band selection, and say so beside the figure.

    Returns
    -------
    rate, ci_low, ci_high : ndarray
        Scalars become 0-d arrays. A row with no population at all has rate ``nan``.

    Notes
    -----
    With y = Σ wᵢ dᵢ/nᵢ and v = Σ wᵢ² dᵢ/nᵢ², the lower limit is the α/2 quantile of a
    gamma with mean y and variance v; the upper limit is the 1 − α/2 quantile of a gamma
    with mean y + w* and variance v + w*², w* = max wᵢ/nᵢ (Fay-Feuer) or mean wᵢ/nᵢ
    (Tiwari).

    Examples
    --------
    Two age groups, standard weights 0.6 / 0.4:

    >>> r, lo, hi = age_standardized_rate([10, 30], [10000, 5000], [60, 40])
    >>> round(float(r), 1)
    300.0

    An empty second group is refused; re-weighted, the first group's rate is the answer:

    >>> age_standardized_rate([10, 2], [10000, 0], [60, 40])
    Traceback (most recent call last):
    ...
    healthmap.metrics.EmptyAgeGroupsError: 1 age group(s) have no population (row 0 group 1); 2 case(s) in them would be dropped and their standard weight lost. Pass on_empty='reweight' to standardise over the populated groups only, or fix the population data.
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     r, lo, hi = age_standardized_rate([10, 2], [10000, 0], [60, 40], on_empty="reweight")
    >>> round(float(r), 1)
    100.0
    """
    e = _arr(events, "events")
    n = _arr(population, "population")
    w = _arr(standard_weights, "standard_weights")
    if e.shape != n.shape or e.shape[-1] != w.shape[-1]:
        raise ValueError("events, population and standard_weights need the same age groups")
    if method not in ("fay_feuer", "tiwari"):
        raise ValueError("method must be 'fay_feuer' or 'tiwari'")
    if on_empty not in ("raise", "reweight"):
        raise ValueError("on_empty must be 'raise' or 'reweight'")
    a = _alpha(alpha)
    w = w / w.sum()
    empty = empty_age_groups(e, n, w)
    if len(empty) and on_empty == "raise":
        raise EmptyAgeGroupsError(empty)
    if len(empty):
        warnings.warn(str(EmptyAgeGroupsError(empty)).split(". Pass")[0]
                      + "; standardised over the populated groups only", EmptyAgeGroupsWarning,
                      stacklevel=2)
        w = np.where(n > 0, w, 0.0)  # one weight vector per row, renormalised below
        with np.errstate(divide="ignore", invalid="ignore"):
            tot = w.sum(axis=-1, keepdims=True)
            w = np.where(tot > 0, w / np.where(tot > 0, tot, 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        wn = np.where(n > 0, w / n, 0.0)  # per-person weight of each age group
    y = (wn * e).sum(axis=-1)
    v = (wn ** 2 * e).sum(axis=-1)
    has = (n > 0).any(axis=-1)
    if method == "fay_feuer":
        wk = wn.max(axis=-1)
        wk2 = wk ** 2
    else:
        k = np.maximum((n > 0).sum(axis=-1), 1)
        wk = wn.sum(axis=-1) / k
        wk2 = (wn ** 2).sum(axis=-1) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(y > 0, stats.gamma.ppf(a / 2, np.where(v > 0, y ** 2 / v, 1),
                                             scale=np.where(y > 0, v / y, 1)), 0.0)
        yu, vu = y + wk, v + wk2
        hi = stats.gamma.ppf(1 - a / 2, np.where(vu > 0, yu ** 2 / vu, 1),
                             scale=np.where(yu > 0, vu / yu, 1))
    nan = np.where(has, 1.0, np.nan)
    return y * per * nan, lo * per * nan, hi * per * nan


def empirical_bayes(events, population):
    """Global empirical-Bayes smoothed rates (Marshall 1991, moment estimator).

    Each area's raw rate rᵢ = dᵢ/nᵢ is pulled towards the overall rate b = Σd/Σn by the
    factor Cᵢ = a / (a + b/nᵢ), where a = s² − b/n̄ is the between-area variance
    (s² the population-weighted variance of rᵢ, n̄ the mean population; a ≥ 0). Small
    areas move most. Same units as ``events / population`` (multiply by 100,000 to map).

    Examples
    --------
    >>> sm = empirical_bayes([2, 40, 7, 0], [1000, 10000, 3000, 500])
    >>> [round(float(x), 5) for x in sm]
    [0.00335, 0.0035, 0.00331, 0.00334]
    """
    e, n = _arr(events, "events"), _arr(population, "population")
    if e.shape != n.shape:
        raise ValueError("events and population need the same shape")
    if n.sum() <= 0:
        raise ValueError("total population must be positive")
    b = e.sum() / n.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(n > 0, e / n, b)
    s2 = (n * (r - b) ** 2).sum() / n.sum()
    a = max(s2 - b / (n.sum() / len(n)), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n > 0, a / (a + b / n), 0.0) if a > 0 else np.zeros_like(n)
    return b + c * (r - b)


def proportion_ci(successes, trials, alpha: float = 0.05):
    """Wilson score interval for proportions: ``(low, high)`` arrays (0–1 scale).

    Examples
    --------
    Newcombe (1998), Table I: 0/20 → 0 to 0.1611; 1/29 → 0.0061 to 0.1718.

    >>> lo, hi = proportion_ci([0, 1], [20, 29])
    >>> [round(float(x), 4) for x in hi]
    [0.1611, 0.1718]
    """
    x, n = _arr(successes, "successes"), _arr(trials, "trials")
    if np.any(x > n):
        raise ValueError("successes cannot exceed trials")
    z = stats.norm.ppf(1 - _alpha(alpha) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, x / n, np.nan)
        denom = 1 + z ** 2 / n
        centre = (p + z ** 2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def funnel_limits(target: float, denominators, levels=(0.95, 0.998),
                  kind: str = "proportion") -> pd.DataFrame:
    """Funnel-plot control limits around ``target`` (Spiegelhalter 2005).

    Parameters
    ----------
    target : float
        The overall value: a proportion (0–1) for ``kind="proportion"``, or events per
        person for ``kind="rate"`` (not per 100,000).
    denominators : array_like
        Trials (episodes) or persons at which to evaluate the limits.
    levels : sequence of float
        Two-sided coverage, by default 95 % and 99.8 %.

    Returns
    -------
    DataFrame
        ``denominator`` and ``lower_<L>`` / ``upper_<L>`` per level (``L`` = 95, 99.8),
        in the units of ``target``. Exact binomial / Poisson quantiles, interpolated so the
        limits are smooth (Spiegelhalter 2005, appendix A.1.1).

    Examples
    --------
    >>> f = funnel_limits(0.1, [100, 10000])
    >>> bool(f["upper_95"].iloc[0] > f["upper_95"].iloc[1] > 0.1)
    True
    """
    if kind not in ("proportion", "rate"):
        raise ValueError("kind must be 'proportion' or 'rate'")
    if kind == "proportion" and not 0 <= target <= 1:
        raise ValueError("a proportion target must lie in [0, 1]")
    if target < 0:
        raise ValueError("target must not be negative")
    n = _arr(denominators, "denominators")
    out = {"denominator": n}
    for level in levels:
        label = f"{level * 100:g}"
        for side, p in (("lower", (1 - level) / 2), ("upper", 1 - (1 - level) / 2)):
            out[f"{side}_{label}"] = _interpolated_limit(target, n, p, kind)
    return pd.DataFrame(out)


def _interpolated_limit(target: float, n: np.ndarray, p: float, kind: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "proportion":
            dist = stats.binom(np.maximum(n, 1).round().astype(int), target)
        else:
            dist = stats.poisson(target * np.maximum(n, 1e-12))
        r = dist.ppf(p)
        f_r, f_r1 = dist.cdf(r), dist.cdf(r - 1)
        frac = np.where(f_r - f_r1 > 0, (f_r - p) / (f_r - f_r1), 0.0)
        limit = (r - frac) / np.maximum(n, 1e-12)
    if kind == "proportion":
        limit = np.clip(limit, 0, 1)
    return np.where(n > 0, np.maximum(limit, 0), np.nan)


def mean_ci(total, total_sq, count, alpha: float = 0.05):
    """Mean with a t interval from sums: ``(mean, low, high)`` arrays.

    For cost per case: ``total`` = Σ cost, ``total_sq`` = Σ cost², ``count`` = episodes.

    Examples
    --------
    Costs 10, 20, 30: mean 20, SD 10, t(0.975, 2) = 4.303.

    >>> m, lo, hi = mean_ci([60], [1400], [3])
    >>> float(m[0]), round(float(lo[0]), 2), round(float(hi[0]), 2)
    (20.0, -4.84, 44.84)
    """
    s, ss, k = (np.asarray(v, dtype="float64") for v in (total, total_sq, count))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(k > 0, s / k, np.nan)
        var = np.where(k > 1, (ss - s ** 2 / k) / (k - 1), np.nan)
        se = np.sqrt(np.maximum(var, 0) / k)
        t = stats.t.ppf(1 - _alpha(alpha) / 2, np.maximum(k - 1, 1))
    return mean, mean - t * se, mean + t * se


def mean_cost_ci(total, total_sq, count, alpha: float = 0.05):
    """Mean cost per case with a gamma interval that never goes below zero.

    Costs are positive and right-skewed, so the t interval of :func:`mean_ci` can reach
    below zero for a handful of expensive stays. Here the sample mean x̄ is given the gamma
    distribution with the same mean and variance as its sampling distribution (mean μ,
    variance s²/n; the moment matching Fay & Feuer 1997 use for rates), i.e. shape
    a = n·x̄²/s² = 1 / CV(x̄)². Then x̄/μ ~ Gamma(a, scale 1/a) is a pivot and

        low = x̄ / G⁻¹(1 − α/2; a, 1/a),   high = x̄ / G⁻¹(α/2; a, 1/a).

    If the costs themselves are gamma with shape k, the mean is exactly gamma with shape
    n·k and the interval is exact for known k (with k estimated by moments it is the
    approximation studied by Grice & Bain 1980); for exponential costs (k = 1) it is the
    classical 2n·x̄/χ²₂ₙ interval. It needs only Σ cost, Σ cost² and n, which the summary
    tables store. It tends to the t interval as n grows.

    Parameters
    ----------
    total, total_sq, count : array_like
        Σ cost, Σ cost² and the number of episodes.
    alpha : float
        1 − confidence level.

    Returns
    -------
    mean, ci_low, ci_high : ndarray
        ``nan`` where ``count`` is 0; the interval is ``nan`` for a single episode (no
        variance) and collapses to the mean when every cost is equal.
    unstable : ndarray of bool
        ``count`` below :data:`UNSTABLE_BELOW` (20): flag the estimate.

    Examples
    --------
    Costs 10, 20, 30: x̄ = 20, s² = 100, a = 3·400/100 = 12, so the limits are
    20·24/χ²₂₄(0.975) = 480/39.364 and 480/χ²₂₄(0.025) = 480/12.401:

    >>> m, lo, hi, flag = mean_cost_ci([60], [1400], [3])
    >>> float(m[0]), round(float(lo[0]), 2), round(float(hi[0]), 2), bool(flag[0])
    (20.0, 12.19, 38.71, True)
    """
    s, ss, k = (_arr(v, name) for v, name in ((total, "total"), (total_sq, "total_sq"),
                                                (count, "count")))
    a_ = _alpha(alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(k > 0, s / k, np.nan)
        var = np.where(k > 1, np.maximum(ss - s ** 2 / k, 0) / (k - 1), np.nan)
        shape = np.where(var > 0, k * mean ** 2 / var, np.inf)
        ok = np.isfinite(shape) & (shape > 0)
        sh = np.where(ok, shape, 1.0)
        q_hi = stats.gamma.ppf(1 - a_ / 2, sh, scale=1 / sh)
        q_lo = stats.gamma.ppf(a_ / 2, sh, scale=1 / sh)
        lo = np.where(ok, mean / q_hi, mean)
        hi = np.where(ok, mean / q_lo, mean)
    undefined = ~(k > 1)
    lo, hi = np.where(undefined, np.nan, lo), np.where(undefined, np.nan, hi)
    return mean, lo, hi, k < UNSTABLE_BELOW

"""Indirect standardisation: expected counts, standardised incidence ratios and their
funnel limits (pure functions, arrays in and out).

* expected counts from reference (e.g. county) age-specific rates × an area's
  age-specific population;
* SIR = observed / expected with exact Poisson limits (Garwood 1936 applied to the
  observed count; Breslow & Day 1987; Ulm 1990);
* funnel limits on O/E against E (Spiegelhalter 2005).

Used to compare townships fairly when their age structures differ (an older island is not
flagged for its age alone). Definitions: ``docs/definitions.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthmap.metrics import _arr, crude_rate_ci, funnel_limits


def expected_counts(reference_events, reference_population, population):
    """Expected cases under reference age-specific rates (indirect standardisation).

    E = Σᵢ rᵢ · nᵢ with rᵢ = Dᵢ / Nᵢ the reference (usually the county's own) rate in age
    group i and nᵢ the area's population there (Breslow & Day 1987, ch. 2).

    Parameters
    ----------
    reference_events, reference_population : array_like, shape (k,)
        Reference cases and persons per age group. A group with no reference population
        but reference cases is refused (its rate is undefined).
    population : array_like, shape (k,) or (m, k)
        The areas' persons per age group.

    Returns
    -------
    ndarray, shape () or (m,)

    Examples
    --------
    Reference rates 1/1000 and 10/1000; an area of 2,000 young and 500 old persons:
    E = 2000·0.001 + 500·0.01 = 7.

    >>> float(expected_counts([10, 50], [10000, 5000], [2000, 500]))
    7.0
    """
    d, N = _arr(reference_events, "reference_events"), _arr(reference_population,
                                                             "reference_population")
    n = _arr(population, "population")
    if d.shape != N.shape or n.shape[-1] != d.shape[-1]:
        raise ValueError("reference and area populations need the same age groups")
    if np.any((N <= 0) & (d > 0)):
        raise ValueError("a reference age group has cases but no population")
    if np.any((N <= 0) & (n > 0).reshape(-1, n.shape[-1]).any(axis=0)):
        raise ValueError("an area has population in an age group the reference lacks")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(N > 0, d / N, 0.0)
    return (n * rate).sum(axis=-1)


def standardized_ratio(observed, expected, alpha: float = 0.05):
    """Standardised incidence ratio O/E with exact Poisson (Garwood) limits.

    O is treated as Poisson with mean θ·E, E fixed (Breslow & Day 1987, §2.3; Ulm 1990):

        low = χ²(α/2; 2O) / (2E),   high = χ²(1 − α/2; 2O + 2) / (2E).

    Returns ``(ratio, ci_low, ci_high)``; ``nan`` where E is 0.

    Examples
    --------
    O = 5, E = 2.5: SIR 2.0; Garwood's limits for 5 are 1.623 and 11.668, divided by 2.5:

    >>> r, lo, hi = standardized_ratio([5], [2.5])
    >>> float(r[0]), round(float(lo[0]), 3), round(float(hi[0]), 3)
    (2.0, 0.649, 4.667)
    """
    o, e = _arr(observed, "observed"), _arr(expected, "expected")
    lo_c, hi_c = crude_rate_ci(o, np.ones_like(o), per=1, alpha=alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = e > 0
        return (np.where(ok, o / e, np.nan), np.where(ok, lo_c / e, np.nan),
                np.where(ok, hi_c / e, np.nan))


def ratio_funnel_limits(expected, levels=(0.95, 0.998), target: float = 1.0) -> pd.DataFrame:
    """Funnel limits for standardised ratios O/E plotted against E (Spiegelhalter 2005).

    Under the null an area's O is Poisson(target·E), so the limits are exact Poisson
    quantiles divided by E, interpolated as in :func:`funnel_limits` (they *are*
    ``funnel_limits(target, E, kind="rate")``: E plays the role of the denominator). With
    the county as its own reference, ΣO = ΣE and the target is 1.

    Examples
    --------
    E = 10: Poisson(10) has P(O ≤ 16) = 0.97296, P(O ≤ 17) = 0.98572, so the upper 95 %
    limit is (17 − (0.98572 − 0.975)/(0.98572 − 0.97296)) / 10 = 1.616:

    >>> f = ratio_funnel_limits([10])
    >>> round(float(f["upper_95"].iloc[0]), 3)
    1.616
    """
    return funnel_limits(target, expected, levels=levels, kind="rate")


def indirect_standardization(observed, population, reference_events, reference_population,
                             alpha: float = 0.05) -> pd.DataFrame:
    """Observed, expected, SIR with exact limits and a 95 % / 99.8 % funnel flag per area.

    Parameters
    ----------
    observed : array_like, shape (m,)
        Each area's cases (all ages, including cases of unknown age).
    population : array_like, shape (m, k)
        Each area's persons per age group.
    reference_events, reference_population : array_like, shape (k,)
        The reference's cases and persons per age group (cases of known age).

    Returns
    -------
    DataFrame
        ``observed``, ``expected``, ``sir``, ``ci_low``, ``ci_high`` and ``funnel``:
        ``"above_998"``, ``"above_95"``, ``"within"``, ``"below_95"``, ``"below_998"``
        (position against the funnel limits at that E).

    Examples
    --------
    >>> t = indirect_standardization([12, 3], [[2000, 500], [1000, 100]], [10, 50], [10000, 5000])
    >>> t[["expected", "sir"]].round(3).to_dict("list")
    {'expected': [7.0, 2.0], 'sir': [1.714, 1.5]}
    """
    e = expected_counts(reference_events, reference_population, population)
    o = _arr(observed, "observed")
    sir, lo, hi = standardized_ratio(o, e, alpha=alpha)
    lim = ratio_funnel_limits(e)
    funnel = np.select(
        [sir > lim["upper_99.8"], sir > lim["upper_95"], sir < lim["lower_99.8"],
         sir < lim["lower_95"]], ["above_998", "above_95", "below_998", "below_95"],
        "within")
    return pd.DataFrame({"observed": o, "expected": e, "sir": sir, "ci_low": lo,
                         "ci_high": hi, "funnel": np.where(e > 0, funnel, "")})

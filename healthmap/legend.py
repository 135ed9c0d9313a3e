"""Legend classes of a choropleth: which class each area's value falls in, and the
classes' labels (quantiles, equal intervals, natural breaks, fixed bounds; mapclassify
for the first two and for assigning values to bounds)."""

from __future__ import annotations

import warnings

import mapclassify
import numpy as np
import pandas as pd

SCHEMES = ("quantiles", "equal_interval", "natural_breaks", "fixed")


def jenks_bins(x: np.ndarray, k: int) -> list[float]:
    """Upper bounds of the ``k`` natural-breaks classes of ``x`` (Jenks; Fisher's exact
    dynamic programme): the split of the sorted values into ``k`` runs with the least
    sum of squared deviations from their class means. Deterministic (mapclassify's
    ``NaturalBreaks`` starts from a random point; its ``FisherJenks`` is the same method
    but in pure Python without numba, 0.2 s for 400 villages).

    >>> jenks_bins(np.array([5.0, 1.0, 9.0, 1.1, 5.2]), 3)
    [1.1, 5.2, 9.0]
    """
    v = np.sort(np.asarray(x, dtype=float))
    n = len(v)
    k = max(1, min(k, n))
    s1 = np.concatenate([[0.0], np.cumsum(v)])
    s2 = np.concatenate([[0.0], np.cumsum(v * v)])
    i, j = np.indices((n, n))  # a class from value i to value j (inclusive)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = s2[j + 1] - s2[i] - (s1[j + 1] - s1[i]) ** 2 / (j - i + 1)
    cost = np.where(i <= j, np.maximum(cost, 0.0), np.inf)
    best = cost[0].copy()  # one class over values 0..j
    starts = []
    for _ in range(1, k):  # one more class: its first value i, the rest before i
        prev = np.concatenate([[np.inf], best[:-1]])  # best split of values 0..i-1
        total = prev[:, None] + cost
        start = np.argmin(total, axis=0)
        best = total[start, np.arange(n)]
        starts.append(start)
    ends, j = [n - 1], n - 1
    for start in reversed(starts):
        j = int(start[j]) - 1
        ends.append(j)
    return [float(v[e]) for e in sorted(ends)]


def classify(values: pd.Series, scheme: str = "quantiles", k: int = 5,
             fixed_bins: list[float] | None = None) -> tuple[pd.Series, list[str]]:
    """Legend class label for each value (mapclassify); missing values stay missing.

    >>> labels, order = classify(pd.Series([1.5, 2.0, 3.0, 4.0, np.nan]), "equal_interval", 2)
    >>> order
    ['1.5 – 2.8', '2.8 – 4.0']

    Whole numbers (counts) get whole-number classes, and a class of one value its value:

    >>> classify(pd.Series([0, 0, 0, 0, 0, 0, 3, 41.0]), "quantiles", 5)[1]
    ['0', '1 – 41']
    """
    v = values.astype(float)
    ok = v.notna()
    labels = pd.Series([None] * len(v), index=v.index, dtype=object)
    if ok.sum() == 0:
        return labels, []
    x = v[ok].to_numpy()
    uniq = len(np.unique(x))
    k = max(1, min(k, uniq))
    if scheme == "fixed" and fixed_bins:
        bins = sorted(b for b in fixed_bins if b < x.max()) + [float(x.max())]
        c = mapclassify.UserDefined(x, bins)
    elif k == 1:
        c = mapclassify.UserDefined(x, [float(x.max())])
    elif scheme == "equal_interval":
        c = mapclassify.EqualInterval(x, k=k)
    elif scheme == "natural_breaks":
        c = mapclassify.UserDefined(x, jenks_bins(x, k))
    else:
        with warnings.catch_warnings():  # ties: fewer classes than asked, repaired below
            warnings.simplefilter("ignore", UserWarning)
            c = mapclassify.Quantiles(x, k=k)
    # ties (many equal small counts) make repeated edges: keep each edge once
    bins = np.unique(np.asarray(c.bins, dtype=float))
    if len(bins) < len(c.bins):
        c = mapclassify.UserDefined(x, bins.tolist())
    edges = [float(x.min())] + [float(b) for b in c.bins]
    integers = bool(np.all(x == np.round(x)))
    fmt = _fmt(edges, integers=integers)
    names = []
    for i in range(len(c.bins)):
        # classes are (lower, upper]: with whole numbers they hold ⌊lower⌋ + 1 … ⌊upper⌋
        low, high = edges[i], edges[i + 1]
        if integers:
            low, high = (np.floor(low) + 1 if i > 0 else low), np.floor(high)
        lo, hi = fmt(min(low, high)), fmt(high)
        names.append(lo if lo == hi else f"{lo} – {hi}")
    labels[ok] = [names[i] for i in c.yb]
    return labels, names


def _fmt(edges, integers: bool = False):
    """A number format with just enough decimals that distinct edges read distinct.

    >>> _fmt([0, 0.5, 41])(0.5), _fmt([0, 3, 41], integers=True)(3)
    ('0.5', '3')
    """
    span = max(edges) - min(edges) if edges else 0
    digits = 0 if integers or span >= 100 else 1 if span >= 1 else 2
    distinct = len(set(edges))
    while not integers and digits < 4 and len({f"{v:.{digits}f}" for v in edges}) < distinct:
        digits += 1
    return lambda v: f"{v:,.{digits}f}"
